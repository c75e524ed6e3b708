//! Who may change the service's state, tried as a hostile client would:
//! anonymous writes refused, MAA's bearer model against a loopback OpenID
//! issuer, MAA's isolated model with policy-management certificates, the
//! insecure development switch, reads and attestation behind bearer auth,
//! draft policies that never come back signed, and the audit of it all.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest_core::AttestationToken;
use tee_attest_maa::{HttpConfig, TokenValidator, ValidationProfile};
use tee_attest_policy::jws::{sign_jws, sign_policy, unsigned_policy_jws};
use tee_attest_testkit::oidc::TestIssuer;
use tee_attest_testkit::pki::{rsa_self_signed, Issued};
use tee_attest_verifier::service::{serve, AdminConfig, ServiceState};
use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};

const AUD: &str = "api://tee-attest-admin";
const ROLE: &str = "Attestation.Admin";
const PERMIT_ALL: &str = "version=1.0; authorizationrules { => permit(); };";
const DENY_ALL: &str = "version=1.0; authorizationrules { => deny(); };";

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
    state: Arc<ServiceState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}?api-version=2020-10-01", self.base)
    }
}

async fn start(admin: AdminConfig) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut cfg = LocalVerifierConfig::new(&base);
    cfg.appraisers = appraisers(&[tee_attest_mock::amd::MockAmdRoots::stored_milan()
        .unwrap()
        .ark_der()
        .to_vec()]);
    let verifier = Arc::new(
        LocalVerifier::new(cfg, TokenSigner::load_or_generate(dir.path()).unwrap()).unwrap(),
    );
    let state = ServiceState::with_admin(verifier, dir.path(), admin).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let st = state.clone();
    let task = tokio::spawn(async move {
        serve(listener, st, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server {
        base,
        state,
        stop: Some(tx),
        task,
        _dir: dir,
    }
}

fn bearer_validator(issuer: &TestIssuer) -> Arc<TokenValidator> {
    Arc::new(
        TokenValidator::with_discovery(
            issuer.url(),
            HttpConfig::fast(
                std::time::Duration::from_secs(5),
                1,
                std::time::Duration::from_millis(10),
                std::time::Duration::from_millis(10),
            ),
        )
        .unwrap()
        .with_profile(ValidationProfile::admin(AUD, ROLE)),
    )
}

/// What a request got: status, `WWW-Authenticate`, JSON body.
struct Answer {
    status: u16,
    www_authenticate: Option<String>,
    body: Value,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let r = req.send().await.unwrap();
    let status = r.status().as_u16();
    let www_authenticate = r
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_string());
    let body = r.json::<Value>().await.unwrap_or(Value::Null);
    Answer {
        status,
        www_authenticate,
        body,
    }
}

fn claims(a: &Answer) -> Value {
    AttestationToken::parse(a.body["token"].as_str().unwrap())
        .unwrap()
        .claims()
        .clone()
}

fn policy_text(x_ms_policy: &Value) -> String {
    let jws = x_ms_policy.as_str().unwrap();
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

/// A refusal in MAA's error shape.
fn assert_refused(a: &Answer, status: u16) {
    assert_eq!(a.status, status, "{}", a.body);
    assert!(a.body["error"]["code"].is_string(), "{}", a.body);
    assert!(a.body["error"]["message"].is_string(), "{}", a.body);
    if status == 401 {
        assert_eq!(a.www_authenticate.as_deref(), Some("Bearer"));
    }
}

async fn current_policy(s: &Server, http: &reqwest::Client) -> String {
    let a = send(http.get(s.url("/policies/AzureGuest"))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    policy_text(&claims(&a)["x-ms-policy"])
}

#[tokio::test]
async fn without_an_admin_model_every_write_is_refused_and_audited() {
    let s = start(AdminConfig::locked()).await;
    let http = reqwest::Client::new();
    let before = current_policy(&s, &http).await;
    for body in [PERMIT_ALL.to_string(), unsigned_policy_jws(PERMIT_ALL)] {
        let a = send(http.put(s.url("/policies/AzureGuest")).body(body)).await;
        assert_refused(&a, 403);
    }
    // A bogus bearer token changes nothing (Microsoft's SDK sends one).
    let a = send(
        http.put(s.url("/policies/AzureGuest"))
            .bearer_auth("bogus")
            .body(PERMIT_ALL),
    )
    .await;
    assert_refused(&a, 403);
    let a = send(http.post(s.url("/policies/AzureGuest:reset"))).await;
    assert_refused(&a, 403);
    let a = send(http.post(s.url("/certificates:add")).body("\"x.y.z\"")).await;
    assert_refused(&a, 403);
    assert_eq!(current_policy(&s, &http).await, before, "nothing changed");
    // Reads stay anonymous.
    let a = send(http.get(s.url("/certificates"))).await;
    assert_eq!(a.status, 200);
    assert_eq!(claims(&a)["x-ms-policy-certificates"]["keys"], json!([]));

    // Every refusal is in the audit, aggregated per source and reason.
    let log = s.state.audit_log().list(100).unwrap();
    let set: u64 = log
        .iter()
        .filter(|r| r.action == "policy.set" && r.outcome == "refused")
        .map(|r| r.count)
        .sum();
    assert_eq!(set, 3, "{log:?}");
    assert!(log.iter().any(|r| r.action == "policy.reset"));
    assert!(log.iter().any(|r| r.action == "certificates.add"));
    assert!(log.iter().all(|r| r
        .source
        .as_deref()
        .is_some_and(|s| s.starts_with("127.0.0.1:"))));
    s.stop().await;
}

#[tokio::test]
async fn bearer_model_admits_the_role_and_refuses_everyone_else() {
    let issuer = TestIssuer::start();
    let s = start(AdminConfig::locked().with_bearer(bearer_validator(&issuer))).await;
    let http = reqwest::Client::new();
    let good = issuer.admin_claims(AUD, ROLE);
    let put = |token: Option<String>| {
        let mut r = http.put(s.url("/policies/AzureGuest")).body(DENY_ALL);
        if let Some(t) = token {
            r = r.bearer_auth(t);
        }
        send(r)
    };

    // Refused, and the policy unchanged.
    assert_refused(&put(None).await, 401);
    assert_refused(&put(Some("not-a-jwt".into())).await, 401);
    let mut expired = good.clone();
    expired["exp"] = json!(1_000);
    expired["nbf"] = json!(500);
    expired["iat"] = json!(500);
    assert_refused(&put(Some(issuer.token(&expired))).await, 401);
    let mut wrong_aud = good.clone();
    wrong_aud["aud"] = json!("api://someone-else");
    assert_refused(&put(Some(issuer.token(&wrong_aud))).await, 401);
    let mut wrong_iss = good.clone();
    wrong_iss["iss"] = json!("http://127.0.0.1:1");
    assert_refused(&put(Some(issuer.token(&wrong_iss))).await, 401);
    let none = issuer.signed(&json!({"alg": "none", "typ": "JWT"}), &good);
    assert_refused(&put(Some(none)).await, 401);
    let mut no_role = good.clone();
    no_role["roles"] = json!(["Reader"]);
    let a = put(Some(issuer.token(&no_role))).await;
    assert_refused(&a, 403);
    assert!(
        a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("role"),
        "{}",
        a.body
    );
    assert!(current_policy(&s, &http).await.contains("permit"));

    // The role: accepted, RS256 and PS256.
    let a = put(Some(issuer.token(&good))).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(claims(&a)["x-ms-policy-result"], "Updated");
    assert!(current_policy(&s, &http).await.contains("deny"));
    let ps = issuer.signed(
        &json!({"alg": "PS256", "typ": "JWT", "kid": tee_attest_testkit::oidc::KID}),
        &good,
    );
    let a = send(
        http.post(s.url("/policies/AzureGuest:reset"))
            .bearer_auth(ps),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(claims(&a)["x-ms-policy-result"], "Removed");

    // The audit names the administrator, and what changed.
    let log = s.state.audit_log().list(100).unwrap();
    let set = log
        .iter()
        .find(|r| r.action == "policy.set" && r.outcome == "allowed")
        .expect("the allowed write is audited");
    assert!(set.actor.contains("sub=admin-1"), "{set:?}");
    assert!(set.actor.contains(issuer.url()), "{set:?}");
    assert!(set.old_hash.is_some() && set.new_hash.is_some());
    assert_ne!(set.old_hash, set.new_hash);
    let refused: u64 = log
        .iter()
        .filter(|r| r.outcome == "refused")
        .map(|r| r.count)
        .sum();
    assert_eq!(refused, 7, "{log:?}");
    assert!(
        log.iter()
            .filter(|r| r.outcome == "refused")
            .all(|r| !r.actor.contains("admin-1")),
        "refused tokens' claims are not trusted"
    );
    s.stop().await;
}

#[tokio::test]
async fn reads_and_attestation_can_require_a_bearer_token() {
    let issuer = TestIssuer::start();
    let s = start(
        AdminConfig::locked()
            .with_bearer(bearer_validator(&issuer))
            .with_read_auth(true)
            .with_attest_auth(true),
    )
    .await;
    let http = reqwest::Client::new();
    assert_refused(&send(http.get(s.url("/policies/AzureGuest"))).await, 401);
    assert_refused(&send(http.get(s.url("/certificates"))).await, 401);
    assert_refused(
        &send(http.post(s.url("/attest/SevSnpVm")).body("{}")).await,
        401,
    );
    let t = issuer.token(&issuer.admin_claims(AUD, ROLE));
    let a = send(http.get(s.url("/policies/AzureGuest")).bearer_auth(&t)).await;
    assert_eq!(a.status, 200);
    // Authorized, the attestation request is then appraised (and this one
    // is malformed).
    let a = send(
        http.post(s.url("/attest/SevSnpVm"))
            .bearer_auth(&t)
            .body("{}"),
    )
    .await;
    assert_eq!(a.status, 400, "{}", a.body);
    // Keys and metadata stay public: relying parties need them.
    assert_eq!(
        send(http.get(format!("{}/certs", s.base))).await.status,
        200
    );
    s.stop().await;
}

fn signer_jws_for_cert(signer: &Issued, cert: &Issued) -> String {
    let jwk = tee_attest_policy::certificate_jwk(&cert.cert_der).unwrap();
    sign_jws(
        Some(&json!({ "policyCertificate": jwk })),
        &signer.key_pem,
        &signer.cert_pem,
    )
    .unwrap()
}

#[tokio::test]
async fn isolated_model_accepts_only_documents_signed_by_a_management_certificate() {
    let first = rsa_self_signed("policy signer 1");
    let second = rsa_self_signed("policy signer 2");
    let stranger = rsa_self_signed("not a policy signer");
    let s = start(AdminConfig::locked().with_policy_signers(vec![first.cert_der.clone()])).await;
    assert!(s.state.isolated().unwrap());
    let http = reqwest::Client::new();
    let put = |body: String| send(http.put(s.url("/policies/AzureGuest")).body(body));

    // Unsigned (text, unsigned JWS) and stranger-signed: refused.
    assert_refused(&put(DENY_ALL.into()).await, 403);
    assert_refused(&put(unsigned_policy_jws(DENY_ALL)).await, 403);
    let by_stranger = sign_policy(DENY_ALL, &stranger.key_pem, &stranger.cert_pem).unwrap();
    assert_refused(&put(by_stranger).await, 403);
    assert!(current_policy(&s, &http).await.contains("permit"));

    // Signed by the management certificate: stored as sent, signer reported.
    let signed = sign_policy(DENY_ALL, &first.key_pem, &first.cert_pem).unwrap();
    let a = put(signed.clone()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let c = claims(&a);
    assert_eq!(c["x-ms-policy-result"], "Updated");
    assert_eq!(
        c["x-ms-policy-token-hash"],
        URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            signed.as_bytes()
        ))
    );
    assert!(c["x-ms-policy-signer"]["x5c"][0].is_string());
    let g = send(http.get(s.url("/policies/AzureGuest"))).await;
    let gc = claims(&g);
    assert_eq!(
        gc["x-ms-policy"],
        signed.as_str(),
        "the original signed document"
    );
    assert!(gc["x-ms-policy-signer"]["x5c"][0].is_string());
    assert!(policy_text(&gc["x-ms-policy"]).contains("deny"));

    // Reset: unsigned refused, signed accepted.
    assert_refused(
        &send(http.post(s.url("/policies/AzureGuest:reset"))).await,
        403,
    );
    let reset = sign_jws(None, &first.key_pem, &first.cert_pem).unwrap();
    let a = send(http.post(s.url("/policies/AzureGuest:reset")).body(reset)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(current_policy(&s, &http).await.contains("permit"));

    // Certificates: the stranger cannot add itself; the first adds the
    // second, the second removes the first; the last cannot be removed.
    let cert_op = |op: &'static str, jws: String| {
        send(
            http.post(s.url(&format!("/certificates:{op}")))
                .header("content-type", "application/json")
                .body(Value::String(jws).to_string()),
        )
    };
    assert_refused(
        &cert_op("add", signer_jws_for_cert(&stranger, &stranger)).await,
        403,
    );
    let a = cert_op("add", signer_jws_for_cert(&first, &second)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(claims(&a)["x-ms-policycertificates-result"], "IsPresent");
    let list = claims(&send(http.get(s.url("/certificates"))).await);
    assert_eq!(
        list["x-ms-policy-certificates"]["keys"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let a = cert_op("remove", signer_jws_for_cert(&second, &first)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(claims(&a)["x-ms-policycertificates-result"], "IsAbsent");
    let thumb = claims(&a)["x-ms-certificate-thumbprint"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        thumb,
        hex::encode_upper(aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
            &first.cert_der
        ))
    );
    // The removed signer has lost its authority.
    let by_first = sign_policy(DENY_ALL, &first.key_pem, &first.cert_pem).unwrap();
    assert_refused(&put(by_first).await, 403);
    let a = cert_op("remove", signer_jws_for_cert(&second, &second)).await;
    assert_eq!(a.status, 400, "{}", a.body);
    assert!(a.body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("last"));
    let by_second = sign_policy(DENY_ALL, &second.key_pem, &second.cert_pem).unwrap();
    assert_eq!(put(by_second).await.status, 200);

    let log = s.state.audit_log().list(100).unwrap();
    assert!(log
        .iter()
        .any(|r| r.action == "certificates.remove" && r.outcome == "allowed" && r.target == thumb));
    assert!(log
        .iter()
        .any(|r| r.action == "policy.set" && r.outcome == "allowed" && r.actor.contains("cert:")));
    s.stop().await;
}

#[tokio::test]
async fn isolated_and_bearer_together_need_both() {
    let issuer = TestIssuer::start();
    let signer = rsa_self_signed("policy signer");
    let s = start(
        AdminConfig::locked()
            .with_bearer(bearer_validator(&issuer))
            .with_policy_signers(vec![signer.cert_der.clone()]),
    )
    .await;
    let http = reqwest::Client::new();
    let signed = sign_policy(DENY_ALL, &signer.key_pem, &signer.cert_pem).unwrap();
    let token = issuer.token(&issuer.admin_claims(AUD, ROLE));
    // Signed, no caller: 401. Caller, unsigned: 403. Both: 200.
    assert_refused(
        &send(http.put(s.url("/policies/AzureGuest")).body(signed.clone())).await,
        401,
    );
    assert_refused(
        &send(
            http.put(s.url("/policies/AzureGuest"))
                .bearer_auth(&token)
                .body(DENY_ALL),
        )
        .await,
        403,
    );
    let a = send(
        http.put(s.url("/policies/AzureGuest"))
            .bearer_auth(&token)
            .body(signed),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
    s.stop().await;
}

#[tokio::test]
async fn a_stored_signer_set_outlives_the_start_flag() {
    let first = rsa_self_signed("policy signer 1");
    let second = rsa_self_signed("policy signer 2");
    let dir = tempfile::tempdir().unwrap();
    let verifier = || {
        Arc::new(
            LocalVerifier::new(
                LocalVerifierConfig::new("http://127.0.0.1:1")
                    .with_appraiser(appraisers(&[]).remove(0)),
                TokenSigner::load_or_generate(dir.path()).unwrap(),
            )
            .unwrap(),
        )
    };
    let s = ServiceState::with_admin(
        verifier(),
        dir.path(),
        AdminConfig::locked().with_policy_signers(vec![first.cert_der.clone()]),
    )
    .unwrap();
    assert!(s.isolated().unwrap());
    drop(s);
    // Started again without the flag, or with another set: the stored set
    // rules (a restart cannot undo a removal nor leave isolated mode).
    let s = ServiceState::with_admin(verifier(), dir.path(), AdminConfig::insecure()).unwrap();
    assert!(s.isolated().unwrap());
    let s = ServiceState::with_admin(
        verifier(),
        dir.path(),
        AdminConfig::locked().with_policy_signers(vec![second.cert_der.clone()]),
    )
    .unwrap();
    assert!(s.isolated().unwrap());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(dir.path().join("policy-certificates.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn insecure_admin_lets_anyone_write_and_says_so_in_the_audit() {
    let s = start(AdminConfig::insecure()).await;
    let http = reqwest::Client::new();
    let a = send(http.put(s.url("/policies/azureguest")).body(DENY_ALL)).await;
    assert_eq!(
        a.status, 200,
        "type names are taken in any case: {}",
        a.body
    );
    let log = s.state.audit_log().list(10).unwrap();
    assert_eq!(log.last().unwrap().actor, "insecure-admin");
    s.stop().await;
}

/// `POST /attest/SevSnpVm` with `draftPolicyForAttestation`: with a deny-all
/// policy configured and a permissive draft issuing a caller-chosen claim,
/// the answer is an unsigned token that the relying-party validator refuses.
#[tokio::test]
async fn draft_policy_over_http_yields_an_unsigned_token() {
    use tee_attest_maa::azureguest::SevSnpVmRequest;
    use tee_attest_mock::amd::{MockAmdRoots, MockSnpReport, MockTcb};

    let s = start(AdminConfig::insecure()).await;
    let http = reqwest::Client::new();
    assert_eq!(
        send(http.put(s.url("/policies/SevSnpVm")).body(DENY_ALL))
            .await
            .status,
        200
    );
    let roots = MockAmdRoots::stored_milan().unwrap();
    let vcek = roots.issue_vcek([7; 64], MockTcb::default()).unwrap();
    let defaults = MockSnpReport::default();
    let report = MockSnpReport {
        policy: defaults.policy | (1 << 19), // debuggable
        ..defaults
    }
    .sign(&vcek)
    .unwrap();
    let mut req =
        SevSnpVmRequest::new(&report, &[vcek.der().to_vec(), roots.ask_der().to_vec()]).unwrap();
    let url = format!("{}/attest/SevSnpVm?api-version=2022-08-01", s.base);
    let a = send(http.post(&url).body(serde_json::to_string(&req).unwrap())).await;
    assert_eq!(a.status, 400, "the configured policy denies: {}", a.body);
    req.draft_policy = Some(
        "version=1.0; authorizationrules { => permit(); }; issuancerules { => issue(type=\"chosen\", value=true); };"
            .into(),
    );
    let a = send(http.post(&url).body(serde_json::to_string(&req).unwrap())).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let raw = a.body["token"].as_str().unwrap();
    let t = AttestationToken::parse(raw).unwrap();
    assert_eq!(t.header()["alg"], "none");
    assert!(t.header().get("kid").is_none() && t.header().get("jku").is_none());
    assert!(t.header().get("x5c").is_none());
    assert!(raw.ends_with('.'));
    assert_eq!(t.claim("chosen"), Some(&Value::Bool(true)));
    let jwks: Value = http
        .get(format!("{}/certs", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let v = TokenValidator::with_jwks(
        Some(&s.base),
        tee_attest_maa::Jwks::parse(jwks.to_string().as_bytes()).unwrap(),
    )
    .allow_mock(true);
    assert!(v.validate(raw, None).await.is_err());
    s.stop().await;
}

/// The issuer, `jku` and keys come from the configuration, never from the
/// request: a forged `Host` or forwarding header changes nothing a
/// relying party reads.
#[tokio::test]
async fn request_headers_do_not_choose_the_issuer() {
    let s = start(AdminConfig::locked()).await;
    let http = reqwest::Client::new();
    let forged = |r: reqwest::RequestBuilder| {
        r.header("host", "evil.example")
            .header("x-forwarded-host", "evil.example")
            .header("x-forwarded-proto", "https")
            .header("forwarded", "host=evil.example;proto=https")
    };
    let meta = send(forged(
        http.get(format!("{}/.well-known/openid-configuration", s.base)),
    ))
    .await;
    assert_eq!(meta.body["issuer"], s.base.as_str());
    assert_eq!(meta.body["jwks_uri"], format!("{}/certs", s.base));
    let a = send(forged(http.get(s.url("/policies/AzureGuest")))).await;
    let t = AttestationToken::parse(a.body["token"].as_str().unwrap()).unwrap();
    assert_eq!(t.claims()["iss"], s.base.as_str());
    assert_eq!(t.header()["jku"], format!("{}/certs", s.base));
    // A different api-version is accepted and changes nothing either.
    let a = send(forged(http.get(format!(
        "{}/policies/AzureGuest?api-version=1999-01-01",
        s.base
    ))))
    .await;
    assert_eq!(a.status, 200);
    s.stop().await;
}

/// Hostile bodies on the admin routes: a JWS whose header nests ten
/// thousand arrays, and a huge one, are refused with MAA's error body (never
/// a 5xx), and the service keeps answering.
#[tokio::test]
async fn hostile_admin_bodies_are_refused_and_bounded() {
    let signer = rsa_self_signed("policy signer");
    let s = start(AdminConfig::insecure().with_policy_signers(vec![signer.cert_der.clone()])).await;
    let http = reqwest::Client::new();
    let deep = format!("{}1{}", "[".repeat(10_000), "]".repeat(10_000));
    let nested_jws = format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"RS256","x5c":{deep}}}"#)),
        URL_SAFE_NO_PAD.encode(r#"{"AttestationPolicy":"x"}"#)
    );
    for (method, path) in [
        (reqwest::Method::PUT, "/policies/AzureGuest"),
        (reqwest::Method::POST, "/policies/AzureGuest:reset"),
        (reqwest::Method::POST, "/certificates:add"),
    ] {
        let a = send(
            http.request(method.clone(), s.url(path))
                .body(nested_jws.clone()),
        )
        .await;
        assert!(
            (400..500).contains(&a.status),
            "{method} {path}: {} {}",
            a.status,
            a.body
        );
        assert!(a.body["error"]["code"].is_string(), "{}", a.body);
        let huge = "x".repeat(5 * 1024 * 1024);
        let a = send(http.request(method, s.url(path)).body(huge)).await;
        assert_eq!(a.status, 413, "{path}");
    }
    assert!(current_policy(&s, &http).await.contains("permit"));
    s.stop().await;
}
