//! The errors of this crate, each mapping to one spec code.

use std::fmt;

use tee_attest_core::{CodedError, ErrorCode};

/// A verification check that can fail. Its [`Display`](fmt::Display) is a
/// stable name that scripts and tests can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// The quote version is not 3, 4 or 5 (or does not fit the TEE type).
    QuoteVersion,
    /// The attestation key type is not ECDSA-256 with P-256.
    AttestationKeyType,
    /// The TEE type is neither SGX (0) nor TDX (0x81), or the body does not fit it.
    TeeType,
    /// The QE vendor id is not Intel's.
    QeVendorId,
    /// The certification data is not of a type this verifier can use.
    CertificationDataType,
    /// The attestation key is not a P-256 point.
    AttestationKey,
    /// The quote's signature does not verify with the attestation key.
    QuoteSignature,
    /// The QE report's signature does not verify with the PCK.
    QeReportSignature,
    /// The QE report data is not SHA-256(attestation key ‖ QE authentication data).
    QeReportData,
    /// The PCK chain is incomplete or its certificates are not Intel's kinds.
    PckChain,
    /// A chain ends in a root that is not the trusted Intel SGX Root CA.
    UntrustedRoot,
    /// A certificate's signature does not verify with its issuer's key, or
    /// its issuer name is not its issuer's subject.
    CertSignature,
    /// A certificate is not valid yet at the verification time.
    CertNotYetValid,
    /// A certificate has expired at the verification time.
    CertExpired,
    /// The PCK certificate's SGX extensions are missing or malformed.
    PckExtensions,
    /// The PCK certificate is listed in the PCK CRL.
    PckRevoked,
    /// An intermediate CA or the TCB signing certificate is listed in the root CA CRL.
    CaRevoked,
    /// A CRL's issuer, signature or extensions do not check.
    Crl,
    /// A CRL is not valid yet at the verification time.
    CrlNotYetValid,
    /// A CRL is past its nextUpdate at the verification time.
    CrlExpired,
    /// Revocation data was required and is missing (or not current).
    CrlMissing,
    /// The TCB info's signing chain does not check.
    TcbInfoChain,
    /// The TCB info's signature does not verify.
    TcbInfoSignature,
    /// The TCB info is not valid yet (before issueDate).
    TcbInfoNotYetValid,
    /// The TCB info is past its nextUpdate.
    TcbInfoExpired,
    /// The TCB info is for another TEE, or its version cannot describe it.
    TcbInfoMismatch,
    /// The TCB info's FMSPC differs from the PCK certificate's.
    Fmspc,
    /// The TCB info's PCEID differs from the PCK certificate's.
    PceId,
    /// The TDX module (MRSIGNERSEAM, SEAMATTRIBUTES, module identity) does not match.
    TdxModule,
    /// No TCB level of the TCB info (or of the module identity) matches.
    TcbNotSupported,
    /// The QE identity's signing chain does not check.
    QeIdentityChain,
    /// The QE identity's signature does not verify.
    QeIdentitySignature,
    /// The QE identity is not valid yet (before issueDate).
    QeIdentityNotYetValid,
    /// The QE identity is past its nextUpdate.
    QeIdentityExpired,
    /// The QE identity is for another QE than the quote's TEE uses.
    QeIdentityMismatch,
    /// The QE report's masked MISCSELECT differs from the QE identity's.
    QeMiscselect,
    /// The QE report's masked ATTRIBUTES differ from the QE identity's.
    QeAttributes,
    /// The QE report's MRSIGNER differs from the QE identity's.
    QeMrsigner,
    /// The QE report's ISVPRODID differs from the QE identity's.
    QeIsvProdId,
    /// The QE's ISVSVN is below every level of the QE identity.
    QeTcbNotSupported,
    /// The policy refuses the TCB status.
    TcbStatusPolicy,
    /// The policy refuses a debug TD or enclave.
    DebugPolicy,
    /// The policy refuses a TD bound to a service TD (MRSERVICETD not zero).
    ServiceTdPolicy,
    /// The report data does not carry the expected value.
    ReportData,
    /// A CCEL event log does not replay to the quote's RTMRs.
    Rtmr,
    /// The evidence is not of the type the appraiser takes (a TDX quote
    /// sent as SgxEnclave, an SGX quote as TdxVm).
    EvidenceType,
    /// report_data does not begin with SHA-256(runtime data).
    RuntimeDataBinding,
    /// Runtime data said to be JSON is not a JSON object.
    RuntimeDataJson,
    /// A nonce to echo is not bound by the evidence (JSON runtime data,
    /// member `nonce`).
    NonceBinding,
    /// The evidence binds another nonce than the one the caller expects.
    Nonce,
}

