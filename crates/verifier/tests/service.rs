//! The service on a real loopback listener: JWKS, OpenID metadata, policy
//! management as MAA shapes it, errors as MAA's body.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use tee_attest_core::AttestationToken;
use tee_attest_verifier::service::{serve, AdminConfig, ServiceState};
use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner, DEFAULT_POLICY};

/// The appraisers of this workspace's evidence types, trusting AMD's roots
/// and `extra` (mock) roots.
fn appraisers(extra: &[Vec<u8>]) -> Vec<std::sync::Arc<dyn tee_attest_core::Appraiser>> {
    vec![
        std::sync::Arc::new(tee_attest_azure::AzureSnpAppraiser::with_extra_roots(extra).unwrap()),
        std::sync::Arc::new(tee_attest_snp::SevSnpVmAppraiser::with_extra_roots(extra).unwrap()),
    ]
}

struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(dir: &std::path::Path) -> Server {
    start_trusting(dir, Vec::new()).await
}

/// The service on a free loopback port, trusting `extra_roots` (mock ARKs).
async fn start_trusting(dir: &std::path::Path, extra_roots: Vec<Vec<u8>>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut cfg = LocalVerifierConfig::new(&base);
    cfg.appraisers = appraisers(&extra_roots);
    let verifier =
        Arc::new(LocalVerifier::new(cfg, TokenSigner::load_or_generate(dir).unwrap()).unwrap());
    // Policy writes from anyone: these tests are about the policy
    // mechanics; who may write is tested in `admin.rs`.
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

impl Server {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

fn claims(resp: &Value) -> Value {
    AttestationToken::parse(resp["token"].as_str().unwrap())
        .unwrap()
        .claims()
        .clone()
}

fn policy_of(jws: &str) -> String {
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jws.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    String::from_utf8(
        URL_SAFE_NO_PAD
            .decode(payload["AttestationPolicy"].as_str().unwrap())
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn metadata_keys_and_policies_as_maa_serves_them() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path()).await;
    let http = reqwest::Client::new();

    let oidc: Value = http
        .get(format!("{}/.well-known/openid-configuration", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(oidc["issuer"], s.base);
    assert_eq!(oidc["jwks_uri"], format!("{}/certs", s.base));
    let jwks: Value = http
        .get(format!("{}/certs?api-version=2020-10-01", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert!(jwks["keys"][0]["x5c"][0].is_string());

    // The default policy, then a new one, then reset.
    let get = || async {
        let r: Value = http
            .get(format!(
                "{}/policies/AzureGuest?api-version=2020-10-01",
                s.base
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        policy_of(claims(&r)["x-ms-policy"].as_str().unwrap())
    };
    assert!(get().await.contains("permit()"));
    let policy =
        "version=1.0; authorizationrules { [type==\"secureboot\", value==true] => permit(); };";
    let r = http
        .put(format!(
            "{}/policies/AzureGuest?api-version=2020-10-01",
            s.base
        ))
        .body(policy)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r: Value = r.json().await.unwrap();
    assert_eq!(claims(&r)["x-ms-policy-result"], "Updated");
    assert!(get().await.contains("secureboot"));
    assert!(
        dir.path().join("policies/AzureGuest.txt").exists(),
        "persisted in the data directory"
    );

    // A second instance on the same data directory serves the same key and policy.
    let s2 = start(dir.path()).await;
    let jwks2: Value = http
        .get(format!("{}/certs", s2.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(jwks2["keys"][0]["kid"], jwks["keys"][0]["kid"]);
    let r: Value = http
        .get(format!("{}/policies/AzureGuest", s2.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(policy_of(claims(&r)["x-ms-policy"].as_str().unwrap()).contains("secureboot"));

    let r: Value = http
        .post(format!(
            "{}/policies/AzureGuest:reset?api-version=2020-10-01",
            s.base
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(claims(&r)["x-ms-policy-result"], "Removed");
    assert_eq!(get().await.replace(char::is_whitespace, ""), {
        let p = tee_attest_policy::Policy::parse(DEFAULT_POLICY).unwrap();
        p.to_string().replace(char::is_whitespace, "")
    });

    // Errors: MAA's body.
    let r = http
        .put(format!("{}/policies/AzureGuest", s.base))
        .body("version=1.0; authorizationrules { [type=\"x\"] => permit(); };")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "InvalidPolicy");
    assert!(
        e["error"]["message"].as_str().unwrap().contains("line"),
        "{e}"
    );
    let r = http
        .get(format!("{}/policies/SgxEnclave", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .put(format!("{}/policies/AzureGuest", s.base))
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = http
        .post(format!("{}/attest/AzureGuest", s.base))
        .body("")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "empty body");
    let r = http
        .post(format!("{}/attest/AzureGuest", s.base))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "no AttestationInfo");

    s2.stop().await;
    s.stop().await;
}

/// AzureGuest over HTTP: evidence from the mock CVM, the request as
/// Microsoft's client builds it, the sealed answer opened by the vTPM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_guest_attestation_over_http_returns_a_sealed_token() {
    use tee_attest_core::EvidenceProvider;
    use tee_attest_maa::azureguest::{build_request_body, OsInfo};
    use tee_attest_maa::seal::unseal_token;

    let cvm =
        tee_attest_mock::MockAzureCvm::start().expect("swtpm must be installed (cargo xtask deps)");
    let mut cfg = tee_attest_azure::provider::AzureSnpConfig::default();
    cfg.tcti = Some(cvm.tcti());
    cfg.imds_url = cvm.imds_url();
    cfg.event_log = cvm.event_log_path();
    let provider = tee_attest_azure::provider::AzureSnpProvider::new(cfg).unwrap();
    let mut req = tee_attest_core::EvidenceRequest::with_nonce(b"n-over-http".to_vec());
    req.client_payload
        .insert("Nonce".into(), "n-over-http".into());
    let evidence = provider.evidence(&req).await.unwrap();
    let body = build_request_body(
        &evidence,
        &OsInfo::new("Linux", "Debian GNU/Linux", 12, 0, "6.1.0"),
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let server = start_trusting(dir.path(), vec![cvm.ark_der().to_vec()]).await;
    let base = server.base.clone();

    let http = reqwest::Client::new();
    let resp = http
        .post(format!("{base}/attest/AzureGuest?api-version=2020-10-01"))
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let status = resp.status();
    let sealed = resp.bytes().await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&sealed));
    let decryptor = provider.decryptor().unwrap();
    let jwt = unseal_token(&sealed, decryptor.as_ref()).await.unwrap();
    let token = AttestationToken::parse(&jwt).unwrap();
    assert_eq!(token.issuer(), Some(base.as_str()));
    assert_eq!(token.nonce(), Some("n-over-http"));
    assert!(token.is_mock_evidence());
    assert_eq!(
        token.claim("x-ms-azurevm-ostype"),
        Some(&Value::from("Linux"))
    );
    assert_eq!(
        token.claim("x-ms-azurevm-osversion-major"),
        Some(&Value::from(12))
    );
    assert_eq!(
        token.claim("x-ms-azurevm-is-windows"),
        Some(&Value::from(false))
    );
    assert_eq!(token.claim("secureboot"), Some(&Value::from(true)));

    // A modified request is refused with MAA's error body, naming the check.
    let mut info: Value = serde_json::from_str(&body).unwrap();
    let inner = URL_SAFE_NO_PAD
        .decode(info["AttestationInfo"].as_str().unwrap())
        .unwrap();
    let mut inner: Value = serde_json::from_slice(&inner).unwrap();
    let pcrs = inner["TpmInfo"]["PCRs"].as_array_mut().unwrap();
    pcrs[0]["Digest"] = Value::from(base64::engine::general_purpose::STANDARD.encode([7u8; 32]));
    info["AttestationInfo"] = Value::from(URL_SAFE_NO_PAD.encode(inner.to_string()));
    let resp = http
        .post(format!("{base}/attest/AzureGuest"))
        .body(info.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let err: Value = resp.json().await.unwrap();
    assert_eq!(err["error"]["code"], "AttestationFailed");
    assert!(
        err["error"]["message"]
            .as_str()
            .unwrap()
            .contains("quote.pcr-digest"),
        "{err}"
    );

    server.stop().await;
}

/// `POST /attest/SevSnpVm`: a real Milan report with its VCEK (genuine AMD
/// root), and a mock report binding JSON runtime data.
#[tokio::test]
async fn sev_snp_vm_attestation_over_http() {
    use tee_attest_maa::azureguest::{RuntimeData, RuntimeDataType, SevSnpVmRequest};
    use tee_attest_mock::amd::{MockAmdRoots, MockSnpReport, MockTcb};

    let dir = tempfile::tempdir().unwrap();
    let roots = MockAmdRoots::stored_milan().unwrap();
    let server = start_trusting(dir.path(), vec![roots.ark_der().to_vec()]).await;
    let base = server.base.clone();
    let http = reqwest::Client::new();
    let post = |body: String| {
        let http = http.clone();
        let url = format!("{base}/attest/SevSnpVm?api-version=2022-08-01");
        async move {
            let r = http.post(url).body(body).send().await.unwrap();
            (r.status().as_u16(), r.json::<Value>().await.unwrap())
        }
    };

    // Real hardware: the Milan report and its VCEK; ASK/ARK from the built-in roots.
    let report = tee_attest_testkit::hex_vector("snp-milan/report.hex");
    let vcek = tee_attest_testkit::vector("snp-milan/vcek.der");
    let mut req = SevSnpVmRequest::new(&report, &[vcek]).unwrap();
    let (status, body) = post(serde_json::to_string(&req).unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let t = AttestationToken::parse(body["token"].as_str().unwrap()).unwrap();
    assert_eq!(t.attestation_type(), Some("sevsnpvm"));
    assert!(!t.is_mock_evidence(), "genuine AMD root");
    assert_eq!(t.nonce(), None);
    assert!(t.claim("x-ms-sevsnpvm-launchmeasurement").is_some());
    // A nonce the evidence does not bind is not echoed as if it were
    // fresh: a replayed report could otherwise carry any nonce.
    req.nonce = Some("real-nonce".into());
    let (status, body) = post(serde_json::to_string(&req).unwrap()).await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nonce.binding"),
        "{body}"
    );

    // Mock: report_data = SHA-256(runtime data JSON) → x-ms-runtime claims;
    // the nonce inside it is bound, and echoed.
    let runtime = br#"{"keys":[],"app":"demo","nonce":"n-42"}"#;
    let mut rd = [0u8; 64];
    rd[..32]
        .copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, runtime).as_ref());
    let vcek = roots.issue_vcek([3; 64], MockTcb::default()).unwrap();
    let report = MockSnpReport {
        report_data: rd,
        ..Default::default()
    }
    .sign(&vcek)
    .unwrap();
    let mut req =
        SevSnpVmRequest::new(&report, &[vcek.der().to_vec(), roots.ask_der().to_vec()]).unwrap();
    req.runtime_data = Some(RuntimeData::new(runtime, RuntimeDataType::Json));
    req.nonce = Some("n-42".into());
    let (status, body) = post(serde_json::to_string(&req).unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let t = AttestationToken::parse(body["token"].as_str().unwrap()).unwrap();
    assert!(t.is_mock_evidence());
    assert_eq!(t.claim("x-ms-runtime.app"), Some(&Value::from("demo")));
    assert_eq!(t.nonce(), Some("n-42"));
    req.nonce = Some("n-43".into());
    let (status, body) = post(serde_json::to_string(&req).unwrap()).await;
    assert_eq!(status, 400, "another nonce than the bound one: {body}");
    req.nonce = None;

    // Other runtime data than the report binds: refused, naming the check.
    req.runtime_data = Some(RuntimeData::new(
        br#"{"app":"evil"}"#,
        RuntimeDataType::Json,
    ));
    let (status, body) = post(serde_json::to_string(&req).unwrap()).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("runtime-data.binding"),
        "{body}"
    );

    // Its own policy: a deny for SevSnpVm leaves AzureGuest's untouched.
    let r = http
        .put(format!("{base}/policies/SevSnpVm"))
        .body("version=1.0; authorizationrules { => deny(); };")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    req.runtime_data = Some(RuntimeData::new(runtime, RuntimeDataType::Json));
    let (status, body) = post(serde_json::to_string(&req).unwrap()).await;
    assert_eq!(status, 400);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("policy.authorization"),
        "{body}"
    );
    let g: Value = http
        .get(format!("{base}/policies/AzureGuest"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(policy_of(claims(&g)["x-ms-policy"].as_str().unwrap()).contains("permit"));

    server.stop().await;
}

/// HTTPS: `serve_tls` with a PEM pair; a client that trusts the certificate
/// gets the JWKS, one that does not is refused by TLS.
#[tokio::test]
async fn the_service_speaks_https() {
    use tee_attest_verifier::service::serve_tls;
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_pem, key_pem) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_pem, cert.pem()).unwrap();
    std::fs::write(&key_pem, key.serialize_pem()).unwrap();

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let base = format!("https://127.0.0.1:{port}");
    let verifier = Arc::new(
        LocalVerifier::new(
            LocalVerifierConfig::new(&base),
            TokenSigner::load_or_generate(dir.path()).unwrap(),
        )
        .unwrap(),
    );
    let state = ServiceState::new(verifier, dir.path()).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve_tls(addr, state, &cert_pem, &key_pem, async {
            let _ = rx.await;
        })
        .await
    });

    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let mut jwks = None;
    for _ in 0..100 {
        match trusting.get(format!("{base}/certs")).send().await {
            Ok(r) => {
                jwks = Some(r.json::<Value>().await.unwrap());
                break;
            }
            Err(_) => tokio::time::sleep(std::time::Duration::from_millis(50)).await,
        }
    }
    assert_eq!(
        jwks.expect("the HTTPS service answers")["keys"][0]["kty"],
        "RSA"
    );
    let untrusting = reqwest::Client::new();
    assert!(
        untrusting
            .get(format!("{base}/certs"))
            .send()
            .await
            .is_err(),
        "a self-signed certificate is not trusted by default"
    );

    let _ = tx.send(());
    server.await.unwrap().unwrap();
}
