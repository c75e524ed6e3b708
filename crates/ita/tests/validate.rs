//! Relying-party validation of ITA tokens: accepted tokens, and a suite of
//! refused attacks, each asserting the check that refused it and its code.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aws_lc_rs::signature::{RSA_PKCS1_SHA384, RSA_PSS_SHA256, RSA_PSS_SHA384};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use tee_attest_core::CodedError;
use tee_attest_ita::{
    Expectations, FixedClock, HttpConfig, ItaError, ItaValidator, Jwks, KeyTrust, PinnedRoots,
    TokenAlg, TokenCheck, VerifierNonce,
};

fn refused(v: &ItaValidator, token: &str, expect: Expectations<'_>) -> (TokenCheck, ItaError) {
    match v.validate_cached(token, expect) {
        Ok(_) => panic!("accepted: {token}"),
        Err(e) => (
            e.token_check()
                .unwrap_or_else(|| panic!("not a token refusal: {e}")),
            e,
        ),
    }
}

fn assert_refused(token: &str, want: TokenCheck) {
    assert_refused_with(token, Expectations::none(), want);
}

fn assert_refused_with(token: &str, expect: Expectations<'_>, want: TokenCheck) {
    let (check, e) = refused(&validator(), token, expect);
    assert_eq!(check, want, "{e}");
    assert_eq!(e.code(), want.code(), "{e}");
}

fn with_header(f: impl FnOnce(&mut Value)) -> String {
    let mut h = header();
    f(&mut h);
    sign_json(&h, &claims(), signing_key())
}

fn with_claims(f: impl FnOnce(&mut Value)) -> String {
    let mut c = claims();
    f(&mut c);
    sign_json(&header(), &c, signing_key())
}

fn validator_for(doc: &Value) -> ItaValidator {
    ItaValidator::from_jwks_bytes(doc.to_string().as_bytes(), KeyTrust::Pinned(pki().roots()))
        .unwrap()
        .with_clock(Arc::new(FixedClock(NOW)))
}

#[test]
fn a_good_token_validates() {
    let n = nonce();
    let policies = vec![POLICY.to_string()];
    let t = validator()
        .validate_cached(&good(), Expectations::nonce(&n).with_policy_ids(&policies))
        .unwrap();
    assert_eq!(t.alg(), TokenAlg::Ps384);
    assert_eq!(t.kid(), KID);
    assert_eq!(t.attester_tcb_status(), Some("OutOfDate"));
    // Whitespace around the token; a policy id in another case.
    let upper = vec![POLICY.to_ascii_uppercase()];
    validator()
        .validate_cached(
            &format!(" {}\n", good()),
            Expectations::none().with_policy_ids(&upper),
        )
        .unwrap();
    // RS256, as ITA signs on request.
    let rs = with_header(|h| h["alg"] = json!("RS256"));
    assert_eq!(
        validator()
            .validate_cached(&rs, Expectations::nonce(&n))
            .unwrap()
            .alg(),
        TokenAlg::Rs256
    );
    // The nonce only in the `tdx` object, or only at the top level.
    let t = with_claims(|c| {
        c.as_object_mut().unwrap().remove("verifier_nonce");
    });
    validator()
        .validate_cached(&t, Expectations::nonce(&n))
        .unwrap();
    let t = with_claims(|c| {
        c["tdx"].as_object_mut().unwrap().remove("verifier_nonce");
    });
    validator()
        .validate_cached(&t, Expectations::nonce(&n))
        .unwrap();
    // Within the leeway.
    let t = with_claims(|c| c["exp"] = json!(NOW - 30));
    validator()
        .validate_cached(&t, Expectations::none())
        .unwrap();
}

#[tokio::test]
async fn the_async_path_agrees() {
    let n = nonce();
    validator()
        .validate(&good(), Expectations::nonce(&n))
        .await
        .unwrap();
    let e = validator()
        .validate(
            &with_header(|h| h["kid"] = json!("nope")),
            Expectations::none(),
        )
        .await
        .unwrap_err();
    assert_eq!(e.token_check(), Some(TokenCheck::KeyId));
}

// ---- the attack suite -------------------------------------------------------

