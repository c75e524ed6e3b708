//! [`ItaError`], the crate's error, and [`TokenCheck`], the check that
//! refused a token. Each maps to one spec code ([`CodedError`]).

use std::fmt;

use tee_attest_core::{CodedError, ErrorCode};

/// The relying-party check that refused a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenCheck {
    /// The token is larger than the validator accepts.
    Size,
    /// Not three non-empty, unpadded base64url parts.
    Format,
    /// The header is not a UTF-8 JSON object with unique member names.
    Header,
    /// The claims are not a UTF-8 JSON object with unique member names.
    Claims,
    /// `alg` is not one the validator accepts (only PS384 and RS256 ever).
    Algorithm,
    /// `typ` is present and not `JWT`.
    Type,
    /// The header has `crit` (no extension is understood).
    Critical,
    /// `kid` is missing, not a string, or not in the JWKS (after a refresh).
    KeyId,
    /// The JWKS key named by `kid` cannot be used: its `x5c` chain does not
    /// reach a pinned root, its certificate holds another key, it is outside
    /// its certificates' validity, or it is not for this algorithm.
    Key,
    /// The signature does not verify.
    Signature,
    /// `iss` is missing or not the expected issuer.
    Issuer,
    /// `exp` is missing or not a number.
    MissingExpiry,
    /// The token has expired (beyond the leeway).
    Expired,
    /// `nbf` or `iat` is in the future (beyond the leeway), or not a number.
    NotYetValid,
    /// `verifier_nonce` is missing or not the nonce issued.
    VerifierNonce,
    /// A policy expected to match is not in `policy_ids_matched`.
    Policy,
}

impl TokenCheck {
    /// A short name (`signature`, `verifier-nonce`, …).
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
            TokenCheck::VerifierNonce => "verifier-nonce",
            TokenCheck::Policy => "policy",
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

/// Errors of the ITA crate. Messages never carry the API key (a server
/// message that echoes it has it replaced by `***`) nor key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ItaError {
    /// The client could not be set up (code 1).
    #[error("initialization failed: {0}")]
    Init(String),
    /// A response or document could not be parsed, or was too large (code 2).
    #[error("{what} could not be parsed: {reason}")]
    Malformed {
        /// Which response or structure.
        what: String,
        /// Why.
        reason: String,
    },
    /// ITA refused the API key: HTTP 401 or 403 (code 3).
    #[error("{url} refused the API key: HTTP {status}: {message} (request-id {request_id})")]
    Unauthorized {
        /// The URL requested.
        url: String,
        /// 401 or 403.
        status: u16,
        /// ITA's message, if any.
        message: String,
        /// The `request-id` sent.
        request_id: String,
    },
    /// A retryable failure (HTTP 408, 429, 5xx) persisted through every
    /// attempt (code 4).
    #[error(
        "{url}: no success after {attempts} attempts (last: {last}) (request-id {request_id})"
    )]
    RetriesExceeded {
        /// The URL requested.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        last: String,
        /// The `request-id` sent.
        request_id: String,
    },
    /// A request other than an attestation (fetching the JWKS) was answered
    /// with an error status that is not retried (code 5).
    #[error("{url} answered HTTP {status}: {message}")]
    HttpStatus {
        /// The URL requested.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The start of the answer.
        message: String,
    },
    /// ITA answered another 4xx: it refused the request or the evidence
    /// (code 6), with its message.
    #[error("Intel Trust Authority refused the request: HTTP {status}: {message} (request-id {request_id})")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// ITA's message (`{"error": ...}`), or the start of its answer.
        message: String,
        /// The `request-id` sent.
        request_id: String,
    },
    /// A token failed relying-party validation; the code depends on the
    /// check ([`TokenCheck::code`]).
    #[error("token refused by the {check} check: {detail}")]
    TokenRejected {
        /// The check that refused it.
        check: TokenCheck,
        /// What was wrong (never key material).
        detail: String,
    },
    /// A request could not be sent or its answer not read: connection
    /// refused, DNS, TLS, time-out, a cut-off answer (code 7).
    #[error("sending the request to {url} failed: {reason} (request-id {request_id})")]
    Send {
        /// The URL requested.
        url: String,
        /// Why.
        reason: String,
        /// The `request-id` sent (empty for requests that carry none, such
        /// as fetching the JWKS).
        request_id: String,
    },
    /// An input parameter or the configuration is invalid (code 8).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A request body could not be encoded as JSON (code 8, as
    /// [`ItaError::InvalidInput`]).
    #[error("invalid input: {source}")]
    Encode {
        /// The encoder's error.
        #[source]
        source: serde_json::Error,
    },
    /// A response was not the JSON expected (code 16).
    #[error("{what} is not valid JSON: {reason}")]
    InvalidJson {
        /// Which document.
        what: String,
        /// Why.
        reason: String,
    },
    /// A response (or a required part of it) was empty (code 18).
    #[error("{0} is empty")]
    EmptyResponse(String),
}

