//! The TPM crate's error, mapping to the spec's codes.

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
            TpmError::Unreachable { .. } => ErrorCode::TpmInternalFailure,
            TpmError::Command { .. } => ErrorCode::TpmOperationFailed,
            TpmError::Decrypt { .. } => ErrorCode::DecryptTpmError,
            TpmError::InvalidInput(_) => ErrorCode::InvalidInputParameter,
            TpmError::Malformed { .. } => ErrorCode::ReportParsingFailed,
            TpmError::Check { .. } => ErrorCode::AttestationFailed,
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
