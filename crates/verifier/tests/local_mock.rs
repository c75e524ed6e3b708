//! The local verifier on evidence that the real provider gathers from the
//! mock Azure CVM: the token's claims, mock trust, and every tampered piece
//! refused with the name of its check.

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use tee_attest_azure::provider::{AzureSnpConfig, AzureSnpProvider};
use tee_attest_core::{
    AttestationToken, ErrorCode, Evidence, EvidenceProvider, EvidenceRequest, Verifier,
    VerifyOptions,
};
use tee_attest_mock::MockAzureCvm;
use tee_attest_testkit::vector;
use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};

/// Data only: the mock CVM (and its swtpm) is gone once the evidence is
/// gathered, so nothing outlives the test process.
struct Fixture {
    ark: Vec<u8>,
    evidence: Evidence,
    decryptor_jwk: Value,
}

const NONCE: &[u8] = b"011510062022";

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let cvm = MockAzureCvm::start().expect("swtpm must be installed (cargo xtask deps)");
        let mut cfg = AzureSnpConfig::default();
        cfg.tcti = Some(cvm.tcti());
        cfg.imds_url = cvm.imds_url();
        cfg.event_log = cvm.event_log_path();
        let p = AzureSnpProvider::new(cfg).unwrap();
        let mut req = EvidenceRequest::with_nonce(NONCE.to_vec());
        req.client_payload
            .insert("Nonce".into(), "011510062022".into());
        let evidence = rt.block_on(p.evidence(&req)).unwrap();
        let decryptor_jwk = p.decryptor().unwrap().public_jwk();
        Fixture {
            ark: cvm.ark_der().to_vec(),
            evidence,
            decryptor_jwk,
        }
    })
}

/// The appraisers of this workspace's evidence types, trusting AMD's roots
/// and `extra` (mock) roots.
fn appraisers(extra: &[Vec<u8>]) -> Vec<std::sync::Arc<dyn tee_attest_core::Appraiser>> {
    vec![
        std::sync::Arc::new(tee_attest_azure::AzureSnpAppraiser::with_extra_roots(extra).unwrap()),
        std::sync::Arc::new(tee_attest_snp::SevSnpVmAppraiser::with_extra_roots(extra).unwrap()),
    ]
}

fn signer() -> TokenSigner {
    static KEY: OnceLock<(Vec<u8>, Vec<u8>)> = OnceLock::new();
    let (k, c) = KEY.get_or_init(|| {
        let s = TokenSigner::generate().unwrap();
        (s.pkcs8().to_vec(), s.cert_der().to_vec())
    });
    TokenSigner::from_parts(k, c.clone()).unwrap()
}

fn verifier(trust_mock: bool, policy: Option<&str>) -> LocalVerifier {
    let mut cfg = LocalVerifierConfig::new("https://127.0.0.1:8443");
    let extra = if trust_mock {
        vec![fixture().ark.clone()]
    } else {
        Vec::new()
    };
    cfg.appraisers = appraisers(&extra);
    cfg.policy = policy.map(str::to_string);
    LocalVerifier::new(cfg, signer()).unwrap()
}

fn attest(v: &LocalVerifier, e: &Evidence) -> Result<AttestationToken, tee_attest_core::Error> {
    v.attest(e, &VerifyOptions::default())
}

