//! A `swtpm` process on loopback.

use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tee_attest_core::{CodedError, ErrorCode};

/// Why the mock could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MockError {
    /// `swtpm` is not installed or failed to start (code 1).
    #[error("could not start swtpm ({hint}): {source}")]
    Spawn {
        /// What to do about it.
        hint: &'static str,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `swtpm` started but did not answer in time (code 1).
    #[error("swtpm did not listen on 127.0.0.1:{port} within {secs} s")]
    NotListening {
        /// The port waited on.
        port: u16,
        /// Seconds waited.
        secs: u64,
    },
    /// Making mock keys, certificates or reports failed (code 1).
    #[error("mock {what}: {reason}")]
    Crypto {
        /// What was being made.
        what: &'static str,
        /// Why it failed.
        reason: String,
    },
    /// Provisioning the simulator failed (its code).
    #[error("provisioning the mock vTPM: {0}")]
    Tpm(#[from] tee_attest_tpm::TpmError),
    /// The mock Intel platform refused its input (a malformed or foreign
    /// TDREPORT, an oversized field): the TDX crate's error and code.
    #[error("mock Intel platform: {0}")]
    Tdx(#[from] tee_attest_tdx::TdxError),
    /// A file or directory of the mock (a configfs-tsm mount point, the
    /// CCEL tables, an event log) could not be made (code 1).
    #[error("mock: {what} {}: {source}", path.display())]
    Io {
        /// What was being done (`making`, `writing`).
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl MockError {
    /// A mapper of an I/O error on `path` into [`MockError::Io`].
    pub(crate) fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.to_path_buf();
        move |source| MockError::Io { what, path, source }
    }
}

impl CodedError for MockError {
    fn code(&self) -> ErrorCode {
        match self {
            MockError::Tpm(e) => e.code(),
            MockError::Tdx(e) => e.code(),
            _ => ErrorCode::InitializationFailed,
        }
    }
}

/// A running `swtpm` (TPM 2.0) listening on 127.0.0.1: the command port and,
/// as libtss2's swtpm TCTI expects, the control port right after it.
#[derive(Debug)]
pub struct Swtpm {
    child: Option<Child>,
    port: u16,
    state: Option<tempfile::TempDir>,
    state_dir: PathBuf,
}

const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Two listeners on consecutive loopback ports (command, control).
pub(crate) fn bind_pair() -> std::io::Result<(TcpListener, TcpListener)> {
    for _ in 0..64 {
        let first = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
        let port = first.local_addr()?.port();
        let Some(next) = port.checked_add(1) else {
            continue;
        };
        if let Ok(second) = TcpListener::bind((Ipv4Addr::LOCALHOST, next)) {
            return Ok((first, second));
        }
    }
    Err(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        "no two consecutive free loopback ports",
    ))
}

/// Two consecutive free loopback ports (released for swtpm to bind).
fn free_port_pair() -> std::io::Result<u16> {
    let (first, _second) = bind_pair()?;
    first.local_addr().map(|a| a.port())
}

impl Swtpm {
    /// Start a fresh simulator with a temporary state directory.
    pub fn start() -> Result<Self, MockError> {
        let dir = tempfile::tempdir().map_err(|source| MockError::Spawn {
            hint: "creating its state directory",
            source,
        })?;
        let path = dir.path().to_path_buf();
        let mut tpm = Self::start_in(&path)?;
        tpm.state = Some(dir);
        Ok(tpm)
    }

    /// Start a simulator whose state lives in `state_dir` (kept after it
    /// stops, so a persistent mock CVM survives restarts).
    pub fn start_in(state_dir: &Path) -> Result<Self, MockError> {
        let mut last_err = None;
        // A port found free can be taken before swtpm binds it: retry.
        for _ in 0..5 {
            let port = free_port_pair().map_err(|source| MockError::Spawn {
                hint: "finding free loopback ports",
                source,
            })?;
            match Self::spawn(state_dir, port) {
                Ok(t) => return Ok(t),
                Err(e) => last_err = Some(e),
            }
        }
        Err(last_err.unwrap_or(MockError::NotListening { port: 0, secs: 0 }))
    }

    fn spawn(state_dir: &Path, port: u16) -> Result<Self, MockError> {
        let ctrl = port + 1;
        let child = Command::new("swtpm")
            .arg("socket")
            .arg("--tpm2")
            .arg("--tpmstate")
            .arg(format!("dir={}", state_dir.display()))
            .arg("--server")
            .arg(format!("type=tcp,port={port},bindaddr=127.0.0.1"))
            .arg("--ctrl")
            .arg(format!("type=tcp,port={ctrl},bindaddr=127.0.0.1"))
            .arg("--flags")
            .arg("not-need-init,startup-clear")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| MockError::Spawn {
                hint: "is swtpm installed? run `cargo xtask deps`",
                source,
            })?;
        let mut tpm = Self {
            child: Some(child),
            port,
            state: None,
            state_dir: state_dir.to_path_buf(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        loop {
            if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                return Ok(tpm);
            }
            let exited = tpm
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
                .is_some();
            if exited || Instant::now() > deadline {
                tpm.kill();
                return Err(MockError::NotListening {
                    port,
                    secs: START_TIMEOUT.as_secs(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The TCTI configuration that reaches it.
    pub fn tcti(&self) -> String {
        format!("swtpm:host=127.0.0.1,port={}", self.port)
    }

    /// The command port (the control port is the next one).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The state directory.
    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// Keep the process running after this value is dropped (for a
    /// persistent mock CVM that is stopped later by its recorded pid).
    pub fn detach(mut self) -> u32 {
        let pid = self.pid().unwrap_or(0);
        self.child = None;
        if let Some(dir) = self.state.take() {
            let _ = dir.keep();
        }
        pid
    }

    /// Stop the process now (as a crash would: no orderly shutdown).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Swtpm {
    fn drop(&mut self) {
        self.kill();
    }
}
