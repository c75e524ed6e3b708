//! `tee-attest serve --ita-api-keys` as Intel Trust Authority, offline:
//! the mock bare-metal TDX guest (`mock up --tee tdx`) and the mock Azure
//! TDX CVM (`mock up --tee azure-tdx`) attest through it with ITA's own
//! client — `attest --verifier ita=URL` as a separate process, and
//! `tee_attest_ita::ItaClient` in process over the real providers — and a
//! relying party validates each token with `ItaValidator` against the
//! service's `/certs`. Unknown API keys, replayed requests and a service
//! started without the flag are refused. Everything is on 127.0.0.1.

use std::collections::BTreeMap;
use std::process::{Command, Output};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use tee_attest_azure::provider::{AzureTdxConfig, AzureTdxProvider};
use tee_attest_core::{AttestationToken, EvidenceProvider, EvidenceRequest, VerifyOptions};
use tee_attest_ita::{
    ApiKey, Expectations, HttpConfig, ItaClient, ItaConfig, ItaError, ItaToken, ItaValidator,
    KeyTrust, TokenAlg,
};
use tee_attest_mock::intel::MockIntelPlatform;
use tee_attest_tdx_guest::{TdxGuestConfig, TdxGuestProvider};

const KEY: &str = "cli-ita-key-0123456789abcdef";

mod common;

use common::{cli, ok, serve, Mock, Serve};

/// The CLI with `m`'s exports and an ITA API key.
fn cli_with_key(m: &Mock, api_key: &str) -> Command {
    let mut c = m.cli_without(&[]);
    c.env("TEE_ATTEST_ITA_API_KEY", api_key);
    c
}

/// `serve` with the ITA profile for [`KEY`].
fn serve_ita(m: &Mock) -> (Serve, String) {
    let keys = m.dir.path().join("ita-api-keys");
    std::fs::write(&keys, format!("# the tests' key\n{KEY}\n")).unwrap();
    serve(
        m.dir.path(),
        &["--trust-mock", "--ita-api-keys", keys.to_str().unwrap()],
    )
}

fn http() -> HttpConfig {
    let mut h = HttpConfig::default();
    h.max_attempts = 1;
    h
}

/// A relying party of the service's ITA profile.
fn validator(url: &str) -> ItaValidator {
    ItaValidator::with_certs_url(&format!("{url}/certs"), KeyTrust::AsServed, http())
        .unwrap()
        .with_issuer(url)
        .with_algorithms(&[TokenAlg::Ps384])
}

fn client(url: &str) -> ItaClient {
    ItaClient::new(ItaConfig::new(url, ApiKey::new(KEY).unwrap()).with_http(http()))
        .unwrap()
        .with_validator(validator(url))
}

