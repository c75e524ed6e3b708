//! One TPM shared by many processes and threads (docs/RELIABILITY.md,
//! "Shared vTPM and time-outs"):
//!
//! - **A cross-process lock.** [`TpmAccess::run`] holds an advisory
//!   `flock(2)` on a lock file for the whole of one TPM operation (on an
//!   Azure CVM: from the user-data write to the HCL report read, the quote
//!   and the certification), so that no process reads a report another
//!   process asked for, and no two processes fill the TPM's few object and
//!   session slots at once. Its path: [`TpmAccess::lock`], else
//!   `$TEE_ATTEST_VTPM_LOCK`, else a file named after the TPM
//!   (`vtpm.lock` for the machine's TPM, `vtpm-swtpm-HOST-PORT.lock` for a
//!   simulator) in the first of `/run/tee-attest`, `$XDG_RUNTIME_DIR/tee-attest`,
//!   the data directory, `$TMPDIR/tee-attest` that can hold it.
//! - **Retries.** A command the TPM refuses for want of resources or time
//!   (`TPM_RC_OBJECT_MEMORY` 0x902, `TPM_RC_SESSION_MEMORY` 0x903,
//!   `TPM_RC_MEMORY`, `TPM_RC_RETRY`, `TPM_RC_YIELDED`, `TPM_RC_TESTING`,
//!   `TPM_RC_NV_RATE`, …) is sent again after a jittered exponential
//!   backoff, a bounded number of times ([`RetryPolicy`]), then fails with
//!   [`TpmError::Busy`] (code 13) naming the return code.
//! - **Time-outs.** tss-esapi calls block (a stopped swtpm never answers),
//!   so the operation runs on a worker thread that owns the TPM context,
//!   and the caller waits: when one command has not answered within
//!   [`TpmAccess::timeout`] (`$TEE_ATTEST_TPM_TIMEOUT`, default 30 s) the
//!   caller gets [`TpmError::Timeout`] (code 13). The waiting for the lock
//!   is bounded by the same time-out ([`TpmError::LockTimeout`]).
//!
//! A context whose command timed out is abandoned: the worker keeps it
//! (and the lock) until the TPM answers or the connection fails, then
//! sends no further command but the flushes of what the operation loaded,
//! closes the context and releases the lock. Nothing reuses it: every
//! operation opens a fresh context.

use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use tss_esapi::constants::response_code::{Tss2ResponseCode, Tss2ResponseCodeKind};

use super::{Tpm, TCTI_ENV};
use crate::settings::{parse_timeout, DEFAULT_TPM_TIMEOUT, TPM_TIMEOUT_ENV, VTPM_LOCK_ENV};
use crate::TpmError;

/// The first directory tried for the default lock file.
pub const SYSTEM_LOCK_DIR: &str = "/run/tee-attest";

