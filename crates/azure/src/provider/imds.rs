//! Azure IMDS's TD quote service: `POST {imds}/acc/tdquote` turns a
//! TDREPORT into a TD quote signed by the platform's quoting enclave.
//!
//! ```text
//! POST http://169.254.169.254/acc/tdquote
//! Content-Type: application/json        (exactly: anything else is HTTP 415)
//! Metadata: true
//! {"report": BASE64URL(TDREPORT)}  ─▶  200 {"quote": BASE64URL(TD quote)}
//! ```
//!
//! IMDS is never reached through a proxy. Transport failures, time-outs,
//! 408, 429 and 5xx are retried by the shared HTTP client.
//!
//! | outcome | code |
//! |---|---|
//! | IMDS unreachable (one attempt) | 7 |
//! | retryable failures through every attempt | 4 |
//! | HTTP 415 (the Content-Type), any other non-2xx status | 5 |
//! | an empty answer | 18 |
//! | an answer that is not JSON with a `quote` string | 16 |
//! | a `quote` that is not base64, an answer over the size cap | 2 |
//! | an empty quote | 21 |
//! | a TDREPORT that is not 1024 bytes | 8 |

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use tee_attest_core::{CodedError, ErrorCode};
use tee_attest_http::{Http, HttpConfig, HttpError, Method};

use crate::TDREPORT_LEN;

/// The path of IMDS's TD quote service.
pub const TDQUOTE_PATH: &str = "/acc/tdquote";

/// An error of the IMDS TD quote client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ImdsError {
    /// The HTTP exchange failed: unreachable (7), retries exhausted (4), an
    /// answer over the size cap (2), no client (1).
    #[error("IMDS TD quote: {0}")]
    Http(#[from] HttpError),
    /// IMDS refused the request's media type (HTTP 415; code 5).
    #[error(
        "IMDS at {url} answered HTTP 415 Unsupported Media Type: the request's Content-Type \
         must be exactly application/json"
    )]
    UnsupportedMediaType {
        /// The URL posted to.
        url: String,
    },
    /// IMDS answered another non-2xx status (code 5).
    #[error("IMDS at {url} answered HTTP {status}: {message}")]
    Status {
        /// The URL posted to.
        url: String,
        /// The status.
        status: u16,
        /// The start of the answer's body (text).
        message: String,
    },
    /// IMDS answered 2xx with an empty body (code 18).
    #[error("IMDS at {url} answered with an empty body")]
    EmptyAnswer {
        /// The URL posted to.
        url: String,
    },
    /// The answer is not JSON with a `quote` string (code 16).
    #[error("IMDS at {url}: the answer is not the JSON expected: {reason}")]
    InvalidJson {
        /// The URL posted to.
        url: String,
        /// What is wrong.
        reason: String,
    },
    /// The answer's `quote` is not base64 (code 2).
    #[error("IMDS at {url}: the answer's quote is not base64url")]
    QuoteEncoding {
        /// The URL posted to.
        url: String,
    },
    /// The answer's `quote` is empty (code 21).
    #[error("IMDS at {url} returned an empty quote")]
    EmptyQuote {
        /// The URL posted to.
        url: String,
    },
    /// The TDREPORT to quote is not 1024 bytes (code 8).
    #[error("a TDREPORT is {TDREPORT_LEN} bytes, not {0}")]
    InvalidReport(usize),
}

impl CodedError for ImdsError {
    fn code(&self) -> ErrorCode {
        match self {
            ImdsError::Http(e) => e.code(),
            ImdsError::UnsupportedMediaType { .. } | ImdsError::Status { .. } => {
                ErrorCode::RequestFailed
            }
            ImdsError::EmptyAnswer { .. } => ErrorCode::EmptyResponse,
            ImdsError::InvalidJson { .. } => ErrorCode::InvalidJsonResponse,
            ImdsError::QuoteEncoding { .. } => ErrorCode::ParseResponseFailed,
            ImdsError::EmptyQuote { .. } => ErrorCode::EmptyReport,
            ImdsError::InvalidReport(_) => ErrorCode::InvalidInputParameter,
        }
    }
}

