//! The errors of this crate, each mapping to one spec code.
//!
//! Errors of configfs-tsm itself (absent, wrong provider, kernel errors with
//! their errno, generation races, an empty report) keep the codes of
//! `tee-attest-tsm`.

use std::io;
use std::path::PathBuf;

use tee_attest_core::{CodedError, ErrorCode};
use tee_attest_tdx::TdxError;

/// An error of the bare-metal TDX guest provider.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TdxGuestError {
    /// The kernel's `outblob` is not a quote (code 20; code 21 when it is
    /// all zero).
    #[error("the kernel's TD quote (outblob) does not parse: {0}")]
    Quote(#[source] TdxError),
    /// The kernel's `outblob` is a quote, but not of a TD (code 20).
    #[error("the kernel's outblob is a quote of TEE type {tee_type:#x}, not a TD quote (0x81)")]
    NotTdx {
        /// The quote header's TEE type.
        tee_type: u32,
    },
    /// The kernel returned a quote whose report data is not the `inblob`
    /// just written (code 13).
    #[error(
        "the kernel returned a quote for other report data: report_data {found} differs from \
         the inblob written, {expected}"
    )]
    ReportDataMismatch {
        /// The inblob written (hex).
        expected: String,
        /// The quote's report data (hex).
        found: String,
    },
    /// A CCEL file is there but cannot be read (code 13).
    #[error("the CC event log: reading {} failed: {source}", path.display())]
    CcelRead {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The CCEL ACPI table is not a TD's CC event log table, or the log is
    /// larger than it says or than this crate reads (code 20).
    #[error("the CC event log: {} {reason}", path.display())]
    CcelMalformed {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The blocking task that talks to configfs-tsm failed (code 13).
    #[error("the configfs-tsm task failed: {0}")]
    Task(String),
}

impl CodedError for TdxGuestError {
    fn code(&self) -> ErrorCode {
        match self {
            TdxGuestError::Quote(e) => match e.code() {
                ErrorCode::EmptyReport => ErrorCode::EmptyReport,
                _ => ErrorCode::ReportParsingFailed,
            },
            TdxGuestError::NotTdx { .. } | TdxGuestError::CcelMalformed { .. } => {
                ErrorCode::ReportParsingFailed
            }
            TdxGuestError::ReportDataMismatch { .. }
            | TdxGuestError::CcelRead { .. }
            | TdxGuestError::Task(_) => ErrorCode::TpmOperationFailed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let parse = tee_attest_tdx::Quote::parse(&[1u8; 10]).unwrap_err();
        assert_eq!(TdxGuestError::Quote(parse).code().number(), 20);
        let empty = tee_attest_tdx::Quote::parse(&[0u8; 10]).unwrap_err();
        assert_eq!(TdxGuestError::Quote(empty).code().number(), 21);
        assert_eq!(TdxGuestError::NotTdx { tee_type: 0 }.code().number(), 20);
        let e = TdxGuestError::ReportDataMismatch {
            expected: "00".into(),
            found: "01".into(),
        };
        assert_eq!(e.code().number(), 13);
        assert!(e.to_string().contains("other report data"));
        let e = TdxGuestError::CcelRead {
            path: "/x/CCEL".into(),
            source: io::Error::from_raw_os_error(13),
        };
        assert_eq!(e.code().number(), 13);
        let e = TdxGuestError::CcelMalformed {
            path: "/x/CCEL".into(),
            reason: "is not a CCEL table".into(),
        };
        assert_eq!(e.code().number(), 20);
        assert_eq!(TdxGuestError::Task("x".into()).code().number(), 13);
    }
}
