//! `POST /attest/TdxVm` and `POST /attest/SgxEnclave` on a real loopback
//! listener: mock Intel quotes (the mock root trusted explicitly, collateral
//! from the mock platform) give tokens that validate against `/certs`; the
//! real SGX sample is understood and refused today (expired collateral) with
//! MAA's error body; tampered and mismatched requests are refused by name.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest_maa::{Jwks, TokenValidator};
use tee_attest_mock::intel::{MockCollateralSource, MockIntelPlatform};
use tee_attest_tdx::collateral::OfflineDir;
use tee_attest_tdx::{CollateralChain, DcapAppraiser, DcapTrust, VerifyOptions};
use tee_attest_testkit::vector;
use tee_attest_verifier::service::{serve, AdminConfig, ServiceState};
use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};

struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(dir: &std::path::Path, sgx_collateral: &std::path::Path) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let platform = MockIntelPlatform::stored().unwrap();
    let chain = CollateralChain::new()
        .with_source(Arc::new(OfflineDir::new(sgx_collateral)))
        .with_source(Arc::new(MockCollateralSource::new(platform.clone())));
    let trust = Arc::new(
        DcapTrust::new(
            &[platform.root_der().to_vec()],
            chain,
            VerifyOptions::default(),
        )
        .unwrap(),
    );
    let mut cfg = LocalVerifierConfig::new(&base);
    cfg.appraisers = vec![
        Arc::new(DcapAppraiser::tdx_vm(trust.clone())),
        Arc::new(DcapAppraiser::sgx_enclave(trust)),
    ];
    let verifier =
        Arc::new(LocalVerifier::new(cfg, TokenSigner::load_or_generate(dir).unwrap()).unwrap());
    let state = ServiceState::with_admin(verifier, dir, AdminConfig::insecure()).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve(listener, state, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server {
        base,
        stop: Some(tx),
        task,
    }
}

/// The service's JWKS, as a relying party fetches it.
async fn certs(base: &str) -> Jwks {
    let body = reqwest::get(format!("{base}/certs"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    Jwks::parse(&body).unwrap()
}

fn sha256(b: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b)
        .as_ref()
        .to_vec()
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

async fn post(base: &str, kind: &str, body: &Value) -> (u16, Value) {
    let r = reqwest::Client::new()
        .post(format!("{base}/attest/{kind}?api-version=2025-06-01"))
        .json(body)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap())
}

#[tokio::test]
async fn tdx_vm_and_sgx_enclave_over_http() {
    let dir = tempfile::tempdir().unwrap();
    let sgx_dir = tempfile::tempdir().unwrap();
    std::fs::write(
        sgx_dir.path().join("sgx.json"),
        vector("sgx-dcap/collateral.json"),
    )
    .unwrap();
    let s = start(dir.path(), sgx_dir.path()).await;
    let platform = MockIntelPlatform::stored().unwrap();
    let validator = TokenValidator::with_jwks(Some(&s.base), certs(&s.base).await).allow_mock(true);

    // TdxVm: a mock v4 quote binding JSON runtime data with the nonce.
    let runtime = serde_json::to_vec(&json!({"nonce": "n-42", "pub": "key"})).unwrap();
    let mut td = platform.td();
    td.report_data[..32].copy_from_slice(&sha256(&runtime));
    let quote = platform.tdx_quote_v4(&td).unwrap();
    let body = json!({
        "quote": b64(&quote),
        "runtimeData": {"data": b64(&runtime), "dataType": "JSON"},
        "nonce": "n-42",
    });
    let (status, answer) = post(&s.base, "TdxVm", &body).await;
    assert_eq!(status, 200, "{answer}");
    let token = validator
        .validate(answer["token"].as_str().unwrap(), Some(b"n-42"))
        .await
        .unwrap();
    let c = token.claims();
    assert_eq!(c["x-ms-attestation-type"], "tdxvm");
    assert_eq!(c["tdx_mrtd"], hex::encode(td.mr_td));
    assert_eq!(c["attester_tcb_status"], "UpToDate");
    assert_eq!(c["x-ms-runtime"]["pub"], "key");
    assert_eq!(c[tee_attest_core::MOCK_EVIDENCE_CLAIM], true);
    // A validator that does not accept mock evidence refuses the token.
    let strict = TokenValidator::with_jwks(Some(&s.base), certs(&s.base).await);
    assert!(strict
        .validate(answer["token"].as_str().unwrap(), None)
        .await
        .is_err());

    // The same quote with other runtime data: 400, the check named.
    let mut other = body.clone();
    other["runtimeData"]["data"] = json!(b64(br#"{"nonce":"n-42"}"#));
    let (status, err) = post(&s.base, "tdxvm", &other).await;
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("runtime-data.binding"),
        "{err}"
    );
    // One byte of the quote's body flipped.
    let mut bad = quote.clone();
    bad[48 + 200] ^= 0x40;
    let mut tampered = body.clone();
    tampered["quote"] = json!(b64(&bad));
    let (status, err) = post(&s.base, "TdxVm", &tampered).await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "AttestationFailed");
    // A TD quote sent as SgxEnclave.
    let (status, err) = post(&s.base, "SgxEnclave", &body).await;
    assert_eq!(status, 400);
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("evidence.type"),
        "{err}"
    );

    // SgxEnclave: a mock SGX quote with enclave held data.
    let ehd = b"enclave held data";
    let mut enclave = platform.enclave();
    enclave.report_data[..32].copy_from_slice(&sha256(ehd));
    let sgx = platform.sgx_quote_v3(&enclave).unwrap();
    let (status, answer) = post(
        &s.base,
        "SgxEnclave",
        &json!({"quote": b64(&sgx), "runtimeData": {"data": b64(ehd), "dataType": "Binary"}}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let token = validator
        .validate(answer["token"].as_str().unwrap(), None)
        .await
        .unwrap();
    assert_eq!(token.claims()["x-ms-sgx-ehd"], b64(ehd));
    assert_eq!(
        token.claims()["x-ms-sgx-mrenclave"],
        hex::encode(enclave.mr_enclave)
    );

    // The real SGX sample: understood, and refused today (expired
    // collateral), in MAA's error shape.
    let (status, err) = post(
        &s.base,
        "SgxEnclave",
        &json!({"quote": b64(&vector("sgx-dcap/quote.bin"))}),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["error"]["code"], "AttestationFailed");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("expired"),
        "{err}"
    );
    // Not JSON, empty, not a quote.
    let (status, err) = post(&s.base, "TdxVm", &json!({"quote": "AAAA"})).await;
    assert_eq!(status, 400, "{err}");
    let _ = s.stop.unwrap().send(());
    s.task.await.unwrap();
}
