//! Faults at named fault-injection points (issue 18, item 3;
//! docs/RELIABILITY.md, "Faults"): each case is repeatable because the
//! binary stops, kills itself or fails exactly where `$TEE_ATTEST_FAULT`
//! says (`tee_attest_core::fault`, compiled into the test build of the
//! binary through the dev-dependency's `fault-injection` feature).
//!
//! - `serve` killed (SIGKILL) in a policy write, before and after the
//!   rename: afterwards the previous policy or the new one, whole; the
//!   audit database intact.
//! - `keys create` killed before and after its commit (while `serve`
//!   shares the store): no key or the whole key; the database intact.
//! - swtpm killed in the middle of an `attest`: 12 or 13, no token, no hang.
//! - the data directory's file system full (a tmpfs the test mounts; skipped
//!   loudly where mounting is not allowed): writes refused with a code that
//!   says so, the state intact, writes work again once there is room.
//! - the key database locked by another process: a clear code within the
//!   busy time-out, no hang; `/readyz` says not ready meanwhile.
//! - a collateral server that flaps (503, reset, 200) in front of the mock
//!   Intel PCS: the DCAP fetch retries and verifies; with too few attempts
//!   it fails with the fetch's code, within a bound.
//!
//! Needs swtpm (`cargo xtask deps`) for the swtpm case.

mod common;

use std::io::{Read as _, Write as _};
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use common::{cli, ok, serve_with, Serve};
use tee_attest_testkit::oidc::TestIssuer;

const AUD: &str = "api://tee-attest-admin";
const ROLE: &str = "Attestation.Admin";
/// Policies A (before) and B (after): told apart by what they permit.
const POLICY_A: &str = "version=1.0; authorizationrules { => deny(); };";
const POLICY_B: &str = "version=1.0; authorizationrules { \
    c:[type==\"x-ms-attestation-type\"] => permit(); };";
const RELEASE_POLICY: &str = r#"{"version": "1.0.0",
 "anyOf": [{"authority": "http://127.0.0.1:8700",
            "allOf": [{"claim": "x-ms-isolation-tee.x-ms-attestation-type",
                       "equals": "sevsnpvm"}]}]}"#;
/// The KEK `common::serve_with` gives `serve`.
fn kek() -> String {
    "00".repeat(32)
}

/// Waits for `child` at most `bound`; kills it past that (a hang).
fn wait_bounded(child: &mut Child, bound: Duration) -> (ExitStatus, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return (status, start.elapsed());
        }
        if start.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the process did not end within {bound:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// [`wait_bounded`] with the output of a child whose pipes were taken.
fn output_bounded(mut child: Child, bound: Duration) -> (Output, Duration) {
    let mut stdout = child.stdout.take();
    let mut stderr = child.stderr.take();
    // Drain the pipes on the side so that a chatty child cannot block.
    let out = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(s) = stdout.as_mut() {
            let _ = s.read_to_end(&mut b);
        }
        b
    });
    let err = std::thread::spawn(move || {
        let mut b = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut b);
        }
        b
    });
    let (status, took) = wait_bounded(&mut child, bound);
    (
        Output {
            status,
            stdout: out.join().unwrap(),
            stderr: err.join().unwrap(),
        },
        took,
    )
}

#[track_caller]
fn assert_sigkilled(status: ExitStatus, point: &str) {
    assert_eq!(
        status.signal(),
        Some(9),
        "expected the process to kill itself at {point} (exit {status:?}); \
         was the binary built without the `fault-injection` feature?"
    );
}

/// `GET path` on loopback: the status and the body.
fn http_get(base: &str, path: &str) -> (u16, String) {
    let addr = base.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut r = String::new();
    let _ = s.read_to_string(&mut r);
    let status = r
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, r)
}

/// `PRAGMA integrity_check` of a SQLite file: `ok` when intact.
fn integrity(db: &Path) -> String {
    let c = rusqlite::Connection::open(db).unwrap();
    c.query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap()
}

/// The administrators' issuer and a token of it.
struct Admin {
    issuer: TestIssuer,
    token: PathBuf,
}

impl Admin {
    fn new(dir: &Path) -> Self {
        let issuer = TestIssuer::start();
        let token = dir.join("admin.jwt");
        std::fs::write(&token, issuer.token(&issuer.admin_claims(AUD, ROLE))).unwrap();
        Self { issuer, token }
    }

    fn args(&self) -> Vec<&str> {
        vec![
            "--admin-issuer",
            self.issuer.url(),
            "--admin-audience",
            AUD,
            "--admin-role",
            ROLE,
        ]
    }

