//! Test support for the Azure TDX tests: TD quotes made from the real
//! vectors to fit a TDREPORT, and a loopback IMDS TD quote service that
//! behaves as Azure's does (Content-Type exactly `application/json`, else
//! 415; `Metadata: true`).
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest_testkit::vector;

/// The real v4 TD quote (`tdx-dcap/quote.bin`) with its body's TEE_TCB_INFO
/// fields, TDINFO fields and REPORTDATA replaced by those of `td_report`:
/// a quote "of" that TDREPORT (its signatures no longer verify; the
/// provider does not check them).
pub fn quote_for(td_report: &[u8]) -> Vec<u8> {
    let mut q = vector("tdx-dcap/quote.bin");
    let body = 48;
    // TEE_TCB_SVN, MRSEAM, MRSIGNERSEAM, SEAMATTRIBUTES (after `valid`).
    q[body..body + 120].copy_from_slice(&td_report[256 + 8..256 + 128]);
    // TDATTRIBUTES, XFAM, MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG, RTMR0–3.
    q[body + 120..body + 520].copy_from_slice(&td_report[512..912]);
    // REPORTDATA.
    q[body + 520..body + 584].copy_from_slice(&td_report[128..192]);
    q
}

/// What the loopback IMDS answers to one request.
#[derive(Clone, Debug)]
pub enum Answer {
    /// `{"quote": base64url(quote_for(report))}`.
    Quote,
    /// `{"quote": base64url(these bytes)}`.
    QuoteBytes(Vec<u8>),
    /// This status and body.
    Status(u16, &'static str),
    /// 200 with this body.
    Body(&'static str),
}

/// The loopback IMDS's script and what it saw.
pub struct Imds {
    answers: Mutex<VecDeque<Answer>>,
    default: Answer,
    /// Requests received.
    pub hits: AtomicUsize,
    /// The TDREPORTs received.
    pub reports: Mutex<Vec<Vec<u8>>>,
}

impl Imds {
    /// A script answering `answers` in turn, then `default`.
    pub fn new(answers: Vec<Answer>, default: Answer) -> Arc<Self> {
        Arc::new(Self {
            answers: Mutex::new(answers.into()),
            default,
            hits: AtomicUsize::new(0),
            reports: Mutex::new(Vec::new()),
        })
    }

    /// Requests received.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

async fn tdquote(State(s): State<Arc<Imds>>, headers: HeaderMap, body: Bytes) -> Response {
    s.hits.fetch_add(1, Ordering::SeqCst);
    // Azure's IMDS: the media type exactly, else 415.
    if headers.get("content-type").map(|v| v.as_bytes()) != Some(b"application/json".as_slice()) {
        return (StatusCode::UNSUPPORTED_MEDIA_TYPE, "").into_response();
    }
    if headers.get("metadata").map(|v| v.as_bytes()) != Some(b"true".as_slice()) {
        return (StatusCode::BAD_REQUEST, "Metadata header required").into_response();
    }
    let Ok(v) = serde_json::from_slice::<Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not JSON").into_response();
    };
    let Some(report) = v
        .get("report")
        .and_then(Value::as_str)
        .and_then(|r| URL_SAFE_NO_PAD.decode(r).ok())
    else {
        return (StatusCode::BAD_REQUEST, "no base64url report").into_response();
    };
    if report.len() != 1024 {
        return (StatusCode::BAD_REQUEST, "not a TDREPORT").into_response();
    }
    s.reports.lock().unwrap().push(report.clone());
    let answer = s
        .answers
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or_else(|| s.default.clone());
    match answer {
        Answer::Quote => {
            Json(json!({"quote": URL_SAFE_NO_PAD.encode(quote_for(&report))})).into_response()
        }
        Answer::QuoteBytes(q) => Json(json!({"quote": URL_SAFE_NO_PAD.encode(q)})).into_response(),
        Answer::Status(code, body) => (StatusCode::from_u16(code).unwrap(), body).into_response(),
        Answer::Body(b) => (StatusCode::OK, b).into_response(),
    }
}

/// Serves `script` as IMDS's `/acc/tdquote` on 127.0.0.1; returns the base URL.
pub async fn imds(script: Arc<Imds>) -> String {
    let app = Router::new()
        .route("/acc/tdquote", post(tdquote))
        .with_state(script);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}
