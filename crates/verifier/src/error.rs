//! The verifier's errors, each mapping to one spec code.

use tee_attest_core::{CodedError, ErrorCode};

/// What can go wrong appraising evidence or issuing a token.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifierError {
    /// An appraisal check failed (code 6).
    #[error("attestation check `{check}` failed: {detail}")]
    Check {
        /// The check's name (`hcl.binding`, `quote.nonce`, `policy.authorization`, …).
        check: &'static str,
        /// What was found.
        detail: String,
    },
    /// The evidence is not of a kind this verifier appraises (code 8).
    #[error("unsupported evidence: {0}")]
    Unsupported(String),
    /// The verifier could not be set up: keys, certificates, policy (code 1).
    #[error("verifier set-up: {0}")]
    Setup(String),
}

impl CodedError for VerifierError {
    fn code(&self) -> ErrorCode {
        match self {
            VerifierError::Check { .. } => ErrorCode::AttestationFailed,
            VerifierError::Unsupported(_) => ErrorCode::InvalidInputParameter,
            VerifierError::Setup(_) => ErrorCode::InitializationFailed,
        }
    }
}

impl VerifierError {
    pub(crate) fn check(check: &'static str, detail: impl Into<String>) -> Self {
        VerifierError::Check {
            check,
            detail: detail.into(),
        }
    }
}
