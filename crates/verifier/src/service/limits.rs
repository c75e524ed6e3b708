//! What a client can make the service spend, and the layers that hold it
//! to that: the body reader (size, read time-out, memory held by bodies in
//! all), the request time-out, the appraisal gate (how many run at once and
//! how many may wait), and the error shape of every refusal. The
//! connection-level limits (connections, header and idle time-outs,
//! shutdown) are in [`super::server`]. docs/SECURITY.md, "Limits", lists
//! them with their `serve` flags.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::Response;
use axum::Router;
use http_body_util::BodyExt as _;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::openapi::{ErrorBody, RETRY_AFTER_SECS};

pub use tee_attest_maa::limits::{RequestLimits, CLIENT_PAYLOAD_KEYS_CEILING};

/// Body memory is counted in units of this many bytes.
const UNIT: usize = 1024;

/// The service's limits. [`Limits::default`] are the `serve` defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Connections served at once; past it the service stops accepting
    /// (they wait in the kernel's backlog) and first closes connections on
    /// which no request is being handled.
    pub max_connections: usize,
    /// From a connection's start (or the end of its previous response) to
    /// the end of a request's headers; also bounds the TLS handshake.
    pub header_read_timeout: Duration,
    /// A connection on which no byte moves for this long while none of its
    /// requests is being handled is closed (a client that stops reading).
    pub idle_timeout: Duration,
    /// Reading one request body; past it the answer is 408.
    pub body_read_timeout: Duration,
    /// Handling one request once its body is read; past it the answer is
    /// 503 with `Retry-After`.
    pub request_timeout: Duration,
    /// The largest request header section (bytes; at least 8 KiB).
    pub max_header_bytes: usize,
    /// The largest request body (bytes); larger is a 413.
    pub max_body_bytes: usize,
    /// Request bodies held in memory at once, all requests together
    /// (bytes); past it the answer is 503 with `Retry-After`.
    pub max_body_memory: usize,
    /// Appraisals running at once (each on a blocking thread).
    pub max_concurrent_appraisals: usize,
    /// Appraisals waiting for one of those; past it the answer is 429 with
    /// `Retry-After`.
    pub max_queued_appraisals: usize,
    /// After the shutdown signal, how long requests in flight may take
    /// before their connections are closed.
    pub shutdown_grace: Duration,
    /// What one request may make the parsers allocate (JSON depth,
    /// client-payload members, certificates per chain, chain size).
    pub request: RequestLimits,
}

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Self {
            max_connections: 1024,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            body_read_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(30),
            max_header_bytes: 64 * 1024,
            max_body_bytes: super::BODY_LIMIT,
            max_body_memory: 64 * 1024 * 1024,
            max_concurrent_appraisals: 2 * cores,
            max_queued_appraisals: 64,
            shutdown_grace: Duration::from_secs(10),
            request: RequestLimits::default(),
        }
    }
}

// ---------------------------------------------------------------------------
// Refusals, in MAA's shape
// ---------------------------------------------------------------------------

/// A refusal that asks the client to come back later.
fn busy(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let mut r = ErrorBody::response(status, code, message);
    r.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    r
}

/// A refusal after which the connection is not reused: the rest of the
/// body (if any) is not read.
fn closing(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    let mut r = ErrorBody::response(status, code, message);
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// MAA's error code for a status the service answers.
fn code_of(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "InvalidParameter",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        405 => "MethodNotAllowed",
        408 => "RequestTimeout",
        413 => "RequestBodyTooLarge",
        415 => "UnsupportedMediaType",
        429 => "TooManyRequests",
        503 => "ServiceUnavailable",
        s if s >= 500 => "InternalError",
        _ => "BadRequest",
    }
}

/// Every error answer in MAA's shape: one that is not JSON (a refusal some
/// layer wrote as text) is rewritten as `{"error":{"code","message"}}`,
/// keeping its status and headers (`Allow`, `WWW-Authenticate`,
/// `Retry-After`) and its text as the message.
async fn error_shape(req: Request, next: Next) -> Response {
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let text = match http_body_util::Limited::new(body, 4096).collect().await {
        Ok(c) => String::from_utf8_lossy(&c.to_bytes()).trim().to_string(),
        Err(_) => String::new(),
    };
    let message = if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("the request was refused")
            .to_string()
    } else {
        text.chars().take(512).collect()
    };
    let shaped = ErrorBody::response(status, code_of(status), message);
    parts.headers.remove(header::CONTENT_LENGTH);
    let (new_parts, new_body) = shaped.into_parts();
    for (k, v) in &new_parts.headers {
        parts.headers.insert(k.clone(), v.clone());
    }
    Response::from_parts(parts, new_body)
}

