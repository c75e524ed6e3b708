//! HTTP with bounded retries for tee-attest: exponential backoff with
//! jitter, `Retry-After` honoured (capped), retries on transport errors,
//! time-outs, 408, 429 and 5xx only, and a cap on the response size.
//!
//! Shared by the SEV-SNP collateral sources (`tee-attest-snp`) and the MAA
//! client and token validator (`tee-attest-maa`). It depends on neither, so
//! relying parties using `tee-attest-maa` do not pull the SNP stack in.
//!
//! No proxy is used unless [`HttpConfig::proxy_from_env`] says so: IMDS must
//! never be reached through a proxy.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

use std::time::Duration;

use tee_attest_core::{CodedError, ErrorCode};

mod fetch;

pub use fetch::FetchFailure;

pub use reqwest::Method;

/// How a client talks HTTP.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Time-out of one whole request (connect, send, read the body).
    pub timeout: Duration,
    /// Time-out of connecting.
    pub connect_timeout: Duration,
    /// Attempts in all (≥ 1) for retryable failures (408, 429, 5xx,
    /// transport errors and time-outs).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled for each further one.
    pub backoff: Duration,
    /// Up to this much random time is added to each backoff.
    pub jitter: Duration,
    /// The longest wait between attempts, whatever `Retry-After` or the
    /// backoff says.
    pub max_wait: Duration,
    /// Whether to use the `HTTP(S)_PROXY` environment (off by default; IMDS
    /// must never be reached through a proxy).
    pub proxy_from_env: bool,
    /// The largest response body read (bytes).
    pub max_response_bytes: usize,
    /// Extra trusted root certificates (DER) for HTTPS, besides the
    /// system's: a private CA, a test CA.
    pub root_certificates: Vec<Vec<u8>>,
    /// Whether redirects are followed (up to 10). Clients that send a
    /// credential in a custom header (an API key) turn this off: such a
    /// header would follow a redirect to another host. A 3xx is then
    /// returned to the caller like any other non-retried status.
    pub follow_redirects: bool,
}

impl Default for HttpConfig {
    /// 30 s per request (10 s to connect), 4 attempts (Microsoft's client
    /// retries 3 times), 1 s backoff doubling plus up to 1 s of jitter,
    /// waits capped at 30 s, responses up to 8 MiB, no proxy, redirects
    /// followed.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(10),
            max_attempts: 4,
            backoff: Duration::from_secs(1),
            jitter: Duration::from_secs(1),
            max_wait: Duration::from_secs(30),
            proxy_from_env: false,
            max_response_bytes: 8 * 1024 * 1024,
            root_certificates: Vec::new(),
            follow_redirects: true,
        }
    }
}

impl HttpConfig {
    /// A configuration with short time-outs and waits (tests, loopback):
    /// `timeout` for connecting and for the whole request, at least one
    /// attempt, jitter of half the backoff, the rest as [`Default`].
    pub fn fast(
        timeout: Duration,
        max_attempts: u32,
        backoff: Duration,
        max_wait: Duration,
    ) -> Self {
        Self {
            timeout,
            connect_timeout: timeout,
            max_attempts: max_attempts.max(1),
            backoff,
            jitter: backoff / 2,
            max_wait,
            ..Self::default()
        }
    }
}

