//! Files of the data directory: written whole or not at all, private
//! (directories 0700, files 0600, whatever the umask), and created once
//! even when several processes use a fresh directory at the same moment
//! (docs/RELIABILITY.md).
//!
//! First-use files (the token-signing key, the key broker's KEK) are made
//! under [`FirstUseLock`], an advisory `flock(2)` on
//! `DATA_DIR/.first-use.lock`: the first process in makes and writes them
//! (atomically: temporary file, then rename), the others wait, then load
//! what it wrote.

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// The lock file of a data directory's first-use files.
pub const FIRST_USE_LOCK: &str = ".first-use.lock";
/// How long a process waits for another to finish making the first-use
/// files.
pub const FIRST_USE_TIMEOUT: Duration = Duration::from_secs(60);

/// Creates `dir` and its missing parents with mode 0700 (set explicitly,
/// whatever the umask); a directory that exists is left as it is.
/// Concurrent callers are fine.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut p = Some(dir);
    while let Some(d) = p.filter(|d| !d.as_os_str().is_empty() && !d.exists()) {
        missing.push(d.to_path_buf());
        p = d.parent();
    }
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir)?;
    #[cfg(unix)]
    for d in missing {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a private (0600) temporary file in
/// the same directory, synced, then renamed over `path`. A reader sees the
/// old content or the new one, never a mix; a crash leaves at most a
/// stray temporary file.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_private_atomic_as(path, bytes, "file.write")
}

/// [`write_private_atomic`] whose fault-injection points
/// (`tee_attest_core::fault`) are `{scope}.after_temp` (the temporary file
/// written and synced, not yet renamed) and `{scope}.after_rename`.
pub fn write_private_atomic_as(path: &Path, bytes: &[u8], scope: &str) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or_else(|| Path::new("."));
    create_private_dir(dir)?;
    let mut rnd = [0u8; 8];
    aws_lc_rs::rand::fill(&mut rnd).map_err(|_| std::io::Error::other("no randomness"))?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", hex::encode(rnd)));
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let result = (|| {
        let mut f = opts.open(&tmp)?;
        #[cfg(unix)]
        {
            // The mode given to open(2) is narrowed by the umask only;
            // set it exactly.
            use std::os::unix::fs::PermissionsExt as _;
            f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        }
        f.write_all(bytes)?;
        f.sync_all()?;
        tee_attest_core::fault::fallible_at(scope, "after_temp")?;
        std::fs::rename(&tmp, path)?;
        tee_attest_core::fault::fallible_at(scope, "after_rename")
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// The exclusive lock on a data directory's first-use files, held until
/// dropped (or the process ends).
#[derive(Debug)]
pub struct FirstUseLock {
    _file: std::fs::File,
}

impl FirstUseLock {
    /// Takes the lock of `dir` (created 0700 if missing), waiting at most
    /// [`FIRST_USE_TIMEOUT`] for another process to release it.
    pub fn acquire(dir: &Path) -> std::io::Result<Self> {
        Self::acquire_within(dir, FIRST_USE_TIMEOUT)
    }

    /// [`FirstUseLock::acquire`], waiting at most `timeout`
    /// (`ErrorKind::TimedOut` past it).
    pub fn acquire_within(dir: &Path, timeout: Duration) -> std::io::Result<Self> {
        use rustix::fs::{flock, FlockOperation};
        use rustix::io::Errno;
        create_private_dir(dir)?;
        let path = dir.join(FIRST_USE_LOCK);
        let mut opts = std::fs::OpenOptions::new();
        opts.read(true).write(true).create(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let file = opts.open(&path)?;
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_millis(1);
        loop {
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => return Ok(Self { _file: file }),
                Err(Errno::INTR) => {}
                Err(e) if e == Errno::WOULDBLOCK || e == Errno::AGAIN => {
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::TimedOut,
                            format!(
                                "{} is still locked by another process after {} s",
                                path.display(),
                                timeout.as_secs()
                            ),
                        ));
                    }
                    std::thread::sleep(pause.min(deadline - now));
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_whole_private_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/x.json");
        write_private_atomic(&p, b"one").unwrap();
        write_private_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            let dmode = std::fs::metadata(p.parent().unwrap())
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(dmode & 0o777, 0o700);
        }
        // No temporary file left behind.
        let names: Vec<_> = std::fs::read_dir(p.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }

    #[test]
    fn every_missing_parent_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_private_dir(&deep).unwrap();
        create_private_dir(&deep).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            for d in ["a", "a/b", "a/b/c"] {
                let mode = std::fs::metadata(dir.path().join(d))
                    .unwrap()
                    .permissions()
                    .mode();
                assert_eq!(mode & 0o777, 0o700, "{d}");
            }
        }
    }

    #[test]
    fn the_first_use_lock_excludes_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let held = FirstUseLock::acquire(dir.path()).unwrap();
        let err = FirstUseLock::acquire_within(dir.path(), Duration::from_millis(100)).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::TimedOut, "{err}");
        drop(held);
        FirstUseLock::acquire_within(dir.path(), Duration::from_millis(100)).unwrap();
    }
}
