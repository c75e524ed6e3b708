//! The ITA profile on a real loopback listener, with Intel Trust
//! Authority's own client (`tee_attest_ita::ItaClient`): mock Intel TD
//! quotes (the mock root trusted explicitly, collateral from the mock
//! platform) bound to the service's nonces give PS384 tokens in ITA's v2
//! layout that `ItaValidator` accepts against the service's `/certs`;
//! API keys, nonces (forged, expired, replayed, bound to another request)
//! and policies are refused as documented, in ITA's error shape; the
//! MAA profile keeps working next to it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest_core::{CodedError, Evidence, TeeId, VerifyOptions, MOCK_EVIDENCE_CLAIM};
use tee_attest_ita::{
    report_data, ApiKey, AttestRequest, Expectations, HttpConfig, ItaClient, ItaConfig, ItaError,
    ItaToken, ItaValidator, KeyTrust, TokenAlg, TokenCheck, VerifierNonce, AZURE_GUEST_TDX, TDX_VM,
};
use tee_attest_maa::{Jwks, TokenValidator};
use tee_attest_mock::intel::{MockCcEventLog, MockCollateralSource, MockIntelPlatform};
use tee_attest_tdx::{CollateralChain, DcapAppraiser, DcapTrust, VerifyOptions as DcapOptions};
use tee_attest_verifier::service::ita::{self, ApiKeys, ItaProfile};
use tee_attest_verifier::service::{api, serve_observed, AdminConfig, ServiceState};
use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};

const KEY: &str = "ita-test-key-0123456789abcdef";
const OTHER_KEY: &str = "ita-test-key-other-0123456789";
const MATCHING: &str = "c7c49dd2-a96a-43bd-8cee-f2aa99503458";
const NOT_MATCHING: &str = "0b1d8a53-5f6e-4c3e-9a55-6f3b1e2d4c7a";
const UNKNOWN: &str = "11111111-2222-4333-8444-555555555555";

struct Server {
    base: String,
    dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

/// `serve` in process: the verifier's routes and the ITA profile's, the
/// mock Intel root trusted, the policies of the tests in place.
async fn start(nonce_ttl: Duration) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let platform = MockIntelPlatform::stored().unwrap();
    let chain =
        CollateralChain::new().with_source(Arc::new(MockCollateralSource::new(platform.clone())));
    let trust = Arc::new(
        DcapTrust::new(
            &[platform.root_der().to_vec()],
            chain,
            DcapOptions::default(),
        )
        .unwrap(),
    );
    let mut cfg = LocalVerifierConfig::new(&base);
    cfg.appraisers = vec![Arc::new(DcapAppraiser::tdx_vm(trust))];
    let verifier = Arc::new(
        LocalVerifier::new(cfg, TokenSigner::load_or_generate(dir.path()).unwrap()).unwrap(),
    );
    let state = ServiceState::with_admin(verifier, dir.path(), AdminConfig::locked()).unwrap();
    let policies = dir.path().join(ita::POLICY_DIR);
    std::fs::create_dir_all(&policies).unwrap();
    std::fs::write(
        policies.join(format!("{MATCHING}.policy")),
        "version=1.0;\nauthorizationrules\n{\n    c:[type==\"attester_type\", value==\"TDX\"] \
         => permit();\n};\nissuancerules\n{\n    c:[type==\"tdx_mrtd\"] => \
         issue(type=\"mrtd-seen\", value=c.value);\n};\n",
    )
    .unwrap();
    std::fs::write(
        policies.join(format!("{NOT_MATCHING}.policy")),
        "version=1.0;\nauthorizationrules\n{\n    c:[type==\"tdx_is_debuggable\", value==true] \
         => permit();\n};\nissuancerules\n{\n};\n",
    )
    .unwrap();
    let profile = ItaProfile::new(ApiKeys::parse(&format!("# test keys\n{KEY}\n")).unwrap())
        .with_nonce_ttl(nonce_ttl);
    let ita_api = ita::api(state.clone(), profile).unwrap();
    let limits = state.limits().clone();
    let ops = state.ops().clone();
    let app = api(state).merge(ita_api).into_app();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve_observed(listener, app, limits, ops, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server {
        base,
        dir,
        stop: Some(tx),
        task,
    }
}

fn http() -> HttpConfig {
    let mut h = HttpConfig::default();
    h.max_attempts = 1;
    h
}

/// A relying party of the ITA profile: keys from the service's `/certs`
/// (as served: the service's certificate is self-signed, not a CA to
/// pin), its issuer, PS384 only.
fn validator(base: &str) -> ItaValidator {
    ItaValidator::with_certs_url(&format!("{base}/certs"), KeyTrust::AsServed, http())
        .unwrap()
        .with_issuer(base)
        .with_algorithms(&[TokenAlg::Ps384])
}

/// The real ITA client, pointed at the service.
fn client(base: &str, key: &str, policies: &[&str]) -> ItaClient {
    let mut cfg = ItaConfig::new(base, ApiKey::new(key).unwrap()).with_http(http());
    if !policies.is_empty() {
        cfg = cfg
            .with_policies(policies.iter().map(|p| p.to_string()), false)
            .unwrap();
    }
    ItaClient::new(cfg).unwrap().with_validator(validator(base))
}

fn payload(nonce: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("nonce".to_string(), nonce.to_string()),
        ("app".to_string(), "ita-profile".to_string()),
    ])
}

