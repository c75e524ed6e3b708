//! The TPM crate's error, mapping to the spec's codes.

use std::path::PathBuf;
use std::time::Duration;

use tee_attest_core::{CodedError, ErrorCode};

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What can go wrong with a TPM or TPM evidence.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TpmError {
    /// The TPM could not be opened (code 12).
    #[error("TPM unreachable through TCTI {tcti:?}")]
    Unreachable {
        /// The TCTI configuration tried.
        tcti: String,
        /// Why.
        #[source]
        source: Cause,
    },
    /// A TPM command failed (code 13).
    #[error("TPM command {command} failed: {source}")]
    Command {
        /// The command, e.g. `TPM2_Quote`.
        command: &'static str,
        /// The TSS error, with the TPM return code.
        #[source]
        source: Cause,
    },
    /// A TPM command did not answer within the time-out (code 13): the TPM
    /// is stopped or hung. The context it ran on is abandoned, never
    /// reused (docs/RELIABILITY.md).
    #[error(
        "TPM command {command} did not answer within {} (the TPM is stopped or hung); \
         its context was abandoned",
        secs(*after)
    )]
    Timeout {
        /// The command that did not answer, e.g. `TPM2_NV_Write`.
        command: &'static str,
        /// The time-out.
        after: Duration,
    },
    /// The TPM stayed out of resources (object or session slots, memory)
    /// or kept asking to retry, through every retry (code 13).
    #[error(
        "TPM command {command} failed after {tries} tries over {}: {what} ({name}, {rc:#x}); \
         other TPM users hold its slots, or transient objects leaked on a TPM without a \
         resource manager",
        secs(*waited)
    )]
    Busy {
        /// The command, e.g. `TPM2_CreatePrimary`.
        command: &'static str,
        /// The TPM return code of the last try, e.g. `0x902`.
        rc: u32,
        /// Its name, e.g. `TPM_RC_OBJECT_MEMORY`.
        name: &'static str,
        /// What it means.
        what: &'static str,
        /// How many times the command was sent.
        tries: u32,
        /// How long the tries took.
        waited: Duration,
    },
    /// Another process held the vTPM lock for longer than the time-out
    /// (code 13).
    #[error(
        "the vTPM lock {} was still held by another process after {}",
        path.display(),
        secs(*after)
    )]
    LockTimeout {
        /// The lock file.
        path: PathBuf,
        /// How long this process waited.
        after: Duration,
    },
    /// The vTPM lock file could not be opened or locked (code 12).
    #[error("cannot use the vTPM lock {}: {source}", path.display())]
    Lock {
        /// The lock file (or the last one tried).
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Decryption inside the TPM failed (code 26).
    #[error("TPM decryption failed: {source}")]
    Decrypt {
        /// The TSS error, with the TPM return code.
        #[source]
        source: Cause,
    },
    /// A caller's argument is out of bounds (code 8).
    #[error("invalid argument: {0}")]
    InvalidInput(String),
    /// A TPM structure does not parse (code 20).
    #[error("malformed {structure}: field `{field}` at offset {offset}: {reason}")]
    Malformed {
        /// The structure, e.g. `TPMS_ATTEST`.
        structure: &'static str,
        /// The field that failed.
        field: &'static str,
        /// Its byte offset.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// An RSA public key's JWK, PEM or DER form does not parse (code 20,
    /// the key error's own).
    #[error(transparent)]
    Key(#[from] tee_attest_keys::KeyError),
    /// A verification check failed (code 6).
    #[error("TPM evidence check `{check}` failed: {detail}")]
    Check {
        /// The check's name, e.g. `quote.signature`.
        check: &'static str,
        /// What was found.
        detail: String,
    },
}

impl CodedError for TpmError {
    fn code(&self) -> ErrorCode {
        match self {
            TpmError::Unreachable { .. } | TpmError::Lock { .. } => ErrorCode::TpmInternalFailure,
            TpmError::Command { .. }
            | TpmError::Timeout { .. }
            | TpmError::Busy { .. }
            | TpmError::LockTimeout { .. } => ErrorCode::TpmOperationFailed,
            TpmError::Decrypt { .. } => ErrorCode::DecryptTpmError,
            TpmError::InvalidInput(_) => ErrorCode::InvalidInputParameter,
            TpmError::Malformed { .. } => ErrorCode::ReportParsingFailed,
            TpmError::Check { .. } => ErrorCode::AttestationFailed,
            TpmError::Key(e) => e.code(),
        }
    }
}

impl TpmError {
    pub(crate) fn check(check: &'static str, detail: impl Into<String>) -> Self {
        TpmError::Check {
            check,
            detail: detail.into(),
        }
    }
}

/// A duration for messages: `2 s`, `0.25 s`.
fn secs(d: Duration) -> String {
    let s = d.as_secs_f64();
    if (s - s.round()).abs() < 1e-9 {
        format!("{s:.0} s")
    } else {
        format!("{s:.2} s")
    }
}
