//! `cargo xtask soak --minutes M [--seconds S] [--debug] [--no-build]`: a
//! bounded, paced, mixed load on `tee-attest serve` and the CLI, on
//! 127.0.0.1 only, watching errors, latency and `serve`'s resident memory
//! (docs/PERFORMANCE.md, section Soak).
//!
//! Set-up, as the CLI tests and docs/SCENARIOS.md do it: `tee-attest mock
//! up` (a mock Azure SEV-SNP CVM: swtpm as its vTPM, mock HCL and IMDS),
//! `keys create` of one key whose release policy names `serve`'s issuer,
//! then `serve --trust-mock` (the verifier and the key release) on a free
//! loopback port. One AzureGuest request is recorded by passing a real
//! `attest --verifier maa=…` through a loopback recording proxy, to be
//! replayed.
//!
//! The mix, one kind after another in a fixed interleaved cycle of 50
//! ([`WEIGHTS`]):
//!
//! | kind | share | what |
//! |---|---|---|
//! | `attest-http` | 20/50 | `POST /attest/AzureGuest` of the recorded request (appraisal, policy, token sealed to the vTPM key) |
//! | `policy-read` | 12/50 | `GET /policies/AzureGuest` |
//! | `key-release` | 8/50 | `POST /keys/soak-key/release`, a token from `attest-cli-http`, a fresh nonce each time |
//! | `token-verify` | 8/50 | `tee-attest token verify` of such a token, as a relying party (OpenID discovery and `/certs` from `serve`) |
//! | `attest-embedded` | 1/50 | `tee-attest attest --verifier local` on the mock CVM (vTPM, embedded verifier; `serve` not involved) |
//! | `attest-cli-http` | 1/50 | `tee-attest attest --verifier maa=SERVE` on the mock CVM (vTPM, `serve`, token unsealed in the vTPM): feeds the tokens above |
//!
//! Saturation is measured first with a closed-loop ramp (1, 2, 4, 8, 16
//! workers, a few seconds each, until more workers add less than 10 %);
//! the run is then paced at 80 % of the best rate: a fixed schedule of start
//! times (open loop) served by a bounded pool of workers (twice the
//! saturating level, at most 16), so the number of operations is bounded by
//! rate × time and the number in flight by the pool. Every HTTP request and
//! every subprocess has a time-out.
//!
//! An answer 429 or 503 carrying `Retry-After` is *shed*, not an error (a
//! CLI run that failed on such an answer too). Anything else that is not
//! the expected success is an error; the run exits non-zero on any error,
//! if `serve` dies, or if `serve`'s RSS grew more than 5 % after warm-up.
//!
//! Warm-up: the ramp, then the first 10 % of the paced run (at least 5 s,
//! at most 60 s). RSS (`VmRSS` of `/proc/<serve pid>/status`, sampled every
//! 250 ms) at start is the median of the 5 s after warm-up; at end, the
//! median of the run's last 5 s — both under the same paced load.
//!
//! Binary: the **release** `tee-attest` by default (what is deployed; the
//! issue's hostile-load probes and the benches use optimized code, and a
//! debug build's saturation is a property of unoptimized code, not of the
//! service). `--debug` uses `target/debug/tee-attest` instead: `cargo xtask
//! test` passes `--debug --no-build` to reuse the binary `cargo test
//! --workspace` has just built, because a release build would cost minutes
//! and the CI soak must cost about a minute in all.
//!
//! The load generator is this process: worker threads, each with its own
//! keep-alive HTTP client, and `tee-attest` subprocesses for what programs on
//! a CVM and relying parties run. The HTTP client is `ureq` 3 without its
//! default features (no TLS, no compression: plain HTTP to 127.0.0.1 only,
//! blocking, a few small crates), rather than reqwest's blocking client
//! (tokio, hyper and a TLS stack: a minute of build for xtask) or a
//! hand-written HTTP/1.1 client. Its proxy support is switched off, and the
//! subprocesses get no proxy variables: nothing leaves 127.0.0.1.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{cargo, free_loopback_port, root, run, Result};

const USAGE: &str = "usage: cargo xtask soak --minutes M [--seconds S] [--debug] [--no-build]";

/// The longest run accepted.
const MAX_RUN: Duration = Duration::from_secs(6 * 3600);
/// The shortest run accepted: RSS needs a warm-up and two 5-s windows.
const MIN_RUN: Duration = Duration::from_secs(20);
/// Closed-loop worker counts of the saturation ramp.
const RAMP_LEVELS: [usize; 5] = [1, 2, 4, 8, 16];
/// The paced run's rate, as a fraction of saturation.
const LOAD_FRACTION: f64 = 0.8;
/// The most workers of the paced run.
const MAX_WORKERS: usize = 16;
/// Growth of `serve`'s RSS after warm-up that fails the run, percent.
const RSS_GROWTH_LIMIT_PCT: f64 = 5.0;
/// Each HTTP request's time-out (the service's own request time-out is 30 s).
const HTTP_TIMEOUT: Duration = Duration::from_secs(40);
/// Each subprocess's time-out (a TPM command's is 30 s, the lock's too).
const PROCESS_TIMEOUT: Duration = Duration::from_secs(90);
/// The RSS windows at start (after warm-up) and end.
const RSS_WINDOW: Duration = Duration::from_secs(5);
/// An HTTP response body read at most (a sealed token is ~10 KB).
const MAX_BODY: u64 = 1 << 20;
/// Errors kept, with their message, for the report.
const ERRORS_KEPT: usize = 20;
/// Tokens kept for `token-verify` and `key-release`.
const TOKEN_RING: usize = 8;