/// `attest --tee TEE --verifier ita=URL` with `api_key`.
fn attest_with_ita(m: &Mock, tee: &str, url: &str, api_key: &str, nonce: &str) -> Output {
    cli_with_key(m, api_key)
        .args([
            "attest",
            "--tee",
            tee,
            "--verifier",
            &format!("ita={url}"),
            "--ita-issuer",
            url,
            "--payload",
            &format!(r#"{{"nonce":"{nonce}","app":"cli"}}"#),
        ])
        .output()
        .unwrap()
}

/// The token's header.
fn header(raw: &str) -> Value {
    serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(raw.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap()
}

/// Evidence from `provider` for a challenge of `c`, attested.
async fn attest_in_process(
    c: &ItaClient,
    provider: &dyn EvidenceProvider,
    nonce: &str,
) -> ItaToken {
    let payload = BTreeMap::from([("nonce".to_string(), nonce.to_string())]);
    let ch = c
        .issue_challenge(provider.evidence_type(), nonce.as_bytes(), &payload)
        .await
        .unwrap();
    let mut req = EvidenceRequest::with_nonce(ch.nonce.clone());
    req.runtime_data = ch.runtime_data.clone();
    req.runtime_data_json = ch.runtime_data_json;
    req.report_data = Some(ch.report_data);
    req.client_payload = payload;
    let evidence = provider.evidence(&req).await.unwrap();
    let mut opts = VerifyOptions::default();
    opts.nonce = Some(ch.nonce);
    c.attest_evidence(&evidence, &opts).await.unwrap()
}

/// What both TEEs' tokens carry: ITA's v2 layout, PS384, the service's
/// issuer, the mock TD's MRTD, the nonce in the runtime data, the mock
/// claim.
fn check_token(raw: &str, url: &str, nonce: &str) {
    let h = header(raw);
    assert_eq!(h["alg"], "PS384");
    assert_eq!(h["jku"], format!("{url}/certs"));
    let t = AttestationToken::parse(raw).unwrap();
    let c = t.claims();
    assert_eq!(c["iss"], url);
    assert_eq!(c["ver"], "2.0.0");
    assert_eq!(c["attester_type"], "TDX");
    assert_eq!(c["tdx"]["attester_type"], "TDX");
    assert!(c["tdx"]["attester_tcb_status"].is_string());
    assert!(c["verifier_nonce"]["signature"].is_string());
    let mrtd = hex::encode(MockIntelPlatform::stored().unwrap().td().mr_td);
    assert_eq!(c["tdx"]["tdx_mrtd"], mrtd);
    assert!(t.is_mock_evidence());
    let runtime_nonce = match c["tdx"]["attester_runtime_data"].get("user-data") {
        // Azure: the runtime data is the HCL's variable data; the user
        // data (with the nonce) is held.
        Some(_) => {
            let held = base64::engine::general_purpose::STANDARD
                .decode(c["tdx"]["attester_held_data"].as_str().unwrap())
                .unwrap();
            serde_json::from_slice::<Value>(&held).unwrap()["nonce"].clone()
        }
        None => c["tdx"]["attester_runtime_data"]["nonce"].clone(),
    };
    assert_eq!(runtime_nonce, nonce);
}

#[test]
fn a_bare_metal_tdx_guest_attests_through_serve_with_the_ita_client() {
    let m = Mock::up("tdx");
    let (_serve, url) = serve_ita(&m);

    // A separate process: `attest --verifier ita=URL`.
    let out = attest_with_ita(&m, "tdx", &url, KEY, "ita-cli-tdx");
    let raw = ok(&out);
    check_token(raw.trim(), &url, "ita-cli-tdx");
    // A relying party with the CLI: `token verify --profile ita`, with the
    // token's own verifier nonce, and with another one (refused, 6).
    let token_file = m.dir.path().join("ita.jwt");
    std::fs::write(&token_file, raw.trim()).unwrap();
    let val = AttestationToken::parse(raw.trim()).unwrap().claims()["verifier_nonce"]["val"]
        .as_str()
        .unwrap()
        .to_string();
    let verify = |nonce: &str| {
        cli()
            .args(["token", "verify", "--profile", "ita"])
            .arg(&token_file)
            .args(["--jwks", &format!("{url}/certs"), "--issuer", &url])
            .args(["--nonce", nonce])
            .output()
            .unwrap()
    };
    let claims: Value = serde_json::from_str(&ok(&verify(&val))).unwrap();
    assert_eq!(claims["attester_type"], "TDX");
    let out = verify("bm90LXRoZS1ub25jZQ==");
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The MAA profile refuses the ITA token (PS384, no x-ms-ver).
    let out = cli()
        .args(["token", "verify"])
        .arg(&token_file)
        .args(["--issuer", &url, "--allow-mock"])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    // An API key the service does not know: code 3.
    let out = attest_with_ita(&m, "tdx", &url, "not-the-key-0123456789", "x");
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stderr).contains("not-the-key"));

    // In process: the real provider, the real client, a relying party.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let provider = TdxGuestProvider::new(
            TdxGuestConfig::default()
                .with_tsm_root(m.var("TEE_ATTEST_TSM_ROOT"))
                .with_ccel_root(m.var("TEE_ATTEST_CCEL_ROOT"))
                .with_dev_root(m.dir.path().join("dev")),
        );
        let c = client(&url);
        let token = attest_in_process(&c, &provider, "ita-in-process").await;
        check_token(token.raw(), &url, "ita-in-process");
        let claims = token.claims().unwrap();
        let tdx = claims.tdx().unwrap();
        // The guest's CC event log went with the quote: RTMRs replayed.
        assert!(tdx.rtmr(0).is_some());
        // A relying party with the nonce the client was given.
        let n = claims.verifier_nonce().unwrap();
        let nonce = tee_attest_ita::VerifierNonce::new(&n.val, &n.iat, &n.signature).unwrap();
        validator(&url)
            .validate(token.raw(), Expectations::nonce(&nonce))
            .await
            .unwrap();

        // A request, accepted once; the same again is refused (spent).
        let nonce = c.nonce().await.unwrap();
        let user = br#"{"nonce":"replayed"}"#.to_vec();
        let mut er = EvidenceRequest::with_nonce(b"replayed".to_vec());
        er.runtime_data = user.clone();
        er.report_data = Some(tee_attest_ita::report_data(&nonce, &user));
        let e = provider.evidence(&er).await.unwrap();
        let req = tee_attest_ita::AttestRequest::tdx(e.hardware_report.clone(), user, nonce);
        c.attest(&req).await.unwrap();
        match c.attest(&req).await.unwrap_err() {
            ItaError::Refused {
                status, message, ..
            } => {
                assert_eq!(status, 400);
                assert!(message.contains("verifier_nonce.spent"), "{message}");
            }
            other => panic!("expected a refusal: {other}"),
        }
    });
}