fn shape(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

#[test]
fn a_token_from_mock_evidence_has_maa_claims_and_says_it_is_mock() {
    let f = fixture();
    let t = attest(&verifier(true, None), &f.evidence).unwrap();
    assert_eq!(t.attestation_type(), Some("azurevm"));
    assert_eq!(t.isolation_tee_type(), Some("sevsnpvm"));
    assert!(t.is_mock_evidence());
    assert_eq!(
        t.compliance_status(),
        None,
        "mock evidence is never azure-compliant"
    );
    assert_eq!(t.secure_boot(), Some(true));
    assert_eq!(
        t.claim("secureboot"),
        Some(&Value::Bool(true)),
        "from the TCG log"
    );
    assert_eq!(
        t.claim("x-ms-azurevm-attested-pcrs")
            .unwrap()
            .as_array()
            .unwrap()
            .len(),
        24
    );
    assert_eq!(t.issuer(), Some("https://127.0.0.1:8443"));
    assert_eq!(t.header()["jku"], "https://127.0.0.1:8443/certs");
    assert!(t.header()["x5c"].is_array());
    assert_eq!(
        t.nonce(),
        Some("011510062022"),
        "the client's nonce, untransformed"
    );
    assert_eq!(t.client_payload().unwrap()["nonce"], "MDExNTEwMDYyMDIy");
    // The ephemeral key is the vTPM's.
    let k = t.ephemeral_key().unwrap();
    assert_eq!(k["n"], f.decryptor_jwk["n"]);
    assert_eq!(k["key_ops"], serde_json::json!(["encrypt"]));
    // Validity: 8 hours by default.
    assert_eq!(
        t.expires_at().unwrap() - t.claim("iat").unwrap().as_i64().unwrap(),
        8 * 3600
    );
    assert_eq!(t.claim("x-ms-policy-hash"), t.claim("policy_hash"));

    // Every claim our token shares with the real MAA token has the same JSON type,
    // and the isolation TEE carries all the SEV-SNP claims MAA issues.
    let real = AttestationToken::parse(
        &String::from_utf8(vector("maa/azureguest-snp-token.jwt")).unwrap(),
    )
    .unwrap();
    let (ours, theirs) = (
        t.claims().as_object().unwrap(),
        real.claims().as_object().unwrap(),
    );
    for (k, v) in theirs {
        if let Some(o) = ours.get(k) {
            assert_eq!(shape(o), shape(v), "claim {k}");
        }
    }
    let (ot, rt) = (&ours["x-ms-isolation-tee"], &theirs["x-ms-isolation-tee"]);
    for (k, v) in rt.as_object().unwrap() {
        if k == "x-ms-compliance-status" {
            continue;
        }
        let o = ot
            .get(k)
            .unwrap_or_else(|| panic!("x-ms-isolation-tee.{k} missing"));
        assert_eq!(shape(o), shape(v), "x-ms-isolation-tee.{k}");
    }
    for k in [
        "console-enabled",
        "secure-boot",
        "tpm-enabled",
        "vmUniqueId",
    ] {
        assert!(
            ot["x-ms-runtime"]["vm-configuration"].get(k).is_some(),
            "vm-configuration.{k}"
        );
    }
}

#[test]
fn the_token_signature_verifies_with_the_published_jwks() {
    let v = verifier(true, None);
    let jwt = v
        .attest(&fixture().evidence, &VerifyOptions::default())
        .unwrap();
    let parts: Vec<&str> = jwt.raw().split('.').collect();
    let jwk = &v.jwks()["keys"][0];
    let key = tee_attest_tpm::RsaPublic::from_jwk(jwk).unwrap();
    aws_lc_rs::signature::RsaPublicKeyComponents {
        n: &key.n,
        e: &key.e,
    }
    .verify(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &URL_SAFE_NO_PAD.decode(parts[2]).unwrap(),
    )
    .unwrap();
}

#[tokio::test]
async fn mock_roots_are_refused_unless_trusted() {
    let err = verifier(false, None)
        .verify(&fixture().evidence, &VerifyOptions::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::AttestationFailed, "{err}");
}

fn refused_by(e: &Evidence, check: &str) {
    let err = attest(&verifier(true, None), e).expect_err(check);
    assert_eq!(err.code(), ErrorCode::AttestationFailed, "{check}: {err}");
    assert!(
        err.to_string().contains(check),
        "expected check {check}, got: {err}"
    );
}

#[test]
fn every_tampered_piece_is_refused_naming_its_check() {
    let base = &fixture().evidence;
    let mut e = base.clone();
    e.hardware_report[0x90] ^= 1; // measurement, in the signed part
    refused_by(&e, "signature");

    let mut e = base.clone();
    let at = e.runtime_data.iter().position(|&b| b == b'"').unwrap();
    e.runtime_data.insert(at, b' ');
    refused_by(&e, "hcl.binding");

    let mut e = base.clone();
    let last = e.tpm.as_ref().unwrap().quote.len() - 1;
    e.tpm.as_mut().unwrap().quote[last] ^= 1;
    refused_by(&e, "quote.signature");

    let mut e = base.clone();
    e.tpm.as_mut().unwrap().pcrs[3].1[0] ^= 1;
    refused_by(&e, "quote.pcr-digest");

    let mut e = base.clone();
    e.tpm.as_mut().unwrap().enc_key_certify_info[20] ^= 1;
    refused_by(&e, "certify.signature");

    let mut e = base.clone();
    let key = &mut e.tpm.as_mut().unwrap().enc_key_pub;
    let n = key.len() - 10;
    key[n] ^= 1;
    refused_by(&e, "certify.name");

    let mut e = base.clone();
    e.nonce = b"another nonce".to_vec();
    refused_by(&e, "nonce.binding");
    e.client_payload.clear();
    refused_by(&e, "quote.nonce");

    let mut e = base.clone();
    let log = e.event_log.as_mut().unwrap();
    // The last byte of the last event's digest (before its 4-byte size and 4-byte data).
    let n = log.len() - 4 - 4 - 1;
    log[n] ^= 1;
    refused_by(&e, "tcg.replay");

    let mut e = base.clone();
    e.tpm.as_mut().unwrap().ak_pub = e.tpm.as_ref().unwrap().enc_key_pub.clone();
    refused_by(&e, "ak.match");
}

#[test]
fn an_expected_nonce_must_match() {
    let v = verifier(true, None);
    let mut o = VerifyOptions::default();
    o.nonce = Some(NONCE.to_vec());
    v.attest(&fixture().evidence, &o).unwrap();
    o.nonce = Some(b"other".to_vec());
    let err = v.attest(&fixture().evidence, &o).unwrap_err();
    assert!(err.to_string().contains("`nonce`"), "{err}");
}

#[test]
fn policies_decide_and_shape_the_token() {
    let e = &fixture().evidence;
    let deny = "version=1.0; authorizationrules { [type==\"secureboot\", value==true] => deny(); => permit(); };";
    let err = attest(&verifier(true, Some(deny)), e).unwrap_err();
    assert!(err.to_string().contains("policy.authorization"), "{err}");

    // The CVM policy Microsoft publishes requires compliance: mock evidence never has it.
    let cvm = "version=1.0; authorizationrules { [type==\"x-ms-isolation-tee.x-ms-compliance-status\", value==\"azure-compliant-cvm\"] => permit(); };";
    assert!(attest(&verifier(true, Some(cvm)), e).is_err());

    let issue = "version=1.0; authorizationrules { => permit(); }; issuancerules { c:[type==\"secureboot\"] => issue(type=\"custom-secureboot\", value=c.value); => issueproperty(type=\"report_validity_in_minutes\", value=60); => issueproperty(type=\"omit_x5c\", value=true); };";
    let t = attest(&verifier(true, Some(issue)), e).unwrap();
    assert_eq!(t.claim("custom-secureboot"), Some(&Value::Bool(true)));
    assert_eq!(
        t.expires_at().unwrap() - t.claim("iat").unwrap().as_i64().unwrap(),
        3600
    );
    assert!(t.header().get("x5c").is_none());
    assert!(t.header()["x5t"].is_string());
    assert_eq!(
        t.claim("x-ms-policy-hash").unwrap(),
        &Value::String(tee_attest_policy::policy_hash(issue))
    );

    // A draft policy overrides the configured one for one request.
    let v = verifier(true, None);
    let mut o = VerifyOptions::default();
    o.draft_policy = Some(deny.into());
    assert!(v.attest(e, &o).is_err());

    // A policy cannot issue the claims only the verifier issues: mock
    // evidence never becomes compliant, whatever the policy says.
    let forge = "version=1.0; authorizationrules { => permit(); }; issuancerules { => issue(type=\"x-ms-compliance-status\", value=\"azure-compliant-cvm\"); => issue(type=\"x-tee-attest-mock-evidence\", value=false); => issue(type=\"other\", value=1); };";
    let t = attest(&verifier(true, Some(forge)), e).unwrap();
    assert_eq!(t.claim("other"), Some(&Value::from(1)));
    assert!(t.claim("x-ms-compliance-status").is_none());
    assert!(t.is_mock_evidence());
}

/// A draft policy never yields a signed token: with a deny-all policy
/// configured, a permissive draft that issues a claim of the caller's
/// choosing comes back as an unsecured JWT (`alg: none`, no key named)
/// that the relying-party validator refuses.
#[test]
fn draft_policies_yield_unsigned_tokens_that_validators_refuse() {
    let e = &fixture().evidence;
    let v = verifier(
        true,
        Some("version=1.0; authorizationrules { => deny(); };"),
    );
    assert!(attest(&v, e).is_err(), "the configured policy denies");
    let mut o = VerifyOptions::default();
    o.draft_policy = Some(
        "version=1.0; authorizationrules { => permit(); }; issuancerules { => issue(type=\"chosen\", value=\"by-caller\"); };"
            .into(),
    );
    let raw = v.attest(e, &o).unwrap().raw().to_string();
    let (_, sig) = raw.rsplit_once('.').unwrap();
    assert!(sig.is_empty(), "no signature");
    let t = AttestationToken::parse(&raw).unwrap();
    assert_eq!(t.header()["alg"], "none");
    for k in ["kid", "jku", "x5c", "x5t"] {
        assert!(t.header().get(k).is_none(), "{k} in a draft token's header");
    }
    assert_eq!(t.claim("chosen"), Some(&Value::from("by-caller")));
    // Every validator here refuses it.
    let jwks = tee_attest_maa::Jwks::parse(v.jwks().to_string().as_bytes()).unwrap();
    let validator =
        tee_attest_maa::TokenValidator::with_jwks(Some(v.issuer()), jwks).allow_mock(true);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt.block_on(validator.validate(&raw, None)).unwrap_err();
    assert!(
        matches!(
            err,
            tee_attest_maa::MaaError::TokenRejected {
                check: tee_attest_maa::TokenCheck::Algorithm,
                ..
            }
        ),
        "{err}"
    );
    // The embedded Verifier hands back the same unsigned token.
    let t = rt.block_on(Verifier::verify(&v, e, &o)).unwrap();
    assert_eq!(t.header()["alg"], "none");
    assert_eq!(
        v.set_policy("not a policy").unwrap_err().code(),
        ErrorCode::AttestationParametersValidationFailed
    );
}

#[test]
fn the_quote_must_bind_the_client_payload_nonce() {
    let mut e = fixture().evidence.clone();
    e.client_payload.insert("Nonce".into(), "another".into());
    refused_by(&e, "nonce.binding");
}

/// Evidence gathered as Microsoft's client does (PCRs 0–7, empty qualifying
/// data) verifies too; the nonce then comes from the client payload only.
#[test]
fn microsoft_style_evidence_verifies() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let cvm = MockAzureCvm::start().expect("swtpm must be installed (cargo xtask deps)");
    let mut cfg = AzureSnpConfig::microsoft_compatible();
    cfg.tcti = Some(cvm.tcti());
    cfg.imds_url = cvm.imds_url();
    cfg.event_log = cvm.event_log_path();
    let p = AzureSnpProvider::new(cfg).unwrap();
    let mut req = EvidenceRequest::with_nonce(b"ms-nonce".to_vec());
    req.client_payload.insert("nonce".into(), "ms-nonce".into());
    let e = rt.block_on(p.evidence(&req)).unwrap();
    assert!(e.nonce.is_empty());
    assert_eq!(e.tpm.as_ref().unwrap().pcrs.len(), 8);
    let mut vcfg = LocalVerifierConfig::new("https://127.0.0.1:8443");
    vcfg.appraisers = appraisers(&[cvm.ark_der().to_vec()]);
    let v = LocalVerifier::new(vcfg, signer()).unwrap();
    let t = attest(&v, &e).unwrap();
    assert_eq!(
        t.claim("x-ms-azurevm-attested-pcrs"),
        Some(&serde_json::json!([0, 1, 2, 3, 4, 5, 6, 7]))
    );
    assert_eq!(t.nonce(), Some("ms-nonce"));
}

/// The verifier appraises only the evidence types it has appraisers for,
/// and says which type it refused and which it takes.
#[test]
fn unknown_evidence_types_are_refused_by_name() {
    let cfg = LocalVerifierConfig::new("https://127.0.0.1:8443").with_appraiser(
        std::sync::Arc::new(tee_attest_snp::SevSnpVmAppraiser::with_extra_roots(&[]).unwrap()),
    );
    let v = LocalVerifier::new(cfg, signer()).unwrap();
    assert_eq!(v.attestation_types(), vec!["SevSnpVm"]);
    let err = v
        .attest(&fixture().evidence, &VerifyOptions::default())
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInputParameter);
    assert!(err.message().contains("AzureGuest/SevSnp"), "{err}");
    assert!(err.message().contains("appraises SevSnpVm"), "{err}");
    // Its policies are per appraised type: another type's is refused.
    assert_eq!(
        v.set_policy_for("AzureGuest", tee_attest_verifier::DEFAULT_POLICY)
            .unwrap_err()
            .code(),
        ErrorCode::InvalidInputParameter
    );
}