/// Variables the subprocesses must not inherit: a mock's exports (the
/// mock's own are set where wanted), the KEK and data directory (the run's
/// own are used), and proxies (loopback only).
const CLEARED_ENV: &[&str] = &[
    "TEE_ATTEST_TCTI",
    "TEE_ATTEST_IMDS_URL",
    "TEE_ATTEST_EVENT_LOG",
    "TEE_ATTEST_TSM_ROOT",
    "TEE_ATTEST_CCEL_ROOT",
    "TEE_ATTEST_TEE",
    "TEE_ATTEST_TRUST_MOCK",
    "TEE_ATTEST_VTPM_LOCK",
    "TEE_ATTEST_ITA_API_KEY",
    "TEE_ATTEST_KEK",
    "TEE_ATTEST_DATA_DIR",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

/// One kind of operation of the mix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    AttestHttp,
    PolicyRead,
    KeyRelease,
    TokenVerify,
    AttestEmbedded,
    AttestCliHttp,
}

const KINDS: [Kind; 6] = [
    Kind::AttestHttp,
    Kind::PolicyRead,
    Kind::KeyRelease,
    Kind::TokenVerify,
    Kind::AttestEmbedded,
    Kind::AttestCliHttp,
];

/// The mix: each kind's share of the operations, in fiftieths. The vTPM
/// kinds are few: every attesting process holds the one vTPM's lock for
/// its evidence, so they cap the mix's rate (about 10 per second here)
/// and, more of them, would leave `serve` idle.
const WEIGHTS: [(Kind, usize); 6] = [
    (Kind::AttestHttp, 20),
    (Kind::PolicyRead, 12),
    (Kind::KeyRelease, 8),
    (Kind::TokenVerify, 8),
    (Kind::AttestEmbedded, 1),
    (Kind::AttestCliHttp, 1),
];

