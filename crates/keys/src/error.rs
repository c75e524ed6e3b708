//! The keys crate's error, mapping to the spec's codes.

use tee_attest_core::{CodedError, ErrorCode};

type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A public key that does not parse or encode: which form, which field, and
/// the parser's own error as the source. Every variant is code 20 (a
/// malformed structure); callers that need another code map it to theirs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    /// A JWK member is missing or not a string, or its `kty` is not `RSA`.
    #[error("malformed JWK: field `{field}`: {reason}")]
    JwkField {
        /// The member, e.g. `n`.
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// A JWK member is not base64url.
    #[error("malformed JWK: field `{field}` is not base64url: {source}")]
    JwkBase64 {
        /// The member, e.g. `n`.
        field: &'static str,
        /// The decoder's error.
        #[source]
        source: Cause,
    },
    /// A PEM text is neither a `PUBLIC KEY` (SubjectPublicKeyInfo) nor an
    /// `RSA PUBLIC KEY` (PKCS#1) holding an RSA key.
    #[error("malformed PEM public key: {source}")]
    Pem {
        /// The error of the parser its label calls for.
        #[source]
        source: Cause,
    },
    /// A DER SubjectPublicKeyInfo does not parse, or holds no RSA key.
    #[error("malformed SubjectPublicKeyInfo: field `subjectPublicKey`: {source}")]
    Spki {
        /// The parser's error.
        #[source]
        source: Cause,
    },
    /// The key cannot be written as a DER PKCS#1 `RSAPublicKey` (the DER
    /// encoder failed).
    #[error("malformed RSA public key: field `n/e`: {source}")]
    Pkcs1 {
        /// The encoder's error.
        #[source]
        source: Cause,
    },
}

impl CodedError for KeyError {
    fn code(&self) -> ErrorCode {
        match self {
            KeyError::JwkField { .. }
            | KeyError::JwkBase64 { .. }
            | KeyError::Pem { .. }
            | KeyError::Spki { .. }
            | KeyError::Pkcs1 { .. } => ErrorCode::ReportParsingFailed,
        }
    }
}