#[test]
fn an_azure_tdx_cvm_attests_through_serve_with_the_ita_client() {
    let m = Mock::up("azure-tdx");
    let (_serve, url) = serve_ita(&m);

    let out = attest_with_ita(&m, "azure-tdx", &url, KEY, "ita-cli-azure");
    let raw = ok(&out);
    check_token(raw.trim(), &url, "ita-cli-azure");

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut cfg = AzureTdxConfig::default();
        cfg.tcti = Some(m.var("TEE_ATTEST_TCTI"));
        cfg.imds_url = m.var("TEE_ATTEST_IMDS_URL");
        cfg.event_log = m.var("TEE_ATTEST_EVENT_LOG").into();
        let provider = AzureTdxProvider::new(cfg).unwrap();
        let c = client(&url);
        let token = attest_in_process(&c, &provider, "ita-azure-in-process").await;
        check_token(token.raw(), &url, "ita-azure-in-process");
        // The HCL's variable data is the runtime data: its VM configuration
        // is there for a relying party.
        let tdx = token.claims().unwrap().tdx().unwrap().clone();
        let var = tdx.attester_runtime_data.unwrap();
        assert_eq!(var["vm-configuration"]["secure-boot"], true);
    });
}

#[test]
fn without_the_flag_the_ita_routes_are_not_served() {
    let dir = tempfile::tempdir().unwrap();
    let (_serve, url) = serve(dir.path(), &["--trust-mock"]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let http = reqwest::Client::new();
        for (method, path) in [
            ("GET", "/appraisal/v2/nonce"),
            ("POST", "/appraisal/v2/attest"),
            ("POST", "/appraisal/v2/attest/azure"),
        ] {
            let r = http
                .request(method.parse().unwrap(), format!("{url}{path}"))
                .header("x-api-key", KEY)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 404, "{method} {path}");
            let body: Value = r.json().await.unwrap();
            assert_eq!(body["error"]["code"], "NotFound");
        }
        // Only the verifier's key is published.
        let certs: Value = http
            .get(format!("{url}/certs"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(certs["keys"].as_array().unwrap().len(), 1);
    });
    // A keys file without a key, or a lifetime past the cap: `serve`
    // refuses to start (code 8), naming neither key nor file content.
    let keys = dir.path().join("keys");
    std::fs::write(&keys, "# nothing here\n").unwrap();
    for extra in [
        vec!["--ita-api-keys", keys.to_str().unwrap()],
        vec![
            "--ita-api-keys",
            keys.to_str().unwrap(),
            "--ita-nonce-ttl",
            "7200",
        ],
    ] {
        let out = cli()
            .args(["serve", "--addr", "127.0.0.1:1", "--data-dir"])
            .arg(dir.path().join("refused"))
            .args(&extra)
            .env("TEE_ATTEST_KEK", "00".repeat(32))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(8),
            "{extra:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