#[test]
fn attack_01_alg_none() {
    for h in [
        json!({"alg": "none", "kid": KID, "typ": "JWT"}),
        json!({"alg": "None", "kid": KID}),
        json!({"alg": null, "kid": KID}),
        json!({"kid": KID}),
    ] {
        let unsigned = format!(
            "{}.{}.",
            b64u(h.to_string().as_bytes()),
            b64u(claims().to_string().as_bytes())
        );
        assert_refused(&unsigned, TokenCheck::Algorithm);
        assert_refused(&format!("{unsigned}c2ln"), TokenCheck::Algorithm);
    }
}

#[test]
fn attack_02_hmac_with_the_public_key_as_secret() {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    let spki = x509_der_spki(&pki().leaf_der);
    let jwk_text = pki().jwk(KID, None).to_string();
    let secrets: Vec<Vec<u8>> = vec![
        spki.clone(),
        STANDARD.encode(&spki).into_bytes(),
        signing_key().n.clone(),
        jwk_text.into_bytes(),
        pki().leaf_der.clone(),
    ];
    for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
        for secret in &secrets {
            let mut h = Header::new(alg);
            h.kid = Some(KID.into());
            let t = encode(&h, &claims(), &EncodingKey::from_secret(secret)).unwrap();
            assert_refused(&t, TokenCheck::Algorithm);
        }
    }
}

/// The DER SubjectPublicKeyInfo inside a certificate.
fn x509_der_spki(cert: &[u8]) -> Vec<u8> {
    use x509_cert::der::{Decode, Encode};
    let c = x509_cert::Certificate::from_der(cert).unwrap();
    c.tbs_certificate.subject_public_key_info.to_der().unwrap()
}

#[test]
fn attack_03_algorithms_ita_does_not_use() {
    // Properly signed by the trusted key, but PS256 / RS384 / PS512 / ES256.
    for (alg, enc) in [
        (
            "PS256",
            &RSA_PSS_SHA256 as &'static dyn aws_lc_rs::signature::RsaEncoding,
        ),
        ("RS384", &RSA_PKCS1_SHA384),
        ("PS512", &aws_lc_rs::signature::RSA_PSS_SHA512),
        ("RS512", &aws_lc_rs::signature::RSA_PKCS1_SHA512),
    ] {
        let mut h = header();
        h["alg"] = json!(alg);
        let t = sign_raw(
            h.to_string().as_bytes(),
            claims().to_string().as_bytes(),
            signing_key(),
            enc,
        );
        assert_refused(&t, TokenCheck::Algorithm);
    }
    for alg in ["ES256", "ps384", "PS384 ", ""] {
        assert_refused(
            &with_header(|h| h["alg"] = json!(alg)),
            TokenCheck::Algorithm,
        );
    }
    // RS256 when the relying party accepts PS384 only.
    let v = validator().with_algorithms(&[TokenAlg::Ps384]);
    let rs = with_header(|h| h["alg"] = json!("RS256"));
    assert_eq!(
        refused(&v, &rs, Expectations::none()).0,
        TokenCheck::Algorithm
    );
    // A PS384 token with a PKCS#1 signature (alg confusion within RSA).
    let t = sign_raw(
        header().to_string().as_bytes(),
        claims().to_string().as_bytes(),
        signing_key(),
        &RSA_PKCS1_SHA384,
    );
    assert_refused(&t, TokenCheck::Signature);
}

#[test]
fn attack_04_missing_or_malformed_kid() {
    assert_refused(
        &with_header(|h| {
            h.as_object_mut().unwrap().remove("kid");
        }),
        TokenCheck::KeyId,
    );
    assert_refused(&with_header(|h| h["kid"] = json!(5)), TokenCheck::KeyId);
    assert_refused(&with_header(|h| h["kid"] = json!("")), TokenCheck::KeyId);
    assert_refused(&with_header(|h| h["kid"] = json!([KID])), TokenCheck::KeyId);
}

#[test]
fn attack_05_unknown_kid() {
    assert_refused(
        &with_header(|h| h["kid"] = json!("another-kid")),
        TokenCheck::KeyId,
    );
    // Signed by an attacker's key under the attacker's kid, the key
    // advertised in the header: refused, the header's keys are ignored.
    let evil = other_key();
    let mut h = header();
    h["kid"] = json!("evil");
    h["jwk"] = evil.jwk("evil");
    h["x5c"] = json!([STANDARD.encode(&pki().leaf_der)]);
    h["jku"] = json!("https://evil.example/certs");
    assert_refused(&sign_json(&h, &claims(), evil), TokenCheck::KeyId);
}

