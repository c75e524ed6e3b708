//! The crate's error type: one variant per failure, each mapping to exactly
//! one spec code (1–27).

use std::fmt;

use tee_attest_core::{CodedError, ErrorCode};

/// Which check of relying-party token validation refused a token.
///
/// **Authentication or authorization.** Every check but one says that the
/// token does not authenticate its bearer for this service — malformed,
/// forged, expired, from another issuer, for another audience, or signed
/// with a key or algorithm the profile does not accept: an HTTP service
/// answers **401 Unauthorized**. [`TokenCheck::Role`] alone says that the
/// token is authentic and valid here but its identity lacks the role the
/// profile requires: **403 Forbidden**. The role check runs last, so a
/// refusal by it implies that every other check passed.
/// [`TokenCheck::http_status`] and [`TokenCheck::is_authorization`] tell
/// the two apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenCheck {
    /// The token is larger than the configured maximum.
    Size,
    /// The token is not three non-empty base64url segments.
    Format,
    /// The JOSE header is not a UTF-8 JSON object with unique member names.
    Header,
    /// The payload is not a UTF-8 JSON object with unique member names.
    Claims,
    /// `alg` is not one of the profile's algorithms (RS256 for MAA tokens;
    /// never `none` nor an HMAC algorithm).
    Algorithm,
    /// `typ` is present and not `JWT`.
    Type,
    /// The header carries `crit` extensions we do not understand.
    Critical,
    /// No key with the token's `kid` in the trusted JWKS (even after refresh).
    KeyId,
    /// The JWKS key for the `kid` is unusable (bad `x5c`, `use` other than
    /// `sig`), or cannot serve the token's `alg` (its `kty`, or the JWK's
    /// own `alg`, is for another algorithm).
    Key,
    /// The signature does not verify with the trusted key.
    Signature,
    /// `iss` is not the configured issuer.
    Issuer,
    /// `exp` is missing or not a number.
    MissingExpiry,
    /// `exp` is in the past (beyond the leeway).
    Expired,
    /// `nbf` (or `iat`) is in the future (beyond the leeway).
    NotYetValid,
    /// `x-ms-ver` is missing.
    Version,
    /// The nonce in the token is missing or differs from the expected one.
    Nonce,
    /// The token comes from mock evidence and mock roots are not trusted.
    MockEvidence,
    /// `aud` is missing, or neither is nor contains the profile's audience.
    Audience,
    /// The token is authentic and valid, but its role claim does not hold
    /// the role the profile requires (HTTP 403, not 401).
    Role,
}

impl TokenCheck {
    /// The check's name, as used in messages (`signature`, `issuer`, …).
    pub const fn name(self) -> &'static str {
        match self {
            TokenCheck::Size => "size",
            TokenCheck::Format => "format",
            TokenCheck::Header => "header",
            TokenCheck::Claims => "claims",
            TokenCheck::Algorithm => "algorithm",
            TokenCheck::Type => "typ",
            TokenCheck::Critical => "crit",
            TokenCheck::KeyId => "kid",
            TokenCheck::Key => "key",
            TokenCheck::Signature => "signature",
            TokenCheck::Issuer => "issuer",
            TokenCheck::MissingExpiry => "exp",
            TokenCheck::Expired => "expired",
            TokenCheck::NotYetValid => "not-yet-valid",
            TokenCheck::Version => "x-ms-ver",
            TokenCheck::Nonce => "nonce",
            TokenCheck::MockEvidence => "mock-evidence",
            TokenCheck::Audience => "audience",
            TokenCheck::Role => "role",
        }
    }

    /// Whether this check refuses an authenticated identity for lacking a
    /// permission ([`TokenCheck::Role`]) rather than failing to
    /// authenticate the token (every other check).
    pub const fn is_authorization(self) -> bool {
        matches!(self, TokenCheck::Role)
    }

    /// The HTTP status a service answers a refusal by this check with: 403
    /// (Forbidden) for [`TokenCheck::Role`], 401 (Unauthorized) otherwise.
    pub const fn http_status(self) -> u16 {
        if self.is_authorization() {
            403
        } else {
            401
        }
    }

    /// The spec code of a refusal by this check: 22 (extracting information
    /// from the JWT failed) when the token is not a well-formed JWT, 23 when
    /// the trusted key is unusable, 6 (attestation failed) otherwise.
    pub const fn code(self) -> ErrorCode {
        match self {
            TokenCheck::Size | TokenCheck::Format | TokenCheck::Header | TokenCheck::Claims => {
                ErrorCode::JwtExtractionFailed
            }
            TokenCheck::Key => ErrorCode::JwtToRsaKeyFailed,
            _ => ErrorCode::AttestationFailed,
        }
    }
}

