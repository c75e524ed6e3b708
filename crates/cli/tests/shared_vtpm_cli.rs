//! Processes sharing one vTPM and one data directory (issue 18,
//! docs/RELIABILITY.md): 16 `attest` processes at once on one mock CVM
//! from `mock up` all succeed, each with its own nonce; 8 first uses of a
//! fresh data directory at once all succeed and agree on one signing key;
//! a stopped swtpm makes `attest` exit with code 13 within the time-out
//! instead of hanging. Needs swtpm (`cargo xtask deps`).

use std::io::Read as _;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tee_attest_mock::MockAzureCvm;

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tee-attest"));
    for var in [
        "TEE_ATTEST_TPM_TIMEOUT",
        "TEE_ATTEST_VTPM_LOCK",
        "TEE_ATTEST_TCTI",
        "TEE_ATTEST_TEE",
    ] {
        c.env_remove(var);
    }
    c
}

/// `mock up` in `dir`, stopped by `mock down` when dropped.
struct MockUp {
    dir: std::path::PathBuf,
    env: Vec<(String, String)>,
}

impl MockUp {
    fn start(dir: &Path) -> Self {
        let up = cli()
            .args(["mock", "up", "--dir"])
            .arg(dir)
            .output()
            .unwrap();
        assert!(
            up.status.success(),
            "{}",
            String::from_utf8_lossy(&up.stderr)
        );
        let env = String::from_utf8(up.stdout)
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        Self {
            dir: dir.to_path_buf(),
            env,
        }
    }