// ---------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------

/// Reads request bodies for the routes: at most `max` bytes, within the
/// read time-out, counting the bytes held by all bodies against one
/// budget.
#[derive(Debug)]
struct BodyReader {
    max: usize,
    timeout: Duration,
    budget: Arc<Semaphore>,
    budget_units: usize,
}

impl BodyReader {
    fn new(limits: &Limits) -> Self {
        let units = (limits.max_body_memory / UNIT).clamp(1, Semaphore::MAX_PERMITS);
        Self {
            max: limits.max_body_bytes,
            timeout: limits.body_read_timeout,
            budget: Arc::new(Semaphore::new(units)),
            budget_units: units,
        }
    }

    /// `bytes` more of the budget, added to `held`; false when the budget
    /// cannot spare them now.
    fn reserve(&self, held: &mut Option<OwnedSemaphorePermit>, bytes: usize) -> bool {
        let had = held.as_ref().map_or(0, |p| p.num_permits());
        let want = bytes.div_ceil(UNIT).saturating_sub(had);
        if want == 0 {
            return true;
        }
        if had + want > self.budget_units {
            return false;
        }
        let Ok(n) = u32::try_from(want) else {
            return false;
        };
        match self.budget.clone().try_acquire_many_owned(n) {
            Ok(p) => {
                match held {
                    Some(h) => h.merge(p),
                    None => *held = Some(p),
                }
                true
            }
            Err(_) => false,
        }
    }

    fn too_large(&self, close: bool) -> Response {
        let message = format!(
            "the request body is larger than the service accepts ({} bytes)",
            self.max
        );
        if close {
            closing(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestBodyTooLarge",
                message,
            )
        } else {
            ErrorBody::response(
                StatusCode::PAYLOAD_TOO_LARGE,
                "RequestBodyTooLarge",
                message,
            )
        }
    }

    /// The 413 for a body past the cap, after reading and dropping what
    /// of it comes within the read time-out, up to as much again as the
    /// cap (`seen` bytes are gone already): a client that sends its whole
    /// body before reading the answer gets the answer, not a reset. Past
    /// that, or at the time-out, the answer closes the connection.
    async fn refuse_too_large(
        &self,
        mut body: Body,
        seen: usize,
        deadline: tokio::time::Instant,
    ) -> Response {
        let most = self.max.saturating_mul(2);
        let mut seen = seen;
        while seen <= most {
            match tokio::time::timeout_at(deadline, body.frame()).await {
                Ok(Some(Ok(frame))) => {
                    seen = seen.saturating_add(frame.data_ref().map_or(0, Bytes::len));
                }
                Ok(None) => return self.too_large(false),
                Ok(Some(Err(_))) | Err(_) => break,
            }
        }
        self.too_large(true)
    }

    fn out_of_memory(&self) -> Response {
        busy(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the service holds as many request bodies as it may now: try again later",
        )
    }

