//! HTTP with bounded retries: exponential backoff with jitter, `Retry-After`
//! honoured (capped), retries on transport errors, time-outs, 408, 429 and
//! 5xx only.
//!
//! This is the POST-capable sibling of `tee_attest_snp::collateral::http`
//! (same knobs, plus jitter and a response size cap); it is not shared
//! because relying parties depending on this crate must not pull the SNP
//! stack in.

use std::time::Duration;

use crate::MaaError;

/// How the MAA client and the JWKS fetcher talk HTTP.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Time-out of one whole request (connect, send, read the body).
    pub timeout: Duration,
    /// Time-out of connecting.
    pub connect_timeout: Duration,
    /// Attempts in all (≥ 1) for retryable failures.
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled for each further one.
    pub backoff: Duration,
    /// Up to this much random time is added to each backoff.
    pub jitter: Duration,
    /// The longest wait between attempts, whatever `Retry-After` says.
    pub max_wait: Duration,
    /// Whether to use the `HTTP(S)_PROXY` environment (off by default; IMDS
    /// must never be reached through a proxy).
    pub proxy_from_env: bool,
    /// The largest response body read (bytes).
    pub max_response_bytes: usize,
}

impl Default for HttpConfig {
    /// 30 s per request (10 s to connect), 4 attempts (Microsoft's client
    /// retries 3 times), 1 s backoff doubling plus up to 1 s of jitter,
    /// waits capped at 30 s, responses up to 8 MiB.
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
        }
    }
}

impl HttpConfig {
    /// A configuration with short time-outs and waits (tests, loopback).
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

fn random_fraction() -> f64 {
    let mut b = [0u8; 4];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        return 0.5;
    }
    f64::from(u32::from_le_bytes(b)) / f64::from(u32::MAX)
}

/// The wait after `attempt` failures (counting from 1): `backoff · 2^(attempt-1)`
/// plus up to `jitter`, or `Retry-After` seconds when longer, capped at
/// `max_wait`. `fraction` in [0, 1] picks the jitter.
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

/// A response with a status the caller must interpret (2xx, or a
/// non-retryable error status).
#[derive(Debug)]
pub(crate) struct HttpResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

/// An HTTP client with retries.
#[derive(Debug, Clone)]
pub(crate) struct Http {
    client: reqwest::Client,
    cfg: HttpConfig,
}

enum Attempt {
    Done(HttpResponse),
    Retry {
        what: String,
        retry_after: Option<String>,
    },
}

impl Http {
    pub(crate) fn new(cfg: HttpConfig) -> Result<Self, MaaError> {
        let mut b = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout);
        if !cfg.proxy_from_env {
            b = b.no_proxy();
        }
        let client = b
            .build()
            .map_err(|e| MaaError::Init(format!("HTTP client: {e}")))?;
        Ok(Self { client, cfg })
    }

    async fn attempt(
        &self,
        method: &reqwest::Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&str>,
    ) -> Result<Attempt, MaaError> {
        let mut req = self.client.request(method.clone(), url);
        for (k, v) in headers {
            req = req.header(*k, v.as_str());
        }
        if let Some(b) = body {
            req = req
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(b.to_string());
        }
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_builder() => {
                return Err(MaaError::Send {
                    url: url.to_string(),
                    reason: describe(&e),
                })
            }
            Err(e) => {
                return Ok(Attempt::Retry {
                    what: describe(&e),
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
            return Ok(Attempt::Retry {
                what: format!("HTTP {status}"),
                retry_after,
            });
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > self.cfg.max_response_bytes {
                        return Err(MaaError::malformed(
                            format!("the response from {url}"),
                            format!("larger than {} bytes", self.cfg.max_response_bytes),
                        ));
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    return Ok(Attempt::Retry {
                        what: format!("reading the response: {}", describe(&e)),
                        retry_after: None,
                    })
                }
            }
        }
        Ok(Attempt::Done(HttpResponse { status, body }))
    }

    /// Sends a request, retrying retryable failures. Returns 2xx responses
    /// and non-retryable error statuses for the caller to interpret; code 4
    /// when every attempt failed retryably (code 7 when only one attempt was
    /// allowed and it could not be sent).
    pub(crate) async fn request(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, String)],
        body: Option<&str>,
    ) -> Result<HttpResponse, MaaError> {
        let attempts = self.cfg.max_attempts.max(1);
        let mut last = String::new();
        let mut last_was_status = false;
        for attempt in 1..=attempts {
            match self.attempt(&method, url, headers, body).await? {
                Attempt::Done(r) => return Ok(r),
                Attempt::Retry { what, retry_after } => {
                    tracing::debug!(url, attempt, "request failed, retryable: {what}");
                    last_was_status = what.starts_with("HTTP ");
                    last = what;
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
        if attempts == 1 && !last_was_status {
            return Err(MaaError::Send {
                url: url.to_string(),
                reason: last,
            });
        }
        Err(MaaError::RetriesExceeded {
            url: url.to_string(),
            attempts,
            last,
        })
    }
}

fn describe(e: &reqwest::Error) -> String {
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

    #[test]
    fn delays_grow_honour_retry_after_and_are_capped() {
        let cfg = HttpConfig::fast(
            Duration::from_secs(1),
            3,
            Duration::from_millis(100),
            Duration::from_secs(5),
        );
        assert_eq!(retry_delay(1, None, &cfg, 0.0), Duration::from_millis(100));
        assert_eq!(retry_delay(2, None, &cfg, 0.0), Duration::from_millis(200));
        assert_eq!(retry_delay(2, None, &cfg, 1.0), Duration::from_millis(250));
        assert_eq!(retry_delay(1, Some("2"), &cfg, 0.5), Duration::from_secs(2));
        assert_eq!(
            retry_delay(1, Some("3600"), &cfg, 0.0),
            Duration::from_secs(5)
        );
        assert_eq!(
            retry_delay(1, Some("soon"), &cfg, 0.0),
            Duration::from_millis(100)
        );
        assert_eq!(retry_delay(60, None, &cfg, 0.0), Duration::from_secs(5));
        let mut huge = cfg.clone();
        huge.jitter = Duration::MAX;
        assert_eq!(retry_delay(1, None, &huge, 1.0), Duration::from_secs(5));
        let f = random_fraction();
        assert!((0.0..=1.0).contains(&f));
    }
}
