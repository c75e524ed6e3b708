//! The MAA client against a scripted MAA-like server on 127.0.0.1: success,
//! retries, faults, and the codes they end in (within bounded time).

mod common;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use tee_attest_core::{CodedError, ErrorCode, Verifier, VerifyOptions};
use tee_attest_maa::{
    parse_request_body, seal_token, HttpConfig, MaaClient, MaaError, OsInfo, SevSnpVmRequest,
    TdxVmRequest, TokenCheck,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[derive(Clone, Debug)]
enum Step {
    /// Seal a good token.
    Ok,
    /// A token signed by a key the JWKS does not hold.
    WrongSigner,
    /// A token sealed to a key other than the ephemeral key.
    WrongSealKey,
    /// A token whose client payload carries this nonce.
    Nonce(&'static str),
    /// A status with a body and an optional Retry-After.
    Status(u16, &'static str, Option<&'static str>),
    /// Sleep, then answer like `Ok`.
    Slow(Duration),
    /// 200 with this body.
    Body(&'static str),
}

struct Script {
    steps: Mutex<VecDeque<Step>>,
    default: Step,
    attempts: AtomicUsize,
    auth: Mutex<Option<String>>,
    query: Mutex<Option<String>>,
    imds_hits: AtomicUsize,
    imds_ok: bool,
}

impl Script {
    fn new(steps: Vec<Step>, default: Step) -> Arc<Self> {
        Arc::new(Self {
            steps: Mutex::new(steps.into()),
            default,
            attempts: AtomicUsize::new(0),
            auth: Mutex::new(None),
            query: Mutex::new(None),
            imds_hits: AtomicUsize::new(0),
            imds_ok: true,
        })
    }
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn issue(host: &str, body: &[u8], nonce: Option<&str>, signer: &TestKey) -> String {
    let (evidence, os) = parse_request_body(body).expect("the server parses the client's request");
    assert_eq!(os.os_type, "Linux");
    let payload: serde_json::Map<String, Value> = evidence
        .client_payload
        .iter()
        .map(|(k, v)| (k.clone(), json!(STANDARD.encode(v))))
        .collect();
    let mut payload = Value::Object(payload);
    if let Some(n) = nonce {
        payload["nonce"] = json!(STANDARD.encode(n));
    }
    let claims = json!({
        "iss": format!("http://{host}"),
        "iat": now(), "nbf": now(), "exp": now() + 3600,
        "x-ms-ver": "1.0",
        "x-ms-attestation-type": "azurevm",
        "x-ms-isolation-tee": {"x-ms-attestation-type": "sevsnpvm"},
        "x-ms-runtime": {"client-payload": payload, "keys": [ephemeral_jwk()]},
    });
    sign_json(
        &json!({"alg": "RS256", "typ": "JWT", "kid": KID}),
        &claims,
        signer,
    )
}

fn ephemeral_jwk() -> Value {
    let mut k = ephemeral_key().public.to_jwk();
    k["kid"] = json!("TpmEphemeralEncryptionKey");
    k["key_ops"] = json!(["encrypt"]);
    k
}

async fn attest(
    State(s): State<Arc<Script>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.attempts.fetch_add(1, Ordering::SeqCst);
    *s.query.lock().unwrap() = q;
    *s.auth.lock().unwrap() = headers
        .get("authorization")
        .map(|v| v.to_str().unwrap().to_string());
    let host = headers.get("host").unwrap().to_str().unwrap().to_string();
    let step = s
        .steps
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(s.default.clone());
    let ok = |nonce: Option<&str>, signer: &TestKey, seal_to: &TestKey| {
        let jwt = issue(&host, &body, nonce, signer);
        (StatusCode::OK, seal_token(&jwt, &seal_to.public).unwrap()).into_response()
    };
    match step {
        Step::Ok => ok(None, signing_key(), ephemeral_key()),
        Step::WrongSigner => ok(None, other_key(), ephemeral_key()),
        Step::WrongSealKey => ok(None, signing_key(), other_key()),
        Step::Nonce(n) => ok(Some(n), signing_key(), ephemeral_key()),
        Step::Slow(d) => {
            tokio::time::sleep(d).await;
            ok(None, signing_key(), ephemeral_key())
        }
        Step::Status(code, body, retry_after) => {
            let mut r = (StatusCode::from_u16(code).unwrap(), body).into_response();
            if let Some(ra) = retry_after {
                r.headers_mut().insert("retry-after", ra.parse().unwrap());
            }
            r
        }
        Step::Body(b) => (StatusCode::OK, b).into_response(),
    }
}

async fn sev_snp_vm(
    State(s): State<Arc<Script>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.attempts.fetch_add(1, Ordering::SeqCst);
    *s.query.lock().unwrap() = q;
    let host = headers.get("host").unwrap().to_str().unwrap().to_string();
    let req = SevSnpVmRequest::from_body(&body).unwrap();
    let (report, certs) = req.decode_report().unwrap();
    assert_eq!(report, sample_evidence().hardware_report);
    assert_eq!(certs, sample_evidence().certificates);
    let claims = json!({
        "iss": format!("http://{host}"),
        "iat": now(), "nbf": now(), "exp": now() + 3600,
        "x-ms-ver": "1.0",
        "x-ms-attestation-type": "sevsnpvm",
        "nonce": req.nonce,
    });
    let jwt = sign_json(
        &json!({"alg": "RS256", "typ": "JWT", "kid": KID}),
        &claims,
        signing_key(),
    );
    Json(json!({"token": jwt})).into_response()
}

/// `/attest/TdxVm`: checks the body's shape and answers an unsealed token
/// echoing the request's nonce.
async fn tdx_vm(
    State(s): State<Arc<Script>>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    s.attempts.fetch_add(1, Ordering::SeqCst);
    *s.query.lock().unwrap() = q;
    assert_eq!(headers.get("content-type").unwrap(), "application/json");
    let host = headers.get("host").unwrap().to_str().unwrap().to_string();
    let req = TdxVmRequest::from_body(&body).unwrap();
    assert_eq!(req.decode_quote().unwrap(), b"a TD quote");
    assert_eq!(
        req.runtime_data.unwrap().bytes().unwrap(),
        br#"{"nonce":"tdx-nonce"}"#
    );
    let claims = json!({
        "iss": format!("http://{host}"),
        "iat": now(), "nbf": now(), "exp": now() + 3600,
        "x-ms-ver": "1.0",
        "x-ms-attestation-type": "tdxvm",
        "nonce": req.nonce,
    });
    let jwt = sign_json(
        &json!({"alg": "RS256", "typ": "JWT", "kid": KID}),
        &claims,
        signing_key(),
    );
    Json(json!({"token": jwt})).into_response()
}

async fn maa_server(script: Arc<Script>) -> String {
    let app = Router::new()
        .route("/attest/AzureGuest", post(attest))
        .route(
            "/.well-known/openid-configuration",
            get(|headers: HeaderMap| async move {
                let host = headers.get("host").unwrap().to_str().unwrap().to_string();
                Json(json!({"issuer": format!("http://{host}"), "jwks_uri": format!("http://{host}/certs")}))
            }),
        )
        .route("/certs", get(|| async { Json(x5c_jwks(KID, signing_key())) }))
        .route("/attest/SevSnpVm", post(sev_snp_vm))
        .route("/attest/TdxVm", post(tdx_vm))
        .route(
            "/metadata/identity/oauth2/token",
            get(|State(s): State<Arc<Script>>, RawQuery(q): RawQuery, headers: HeaderMap| async move {
                s.imds_hits.fetch_add(1, Ordering::SeqCst);
                let q = q.unwrap_or_default();
                assert!(q.contains("api-version=2018-02-01"), "{q}");
                assert!(q.contains("resource=https://attest.azure.net"), "{q}");
                assert_eq!(headers.get("metadata").unwrap(), "true");
                if s.imds_ok {
                    (StatusCode::OK, Json(json!({"access_token": "msi-token", "token_type": "Bearer"}))).into_response()
                } else {
                    (StatusCode::NOT_FOUND, "no identity").into_response()
                }
            }),
        )
        .with_state(script);
    serve(app).await
}

fn http(attempts: u32) -> HttpConfig {
    HttpConfig::fast(
        Duration::from_secs(3),
        attempts,
        Duration::from_millis(10),
        Duration::from_millis(200),
    )
}

fn os() -> OsInfo {
    OsInfo::new("Linux", "Ubuntu", 22, 4, "6.8.0")
}

fn client(base: &str, attempts: u32) -> MaaClient {
    MaaClient::new(
        base,
        TestDecryptor::new(ephemeral_key()),
        os(),
        http(attempts),
    )
    .unwrap()
}

fn nonce_opts(n: &[u8]) -> VerifyOptions {
    let mut o = VerifyOptions::default();
    o.nonce = Some(n.to_vec());
    o
}

/// Runs `f` with an overall bound, so that a hang fails the test instead of
/// blocking it (no timing assertion beyond "it ends").
async fn bounded<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .expect("finished within the bound")
}

fn maa_err(e: &tee_attest_core::Error) -> &MaaError {
    std::error::Error::source(e)
        .and_then(|s| s.downcast_ref::<MaaError>())
        .expect("the cause is a MaaError")
}

#[tokio::test]
async fn attests_through_the_sealed_response_and_validates_the_token() {
    let script = Script::new(vec![], Step::Ok);
    let base = maa_server(script.clone()).await;
    let c = client(&base, 3);
    let v: &dyn Verifier = &c;
    assert_eq!(v.name(), "maa");
    let token = bounded(v.verify(&sample_evidence(), &nonce_opts(b"ADE0101")))
        .await
        .unwrap();
    assert_eq!(token.issuer(), Some(base.as_str()));
    assert_eq!(token.nonce(), Some(STANDARD.encode("ADE0101").as_str()));
    assert!(token.ephemeral_key().is_some());
    assert_eq!(script.attempts.load(Ordering::SeqCst), 1);
    assert_eq!(
        script.query.lock().unwrap().as_deref(),
        Some("api-version=2020-10-01")
    );
    assert!(
        script.auth.lock().unwrap().is_none(),
        "no managed identity configured"
    );
}

#[tokio::test]
async fn the_nonce_is_added_to_the_client_payload_when_missing() {
    let script = Script::new(vec![], Step::Ok);
    let base = maa_server(script.clone()).await;
    let mut ev = sample_evidence();
    ev.client_payload.clear();
    let token = bounded(client(&base, 1).attest(&ev, &nonce_opts(b"rp-nonce-7")))
        .await
        .unwrap();
    assert_eq!(token.nonce(), Some(STANDARD.encode("rp-nonce-7").as_str()));
}

#[tokio::test]
async fn retries_a_500_then_succeeds() {
    let script = Script::new(vec![Step::Status(500, "oops", None)], Step::Ok);
    let base = maa_server(script.clone()).await;
    bounded(client(&base, 3).attest(&sample_evidence(), &VerifyOptions::default()))
        .await
        .unwrap();
    assert_eq!(script.attempts.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn retries_a_429_with_retry_after_then_succeeds() {
    let script = Script::new(
        vec![
            Step::Status(429, "slow down", Some("1")),
            Step::Status(408, "", Some("3600")),
        ],
        Step::Ok,
    );
    let base = maa_server(script.clone()).await;
    // Retry-After 3600 is capped at max_wait (200 ms here).
    bounded(client(&base, 3).attest(&sample_evidence(), &VerifyOptions::default()))
        .await
        .unwrap();
    assert_eq!(script.attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn persistent_5xx_exceeds_the_retries_code_4() {
    let script = Script::new(vec![], Step::Status(503, "busy", None));
    let base = maa_server(script.clone()).await;
    let e = bounded(client(&base, 3).attest(&sample_evidence(), &VerifyOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::RequestExceededRetries, "{e}");
    assert_eq!(script.attempts.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn a_slow_server_times_out_code_4() {
    let script = Script::new(vec![], Step::Slow(Duration::from_secs(30)));
    let base = maa_server(script.clone()).await;
    let cfg = HttpConfig::fast(
        Duration::from_millis(300),
        2,
        Duration::from_millis(10),
        Duration::from_millis(50),
    );
    let c = MaaClient::new(&base, TestDecryptor::new(ephemeral_key()), os(), cfg).unwrap();
    let e = bounded(c.attest(&sample_evidence(), &VerifyOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::RequestExceededRetries, "{e}");
    assert!(e.to_string().contains("timed out"), "{e}");
}

#[tokio::test]
async fn a_400_with_maas_error_is_6_with_the_message_and_not_retried() {
    let body =
        r#"{"error":{"code":"InvalidParameter","message":"Quote signature verification failed"}}"#;
    let script = Script::new(vec![], Step::Status(400, body, None));
    let base = maa_server(script.clone()).await;
    let e = bounded(client(&base, 3).attest(&sample_evidence(), &VerifyOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::AttestationFailed);
    assert!(
        e.to_string()
            .contains("Quote signature verification failed"),
        "{e}"
    );
    assert_eq!(script.attempts.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn other_4xx_are_5_and_not_retried() {
    for (status, body) in [(401, "unauthorized"), (404, ""), (400, "plain text")] {
        let script = Script::new(vec![], Step::Status(status, body, None));
        let base = maa_server(script.clone()).await;
        let e = bounded(client(&base, 3).attest(&sample_evidence(), &VerifyOptions::default()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::RequestFailed, "{status}: {e}");
        assert_eq!(script.attempts.load(Ordering::SeqCst), 1, "{status}");
    }
}

#[tokio::test]
async fn invalid_json_is_16_and_empty_body_18() {
    for (body, want) in [
        ("<html>gateway</html>", ErrorCode::InvalidJsonResponse),
        ("{\"token\": \"ab", ErrorCode::InvalidJsonResponse),
        ("", ErrorCode::EmptyResponse),
        ("{\"token\": \"\"}", ErrorCode::EmptyResponse),
        ("{\"nottoken\": 1}", ErrorCode::ParseResponseFailed),
        ("{\"token\": \"e30\"}", ErrorCode::JwtDecryptionFailed),
    ] {
        let script = Script::new(vec![], Step::Body(body));
        let base = maa_server(script.clone()).await;
        let e = bounded(client(&base, 3).attest(&sample_evidence(), &VerifyOptions::default()))
            .await
            .unwrap_err();
        assert_eq!(e.code(), want, "{body:?}: {e}");
        assert_eq!(script.attempts.load(Ordering::SeqCst), 1, "{body:?}");
    }
}

/// A raw server whose every response announces more bytes than it sends.
async fn truncating_server(hits: Arc<AtomicUsize>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            hits.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                // Read the request (until the peer pauses).
                while let Ok(Ok(n)) =
                    tokio::time::timeout(Duration::from_millis(100), sock.read(&mut buf)).await
                {
                    if n == 0 {
                        break;
                    }
                }
                let _ = sock
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"token\": \"eyJFbmNyeXB0")
                    .await;
                let _ = sock.shutdown().await;
            });
        }
    });
    format!("http://{addr}")
}

#[tokio::test]
async fn a_truncated_body_is_retried_then_4_or_7_with_one_attempt() {
    let hits = Arc::new(AtomicUsize::new(0));
    let base = truncating_server(hits.clone()).await;
    let e = bounded(client(&base, 2).attest(&sample_evidence(), &VerifyOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::RequestExceededRetries, "{e}");
    assert!(e.to_string().contains("reading the response"), "{e}");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    let e = bounded(client(&base, 1).attest(&sample_evidence(), &VerifyOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::SendRequestFailed, "{e}");
}

#[tokio::test]
async fn connection_refused_is_4_after_retries_or_7_with_one_attempt() {
    // A port that was just free: nothing listens there.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    drop(l);
    let e = bounded(client(&base, 2).attest(&sample_evidence(), &VerifyOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::RequestExceededRetries, "{e}");
    let e = bounded(client(&base, 1).attest(&sample_evidence(), &VerifyOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::SendRequestFailed, "{e}");
}

#[tokio::test]
async fn a_token_signed_by_an_unknown_key_is_refused() {
    let script = Script::new(vec![], Step::WrongSigner);
    let base = maa_server(script).await;
    let c = client(&base, 1);
    let e = bounded(Verifier::verify(
        &c,
        &sample_evidence(),
        &VerifyOptions::default(),
    ))
    .await
    .unwrap_err();
    assert_eq!(e.code(), ErrorCode::AttestationFailed);
    assert_eq!(maa_err(&e).token_check(), Some(TokenCheck::Signature));
}

#[tokio::test]
async fn a_token_sealed_to_another_key_is_14() {
    let script = Script::new(vec![], Step::WrongSealKey);
    let base = maa_server(script).await;
    let e = bounded(client(&base, 1).attest(&sample_evidence(), &VerifyOptions::default()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.code(),
            ErrorCode::JwtDecryptionFailed | ErrorCode::JwtDecryptionTpmError
        ),
        "{e}"
    );
}

#[tokio::test]
async fn a_tpm_failure_while_unsealing_is_15() {
    let script = Script::new(vec![], Step::Ok);
    let base = maa_server(script).await;
    let d = TestDecryptor::failing(ephemeral_key(), ErrorCode::DecryptTpmError);
    let c = MaaClient::new(&base, d, os(), http(1)).unwrap();
    let e = bounded(c.attest(&sample_evidence(), &VerifyOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::JwtDecryptionTpmError);
}

#[tokio::test]
async fn a_nonce_mismatch_is_refused() {
    let script = Script::new(vec![], Step::Nonce("someone-else"));
    let base = maa_server(script).await;
    let e = bounded(client(&base, 1).attest(&sample_evidence(), &nonce_opts(b"ADE0101")))
        .await
        .unwrap_err();
    assert_eq!(e.token_check(), Some(TokenCheck::Nonce), "{e}");
}

#[tokio::test]
async fn managed_identity_bearer_is_sent_or_code_3() {
    let script = Script::new(vec![], Step::Ok);
    let base = maa_server(script.clone()).await;
    let c = client(&base, 1)
        .with_managed_identity(&base, http(1))
        .unwrap();
    bounded(c.attest(&sample_evidence(), &VerifyOptions::default()))
        .await
        .unwrap();
    assert_eq!(
        script.auth.lock().unwrap().as_deref(),
        Some("Bearer msi-token")
    );
    assert_eq!(script.imds_hits.load(Ordering::SeqCst), 1);

    let script = Arc::new(Script {
        imds_ok: false,
        ..Arc::try_unwrap(Script::new(vec![], Step::Ok)).ok().unwrap()
    });
    let base = maa_server(script.clone()).await;
    let c = client(&base, 1)
        .with_managed_identity(&base, http(1))
        .unwrap();
    let e = bounded(c.attest(&sample_evidence(), &VerifyOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), ErrorCode::MsiTokenNotFound, "{e}");
    assert_eq!(
        script.attempts.load(Ordering::SeqCst),
        0,
        "nothing posted without a token"
    );
}

#[tokio::test]
async fn bad_inputs_are_8() {
    let d = TestDecryptor::new(ephemeral_key());
    assert_eq!(
        MaaClient::new("not a url", d.clone(), os(), http(1))
            .unwrap_err()
            .code()
            .number(),
        8
    );
    let script = Script::new(vec![], Step::Ok);
    let base = maa_server(script.clone()).await;
    let mut o = VerifyOptions::default();
    o.draft_policy = Some("version=1.0;".into());
    let e = client(&base, 1)
        .attest(&sample_evidence(), &o)
        .await
        .unwrap_err();
    assert_eq!(e.code().number(), 8);
    let mut ev = sample_evidence();
    ev.tpm = None;
    let e = client(&base, 1)
        .attest(&ev, &VerifyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(e.code().number(), 8);
    assert_eq!(script.attempts.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn platform_attestation_of_a_bare_snp_report() {
    let script = Script::new(vec![], Step::Ok);
    let base = maa_server(script.clone()).await;
    let ev = sample_evidence();
    let mut req = SevSnpVmRequest::new(&ev.hardware_report, &ev.certificates).unwrap();
    req.nonce = Some("platform-nonce".into());
    let token = bounded(client(&base, 1).attest_sev_snp_vm(&req))
        .await
        .unwrap();
    assert_eq!(token.attestation_type(), Some("sevsnpvm"));
    assert_eq!(token.nonce(), Some("platform-nonce"));
    assert_eq!(
        script.query.lock().unwrap().as_deref(),
        Some("api-version=2022-08-01")
    );
}

#[tokio::test]
async fn bare_tdx_evidence_goes_to_tdx_vm() {
    let script = Script::new(vec![], Step::Ok);
    let base = maa_server(script.clone()).await;
    let client = MaaClient::without_vtpm(&base, http(1)).unwrap();
    let mut ev = tee_attest_core::Evidence::new(
        tee_attest_core::TeeId::new("tdx"),
        tee_attest_maa::azureguest::TDX_VM,
    );
    ev.hardware_report = b"a TD quote".to_vec();
    ev.runtime_data = br#"{"nonce":"tdx-nonce"}"#.to_vec();
    ev.runtime_data_json = true;
    ev.nonce = b"tdx-nonce".to_vec();
    let token = bounded(client.attest(&ev, &VerifyOptions::default()))
        .await
        .unwrap();
    assert_eq!(token.attestation_type(), Some("tdxvm"));
    assert_eq!(token.nonce(), Some("tdx-nonce"));
    assert_eq!(
        script.query.lock().unwrap().as_deref(),
        Some("api-version=2025-06-01")
    );
    assert_eq!(script.attempts.load(Ordering::SeqCst), 1);
    // A nonce that is not text cannot be echoed: refused before sending.
    ev.nonce = vec![0xff];
    let err = bounded(client.attest(&ev, &VerifyOptions::default()))
        .await
        .unwrap_err();
    assert_eq!(err.code().number(), 8, "{err}");
    assert_eq!(script.attempts.load(Ordering::SeqCst), 1);
}