/// A JWKS server on 127.0.0.1 whose document can be swapped; counts hits.
struct JwksServer {
    url: String,
    hits: Arc<AtomicUsize>,
    doc: Arc<Mutex<Value>>,
}

async fn jwks_server(doc: Value) -> JwksServer {
    use axum::routing::get;
    let hits = Arc::new(AtomicUsize::new(0));
    let doc = Arc::new(Mutex::new(doc));
    let (h, d) = (hits.clone(), doc.clone());
    let app = axum::Router::new().route(
        "/certs",
        get(move || {
            let (h, d) = (h.clone(), d.clone());
            async move {
                h.fetch_add(1, Ordering::SeqCst);
                axum::Json(d.lock().unwrap().clone())
            }
        }),
    );
    let base = serve(app).await;
    JwksServer {
        url: format!("{base}/certs"),
        hits,
        doc,
    }
}

fn fast_http() -> HttpConfig {
    HttpConfig::fast(
        Duration::from_secs(2),
        1,
        Duration::from_millis(10),
        Duration::from_millis(50),
    )
}

#[tokio::test]
async fn attack_06_unknown_kid_after_a_rate_limited_refresh() {
    let server = jwks_server(jwks_doc()).await;
    let v = ItaValidator::with_certs_url(&server.url, KeyTrust::Pinned(pki().roots()), fast_http())
        .unwrap()
        .with_clock(Arc::new(FixedClock(NOW)))
        .with_refresh_interval(Duration::from_secs(3600));
    // First use fetches; a known kid then never refetches.
    v.validate(&good(), Expectations::none()).await.unwrap();
    v.validate(&good(), Expectations::none()).await.unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    // An unknown kid: refused, and within the interval no further fetch,
    // however many tokens name unknown kids.
    let unknown = with_header(|h| h["kid"] = json!("rotated"));
    for _ in 0..5 {
        let e = v
            .validate(&unknown, Expectations::none())
            .await
            .unwrap_err();
        assert_eq!(e.token_check(), Some(TokenCheck::KeyId), "{e}");
    }
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);

    // With a short interval, a rotated key is picked up by one refresh.
    let v = ItaValidator::with_certs_url(&server.url, KeyTrust::Pinned(pki().roots()), fast_http())
        .unwrap()
        .with_clock(Arc::new(FixedClock(NOW)))
        .with_refresh_interval(Duration::ZERO);
    v.validate(&good(), Expectations::none()).await.unwrap();
    let before = server.hits.load(Ordering::SeqCst);
    *server.doc.lock().unwrap() = json!({"keys": [pki().jwk("rotated", None)]});
    v.validate(&unknown, Expectations::none()).await.unwrap();
    assert_eq!(server.hits.load(Ordering::SeqCst), before + 1);
    // Gone from the set after the rotation: refused after a refresh.
    let e = v.validate(&good(), Expectations::none()).await.unwrap_err();
    assert_eq!(e.token_check(), Some(TokenCheck::KeyId), "{e}");
}

#[tokio::test]
async fn an_unreachable_certs_url_is_a_transport_error_not_a_refusal() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/certs", listener.local_addr().unwrap());
    drop(listener);
    let v = ItaValidator::with_certs_url(&url, KeyTrust::AsServed, fast_http())
        .unwrap()
        .with_clock(Arc::new(FixedClock(NOW)));
    let e = v.validate(&good(), Expectations::none()).await.unwrap_err();
    assert_eq!(e.code().number(), 7, "{e}");
    // Rate limited: the next one reports the last failure, still code 7.
    let e = v.validate(&good(), Expectations::none()).await.unwrap_err();
    assert_eq!(e.code().number(), 7, "{e}");
}