/// How often a command refused for want of TPM resources is sent again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RetryPolicy {
    /// The most times a command is sent (1: no retry).
    pub max_tries: u32,
    /// The wait before the second try; it doubles (with jitter) up to
    /// `max_delay`.
    pub first_delay: Duration,
    /// The longest wait between two tries.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    /// 12 tries, waiting 10 ms, 20 ms, … up to 1 s between them (each
    /// wait jittered down to half): at most about 5 s in all before giving
    /// up.
    fn default() -> Self {
        Self {
            max_tries: 12,
            first_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// No retries: each command is sent once.
    pub fn none() -> Self {
        Self {
            max_tries: 1,
            ..Self::default()
        }
    }

    /// `max_tries` tries, waiting from `first_delay` up to `max_delay`.
    pub fn new(max_tries: u32, first_delay: Duration, max_delay: Duration) -> Self {
        Self {
            max_tries: max_tries.max(1),
            first_delay,
            max_delay: max_delay.max(first_delay),
        }
    }
}

/// A duration between `d / 2` and `d`, at random: processes that backed off
/// together do not come back together.
pub(crate) fn jitter(d: Duration) -> Duration {
    let random = std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish();
    let half = d / 2;
    let span = u64::try_from(half.as_nanos()).unwrap_or(u64::MAX);
    half + Duration::from_nanos(random % span.saturating_add(1))
}

/// If `e` comes from the TCTI layer — the connection to the TPM, not the
/// TPM (swtpm killed, the resource manager gone) — what to say instead of
/// tss-esapi's "response code not recognized".
pub(crate) fn tcti_failure(e: &tss_esapi::Error) -> Option<String> {
    let tss_esapi::Error::Tss2Error(Tss2ResponseCode::FormatZero(raw)) = e else {
        return None;
    };
    (raw.0 >> 16 == 0x0A).then(|| {
        format!(
            "the connection to the TPM failed (TCTI error {:#x}): the TPM, or the simulator or \
             resource manager behind it, went away",
            raw.0
        )
    })
}

/// If `e` is a TPM warning worth retrying: its raw code, name and meaning.
pub(crate) fn retryable(e: &tss_esapi::Error) -> Option<(u32, &'static str, &'static str)> {
    let tss_esapi::Error::Tss2Error(rc) = e else {
        return None;
    };
    let Tss2ResponseCode::FormatZero(raw) = rc else {
        return None;
    };
    let (name, what) = match rc.kind()? {
        Tss2ResponseCodeKind::ObjectMemory => ("TPM_RC_OBJECT_MEMORY", "out of object slots"),
        Tss2ResponseCodeKind::SessionMemory => ("TPM_RC_SESSION_MEMORY", "out of session slots"),
        Tss2ResponseCodeKind::Memory => ("TPM_RC_MEMORY", "out of object and session memory"),
        Tss2ResponseCodeKind::ObjectHandles => ("TPM_RC_OBJECT_HANDLES", "out of object handles"),
        Tss2ResponseCodeKind::SessionHandles => {
            ("TPM_RC_SESSION_HANDLES", "out of session handles")
        }
        Tss2ResponseCodeKind::Retry => ("TPM_RC_RETRY", "the TPM could not start the command"),
        Tss2ResponseCodeKind::Yielded => ("TPM_RC_YIELDED", "the TPM suspended the command"),
        Tss2ResponseCodeKind::Testing => ("TPM_RC_TESTING", "the TPM is running its self-tests"),
        Tss2ResponseCodeKind::NvRate => ("TPM_RC_NV_RATE", "the TPM is rate-limiting NV writes"),
        Tss2ResponseCodeKind::NvUnavailable => (
            "TPM_RC_NV_UNAVAILABLE",
            "the TPM's NV memory is unavailable",
        ),
        _ => return None,
    };
    Some((raw.0, name, what))
}

/// What the worker thread is doing, as the waiting thread sees it: the
/// command in flight and since when, and whether the operation was given
/// up.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    cancelled: AtomicBool,
    current: Mutex<Option<(&'static str, Instant)>>,
}

impl Watch {
    /// A command starts.
    pub(crate) fn begin(&self, command: &'static str) {
        if let Ok(mut c) = self.current.lock() {
            *c = Some((command, Instant::now()));
        }
    }

    /// The command answered.
    pub(crate) fn end(&self) {
        if let Ok(mut c) = self.current.lock() {
            *c = None;
        }
    }

    /// Whether the waiting thread gave up: send no further command.
    pub(crate) fn cancelled(&self) -> bool {
        self.cancelled.load(Ordering::SeqCst)
    }

    fn cancel(&self) {
        self.cancelled.store(true, Ordering::SeqCst);
    }

    /// The command in flight for longer than `timeout`, if any.
    fn overdue(&self, timeout: Duration) -> Option<&'static str> {
        let c = self.current.lock().ok()?;
        let (command, since) = (*c)?;
        (since.elapsed() >= timeout).then_some(command)
    }
}

/// How to reach a TPM that other processes share: its TCTI, the lock that
/// serializes them, the time-out of each command, the retries of commands
/// refused for want of resources. See the [module](self) documentation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TpmAccess {
    /// The TCTI; `None`: `$TEE_ATTEST_TCTI`, else `/dev/tpmrm0`, else
    /// `/dev/tpm0` (as [`Tpm::open`]).
    pub tcti: Option<String>,
    /// The lock file; `None`: the default for the TPM (module docs).
    pub lock: Option<PathBuf>,
    /// How long one command, and the wait for the lock, may take.
    pub timeout: Duration,
    /// Retries of commands refused for want of resources.
    pub retry: RetryPolicy,
}

impl Default for TpmAccess {
    fn default() -> Self {
        Self::new(None)
    }
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The lock file's name for a TPM: `vtpm.lock` for the machine's TPM
/// (devices, `tabrmd`, the default), `vtpm-<tcti>.lock` for a simulator
/// reached over the network (each simulator is its own TPM).
pub fn lock_file_name(tcti: Option<&str>) -> String {
    let Some(t) = tcti.map(str::trim).filter(|t| !t.is_empty()) else {
        return "vtpm.lock".into();
    };
    let networked = ["swtpm", "mssim"]
        .iter()
        .any(|p| t.split(':').next() == Some(*p));
    if !networked {
        return "vtpm.lock".into();
    }
    let mut name: String = t
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    name.truncate(120);
    format!("vtpm-{name}.lock")
}

/// Creates `dir` and its missing parents with mode 0700.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir)
}

