//! The ITA client against a scripted ITA server on 127.0.0.1: the nonce,
//! bare TDX and Azure TDX attestation, every status code, slow, truncated,
//! non-JSON and empty answers — each ending in the right code within a
//! bounded time —, the headers sent, and the API key kept out of errors.

mod common;

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use tee_attest_core::{CodedError, Evidence, EvidenceType, TeeId, Verifier, VerifyOptions};
use tee_attest_ita::{
    ApiKey, FixedClock, HttpConfig, ItaClient, ItaConfig, ItaError, ItaValidator, KeyTrust,
    TokenAlg, TokenCheck, AZURE_GUEST_TDX, TDX_VM,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const API_KEY: &str = "test-api-key-0123456789abcdef";

#[derive(Clone, Debug)]
enum Step {
    /// Answer as ITA would.
    Ok,
    /// A status with a body and an optional Retry-After.
    Status(u16, &'static str, Option<&'static str>),
    /// Sleep, then answer like `Ok`.
    Slow(Duration),
    /// 200 with this body.
    Body(&'static str),
    /// A token for another nonce.
    WrongNonce,
    /// A token whose policies did not match.
    Unmatched,
    /// An error answer quoting the API key it was sent.
    EchoKey,
    /// A redirect to this URL.
    Redirect(String),
}

#[derive(Default)]
struct Seen {
    api_keys: Vec<Option<String>>,
    request_ids: Vec<Option<String>>,
    accepts: Vec<Option<String>>,
    content_types: Vec<Option<String>>,
    bodies: Vec<Value>,
    paths: Vec<String>,
}

struct Script {
    nonce_steps: Mutex<VecDeque<Step>>,
    attest_steps: Mutex<VecDeque<Step>>,
    nonce_hits: AtomicUsize,
    attest_hits: AtomicUsize,
    seen: Mutex<Seen>,
    counter: AtomicUsize,
}

impl Script {
    fn new(nonce: Vec<Step>, attest: Vec<Step>) -> Arc<Self> {
        Arc::new(Self {
            nonce_steps: Mutex::new(nonce.into()),
            attest_steps: Mutex::new(attest.into()),
            nonce_hits: AtomicUsize::new(0),
            attest_hits: AtomicUsize::new(0),
            seen: Mutex::new(Seen::default()),
            counter: AtomicUsize::new(0),
        })
    }

    fn record(&self, path: &str, h: &HeaderMap, body: Option<Value>) {
        let get = |n: &str| h.get(n).and_then(|v| v.to_str().ok()).map(str::to_string);
        let mut s = self.seen.lock().unwrap();
        s.api_keys.push(get("x-api-key"));
        s.request_ids.push(get("request-id"));
        s.accepts.push(get("accept"));
        s.content_types.push(get("content-type"));
        s.paths.push(path.to_string());
        if let Some(b) = body {
            s.bodies.push(b);
        }
    }
}

fn next(steps: &Mutex<VecDeque<Step>>) -> Step {
    steps.lock().unwrap().pop_front().unwrap_or(Step::Ok)
}

fn canned(step: &Step, api_key: Option<&str>) -> Option<Response> {
    match step {
        Step::Status(code, body, retry_after) => {
            let mut r = (StatusCode::from_u16(*code).unwrap(), *body).into_response();
            if let Some(ra) = retry_after {
                r.headers_mut().insert("retry-after", ra.parse().unwrap());
            }
            r.headers_mut()
                .insert("trace-id", "trace-abc".parse().unwrap());
            Some(r)
        }
        Step::Body(b) => Some((StatusCode::OK, *b).into_response()),
        Step::EchoKey => Some(
            (
                StatusCode::BAD_REQUEST,
                json!({"error": format!("invalid api key {}", api_key.unwrap_or_default())})
                    .to_string(),
            )
                .into_response(),
        ),
        Step::Redirect(to) => {
            let mut r = StatusCode::FOUND.into_response();
            r.headers_mut().insert("location", to.parse().unwrap());
            Some(r)
        }
        _ => None,
    }
}

async fn nonce_route(State(s): State<Arc<Script>>, headers: HeaderMap) -> Response {
    s.nonce_hits.fetch_add(1, Ordering::SeqCst);
    s.record("/appraisal/v2/nonce", &headers, None);
    let step = next(&s.nonce_steps);
    if let Step::Slow(d) = step {
        tokio::time::sleep(d).await;
    }
    if let Some(r) = canned(
        &step,
        headers.get("x-api-key").and_then(|v| v.to_str().ok()),
    ) {
        return r;
    }
    let i = s.counter.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({
        "val": STANDARD.encode(format!("nonce-value-{i}")),
        "iat": STANDARD.encode(format!("2025-10-09 08:53:{i:02}.000000000 +0000 UTC")),
        "signature": STANDARD.encode([0xa5u8; 384]),
    }))
    .into_response()
}

fn b64(v: &Value) -> Vec<u8> {
    STANDARD.decode(v.as_str().unwrap()).unwrap()
}

fn sha512(parts: &[&[u8]]) -> Vec<u8> {
    let mut c = digest::Context::new(&digest::SHA512);
    for p in parts {
        c.update(p);
    }
    c.finish().as_ref().to_vec()
}

/// What ITA checks: the report data binds the nonce and the user data.
fn binding_ok(path: &str, tdx: &Value) -> bool {
    let n = &tdx["verifier_nonce"];
    let (val, iat) = (b64(&n["val"]), b64(&n["iat"]));
    let quote = b64(&tdx["quote"]);
    if path.ends_with("/azure") {
        let var: Value = serde_json::from_slice(&b64(&tdx["runtime_data"])).unwrap();
        let want = hex_upper(&sha512(&[&val, &iat, &b64(&tdx["user_data"])]));
        var["user-data"].as_str() == Some(want.as_str())
    } else {
        let rd = sha512(&[&val, &iat, &b64(&tdx["runtime_data"])]);
        quote.get(568..632) == Some(&rd[..])
    }
}

fn hex_upper(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}

async fn attest_route(
    State(s): State<Arc<Script>>,
    uri: axum::http::Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.attest_hits.fetch_add(1, Ordering::SeqCst);
    let req: Value = serde_json::from_slice(&body).unwrap();
    s.record(uri.path(), &headers, Some(req.clone()));
    let step = next(&s.attest_steps);
    if let Step::Slow(d) = step {
        tokio::time::sleep(d).await;
    }
    if let Some(r) = canned(
        &step,
        headers.get("x-api-key").and_then(|v| v.to_str().ok()),
    ) {
        return r;
    }
    let tdx = &req["tdx"];
    if !binding_ok(uri.path(), tdx) {
        return (
            StatusCode::BAD_REQUEST,
            r#"{"error":"report data does not match the nonce and runtime data"}"#,
        )
            .into_response();
    }
    let mut c = claims();
    let mut n = tdx["verifier_nonce"].clone();
    if matches!(step, Step::WrongNonce) {
        n["val"] = json!(STANDARD.encode("an older nonce"));
    }
    c["verifier_nonce"] = n.clone();
    c["tdx"]["verifier_nonce"] = n;
    let user = tdx.get("user_data").unwrap_or(&tdx["runtime_data"]);
    c["tdx"]["attester_runtime_data"] = serde_json::from_slice(&b64(user)).unwrap_or(Value::Null);
    let ids = req["policy_ids"].as_array().cloned().unwrap_or_default();
    let refs: Vec<Value> = ids
        .iter()
        .map(|id| json!({"id": id, "version": "v1"}))
        .collect();
    if matches!(step, Step::Unmatched) {
        c["policy_ids_matched"] = json!(null);
        c["policy_ids_unmatched"] = json!(refs);
    } else {
        c["policy_ids_matched"] = json!(refs);
    }
    let mut h = header();
    if let Some(alg) = req["token_signing_alg"].as_str() {
        h["alg"] = json!(alg);
    }
    let token = sign_json(&h, &c, signing_key());
    axum::Json(json!({"token": token})).into_response()
}

async fn certs_route() -> Response {
    axum::Json(jwks_doc()).into_response()
}

async fn ita_server(script: Arc<Script>) -> String {
    let app = Router::new()
        .route("/appraisal/v2/nonce", get(nonce_route))
        .route("/appraisal/v2/attest", post(attest_route))
        .route("/appraisal/v2/attest/azure", post(attest_route))
        .route("/certs", get(certs_route))
        .with_state(script);
    serve(app).await
}

fn http(attempts: u32) -> HttpConfig {
    HttpConfig::fast(
        Duration::from_millis(800),
        attempts,
        Duration::from_millis(20),
        Duration::from_millis(200),
    )
}

fn client_for(base: &str, attempts: u32) -> ItaClient {
    client_with(
        ItaConfig::new(base, ApiKey::new(API_KEY).unwrap()),
        attempts,
    )
}

fn client_with(config: ItaConfig, attempts: u32) -> ItaClient {
    let base = config.base_url.clone();
    let config = config
        .with_http(http(attempts))
        .with_pinned_roots(pki().roots());
    let validator = ItaValidator::with_certs_url(
        &format!("{base}/certs"),
        KeyTrust::Pinned(pki().roots()),
        http(attempts),
    )
    .unwrap()
    .with_clock(Arc::new(FixedClock(NOW)));
    ItaClient::new(config).unwrap().with_validator(validator)
}

/// A v4 TD quote carrying `report_data` (the rest is filler: the scripted
/// server, like ITA, reads the report data at its offset).
fn quote_with(report_data: &[u8; 64]) -> Vec<u8> {
    let mut q = vec![0u8; 1024];
    q[0] = 4;
    q[2] = 2;
    q[4] = 0x81;
    q[568..632].copy_from_slice(report_data);
    q
}

fn payload() -> BTreeMap<String, String> {
    BTreeMap::from([("app".to_string(), "demo".to_string())])
}

/// Challenge, then evidence as the bare TDX provider makes it.
async fn tdx_evidence(client: &ItaClient) -> Evidence {
    let c = client.challenge(TDX_VM, b"n-1", &payload()).await.unwrap();
    let mut e = Evidence::new(TeeId::new("tdx"), TDX_VM);
    e.hardware_report = quote_with(&c.report_data);
    e.runtime_data = c.runtime_data;
    e.runtime_data_json = c.runtime_data_json;
    e.event_log = Some(b"CCEL event log".to_vec());
    e.nonce = c.nonce;
    e
}

fn options() -> VerifyOptions {
    let mut o = VerifyOptions::default();
    o.nonce = Some(b"n-1".to_vec());
    o
}

async fn verify_err(client: &ItaClient) -> tee_attest_core::Error {
    let e = tdx_evidence(client).await;
    client.verify(&e, &options()).await.unwrap_err()
}

#[tokio::test]
async fn bare_tdx_attestation_end_to_end() {
    let s = Script::new(vec![], vec![]);
    let base = ita_server(s.clone()).await;
    let client = client_for(&base, 2);
    assert_eq!(client.name(), "ita");
    let e = tdx_evidence(&client).await;
    let token = client.verify(&e, &options()).await.unwrap();
    assert_eq!(token.issuer(), Some("Intel Trust Authority"));
    assert_eq!(
        token.claim("tdx.attester_runtime_data"),
        Some(&json!({"app": "demo", "nonce": "n-1"}))
    );
    {
        let seen = s.seen.lock().unwrap();
        assert_eq!(seen.paths, ["/appraisal/v2/nonce", "/appraisal/v2/attest"]);
        // The API key, JSON accept and a request-id on every request.
        assert!(seen.api_keys.iter().all(|k| k.as_deref() == Some(API_KEY)));
        assert!(seen
            .accepts
            .iter()
            .all(|a| a.as_deref() == Some("application/json")));
        assert_eq!(seen.content_types[1].as_deref(), Some("application/json"));
        for id in &seen.request_ids {
            let id = id.as_deref().unwrap();
            assert!(tee_attest_ita::request::is_uuid(id), "{id}");
        }
        // The body: composite v2, base64 fields, the event log, no options.
        let b = &seen.bodies[0];
        assert_eq!(b64(&b["tdx"]["quote"]), e.hardware_report);
        assert_eq!(b64(&b["tdx"]["runtime_data"]), e.runtime_data);
        assert_eq!(b64(&b["tdx"]["event_log"]), b"CCEL event log");
        assert!(b["tdx"].get("user_data").is_none());
        assert!(b.get("policy_ids").is_none());
        assert!(b.get("token_signing_alg").is_none());
    }
    // A challenge is used once.
    let again = client.verify(&e, &options()).await.unwrap_err();
    assert_eq!(again.code().number(), 8, "{again}");
}

#[tokio::test]
async fn azure_tdx_attestation_end_to_end() {
    let s = Script::new(vec![], vec![]);
    let base = ita_server(s.clone()).await;
    let client = client_for(&base, 2);
    let c = client
        .challenge(AZURE_GUEST_TDX, b"n-1", &payload())
        .await
        .unwrap();
    // As the Azure TDX provider makes it: the HCL user data is the
    // challenge's report data, the variable data carries it (hex).
    let var_data = json!({
        "keys": [{"kid": "HCLAkPub", "kty": "RSA", "e": "AQAB", "n": "rpA2ew"}],
        "user-data": hex_upper(&c.report_data),
        "vm-configuration": {"secure-boot": true, "tpm-enabled": true}
    })
    .to_string()
    .into_bytes();
    let mut e = Evidence::new(TeeId::new("azure-tdx"), AZURE_GUEST_TDX);
    e.hardware_report = vec![4, 0, 2, 0, 0x81, 0, 0, 0, 1, 2, 3];
    e.runtime_data = var_data.clone();
    e.event_log = Some(b"TCG log".to_vec());
    e.nonce = c.nonce.clone();
    let token = client.verify(&e, &options()).await.unwrap();
    assert_eq!(token.claim("tdx.attester_type"), Some(&json!("TDX")));
    let seen = s.seen.lock().unwrap();
    assert_eq!(seen.paths[1], "/appraisal/v2/attest/azure");
    let b = &seen.bodies[0];
    assert_eq!(b64(&b["tdx"]["runtime_data"]), var_data);
    assert_eq!(b64(&b["tdx"]["user_data"]), c.runtime_data);
    assert!(
        b["tdx"].get("event_log").is_none(),
        "the Azure route takes no event log"
    );
}

#[tokio::test]
async fn policies_and_signing_algorithm_are_sent_and_checked() {
    let s = Script::new(vec![], vec![Step::Ok, Step::Unmatched]);
    let base = ita_server(s.clone()).await;
    let config = ItaConfig::new(&base, ApiKey::new(API_KEY).unwrap())
        .with_policies([POLICY.to_uppercase()], true)
        .unwrap()
        .with_token_signing_alg(TokenAlg::Rs256);
    let client = client_with(config, 1);
    let e = tdx_evidence(&client).await;
    let token = client.verify(&e, &options()).await.unwrap();
    assert_eq!(token.header()["alg"], "RS256");
    {
        let seen = s.seen.lock().unwrap();
        let b = &seen.bodies[0];
        assert_eq!(b["policy_ids"], json!([POLICY]));
        assert_eq!(b["policy_must_match"], true);
        assert_eq!(b["token_signing_alg"], "RS256");
    }
    // Not matched: refused by the client even though ITA issued a token.
    let e = tdx_evidence(&client).await;
    let err = client.verify(&e, &options()).await.unwrap_err();
    assert_eq!(err.code().number(), 6, "{err}");
    assert!(err.to_string().contains("policy"), "{err}");
    assert!(ItaConfig::new(&base, ApiKey::new(API_KEY).unwrap())
        .with_policies(["not-a-uuid".to_string()], true)
        .is_err());
}

#[tokio::test]
async fn a_token_for_another_nonce_is_refused() {
    let s = Script::new(vec![], vec![Step::WrongNonce]);
    let client = client_for(&ita_server(s).await, 1);
    let e = tdx_evidence(&client).await;
    let err = client.attest_evidence(&e, &options()).await.unwrap_err();
    assert_eq!(err.token_check(), Some(TokenCheck::VerifierNonce), "{err}");
    assert_eq!(err.code().number(), 6);
}

/// Runs `f` and checks it ends within `limit`.
async fn bounded<T>(limit: Duration, f: impl std::future::Future<Output = T>) -> T {
    let start = Instant::now();
    let out = tokio::time::timeout(limit, f).await.expect("took too long");
    assert!(start.elapsed() < limit);
    out
}

#[tokio::test]
async fn status_codes_map_to_spec_codes() {
    let cases: Vec<(Step, u32)> = vec![
        (Step::Status(401, r#"{"error":"Unauthorized"}"#, None), 3),
        (Step::Status(403, r#"{"error":"Forbidden"}"#, None), 3),
        (Step::Status(400, r#"{"error":"Invalid quote"}"#, None), 6),
        (Step::Status(404, "not found", None), 6),
        (Step::Status(413, "", None), 6),
        (Step::Status(429, "slow down", Some("0")), 4),
        (Step::Status(500, "", None), 4),
        (Step::Status(502, "", None), 4),
        (Step::Status(503, "", Some("0")), 4),
        (Step::Status(504, "", None), 4),
        (Step::Body("<html>not json</html>"), 16),
        (Step::Body(""), 18),
        (Step::Body("   "), 18),
        (Step::Body(r#"{"token":""}"#), 18),
        (Step::Body(r#"{"token":42}"#), 16),
        (Step::Body(r#"{"token":"a.b"#), 16),
        (Step::Body(r#"{"token":"not-a-jwt"}"#), 22),
    ];
    for (step, code) in cases {
        // On the attestation.
        let retried = matches!(step, Step::Status(429 | 500..=599, ..));
        let s = Script::new(vec![], vec![step.clone(); 3]);
        let client = client_for(&ita_server(s.clone()).await, 3);
        let err = bounded(Duration::from_secs(10), verify_err(&client)).await;
        assert_eq!(err.code().number(), code, "{step:?}: {err}");
        assert_eq!(
            s.attest_hits.load(Ordering::SeqCst),
            if retried { 3 } else { 1 },
            "{step:?}"
        );
        // The request-id sent is the one reported.
        if matches!(step, Step::Status(..)) {
            let sent = s.seen.lock().unwrap().request_ids[1].clone().unwrap();
            assert!(err.to_string().contains(&sent), "{step:?}: {err}");
        }
        // On the nonce, where it applies.
        if matches!(step, Step::Status(..)) {
            let s = Script::new(vec![step.clone(); 3], vec![]);
            let client = client_for(&ita_server(s.clone()).await, 3);
            let err = bounded(Duration::from_secs(10), client.nonce())
                .await
                .unwrap_err();
            assert_eq!(err.code().number(), code, "nonce {step:?}: {err}");
            assert!(err.request_id().is_some(), "{err}");
        }
    }
}

#[tokio::test]
async fn ita_messages_are_reported() {
    let s = Script::new(
        vec![],
        vec![Step::Status(400, r#"{"error":"Invalid quote"}"#, None)],
    );
    let client = client_for(&ita_server(s).await, 1);
    let err = verify_err(&client).await;
    let text = err.to_string();
    assert!(text.contains("Invalid quote"), "{text}");
    assert!(text.contains("HTTP 400"), "{text}");
    assert!(text.contains("trace-abc"), "{text}");
}

#[tokio::test]
async fn retries_recover() {
    let s = Script::new(
        vec![Step::Status(503, "", Some("0"))],
        vec![
            Step::Status(429, "", Some("0")),
            Step::Status(500, "", None),
        ],
    );
    let client = client_for(&ita_server(s.clone()).await, 3);
    let e = tdx_evidence(&client).await;
    client.verify(&e, &options()).await.unwrap();
    assert_eq!(s.nonce_hits.load(Ordering::SeqCst), 2);
    assert_eq!(s.attest_hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_slow_answer_times_out_with_code_7() {
    let s = Script::new(vec![Step::Slow(Duration::from_secs(5)); 2], vec![]);
    let client = client_for(&ita_server(s).await, 2);
    let err = bounded(Duration::from_secs(4), client.nonce())
        .await
        .unwrap_err();
    assert_eq!(err.code().number(), 7, "{err}");
    let s = Script::new(vec![], vec![Step::Slow(Duration::from_secs(5)); 2]);
    let client = client_for(&ita_server(s).await, 2);
    let err = bounded(Duration::from_secs(6), verify_err(&client)).await;
    assert_eq!(err.code().number(), 7, "{err}");
}

#[tokio::test]
async fn an_unreachable_service_is_code_7() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let client = client_for(&base, 2);
    let err = bounded(Duration::from_secs(5), client.nonce())
        .await
        .unwrap_err();
    assert_eq!(err.code().number(), 7, "{err}");
    let err = bounded(
        Duration::from_secs(5),
        client.challenge(TDX_VM, b"n", &BTreeMap::new()),
    )
    .await
    .unwrap_err();
    assert_eq!(err.code().number(), 7, "{err}");
}

/// A raw server on 127.0.0.1 answering each connection with the next
/// canned bytes (then closing it).
async fn raw_server(answers: Vec<String>) -> String {
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        for a in answers {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 65536];
            let mut got = Vec::new();
            // Read the request head and the body its Content-Length names.
            loop {
                let n = s.read(&mut buf).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&got).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let len = text
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if got.len() >= end + 4 + len {
                        break;
                    }
                }
            }
            let _ = s.write_all(a.as_bytes()).await;
            let _ = s.shutdown().await;
        }
    });
    url
}

fn nonce_answer() -> String {
    let body = json!({"val": "dmFs", "iat": "aWF0", "signature": "c2ln"}).to_string();
    format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
}

const TRUNCATED: &str =
    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\nConnection: close\r\n\r\n{\"token\":\"eyJ";

#[tokio::test]
async fn a_truncated_answer_is_code_7() {
    // The nonce cut off.
    let base = raw_server(vec![TRUNCATED.into(), TRUNCATED.into()]).await;
    let client = client_for(&base, 2);
    let err = bounded(Duration::from_secs(5), client.nonce())
        .await
        .unwrap_err();
    assert_eq!(err.code().number(), 7, "{err}");
    // The token cut off, after a good nonce.
    let base = raw_server(vec![nonce_answer(), TRUNCATED.into(), TRUNCATED.into()]).await;
    let client = client_for(&base, 2);
    let err = bounded(Duration::from_secs(5), verify_err(&client)).await;
    assert_eq!(err.code().number(), 7, "{err}");
    // A complete HTTP answer whose JSON is cut: not JSON.
    let body = "{\"token\":\"eyJ";
    let cut = format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let base = raw_server(vec![nonce_answer(), cut]).await;
    let client = client_for(&base, 1);
    let err = bounded(Duration::from_secs(5), verify_err(&client)).await;
    assert_eq!(err.code().number(), 16, "{err}");
}

#[tokio::test]
async fn an_oversized_answer_is_refused() {
    let big = format!("{{\"token\":\"{}\"}}", "a".repeat(2 * 1024 * 1024));
    let s = Script::new(vec![], vec![Step::Body(Box::leak(big.into_boxed_str()))]);
    let client = client_for(&ita_server(s).await, 1);
    let err = bounded(Duration::from_secs(10), verify_err(&client)).await;
    assert_eq!(err.code().number(), 2, "{err}");
}

#[tokio::test]
async fn the_api_key_never_appears_in_errors_or_debug_output() {
    // The server quotes the key back, on the nonce and on the attestation.
    for (nonce, attest) in [(vec![Step::EchoKey], vec![]), (vec![], vec![Step::EchoKey])] {
        let s = Script::new(nonce, attest);
        let client = client_for(&ita_server(s).await, 1);
        let err = match client.challenge(TDX_VM, b"n-1", &payload()).await {
            Err(e) => e,
            Ok(_) => verify_err(&client).await,
        };
        let text = format!("{err} {err:?}");
        assert!(!text.contains(API_KEY), "{text}");
        assert!(text.contains("invalid api key ***"), "{text}");
    }
    let client = client_for("http://127.0.0.1:9", 1);
    let text = format!("{client:?}");
    assert!(!text.contains(API_KEY), "{text}");
    assert!(text.contains("ApiKey(***)"), "{text}");
}

#[tokio::test]
async fn redirects_are_not_followed() {
    // A second server that would capture the key.
    let thief = Script::new(vec![], vec![]);
    let thief_url = ita_server(thief.clone()).await;
    let s = Script::new(
        vec![Step::Redirect(format!("{thief_url}/appraisal/v2/nonce"))],
        vec![],
    );
    let client = client_for(&ita_server(s).await, 1);
    let err = client.nonce().await.unwrap_err();
    assert_eq!(err.code().number(), 5, "{err}");
    assert_eq!(thief.nonce_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn evidence_the_client_cannot_route_or_did_not_challenge() {
    let s = Script::new(vec![], vec![]);
    let client = client_for(&ita_server(s.clone()).await, 1);
    // Another evidence type.
    let snp = EvidenceType::new("SevSnpVm", None);
    let err = client
        .challenge(snp, b"n", &BTreeMap::new())
        .await
        .unwrap_err();
    assert_eq!(err.code().number(), 8);
    let err = client
        .verify(
            &Evidence::new(TeeId::new("snp"), snp),
            &VerifyOptions::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.code().number(), 8);
    // Evidence gathered without a challenge of this client.
    let mut e = Evidence::new(TeeId::new("tdx"), TDX_VM);
    e.hardware_report = quote_with(&[1; 64]);
    let err = client
        .verify(&e, &VerifyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code().number(), 8, "{err}");
    // Not a quote.
    e.hardware_report = vec![1, 2, 3];
    let err = client
        .verify(&e, &VerifyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code().number(), 8, "{err}");
    // A draft policy.
    let mut o = VerifyOptions::default();
    o.draft_policy = Some("version=1.0;".into());
    let e = tdx_evidence(&client).await;
    let err = client.verify(&e, &o).await.unwrap_err();
    assert_eq!(err.code().number(), 8, "{err}");
    // Runtime data other than the challenge's.
    let mut e = tdx_evidence(&client).await;
    e.runtime_data = b"{}".to_vec();
    let err = client.verify(&e, &options()).await.unwrap_err();
    assert_eq!(err.code().number(), 8, "{err}");
    // Another caller nonce than the challenge's.
    let e = tdx_evidence(&client).await;
    let mut o = VerifyOptions::default();
    o.nonce = Some(b"n-2".to_vec());
    let err = client.verify(&e, &o).await.unwrap_err();
    assert_eq!(err.code().number(), 8, "{err}");
    // None of these reached the attestation route.
    assert_eq!(s.attest_hits.load(Ordering::SeqCst), 0);
}

#[test]
fn configuration_errors() {
    let key = || ApiKey::new(API_KEY).unwrap();
    for bad in ["ftp://x", "", "https://"] {
        let e = ItaClient::new(ItaConfig::new(bad, key())).unwrap_err();
        assert_eq!(e.code().number(), 8, "{bad}");
    }
    let c = ItaClient::new(ItaConfig::new(
        "https://api.eu.trustauthority.intel.com/",
        key(),
    ))
    .unwrap();
    assert_eq!(c.base_url(), "https://api.eu.trustauthority.intel.com");
    assert_eq!(
        c.certs_url(),
        "https://portal.eu.trustauthority.intel.com/certs"
    );
    let c = ItaClient::new(
        ItaConfig::new("https://api.trustauthority.intel.com", key())
            .with_certs_url("https://certs.example/jwks"),
    )
    .unwrap();
    assert_eq!(c.certs_url(), "https://certs.example/jwks");
    let e: ItaError = ApiKey::new("").unwrap_err();
    assert_eq!(e.code().number(), 8);
}

#[tokio::test]
async fn evidence_can_be_sent_again_after_ita_kept_failing() {
    let s = Script::new(vec![], vec![Step::Status(503, "", Some("0")); 2]);
    let client = client_for(&ita_server(s.clone()).await, 2);
    let e = tdx_evidence(&client).await;
    let err = client.verify(&e, &options()).await.unwrap_err();
    assert_eq!(err.code().number(), 4, "{err}");
    // The challenge is still open: the same evidence goes through now.
    client.verify(&e, &options()).await.unwrap();
    // ...and is used up then.
    let err = client.verify(&e, &options()).await.unwrap_err();
    assert_eq!(err.code().number(), 8, "{err}");
    assert_eq!(s.attest_hits.load(Ordering::SeqCst), 3);
}