    /// `serve` on `dir/srv` with the bearer model and `env`, its log in
    /// `dir/NAME.log`.
    fn serve(&self, dir: &Path, name: &str, env: &[(&str, &str)]) -> (Serve, String) {
        serve_with(
            dir,
            &self.args(),
            env,
            Some(&dir.join(format!("{name}.log"))),
        )
    }

    /// `policy set --type SevSnpVm` with the token.
    fn set_policy(&self, dir: &Path, url: &str, text: &str) -> Output {
        let file = dir.join("policy.txt");
        std::fs::write(&file, text).unwrap();
        cli()
            .args(["policy", "set", "--type", "SevSnpVm"])
            .arg(&file)
            .args(["--url", url])
            .arg("--token-file")
            .arg(&self.token)
            .output()
            .unwrap()
    }
}

/// The policy text in a stored policy file: `policy set` sends an
/// unsigned JWS whose payload's `AttestationPolicy` is the text, base64url.
fn stored_policy(file: &Path) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let jws = std::fs::read_to_string(file).unwrap();
    let payload = jws
        .split('.')
        .nth(1)
        .unwrap_or_else(|| panic!("not a JWS: {jws}"));
    let claims: serde_json::Value = serde_json::from_slice(&b64.decode(payload).unwrap()).unwrap();
    let text = claims["AttestationPolicy"].as_str().unwrap();
    String::from_utf8(b64.decode(text).unwrap()).unwrap()
}

fn get_policy(url: &str) -> String {
    ok(&cli()
        .args(["policy", "get", "--type", "SevSnpVm", "--url", url])
        .output()
        .unwrap())
}

#[test]
fn serve_killed_in_a_policy_write_keeps_the_previous_or_the_new_policy_whole() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let admin = Admin::new(dir);
    let stored = dir.join("srv/policies/SevSnpVm.txt");
    {
        let (_serve, url) = admin.serve(dir, "first", &[]);
        ok(&admin.set_policy(dir, &url, POLICY_A));
    }
    assert_eq!(stored_policy(&stored), POLICY_A);

    // Killed with the new policy in its temporary file: the previous one
    // stays. Killed after the rename: the new one, whole.
    for (point, expected, unexpected) in [
        ("policy.write.after_temp", POLICY_A, "x-ms-attestation-type"),
        ("policy.write.after_rename", POLICY_B, "deny()"),
    ] {
        let (mut serve, url) = admin.serve(dir, point, &[("TEE_ATTEST_FAULT", point)]);
        let out = admin.set_policy(dir, &url, POLICY_B);
        assert!(!out.status.success(), "{point}: the write was answered");
        eprintln!(
            "{point}: the client saw exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
        let (status, _) = wait_bounded(&mut serve.0, Duration::from_secs(30));
        assert_sigkilled(status, point);
        drop(serve);

        assert_eq!(
            stored_policy(&stored),
            expected,
            "{point}: the stored policy"
        );
        let (_serve, url) = admin.serve(dir, &format!("{point}.restart"), &[]);
        let (ready, body) = http_get(&url, "/readyz");
        assert_eq!(ready, 200, "{point}: {body}");
        let got = get_policy(&url);
        assert!(!got.contains(unexpected), "{point}: {got}");
        assert!(
            got.contains(if expected == POLICY_A {
                "deny"
            } else {
                "x-ms-attestation-type"
            }),
            "{point}: {got}"
        );
        assert_eq!(integrity(&dir.join("srv/admin-audit.sqlite")), "ok");
    }
    // What a kill leaves besides: at most a stray temporary file, which
    // nothing reads.
    let stray: Vec<_> = std::fs::read_dir(dir.join("srv/policies"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(stray.len() <= 1, "{stray:?}");
}

/// `keys NAME …` on `data` with the test KEK.
fn keys(data: &Path, args: &[&str]) -> Command {
    let mut c = cli();
    c.arg("keys")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .env("TEE_ATTEST_KEK", kek())
        .env_remove("TEE_ATTEST_FAULT");
    c
}

fn create_key(data: &Path, name: &str, policy: &Path) -> Command {
    let policy = format!("--policy={}", policy.display());
    keys(data, &["create", name, "--kty", "oct", &policy])
}

#[test]
fn keys_create_killed_before_or_after_its_commit_leaves_no_key_or_the_whole_key() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("srv");
    let policy = dir.join("release.json");
    std::fs::write(&policy, RELEASE_POLICY).unwrap();
    // `serve` shares the store the whole time.
    let (_serve, url) = serve_with(dir, &[], &[], None);
    ok(&create_key(&data, "k0", &policy).output().unwrap());

    for (point, name, kept) in [
        ("keyrelease.create.after_insert", "k-insert", false),
        ("keyrelease.create.after_commit", "k-commit", true),
    ] {
        let out = create_key(&data, name, &policy)
            .env("TEE_ATTEST_FAULT", point)
            .output()
            .unwrap();
        assert_sigkilled(out.status, point);
        assert_eq!(integrity(&data.join("keyrelease/keys.db")), "ok", "{point}");
        let list = ok(&keys(&data, &["list"]).output().unwrap());
        assert!(list.contains("\"k0\""), "{point}: {list}");
        assert_eq!(
            list.contains(&format!("\"{name}\"")),
            kept,
            "{point}: {list}"
        );
        // The service still reads the store.
        let (ready, body) = http_get(&url, "/readyz");
        assert_eq!(ready, 200, "{point}: {body}");
        // Creating it again: done where the kill undid it, "exists" (8)
        // where the kill came after the commit.
        let again = create_key(&data, name, &policy).output().unwrap();
        if kept {
            assert_eq!(again.status.code(), Some(8), "{point}");
        } else {
            ok(&again);
        }
    }
    assert_eq!(integrity(&data.join("keyrelease/keys.db")), "ok");
}

/// Whether process `pid` is stopped (`T` in `/proc/PID/stat`).
fn stopped(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| {
            s.rsplit_once(')')
                .map(|(_, r)| r.trim_start().starts_with('T'))
        })
        .unwrap_or(false)
}