/// Opens (creating it 0600 if missing) a lock file; read-only if it
/// exists but is not writable (`flock` needs no write access).
fn open_lock_file(path: &Path) -> std::io::Result<File> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.is_dir() {
            create_private_dir(dir)?;
        }
    }
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied && path.is_file() => {
            File::open(path)
        }
        Err(e) => Err(e),
    }
}

/// The vTPM lock, held: released when dropped (or when the process ends).
#[derive(Debug)]
pub(crate) struct LockGuard {
    _file: File,
}

/// Takes the exclusive `flock` on `file`, polling until `deadline`.
fn lock_until(
    file: File,
    path: &Path,
    waited_from: Instant,
    deadline: Instant,
) -> Result<LockGuard, TpmError> {
    use rustix::fs::{flock, FlockOperation};
    use rustix::io::Errno;
    let mut pause = Duration::from_millis(1);
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(LockGuard { _file: file }),
            Err(Errno::INTR) => continue,
            Err(e) if e == Errno::WOULDBLOCK || e == Errno::AGAIN => {
                let now = Instant::now();
                if now >= deadline {
                    return Err(TpmError::LockTimeout {
                        path: path.to_path_buf(),
                        after: now.duration_since(waited_from),
                    });
                }
                std::thread::sleep(jitter(pause).min(deadline - now));
                pause = (pause * 2).min(Duration::from_millis(25));
            }
            Err(e) => {
                return Err(TpmError::Lock {
                    path: path.to_path_buf(),
                    source: e.into(),
                })
            }
        }
    }
}

impl TpmAccess {
    /// The TPM at `tcti` with the defaults: the default lock file, a 30 s
    /// time-out, [`RetryPolicy::default`]. The environment is not read
    /// (see [`TpmAccess::resolve`]).
    pub fn new(tcti: Option<&str>) -> Self {
        Self {
            tcti: tcti.map(str::to_string),
            lock: None,
            timeout: DEFAULT_TPM_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }

    /// The TPM at `tcti` with the lock file `lock` and the time-out
    /// `timeout`, each, when `None`, from its environment variable
    /// ([`VTPM_LOCK_ENV`], [`TPM_TIMEOUT_ENV`]), else the default. Code 8
    /// for a time-out variable that does not parse.
    pub fn resolve(
        tcti: Option<&str>,
        lock: Option<&Path>,
        timeout: Option<Duration>,
    ) -> Result<Self, TpmError> {
        let mut access = Self::new(tcti);
        access.lock = lock
            .map(Path::to_path_buf)
            .or_else(|| env_nonempty(VTPM_LOCK_ENV).map(PathBuf::from));
        access.timeout = match timeout {
            Some(t) => t,
            None => match env_nonempty(TPM_TIMEOUT_ENV) {
                Some(t) => parse_timeout(&t)
                    .map_err(|e| TpmError::InvalidInput(format!("${TPM_TIMEOUT_ENV}: {e}")))?,
                None => DEFAULT_TPM_TIMEOUT,
            },
        };
        Ok(access)
    }

    /// The same access with another time-out.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The same access with another lock file.
    #[must_use]
    pub fn with_lock(mut self, lock: impl Into<PathBuf>) -> Self {
        self.lock = Some(lock.into());
        self
    }

    /// The same access with other retries.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// The TCTI in effect: [`TpmAccess::tcti`], else `$TEE_ATTEST_TCTI`
    /// (`None`: the device).
    pub fn effective_tcti(&self) -> Option<String> {
        self.tcti.clone().or_else(|| env_nonempty(TCTI_ENV))
    }

    /// The lock files tried, in order: the configured one alone, else the
    /// TPM's lock file name in each default directory.
    pub fn lock_candidates(&self) -> Vec<PathBuf> {
        if let Some(l) = &self.lock {
            return vec![l.clone()];
        }
        let name = lock_file_name(self.effective_tcti().as_deref());
        let mut dirs = vec![PathBuf::from(SYSTEM_LOCK_DIR)];
        if let Some(x) = std::env::var_os("XDG_RUNTIME_DIR").filter(|x| !x.is_empty()) {
            dirs.push(PathBuf::from(x).join("tee-attest"));
        }
        // The data directory (as the facade's `data_dir`).
        if let Some(d) = std::env::var_os("TEE_ATTEST_DATA_DIR").filter(|d| !d.is_empty()) {
            dirs.push(PathBuf::from(d));
        } else if let Some(h) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            dirs.push(PathBuf::from(h).join(".local/share/tee-attest"));
        }
        dirs.push(std::env::temp_dir().join("tee-attest"));
        dirs.into_iter().map(|d| d.join(&name)).collect()
    }

