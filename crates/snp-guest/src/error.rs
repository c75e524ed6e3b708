//! The errors of this crate, each mapping to one spec code.
//!
//! Errors of configfs-tsm itself (absent, wrong provider, kernel errors with
//! their errno, generation races, an empty report, a malformed certificate
//! table) keep the codes of `tee-attest-tsm`; collateral errors keep those
//! of `tee-attest-snp`.

use tee_attest_core::{CodedError, ErrorCode};
use tee_attest_snp::SnpError;

/// An error of the bare-metal SEV-SNP guest provider.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnpGuestError {
    /// The kernel's `outblob` is not an SEV-SNP attestation report (code
    /// 20; code 21 when it is all zero).
    #[error("the kernel's SEV-SNP report (outblob) does not parse: {0}")]
    Report(#[source] SnpError),
    /// The kernel returned a report whose report data is not the `inblob`
    /// just written (code 13).
    #[error(
        "the kernel returned a report for other report data: report_data {found} differs from \
         the inblob written, {expected}"
    )]
    ReportDataMismatch {
        /// The inblob written (hex).
        expected: String,
        /// The report's report data (hex).
        found: String,
    },
    /// The kernel returned a report for another VMPL than the one requested
    /// through `privlevel` (code 13).
    #[error("the kernel returned a report for VMPL {found}, not the VMPL {expected} requested")]
    VmplMismatch {
        /// The VMPL requested.
        expected: u32,
        /// The report's VMPL.
        found: u32,
    },
    /// No certificate for the report: the auxblob held none for its signer
    /// and the collateral chain has no source (code 17).
    #[error(
        "no {signer} certificate for the report: the host put none in the auxblob certificate \
         table and no collateral source is configured (AMD KDS is used only when configured: \
         SnpGuestConfig::with_kds)"
    )]
    NoCertificate {
        /// The report's signing key (`vcek`, `vlek`).
        signer: &'static str,
    },
    /// The blocking task that talks to configfs-tsm failed (code 13).
    #[error("the configfs-tsm task failed: {0}")]
    Task(String),
}

impl CodedError for SnpGuestError {
    fn code(&self) -> ErrorCode {
        match self {
            SnpGuestError::Report(SnpError::EmptyReport { .. }) => ErrorCode::EmptyReport,
            SnpGuestError::Report(_) => ErrorCode::ReportParsingFailed,
            SnpGuestError::ReportDataMismatch { .. }
            | SnpGuestError::VmplMismatch { .. }
            | SnpGuestError::Task(_) => ErrorCode::TpmOperationFailed,
            SnpGuestError::NoCertificate { .. } => ErrorCode::EmptyVcekCert,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let parse = tee_attest_snp::AttestationReport::from_bytes(&[1u8; 10]).unwrap_err();
        assert_eq!(SnpGuestError::Report(parse).code().number(), 20);
        let empty = tee_attest_snp::AttestationReport::from_bytes(&[0u8; 10]).unwrap_err();
        assert_eq!(SnpGuestError::Report(empty).code().number(), 21);
        let e = SnpGuestError::ReportDataMismatch {
            expected: "00".into(),
            found: "01".into(),
        };
        assert_eq!(e.code().number(), 13);
        assert!(e.to_string().contains("other report data"));
        assert_eq!(
            SnpGuestError::VmplMismatch {
                expected: 1,
                found: 0
            }
            .code()
            .number(),
            13
        );
        assert_eq!(
            SnpGuestError::NoCertificate { signer: "vcek" }
                .code()
                .number(),
            17
        );
    }
}