#[test]
fn attack_07_x5c_chain_to_another_root() {
    // An attacker's PKI, with a root of the same name as the pinned one.
    let evil = Pki::new("Test Trust Authority Root CA", other_key());
    let doc = json!({"keys": [evil.jwk(KID, None)]});
    let v = validator_for(&doc);
    let t = sign_json(&header(), &claims(), other_key());
    let (check, e) = refused(&v, &t, Expectations::none());
    assert_eq!(check, TokenCheck::Key, "{e}");
    assert_eq!(e.code().number(), 23);
    assert!(e.to_string().contains("pinned root"), "{e}");
    // The attacker's chain ending with the *pinned* root's certificate
    // appended: the attacker's CA is not signed by it.
    let mut k = evil.jwk(KID, None);
    k["x5c"] = json!([
        STANDARD.encode(&evil.leaf_der),
        STANDARD.encode(&evil.ca_der),
        STANDARD.encode(&pki().root_der)
    ]);
    let v = validator_for(&json!({"keys": [k]}));
    assert_eq!(refused(&v, &t, Expectations::none()).0, TokenCheck::Key);
    // The genuine leaf without its CA: does not reach the root.
    let mut k = pki().jwk(KID, None);
    k["x5c"] = json!([STANDARD.encode(&pki().leaf_der)]);
    let v = validator_for(&json!({"keys": [k]}));
    assert_eq!(
        refused(&v, &good(), Expectations::none()).0,
        TokenCheck::Key
    );
    // No x5c at all, with pinned roots.
    let v = validator_for(&json!({"keys": [signing_key().jwk(KID)]}));
    assert_eq!(
        refused(&v, &good(), Expectations::none()).0,
        TokenCheck::Key
    );
    // ...the same key set is fine when trusted as served.
    ItaValidator::from_jwks_bytes(
        json!({"keys": [signing_key().jwk(KID)]})
            .to_string()
            .as_bytes(),
        KeyTrust::AsServed,
    )
    .unwrap()
    .with_clock(Arc::new(FixedClock(NOW)))
    .validate_cached(&good(), Expectations::none())
    .unwrap();
}

#[test]
fn attack_08_jwk_key_not_matching_its_certificate() {
    // n/e of the attacker's key beside the genuine chain.
    let mut k = pki().jwk(KID, None);
    k["n"] = json!(b64u(&other_key().n));
    let doc = json!({"keys": [k]});
    let t = sign_json(&header(), &claims(), other_key());
    for trust in [KeyTrust::Pinned(pki().roots()), KeyTrust::AsServed] {
        let v = ItaValidator::from_jwks_bytes(doc.to_string().as_bytes(), trust)
            .unwrap()
            .with_clock(Arc::new(FixedClock(NOW)));
        let (check, e) = refused(&v, &t, Expectations::none());
        assert_eq!(check, TokenCheck::Key, "{e}");
        assert!(e.to_string().contains("different keys"), "{e}");
    }
    let set = Jwks::parse(doc.to_string().as_bytes(), &KeyTrust::Pinned(pki().roots())).unwrap();
    assert_eq!(set.is_usable(KID), Some(false));
}

#[test]
fn attack_09_expired() {
    assert_refused(
        &with_claims(|c| c["exp"] = json!(NOW - 61)),
        TokenCheck::Expired,
    );
    assert_refused(
        &with_claims(|c| c["exp"] = json!(NOW - 60)),
        TokenCheck::Expired,
    );
    assert_refused(
        &with_claims(|c| {
            c.as_object_mut().unwrap().remove("exp");
        }),
        TokenCheck::MissingExpiry,
    );
    assert_refused(
        &with_claims(|c| c["exp"] = json!("2030")),
        TokenCheck::MissingExpiry,
    );
    // The leeway is bounded, whatever is asked for.
    let v = validator().with_leeway(Duration::from_secs(10 * 24 * 3600));
    let t = with_claims(|c| c["exp"] = json!(NOW - 301));
    assert_eq!(refused(&v, &t, Expectations::none()).0, TokenCheck::Expired);
}

#[test]
fn attack_10_not_yet_valid() {
    assert_refused(
        &with_claims(|c| c["nbf"] = json!(NOW + 120)),
        TokenCheck::NotYetValid,
    );
    assert_refused(
        &with_claims(|c| c["iat"] = json!(NOW + 120)),
        TokenCheck::NotYetValid,
    );
    assert_refused(
        &with_claims(|c| c["nbf"] = json!("soon")),
        TokenCheck::NotYetValid,
    );
    assert_refused(
        &with_claims(|c| c["nbf"] = json!(1e300)),
        TokenCheck::NotYetValid,
    );
}

