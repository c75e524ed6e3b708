//! The configfs-tsm client: one fresh report directory per request.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use tee_attest_core::Result;

use crate::error::TsmError;

/// Where the kernel's configfs-tsm report directories live.
pub const DEFAULT_TSM_ROOT: &str = "/sys/kernel/config/tsm/report";
/// The environment variable that overrides [`DEFAULT_TSM_ROOT`] when
/// [`Tsm::new`] is given no root.
pub const TSM_ROOT_ENV: &str = "TEE_ATTEST_TSM_ROOT";
/// Where the legacy guest devices (`sev-guest`, `tdx_guest`) live.
pub const DEFAULT_DEV_ROOT: &str = "/dev";
/// The provider name of AMD SEV-SNP guests.
pub const PROVIDER_SEV_GUEST: &str = "sev_guest";
/// The provider name of Intel TDX guests.
pub const PROVIDER_TDX_GUEST: &str = "tdx_guest";
/// The most report data `inblob` takes (the kernel's `TSM_INBLOB_MAX`).
pub const INBLOB_MAX: usize = 64;
/// The highest privilege level (`TSM_PRIVLEVEL_MAX`; SEV-SNP's VMPL 3).
pub const PRIVLEVEL_MAX: u32 = 3;
/// The most bytes read from `outblob` (the kernel caps it at 32 KiB).
pub const OUTBLOB_CAP: usize = 64 * 1024;
/// The most bytes read from `auxblob`.
pub const AUXBLOB_CAP: usize = 64 * 1024;
/// The most bytes read from a text attribute (`provider`, `generation`,
/// `privlevel_floor`); configfs text attributes are at most 4 KiB.
pub const TEXT_ATTR_CAP: usize = 4096;
/// How often the whole sequence is tried when another writer races.
pub const DEFAULT_MAX_TRIES: u32 = 3;

/// The legacy guest devices whose presence explains a missing configfs-tsm.
const LEGACY_DEVICES: &[&str] = &["sev-guest", "tdx_guest"];
/// How many names are tried when `mkdir` finds one taken.
const MKDIR_TRIES: u32 = 8;

/// A request for one attestation report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest<'a> {
    /// The report data bound into the report (a nonce, a key hash, …).
    pub inblob: [u8; INBLOB_MAX],
    /// The privilege level (SEV-SNP VMPL, 0–3) to request, if any; only
    /// providers with a `privlevel` attribute (`sev_guest`) take one.
    pub privlevel: Option<u32>,
    /// The provider expected to answer: `sev_guest` or `tdx_guest`.
    pub provider: &'a str,
    /// Whether to read `auxblob` (SEV-SNP's certificate table) too.
    pub want_auxblob: bool,
}

impl<'a> ReportRequest<'a> {
    /// A request for a report over `inblob` from `provider`, with no
    /// privilege level and no auxiliary blob.
    pub fn new(inblob: [u8; INBLOB_MAX], provider: &'a str) -> Self {
        Self {
            inblob,
            privlevel: None,
            provider,
            want_auxblob: false,
        }
    }
}

/// A report as configfs-tsm produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TsmReport {
    /// The report (`outblob`), in the provider's format: an SEV-SNP
    /// attestation report or a TDX quote.
    pub outblob: Vec<u8>,
    /// The auxiliary blob (SEV-SNP's certificate table), when requested and
    /// present and not empty.
    pub auxblob: Option<Vec<u8>>,
    /// The provider that produced it.
    pub provider: String,
    /// The directory's `generation` after the report was read: the number of
    /// writes to its inputs.
    pub generation: u64,
}

/// Called with the report directory after the blobs are read and before
/// `generation` is read again.
pub type AfterReadHook = Arc<dyn Fn(&Path) + Send + Sync>;

/// The configfs-tsm client.
///
/// Every request makes its own report directory under the root, writes the
/// inputs, reads the report, checks that `generation` counts exactly its own
/// writes (else another writer raced: the whole sequence is tried again in
/// a new directory, [`DEFAULT_MAX_TRIES`] times in all), and removes the
/// directory, also on errors.
#[derive(Clone)]
pub struct Tsm {
    root: PathBuf,
    dev_root: PathBuf,
    max_tries: u32,
    after_read: Option<AfterReadHook>,
}

impl fmt::Debug for Tsm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tsm")
            .field("root", &self.root)
            .field("dev_root", &self.dev_root)
            .field("max_tries", &self.max_tries)
            .field("after_read", &self.after_read.as_ref().map(|_| "hook"))
            .finish()
    }
}