impl fmt::Display for TokenCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Errors of the MAA crate. Messages never carry key material or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MaaError {
    /// The client could not be set up (code 1).
    #[error("initialization failed: {0}")]
    Init(String),
    /// A field of a request or response could not be parsed (code 2).
    #[error("{what} could not be parsed: {reason}")]
    Malformed {
        /// Which field or structure.
        what: String,
        /// Why.
        reason: String,
    },
    /// No managed-identity token could be obtained from IMDS (code 3).
    #[error("managed-identity token not found: {0}")]
    MsiTokenNotFound(String),
    /// A retryable failure persisted through every attempt (code 4).
    #[error("{url}: no success after {attempts} attempts (last: {last})")]
    RetriesExceeded {
        /// The URL requested.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
    },
    /// The service answered with an error status that is not an attestation
    /// refusal (code 5).
    #[error("{url} answered HTTP {status}: {message}")]
    HttpStatus {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The service's message, if any.
        message: String,
    },
    /// The attestation service refused the evidence (HTTP 400 with
    /// `{"error":{"code","message"}}`) (code 6).
    #[error("attestation refused by the service ({code}): {message}")]
    AttestationRefused {
        /// The service's error code (e.g. `InvalidParameter`).
        code: String,
        /// The service's message.
        message: String,
    },
    /// A token failed relying-party validation; the code depends on the check
    /// (see [`TokenCheck::code`]).
    #[error("token refused by the {check} check: {detail}")]
    TokenRejected {
        /// The check that refused it.
        check: TokenCheck,
        /// What was wrong (never key material).
        detail: String,
    },
    /// A request could not be sent, or its response not read (code 7).
    #[error("sending the request to {url} failed: {reason}")]
    Send {
        /// The URL requested.
        url: String,
        /// Why.
        reason: String,
    },
    /// An input parameter is invalid (code 8).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Operating-system information could not be read (code 11).
    #[error("operating-system information: {0}")]
    OsInfo(String),
    /// The sealed token could not be decrypted (code 14).
    #[error("decrypting the sealed token failed: {0}")]
    Unseal(String),
    /// The TPM failed to decrypt the sealed token's inner key (code 15).
    #[error("the TPM failed to decrypt the sealed token's inner key")]
    UnsealTpm {
        /// The TPM's error.
        #[source]
        source: tee_attest_core::Error,
    },
    /// Something was not the JSON expected (code 16).
    #[error("{what} is not valid JSON: {reason}")]
    InvalidJson {
        /// Which document.
        what: String,
        /// Why.
        reason: String,
    },
    /// The VCEK certificate (chain) is missing or empty (code 17).
    #[error("the VCEK certificate chain is empty")]
    EmptyVcek,
    /// A response (or a required part of it) was empty (code 18).
    #[error("{0} is empty")]
    EmptyResponse(String),
    /// A request body was empty (code 19).
    #[error("the request body is empty")]
    EmptyRequestBody,
    /// The hardware report is empty (code 21).
    #[error("the hardware report is empty")]
    EmptyReport,
    /// A JWKS key could not be turned into an RSA public key (code 23).
    #[error("JWKS key {kid:?} is unusable: {reason}")]
    BadJwk {
        /// The key's `kid`.
        kid: String,
        /// Why.
        reason: String,
    },
    /// Sealing a token to an RSA key failed (code 25).
    #[error("sealing the token failed: {0}")]
    Seal(String),
    /// A request or document could not be encoded as JSON (code 8, as
    /// [`MaaError::InvalidInput`]).
    #[error("invalid input: {source}")]
    Encode {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// The sealed envelope could not be encoded as JSON (code 25, as
    /// [`MaaError::Seal`]).
    #[error("sealing the token failed: {source}")]
    SealEncode {
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
}

/// The shared HTTP client's failures, with the codes the MAA client has
/// always returned: [`MaaError::Send`] (code 7) for a request that could
/// not be sent (or, with one attempt allowed, whose response could not be
/// read), [`MaaError::RetriesExceeded`] (code 4) when every attempt failed
/// retryably, [`MaaError::Malformed`] (code 2) for an oversized response,
/// [`MaaError::Init`] (code 1) for a client that cannot be built.
impl From<tee_attest_http::HttpError> for MaaError {
    fn from(e: tee_attest_http::HttpError) -> Self {
        use tee_attest_http::HttpError;
        match e {
            HttpError::Init { reason } => MaaError::Init(format!("HTTP client: {reason}")),
            HttpError::Send { url, reason } => MaaError::Send { url, reason },
            HttpError::RetriesExhausted {
                url,
                attempts,
                last,
                ..
            } => MaaError::RetriesExceeded {
                url,
                attempts,
                last,
            },
            HttpError::TooLarge { url, limit } => MaaError::malformed(
                format!("the response from {url}"),
                format!("larger than {limit} bytes"),
            ),
            other => MaaError::Send {
                url: String::new(),
                reason: other.to_string(),
            },
        }
    }
}

impl MaaError {
    pub(crate) fn malformed(what: impl Into<String>, reason: impl fmt::Display) -> Self {
        MaaError::Malformed {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn json(what: impl Into<String>, reason: impl fmt::Display) -> Self {
        MaaError::InvalidJson {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn rejected(check: TokenCheck, detail: impl Into<String>) -> Self {
        MaaError::TokenRejected {
            check,
            detail: detail.into(),
        }
    }

    /// The token check that refused a token, if this is a refusal.
    pub fn token_check(&self) -> Option<TokenCheck> {
        match self {
            MaaError::TokenRejected { check, .. } => Some(*check),
            _ => None,
        }
    }
}

impl CodedError for MaaError {
    fn code(&self) -> ErrorCode {
        match self {
            MaaError::Init(_) => ErrorCode::InitializationFailed,
            MaaError::Malformed { .. } => ErrorCode::ParseResponseFailed,
            MaaError::MsiTokenNotFound(_) => ErrorCode::MsiTokenNotFound,
            MaaError::RetriesExceeded { .. } => ErrorCode::RequestExceededRetries,
            MaaError::HttpStatus { .. } => ErrorCode::RequestFailed,
            MaaError::AttestationRefused { .. } => ErrorCode::AttestationFailed,
            MaaError::TokenRejected { check, .. } => check.code(),
            MaaError::Send { .. } => ErrorCode::SendRequestFailed,
            MaaError::InvalidInput(_) | MaaError::Encode { .. } => ErrorCode::InvalidInputParameter,
            MaaError::OsInfo(_) => ErrorCode::OsInfoFailed,
            MaaError::Unseal(_) => ErrorCode::JwtDecryptionFailed,
            MaaError::UnsealTpm { .. } => ErrorCode::JwtDecryptionTpmError,
            MaaError::InvalidJson { .. } => ErrorCode::InvalidJsonResponse,
            MaaError::EmptyVcek => ErrorCode::EmptyVcekCert,
            MaaError::EmptyResponse(_) => ErrorCode::EmptyResponse,
            MaaError::EmptyRequestBody => ErrorCode::EmptyRequestBody,
            MaaError::EmptyReport => ErrorCode::EmptyReport,
            MaaError::BadJwk { .. } => ErrorCode::JwtToRsaKeyFailed,
            MaaError::Seal(_) | MaaError::SealEncode { .. } => ErrorCode::EncryptFailed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert_eq!(MaaError::EmptyRequestBody.code().number(), 19);
        assert_eq!(
            MaaError::rejected(TokenCheck::Format, "x").code().number(),
            22
        );
        assert_eq!(
            MaaError::rejected(TokenCheck::Signature, "x")
                .code()
                .number(),
            6
        );
        for check in [TokenCheck::Audience, TokenCheck::Role] {
            assert_eq!(MaaError::rejected(check, "x").code().number(), 6);
        }
        assert_eq!(TokenCheck::Audience.name(), "audience");
        assert_eq!(TokenCheck::Role.to_string(), "role");
        assert_eq!(TokenCheck::Role.http_status(), 403);
        assert!(TokenCheck::Role.is_authorization());
        for check in [
            TokenCheck::Audience,
            TokenCheck::Signature,
            TokenCheck::Expired,
            TokenCheck::Key,
        ] {
            assert_eq!(check.http_status(), 401);
            assert!(!check.is_authorization());
        }
        let e = tee_attest_core::Error::from(MaaError::Unseal("tag mismatch".into()));
        assert_eq!(e.code().number(), 14);
    }
}
