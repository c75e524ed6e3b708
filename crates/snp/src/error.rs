//! The errors of this crate, each mapping to one spec code.

use std::fmt;

use tee_attest_core::{CodedError, ErrorCode};

/// A verification check that can fail. Its [`Display`](fmt::Display) is a
/// stable kebab-case name that scripts and tests can match.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Check {
    /// The report's signature algorithm is not ECDSA P-384 with SHA-384.
    SignatureAlgorithm,
    /// The report's signature does not verify with the VCEK/VLEK.
    ReportSignature,
    /// The report names a signing key this verifier cannot use (none, or reserved).
    SigningKey,
    /// The certificate kind does not match the report's signer (VCEK vs VLEK).
    SignerKind,
    /// The chain ends in an ARK that is not a trust anchor.
    UntrustedRoot,
    /// The ARK's self-signature does not verify.
    ArkSignature,
    /// The ASK/ASVK is not signed by the ARK.
    AskSignature,
    /// The VCEK/VLEK is not signed by the ASK/ASVK.
    LeafSignature,
    /// An issuer name does not match the subject name of the certificate above it.
    IssuerName,
    /// A certificate is not valid yet at the verification time.
    NotYetValid,
    /// A certificate has expired at the verification time.
    Expired,
    /// The chip product of the report and of the certificates disagree.
    Product,
    /// A TCB component of the certificate differs from the reported TCB.
    Tcb,
    /// A committed TCB component is above the current one.
    CommittedTcb,
    /// The certificate's hwID differs from the report's chip id.
    HwId,
    /// A VLEK carries an hwID extension.
    VlekHwId,
    /// A certificate is listed in the AMD CRL.
    Revoked,
    /// The CRL's signature, issuer or validity does not check.
    Crl,
    /// A CRL was required and none was available.
    CrlMissing,
    /// The report's VMPL is not the expected one.
    Vmpl,
    /// The guest policy allows debugging and that was not allowed.
    Debug,
    /// The guest policy allows migration and that was not allowed.
    Migration,
    /// The report data does not carry the expected binding.
    ReportData,
    /// The certificate chain is incomplete (no ASK, or no VCEK).
    ChainIncomplete,
    /// report_data does not begin with the SHA-256 of the runtime data.
    RuntimeDataBinding,
    /// Runtime data said to be JSON is not a JSON object.
    RuntimeDataJson,
    /// The request's nonce is not bound by the evidence.
    NonceBinding,
    /// The evidence binds another nonce than the one expected.
    Nonce,
}