#[test]
fn attack_11_wrong_issuer() {
    for iss in [
        json!("https://portal.trustauthority.intel.com"),
        json!("Intel Trust Authority "),
        json!("intel trust authority"),
        json!(["Intel Trust Authority"]),
        json!(null),
    ] {
        assert_refused(&with_claims(|c| c["iss"] = iss.clone()), TokenCheck::Issuer);
    }
    assert_refused(
        &with_claims(|c| {
            c.as_object_mut().unwrap().remove("iss");
        }),
        TokenCheck::Issuer,
    );
    // A configured issuer replaces ITA's.
    let v = validator().with_issuer("Test Issuer");
    assert_eq!(
        refused(&v, &good(), Expectations::none()).0,
        TokenCheck::Issuer
    );
}

#[test]
fn attack_12_wrong_verifier_nonce() {
    let n = nonce();
    let other = VerifierNonce::from_bytes(
        n.val(),
        b"2025-10-09 08:53:21.000000000 +0000 UTC",
        n.signature(),
    );
    // A token for another nonce (a replay of an older attestation).
    assert_refused_with(
        &good(),
        Expectations::nonce(&other),
        TokenCheck::VerifierNonce,
    );
    // Each field counts.
    for field in ["val", "iat", "signature"] {
        let t = with_claims(|c| {
            c["verifier_nonce"][field] = json!("AAAA");
            c["tdx"]["verifier_nonce"][field] = json!("AAAA");
        });
        assert_refused_with(&t, Expectations::nonce(&n), TokenCheck::VerifierNonce);
    }
    // A matching top-level nonce does not excuse a mismatching nested one.
    let t = with_claims(|c| c["tdx"]["verifier_nonce"]["val"] = json!("AAAA"));
    assert_refused_with(&t, Expectations::nonce(&n), TokenCheck::VerifierNonce);
    // No nonce at all, or not an object.
    let t = with_claims(|c| {
        c.as_object_mut().unwrap().remove("verifier_nonce");
        c["tdx"].as_object_mut().unwrap().remove("verifier_nonce");
    });
    assert_refused_with(&t, Expectations::nonce(&n), TokenCheck::VerifierNonce);
    let t = with_claims(|c| c["verifier_nonce"] = json!("g0Hgf1W2"));
    assert_refused_with(&t, Expectations::nonce(&n), TokenCheck::VerifierNonce);
}

#[test]
fn attack_13_policy_not_matched() {
    let want = vec![POLICY.to_string()];
    let other = vec!["d970fa2b-34bc-476d-ad8f-7a1b78f2885e".to_string()];
    assert_refused_with(
        &good(),
        Expectations::none().with_policy_ids(&other),
        TokenCheck::Policy,
    );
    // The policy only among the unmatched.
    let t = with_claims(|c| {
        c["policy_ids_unmatched"] = c["policy_ids_matched"].take();
        c["policy_ids_matched"] = json!(null);
    });
    assert_refused_with(
        &t,
        Expectations::none().with_policy_ids(&want),
        TokenCheck::Policy,
    );
    // Malformed lists.
    for m in [
        json!({"id": POLICY}),
        json!([POLICY]),
        json!([{"ID": POLICY}]),
    ] {
        let t = with_claims(|c| c["policy_ids_matched"] = m.clone());
        assert_refused_with(
            &t,
            Expectations::none().with_policy_ids(&want),
            TokenCheck::Policy,
        );
    }
}

#[test]
fn attack_14_tampered_payload() {
    let t = good();
    let parts: Vec<&str> = t.split('.').collect();
    let mut c = claims();
    c["tdx"]["attester_tcb_status"] = json!("UpToDate");
    c["tdx"]["attester_advisory_ids"] = json!([]);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64u(c.to_string().as_bytes()),
        parts[2]
    );
    assert_refused(&forged, TokenCheck::Signature);
    // The header swapped for one naming RS256 (same key): the signature
    // was made over the original header.
    let h = b64u(
        json!({"alg": "RS256", "kid": KID, "typ": "JWT"})
            .to_string()
            .as_bytes(),
    );
    assert_refused(
        &format!("{h}.{}.{}", parts[1], parts[2]),
        TokenCheck::Signature,
    );
}