    /// The whole body, or the refusal to answer instead.
    async fn read(
        &self,
        mut body: Body,
        expects_continue: bool,
        held: &mut Option<OwnedSemaphorePermit>,
    ) -> Result<Bytes, Response> {
        use axum::body::HttpBody as _;
        let hint = body.size_hint();
        let declared = usize::try_from(hint.lower()).unwrap_or(usize::MAX);
        let deadline = tokio::time::Instant::now() + self.timeout;
        if declared > self.max {
            // A client waiting for `100 Continue` sends nothing more; one
            // that declares more than twice the cap is not waited for.
            if expects_continue || declared / 2 > self.max {
                return Err(self.too_large(!expects_continue));
            }
            return Err(self.refuse_too_large(body, 0, deadline).await);
        }
        if hint.exact() == Some(0) {
            return Ok(Bytes::new());
        }
        if !self.reserve(held, declared) {
            return Err(self.out_of_memory());
        }
        let mut buf = Vec::with_capacity(declared);
        loop {
            let frame = match tokio::time::timeout_at(deadline, body.frame()).await {
                Err(_) => {
                    return Err(closing(
                        StatusCode::REQUEST_TIMEOUT,
                        "RequestTimeout",
                        format!(
                            "the request body was not received within {} s",
                            self.timeout.as_secs_f64()
                        ),
                    ))
                }
                Ok(None) => break,
                Ok(Some(Err(e))) => {
                    return Err(closing(
                        StatusCode::BAD_REQUEST,
                        "InvalidParameter",
                        format!("the request body could not be read: {e}"),
                    ))
                }
                Ok(Some(Ok(f))) => f,
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            let len = buf.len().saturating_add(data.len());
            if len > self.max {
                drop(buf);
                *held = None;
                return Err(self.refuse_too_large(body, len, deadline).await);
            }
            if !self.reserve(held, len) {
                return Err(self.out_of_memory());
            }
            buf.extend_from_slice(&data);
        }
        Ok(Bytes::from(buf))
    }
}

/// Buffers the body (see [`BodyReader`]), then hands the request on; the
/// body's share of the budget is held until the answer is ready.
async fn read_body(reader: Arc<BodyReader>, req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let expects_continue = parts
        .headers
        .get(header::EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"));
    let mut held = None;
    let bytes = match reader.read(body, expects_continue, &mut held).await {
        Ok(b) => b,
        Err(refusal) => return refusal,
    };
    let resp = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    drop(held);
    resp
}

/// The request time-out: 503 with `Retry-After` past it.
async fn request_timeout(timeout: Duration, req: Request, next: Next) -> Response {
    match tokio::time::timeout(timeout, next.run(req)).await {
        Ok(resp) => resp,
        Err(_) => busy(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            format!("the request took longer than {} s", timeout.as_secs_f64()),
        ),
    }
}

/// `app` held to `limits`: bodies read by [`BodyReader`], then the request
/// time-out, and every error answer in MAA's shape.
pub fn limit(app: Router, limits: &Limits) -> Router {
    let reader = Arc::new(BodyReader::new(limits));
    let timeout = limits.request_timeout;
    app.layer(axum::middleware::from_fn(move |req, next| {
        request_timeout(timeout, req, next)
    }))
    .layer(axum::middleware::from_fn(move |req, next| {
        read_body(reader.clone(), req, next)
    }))
    .layer(axum::middleware::from_fn(error_shape))
}

// ---------------------------------------------------------------------------
// Appraisals
// ---------------------------------------------------------------------------

/// How many appraisals run at once and how many may wait: a request past
/// both is refused at once (429), never queued without bound.
#[derive(Debug)]
pub(crate) struct AppraisalGate {
    /// Running or waiting.
    admitted: Arc<Semaphore>,
    /// Running.
    running: Arc<Semaphore>,
}

/// The right to run one appraisal; dropping it lets the next one run.
#[derive(Debug)]
pub(crate) struct AppraisalPermit {
    _admitted: OwnedSemaphorePermit,
    _running: OwnedSemaphorePermit,
}

impl AppraisalGate {
    pub(crate) fn new(limits: &Limits) -> Self {
        let running = limits.max_concurrent_appraisals.max(1);
        Self {
            admitted: Arc::new(Semaphore::new(
                running.saturating_add(limits.max_queued_appraisals),
            )),
            running: Arc::new(Semaphore::new(running)),
        }
    }

    /// A permit to run, after waiting in the queue if there is room in it;
    /// the refusal (429 with `Retry-After`) when there is not.
    pub(crate) async fn enter(&self) -> Result<AppraisalPermit, Response> {
        let admitted = self.admitted.clone().try_acquire_owned().map_err(|_| {
            busy(
                StatusCode::TOO_MANY_REQUESTS,
                "TooManyRequests",
                "too many attestation requests are being appraised or waiting: try again later",
            )
        })?;
        let running = self.running.clone().acquire_owned().await.map_err(|_| {
            busy(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "the service is stopping",
            )
        })?;
        Ok(AppraisalPermit {
            _admitted: admitted,
            _running: running,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_gate_queues_up_to_its_bound_and_refuses_past_it() {
        let limits = Limits {
            max_concurrent_appraisals: 1,
            max_queued_appraisals: 1,
            ..Limits::default()
        };
        let gate = Arc::new(AppraisalGate::new(&limits));
        let first = gate.enter().await.unwrap();
        // The second waits for the first…
        let g = gate.clone();
        let second = tokio::spawn(async move { g.enter().await.map(|_| ()) });
        tokio::task::yield_now().await;
        while gate.admitted.available_permits() != 0 {
            tokio::task::yield_now().await;
        }
        // …and the third is refused at once.
        let third = gate.enter().await.unwrap_err();
        assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(third.headers().contains_key(header::RETRY_AFTER));
        drop(first);
        second.await.unwrap().unwrap();
    }

    #[test]
    fn the_budget_is_all_bodies_together() {
        let limits = Limits {
            max_body_memory: 4 * UNIT,
            ..Limits::default()
        };
        let reader = BodyReader::new(&limits);
        let (mut a, mut b) = (None, None);
        assert!(reader.reserve(&mut a, 3 * UNIT));
        assert!(!reader.reserve(&mut b, 2 * UNIT), "only one unit is left");
        assert!(reader.reserve(&mut b, UNIT));
        drop(a);
        assert!(reader.reserve(&mut b, 4 * UNIT), "a's units came back");
    }
}