impl Check {
    /// The stable name of the check.
    pub const fn name(self) -> &'static str {
        match self {
            Check::QuoteVersion => "quote.version",
            Check::AttestationKeyType => "quote.attestation-key-type",
            Check::TeeType => "quote.tee-type",
            Check::QeVendorId => "quote.qe-vendor-id",
            Check::CertificationDataType => "quote.certification-data-type",
            Check::AttestationKey => "quote.attestation-key",
            Check::QuoteSignature => "quote.signature",
            Check::QeReportSignature => "qe-report.signature",
            Check::QeReportData => "qe-report.data",
            Check::PckChain => "pck.chain",
            Check::UntrustedRoot => "untrusted-root",
            Check::CertSignature => "cert.signature",
            Check::CertNotYetValid => "cert.not-yet-valid",
            Check::CertExpired => "cert.expired",
            Check::PckExtensions => "pck.extensions",
            Check::PckRevoked => "pck.revoked",
            Check::CaRevoked => "ca.revoked",
            Check::Crl => "crl",
            Check::CrlNotYetValid => "crl.not-yet-valid",
            Check::CrlExpired => "crl.expired",
            Check::CrlMissing => "crl.missing",
            Check::TcbInfoChain => "tcb-info.chain",
            Check::TcbInfoSignature => "tcb-info.signature",
            Check::TcbInfoNotYetValid => "tcb-info.not-yet-valid",
            Check::TcbInfoExpired => "tcb-info.expired",
            Check::TcbInfoMismatch => "tcb-info.mismatch",
            Check::Fmspc => "tcb-info.fmspc",
            Check::PceId => "tcb-info.pceid",
            Check::TdxModule => "tdx-module",
            Check::TcbNotSupported => "tcb.not-supported",
            Check::QeIdentityChain => "qe-identity.chain",
            Check::QeIdentitySignature => "qe-identity.signature",
            Check::QeIdentityNotYetValid => "qe-identity.not-yet-valid",
            Check::QeIdentityExpired => "qe-identity.expired",
            Check::QeIdentityMismatch => "qe-identity.mismatch",
            Check::QeMiscselect => "qe-identity.miscselect",
            Check::QeAttributes => "qe-identity.attributes",
            Check::QeMrsigner => "qe-identity.mrsigner",
            Check::QeIsvProdId => "qe-identity.isvprodid",
            Check::QeTcbNotSupported => "qe-identity.tcb-not-supported",
            Check::TcbStatusPolicy => "policy.tcb-status",
            Check::DebugPolicy => "policy.debug",
            Check::ServiceTdPolicy => "policy.service-td",
            Check::ReportData => "report-data",
            Check::Rtmr => "rtmr",
            Check::EvidenceType => "evidence.type",
            Check::RuntimeDataBinding => "runtime-data.binding",
            Check::RuntimeDataJson => "runtime-data.json",
            Check::NonceBinding => "nonce.binding",
            Check::Nonce => "nonce",
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An error of the TDX/SGX crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TdxError {
    /// A binary structure could not be parsed.
    #[error("{structure}: field {field} at offset {offset:#x}: {reason}")]
    Parse {
        /// The structure (`quote`, `TDREPORT`, `CCEL event log`, …).
        structure: &'static str,
        /// The field that failed.
        field: &'static str,
        /// Its offset in the structure's bytes.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// The input has no bytes, or only zero bytes.
    #[error("{what} is empty ({len} bytes, all zero)")]
    Empty {
        /// What was empty.
        what: &'static str,
        /// Its length.
        len: usize,
    },
    /// A certificate or CRL could not be parsed.
    #[error("certificate {what}: {reason}")]
    Certificate {
        /// Which certificate or CRL.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// A verification check failed.
    #[error("DCAP verification failed: {check}: {detail}")]
    Verify {
        /// The check that failed.
        check: Check,
        /// Details for humans (never secret).
        detail: String,
    },
    /// Collateral (TCB info, QE identity, collateral JSON) is malformed.
    #[error("collateral {what}: {reason}")]
    Collateral {
        /// Which piece.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// Collateral could not be encoded as JSON (as
    /// [`TdxError::Collateral`]).
    #[error("collateral {what}: {source}")]
    CollateralEncode {
        /// Which piece.
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// No collateral source had collateral for the quote.
    #[error("no collateral: {0}")]
    CollateralMissing(String),
    /// A collateral service could not be reached.
    #[error("sending the request to {url} failed: {reason}")]
    Unreachable {
        /// The URL.
        url: String,
        /// What went wrong.
        reason: String,
    },
    /// A collateral service kept failing through every retry.
    #[error("request to {url} failed after {attempts} attempts (last status {status})")]
    RetriesExceeded {
        /// The URL.
        url: String,
        /// How many attempts were made.
        attempts: u32,
        /// The last HTTP status (0 when the last failure was a transport error).
        status: u16,
    },
    /// A collateral service answered with a non-retryable error status.
    #[error("request to {url} failed with HTTP status {status}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
    },
    /// A collateral response was not what was expected (JSON, header).
    #[error("invalid response from {source_name}: {reason}")]
    InvalidResponse {
        /// Which source answered.
        source_name: String,
        /// What was wrong.
        reason: String,
    },
    /// A local file or directory of collateral could not be read or written.
    #[error("collateral file {path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An argument was invalid (for instance a base URL).
    #[error("invalid input: {0}")]
    InvalidInput(String),
}

impl TdxError {
    /// A parse error.
    pub(crate) fn parse(
        structure: &'static str,
        field: &'static str,
        offset: usize,
        reason: impl Into<String>,
    ) -> Self {
        TdxError::Parse {
            structure,
            field,
            offset,
            reason: reason.into(),
        }
    }

    /// A failed check.
    pub(crate) fn verify(check: Check, detail: impl Into<String>) -> Self {
        TdxError::Verify {
            check,
            detail: detail.into(),
        }
    }

    /// A certificate error.
    pub(crate) fn cert(what: impl Into<String>, reason: impl Into<String>) -> Self {
        TdxError::Certificate {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// A malformed piece of collateral.
    pub(crate) fn collateral(what: impl Into<String>, reason: impl Into<String>) -> Self {
        TdxError::Collateral {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// The failed check, when this is a verification failure.
    pub fn check(&self) -> Option<Check> {
        match self {
            TdxError::Verify { check, .. } => Some(*check),
            _ => None,
        }
    }
}

/// The shared HTTP client's failures, mapped (`tee_attest_http::FetchFailure`) as the SEV-SNP collateral
/// sources map them: transport failures 7, retries exhausted on a status 4,
/// a client that cannot be built 8.
impl From<tee_attest_http::HttpError> for TdxError {
    fn from(e: tee_attest_http::HttpError) -> Self {
        use tee_attest_http::FetchFailure;
        match FetchFailure::from(e) {
            FetchFailure::Init(reason) => TdxError::InvalidInput(reason),
            FetchFailure::Unreachable { url, reason } => TdxError::Unreachable { url, reason },
            FetchFailure::RetriesExceeded {
                url,
                attempts,
                status,
            } => TdxError::RetriesExceeded {
                url,
                attempts,
                status,
            },
            other => TdxError::Unreachable {
                url: String::new(),
                reason: format!("{other:?}"),
            },
        }
    }
}

impl CodedError for TdxError {
    fn code(&self) -> ErrorCode {
        match self {
            TdxError::Parse { .. } => ErrorCode::ReportParsingFailed,
            TdxError::Empty { .. } => ErrorCode::EmptyReport,
            TdxError::Certificate { .. } | TdxError::Verify { .. } => ErrorCode::AttestationFailed,
            TdxError::Collateral { .. }
            | TdxError::CollateralEncode { .. }
            | TdxError::InvalidResponse { .. } => ErrorCode::InvalidJsonResponse,
            TdxError::CollateralMissing(_) => ErrorCode::EmptyVcekCert,
            TdxError::Unreachable { .. } => ErrorCode::SendRequestFailed,
            TdxError::RetriesExceeded { .. } => ErrorCode::RequestExceededRetries,
            TdxError::HttpStatus { .. } => ErrorCode::RequestFailed,
            TdxError::Io { .. } => ErrorCode::InitializationFailed,
            TdxError::InvalidInput(_) => ErrorCode::InvalidInputParameter,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_names() {
        assert_eq!(
            TdxError::parse("quote", "version", 0, "x").code(),
            ErrorCode::ReportParsingFailed
        );
        assert_eq!(
            TdxError::Empty {
                what: "quote",
                len: 0
            }
            .code(),
            ErrorCode::EmptyReport
        );
        let e = TdxError::verify(Check::TcbInfoExpired, "past nextUpdate");
        assert_eq!(e.code(), ErrorCode::AttestationFailed);
        assert_eq!(e.check(), Some(Check::TcbInfoExpired));
        assert!(e.to_string().contains("tcb-info.expired"));
        assert_eq!(
            TdxError::CollateralMissing("x".into()).code(),
            ErrorCode::EmptyVcekCert
        );
        assert_eq!(
            TdxError::collateral("tcb info", "x").code(),
            ErrorCode::InvalidJsonResponse
        );
        let p = TdxError::parse("quote", "header.version", 0, "unsupported");
        assert!(p.to_string().contains("header.version") && p.to_string().contains("0x0"));
    }
}