fn signal(sig: &str, pid: u32) {
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{sig} {pid}")])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{sig} {pid}");
}

#[test]
fn swtpm_killed_mid_attest_gives_12_or_13_and_no_token() {
    let tmp = tempfile::tempdir().unwrap();
    let cvm =
        tee_attest_mock::MockAzureCvm::start().expect("swtpm must be installed (cargo xtask deps)");
    // The 4th TPM command of the attestation (past the user-data write):
    // the process stops itself there, the test kills swtpm, then lets it
    // go on.
    let point = "tpm.command:stop@4";
    let mut c = cli();
    c.args(["attest", "--tee", "azure-snp", "--verifier", "local"])
        .args(["--payload", r#"{"Nonce":"mid-attest"}"#])
        .args(["--tpm-timeout", "5"])
        .env("TEE_ATTEST_TCTI", cvm.tcti())
        .env("TEE_ATTEST_VTPM_LOCK", cvm.vtpm_lock_path())
        .env("TEE_ATTEST_IMDS_URL", cvm.imds_url())
        .env("TEE_ATTEST_EVENT_LOG", cvm.event_log_path())
        .env("TEE_ATTEST_TRUST_MOCK", "1")
        .env("TEE_ATTEST_DATA_DIR", tmp.path().join("data"))
        .env("TEE_ATTEST_FAULT", point)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = c.spawn().unwrap();
    let pid = child.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !stopped(pid) {
        if Instant::now() > deadline {
            let (out, _) = output_bounded(child, Duration::from_secs(5));
            panic!(
                "attest never reached {point}: exit {:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let swtpm = cvm.vtpm().swtpm().pid().expect("swtpm's pid");
    signal("KILL", swtpm);
    signal("CONT", pid);
    let (out, took) = output_bounded(child, Duration::from_secs(30));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(12 | 13)),
        "exit {:?}: {stderr}",
        out.status
    );
    assert!(out.stdout.is_empty(), "a partial token: {:?}", out.stdout);
    eprintln!(
        "swtpm killed mid-attest: exit {:?} {took:?} after SIGCONT: {}",
        out.status.code(),
        stderr.trim()
    );
}

/// A tmpfs of `size` mounted on `dir`, unmounted when dropped.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Self, String> {
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(dir)
            .output()
            .map_err(|e| format!("mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system of `dir` with `dir/filler` until it is full.
fn fill(dir: &Path) -> PathBuf {
    let p = dir.join("filler");
    let mut f = std::fs::File::create(&p).unwrap();
    let chunk = vec![0x5Au8; 16 * 1024];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", dir.display()),
        }
    }
    // Small writes too, so that not even a page is left.
    while f.write_all(&[0u8; 512]).is_ok() {}
    while f.write_all(&[0u8; 1]).is_ok() {}
    p
}

#[test]
fn a_full_data_directory_refuses_writes_clearly_and_keeps_its_state() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let mnt = dir.join("mnt");
    let _fs = match Tmpfs::mount(&mnt, "8m") {
        Ok(m) => m,
        Err(why) => {
            eprintln!(
                "SKIPPED a_full_data_directory_refuses_writes_clearly_and_keeps_its_state: \
                 cannot mount a tmpfs here ({why}); it needs root (CAP_SYS_ADMIN)"
            );
            return;
        }
    };
    let data = mnt.join("srv");
    let admin = Admin::new(dir);
    let policy = dir.join("release.json");
    std::fs::write(&policy, RELEASE_POLICY).unwrap();
    let (_serve, url) = serve_with(&mnt, &admin.args(), &[], Some(&dir.join("full.log")));
    ok(&admin.set_policy(dir, &url, POLICY_A));
    ok(&create_key(&data, "k0", &policy).output().unwrap());

    let filler = fill(&mnt);
    // A policy write: refused, the previous policy in force and on disk.
    let out = admin.set_policy(dir, &url, POLICY_B);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!(
        "disk full, policy set: exit {:?}: {}",
        out.status.code(),
        err.trim()
    );
    assert!(!out.status.success());
    assert!(err.contains("No space left on device"), "{err}");
    assert!(get_policy(&url).contains("deny"));
    assert_eq!(stored_policy(&data.join("policies/SevSnpVm.txt")), POLICY_A);
    // A key creation: refused, the store as it was.
    let (out, took) = output_bounded(
        create_key(&data, "k1", &policy)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
        Duration::from_secs(30),
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    eprintln!(
        "disk full, keys create: exit {:?} after {took:?}: {}",
        out.status.code(),
        err.trim()
    );
    assert!(!out.status.success());
    assert!(err.contains("file system is full"), "{err}");

    // Room again: nothing to repair, and writes work without a restart.
    std::fs::remove_file(filler).unwrap();
    assert_eq!(integrity(&data.join("keyrelease/keys.db")), "ok");
    assert_eq!(integrity(&data.join("admin-audit.sqlite")), "ok");
    let list = ok(&keys(&data, &["list"]).output().unwrap());
    assert!(
        list.contains("\"k0\"") && !list.contains("\"k1\""),
        "{list}"
    );
    ok(&create_key(&data, "k1", &policy).output().unwrap());
    ok(&admin.set_policy(dir, &url, POLICY_B));
    assert!(get_policy(&url).contains("x-ms-attestation-type"));
}

#[test]
fn a_locked_key_database_gives_a_clear_code_within_the_busy_time_out() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("srv");
    let policy = dir.join("release.json");
    std::fs::write(&policy, RELEASE_POLICY).unwrap();
    ok(&create_key(&data, "k0", &policy).output().unwrap());
    let (_serve, url) = serve_with(dir, &[], &[], None);

    // Another process's exclusive lock on the database (as `sqlite3` with
    // `BEGIN EXCLUSIVE` would hold it).
    let holder = rusqlite::Connection::open(data.join("keyrelease/keys.db")).unwrap();
    holder.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let spawn = |c: &mut Command| {
        c.stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let started = Instant::now();
    let create = spawn(&mut create_key(&data, "k1", &policy));
    let list = spawn(&mut keys(&data, &["list"]));
    let ready = std::thread::spawn({
        let url = url.clone();
        move || {
            let t = Instant::now();
            (http_get(&url, "/readyz"), t.elapsed())
        }
    });
    // (The quicker one first, so that each time is its own.)
    for (what, child) in [("keys list", list), ("keys create", create)] {
        let (out, _) = output_bounded(child, Duration::from_secs(30));
        let took = started.elapsed();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        eprintln!(
            "locked: {what}: exit {:?} after {took:?}: {}",
            out.status.code(),
            err.trim()
        );
        assert_eq!(out.status.code(), Some(1), "{what}: {err}");
        assert!(
            err.contains("database is locked") && err.contains("another process holds"),
            "{what}: {err}"
        );
    }
    let ((status, body), took) = ready.join().unwrap();
    eprintln!("locked: /readyz {status} after {took:?}");
    assert_eq!(status, 503, "{body}");

    holder.execute_batch("ROLLBACK").unwrap();
    drop(holder);
    ok(&create_key(&data, "k1", &policy).output().unwrap());
    assert_eq!(http_get(&url, "/readyz").0, 200);
    assert_eq!(integrity(&data.join("keyrelease/keys.db")), "ok");
}

/// A loopback server in front of `upstream` that answers the `k`-th
/// request of each path (counting from 0) with 503 when `k % 3 == 0`, a
/// connection reset when `k % 3 == 1`, and upstream's answer otherwise.
struct Flapping {
    addr: std::net::SocketAddr,
    seen: std::sync::Arc<std::sync::Mutex<Vec<(String, &'static str)>>>,
}

impl Flapping {
    fn start(upstream: String) -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            let mut counts = std::collections::HashMap::<String, usize>::new();
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                // Peek at the request head without consuming it: closing
                // with unread data is what makes the kernel send a reset.
                let mut buf = [0u8; 8192];
                let head = loop {
                    match conn.peek(&mut buf) {
                        Ok(0) | Err(_) => break None,
                        Ok(n) if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") => {
                            break Some(String::from_utf8_lossy(&buf[..n]).into_owned())
                        }
                        Ok(_) => std::thread::sleep(Duration::from_millis(1)),
                    }
                };
                let Some(head) = head else { continue };
                let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
                let k = counts.entry(path.clone()).or_insert(0);
                let what = match *k % 3 {
                    0 => "503",
                    1 => "reset",
                    _ => "200",
                };
                *k += 1;
                log.lock().unwrap().push((path.clone(), what));
                match what {
                    "reset" => drop(conn),
                    "503" => {
                        let _ = conn.read(&mut buf);
                        let _ = conn.write_all(
                            b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\
                              Connection: close\r\n\r\n",
                        );
                    }
                    _ => {
                        let _ = conn.read(&mut buf);
                        let host = upstream.trim_start_matches("http://");
                        let mut up = std::net::TcpStream::connect(host).unwrap();
                        write!(
                            up,
                            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
                        )
                        .unwrap();
                        let mut answer = Vec::new();
                        let _ = up.read_to_end(&mut answer);
                        let _ = conn.write_all(&answer);
                    }
                }
            }
        });
        Self { addr, seen }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

#[test]
fn a_flapping_collateral_server_is_retried_through_or_fails_with_the_fetch_code() {
    use tee_attest_core::CodedError as _;
    use tee_attest_mock::intel::{MockCollateralOptions, MockIntelPlatform, MockPcs};
    use tee_attest_tdx::collateral::{verify_with_collateral, HttpConfig, Pcs};
    use tee_attest_tdx::{parse_rfc3339, CollateralChain, DcapVerifier, FixedClock, VerifyOptions};

    let at = parse_rfc3339("2025-06-20T00:00:00Z").unwrap();
    let platform = MockIntelPlatform::from_seed(b"tee-attest fault tests").unwrap();
    let quote = platform.tdx_quote_v4(&platform.td()).unwrap();
    let pcs = MockPcs::start(&platform, &MockCollateralOptions::at(at)).unwrap();
    let verifier = DcapVerifier::with_root_der(platform.root_der())
        .unwrap()
        .with_clock(std::sync::Arc::new(FixedClock(at)));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let run = |attempts: u32| {
        let flap = Flapping::start(pcs.base_url());
        let cfg = HttpConfig::fast(
            Duration::from_secs(5),
            attempts,
            Duration::from_millis(20),
            Duration::from_millis(200),
        );
        let chain =
            CollateralChain::standard(None, None, None, Some(Pcs::new(flap.url(), cfg).unwrap()));
        let start = Instant::now();
        let r = rt.block_on(verify_with_collateral(
            &verifier,
            &quote,
            &chain,
            &VerifyOptions::default(),
        ));
        let seen = flap.seen.lock().unwrap().clone();
        (r, start.elapsed(), seen)
    };

    // Three attempts suffice for every path: it verifies, having met each
    // kind of failure.
    let (r, took, seen) = run(4);
    let v = r.unwrap_or_else(|e| panic!("with retries: {e} (seen {seen:?})"));
    assert_eq!(v.collateral_source, "pcs");
    assert!(seen.iter().any(|(_, w)| *w == "503"), "{seen:?}");
    assert!(seen.iter().any(|(_, w)| *w == "reset"), "{seen:?}");
    eprintln!(
        "flapping PCS, 4 attempts: verified after {} requests in {took:?}",
        seen.len()
    );

    // Two attempts (503, then a reset) do not: the fetch's code, soon.
    let (r, took, seen) = run(2);
    let e = r.expect_err("two attempts cannot get past 503 and a reset");
    eprintln!(
        "flapping PCS, 2 attempts: code {} after {took:?} ({} requests): {e}",
        e.code().number(),
        seen.len()
    );
    assert!(took < Duration::from_secs(30), "{took:?}");
    assert_eq!(e.code().number(), 7, "{e}");
}