/// Bare-metal TDX evidence for a challenge of `c`: a mock v4 quote whose
/// REPORTDATA is the challenge's, with the mock firmware's CC event log.
async fn tdx_evidence(c: &ItaClient, nonce: &str) -> (Evidence, VerifyOptions) {
    let platform = MockIntelPlatform::stored().unwrap();
    let ch = c
        .issue_challenge(TDX_VM, nonce.as_bytes(), &payload(nonce))
        .await
        .unwrap();
    let log = MockCcEventLog::firmware();
    let mut td = platform.td();
    td.report_data = ch.report_data;
    td.rtmr = log.rtmrs();
    let mut e = Evidence::new(TeeId::new("tdx"), TDX_VM);
    e.hardware_report = platform.tdx_quote_v4(&td).unwrap();
    e.runtime_data = ch.runtime_data.clone();
    e.runtime_data_json = ch.runtime_data_json;
    e.event_log = Some(log.log().to_vec());
    e.nonce = ch.nonce.clone();
    let mut opts = VerifyOptions::default();
    opts.nonce = Some(ch.nonce);
    (e, opts)
}

/// HCL variable data whose `user-data` is `user_data_hash`, as the Azure
/// TDX CVM's HCL writes it.
fn var_data(user_data_hash: &[u8; 64]) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "keys": [{"kid": "HCLAkPub", "kty": "RSA", "e": "AQAB", "n": "AQAB"}],
        "vm-configuration": {"secure-boot": true, "tpm-enabled": true, "vmUniqueId": "vm-1"},
        "user-data": hex::encode_upper(user_data_hash),
    }))
    .unwrap()
}

/// A mock TD quote binding `var_data` as the HCL does (SHA-256 first).
fn hcl_quote(var_data: &[u8]) -> Vec<u8> {
    let platform = MockIntelPlatform::stored().unwrap();
    let mut td = platform.td();
    td.report_data = [0; 64];
    td.report_data[..32]
        .copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, var_data).as_ref());
    platform.tdx_quote_v4(&td).unwrap()
}

/// A nonce from the service.
async fn fresh_nonce(c: &ItaClient) -> VerifierNonce {
    c.nonce().await.unwrap()
}

/// A quote bound to `nonce` and `user` on bare TDX.
fn bare_request(nonce: &VerifierNonce, user: &[u8]) -> AttestRequest {
    let platform = MockIntelPlatform::stored().unwrap();
    let mut td = platform.td();
    td.report_data = report_data(nonce, user);
    AttestRequest::tdx(
        platform.tdx_quote_v4(&td).unwrap(),
        user.to_vec(),
        nonce.clone(),
    )
}

/// The message of ITA's error answer of a refused request, with its status.
fn refused(e: ItaError) -> (u16, String) {
    match e {
        ItaError::Refused {
            status, message, ..
        } => (status, message),
        other => panic!("expected a refusal, got {other}"),
    }
}

