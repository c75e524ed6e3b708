//! A mock Azure IMDS on loopback, serving what a mock CVM's provider asks
//! IMDS for, as Azure's does:
//!
//! ```text
//! GET  /metadata/THIM/amd/certification    Metadata: true
//!      ─▶ 200 {"vcekCert", "certificateChain", "tcbm"} (PEM)          (SEV-SNP)
//! POST /acc/tdquote                         Content-Type: application/json (exactly;
//!      {"report": base64url(TDREPORT)}      else 415), Metadata: true
//!      ─▶ 200 {"quote": base64url(TD quote)}                            (TDX)
//! ```
//!
//! Without `Metadata: true` both answer 400; a TD quote request whose
//! report is not base64 of a 1024-byte TDREPORT made on the mock platform
//! is 400 too. Nothing here reaches the real IMDS.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use tokio::sync::oneshot;

use crate::intel::MockIntelPlatform;
use crate::MockError;

/// The THIM route.
const THIM_PATH: &str = "/metadata/THIM/amd/certification";
/// The TD quote route.
const TDQUOTE_PATH: &str = "/acc/tdquote";
/// The largest TD quote request read (a TDREPORT in base64 is ~1.4 KiB).
const TDQUOTE_BODY_MAX: usize = 64 * 1024;

/// A running mock IMDS; stops when dropped.
#[derive(Debug)]
pub struct MockImds {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
    tdquotes: Arc<AtomicU64>,
}

/// The former name of [`MockImds`], which served THIM only.
pub type MockThim = MockImds;

fn has_metadata_header(headers: &HeaderMap) -> bool {
    headers.get("metadata").and_then(|v| v.to_str().ok()) == Some("true")
}

fn bad_request(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": message.into() })),
    )
        .into_response()
}

/// base64url or base64, with or without padding.
fn decode_b64(text: &str) -> Option<Vec<u8>> {
    let t = text.trim().trim_end_matches('=');
    URL_SAFE_NO_PAD
        .decode(t)
        .or_else(|_| STANDARD_NO_PAD.decode(t))
        .ok()
}

/// `POST /acc/tdquote`: the mock quoting enclave's v4 quote of the
/// TDREPORT posted.
fn tdquote(
    platform: &MockIntelPlatform,
    served: &AtomicU64,
    headers: &HeaderMap,
    body: &[u8],
) -> Response {
    // IMDS takes exactly `application/json`, not even with parameters.
    if headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        != Some("application/json")
    {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Unsupported Media Type: Content-Type must be application/json",
        )
            .into_response();
    }
    if !has_metadata_header(headers) {
        return bad_request("Required metadata header not specified");
    }
    if body.len() > TDQUOTE_BODY_MAX {
        return bad_request("request body too large");
    }
    let Ok(request) = serde_json::from_slice::<serde_json::Value>(body) else {
        return bad_request("the body is not JSON");
    };
    let Some(report) = request
        .get("report")
        .and_then(serde_json::Value::as_str)
        .and_then(decode_b64)
    else {
        return bad_request("no base64url \"report\" in the body");
    };
    match platform.quote_from_tdreport(&report) {
        Ok(quote) => {
            served.fetch_add(1, Ordering::Relaxed);
            Json(serde_json::json!({ "quote": URL_SAFE_NO_PAD.encode(quote) })).into_response()
        }
        Err(e) => bad_request(format!("the report cannot be quoted: {e}")),
    }
}

impl MockImds {
    /// Serve THIM only, answering `body` (the THIM JSON), on a free
    /// loopback port.
    pub fn start(body: serde_json::Value) -> Result<Self, MockError> {
        Self::serve(Some(body), None)
    }

    /// Serve the TD quote service only: TDREPORTs made on `platform` are
    /// quoted by its mock quoting enclave (v4 quotes).
    pub fn start_tdquote(platform: Arc<MockIntelPlatform>) -> Result<Self, MockError> {
        Self::serve(None, Some(platform))
    }

    /// Serve THIM with `thim` and the TD quote service of `tdquote`, each
    /// when given, on a free loopback port.
    pub fn serve(
        thim: Option<serde_json::Value>,
        tdquote_platform: Option<Arc<MockIntelPlatform>>,
    ) -> Result<Self, MockError> {
        let spawn_err = |source| MockError::Spawn {
            hint: "starting the mock IMDS server",
            source,
        };
        let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).map_err(spawn_err)?;
        listener.set_nonblocking(true).map_err(spawn_err)?;
        let addr = listener.local_addr().map_err(spawn_err)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(spawn_err)?;
        let tdquotes = Arc::new(AtomicU64::new(0));
        let mut app = Router::new();
        if let Some(body) = thim {
            app = app.route(
                THIM_PATH,
                get(move |headers: HeaderMap| {
                    let body = body.clone();
                    async move {
                        if !has_metadata_header(&headers) {
                            return Err((
                                StatusCode::BAD_REQUEST,
                                "Required metadata header not specified",
                            ));
                        }
                        Ok(Json(body))
                    }
                }),
            );
        }
        if let Some(platform) = tdquote_platform {
            let served = tdquotes.clone();
            app = app.route(
                TDQUOTE_PATH,
                post(move |headers: HeaderMap, body: Bytes| {
                    let (platform, served) = (platform.clone(), served.clone());
                    async move {
                        // Signing is CPU work: off the (single) runtime thread.
                        tokio::task::spawn_blocking(move || {
                            tdquote(&platform, &served, &headers, &body)
                        })
                        .await
                        .unwrap_or_else(|_| {
                            (
                                StatusCode::INTERNAL_SERVER_ERROR,
                                "the mock quoting enclave failed",
                            )
                                .into_response()
                        })
                    }
                }),
            );
        }
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            runtime.block_on(async move {
                let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
                    return;
                };
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        Ok(Self {
            addr,
            stop: Some(tx),
            thread: Some(thread),
            tdquotes,
        })
    }

    /// The base URL to give an IMDS client (`http://127.0.0.1:PORT`).
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// How many TD quotes it has served.
    pub fn tdquotes_served(&self) -> u64 {
        self.tdquotes.load(Ordering::Relaxed)
    }
}

impl Drop for MockImds {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