/// The root to use: the given one, else the environment's, else the default.
fn choose_root(root: Option<PathBuf>, env: Option<OsString>) -> PathBuf {
    root.or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_TSM_ROOT))
}

impl Tsm {
    /// A client of the report directories under `root`; `None` means
    /// `$TEE_ATTEST_TSM_ROOT` if set and not empty, else
    /// `/sys/kernel/config/tsm/report`.
    pub fn new(root: Option<PathBuf>) -> Self {
        Self {
            root: choose_root(root, std::env::var_os(TSM_ROOT_ENV)),
            dev_root: PathBuf::from(DEFAULT_DEV_ROOT),
            max_tries: DEFAULT_MAX_TRIES,
            after_read: None,
        }
    }

    /// Where to look for the legacy guest devices when configfs-tsm is
    /// missing (default `/dev`), to say why in the error.
    #[must_use]
    pub fn with_dev_root(mut self, dev_root: impl Into<PathBuf>) -> Self {
        self.dev_root = dev_root.into();
        self
    }

    /// How many times the whole sequence is tried when another writer races
    /// (at least 1).
    #[must_use]
    pub fn with_max_tries(mut self, tries: u32) -> Self {
        self.max_tries = tries.max(1);
        self
    }

    /// A hook called with the report directory after the blobs are read and
    /// before `generation` is read again: tests use it to play a concurrent
    /// writer.
    #[must_use]
    pub fn with_after_read_hook(mut self, hook: AfterReadHook) -> Self {
        self.after_read = Some(hook);
        self
    }

    /// The report root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Which provider answers, if configfs-tsm is there: makes a report
    /// directory, reads its `provider`, removes it.
    ///
    /// `None` when the root is absent or no provider is registered (the
    /// kernel refuses `mkdir` with `ENXIO`); an error (code 12) when the
    /// root is there but unusable (no permission, not a configfs-tsm
    /// directory), code 13 when reading `provider` fails.
    pub fn probe(&self) -> Result<Option<String>> {
        if !self.root.is_dir() {
            return Ok(None);
        }
        let dir = match ReportDir::create_inner(&self.root) {
            Ok(dir) => dir,
            Err((Some(ENXIO), _)) => return Ok(None),
            Err((_, e)) => return Err(e.into()),
        };
        Ok(Some(read_provider(&self.root, dir.path())?))
    }

    /// A report for `req`.
    ///
    /// Errors: configfs-tsm absent or unusable, or the wrong provider: code
    /// 12 (naming a legacy `/dev/sev-guest` or `/dev/tdx_guest` when only
    /// that exists); a failed kernel read or write: code 13 with the errno;
    /// a blob over its cap ([`OUTBLOB_CAP`], [`AUXBLOB_CAP`]) or a race
    /// through every try: code 13; an empty report: code 21; an invalid
    /// request: code 8.
    ///
    /// `auxblob` is `None` when not requested, when the provider has none
    /// (`tdx_guest`) and when it is empty (the host gave no certificates).
    pub fn report(&self, req: &ReportRequest<'_>) -> Result<TsmReport> {
        if req.provider.is_empty() {
            return Err(TsmError::InvalidInput("no expected provider".into()).into());
        }
        if let Some(level) = req.privlevel {
            if level > PRIVLEVEL_MAX {
                return Err(TsmError::InvalidInput(format!(
                    "privlevel {level} is above the maximum {PRIVLEVEL_MAX}"
                ))
                .into());
            }
        }
        self.check_root()?;
        let mut last = (0, 0);
        for _ in 0..self.max_tries {
            let dir = ReportDir::create(&self.root)?;
            match self.try_once(&dir, req)? {
                Attempt::Done(report) => return Ok(report),
                Attempt::Raced { expected, found } => last = (expected, found),
            }
            // `dir` is removed here, before the next try.
        }
        Err(TsmError::Race {
            tries: self.max_tries,
            expected: last.0,
            found: last.1,
        }
        .into())
    }

