//! What the CLI tests against `mock up` share: the binary without the
//! mock's exports, the mock hosted in its own process, `serve` on a free
//! loopback port.

#![allow(dead_code)] // each test file uses part of it

use std::path::Path;
use std::process::{Child, Command, Output};

/// The variables a mock exports, removed from the tests' own environment.
pub const MOCK_ENV: &[&str] = &[
    "TEE_ATTEST_TCTI",
    "TEE_ATTEST_IMDS_URL",
    "TEE_ATTEST_EVENT_LOG",
    "TEE_ATTEST_TSM_ROOT",
    "TEE_ATTEST_CCEL_ROOT",
    "TEE_ATTEST_TEE",
    "TEE_ATTEST_TRUST_MOCK",
    "TEE_ATTEST_VTPM_LOCK",
    "TEE_ATTEST_ITA_API_KEY",
];

/// The binary, without any of [`MOCK_ENV`].
pub fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tee-attest"));
    for k in MOCK_ENV {
        c.env_remove(k);
    }
    c
}

/// Standard output of a run that must have succeeded.
#[track_caller]
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A mock hosted by `mock up --tee TEE` in its own process; `mock down`
/// when dropped.
pub struct Mock {
    /// Its directory.
    pub dir: tempfile::TempDir,
    /// What `mock up` exported.
    pub env: Vec<(String, String)>,
}

impl Mock {
    /// `mock up --tee tee`.
    pub fn up(tee: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = cli()
            .args(["mock", "up", "--tee", tee, "--dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        let env = ok(&out)
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        Mock { dir, env }
    }

    /// An exported variable.
    pub fn var(&self, key: &str) -> String {
        self.env
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .unwrap_or_else(|| panic!("`mock up` exports no {key}: {:?}", self.env))
    }

    /// The local verifier's data directory for this mock.
    pub fn data_dir(&self) -> String {
        self.dir.path().join("data").to_str().unwrap().to_string()
    }

    /// The CLI with the mock's exports, some left out.
    pub fn cli_without(&self, left_out: &[&str]) -> Command {
        let mut c = cli();
        for (k, v) in &self.env {
            if !left_out.contains(&k.as_str()) {
                c.env(k, v);
            }
        }
        c
    }

    /// The CLI with the mock's exports, run with `args`.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cli_without(&[]).args(args).output().unwrap()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = cli()
            .args(["mock", "down", "--dir"])
            .arg(self.dir.path())
            .output();
    }
}

/// A `serve` process, killed when dropped.
pub struct Serve(pub Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `serve` (data in `dir/srv`) on a free loopback port with `args`, once
/// it listens.
pub fn serve(dir: &Path, args: &[&str]) -> (Serve, String) {
    serve_with(dir, args, &[], None)
}

/// [`serve`] with extra environment variables (`TEE_ATTEST_KEK` among them
/// replaces the default) and its standard error written to `log`.
pub fn serve_with(
    dir: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    log: Option<&Path>,
) -> (Serve, String) {
    // One start at a time in this test binary: two tests picking a free
    // port at once may pick the same one, and one `serve` would then answer
    // for both.
    static START: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = START.lock().unwrap_or_else(|e| e.into_inner());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut c = cli();
    c.args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.join("srv"))
        .args(args)
        .env("TEE_ATTEST_KEK", "00".repeat(32))
        .envs(env.iter().copied())
        .stderr(match log {
            Some(p) => std::process::Stdio::from(std::fs::File::create(p).unwrap()),
            None => std::process::Stdio::null(),
        });
    let s = Serve(c.spawn().unwrap());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    // A connection from the port to itself (TCP simultaneous open, when
    // the kernel picks the probed port as the source) is not a listener.
    while !std::net::TcpStream::connect(("127.0.0.1", port))
        .is_ok_and(|s| s.local_addr().is_ok_and(|a| a.port() != port))
    {
        assert!(std::time::Instant::now() < deadline, "serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    (s, format!("http://127.0.0.1:{port}"))
}
