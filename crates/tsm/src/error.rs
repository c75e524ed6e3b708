//! The errors of this crate, each mapping to one spec code.

use std::io;
use std::path::PathBuf;

use tee_attest_core::{CodedError, ErrorCode};

/// An error of the configfs-tsm client, the certificate-table parser or the
/// emulator.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TsmError {
    /// configfs-tsm cannot be used at the root: absent, not a report
    /// directory, no provider registered, or no permission to create a
    /// report.
    #[error("configfs-tsm is not available at {}: {reason}", root.display())]
    Unavailable {
        /// The report root that was tried.
        root: PathBuf,
        /// Why it cannot be used.
        reason: String,
    },
    /// configfs-tsm is absent but a legacy guest device is present: the
    /// kernel predates configfs-tsm (Linux 6.7) or was built without it.
    #[error(
        "configfs-tsm is not available at {}, but {} exists: this kernel offers only the legacy \
         guest device; configfs-tsm needs Linux 6.7 or later built with CONFIG_TSM_REPORTS, \
         and configfs mounted at /sys/kernel/config",
        root.display(),
        device.display()
    )]
    LegacyKernel {
        /// The report root that was tried.
        root: PathBuf,
        /// The legacy device that exists (`/dev/sev-guest` or `/dev/tdx_guest`).
        device: PathBuf,
    },
    /// The kernel's provider is not the one the request expects.
    #[error("configfs-tsm provider is {found:?}, expected {expected:?}")]
    WrongProvider {
        /// The provider the request expects.
        expected: String,
        /// The provider the kernel reports.
        found: String,
    },
    /// A file operation on a report directory failed in the kernel.
    #[error("configfs-tsm: {op} {} failed ({}): {source}", path.display(), errno_text(*.errno))]
    Kernel {
        /// The operation (`mkdir`, `open`, `read`, `write`).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The errno, when the error came from the kernel.
        errno: Option<i32>,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// An attribute did not hold what the kernel ABI says it holds.
    #[error("configfs-tsm: {what} in {}: {reason}", path.display())]
    Malformed {
        /// Which attribute (`generation`, `provider`, `privlevel_floor`).
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A blob was larger than this client reads.
    #[error("configfs-tsm: {} holds more than the {cap}-byte cap", path.display())]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The cap in bytes.
        cap: usize,
    },
    /// Another writer changed the report directory's inputs during every try.
    #[error(
        "configfs-tsm: generation race: another writer changed the report inputs during each of \
         {tries} tries (last try: expected generation {expected}, read {found})"
    )]
    Race {
        /// How many times the whole sequence was tried.
        tries: u32,
        /// The generation expected after this client's own writes (last try).
        expected: u64,
        /// The generation read (last try).
        found: u64,
    },
    /// The kernel returned an empty report.
    #[error("configfs-tsm returned an empty report ({})", path.display())]
    EmptyReport {
        /// The outblob file.
        path: PathBuf,
    },
    /// An SEV-SNP certificate table is malformed.
    #[error("SEV-SNP certificate table: entry {entry} at offset {offset:#x}: {reason}")]
    CertTable {
        /// The entry's index.
        entry: usize,
        /// The entry's offset in the table.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// The request is invalid (a privilege level above 3 or below the
    /// floor, a privilege level the provider has no attribute for, no
    /// expected provider).
    #[error("invalid configfs-tsm request: {0}")]
    InvalidInput(String),
    /// The emulator could not be mounted or unmounted.
    #[cfg(feature = "emulator")]
    #[error("configfs-tsm emulator at {}: {reason}", dir.display())]
    Emulator {
        /// The mount point.
        dir: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

fn errno_text(errno: Option<i32>) -> String {
    match errno {
        Some(n) => format!("errno {n}"),
        None => "no errno".to_string(),
    }
}

impl TsmError {
    /// A [`TsmError::Kernel`] for an I/O error of `op` on `path`.
    pub(crate) fn kernel(op: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        TsmError::Kernel {
            op,
            path: path.into(),
            errno: source.raw_os_error(),
            source,
        }
    }
}

impl CodedError for TsmError {
    fn code(&self) -> ErrorCode {
        match self {
            TsmError::Unavailable { .. }
            | TsmError::LegacyKernel { .. }
            | TsmError::WrongProvider { .. } => ErrorCode::TpmInternalFailure,
            TsmError::Kernel { .. }
            | TsmError::Malformed { .. }
            | TsmError::TooLarge { .. }
            | TsmError::Race { .. } => ErrorCode::TpmOperationFailed,
            TsmError::EmptyReport { .. } => ErrorCode::EmptyReport,
            TsmError::CertTable { .. } => ErrorCode::ReportParsingFailed,
            TsmError::InvalidInput(_) => ErrorCode::InvalidInputParameter,
            #[cfg(feature = "emulator")]
            TsmError::Emulator { .. } => ErrorCode::InitializationFailed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_messages() {
        let e = TsmError::kernel("write", "/x/inblob", io::Error::from_raw_os_error(22));
        assert_eq!(e.code(), ErrorCode::TpmOperationFailed);
        assert!(e.to_string().contains("errno 22"), "{e}");
        let e = TsmError::Race {
            tries: 3,
            expected: 1,
            found: 2,
        };
        assert_eq!(e.code(), ErrorCode::TpmOperationFailed);
        let e: tee_attest_core::Error = TsmError::WrongProvider {
            expected: "sev_guest".into(),
            found: "tdx_guest".into(),
        }
        .into();
        assert_eq!(e.code(), ErrorCode::TpmInternalFailure);
        assert!(e.message().contains("sev_guest") && e.message().contains("tdx_guest"));
        let e: tee_attest_core::Error = TsmError::EmptyReport {
            path: "/x/outblob".into(),
        }
        .into();
        assert_eq!(e.code().number(), 21);
    }
}