impl ItaError {
    pub(crate) fn rejected(check: TokenCheck, detail: impl Into<String>) -> Self {
        ItaError::TokenRejected {
            check,
            detail: detail.into(),
        }
    }

    pub(crate) fn json(what: impl Into<String>, reason: impl fmt::Display) -> Self {
        ItaError::InvalidJson {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    pub(crate) fn malformed(what: impl Into<String>, reason: impl fmt::Display) -> Self {
        ItaError::Malformed {
            what: what.into(),
            reason: reason.to_string(),
        }
    }

    /// The token check that refused a token, if this is a refusal.
    pub fn token_check(&self) -> Option<TokenCheck> {
        match self {
            ItaError::TokenRejected { check, .. } => Some(*check),
            _ => None,
        }
    }

    /// The `request-id` the failed request carried, if it carried one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            ItaError::Unauthorized { request_id, .. }
            | ItaError::RetriesExceeded { request_id, .. }
            | ItaError::Refused { request_id, .. }
            | ItaError::Send { request_id, .. }
                if !request_id.is_empty() =>
            {
                Some(request_id)
            }
            _ => None,
        }
    }
}

impl CodedError for ItaError {
    fn code(&self) -> ErrorCode {
        match self {
            ItaError::Init(_) => ErrorCode::InitializationFailed,
            ItaError::Malformed { .. } => ErrorCode::ParseResponseFailed,
            ItaError::Unauthorized { .. } => ErrorCode::MsiTokenNotFound,
            ItaError::RetriesExceeded { .. } => ErrorCode::RequestExceededRetries,
            ItaError::HttpStatus { .. } => ErrorCode::RequestFailed,
            ItaError::Refused { .. } => ErrorCode::AttestationFailed,
            ItaError::TokenRejected { check, .. } => check.code(),
            ItaError::Send { .. } => ErrorCode::SendRequestFailed,
            ItaError::InvalidInput(_) | ItaError::Encode { .. } => ErrorCode::InvalidInputParameter,
            ItaError::InvalidJson { .. } => ErrorCode::InvalidJsonResponse,
            ItaError::EmptyResponse(_) => ErrorCode::EmptyResponse,
        }
    }
}

/// The shared HTTP client's failures, with the `request-id` sent:
/// [`ItaError::Send`] (code 7) when ITA could not be reached or its answer
/// not read — also after retries, as long as no attempt got an HTTP status
/// (unreachable, time-outs, cut-off answers) —, [`ItaError::RetriesExceeded`]
/// (code 4) when the last of the attempts was answered 408, 429 or 5xx,
/// [`ItaError::Malformed`] (code 2) for an oversized answer,
/// [`ItaError::Init`] (code 1) for a client that cannot be built.
#[cfg(feature = "client")]
pub(crate) fn from_http(e: tee_attest_http::HttpError, request_id: &str) -> ItaError {
    use tee_attest_http::HttpError;
    let request_id = request_id.to_string();
    match e {
        HttpError::Init { reason } => ItaError::Init(format!("HTTP client: {reason}")),
        HttpError::Send { url, reason } => ItaError::Send {
            url,
            reason,
            request_id,
        },
        HttpError::RetriesExhausted {
            url,
            attempts,
            last,
            last_status: None,
        } => ItaError::Send {
            url,
            reason: format!("no answer after {attempts} attempts (last: {last})"),
            request_id,
        },
        HttpError::RetriesExhausted {
            url,
            attempts,
            last,
            ..
        } => ItaError::RetriesExceeded {
            url,
            attempts,
            last,
            request_id,
        },
        HttpError::TooLarge { url, limit } => ItaError::malformed(
            format!("the answer from {url}"),
            format!("larger than {limit} bytes"),
        ),
        other => ItaError::Send {
            url: String::new(),
            reason: other.to_string(),
            request_id,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        let e = ItaError::rejected(TokenCheck::Format, "x");
        assert_eq!(e.code().number(), 22);
        assert_eq!(ItaError::rejected(TokenCheck::Key, "x").code().number(), 23);
        for c in [
            TokenCheck::Signature,
            TokenCheck::VerifierNonce,
            TokenCheck::Policy,
        ] {
            assert_eq!(ItaError::rejected(c, "x").code().number(), 6);
        }
        let refused = ItaError::Refused {
            status: 400,
            message: "bad quote".into(),
            request_id: "r-1".into(),
        };
        assert_eq!(refused.code().number(), 6);
        assert_eq!(refused.request_id(), Some("r-1"));
        assert!(refused.to_string().contains("request-id r-1"));
        let unauthorized = ItaError::Unauthorized {
            url: "u".into(),
            status: 401,
            message: String::new(),
            request_id: "r".into(),
        };
        assert_eq!(unauthorized.code().number(), 3);
        assert_eq!(ItaError::EmptyResponse("x".into()).code().number(), 18);
        assert_eq!(ItaError::json("x", "y").code().number(), 16);
        assert_eq!(TokenCheck::VerifierNonce.to_string(), "verifier-nonce");
    }
}