/// A random number in [0, 1] (0.5 when the system RNG fails).
fn random_fraction() -> f64 {
    let mut b = [0u8; 4];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

/// The wait after `attempt` failures (counting from 1):
/// `backoff · 2^(attempt-1)` plus up to `jitter`, or the `Retry-After`
/// seconds when longer, capped at `max_wait`. `fraction` in [0, 1] picks
/// the jitter (0 for none).
pub fn retry_delay(
    attempt: u32,
    retry_after: Option<&str>,
    cfg: &HttpConfig,
    fraction: f64,
) -> Duration {
    let exp = attempt.saturating_sub(1).min(16);
    let backoff = cfg.backoff.saturating_mul(1u32 << exp).saturating_add(
        Duration::try_from_secs_f64(cfg.jitter.as_secs_f64() * fraction.clamp(0.0, 1.0))
            .unwrap_or(cfg.max_wait),
    );
    let server = retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or_default();
    backoff.max(server).min(cfg.max_wait)
}

/// An HTTP failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HttpError {
    /// The HTTP client could not be built (code 1).
    #[error("HTTP client: {reason}")]
    Init {
        /// Why.
        reason: String,
    },
    /// A request could not be sent or its response not read, and it was
    /// not (or no more) retried: an invalid request, or a transport
    /// failure when only one attempt was allowed (code 7).
    #[error("sending the request to {url} failed: {reason}")]
    Send {
        /// The URL requested.
        url: String,
        /// Why.
        reason: String,
    },
    /// A retryable failure persisted through every attempt (code 4).
    #[error("{url}: no success after {attempts} attempts (last: {last})")]
    RetriesExhausted {
        /// The URL requested.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last failure (`HTTP 503`, `timed out: …`, …).
        last: String,
        /// The last failure's HTTP status; `None` when it was a transport
        /// error or a time-out.
        last_status: Option<u16>,
    },
    /// The response body was larger than
    /// [`HttpConfig::max_response_bytes`] (code 2).
    #[error("the response from {url} is larger than {limit} bytes")]
    TooLarge {
        /// The URL requested.
        url: String,
        /// The limit (bytes).
        limit: usize,
    },
}

impl CodedError for HttpError {
    fn code(&self) -> ErrorCode {
        match self {
            HttpError::Init { .. } => ErrorCode::InitializationFailed,
            HttpError::Send { .. } => ErrorCode::SendRequestFailed,
            HttpError::RetriesExhausted { .. } => ErrorCode::RequestExceededRetries,
            HttpError::TooLarge { .. } => ErrorCode::ParseResponseFailed,
        }
    }
}

/// A response: a 2xx, or an error status that is not retried (anything but
/// 408, 429 and 5xx) for the caller to interpret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Response {
    /// The HTTP status.
    pub status: u16,
    /// The response headers whose values are visible ASCII, in the order
    /// received, names in lower case.
    pub headers: Vec<(String, String)>,
    /// The body (at most [`HttpConfig::max_response_bytes`]).
    pub body: Vec<u8>,
}

impl Response {
    /// Whether the status is 2xx.
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }

    /// The first value of header `name` (any case), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// An HTTP client with retries.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    cfg: HttpConfig,
}

enum Attempt {
    Done(Response),
    Retry {
        what: String,
        status: Option<u16>,
        retry_after: Option<String>,
    },
}