async fn post(
    base: &str,
    path: &str,
    key: Option<&str>,
    body: &str,
) -> (u16, HeaderMapLite, Value) {
    let mut r = reqwest::Client::new()
        .post(format!("{base}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(k) = key {
        r = r.header("x-api-key", k);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status().as_u16();
    let h = HeaderMapLite::of(resp.headers());
    (status, h, resp.json().await.unwrap_or(Value::Null))
}

/// The headers the tests look at.
struct HeaderMapLite {
    www_authenticate: Option<String>,
}

impl HeaderMapLite {
    fn of(h: &reqwest::header::HeaderMap) -> Self {
        Self {
            www_authenticate: h
                .get("www-authenticate")
                .map(|v| v.to_str().unwrap().to_string()),
        }
    }
}

fn hex48(b: &[u8; 48]) -> String {
    hex::encode(b)
}

#[tokio::test]
async fn an_ita_client_attests_bare_tdx_and_the_token_is_itas_v2_layout() {
    let s = start(ita::DEFAULT_NONCE_TTL).await;
    let c = client(&s.base, KEY, &[MATCHING]);
    let (e, opts) = tdx_evidence(&c, "bare-1").await;
    let token: ItaToken = c.attest_evidence(&e, &opts).await.unwrap();
    assert_eq!(token.alg(), TokenAlg::Ps384);

    // The kid is the ITA key's, published in /certs next to the RS256 key
    // with `"alg": "PS384"` and `x5c`.
    let certs: Value = reqwest::get(format!("{}/certs", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let keys = certs["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2, "{certs}");
    assert_eq!(keys[0]["alg"], "RS256");
    assert_eq!(keys[1]["alg"], "PS384");
    assert_eq!(keys[1]["kid"], token.kid());
    assert_ne!(keys[0]["kid"], keys[1]["kid"]);
    assert_eq!(keys[1]["x5c"].as_array().unwrap().len(), 1);
    let ita_cert = std::fs::read(s.dir.path().join("ita/signing-cert.der")).unwrap();
    assert_eq!(keys[1]["x5c"][0], STANDARD.encode(&ita_cert));

    // The header, as ITA writes it.
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(token.raw().split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(
        header,
        json!({"alg": "PS384", "jku": format!("{}/certs", s.base), "kid": token.kid(), "typ": "JWT"})
    );

    // The claims, field by field, through the ITA crate's typed claims.
    let platform = MockIntelPlatform::stored().unwrap();
    let td = platform.td();
    let rtmrs = MockCcEventLog::firmware().rtmrs();
    let claims = token.claims().unwrap();
    assert_eq!(claims.iss.as_deref(), Some(s.base.as_str()));
    assert_eq!(claims.ver.as_deref(), Some(ita::ITA_TOKEN_VERSION));
    assert_eq!(claims.eat_profile.as_deref(), Some(ita::ITA_EAT_PROFILE));
    assert_eq!(claims.dbgstat.as_deref(), Some("disabled"));
    let (iat, exp, nbf) = (
        claims.iat.unwrap(),
        claims.exp.unwrap(),
        claims.nbf.unwrap(),
    );
    assert_eq!(exp - iat, 300);
    assert_eq!(nbf, iat);
    assert!(tee_attest_ita::request::is_uuid(
        claims.jti.as_deref().unwrap()
    ));
    assert_eq!(claims.attester_type.as_deref(), Some("TDX"));
    assert_eq!(claims.attester_tcb_status.as_deref(), Some("UpToDate"));
    assert_eq!(claims.attester_advisory_ids.as_deref(), Some(&[][..]));
    let matched: Vec<&str> = claims.matched_policy_ids().collect();
    assert_eq!(matched, [MATCHING]);
    let m = &claims.policy_ids_matched.as_ref().unwrap()[0];
    assert_eq!(m.version.as_deref(), Some("v1"));
    assert!(m.hash.as_deref().is_some_and(|h| !h.is_empty()));
    assert!(claims.policy_ids_unmatched.is_none());
    assert_eq!(
        claims.policy_defined_claims.as_ref().unwrap()["mrtd-seen"],
        hex48(&td.mr_td)
    );
    let nonce_claim = claims.verifier_nonce.as_ref().unwrap();
    let tdx = claims.tdx_object.as_ref().expect("a v2 token nests `tdx`");
    assert_eq!(tdx.verifier_nonce.as_ref(), Some(nonce_claim));
    assert_eq!(tdx.attester_type.as_deref(), Some("TDX"));
    assert_eq!(tdx.attester_tcb_status.as_deref(), Some("UpToDate"));
    assert!(tdx.attester_tcb_date.is_some());
    assert_eq!(tdx.attester_advisory_ids.as_deref(), Some(&[][..]));
    assert_eq!(tdx.eat_profile.as_deref(), Some(ita::ITA_EAT_PROFILE));
    assert_eq!(tdx.dbgstat.as_deref(), Some("disabled"));
    assert_eq!(tdx.intuse.as_deref(), Some("generic"));
    assert_eq!(tdx.mrtd(), Some(td.mr_td));
    assert_eq!(tdx.mrseam(), Some(td.mr_seam));
    assert_eq!(tdx.mrconfigid(), Some(td.mr_config_id));
    for (i, r) in rtmrs.iter().enumerate() {
        assert_eq!(tdx.rtmr(i), Some(*r), "rtmr{i}");
    }
    assert_eq!(
        tdx.tdx_mrowner.as_deref(),
        Some(hex48(&td.mr_owner).as_str())
    );
    assert_eq!(
        tdx.tdx_mrownerconfig.as_deref(),
        Some(hex48(&td.mr_owner_config).as_str())
    );
    assert_eq!(
        tdx.tdx_mrsignerseam.as_deref(),
        Some(hex48(&td.mr_signer_seam).as_str())
    );
    assert_eq!(tdx.tdx_xfam.as_deref(), Some(hex::encode(td.xfam).as_str()));
    assert_eq!(
        tdx.tdx_td_attributes.as_deref(),
        Some(hex::encode(td.td_attributes).as_str())
    );
    assert_eq!(
        tdx.tdx_seam_attributes.as_deref(),
        Some(hex::encode(td.seam_attributes).as_str())
    );
    assert_eq!(
        tdx.tdx_tee_tcb_svn.as_deref(),
        Some(hex::encode(td.tee_tcb_svn).as_str())
    );
    assert_eq!(
        tdx.tdx_seamsvn,
        Some(u64::from(u16::from_le_bytes([
            td.tee_tcb_svn[0],
            td.tee_tcb_svn[1]
        ])))
    );
    assert_eq!(tdx.tdx_is_debuggable, Some(false));
    assert_eq!(tdx.is_debuggable(), Some(false));
    assert_eq!(tdx.tdx_td_attributes_debug, Some(false));
    assert!(tdx.tdx_td_attributes_septve_disable.is_some());
    let collateral = tdx.tdx_collateral.as_ref().unwrap();
    for h in [
        &collateral.qeidcerthash,
        &collateral.qeidcrlhash,
        &collateral.qeidhash,
        &collateral.quotehash,
        &collateral.tcbinfocerthash,
        &collateral.tcbinfocrlhash,
        &collateral.tcbinfohash,
    ] {
        assert!(
            h.as_deref().is_some_and(|h| !h.is_empty()),
            "{collateral:?}"
        );
    }
    // REPORTDATA is SHA-512(val ‖ iat ‖ user data); the user data is the
    // runtime data, held and (JSON) given back.
    let rd = tdx.report_data().unwrap();
    let nonce =
        VerifierNonce::new(&nonce_claim.val, &nonce_claim.iat, &nonce_claim.signature).unwrap();
    assert_eq!(rd, report_data(&nonce, &e.runtime_data));
    assert_eq!(
        tdx.attester_held_data.as_deref(),
        Some(STANDARD.encode(&e.runtime_data).as_str())
    );
    let runtime: Value = serde_json::from_slice(&e.runtime_data).unwrap();
    assert_eq!(tdx.attester_runtime_data.as_ref(), Some(&runtime));
    assert_eq!(runtime["nonce"], "bare-1");
    // The service's mock trust: the token says the evidence is mock.
    let raw = token.token().claims();
    assert_eq!(raw[MOCK_EVIDENCE_CLAIM], true);
    assert_eq!(raw["attester_runtime_data"], runtime);
    assert!(raw["tdx"].get("x-ms-attestation-type").is_none());
    assert!(raw["tdx"].get(MOCK_EVIDENCE_CLAIM).is_none());

    // A relying party with the ITA crate's validator agrees, with the
    // nonce and the policy expected.
    let again = validator(&s.base)
        .validate(
            token.raw(),
            Expectations::nonce(&nonce).with_policy_ids(&[MATCHING.to_string()]),
        )
        .await
        .unwrap();
    assert_eq!(again.kid(), token.kid());

    // The `Verifier` trait path, as `attest --verifier ita=URL` uses it.
    let (e2, opts2) = tdx_evidence(&c, "bare-2").await;
    let t2 = tee_attest_core::Verifier::verify(&c, &e2, &opts2)
        .await
        .unwrap();
    assert_eq!(t2.claims()["attester_runtime_data"]["nonce"], "bare-2");
    s.stop().await;
}

#[tokio::test]
async fn an_ita_client_attests_an_azure_tdx_cvm() {
    let s = start(ita::DEFAULT_NONCE_TTL).await;
    let c = client(&s.base, KEY, &[]);
    let ch = c
        .issue_challenge(AZURE_GUEST_TDX, b"azure-1", &payload("azure-1"))
        .await
        .unwrap();
    // The HCL writes the report data as its user data, and the TDREPORT
    // binds the variable data.
    let vd = var_data(&ch.report_data);
    let mut e = Evidence::new(TeeId::new("azure-tdx"), AZURE_GUEST_TDX);
    e.hardware_report = hcl_quote(&vd);
    e.runtime_data = vd.clone();
    e.nonce = ch.nonce.clone();
    let token = c
        .attest_evidence(&e, &VerifyOptions::default())
        .await
        .unwrap();
    let claims = token.claims().unwrap();
    let tdx = claims.tdx().unwrap();
    assert_eq!(claims.attester_type.as_deref(), Some("TDX"));
    assert_eq!(
        tdx.mrtd(),
        Some(MockIntelPlatform::stored().unwrap().td().mr_td)
    );
    // The variable data comes back as the runtime data, the user data as
    // the held data.
    let var: Value = serde_json::from_slice(&vd).unwrap();
    assert_eq!(tdx.attester_runtime_data.as_ref(), Some(&var));
    assert_eq!(
        tdx.attester_held_data.as_deref(),
        Some(STANDARD.encode(&ch.runtime_data).as_str())
    );
    assert!(claims.policy_ids_matched.is_none());
    assert_eq!(token.token().claims()[MOCK_EVIDENCE_CLAIM], true);

    // Variable data the quote does not bind: hcl.binding.
    let n = fresh_nonce(&c).await;
    let user = b"azure user data".to_vec();
    let vd2 = var_data(&report_data(&n, &user));
    let r = AttestRequest::azure_tdx(hcl_quote(&vd), vd2.clone(), user.clone(), n);
    let (status, msg) = refused(c.attest(&r).await.unwrap_err());
    assert_eq!(status, 400);
    assert!(msg.contains("hcl.binding"), "{msg}");
    // Variable data the quote binds, whose user-data binds another nonce.
    let n = fresh_nonce(&c).await;
    let other = fresh_nonce(&c).await;
    let vd3 = var_data(&report_data(&other, &user));
    let r = AttestRequest::azure_tdx(hcl_quote(&vd3), vd3, user, n);
    let (status, msg) = refused(c.attest(&r).await.unwrap_err());
    assert_eq!(status, 400);
    assert!(msg.contains("hcl.user-data"), "{msg}");
    s.stop().await;
}

#[tokio::test]
async fn api_keys_are_required_and_checked() {
    let s = start(ita::DEFAULT_NONCE_TTL).await;
    let http = reqwest::Client::new();
    let nonce_url = format!("{}/appraisal/v2/nonce", s.base);
    for key in [
        None,
        Some(OTHER_KEY),
        Some(""),
        Some("ita-test-key-0123456789abcde"),
    ] {
        let mut r = http.get(&nonce_url);
        if let Some(k) = key {
            r = r.header("x-api-key", k);
        }
        let resp = r.send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 401, "{key:?}");
        assert_eq!(
            resp.headers()["www-authenticate"],
            "ApiKey header=\"x-api-key\""
        );
        let body: Value = resp.json().await.unwrap();
        assert!(
            body["error"].as_str().unwrap().contains("API key"),
            "{body}"
        );
    }
    // Two keys, one of them good: refused.
    let resp = http
        .get(&nonce_url)
        .header("x-api-key", KEY)
        .header("x-api-key", OTHER_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    // The good one.
    let resp = http
        .get(&nonce_url)
        .header("x-api-key", KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let n = VerifierNonce::parse(&resp.bytes().await.unwrap()).unwrap();
    assert_eq!(n.val().len(), 32);
    let iat = std::str::from_utf8(n.iat()).unwrap();
    assert!(
        iat.len() == 20 && iat.ends_with('Z') && iat.contains('T'),
        "{iat}"
    );
    // The attestation routes: 401 before anything is read.
    for path in ["/appraisal/v2/attest", "/appraisal/v2/attest/azure"] {
        let (status, h, body) = post(&s.base, path, Some(OTHER_KEY), "{}").await;
        assert_eq!(status, 401, "{path} {body}");
        assert!(h.www_authenticate.is_some());
        let (status, _, _) = post(&s.base, path, None, "junk").await;
        assert_eq!(status, 401, "{path}");
    }
    // The ITA client with a key the service does not know: code 3.
    let c = client(&s.base, OTHER_KEY, &[]);
    let e = c.nonce().await.unwrap_err();
    assert_eq!(e.code().number(), 3, "{e}");
    assert!(!e.to_string().contains(OTHER_KEY));
    s.stop().await;
}

#[tokio::test]
async fn nonces_are_the_services_once_and_in_time() {
    let s = start(Duration::from_secs(2)).await;
    let c = client(&s.base, KEY, &[]);
    let user = br#"{"nonce":"n"}"#;

    // Accepted once; the same request again is refused.
    let n = fresh_nonce(&c).await;
    let request = bare_request(&n, user);
    c.attest(&request).await.unwrap();
    let (status, msg) = refused(c.attest(&request).await.unwrap_err());
    assert_eq!(status, 400);
    assert!(msg.contains("verifier_nonce.spent"), "{msg}");

    // A nonce whose signature is not the service's.
    let n = fresh_nonce(&c).await;
    let mut sig = n.signature().to_vec();
    sig[10] ^= 1;
    let forged = VerifierNonce::from_bytes(n.val(), n.iat(), &sig);
    let (_, msg) = refused(c.attest(&bare_request(&forged, user)).await.unwrap_err());
    assert!(msg.contains("verifier_nonce.signature"), "{msg}");
    // Its value changed (and the signature kept): not the service's either.
    let mut val = n.val().to_vec();
    val[0] ^= 1;
    let forged = VerifierNonce::from_bytes(&val, n.iat(), n.signature());
    let (_, msg) = refused(c.attest(&bare_request(&forged, user)).await.unwrap_err());
    assert!(msg.contains("verifier_nonce.signature"), "{msg}");
    // The boundary between val and iat moved (same signed bytes).
    let mut longer = n.val().to_vec();
    longer.push(n.iat()[0]);
    let shifted = VerifierNonce::from_bytes(&longer, &n.iat()[1..], n.signature());
    let (_, msg) = refused(c.attest(&bare_request(&shifted, user)).await.unwrap_err());
    assert!(msg.contains("verifier_nonce.signature"), "{msg}");
    // The genuine one was never spent by those.
    c.attest(&bare_request(&n, user)).await.unwrap();

    // A quote that binds another nonce (or other data) than the request's.
    let a = fresh_nonce(&c).await;
    let b = fresh_nonce(&c).await;
    let mut r = bare_request(&a, user);
    r.verifier_nonce = b.clone();
    let (_, msg) = refused(c.attest(&r).await.unwrap_err());
    assert!(msg.contains("report-data.binding"), "{msg}");
    let mut r = bare_request(&a, user);
    r.runtime_data = br#"{"nonce":"m"}"#.to_vec();
    let (_, msg) = refused(c.attest(&r).await.unwrap_err());
    assert!(msg.contains("report-data.binding"), "{msg}");

    // Expired: issued more than the lifetime (2 s here) ago.
    let old = fresh_nonce(&c).await;
    tokio::time::sleep(Duration::from_millis(3100)).await;
    let (status, msg) = refused(c.attest(&bare_request(&old, user)).await.unwrap_err());
    assert_eq!(status, 400);
    assert!(msg.contains("verifier_nonce.expired"), "{msg}");
    s.stop().await;
}

#[tokio::test]
async fn policies_match_or_refuse_as_asked() {
    let s = start(ita::DEFAULT_NONCE_TTL).await;
    let user = b"policy user data";

    // Both named: one matched, one unmatched; the token says which.
    let c = client(&s.base, KEY, &[]);
    let n = fresh_nonce(&c).await;
    let body = |n: &VerifierNonce, ids: &[&str], must: bool, alg: Option<&str>| {
        let mut b = bare_request(n, user)
            .body(&tee_attest_ita::AttestOptions::default())
            .unwrap();
        b["policy_ids"] = json!(ids);
        if must {
            b["policy_must_match"] = json!(true);
        }
        if let Some(a) = alg {
            b["token_signing_alg"] = json!(a);
        }
        b.to_string()
    };
    let (status, _, answer) = post(
        &s.base,
        "/appraisal/v2/attest",
        Some(KEY),
        &body(
            &n,
            &[MATCHING, &NOT_MATCHING.to_uppercase()],
            false,
            Some("PS384"),
        ),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let t = validator(&s.base)
        .validate(
            answer["token"].as_str().unwrap(),
            Expectations::nonce(&n).with_policy_ids(&[MATCHING.to_string()]),
        )
        .await
        .unwrap();
    let claims = t.claims().unwrap();
    assert_eq!(claims.matched_policy_ids().collect::<Vec<_>>(), [MATCHING]);
    let unmatched: Vec<&str> = claims
        .policy_ids_unmatched
        .iter()
        .flatten()
        .map(|p| p.id.as_str())
        .collect();
    assert_eq!(unmatched, [NOT_MATCHING]);
    // Expecting the unmatched one: the relying party refuses.
    let e = validator(&s.base)
        .validate(
            answer["token"].as_str().unwrap(),
            Expectations::nonce(&n).with_policy_ids(&[NOT_MATCHING.to_string()]),
        )
        .await
        .unwrap_err();
    assert_eq!(e.token_check(), Some(TokenCheck::Policy));

    // policy_must_match with one unmatched: 400 in ITA's shape.
    let n = fresh_nonce(&c).await;
    let (status, _, err) = post(
        &s.base,
        "/appraisal/v2/attest",
        Some(KEY),
        &body(&n, &[MATCHING, NOT_MATCHING], true, None),
    )
    .await;
    assert_eq!(status, 400);
    let msg = err["error"].as_str().unwrap();
    assert!(
        msg.contains("policy_must_match") && msg.contains(NOT_MATCHING),
        "{err}"
    );
    // …and with all matching, a token.
    let n = fresh_nonce(&c).await;
    let (status, _, answer) = post(
        &s.base,
        "/appraisal/v2/attest",
        Some(KEY),
        &body(&n, &[MATCHING], true, None),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    // The ITA client with a policy that does not match refuses the token
    // (it asks without policy_must_match, and checks).
    let strict = client(&s.base, KEY, &[NOT_MATCHING]);
    let n = fresh_nonce(&strict).await;
    let e = strict.attest(&bare_request(&n, user)).await.unwrap_err();
    assert_eq!(e.token_check(), Some(TokenCheck::Policy), "{e}");

    // An unknown policy id, a malformed one, RS256: 400 before any
    // appraisal (the nonce stays unspent).
    let n = fresh_nonce(&c).await;
    for (ids, alg, want) in [
        (vec![UNKNOWN], None, "not configured"),
        (vec!["../../etc/passwd"], None, "not a UUID"),
        (vec![MATCHING], Some("RS256"), "PS384 only"),
    ] {
        let (status, _, err) = post(
            &s.base,
            "/appraisal/v2/attest",
            Some(KEY),
            &body(&n, &ids, false, alg),
        )
        .await;
        assert_eq!(status, 400, "{err}");
        assert!(err["error"].as_str().unwrap().contains(want), "{err}");
    }
    c.attest(&bare_request(&n, user)).await.unwrap();
    s.stop().await;
}

#[tokio::test]
async fn junk_is_a_400_in_itas_shape_never_a_500() {
    let s = start(ita::DEFAULT_NONCE_TTL).await;
    let c = client(&s.base, KEY, &[]);
    let n = fresh_nonce(&c).await.to_json();
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    for path in ["/appraisal/v2/attest", "/appraisal/v2/attest/azure"] {
        for body in [
            String::new(),
            "{}".into(),
            "[]".into(),
            "null".into(),
            "\"x\"".into(),
            "not json".into(),
            deep.clone(),
            json!({"tdx": null}).to_string(),
            json!({"tdx": {"quote": 5}}).to_string(),
            json!({"tdx": {"quote": "AAAA"}}).to_string(),
            json!({"tdx": {"quote": "AAAA", "verifier_nonce": {"val": "", "iat": "", "signature": ""}}}).to_string(),
            json!({"tdx": {"quote": "AAAA", "runtime_data": "e30=", "verifier_nonce": n}}).to_string(),
            json!({"quote": "AAAA", "runtime_data": "e30=", "verifier_nonce": n, "policy_ids": 7}).to_string(),
            json!({"tdx": {"quote": "AAAA", "verifier_nonce": n}, "policy_must_match": "yes"}).to_string(),
            json!({"tdx": {"quote": "AAAA", "runtime_data": "e30=", "verifier_nonce": n, "event_log": "%%"}}).to_string(),
        ] {
            let (status, _, err) = post(&s.base, path, Some(KEY), &body).await;
            assert_eq!(status, 400, "{path} {body:.80}: {err}");
            assert!(err["error"].is_string(), "{path} {body:.80}: {err}");
        }
    }
    // A genuine nonce with a quote that is no quote: refused (400).
    let n = fresh_nonce(&c).await.to_json();
    let (status, _, err) = post(
        &s.base,
        "/appraisal/v2/attest",
        Some(KEY),
        &json!({"tdx": {"quote": "AAAA", "runtime_data": "", "verifier_nonce": n}}).to_string(),
    )
    .await;
    assert_eq!(status, 400, "{err}");
    s.stop().await;
}

#[tokio::test]
async fn the_maa_profile_keeps_working_next_to_it() {
    let s = start(ita::DEFAULT_NONCE_TTL).await;
    // An MAA-profile token (POST /attest/TdxVm, RS256) validates against
    // the two-key /certs with the MAA validator, which selects by kid.
    let platform = MockIntelPlatform::stored().unwrap();
    let runtime = br#"{"nonce":"maa-1"}"#;
    let mut td = platform.td();
    td.report_data[..32]
        .copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, runtime).as_ref());
    let body = json!({
        "quote": URL_SAFE_NO_PAD.encode(platform.tdx_quote_v4(&td).unwrap()),
        "runtimeData": {"data": URL_SAFE_NO_PAD.encode(runtime), "dataType": "JSON"},
        "nonce": "maa-1",
    });
    let resp = reqwest::Client::new()
        .post(format!("{}/attest/TdxVm", s.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let maa_token = resp.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_string();
    let jwks_body = reqwest::get(format!("{}/certs", s.base))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let maa =
        TokenValidator::with_jwks(Some(&s.base), Jwks::parse(&jwks_body).unwrap()).allow_mock(true);
    let t = maa.validate(&maa_token, Some(b"maa-1")).await.unwrap();
    assert_eq!(t.claims()["tdx_mrtd"], hex48(&td.mr_td));

    // An ITA token does not validate under the MAA profile…
    let c = client(&s.base, KEY, &[]);
    let n = fresh_nonce(&c).await;
    let ita_token = c.attest(&bare_request(&n, b"x")).await.unwrap();
    assert!(maa.validate(ita_token.raw(), None).await.is_err());
    // …nor an MAA token under the ITA profile (PS384 only).
    let e = validator(&s.base)
        .validate(&maa_token, Expectations::none())
        .await
        .unwrap_err();
    assert_eq!(e.token_check(), Some(TokenCheck::Algorithm), "{e}");

    // The OpenID metadata names both algorithms; the document, the routes.
    let oidc: Value = reqwest::get(format!("{}/.well-known/openid-configuration", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        oidc["id_token_signing_alg_values_supported"],
        json!(["RS256", "PS384"])
    );
    let doc: Value = reqwest::get(format!("{}/openapi.json", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    for (path, method) in [
        ("/appraisal/v2/nonce", "get"),
        ("/appraisal/v2/attest", "post"),
        ("/appraisal/v2/attest/azure", "post"),
    ] {
        let op = &doc["paths"][path][method];
        assert_eq!(op["security"], json!([{"itaApiKey": []}]), "{path}");
        for status in ["200", "401", "500", "503"] {
            assert!(op["responses"][status].is_object(), "{path} {status}");
        }
        if method == "post" {
            for status in ["400", "408", "413", "429"] {
                assert!(op["responses"][status].is_object(), "{path} {status}");
            }
        }
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["itaApiKey"],
        json!({"type": "apiKey", "in": "header", "name": "x-api-key",
            "description": "An API key configured for this service (`serve --ita-api-keys`)."})
    );
    // Readiness covers the ITA key.
    let ready: Value = reqwest::get(format!("{}/readyz", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["checks"]["ita-signing-key"], "ok", "{ready}");
    s.stop().await;
}

#[tokio::test]
async fn the_ita_key_is_kept_in_the_data_directory() {
    let s = start(ita::DEFAULT_NONCE_TTL).await;
    let kid = |certs: &Value| certs["keys"][1]["kid"].as_str().unwrap().to_string();
    let first: Value = reqwest::get(format!("{}/certs", s.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let dir = s.dir.path().join("ita");
    let again = TokenSigner::load_or_generate(&dir).unwrap();
    assert_eq!(again.kid(), kid(&first));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.join("signing-key.pk8"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let main = TokenSigner::load_or_generate(s.dir.path()).unwrap();
    assert_ne!(main.kid(), again.kid());
    s.stop().await;
}