/// One cycle of the mix, interleaved by smooth weighted round-robin (each
/// step: every kind gains its weight, the richest goes and pays the total),
/// so that no kind comes in bursts.
fn schedule() -> Vec<Kind> {
    let total: usize = WEIGHTS.iter().map(|(_, w)| w).sum();
    let mut credit = [0isize; 6];
    let mut out = Vec::with_capacity(total);
    for _ in 0..total {
        for (i, (_, w)) in WEIGHTS.iter().enumerate() {
            credit[i] += *w as isize;
        }
        let (i, _) = credit
            .iter()
            .enumerate()
            .max_by_key(|(i, c)| (**c, std::cmp::Reverse(*i)))
            .unwrap_or((0, &0));
        credit[i] -= total as isize;
        out.push(WEIGHTS[i].0);
    }
    out
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::AttestHttp => "attest-http",
            Kind::PolicyRead => "policy-read",
            Kind::KeyRelease => "key-release",
            Kind::TokenVerify => "token-verify",
            Kind::AttestEmbedded => "attest-embedded",
            Kind::AttestCliHttp => "attest-cli-http",
        }
    }

    fn index(self) -> usize {
        KINDS.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// How one operation ended.
enum Outcome {
    Ok,
    Shed,
    Error(String),
}

/// Counts and latencies (µs, successful operations) per kind.
#[derive(Default)]
struct Bucket {
    ok: [u64; 6],
    shed: [u64; 6],
    errors: [u64; 6],
    latency_us: [Vec<u32>; 6],
}

impl Bucket {
    fn requests(&self) -> u64 {
        self.ok.iter().chain(&self.shed).chain(&self.errors).sum()
    }

    fn ok_total(&self) -> u64 {
        self.ok.iter().sum()
    }

    fn errors_total(&self) -> u64 {
        self.errors.iter().sum()
    }

    fn shed_total(&self) -> u64 {
        self.shed.iter().sum()
    }

    fn merge(&mut self, other: Bucket) {
        for i in 0..KINDS.len() {
            self.ok[i] += other.ok[i];
            self.shed[i] += other.shed[i];
            self.errors[i] += other.errors[i];
            self.latency_us[i].extend_from_slice(&other.latency_us[i]);
        }
    }

    /// p50 and p99 of a kind's successful operations (nearest rank).
    fn percentiles(&mut self, i: usize) -> Option<(Duration, Duration)> {
        let v = &mut self.latency_us[i];
        if v.is_empty() {
            return None;
        }
        v.sort_unstable();
        let at = |p: f64| {
            let rank = (p * v.len() as f64).ceil() as usize;
            Duration::from_micros(u64::from(v[rank.clamp(1, v.len()) - 1]))
        };
        Some((at(0.50), at(0.99)))
    }

    /// One line per kind: requests, errors, shed, p50, p99.
    fn kind_lines(&mut self, indent: &str) -> String {
        let mut s = format!(
            "{indent}{:<16} {:>8} {:>7} {:>6} {:>10} {:>10}\n",
            "kind", "requests", "errors", "shed", "p50", "p99"
        );
        for k in KINDS {
            let i = k.index();
            let n = self.ok[i] + self.shed[i] + self.errors[i];
            let (p50, p99) = match self.percentiles(i) {
                Some((a, b)) => (ms(a), ms(b)),
                None => ("-".into(), "-".into()),
            };
            s.push_str(&format!(
                "{indent}{:<16} {:>8} {:>7} {:>6} {:>10} {:>10}\n",
                k.name(),
                n,
                self.errors[i],
                self.shed[i],
                p50,
                p99
            ));
        }
        s
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1e3)
}

fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// What the workers record into.
#[derive(Default)]
struct Recorder {
    current: Bucket,
    errors: u64,
    first_errors: Vec<String>,
}

/// Tokens from `attest-cli-http`, each also in a file for `token verify`.
struct TokenRing {
    dir: PathBuf,
    tokens: Vec<(PathBuf, String)>,
    added: usize,
    used: usize,
}

impl TokenRing {
    fn add(&mut self, jwt: &str) -> Result {
        let slot = self.added % TOKEN_RING;
        let path = self.dir.join(format!("token-{slot}.jwt"));
        let tmp = self.dir.join(format!("token-{slot}.jwt.tmp"));
        std::fs::write(&tmp, jwt).map_err(|e| format!("{}: {e}", tmp.display()))?;
        // Atomic: a `token verify` reading the slot sees one token whole.
        std::fs::rename(&tmp, &path).map_err(|e| format!("{}: {e}", path.display()))?;
        if slot < self.tokens.len() {
            self.tokens[slot] = (path, jwt.to_string());
        } else {
            self.tokens.push((path, jwt.to_string()));
        }
        self.added += 1;
        Ok(())
    }

    fn next(&mut self) -> (PathBuf, String) {
        self.used += 1;
        self.tokens[self.used % self.tokens.len()].clone()
    }
}

/// Everything the workers share.
struct Ctx {
    exe: PathBuf,
    work: PathBuf,
    base: String,
    mock_env: Vec<(String, String)>,
    attest_target: String,
    attest_body: Vec<u8>,
    tokens: Mutex<TokenRing>,
    mix: Vec<Kind>,
    seq: AtomicUsize,
    nonce: AtomicU64,
    rec: Mutex<Recorder>,
}

impl Ctx {
    fn next_kind(&self) -> Kind {
        self.mix[self.seq.fetch_add(1, Ordering::Relaxed) % self.mix.len()]
    }

    fn nonce(&self) -> u64 {
        self.nonce.fetch_add(1, Ordering::Relaxed)
    }

    fn token(&self) -> (PathBuf, String) {
        self.tokens.lock().unwrap_or_else(|e| e.into_inner()).next()
    }

    fn record(&self, kind: Kind, took: Duration, outcome: Outcome) {
        let i = kind.index();
        let mut r = self.rec.lock().unwrap_or_else(|e| e.into_inner());
        match outcome {
            Outcome::Ok => {
                r.current.ok[i] += 1;
                let us = u32::try_from(took.as_micros()).unwrap_or(u32::MAX);
                r.current.latency_us[i].push(us);
            }
            Outcome::Shed => r.current.shed[i] += 1,
            Outcome::Error(e) => {
                r.current.errors[i] += 1;
                r.errors += 1;
                if r.first_errors.len() < ERRORS_KEPT {
                    r.first_errors.push(format!("{}: {e}", kind.name()));
                }
            }
        }
    }

    fn take(&self) -> Bucket {
        std::mem::take(&mut self.rec.lock().unwrap_or_else(|e| e.into_inner()).current)
    }

    fn op(&self, kind: Kind, agent: &ureq::Agent) -> Outcome {
        match kind {
            Kind::AttestHttp | Kind::PolicyRead | Kind::KeyRelease => self.http_op(kind, agent),
            Kind::TokenVerify | Kind::AttestEmbedded | Kind::AttestCliHttp => self.cli_op(kind),
        }
    }

    fn http_op(&self, kind: Kind, agent: &ureq::Agent) -> Outcome {
        let base = &self.base;
        let (answer, expect) = match kind {
            Kind::AttestHttp => (
                agent
                    .post(format!("{base}{}", self.attest_target))
                    .header("Content-Type", "application/json")
                    .send(&self.attest_body[..]),
                Some("\"token\""),
            ),
            Kind::PolicyRead => (
                agent
                    .get(format!("{base}/policies/AzureGuest?api-version=2022-08-01"))
                    .call(),
                None,
            ),
            _ => {
                let (_, token) = self.token();
                let body = format!(
                    r#"{{"target":"{token}","nonce":"soak-{}-{}","enc":"RSA_AES_KEY_WRAP_256"}}"#,
                    std::process::id(),
                    self.nonce()
                );
                (
                    agent
                        .post(format!("{base}/keys/soak-key/release?api-version=7.4"))
                        .header("Content-Type", "application/json")
                        .send(body),
                    Some("\"value\""),
                )
            }
        };
        let mut answer = match answer {
            Ok(a) => a,
            Err(e) => return Outcome::Error(format!("request failed: {e}")),
        };
        let status = answer.status().as_u16();
        let retry_after = answer.headers().contains_key("retry-after");
        // Read whole, so that the connection is reused.
        let body = match answer
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
        {
            Ok(b) => b,
            Err(e) => return Outcome::Error(format!("HTTP {status}, reading the body: {e}")),
        };
        let text = String::from_utf8_lossy(&body);
        match status {
            200 if expect.is_none_or(|e| text.contains(e)) => Outcome::Ok,
            429 | 503 if retry_after => Outcome::Shed,
            _ => Outcome::Error(format!(
                "HTTP {status}{}: {}",
                if retry_after { " (Retry-After)" } else { "" },
                excerpt(&text)
            )),
        }
    }

    /// The CLI without inherited variables that would change its target.
    fn cli(&self) -> Command {
        cli(&self.exe)
    }

    fn cli_op(&self, kind: Kind) -> Outcome {
        let mut c = self.cli();
        match kind {
            Kind::TokenVerify => {
                let (path, _) = self.token();
                c.args(["token", "verify"]).arg(path).args([
                    "--issuer",
                    &self.base,
                    "--allow-mock",
                ]);
            }
            Kind::AttestEmbedded => {
                c.envs(self.mock_env.iter().map(|(k, v)| (k, v)))
                    .args(["attest", "--verifier", "local", "--data-dir"])
                    .arg(self.work.join("local"))
                    .args(["--payload", &format!(r#"{{"Nonce":"e-{}"}}"#, self.nonce())]);
            }
            _ => {
                c.envs(self.mock_env.iter().map(|(k, v)| (k, v)))
                    .args(["attest", "--verifier", &format!("maa={}", self.base)])
                    .args(["--payload", &format!(r#"{{"Nonce":"h-{}"}}"#, self.nonce())]);
            }
        }
        let (status, stdout, stderr) = match run_bounded(c, PROCESS_TIMEOUT) {
            Ok(r) => r,
            Err(e) => return Outcome::Error(e),
        };
        if !status.success() {
            // The MAA client retries 429/503 itself; a run that still ended
            // on one was shed.
            if kind == Kind::AttestCliHttp
                && (stderr.contains("HTTP 429") || stderr.contains("HTTP 503"))
            {
                return Outcome::Shed;
            }
            return Outcome::Error(format!("{status}: {}", excerpt(&stderr)));
        }
        if kind == Kind::TokenVerify {
            return Outcome::Ok;
        }
        let jwt = stdout.trim();
        if jwt.split('.').count() != 3 {
            return Outcome::Error(format!("no token on stdout: {}", excerpt(jwt)));
        }
        if kind == Kind::AttestCliHttp {
            let added = self
                .tokens
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .add(jwt);
            if let Err(e) = added {
                return Outcome::Error(e);
            }
        }
        Outcome::Ok
    }
}

/// At most 300 characters of a message, on one line.
fn excerpt(s: &str) -> String {
    let one: String = s.split_whitespace().collect::<Vec<_>>().join(" ");
    match one.char_indices().nth(300) {
        Some((i, _)) => format!("{}…", &one[..i]),
        None => one,
    }
}

/// The CLI with none of [`CLEARED_ENV`].
fn cli(exe: &Path) -> Command {
    let mut c = Command::new(exe);
    for k in CLEARED_ENV {
        c.env_remove(k);
    }
    c.stdin(Stdio::null());
    c
}

/// Runs `c` to its end or `timeout` (then kills it, by its own handle):
/// exit status, stdout, stderr.
fn run_bounded(mut c: Command, timeout: Duration) -> Result<(ExitStatus, String, String)> {
    let started = Instant::now();
    let mut child = c
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("spawning {c:?}: {e}"))?;
    // Readers on threads: a child never blocks on a full pipe.
    let drain = |p: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut s = Vec::new();
            if let Some(mut p) = p {
                let _ = p.read_to_end(&mut s);
            }
            String::from_utf8_lossy(&s).into_owned()
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) if started.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = out.join();
                let _ = err.join();
                return Err(format!(
                    "still running after {} s: killed",
                    timeout.as_secs()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(1)),
            Err(e) => return Err(format!("waiting for the child: {e}")),
        }
    };
    let stdout = out.join().unwrap_or_default();
    let stderr = err.join().unwrap_or_default();
    Ok((status, stdout, stderr))
}

/// A blocking keep-alive HTTP client for 127.0.0.1: statuses are answers,
/// not errors; no proxy, whatever the environment says.
fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .proxy(None)
        .timeout_global(Some(HTTP_TIMEOUT))
        .build()
        .into()
}

/// The command line.
struct Opts {
    run: Duration,
    debug: bool,
    build: bool,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut minutes = None;
    let mut seconds = None;
    let mut debug = false;
    let mut build = true;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = |name: &str| -> Result<u64> {
            let v = it.next().ok_or(format!("{name} needs a number\n{USAGE}"))?;
            v.parse()
                .map_err(|_| format!("{name} {v:?}: not a whole number\n{USAGE}"))
        };
        match a.as_str() {
            "--minutes" => minutes = Some(number("--minutes")?),
            "--seconds" => seconds = Some(number("--seconds")?),
            "--debug" => debug = true,
            "--no-build" => build = false,
            other => return Err(format!("soak: unknown argument {other:?}\n{USAGE}")),
        }
    }
    if minutes.is_none() && seconds.is_none() {
        return Err(format!("soak: say how long\n{USAGE}"));
    }
    let secs = minutes
        .unwrap_or(0)
        .saturating_mul(60)
        .saturating_add(seconds.unwrap_or(0));
    let run = Duration::from_secs(secs);
    if run < MIN_RUN || run > MAX_RUN {
        return Err(format!(
            "soak: the run must last {} s to {} h (RSS needs a warm-up and two {} s windows)",
            MIN_RUN.as_secs(),
            MAX_RUN.as_secs() / 3600,
            RSS_WINDOW.as_secs()
        ));
    }
    Ok(Opts { run, debug, build })
}

/// A process of ours, killed (by its own handle) and reaped when dropped.
struct Owned(std::process::Child);

impl Drop for Owned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The mock CVM, `mock down` when dropped.
struct MockCvm {
    exe: PathBuf,
    dir: PathBuf,
    env: Vec<(String, String)>,
}

impl MockCvm {
    fn up(exe: &Path, dir: &Path) -> Result<Self> {
        let out = cli(exe)
            .args(["mock", "up", "--dir"])
            .arg(dir)
            .output()
            .map_err(|e| format!("{}: {e}", exe.display()))?;
        if !out.status.success() {
            return Err(format!(
                "mock up failed ({}): {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let env: Vec<(String, String)> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        let mock = MockCvm {
            exe: exe.to_path_buf(),
            dir: dir.to_path_buf(),
            env,
        };
        if !mock.env.iter().any(|(k, _)| k == "TEE_ATTEST_TCTI") {
            return Err(format!(
                "mock up exported no TEE_ATTEST_TCTI: {:?}",
                mock.env
            ));
        }
        Ok(mock)
    }
}

impl Drop for MockCvm {
    fn drop(&mut self) {
        let _ = cli(&self.exe)
            .args(["mock", "down", "--dir"])
            .arg(&self.dir)
            .output();
    }
}

/// `VmRSS` of a process, KiB.
fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// `serve`'s RSS, sampled on a thread.
struct RssSampler {
    samples: Arc<Mutex<Vec<(Instant, u64)>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RssSampler {
    fn start(pid: u32) -> Self {
        let samples = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (samples.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::Relaxed) {
                if let Some(kib) = rss_kib(pid) {
                    s.lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push((Instant::now(), kib));
                }
                std::thread::sleep(Duration::from_millis(250));
            }
        });
        RssSampler {
            samples,
            stop,
            thread: Some(thread),
        }
    }

    /// The median of the samples in `[from, to)`.
    fn median(&self, from: Instant, to: Instant) -> Option<u64> {
        let mut v: Vec<u64> = self
            .samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(t, _)| *t >= from && *t < to)
            .map(|(_, k)| *k)
            .collect();
        v.sort_unstable();
        v.get(v.len() / 2).copied()
    }

    fn latest(&self) -> Option<u64> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last()
            .map(|(_, k)| *k)
    }

    fn peak(&self) -> Option<u64> {
        self.samples
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(_, k)| *k)
            .max()
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// One HTTP/1.1 request as the recorder read it.
struct Request {
    method: String,
    target: String,
    /// Names in lower case.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// Reads one HTTP/1.1 request (Content-Length bodies only).
fn read_request(s: &mut TcpStream) -> Result<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        if buf.len() > 64 * 1024 {
            return Err("request head over 64 KiB".into());
        }
        let n = s.read(&mut chunk).map_err(|e| format!("reading: {e}"))?;
        if n == 0 {
            return Err("connection closed before the request's head".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_string();
    let target = first.next().unwrap_or("").to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    if headers.iter().any(|(k, _)| k == "transfer-encoding") {
        return Err("chunked request bodies are not supported by the recorder".into());
    }
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    if len > 8 << 20 {
        return Err(format!("request body of {len} bytes"));
    }
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = s.read(&mut chunk).map_err(|e| format!("reading: {e}"))?;
        if n == 0 {
            return Err("connection closed in the request body".into());
        }
        body.extend_from_slice(&chunk[..n]);
    }
    body.truncate(len);
    Ok(Request {
        method,
        target,
        headers,
        body,
    })
}

/// Forwards one request to `base` and answers it (then closes).
fn proxy_one(
    mut s: TcpStream,
    agent: &ureq::Agent,
    base: &str,
    recorded: &Mutex<Option<(String, Vec<u8>)>>,
) -> Result {
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let Request {
        method,
        target,
        headers,
        body,
    } = read_request(&mut s)?;
    if !target.starts_with('/') {
        return Err(format!("request target {target:?}: not a path"));
    }
    let url = format!("{base}{target}");
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let answer = match method.as_str() {
        "GET" => agent.get(&url).call(),
        "POST" => {
            if target.starts_with("/attest/AzureGuest") {
                *recorded.lock().unwrap_or_else(|e| e.into_inner()) =
                    Some((target.clone(), body.clone()));
            }
            let mut r = agent.post(&url);
            for name in ["content-type", "authorization"] {
                if let Some(v) = header(name) {
                    r = r.header(name, v);
                }
            }
            r.send(&body[..])
        }
        other => return Err(format!("method {other} not forwarded")),
    };
    let mut answer = answer.map_err(|e| format!("forwarding {method} {target}: {e}"))?;
    let status = answer.status().as_u16();
    let mut extra = String::new();
    for name in ["content-type", "retry-after"] {
        if let Some(v) = answer.headers().get(name).and_then(|v| v.to_str().ok()) {
            extra.push_str(&format!("{name}: {v}\r\n"));
        }
    }
    let body = answer
        .body_mut()
        .with_config()
        .limit(MAX_BODY)
        .read_to_vec()
        .map_err(|e| format!("reading the answer to {target}: {e}"))?;
    let head = format!(
        "HTTP/1.1 {status} X\r\n{extra}content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes())
        .and_then(|()| s.write_all(&body))
        .map_err(|e| format!("answering: {e}"))
}

/// One AzureGuest request as the CLI sends it: `attest --verifier maa=…`
/// through a recording proxy on 127.0.0.1 that forwards to `serve`.
/// Returns the request target (path and query) and body.
fn record_attest_request(exe: &Path, mock: &MockCvm, base: &str) -> Result<(String, Vec<u8>)> {
    let listener =
        TcpListener::bind("127.0.0.1:0").map_err(|e| format!("binding the recorder: {e}"))?;
    let port = listener.local_addr().map_err(|e| e.to_string())?.port();
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("recorder: {e}"))?;
    let recorded = Arc::new(Mutex::new(None));
    let stop = Arc::new(AtomicBool::new(false));
    let (rec, st, base_owned) = (recorded.clone(), stop.clone(), base.to_string());
    let proxy = std::thread::spawn(move || {
        let agent = agent();
        let mut problems = Vec::new();
        while !st.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((s, _)) => {
                    let _ = s.set_nonblocking(false);
                    if let Err(e) = proxy_one(s, &agent, &base_owned, &rec) {
                        problems.push(e);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(e) => {
                    problems.push(format!("accept: {e}"));
                    break;
                }
            }
        }
        problems
    });
    let mut c = cli(exe);
    c.envs(mock.env.iter().map(|(k, v)| (k, v)))
        .args([
            "attest",
            "--verifier",
            &format!("maa=http://127.0.0.1:{port}"),
        ])
        .args(["--payload", r#"{"Nonce":"soak-recorded"}"#]);
    // Its token's issuer is `serve`, not the recorder: the CLI may refuse
    // it, which does not matter here; only the request is wanted.
    let result = run_bounded(c, PROCESS_TIMEOUT);
    stop.store(true, Ordering::Relaxed);
    let problems = proxy.join().unwrap_or_default();
    let got = recorded.lock().unwrap_or_else(|e| e.into_inner()).take();
    got.ok_or_else(|| {
        format!(
            "no AzureGuest request was recorded (CLI: {}; recorder: {})",
            match result {
                Ok((s, _, e)) => format!("{s}: {}", excerpt(&e)),
                Err(e) => e,
            },
            problems.join("; ")
        )
    })
}

/// Waits until `serve` answers `GET /certs`.
fn wait_ready(base: &str, serve: &mut Owned, log: &Path) -> Result {
    let agent = agent();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(s)) = serve.0.try_wait() {
            return Err(format!(
                "serve exited at start ({s}); see {}",
                log.display()
            ));
        }
        if let Ok(mut r) = agent.get(format!("{base}/certs")).call() {
            let _ = r.body_mut().read_to_vec();
            if r.status().as_u16() == 200 {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err(format!(
                "serve did not answer on {base} within 60 s; see {}",
                log.display()
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Closed loop: `n` workers as fast as they go until `deadline`.
fn closed_loop(ctx: &Arc<Ctx>, n: usize, deadline: Instant) {
    let threads: Vec<_> = (0..n)
        .map(|_| {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                let agent = agent();
                while Instant::now() < deadline {
                    let kind = ctx.next_kind();
                    let t = Instant::now();
                    let outcome = ctx.op(kind, &agent);
                    ctx.record(kind, t.elapsed(), outcome);
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}

/// Open loop: start times `t0 + k / rate` before `end`, served by `n`
/// workers; each worker's thread yields how many of its operations started
/// more than 1 s late (all workers busy).
fn paced(
    ctx: &Arc<Ctx>,
    n: usize,
    rate: f64,
    t0: Instant,
    end: Instant,
) -> Vec<std::thread::JoinHandle<u64>> {
    let next = Arc::new(AtomicU64::new(0));
    let interval = Duration::from_secs_f64(1.0 / rate);
    (0..n)
        .map(|_| {
            let (ctx, next) = (ctx.clone(), next.clone());
            std::thread::spawn(move || {
                let agent = agent();
                let mut late = 0;
                loop {
                    let k = next.fetch_add(1, Ordering::Relaxed);
                    let at = t0 + interval.mul_f64(k as f64);
                    if at >= end {
                        break late;
                    }
                    let now = Instant::now();
                    if at > now {
                        std::thread::sleep(at - now);
                    } else if now - at > Duration::from_secs(1) {
                        late += 1;
                    }
                    let kind = ctx.next_kind();
                    let t = Instant::now();
                    let outcome = ctx.op(kind, &agent);
                    ctx.record(kind, t.elapsed(), outcome);
                }
            })
        })
        .collect()
}

/// `cargo xtask soak`.
pub fn soak(args: &[String]) -> Result {
    let opts = parse(args)?;
    let started = Instant::now();
    let profile = if opts.debug { "debug" } else { "release" };
    if opts.build {
        let mut b = cargo();
        b.args(["build", "-p", "tee-attest-cli", "--bin", "tee-attest"]);
        if !opts.debug {
            b.arg("--release");
        }
        run(b)?;
    }
    let exe = root().join("target").join(profile).join("tee-attest");
    if !exe.exists() {
        return Err(format!("{} is not built", exe.display()));
    }
    let work = root().join("target/tmp/soak");
    let _ = std::fs::remove_dir_all(&work);
    for d in ["tokens", "local", "srv"] {
        std::fs::create_dir_all(work.join(d)).map_err(|e| format!("{}: {e}", work.display()))?;
    }
    eprintln!(
        "xtask: soak: {} s paced after a saturation ramp, {} binary {}, work in {}",
        opts.run.as_secs(),
        profile,
        exe.display(),
        work.display()
    );

    // The mock CVM, the key, `serve`.
    let mock = MockCvm::up(&exe, &work.join("mock"))?;
    let port = free_loopback_port()?;
    let base = format!("http://127.0.0.1:{port}");
    let policy = work.join("release-policy.json");
    std::fs::write(
        &policy,
        format!(
            r#"{{"version":"1.0.0","anyOf":[{{"authority":"{base}","allOf":[{{"claim":"x-ms-isolation-tee.x-ms-attestation-type","equals":"sevsnpvm"}}]}}]}}"#
        ),
    )
    .map_err(|e| format!("{}: {e}", policy.display()))?;
    let created = cli(&exe)
        .args(["keys", "create", "soak-key", "--kty", "oct", "--policy"])
        .arg(&policy)
        .arg("--data-dir")
        .arg(work.join("srv"))
        .output()
        .map_err(|e| e.to_string())?;
    if !created.status.success() {
        return Err(format!(
            "keys create failed: {}",
            String::from_utf8_lossy(&created.stderr)
        ));
    }
    let log_path = work.join("serve.log");
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut serve = Owned(
        cli(&exe)
            .args([
                "serve",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--trust-mock",
            ])
            .arg("--data-dir")
            .arg(work.join("srv"))
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .map_err(|e| format!("{}: {e}", exe.display()))?,
    );
    let pid = serve.0.id();
    wait_ready(&base, &mut serve, &log_path)?;

    // The recorded AzureGuest request, and a first token.
    let (attest_target, attest_body) = record_attest_request(&exe, &mock, &base)?;
    let ctx = Arc::new(Ctx {
        exe: exe.clone(),
        work: work.clone(),
        base: base.clone(),
        mock_env: mock.env.clone(),
        attest_target,
        attest_body,
        tokens: Mutex::new(TokenRing {
            dir: work.join("tokens"),
            tokens: Vec::new(),
            added: 0,
            used: 0,
        }),
        mix: schedule(),
        seq: AtomicUsize::new(0),
        nonce: AtomicU64::new(0),
        rec: Mutex::new(Recorder::default()),
    });
    match ctx.cli_op(Kind::AttestCliHttp) {
        Outcome::Ok => {}
        Outcome::Shed => return Err("the first attest over HTTP was shed".into()),
        Outcome::Error(e) => return Err(format!("the first attest over HTTP failed: {e}")),
    }
    for k in KINDS {
        if let Outcome::Error(e) = ctx.op(k, &agent()) {
            return Err(format!("{} does not work before the load: {e}", k.name()));
        }
    }
    let _ = ctx.take();
    let rss = RssSampler::start(pid);
    let setup = started.elapsed();
    eprintln!(
        "xtask: soak: set up in {:.1} s: mock CVM, serve (pid {pid}) on {base}, RSS {}",
        setup.as_secs_f64(),
        rss_kib(pid).map(mib).unwrap_or_else(|| "?".into())
    );

    // Saturation: a closed-loop ramp.
    let step = if opts.run >= Duration::from_secs(120) {
        Duration::from_secs(4)
    } else {
        Duration::from_secs(2)
    };
    let mut ramp = Bucket::default();
    let (mut best, mut best_level) = (0.0f64, 1usize);
    for level in RAMP_LEVELS {
        let t = Instant::now();
        closed_loop(&ctx, level, t + step);
        let b = ctx.take();
        let rate = b.ok_total() as f64 / t.elapsed().as_secs_f64();
        println!(
            "ramp {level:>2} workers: {:>6.1} op/s ({} ops, {} errors, {} shed)",
            rate,
            b.requests(),
            b.errors_total(),
            b.shed_total()
        );
        ramp.merge(b);
        let gained = rate > best * 1.10;
        if rate > best {
            best = rate;
            best_level = level;
        }
        if level >= 4 && !gained {
            break;
        }
    }
    if best <= 0.0 {
        return Err("nothing succeeded during the ramp".into());
    }
    let rate = best * LOAD_FRACTION;
    let workers = (best_level * 2).clamp(2, MAX_WORKERS);
    let report_every = if opts.run >= Duration::from_secs(120) {
        Duration::from_secs(60)
    } else {
        Duration::from_secs(10)
    };
    let warmup = (opts.run / 10).clamp(Duration::from_secs(5), Duration::from_secs(60));
    println!(
        "saturation {best:.1} op/s at {best_level} workers; running at {:.0} % of it: \
         {rate:.1} op/s, {workers} workers, {} s (warm-up: the ramp and the first {} s)",
        LOAD_FRACTION * 100.0,
        opts.run.as_secs(),
        warmup.as_secs()
    );

    // The paced run, reported every interval.
    let t0 = Instant::now();
    let end = t0 + opts.run;
    let handles = paced(&ctx, workers, rate, t0, end);
    let mut total = Bucket::default();
    let mut tick = t0;
    let mut serve_died = None;
    while tick < end {
        let from = tick;
        tick = (tick + report_every).min(end);
        while Instant::now() < tick {
            std::thread::sleep((tick - Instant::now()).min(Duration::from_millis(200)));
            if serve_died.is_none() {
                if let Ok(Some(s)) = serve.0.try_wait() {
                    serve_died = Some(s);
                }
            }
        }
        let mut b = ctx.take();
        let span = (tick - from).as_secs_f64();
        println!(
            "[{:>5} s] {} requests ({:.1}/s), {} errors, {} shed; serve RSS {}",
            (tick - t0).as_secs(),
            b.requests(),
            b.requests() as f64 / span,
            b.errors_total(),
            b.shed_total(),
            rss.latest().map(mib).unwrap_or_else(|| "gone".into())
        );
        print!("{}", b.kind_lines("          "));
        total.merge(b);
    }
    let late: u64 = handles.into_iter().map(|h| h.join().unwrap_or(0)).sum();
    let stragglers = ctx.take();
    total.merge(stragglers);
    let rss_start = rss.median(t0 + warmup, t0 + warmup + RSS_WINDOW);
    let rss_end = rss.median(end - RSS_WINDOW, end);
    std::thread::sleep(Duration::from_secs(2));
    let rss_idle = rss_kib(pid);
    let peak = rss.peak();
    drop(rss);
    let (errors, first_errors) = {
        let r = ctx.rec.lock().unwrap_or_else(|e| e.into_inner());
        (r.errors, r.first_errors.clone())
    };
    drop(serve);
    drop(mock);

    // serve's log: lines at ERROR or WARN.
    let log_text = std::fs::read_to_string(&log_path).unwrap_or_default();
    let log_errors = log_text.lines().filter(|l| l.contains(" ERROR ")).count();
    let log_warnings = log_text.lines().filter(|l| l.contains(" WARN ")).count();

    println!();
    println!(
        "soak summary: {} s at {rate:.1} op/s ({:.0} % of {best:.1} op/s saturation, {workers} workers), {profile} binary",
        opts.run.as_secs(),
        LOAD_FRACTION * 100.0
    );
    println!(
        "  requests {} ({:.1}/s), errors {} (ramp {}), shed {} (ramp {}), started > 1 s late {late}",
        total.requests(),
        total.requests() as f64 / opts.run.as_secs_f64(),
        total.errors_total(),
        ramp.errors_total(),
        total.shed_total(),
        ramp.shed_total()
    );
    print!("{}", total.kind_lines("  "));
    let growth = match (rss_start, rss_end) {
        (Some(a), Some(b)) if a > 0 => Some((b as f64 - a as f64) * 100.0 / a as f64),
        _ => None,
    };
    println!(
        "  serve RSS: start {} (after {} s of warm-up), end {}, growth {}; peak {}, 2 s after the load {}",
        rss_start.map(mib).unwrap_or_else(|| "?".into()),
        warmup.as_secs(),
        rss_end.map(mib).unwrap_or_else(|| "?".into()),
        growth
            .map(|g| format!("{g:+.1} %"))
            .unwrap_or_else(|| "?".into()),
        peak.map(mib).unwrap_or_else(|| "?".into()),
        rss_idle.map(mib).unwrap_or_else(|| "?".into()),
    );
    println!(
        "  serve log: {log_errors} ERROR, {log_warnings} WARN lines ({})",
        log_path.display()
    );
    println!("  wall time {:.0} s", started.elapsed().as_secs_f64());

    let mut failures = Vec::new();
    if errors > 0 {
        failures.push(format!(
            "{errors} errors:\n    {}",
            first_errors.join("\n    ")
        ));
    }
    if let Some(s) = serve_died {
        failures.push(format!("serve exited during the run ({s})"));
    }
    match growth {
        Some(g) if g > RSS_GROWTH_LIMIT_PCT => failures.push(format!(
            "serve's RSS grew {g:.1} % after warm-up (limit {RSS_GROWTH_LIMIT_PCT} %)"
        )),
        Some(_) => {}
        None => failures.push("serve's RSS could not be sampled".into()),
    }
    if failures.is_empty() {
        eprintln!("xtask: soak: ok");
        Ok(())
    } else {
        Err(format!("soak failed: {}", failures.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cycle_has_each_kind_by_its_weight_interleaved() {
        let mix = schedule();
        assert_eq!(mix.len(), 50);
        for (kind, weight) in WEIGHTS {
            assert_eq!(mix.iter().filter(|k| **k == kind).count(), weight);
        }
        // The heaviest kind never runs three times in a row.
        assert!(!mix
            .windows(3)
            .any(|w| w.iter().all(|k| *k == Kind::AttestHttp)));
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut b = Bucket::default();
        b.latency_us[0] = (1..=100).rev().collect();
        let (p50, p99) = b.percentiles(0).unwrap();
        assert_eq!(p50, Duration::from_micros(50));
        assert_eq!(p99, Duration::from_micros(99));
        assert!(b.percentiles(1).is_none());
    }

    #[test]
    fn the_run_is_bounded() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let o = parse(&args(&["--minutes", "1", "--seconds", "30", "--debug"])).unwrap();
        assert_eq!(o.run, Duration::from_secs(90));
        assert!(o.debug && o.build);
        assert!(parse(&args(&[])).is_err());
        assert!(parse(&args(&["--seconds", "5"])).is_err());
        assert!(parse(&args(&["--minutes", "100000"])).is_err());
        assert!(parse(&args(&["--minutes", "x"])).is_err());
    }
}
