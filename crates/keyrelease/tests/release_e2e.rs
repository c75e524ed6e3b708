//! End to end on loopback: a real token from the mock Azure SEV-SNP CVM and
//! the local verifier, the release service, the client, and the unwrap of
//! the transfer key inside the (sw)TPM. Then every refusal, each audited.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest::mock::MockProvider;
use tee_attest_core::{
    AttestationToken, CodedError, ErrorCode, EvidenceProvider, EvidenceRequest, KeyBroker,
    KeyReleaseRequest, VerifyOptions,
};
use tee_attest_keyrelease::client::{
    release_key, unwrap_released_key, ClientConfig, KeyReleaseClient, KeyReleaseResponse,
};
use tee_attest_keyrelease::service::{router, ReleaseState};
use tee_attest_keyrelease::{Enc, Kek, KeyReleaseError, KeySpec, KeyStore};
use tee_attest_maa::{FixedClock, HttpConfig, Jwks, TokenValidator};
use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};

const ISSUER: &str = "http://127.0.0.1:8700";

fn policy(claim: &str, equals: &str) -> String {
    json!({"version": "1.0.0", "anyOf": [{"authority": ISSUER, "allOf": [
        {"claim": claim, "equals": equals}
    ]}]})
    .to_string()
}

struct Server {
    base: String,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(state: Arc<ReleaseState>) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        tee_attest_keyrelease::service::serve(listener, state, async {
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

fn fast() -> ClientConfig {
    ClientConfig::default().with_http(HttpConfig::fast(
        std::time::Duration::from_secs(30),
        1,
        std::time::Duration::from_millis(10),
        std::time::Duration::from_millis(10),
    ))
}

fn status_of(e: &KeyReleaseError) -> (u16, String, String) {
    match e {
        KeyReleaseError::HttpStatus {
            status,
            code,
            message,
            ..
        } => (*status, code.clone(), message.clone()),
        other => panic!("expected an HTTP status, got {other}"),
    }
}

fn tamper_signature(token: &str) -> String {
    let (signed, sig) = token.rsplit_once('.').unwrap();
    let mut sig = URL_SAFE_NO_PAD.decode(sig).unwrap();
    sig[10] ^= 0x40;
    format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn release_to_the_mock_cvm_and_unwrap_in_its_vtpm_then_every_refusal() {
    // A real token: mock CVM evidence appraised by the local verifier.
    let mock = MockProvider::start().expect("swtpm must be installed (cargo xtask deps)");
    let mut cfg = LocalVerifierConfig::new(ISSUER);
    cfg.appraisers = tee_attest::verifiers::appraisers(true).unwrap();
    let verifier = LocalVerifier::new(cfg, TokenSigner::generate().unwrap()).unwrap();
    let mut req = EvidenceRequest::with_nonce(b"0123456789".to_vec());
    req.client_payload
        .insert("Nonce".into(), "0123456789".into());
    let evidence = mock.evidence(&req).await.unwrap();
    let token = verifier
        .attest(&evidence, &VerifyOptions::default())
        .unwrap()
        .raw()
        .to_string();
    let parsed = AttestationToken::parse(&token).unwrap();
    assert!(parsed.is_mock_evidence());
    let jwks = Jwks::parse(verifier.jwks().to_string().as_bytes()).unwrap();

    // The broker: store, validator (mock trusted), signer.
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(KeyStore::open(&dir.path().join("keys.db"), Kek::generate().unwrap()).unwrap());
    let good = policy("x-ms-isolation-tee.x-ms-attestation-type", "sevsnpvm");
    let oct = store
        .create("disk-key", KeySpec::Oct256, &good)
        .await
        .unwrap();
    let rsa = store
        .create("rsa-key", KeySpec::Rsa2048, &good)
        .await
        .unwrap();
    let ec = store
        .create("ec-key", KeySpec::EcP256, &good)
        .await
        .unwrap();
    store
        .create(
            "tdx-only",
            KeySpec::Oct256,
            &policy("x-ms-isolation-tee.x-ms-attestation-type", "tdxvm"),
        )
        .await
        .unwrap();
    let validator =
        Arc::new(TokenValidator::with_jwks(Some(ISSUER), jwks.clone()).allow_mock(true));
    let state = ReleaseState::new(
        store.clone(),
        validator,
        TokenSigner::generate().unwrap(),
        ISSUER,
    );
    let service_jwks = state.jwks();
    let server = start(state.clone()).await;
    let cfg = fast().with_trusted_jwks(service_jwks.clone());
    let decryptor = mock.decryptor().expect("the mock CVM has a vTPM decryptor");

    // Release → unwrap inside the vTPM → the stored key, for each type and
    // each enc the TPM offers.
    for (key, enc) in [
        (&oct, Enc::CkmRsaAesKeyWrap),
        (&oct, Enc::RsaAesKeyWrap256),
        (&rsa, Enc::RsaAesKeyWrap256),
        (&ec, Enc::CkmRsaAesKeyWrap),
    ] {
        let resp = release_key(&server.base, &key.name, None, &token, enc, None, &cfg)
            .await
            .unwrap();
        assert_eq!(resp.enc, enc);
        let got = unwrap_released_key(&resp, &*decryptor).await.unwrap();
        assert_eq!(
            *got,
            *store.material(key).await.unwrap(),
            "{} {enc}",
            key.name
        );
        // The Key Vault shape.
        let k = &resp.payload["response"]["key"];
        assert_eq!(k["key"]["kid"], format!("{ISSUER}/keys/{}/1", key.name));
        assert!(k["attributes"]["exportable"].as_bool().unwrap());
        let data = URL_SAFE_NO_PAD
            .decode(k["release_policy"]["data"].as_str().unwrap())
            .unwrap();
        assert_eq!(data, good.as_bytes());
        assert_eq!(resp.payload["request"]["enc"], enc.name());
        let hsm: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&resp.key_hsm).unwrap()).unwrap();
        assert_eq!(hsm["schema_version"], "1.0");
        assert_eq!(hsm["header"]["alg"], "dir");
        assert_eq!(hsm["header"]["enc"], enc.name());
    }
    assert_eq!(
        resp_kty(&server.base, "rsa-key", &token, &cfg).await,
        "RSA-HSM"
    );

    // An explicit version, a nonce echoed; rotation gives a new version and
    // the old one can still be asked for by number.
    let v2 = store.rotate("disk-key", None).await.unwrap();
    assert_eq!(v2.version, 2);
    let resp = release_key(
        &server.base,
        "disk-key",
        Some("1"),
        &token,
        Enc::RsaAesKeyWrap256,
        Some("n-1"),
        &cfg,
    )
    .await
    .unwrap();
    assert_eq!(resp.nonce(), Some("n-1"));
    assert_eq!(
        *unwrap_released_key(&resp, &*decryptor).await.unwrap(),
        *store.material(&oct).await.unwrap()
    );
    let resp = release_key(
        &server.base,
        "disk-key",
        None,
        &token,
        Enc::RsaAesKeyWrap256,
        None,
        &cfg,
    )
    .await
    .unwrap();
    assert_eq!(
        resp.kid.as_deref(),
        Some(&*format!("{ISSUER}/keys/disk-key/2"))
    );
    assert_eq!(
        *unwrap_released_key(&resp, &*decryptor).await.unwrap(),
        *store.material(&v2).await.unwrap()
    );

    // RSA_AES_KEY_WRAP_384: raw RSA in the vTPM, OAEP-SHA384 decoded here.
    let resp = release_key(
        &server.base,
        "ec-key",
        None,
        &token,
        Enc::RsaAesKeyWrap384,
        None,
        &cfg,
    )
    .await
    .unwrap();
    assert_eq!(
        *unwrap_released_key(&resp, &*decryptor).await.unwrap(),
        *store.material(&ec).await.unwrap()
    );
    // A tampered RSA block is refused, whatever the scheme.
    for enc in [
        Enc::CkmRsaAesKeyWrap,
        Enc::RsaAesKeyWrap256,
        Enc::RsaAesKeyWrap384,
    ] {
        let resp = release_key(&server.base, "disk-key", None, &token, enc, None, &cfg)
            .await
            .unwrap();
        let mut hsm: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&resp.key_hsm).unwrap()).unwrap();
        let mut ct = URL_SAFE_NO_PAD
            .decode(hsm["ciphertext"].as_str().unwrap())
            .unwrap();
        ct[5] ^= 0x10;
        hsm["ciphertext"] = json!(URL_SAFE_NO_PAD.encode(&ct));
        let mut bad = resp.clone();
        bad.key_hsm = URL_SAFE_NO_PAD.encode(hsm.to_string());
        let e = unwrap_released_key(&bad, &*decryptor).await.unwrap_err();
        assert!(
            matches!(
                e.code(),
                ErrorCode::DecryptTpmError | ErrorCode::TpmOperationFailed
            ),
            "{enc}: {e} ({:?})",
            e.code()
        );
    }