    /// Takes the vTPM lock, waiting at most the time-out: the first lock
    /// file candidate that opens.
    pub(crate) fn lock_now(&self) -> Result<LockGuard, TpmError> {
        let start = Instant::now();
        let deadline = start + self.timeout;
        let mut last = None;
        for path in self.lock_candidates() {
            match open_lock_file(&path) {
                Ok(file) => return lock_until(file, &path, start, deadline),
                Err(e) => last = Some((path, e)),
            }
        }
        let (path, source) = last.unwrap_or_else(|| {
            (
                PathBuf::from(SYSTEM_LOCK_DIR),
                std::io::Error::other("no lock file candidate"),
            )
        });
        Err(TpmError::Lock { path, source })
    }

    /// Runs one TPM operation: takes the vTPM lock (waiting at most the
    /// time-out), opens a fresh context on a worker thread, runs `op` on
    /// it, flushes every object and session it left loaded, closes the
    /// context and releases the lock. Each command is retried as
    /// [`TpmAccess::retry`] says; one that does not answer within
    /// [`TpmAccess::timeout`] makes this return [`TpmError::Timeout`]
    /// (code 13) at once, abandoning the context (module docs).
    pub fn run<T, F>(&self, op: F) -> Result<T, TpmError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Tpm) -> Result<T, TpmError> + Send + 'static,
    {
        let guard = self.lock_now()?;
        let watch = Arc::new(Watch::default());
        let (tx, rx) = mpsc::sync_channel(1);
        let (tcti, retry, worker_watch) = (self.tcti.clone(), self.retry, watch.clone());
        let spawned = std::thread::Builder::new()
            .name("tee-attest-tpm".into())
            .spawn(move || {
                let result = match Tpm::open_watched(tcti.as_deref(), retry, Some(worker_watch)) {
                    Ok(mut tpm) => {
                        let r = op(&mut tpm);
                        // Flushes what `op` left loaded, then closes the context.
                        drop(tpm);
                        r
                    }
                    Err(e) => Err(e),
                };
                drop(guard);
                let _ = tx.send(result);
            });
        if let Err(e) = spawned {
            return Err(TpmError::Command {
                command: "start the TPM worker thread",
                source: Box::new(e),
            });
        }
        let tick = (self.timeout / 8).clamp(Duration::from_millis(1), Duration::from_millis(100));
        loop {
            match rx.recv_timeout(tick) {
                Ok(result) => return result,
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    return Err(TpmError::Command {
                        command: "TPM worker",
                        source: "the TPM worker thread ended without an answer".into(),
                    })
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    if let Some(command) = watch.overdue(self.timeout) {
                        watch.cancel();
                        tracing::warn!(
                            command,
                            timeout_ms =
                                u64::try_from(self.timeout.as_millis()).unwrap_or(u64::MAX),
                            "a TPM command timed out; its context is abandoned"
                        );
                        return Err(TpmError::Timeout {
                            command,
                            after: self.timeout,
                        });
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_names_follow_the_tpm() {
        assert_eq!(lock_file_name(None), "vtpm.lock");
        assert_eq!(lock_file_name(Some("device:/dev/tpmrm0")), "vtpm.lock");
        assert_eq!(lock_file_name(Some("tabrmd:")), "vtpm.lock");
        assert_eq!(
            lock_file_name(Some("swtpm:host=127.0.0.1,port=2321")),
            "vtpm-swtpm-host-127.0.0.1-port-2321.lock"
        );
        assert_ne!(
            lock_file_name(Some("mssim:host=127.0.0.1,port=1")),
            lock_file_name(Some("mssim:host=127.0.0.1,port=2"))
        );
    }

    #[test]
    fn jitter_stays_within_half_to_whole() {
        for _ in 0..100 {
            let j = jitter(Duration::from_millis(100));
            assert!(j >= Duration::from_millis(50) && j <= Duration::from_millis(100));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }

    #[test]
    fn the_lock_excludes_other_holders_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let access = TpmAccess::new(Some("swtpm:host=127.0.0.1,port=1"))
            .with_lock(dir.path().join("sub/vtpm.lock"))
            .with_timeout(Duration::from_millis(200));
        let held = access.lock_now().unwrap();
        let start = Instant::now();
        let err = access.lock_now().unwrap_err();
        assert!(matches!(err, TpmError::LockTimeout { .. }), "{err}");
        assert!(start.elapsed() >= Duration::from_millis(200));
        assert!(start.elapsed() < Duration::from_secs(2));
        drop(held);
        access.lock_now().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir.path().join("sub")), 0o700);
            assert_eq!(mode(&dir.path().join("sub/vtpm.lock")), 0o600);
        }
    }
}