    fn var(&self, name: &str) -> Option<&str> {
        self.env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

impl Drop for MockUp {
    fn drop(&mut self) {
        let _ = cli()
            .args(["mock", "down", "--dir"])
            .arg(&self.dir)
            .output();
    }
}

/// Waits for `child` at most `bound`; kills it past that.
fn wait_bounded(mut child: Child, bound: Duration) -> (Output, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stdout = Vec::new();
            let mut stderr = Vec::new();
            child
                .stdout
                .take()
                .unwrap()
                .read_to_end(&mut stdout)
                .unwrap();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_end(&mut stderr)
                .unwrap();
            return (
                Output {
                    status,
                    stdout,
                    stderr,
                },
                start.elapsed(),
            );
        }
        if start.elapsed() > bound {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the process did not end within {bound:?}: it hangs");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn token(out: &Output) -> tee_attest_core::AttestationToken {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    tee_attest_core::AttestationToken::parse(String::from_utf8_lossy(&out.stdout).trim())
        .expect("a token on stdout")
}

#[test]
fn sixteen_parallel_attests_on_one_mock_cvm_all_succeed_each_with_its_own_nonce() {
    let tmp = tempfile::tempdir().unwrap();
    let mock = MockUp::start(&tmp.path().join("cvm"));
    let lock = mock
        .var("TEE_ATTEST_VTPM_LOCK")
        .expect("mock up exports the lock");
    assert!(lock.ends_with("vtpm.lock"), "{lock}");
    let data = tmp.path().join("data");
    let spawn = |nonce: &str| {
        let mut c = cli();
        c.args(["attest", "--tee", "azure-snp", "--verifier", "local"])
            .arg("--payload")
            .arg(format!(r#"{{"Nonce":"{nonce}"}}"#))
            .arg("--data-dir")
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in &mock.env {
            c.env(k, v);
        }
        c.spawn().unwrap()
    };
    // The data directory exists already: this test is about the vTPM.
    token(&wait_bounded(spawn("warm-up"), Duration::from_secs(120)).0);

    let start = Instant::now();
    let children: Vec<_> = (0..16)
        .map(|i| {
            let nonce = format!("parallel-{i}");
            (spawn(&nonce), nonce)
        })
        .collect();
    let mut failures = Vec::new();
    for (child, nonce) in children {
        let (out, _) = wait_bounded(child, Duration::from_secs(180));
        if !out.status.success() {
            failures.push(format!(
                "{nonce}: exit {:?}: {}",
                out.status.code(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
            continue;
        }
        let t = token(&out);
        assert_eq!(
            t.nonce(),
            Some(nonce.as_str()),
            "each token carries its own nonce"
        );
        assert!(t.is_mock_evidence());
    }
    assert!(
        failures.is_empty(),
        "{} of 16 failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
    eprintln!("16 parallel attests took {:?}", start.elapsed());
}

/// The environment pointing a CLI process at an in-process mock CVM.
fn cvm_env(c: &mut Command, cvm: &MockAzureCvm, data: &Path) {
    c.env("TEE_ATTEST_TCTI", cvm.tcti())
        .env("TEE_ATTEST_VTPM_LOCK", cvm.vtpm_lock_path())
        .env("TEE_ATTEST_IMDS_URL", cvm.imds_url())
        .env("TEE_ATTEST_EVENT_LOG", cvm.event_log_path())
        .env("TEE_ATTEST_TRUST_MOCK", "1")
        .env("TEE_ATTEST_DATA_DIR", data);
}

#[test]
fn eight_parallel_first_uses_of_a_fresh_data_dir_all_succeed_with_one_signing_key() {
    let tmp = tempfile::tempdir().unwrap();
    let cvm = MockAzureCvm::start().expect("swtpm must be installed (cargo xtask deps)");
    let data = tmp.path().join("fresh/data");
    let children: Vec<_> = (0..8)
        .map(|i| {
            let mut c = cli();
            c.args(["attest", "--tee", "azure-snp", "--verifier", "local"])
                .arg("--payload")
                .arg(format!(r#"{{"Nonce":"first-use-{i}"}}"#))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cvm_env(&mut c, &cvm, &data);
            c.spawn().unwrap()
        })
        .collect();
    let kids: Vec<String> = children
        .into_iter()
        .map(|child| {
            let t = token(&wait_bounded(child, Duration::from_secs(180)).0);
            t.header()["kid"].as_str().unwrap().to_string()
        })
        .collect();
    assert!(kids.iter().all(|k| *k == kids[0]), "{kids:?}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("signing-key.pk8")), 0o600);
        assert_eq!(mode(&data.join("signing-cert.der")), 0o600);
    }
}

/// `kill -SIG pid` through the shell's builtin (procps may be missing).
fn signal(sig: &str, pid: u32) {
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{sig} {pid}")])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{sig} {pid}");
}

/// SIGCONTs the swtpm when dropped, whatever the test did.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        signal("CONT", self.0);
    }
}

#[test]
fn a_stopped_swtpm_makes_attest_exit_13_within_the_time_out() {
    let tmp = tempfile::tempdir().unwrap();
    let cvm = MockAzureCvm::start().expect("swtpm must be installed (cargo xtask deps)");
    let data = tmp.path().join("data");
    let attest = |nonce: &str, timeout: Option<&str>| {
        let mut c = cli();
        c.args(["attest", "--tee", "azure-snp", "--verifier", "local"])
            .arg("--payload")
            .arg(format!(r#"{{"Nonce":"{nonce}"}}"#))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(t) = timeout {
            c.args(["--tpm-timeout", t]);
        }
        cvm_env(&mut c, &cvm, &data);
        c.spawn().unwrap()
    };
    token(&wait_bounded(attest("before", None), Duration::from_secs(120)).0);

    let pid = cvm.vtpm().swtpm().pid().unwrap();
    signal("STOP", pid);
    let resume = Resume(pid);
    // The time-out also from the environment: the flag wins.
    let mut c = cli();
    c.args(["attest", "--tee", "azure-snp", "--verifier", "local"])
        .args(["--payload", r#"{"Nonce":"stopped"}"#])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cvm_env(&mut c, &cvm, &data);
    c.env("TEE_ATTEST_TPM_TIMEOUT", "2");
    let (out, took) = wait_bounded(c.spawn().unwrap(), Duration::from_secs(60));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(13), "{stderr}");
    assert!(stderr.contains("did not answer within 2 s"), "{stderr}");
    assert!(took < Duration::from_secs(10), "exited after {took:?}");
    eprintln!("a stopped swtpm: exit 13 after {took:?} (time-out 2 s)");

    let (out, took) = wait_bounded(
        attest("stopped-flag", Some("500ms")),
        Duration::from_secs(60),
    );
    assert_eq!(
        out.status.code(),
        Some(13),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(took < Duration::from_secs(8), "exited after {took:?}");

    // Resumed, the vTPM serves the next process.
    drop(resume);
    token(&wait_bounded(attest("after", None), Duration::from_secs(120)).0);
}

#[test]
fn eight_parallel_first_uses_of_the_key_store_all_succeed() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("fresh/data");
    let children: Vec<_> = (0..8)
        .map(|_| {
            cli()
                .args(["keys", "list", "--data-dir"])
                .arg(&data)
                .env_remove("TEE_ATTEST_KEK")
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let (out, _) = wait_bounded(child, Duration::from_secs(120));
        assert!(
            out.status.success(),
            "exit {:?}: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data.join("keyrelease")), 0o700);
        assert_eq!(mode(&data.join("keyrelease/kek")), 0o600);
        assert_eq!(mode(&data.join("keyrelease/keys.db")), 0o600);
    }
}