impl Http {
    /// A client with `cfg` (code 1 when it cannot be built).
    pub fn new(cfg: HttpConfig) -> Result<Self, HttpError> {
        let mut b = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout);
        if !cfg.proxy_from_env {
            b = b.no_proxy();
        }
        if !cfg.follow_redirects {
            b = b.redirect(reqwest::redirect::Policy::none());
        }
        for der in &cfg.root_certificates {
            let cert = reqwest::Certificate::from_der(der).map_err(|e| HttpError::Init {
                reason: format!("a trusted root certificate: {}", describe(&e)),
            })?;
            b = b.add_root_certificate(cert);
        }
        let client = b.build().map_err(|e| HttpError::Init {
            reason: describe(&e),
        })?;
        Ok(Self { client, cfg })
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.cfg
    }

    async fn attempt(
        &self,
        method: &Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Attempt, HttpError> {
        let mut req = self.client.request(method.clone(), url);
        for (k, v) in headers {
            if is_credential_header(k) {
                // Marked sensitive: never shown by `Debug` (a log of the
                // request), and kept out of HTTP/2 header compression.
                let mut value =
                    reqwest::header::HeaderValue::from_str(v).map_err(|_| HttpError::Send {
                        url: url.to_string(),
                        reason: format!("the {k} header's value is not a valid header value"),
                    })?;
                value.set_sensitive(true);
                req = req.header(*k, value);
            } else {
                req = req.header(*k, *v);
            }
        }
        if let Some(b) = body {
            req = req.body(b.to_vec());
        }
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => {
                return Err(HttpError::Send {
                    url: url.to_string(),
                    reason: describe(&e),
                })
            }
            Err(e) => {
                return Ok(Attempt::Retry {
                    what: describe(&e),
                    status: None,
                    retry_after: None,
                })
            }
        };
        let status = resp.status().as_u16();
        if status == 408 || status == 429 || (500..600).contains(&status) {
            let retry_after = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let what = match error_detail(&mut resp).await {
                Some(d) => format!("HTTP {status}: {d}"),
                None => format!("HTTP {status}"),
            };
            return Ok(Attempt::Retry {
                what,
                status: Some(status),
                retry_after,
            });
        }
        let headers = resp
            .headers()
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect();
        let limit = self.cfg.max_response_bytes;
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len().saturating_add(chunk.len()) > limit {
                        return Err(HttpError::TooLarge {
                            url: url.to_string(),
                            limit,
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Ok(Attempt::Retry {
                        what: format!("reading the response: {}", describe(&e)),
                        status: None,
                        retry_after: None,
                    })
                }
            }
        }
        Ok(Attempt::Done(Response {
            status,
            headers,
            body,
        }))
    }

    /// Sends `method url` with `headers` and `body` (set its
    /// `Content-Type` in `headers`), retrying transport errors, time-outs,
    /// 408, 429 and 5xx up to `max_attempts` times. Returns 2xx responses
    /// and non-retryable error statuses for the caller to interpret.
    ///
    /// Errors: [`HttpError::RetriesExhausted`] (code 4) when every attempt
    /// failed retryably; [`HttpError::Send`] (code 7) for a request that
    /// cannot be built, or a transport failure when only one attempt was
    /// allowed; [`HttpError::TooLarge`] for a body over the cap.
    pub async fn request(
        &self,
        method: Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Response, HttpError> {
        let attempts = self.cfg.max_attempts.max(1);
        let mut last = String::new();
        let mut last_status = None;
        for attempt in 1..=attempts {
            match self.attempt(&method, url, headers, body).await? {
                Attempt::Done(r) => return Ok(r),
                Attempt::Retry {
                    what,
                    status,
                    retry_after,
                } => {
                    tracing::debug!(url, attempt, "request failed, retryable: {what}");
                    last = what;
                    last_status = status;
                    if attempt < attempts {
                        let wait = retry_delay(
                            attempt,
                            retry_after.as_deref(),
                            &self.cfg,
                            random_fraction(),
                        );
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        if attempts == 1 && last_status.is_none() {
            return Err(HttpError::Send {
                url: url.to_string(),
                reason: last,
            });
        }
        Err(HttpError::RetriesExhausted {
            url: url.to_string(),
            attempts,
            last,
            last_status,
        })
    }

    /// `GET url` with `headers`: [`Http::request`] without a body.
    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Response, HttpError> {
        self.request(Method::GET, url, headers, None).await
    }
}

/// The message of an error answer in MAA's shape
/// (`{"error": {"code": C, "message": M}}`) as `C: M`, from at most the
/// first 4 KiB of the body, cut at 300 characters, control characters
/// dropped; `None` for anything else (which is not echoed). It is what
/// tells a user why a retried 5xx failed ("… No space left on device").
async fn error_detail(resp: &mut reqwest::Response) -> Option<String> {
    const MAX: usize = 4096;
    let mut body = Vec::new();
    while body.len() < MAX {
        match resp.chunk().await {
            Ok(Some(c)) => body.extend_from_slice(&c[..c.len().min(MAX - body.len())]),
            _ => break,
        }
    }
    let v: serde_json::Value = serde_json::from_slice(&body).ok()?;
    let e = v.get("error")?;
    let message = e.get("message")?.as_str()?;
    let text = match e.get("code").and_then(serde_json::Value::as_str) {
        Some(code) => format!("{code}: {message}"),
        None => message.to_string(),
    };
    Some(text.chars().filter(|c| !c.is_control()).take(300).collect())
}

/// Headers that carry credentials (bearer tokens, API keys, cookies).
fn is_credential_header(name: &str) -> bool {
    [
        "authorization",
        "proxy-authorization",
        "x-api-key",
        "cookie",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// A `reqwest` error for humans: what kind of failure (`timed out`, `could
/// not connect`, `the response body was cut off or unreadable`, `transport
/// error`), then the error and each of its causes.
pub fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else if e.is_body() || e.is_decode() {
        "the response body was cut off or unreadable"
    } else {
        "transport error"
    };
    let mut msg = format!("{kind}: {e}");
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg.push_str(&format!(": {s}"));
        src = s.source();
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HttpConfig {
        HttpConfig::fast(
            Duration::from_secs(1),
            3,
            Duration::from_millis(100),
            Duration::from_secs(5),
        )
    }

    #[test]
    fn delays_grow_honour_retry_after_and_are_capped() {
        let cfg = cfg();
        assert_eq!(retry_delay(1, None, &cfg, 0.0), Duration::from_millis(100));
        assert_eq!(retry_delay(2, None, &cfg, 0.0), Duration::from_millis(200));
        assert_eq!(retry_delay(3, None, &cfg, 0.0), Duration::from_millis(400));
        assert_eq!(retry_delay(2, None, &cfg, 1.0), Duration::from_millis(250));
        // Retry-After wins when longer, and is capped.
        assert_eq!(retry_delay(1, Some("2"), &cfg, 0.5), Duration::from_secs(2));
        assert_eq!(
            retry_delay(1, Some("3600"), &cfg, 0.0),
            Duration::from_secs(5)
        );
        assert_eq!(
            retry_delay(1, Some("soon"), &cfg, 0.0),
            Duration::from_millis(100)
        );
        assert_eq!(retry_delay(40, None, &cfg, 0.0), Duration::from_secs(5));
        assert_eq!(retry_delay(60, None, &cfg, 0.0), Duration::from_secs(5));
        let mut huge = cfg.clone();
        huge.jitter = Duration::MAX;
        assert_eq!(retry_delay(1, None, &huge, 1.0), Duration::from_secs(5));
        let f = random_fraction();
        assert!((0.0..=1.0).contains(&f));
    }

    #[test]
    fn defaults_use_no_proxy_and_fast_keeps_one_attempt() {
        assert!(!HttpConfig::default().proxy_from_env);
        let c = HttpConfig::fast(Duration::ZERO, 0, Duration::ZERO, Duration::ZERO);
        assert_eq!(c.max_attempts, 1);
        assert!(!c.proxy_from_env);
    }

    #[test]
    fn codes() {
        let url = "http://x".to_string();
        assert_eq!(
            HttpError::Send {
                url: url.clone(),
                reason: String::new()
            }
            .code(),
            ErrorCode::SendRequestFailed
        );
        assert_eq!(
            HttpError::RetriesExhausted {
                url,
                attempts: 2,
                last: String::new(),
                last_status: Some(503)
            }
            .code(),
            ErrorCode::RequestExceededRetries
        );
    }

    /// A scripted server on loopback: answers each connection with the
    /// next canned response.
    async fn scripted(answers: Vec<&'static str>) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/x", l.local_addr().unwrap());
        tokio::spawn(async move {
            for a in answers {
                let (mut s, _) = l.accept().await.unwrap();
                let mut buf = vec![0u8; 4096];
                let _ = s.read(&mut buf).await;
                s.write_all(a.as_bytes()).await.unwrap();
                let _ = s.shutdown().await;
            }
        });
        url
    }

    #[tokio::test]
    async fn headers_are_returned_and_found_in_any_case() {
        let url = scripted(vec![
            "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 0\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            "HTTP/1.1 200 OK\r\nTCB-Info-Issuer-Chain: a%20b\r\nX-Bin: é\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
        ])
        .await;
        let http = Http::new(cfg()).unwrap();
        let r = http.get(&url, &[]).await.unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"ok");
        assert_eq!(r.header("tcb-info-issuer-chain"), Some("a%20b"));
        assert_eq!(r.header("TCB-INFO-ISSUER-CHAIN"), Some("a%20b"));
        assert_eq!(r.header("content-length"), Some("2"));
        // A value that is not visible ASCII is left out, not mangled.
        assert_eq!(r.header("x-bin"), None);
        assert_eq!(
            r.header("retry-after"),
            None,
            "the retried 503's headers are not kept"
        );
    }
}