#[test]
fn attack_15_tampered_or_stripped_signature() {
    let t = good();
    let parts: Vec<&str> = t.split('.').collect();
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    for i in [0, 10, sig.len() - 1] {
        sig[i] ^= 1;
        let forged = format!("{}.{}.{}", parts[0], parts[1], b64u(&sig));
        assert_refused(&forged, TokenCheck::Signature);
        sig[i] ^= 1;
    }
    // Truncated, extended, empty.
    let short = format!("{}.{}.{}", parts[0], parts[1], b64u(&sig[..sig.len() - 1]));
    assert_refused(&short, TokenCheck::Signature);
    let mut long = sig.clone();
    long.push(0);
    assert_refused(
        &format!("{}.{}.{}", parts[0], parts[1], b64u(&long)),
        TokenCheck::Signature,
    );
    assert_refused(
        &format!("{}.{}.", parts[0], parts[1]),
        TokenCheck::Signature,
    );
    // Signed by another key under the trusted kid.
    assert_refused(
        &sign_json(&header(), &claims(), other_key()),
        TokenCheck::Signature,
    );
}

#[test]
fn attack_16_duplicate_json_members() {
    let body = claims().to_string();
    let signed = |payload: &str| {
        sign_raw(
            header().to_string().as_bytes(),
            payload.as_bytes(),
            signing_key(),
            &RSA_PSS_SHA384,
        )
    };
    // A second `iss`, as a last-wins parser would read it.
    let dup = format!("{},\"iss\":\"Evil Authority\"}}", &body[..body.len() - 1]);
    assert_refused(&signed(&dup), TokenCheck::Claims);
    // The same name spelled with an escape.
    let dup = format!("{},\"\\u0065xp\":9999999999}}", &body[..body.len() - 1]);
    assert_refused(&signed(&dup), TokenCheck::Claims);
    // Deep inside the `tdx` object, and deeper.
    let dup = body.replacen(
        "\"attester_tcb_status\":\"OutOfDate\"",
        "\"attester_tcb_status\":\"OutOfDate\",\"attester_tcb_status\":\"UpToDate\"",
        1,
    );
    assert_ne!(dup, body);
    assert_refused(&signed(&dup), TokenCheck::Claims);
    let dup = body.replacen("\"quotehash\":", "\"quotehash\":\"x\",\"quotehash\":", 1);
    assert_refused(&signed(&dup), TokenCheck::Claims);
    let dup = body.replacen("\"val\":", "\"val\":\"AAAA\",\"val\":", 1);
    assert_refused(&signed(&dup), TokenCheck::Claims);
    // In the header: a second alg.
    let h = format!(r#"{{"alg":"PS384","kid":"{KID}","alg":"none"}}"#);
    let t = sign_raw(
        h.as_bytes(),
        body.as_bytes(),
        signing_key(),
        &RSA_PSS_SHA384,
    );
    assert_refused(&t, TokenCheck::Header);
    let h = format!(r#"{{"alg":"PS384","kid":"{KID}","x":{{"a":1,"a":2}}}}"#);
    let t = sign_raw(
        h.as_bytes(),
        body.as_bytes(),
        signing_key(),
        &RSA_PSS_SHA384,
    );
    assert_refused(&t, TokenCheck::Header);
}

#[test]
fn attack_17_oversized_token() {
    let t = with_claims(|c| c["pad"] = json!("x".repeat(300 * 1024)));
    assert_refused(&t, TokenCheck::Size);
    let v = validator().with_max_token_bytes(1000);
    assert_eq!(
        refused(&v, &good(), Expectations::none()).0,
        TokenCheck::Size
    );
    // The cap cannot be lifted past 1 MiB.
    let v = validator().with_max_token_bytes(usize::MAX);
    let huge = "a".repeat(1024 * 1024 + 1);
    assert_eq!(refused(&v, &huge, Expectations::none()).0, TokenCheck::Size);
}

#[test]
fn attack_18_malformed_base64() {
    let t = good();
    let parts: Vec<&str> = t.split('.').collect();
    let std_b64 = |s: &str| s.replace('-', "+").replace('_', "/");
    let candidates = [
        // Padding.
        format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}==.{}", parts[0], parts[1], parts[2]),
        // The standard alphabet.
        format!("{}.{}.{}", parts[0], parts[1], std_b64(parts[2])),
        format!("{}.{}.+{}", parts[0], parts[1], &parts[2][1..]),
        format!("/{}.{}.{}", &parts[0][1..], parts[1], parts[2]),
        // Characters of no alphabet, whitespace inside.
        format!("{}.{}*.{}", parts[0], parts[1], parts[2]),
        format!(
            "{}.{} {}.{}",
            parts[0],
            &parts[1][..10],
            &parts[1][10..],
            parts[2]
        ),
        // A length no base64 text has, or one that decodes to a stray byte.
        format!("{}.{}A.{}", parts[0], parts[1], parts[2]),
        format!("{}.{}AA.{}", parts[0], parts[1], parts[2]),
        // Non-canonical trailing bits in the signature (3072 bits = 384
        // bytes: no trailing bits; add a byte's worth then flip).
        format!(
            "{}.{}.{}B",
            parts[0],
            parts[1],
            &parts[2][..parts[2].len() - 1]
        ),
        format!("{}.{}.{}%", parts[0], parts[1], parts[2]),
    ];
    for c in &candidates {
        match validator().validate_cached(c, Expectations::none()) {
            Ok(_) => panic!("accepted {c}"),
            Err(e) => {
                let check = e.token_check().unwrap();
                assert!(
                    matches!(
                        check,
                        TokenCheck::Format
                            | TokenCheck::Signature
                            | TokenCheck::Header
                            | TokenCheck::Claims
                    ),
                    "{check}: {e}"
                );
                assert!(matches!(e.code().number(), 22 | 6));
            }
        }
    }
    assert_refused(
        &format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        TokenCheck::Format,
    );
    assert_refused(
        &format!("{}.{}.{}%", parts[0], parts[1], parts[2]),
        TokenCheck::Format,
    );
}

#[test]
fn attack_19_trailing_data() {
    let t = good();
    // A fourth segment.
    assert_refused(&format!("{t}.e30"), TokenCheck::Format);
    assert_refused(&format!("{t}."), TokenCheck::Format);
    // Garbage after the JSON object, signed.
    let body = claims().to_string();
    for tail in [" x", "{}", "]", "\u{0}"] {
        let t = sign_raw(
            header().to_string().as_bytes(),
            format!("{body}{tail}").as_bytes(),
            signing_key(),
            &RSA_PSS_SHA384,
        );
        assert_refused(&t, TokenCheck::Claims);
    }
    let h = format!("{} null", header());
    let t = sign_raw(
        h.as_bytes(),
        body.as_bytes(),
        signing_key(),
        &RSA_PSS_SHA384,
    );
    assert_refused(&t, TokenCheck::Header);
    // Fewer parts.
    let parts: Vec<&str> = t.split('.').collect();
    assert_refused(&format!("{}.{}", parts[0], parts[1]), TokenCheck::Format);
    assert_refused(parts[0], TokenCheck::Format);
    assert_refused("", TokenCheck::Format);
    assert_refused(&format!(".{}.{}", parts[1], parts[2]), TokenCheck::Format);
}

#[test]
fn attack_20_typ_crit_and_non_json_parts() {
    assert_refused(&with_header(|h| h["typ"] = json!("JWE")), TokenCheck::Type);
    assert_refused(&with_header(|h| h["typ"] = json!(1)), TokenCheck::Type);
    assert_refused(
        &with_header(|h| h["crit"] = json!(["exp"])),
        TokenCheck::Critical,
    );
    for (h, c, check) in [
        (&b"not json"[..], &b"{}"[..], TokenCheck::Header),
        (br#"["PS384"]"#, b"{}", TokenCheck::Header),
        (b"\xff\xfe", b"{}", TokenCheck::Header),
        (br#"{"alg":"PS384","kid":"k"}"#, b"[1]", TokenCheck::Claims),
        (
            br#"{"alg":"PS384","kid":"k"}"#,
            b"\"s\"",
            TokenCheck::Claims,
        ),
        (
            br#"{"alg":"PS384","kid":"k"}"#,
            b"{\"a\":\xff}",
            TokenCheck::Claims,
        ),
        (
            br#"{"alg":"PS384","kid":"k"}"#,
            b"{\"tdx\":5}",
            TokenCheck::Claims,
        ),
    ] {
        let t = sign_raw(h, c, signing_key(), &RSA_PSS_SHA384);
        assert_refused(&t, check);
    }
}

#[test]
fn attack_21_key_outside_its_certificates_validity() {
    // The leaf is valid 2025-01-01 .. 2027-01-01: a token made to look
    // fresh in 2028 is refused for the key, not accepted.
    let later: i64 = 1_830_000_000; // 2027-12
    let v = validator().with_clock(Arc::new(FixedClock(later)));
    let t = with_claims(|c| {
        c["exp"] = json!(later + 300);
        c["iat"] = json!(later);
        c["nbf"] = json!(later);
    });
    let (check, e) = refused(&v, &t, Expectations::none());
    assert_eq!(check, TokenCheck::Key, "{e}");
    assert!(e.to_string().contains("validity"), "{e}");
}

#[test]
fn attack_22_key_for_another_algorithm() {
    // The JWK says RS256: a PS384 token with the same key is refused.
    let v = validator_for(&json!({"keys": [pki().jwk(KID, Some("RS256"))]}));
    let (check, e) = refused(&v, &good(), Expectations::none());
    assert_eq!(check, TokenCheck::Key, "{e}");
    let rs = with_header(|h| h["alg"] = json!("RS256"));
    v.validate_cached(&rs, Expectations::none()).unwrap();
    // A JWK naming an algorithm ITA does not use, or another key type.
    for k in [pki().jwk(KID, Some("HS256")), {
        let mut k = pki().jwk(KID, None);
        k["kty"] = json!("oct");
        k["k"] = json!(b64u(&signing_key().n));
        k
    }] {
        let v = validator_for(&json!({"keys": [k]}));
        assert_eq!(
            refused(&v, &good(), Expectations::none()).0,
            TokenCheck::Key
        );
    }
    // The kid listed twice (one genuine, one the attacker's): ambiguous.
    let v = validator_for(&json!({"keys": [pki().jwk(KID, None), pki().jwk(KID, None)]}));
    assert_eq!(
        refused(&v, &good(), Expectations::none()).0,
        TokenCheck::Key
    );
}

#[test]
fn attack_23_chains_that_are_not_chains() {
    // The order reversed; the CA certificate used as the leaf; a leaf that
    // is a CA; a chain longer than allowed.
    let p = pki();
    let cases = [
        vec![&p.root_der, &p.ca_der, &p.leaf_der],
        vec![&p.ca_der, &p.root_der],
        vec![&p.leaf_der, &p.leaf_der, &p.ca_der, &p.root_der],
    ];
    for chain in cases {
        let mut k = p.jwk(KID, None);
        k["x5c"] = json!(chain.iter().map(|d| STANDARD.encode(d)).collect::<Vec<_>>());
        let v = validator_for(&json!({"keys": [k]}));
        assert_eq!(
            refused(&v, &good(), Expectations::none()).0,
            TokenCheck::Key
        );
    }
    let mut k = p.jwk(KID, None);
    k["x5c"] = json!(vec![STANDARD.encode(&p.leaf_der); 11]);
    let v = validator_for(&json!({"keys": [k]}));
    let (_, e) = refused(&v, &good(), Expectations::none());
    assert!(e.to_string().contains("at most"), "{e}");
    // Garbage and non-base64 certificates.
    for bad in [json!(["AAAA"]), json!(["!!"]), json!("x"), json!([5])] {
        let mut k = p.jwk(KID, None);
        k["x5c"] = bad;
        let v = validator_for(&json!({"keys": [k]}));
        assert_eq!(
            refused(&v, &good(), Expectations::none()).0,
            TokenCheck::Key
        );
    }
}

#[test]
fn pinned_roots_are_checked_and_read_from_pem() {
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        STANDARD.encode(&pki().root_der)
    );
    assert_eq!(
        PinnedRoots::from_pem_or_der(pem.as_bytes()).unwrap().len(),
        1
    );
    assert_eq!(
        PinnedRoots::from_pem_or_der(&pki().root_der).unwrap().len(),
        1
    );
    // A leaf is not a root.
    let e = PinnedRoots::from_der([pki().leaf_der.as_slice()]).unwrap_err();
    assert_eq!(e.code().number(), 8);
    // The intermediate may be pinned instead of the root.
    let roots = PinnedRoots::from_der([pki().ca_der.as_slice()]).unwrap();
    ItaValidator::from_jwks_bytes(jwks_doc().to_string().as_bytes(), KeyTrust::Pinned(roots))
        .unwrap()
        .with_clock(Arc::new(FixedClock(NOW)))
        .validate_cached(&good(), Expectations::none())
        .unwrap();
}