    // A response signed by someone else is refused when a JWKS is trusted.
    let other = TokenSigner::generate().unwrap().jwks();
    let e = release_key(
        &server.base,
        "disk-key",
        None,
        &token,
        Enc::RsaAesKeyWrap256,
        None,
        &fast().with_trusted_jwks(other),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, KeyReleaseError::ResponseSignature(_)), "{e}");

    // The KeyBroker trait, over HTTP.
    let client = KeyReleaseClient::new(&server.base, cfg.clone()).unwrap();
    let broker: &dyn KeyBroker = &client;
    let released = broker
        .release(
            &parsed,
            &KeyReleaseRequest::new("rsa-key", "RSA_AES_KEY_WRAP_256"),
        )
        .await
        .unwrap();
    let r = KeyReleaseResponse::parse(&released.response).unwrap();
    r.verify_signature(&service_jwks).unwrap();
    assert_eq!(
        *unwrap_released_key(&r, &*decryptor).await.unwrap(),
        *store.material(&rsa).await.unwrap()
    );

    // The KeyBroker trait, in process (the same decision as the route).
    let local: &dyn KeyBroker = &*state;
    let mut kr = KeyReleaseRequest::new("ec-key", "CKM_RSA_AES_KEY_WRAP");
    kr.nonce = Some("in-process".into());
    let released = local.release(&parsed, &kr).await.unwrap();
    let r = KeyReleaseResponse::parse(&released.response).unwrap();
    r.verify_signature(&service_jwks).unwrap();
    assert_eq!(r.nonce(), Some("in-process"));
    assert_eq!(
        *unwrap_released_key(&r, &*decryptor).await.unwrap(),
        *store.material(&ec).await.unwrap()
    );
    let e = local.release(&parsed, &kr).await.unwrap_err();
    assert_eq!(
        e.code(),
        ErrorCode::AttestationFailed,
        "replayed in process: {e}"
    );

    // ---- Refusals ----
    let audit_before = store.audit_log(1000).await.unwrap().len();

    // A policy that does not match: 403, naming the condition.
    let e = release_key(
        &server.base,
        "tdx-only",
        None,
        &token,
        Enc::RsaAesKeyWrap256,
        None,
        &cfg,
    )
    .await
    .unwrap_err();
    let (status, code, msg) = status_of(&e);
    assert_eq!((status, code.as_str()), (403, "Forbidden"));
    assert!(
        msg.contains("x-ms-isolation-tee.x-ms-attestation-type"),
        "{msg}"
    );
    assert!(msg.contains("tdxvm"), "{msg}");

    // Unknown key and unknown version: 404.
    for (name, version) in [
        ("nope", None),
        ("disk-key", Some("9")),
        ("disk-key", Some("abc")),
    ] {
        let e = release_key(
            &server.base,
            name,
            version,
            &token,
            Enc::RsaAesKeyWrap256,
            None,
            &cfg,
        )
        .await
        .unwrap_err();
        assert_eq!(status_of(&e).0, 404, "{name} {version:?}");
    }

    // A wrong enc: 400 (raw HTTP: the client only sends valid ones).
    let http = reqwest::Client::new();
    let resp = http
        .post(format!(
            "{}/keys/disk-key/release?api-version=7.4",
            server.base
        ))
        .body(json!({"target": token, "enc": "A256KW"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = serde_json::from_slice(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "BadParameter");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("A256KW"));
    // Not JSON: 400.
    let resp = http
        .post(format!("{}/keys/disk-key/release", server.base))
        .body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);

    // A replayed nonce: the first use releases, the second is refused.
    release_key(
        &server.base,
        "disk-key",
        None,
        &token,
        Enc::RsaAesKeyWrap256,
        Some("once"),
        &cfg,
    )
    .await
    .unwrap();
    let e = release_key(
        &server.base,
        "disk-key",
        None,
        &token,
        Enc::RsaAesKeyWrap256,
        Some("once"),
        &cfg,
    )
    .await
    .unwrap_err();
    let (status, _, msg) = status_of(&e);
    assert_eq!(status, 403);
    assert!(msg.contains("replay"), "{msg}");
    // The same nonce for another key is fine.
    release_key(
        &server.base,
        "rsa-key",
        None,
        &token,
        Enc::RsaAesKeyWrap256,
        Some("once"),
        &cfg,
    )
    .await
    .unwrap();

    // A token with a bad signature: 400 naming the signature check.
    let e = release_key(
        &server.base,
        "disk-key",
        None,
        &tamper_signature(&token),
        Enc::RsaAesKeyWrap256,
        None,
        &cfg,
    )
    .await
    .unwrap_err();
    let (status, _, msg) = status_of(&e);
    assert_eq!(status, 400);
    assert!(msg.contains("signature"), "{msg}");
    server.stop().await;

    // An expired token (the validator's clock a year ahead) and a mock token
    // when mocks are not trusted: refused by those checks.
    let year_ahead = parsed.expires_at().unwrap() + 365 * 24 * 3600;
    let cases: [(TokenValidator, &str); 2] = [
        (
            TokenValidator::with_jwks(Some(ISSUER), jwks.clone())
                .allow_mock(true)
                .with_clock(Arc::new(FixedClock(year_ahead))),
            "expired",
        ),
        (
            TokenValidator::with_jwks(Some(ISSUER), jwks.clone()),
            "mock",
        ),
    ];
    for (validator, needle) in cases {
        let st = ReleaseState::new(
            store.clone(),
            Arc::new(validator),
            TokenSigner::generate().unwrap(),
            ISSUER,
        );
        let srv = start(st).await;
        let e = release_key(
            &srv.base,
            "disk-key",
            None,
            &token,
            Enc::RsaAesKeyWrap256,
            None,
            &fast(),
        )
        .await
        .unwrap_err();
        let (status, code, msg) = status_of(&e);
        assert_eq!((status, code.as_str()), (400, "BadParameter"));
        assert!(msg.contains(needle), "{needle}: {msg}");
        srv.stop().await;
    }

    // Every refusal was audited, with the failing condition and without key
    // material; released rows carry the token's jti and issuer.
    let log = store.audit_log(1000).await.unwrap();
    let refusals: Vec<_> = log[audit_before..]
        .iter()
        .filter(|r| r.decision == "refused")
        .collect();
    assert_eq!(refusals.len(), 10, "{refusals:#?}");
    let reasons: Vec<&str> = refusals
        .iter()
        .map(|r| r.reason.as_deref().unwrap())
        .collect();
    for needle in [
        "tdxvm",
        "not found",
        "A256KW",
        "not JSON",
        "replay",
        "signature",
        "expired",
        "mock",
    ] {
        assert!(
            reasons.iter().any(|r| r.contains(needle)),
            "{needle}: {reasons:#?}"
        );
    }
    let jti = parsed.claim("jti").unwrap().as_str().unwrap();
    let released: Vec<_> = log.iter().filter(|r| r.decision == "released").collect();
    assert!(released.len() >= 9);
    assert!(released
        .iter()
        .all(|r| r.jti.as_deref() == Some(jti) && r.issuer.as_deref() == Some(ISSUER)));
    let mut materials: Vec<Vec<u8>> = Vec::new();
    for k in [&oct, &v2, &rsa, &ec] {
        materials.push(store.material(k).await.unwrap().to_vec());
    }
    let hexes: Vec<String> = materials.iter().map(|m| hex::encode(&m[..16])).collect();
    for r in &log {
        let text = format!("{r:?}");
        for h in &hexes {
            assert!(!text.contains(h.as_str()));
        }
    }
}

async fn resp_kty(base: &str, name: &str, token: &str, cfg: &ClientConfig) -> String {
    let resp = release_key(base, name, None, token, Enc::RsaAesKeyWrap256, None, cfg)
        .await
        .unwrap();
    resp.key["kty"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn the_router_merges_into_another() {
    let store = Arc::new(KeyStore::in_memory(Kek::generate().unwrap()).unwrap());
    let validator = Arc::new(TokenValidator::with_jwks(Some(ISSUER), Jwks::default()));
    let state = ReleaseState::new(store, validator, TokenSigner::generate().unwrap(), ISSUER);
    let app = axum::Router::new()
        .route("/other", axum::routing::get(|| async { "ok" }))
        .merge(router(state));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let task = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let http = reqwest::Client::new();
    let jwks: Value = serde_json::from_slice(
        &http
            .get(format!("{base}/keyrelease/certs"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    let other = http.get(format!("{base}/other")).send().await.unwrap();
    assert_eq!(other.text().await.unwrap(), "ok");
    task.abort();
}