    /// Code 12 when the root is not a directory, naming a legacy device
    /// when one exists.
    fn check_root(&self) -> Result<(), TsmError> {
        if self.root.is_dir() {
            return Ok(());
        }
        for dev in LEGACY_DEVICES {
            let device = self.dev_root.join(dev);
            if device.exists() {
                return Err(TsmError::LegacyKernel {
                    root: self.root.clone(),
                    device,
                });
            }
        }
        let reason = if self.root.exists() {
            "not a directory".to_string()
        } else {
            format!(
                "no such directory, and no legacy guest device in {} either: \
                 not a confidential guest, or configfs is not mounted at /sys/kernel/config",
                self.dev_root.display()
            )
        };
        Err(TsmError::Unavailable {
            root: self.root.clone(),
            reason,
        })
    }

    fn try_once(&self, dir: &ReportDir, req: &ReportRequest<'_>) -> Result<Attempt, TsmError> {
        let path = dir.path();
        let provider = read_provider(&self.root, path)?;
        if provider != req.provider {
            return Err(TsmError::WrongProvider {
                expected: req.provider.to_string(),
                found: provider,
            });
        }
        let before = read_generation(path)?;
        let mut writes = 0u64;
        if let Some(level) = req.privlevel {
            let attr = path.join("privlevel");
            if !attr.exists() {
                return Err(TsmError::InvalidInput(format!(
                    "provider {provider} takes no privlevel (no {} attribute)",
                    attr.display()
                )));
            }
            let floor_path = path.join("privlevel_floor");
            if floor_path.exists() {
                let floor = read_number(&floor_path, "privlevel_floor")?;
                if u64::from(level) < floor {
                    return Err(TsmError::InvalidInput(format!(
                        "privlevel {level} is below the provider's floor {floor}"
                    )));
                }
            }
            write_file(&attr, format!("{level}\n").as_bytes())?;
            writes += 1;
        }
        write_file(&path.join("inblob"), &req.inblob)?;
        writes += 1;
        let outblob_path = path.join("outblob");
        let outblob = read_capped(&outblob_path, OUTBLOB_CAP)?;
        let auxblob = if req.want_auxblob {
            let aux = path.join("auxblob");
            match read_capped(&aux, AUXBLOB_CAP) {
                Ok(blob) if blob.is_empty() => None,
                Ok(blob) => Some(blob),
                Err(TsmError::Kernel { source, .. })
                    if source.kind() == io::ErrorKind::NotFound =>
                {
                    None
                }
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        if let Some(hook) = &self.after_read {
            hook(path);
        }
        let after = read_generation(path)?;
        let expected = before.saturating_add(writes);
        if after != expected {
            return Ok(Attempt::Raced {
                expected,
                found: after,
            });
        }
        if outblob.is_empty() {
            return Err(TsmError::EmptyReport { path: outblob_path });
        }
        Ok(Attempt::Done(TsmReport {
            outblob,
            auxblob,
            provider,
            generation: after,
        }))
    }
}

enum Attempt {
    Done(TsmReport),
    Raced { expected: u64, found: u64 },
}

/// `ENXIO` on Linux: configfs-tsm's `mkdir` when no provider is registered.
const ENXIO: i32 = 6;
/// `EEXIST` on Linux.
const EEXIST: i32 = 17;

/// A report directory of this process, removed (best effort) on drop.
struct ReportDir {
    path: PathBuf,
}

impl ReportDir {
    fn create(root: &Path) -> Result<Self, TsmError> {
        Self::create_inner(root).map_err(|(_, e)| e)
    }

    /// Like [`ReportDir::create`], with the errno of a failed `mkdir`.
    fn create_inner(root: &Path) -> Result<Self, (Option<i32>, TsmError)> {
        let mut last = None;
        for _ in 0..MKDIR_TRIES {
            let path = root.join(unique_name());
            match fs::create_dir(&path) {
                Ok(()) => return Ok(Self { path }),
                Err(e) if e.raw_os_error() == Some(EEXIST) => last = Some(e),
                Err(e) => {
                    let reason = match e.raw_os_error() {
                        Some(ENXIO) => format!(
                            "mkdir {}: no TSM provider is registered (errno {ENXIO}): {e}",
                            path.display()
                        ),
                        errno => format!(
                            "mkdir {} failed (errno {}): {e}",
                            path.display(),
                            errno.map_or_else(|| "none".to_string(), |n| n.to_string())
                        ),
                    };
                    return Err((
                        e.raw_os_error(),
                        TsmError::Unavailable {
                            root: root.to_path_buf(),
                            reason,
                        },
                    ));
                }
            }
        }
        Err((
            Some(EEXIST),
            TsmError::Unavailable {
                root: root.to_path_buf(),
                reason: format!(
                    "mkdir found {MKDIR_TRIES} fresh names taken{}",
                    last.map(|e| format!(": {e}")).unwrap_or_default()
                ),
            },
        ))
    }

    fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ReportDir {
    fn drop(&mut self) {
        // configfs removes the attribute files with the directory.
        let _ = fs::remove_dir(&self.path);
    }
}

/// A directory name no other request of this process uses, and that other
/// processes are unlikely to pick (pid, counter, clock).
fn unique_name() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!("tee-attest-{}-{n}-{nanos:08x}", std::process::id())
}

fn read_capped(path: &Path, cap: usize) -> Result<Vec<u8>, TsmError> {
    let file = File::open(path).map_err(|e| TsmError::kernel("open", path, e))?;
    let mut buf = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX).saturating_add(1);
    file.take(limit)
        .read_to_end(&mut buf)
        .map_err(|e| TsmError::kernel("read", path, e))?;
    if buf.len() > cap {
        return Err(TsmError::TooLarge {
            path: path.to_path_buf(),
            cap,
        });
    }
    Ok(buf)
}

fn read_text(path: &Path, what: &'static str) -> Result<String, TsmError> {
    let bytes = read_capped(path, TEXT_ATTR_CAP)?;
    let text = String::from_utf8(bytes).map_err(|_| TsmError::Malformed {
        what,
        path: path.to_path_buf(),
        reason: "not UTF-8".into(),
    })?;
    Ok(text.trim_end_matches(['\n', '\0']).to_string())
}

fn read_number(path: &Path, what: &'static str) -> Result<u64, TsmError> {
    let text = read_text(path, what)?;
    text.trim().parse().map_err(|_| TsmError::Malformed {
        what,
        path: path.to_path_buf(),
        reason: format!("{text:?} is not a decimal number"),
    })
}

fn read_generation(dir: &Path) -> Result<u64, TsmError> {
    read_number(&dir.join("generation"), "generation")
}

/// The provider of a fresh report directory; a directory without a
/// `provider` attribute is no configfs-tsm report (code 12).
fn read_provider(root: &Path, dir: &Path) -> Result<String, TsmError> {
    let path = dir.join("provider");
    match read_text(&path, "provider") {
        Ok(p) if p.is_empty() => Err(TsmError::Malformed {
            what: "provider",
            path,
            reason: "empty".into(),
        }),
        Ok(p) => Ok(p),
        Err(TsmError::Kernel { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            Err(TsmError::Unavailable {
                root: root.to_path_buf(),
                reason: format!(
                    "a new directory there has no provider attribute ({}): not a configfs-tsm \
                     report directory",
                    path.display()
                ),
            })
        }
        Err(e) => Err(e),
    }
}

/// One write of `data`, then close: configfs commits binary attributes on
/// close, text attributes on write.
fn write_file(path: &Path, data: &[u8]) -> Result<(), TsmError> {
    let mut file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|e| TsmError::kernel("open", path, e))?;
    file.write_all(data)
        .map_err(|e| TsmError::kernel("write", path, e))?;
    drop(file);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_choice() {
        assert_eq!(
            choose_root(Some("/a".into()), Some("/b".into())),
            PathBuf::from("/a")
        );
        assert_eq!(choose_root(None, Some("/b".into())), PathBuf::from("/b"));
        assert_eq!(
            choose_root(None, Some(OsString::new())),
            PathBuf::from(DEFAULT_TSM_ROOT)
        );
        assert_eq!(choose_root(None, None), PathBuf::from(DEFAULT_TSM_ROOT));
    }

    #[test]
    fn names_are_unique() {
        let a = unique_name();
        let b = unique_name();
        assert_ne!(a, b);
        assert!(a.starts_with("tee-attest-"));
    }

    #[test]
    fn capped_reads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        fs::write(&p, vec![7u8; 10]).unwrap();
        assert_eq!(read_capped(&p, 10).unwrap().len(), 10);
        let err = read_capped(&p, 9).unwrap_err();
        assert!(matches!(err, TsmError::TooLarge { cap: 9, .. }), "{err}");
        fs::write(&p, "12\n").unwrap();
        assert_eq!(read_number(&p, "generation").unwrap(), 12);
        fs::write(&p, "x\n").unwrap();
        assert!(matches!(
            read_number(&p, "generation"),
            Err(TsmError::Malformed { .. })
        ));
    }
}
