//! The errors of the Azure crate, each mapping to one spec code.

use tee_attest_core::{CodedError, ErrorCode};
use tee_attest_snp::SnpError;
use tee_attest_tdx::TdxError;

/// An error of the Azure crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AzureError {
    /// The HCL report could not be parsed.
    #[error("HCL report: field {field} at offset {offset}: {reason}")]
    Parse {
        /// The field.
        field: &'static str,
        /// Its offset in the HCL report.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// The HCL report has no bytes, or only zeros.
    #[error("HCL report is empty ({len} bytes, all zero)")]
    EmptyReport {
        /// Its length.
        len: usize,
    },
    /// The hardware report does not bind the variable data.
    #[error("HCL report binding failed: {0}")]
    Binding(String),
    /// The report is of a type this operation does not handle.
    #[error("HCL report type {found} where {expected} was expected")]
    ReportType {
        /// The type found.
        found: String,
        /// The type expected.
        expected: &'static str,
    },
    /// An appraisal check failed (code 6): `hcl.binding`, `quote.nonce`, …
    #[error("attestation check `{check}` failed: {detail}")]
    Check {
        /// The check's name.
        check: &'static str,
        /// What was found.
        detail: String,
    },
    /// The SEV-SNP report inside failed to parse or verify.
    #[error(transparent)]
    Snp(#[from] SnpError),
    /// The TDREPORT inside, or a TD quote for it, failed to parse (code 20;
    /// 21 when empty).
    #[error(transparent)]
    Tdx(#[from] TdxError),
}

impl AzureError {
    pub(crate) fn check(check: &'static str, detail: impl Into<String>) -> Self {
        AzureError::Check {
            check,
            detail: detail.into(),
        }
    }

    pub(crate) fn parse(field: &'static str, offset: usize, reason: impl Into<String>) -> Self {
        AzureError::Parse {
            field,
            offset,
            reason: reason.into(),
        }
    }
}

impl CodedError for AzureError {
    fn code(&self) -> ErrorCode {
        match self {
            AzureError::Parse { .. } => ErrorCode::ReportParsingFailed,
            AzureError::EmptyReport { .. } => ErrorCode::EmptyReport,
            AzureError::Binding(_) | AzureError::Check { .. } => ErrorCode::AttestationFailed,
            AzureError::ReportType { .. } => ErrorCode::InvalidInputParameter,
            AzureError::Snp(e) => e.code(),
            AzureError::Tdx(e) => e.code(),
        }
    }
}