impl Check {
    /// The stable name of the check.
    pub const fn name(self) -> &'static str {
        match self {
            Check::SignatureAlgorithm => "signature-algorithm",
            Check::ReportSignature => "report-signature",
            Check::SigningKey => "signing-key",
            Check::SignerKind => "signer-kind",
            Check::UntrustedRoot => "untrusted-root",
            Check::ArkSignature => "ark-signature",
            Check::AskSignature => "ask-signature",
            Check::LeafSignature => "leaf-signature",
            Check::IssuerName => "issuer-name",
            Check::NotYetValid => "not-yet-valid",
            Check::Expired => "expired",
            Check::Product => "product",
            Check::Tcb => "tcb",
            Check::CommittedTcb => "committed-tcb",
            Check::HwId => "hwid",
            Check::VlekHwId => "vlek-hwid",
            Check::Revoked => "revoked",
            Check::Crl => "crl",
            Check::CrlMissing => "crl-missing",
            Check::Vmpl => "vmpl",
            Check::Debug => "debug",
            Check::Migration => "migration",
            Check::ReportData => "report-data",
            Check::ChainIncomplete => "chain-incomplete",
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

/// An error of the SEV-SNP crate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnpError {
    /// A report (or a structure inside it) could not be parsed.
    #[error("SEV-SNP report: field {field} at offset {offset:#x}: {reason}")]
    Parse {
        /// The field that failed.
        field: &'static str,
        /// Its offset in the report.
        offset: usize,
        /// What was wrong.
        reason: String,
    },
    /// The report has no bytes, or only zero bytes.
    #[error("SEV-SNP report is empty ({len} bytes, all zero)")]
    EmptyReport {
        /// The report's length.
        len: usize,
    },
    /// A certificate or CRL could not be parsed or is not one of AMD's.
    #[error("certificate {what}: {reason}")]
    Certificate {
        /// Which certificate (VCEK, ASK, ARK, CRL, or where it came from).
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// A verification check failed.
    #[error("SEV-SNP verification failed: {check}: {detail}")]
    Verify {
        /// The check that failed.
        check: Check,
        /// Details for humans (never secret).
        detail: String,
    },
    /// No VCEK/VLEK certificate was found, or the one found was empty.
    #[error("no VCEK/VLEK certificate: {0}")]
    EmptyVcek(String),
    /// A collateral service could not be reached.
    #[error("sending the request to {url} failed: {reason}")]
    Unreachable {
        /// The URL (without query secrets; VCEK URLs carry none).
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
    /// A collateral response was not the JSON expected.
    #[error("invalid JSON from {source_name}: {reason}")]
    InvalidJson {
        /// Which source answered.
        source_name: String,
        /// What was wrong.
        reason: String,
    },
    /// A collateral response or document did not decode as JSON (as
    /// [`SnpError::InvalidJson`], with the decoder's error kept).
    #[error("invalid JSON from {source_name}: {source}")]
    Json {
        /// Which source answered.
        source_name: String,
        /// The decoder's error.
        #[source]
        source: serde_json::Error,
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

impl SnpError {
    /// A parse error.
    pub(crate) fn parse(field: &'static str, offset: usize, reason: impl Into<String>) -> Self {
        SnpError::Parse {
            field,
            offset,
            reason: reason.into(),
        }
    }

    /// A failed check.
    pub(crate) fn verify(check: Check, detail: impl Into<String>) -> Self {
        SnpError::Verify {
            check,
            detail: detail.into(),
        }
    }

    /// A certificate error.
    pub(crate) fn cert(what: impl Into<String>, reason: impl Into<String>) -> Self {
        SnpError::Certificate {
            what: what.into(),
            reason: reason.into(),
        }
    }

    /// The failed check, when this is a verification failure.
    pub fn check(&self) -> Option<Check> {
        match self {
            SnpError::Verify { check, .. } => Some(*check),
            _ => None,
        }
    }
}

/// The shared HTTP client's failures, as the collateral sources report them
/// (codes as before the client was shared): a transport failure or
/// time-out on every attempt, or a response that could not be read, is
/// [`SnpError::Unreachable`] (code 7); retryable statuses on every attempt
/// [`SnpError::RetriesExceeded`] (code 4); a client that cannot be built
/// [`SnpError::InvalidInput`].
impl From<tee_attest_http::HttpError> for SnpError {
    fn from(e: tee_attest_http::HttpError) -> Self {
        use tee_attest_http::FetchFailure;
        match FetchFailure::from(e) {
            FetchFailure::Init(reason) => SnpError::InvalidInput(reason),
            FetchFailure::Unreachable { url, reason } => SnpError::Unreachable { url, reason },
            FetchFailure::RetriesExceeded {
                url,
                attempts,
                status,
            } => SnpError::RetriesExceeded {
                url,
                attempts,
                status,
            },
            other => SnpError::Unreachable {
                url: String::new(),
                reason: format!("{other:?}"),
            },
        }
    }
}

impl CodedError for SnpError {
    fn code(&self) -> ErrorCode {
        match self {
            SnpError::Parse { .. } => ErrorCode::ReportParsingFailed,
            SnpError::EmptyReport { .. } => ErrorCode::EmptyReport,
            SnpError::Certificate { .. } | SnpError::Verify { .. } => ErrorCode::AttestationFailed,
            SnpError::EmptyVcek(_) => ErrorCode::EmptyVcekCert,
            SnpError::Unreachable { .. } => ErrorCode::SendRequestFailed,
            SnpError::RetriesExceeded { .. } => ErrorCode::RequestExceededRetries,
            SnpError::HttpStatus { .. } => ErrorCode::RequestFailed,
            SnpError::InvalidJson { .. } | SnpError::Json { .. } => ErrorCode::InvalidJsonResponse,
            SnpError::Io { .. } => ErrorCode::InitializationFailed,
            SnpError::InvalidInput(_) => ErrorCode::InvalidInputParameter,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(
            SnpError::parse("version", 0, "x").code(),
            ErrorCode::ReportParsingFailed
        );
        assert_eq!(
            SnpError::EmptyReport { len: 0 }.code(),
            ErrorCode::EmptyReport
        );
        assert_eq!(
            SnpError::verify(Check::Tcb, "x").code(),
            ErrorCode::AttestationFailed
        );
        assert_eq!(
            SnpError::EmptyVcek("x".into()).code(),
            ErrorCode::EmptyVcekCert
        );
        let e = SnpError::verify(Check::HwId, "differs");
        assert!(e.to_string().contains("hwid"));
        assert_eq!(e.check(), Some(Check::HwId));
    }
}