/// base64url or base64, with or without padding.
fn decode_b64(text: &str) -> Option<Vec<u8>> {
    let t = text.trim().trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(t)
        .or_else(|_| STANDARD_NO_PAD.decode(t))
        .ok()
}

/// The client of IMDS's TD quote service.
#[derive(Debug, Clone)]
pub struct TdQuoteClient {
    url: String,
    http: Http,
}

impl TdQuoteClient {
    /// A client of the service under `imds_base` (Azure's is
    /// `http://169.254.169.254`, [`super::AZURE_IMDS_URL`]; tests use
    /// loopback). The proxy environment is ignored whatever `http` says.
    /// Code 1 when the HTTP client cannot be built.
    pub fn new(imds_base: &str, http: HttpConfig) -> Result<Self, ImdsError> {
        let mut cfg = http;
        cfg.proxy_from_env = false;
        Ok(Self {
            url: format!("{}{TDQUOTE_PATH}", imds_base.trim().trim_end_matches('/')),
            http: Http::new(cfg)?,
        })
    }

    /// The URL it posts to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The TD quote for `td_report` (the 1024-byte TDREPORT). Codes in the
    /// module's table.
    pub async fn quote(&self, td_report: &[u8]) -> Result<Vec<u8>, ImdsError> {
        if td_report.len() != TDREPORT_LEN {
            return Err(ImdsError::InvalidReport(td_report.len()));
        }
        let body = serde_json::json!({ "report": URL_SAFE_NO_PAD.encode(td_report) }).to_string();
        let url = self.url.clone();
        let resp = self
            .http
            .request(
                Method::POST,
                &url,
                &[("Content-Type", "application/json"), ("Metadata", "true")],
                Some(body.as_bytes()),
            )
            .await?;
        tracing::debug!(url = %url, status = resp.status, "IMDS TD quote answered");
        if resp.status == 415 {
            return Err(ImdsError::UnsupportedMediaType { url });
        }
        if !resp.is_success() {
            let text = String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)]);
            return Err(ImdsError::Status {
                url,
                status: resp.status,
                message: text.trim().to_string(),
            });
        }
        if resp.body.iter().all(u8::is_ascii_whitespace) {
            return Err(ImdsError::EmptyAnswer { url });
        }
        let v: serde_json::Value =
            serde_json::from_slice(&resp.body).map_err(|e| ImdsError::InvalidJson {
                url: url.clone(),
                reason: e.to_string(),
            })?;
        let text = v
            .get("quote")
            .and_then(serde_json::Value::as_str)
            .ok_or_else(|| ImdsError::InvalidJson {
                url: url.clone(),
                reason: "no \"quote\" string".into(),
            })?;
        let quote =
            decode_b64(text).ok_or_else(|| ImdsError::QuoteEncoding { url: url.clone() })?;
        if quote.is_empty() {
            return Err(ImdsError::EmptyQuote { url });
        }
        Ok(quote)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_decoding() {
        let url = || "http://127.0.0.1:1/acc/tdquote".to_string();
        assert_eq!(
            ImdsError::UnsupportedMediaType { url: url() }
                .code()
                .number(),
            5
        );
        assert_eq!(
            ImdsError::Status {
                url: url(),
                status: 404,
                message: String::new()
            }
            .code()
            .number(),
            5
        );
        assert_eq!(ImdsError::EmptyAnswer { url: url() }.code().number(), 18);
        assert_eq!(
            ImdsError::InvalidJson {
                url: url(),
                reason: String::new()
            }
            .code()
            .number(),
            16
        );
        assert_eq!(ImdsError::QuoteEncoding { url: url() }.code().number(), 2);
        assert_eq!(ImdsError::EmptyQuote { url: url() }.code().number(), 21);
        assert_eq!(ImdsError::InvalidReport(3).code().number(), 8);
        assert_eq!(decode_b64("-_8"), Some(vec![0xfb, 0xff]));
        assert_eq!(decode_b64("+/8="), Some(vec![0xfb, 0xff]));
        assert_eq!(decode_b64("!"), None);
        let c = TdQuoteClient::new("http://127.0.0.1:9/", HttpConfig::default()).unwrap();
        assert_eq!(c.url(), "http://127.0.0.1:9/acc/tdquote");
    }
}
