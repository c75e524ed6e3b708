//! A small HTTP GET with bounded retries, backoff and `Retry-After`.

use std::time::Duration;

use crate::error::SnpError;

/// How collateral is fetched over HTTP.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct HttpConfig {
    /// Time-out of one whole request (connect, send, read the body).
    pub timeout: Duration,
    /// Time-out of connecting.
    pub connect_timeout: Duration,
    /// Attempts in all (≥ 1) for retryable failures (408, 429, 5xx and
    /// transport errors).
    pub max_attempts: u32,
    /// Backoff before the second attempt; doubled for each further one.
    pub backoff: Duration,
    /// The longest wait, whatever `Retry-After` or the backoff says.
    pub max_wait: Duration,
    /// Whether to use the `HTTP(S)_PROXY` environment (off by default:
    /// IMDS must never be reached through a proxy).
    pub proxy_from_env: bool,
}

impl Default for HttpConfig {
    /// 10 s per request, 3 attempts, 1 s backoff doubling, waits capped at
    /// 30 s (Microsoft's client retries 3 times too).
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            max_attempts: 3,
            backoff: Duration::from_secs(1),
            max_wait: Duration::from_secs(30),
            proxy_from_env: false,
        }
    }
}

impl HttpConfig {
    /// A configuration for tests: short time-outs and waits.
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
            max_wait,
            proxy_from_env: false,
        }
    }
}

/// The wait before attempt `attempt + 1` (after `attempt` failures,
/// counting from 1): `backoff · 2^(attempt-1)`, or the `Retry-After`
/// seconds when the server sent more, capped at `max_wait`.
pub fn retry_delay(attempt: u32, retry_after: Option<&str>, cfg: &HttpConfig) -> Duration {
    let exp = attempt.saturating_sub(1).min(16);
    let backoff = cfg.backoff.saturating_mul(1u32 << exp);
    let server = retry_after
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or_default();
    backoff.max(server).min(cfg.max_wait)
}

/// An HTTP client for collateral.
#[derive(Debug, Clone)]
pub struct Http {
    client: reqwest::Client,
    cfg: HttpConfig,
}

impl Http {
    /// A client with `cfg`.
    pub fn new(cfg: HttpConfig) -> Result<Self, SnpError> {
        let mut b = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout);
        if !cfg.proxy_from_env {
            b = b.no_proxy();
        }
        let client = b
            .build()
            .map_err(|e| SnpError::InvalidInput(format!("HTTP client: {e}")))?;
        Ok(Self { client, cfg })
    }

    /// The configuration.
    pub fn config(&self) -> &HttpConfig {
        &self.cfg
    }

    /// GETs `url` with `headers`, retrying 408, 429, 5xx and transport
    /// errors up to `max_attempts` times. A transport error on every attempt
    /// is code 7; retryable statuses on every attempt code 4; any other
    /// error status code 5.
    pub async fn get(&self, url: &str, headers: &[(&str, &str)]) -> Result<Vec<u8>, SnpError> {
        let attempts = self.cfg.max_attempts.max(1);
        let mut last_status = 0u16;
        let mut last_transport: Option<String> = None;
        for attempt in 1..=attempts {
            let mut req = self.client.get(url);
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            let mut retry_after = None;
            match req.send().await {
                Err(e) => {
                    tracing::debug!(url, attempt, "collateral request failed: {e}");
                    last_transport = Some(describe(&e));
                }
                Ok(resp) => {
                    let status = resp.status();
                    if status.is_success() {
                        match resp.bytes().await {
                            Ok(b) => return Ok(b.to_vec()),
                            Err(e) => last_transport = Some(describe(&e)),
                        }
                    } else {
                        let code = status.as_u16();
                        if !(code == 408 || code == 429 || status.is_server_error()) {
                            return Err(SnpError::HttpStatus {
                                url: url.to_string(),
                                status: code,
                            });
                        }
                        last_status = code;
                        last_transport = None;
                        retry_after = resp
                            .headers()
                            .get(reqwest::header::RETRY_AFTER)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                    }
                }
            }
            if attempt < attempts {
                tokio::time::sleep(retry_delay(attempt, retry_after.as_deref(), &self.cfg)).await;
            }
        }
        match last_transport {
            Some(reason) => Err(SnpError::Unreachable {
                url: url.to_string(),
                reason: format!("{reason} (after {attempts} attempts)"),
            }),
            None => Err(SnpError::RetriesExceeded {
                url: url.to_string(),
                attempts,
                status: last_status,
            }),
        }
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
    fn delays() {
        let cfg = HttpConfig::fast(
            Duration::from_secs(1),
            3,
            Duration::from_millis(100),
            Duration::from_secs(5),
        );
        assert_eq!(retry_delay(1, None, &cfg), Duration::from_millis(100));
        assert_eq!(retry_delay(2, None, &cfg), Duration::from_millis(200));
        assert_eq!(retry_delay(3, None, &cfg), Duration::from_millis(400));
        // Retry-After wins when longer, and is capped.
        assert_eq!(retry_delay(1, Some("2"), &cfg), Duration::from_secs(2));
        assert_eq!(retry_delay(1, Some("3600"), &cfg), Duration::from_secs(5));
        assert_eq!(
            retry_delay(1, Some("soon"), &cfg),
            Duration::from_millis(100)
        );
        assert_eq!(retry_delay(40, None, &cfg), Duration::from_secs(5));
    }
}
