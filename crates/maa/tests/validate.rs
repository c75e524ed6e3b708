//! Relying-party token validation: accepted tokens, and a suite of refused
//! attacks, each asserting the check that refused it.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PKCS1_SHA384, RSA_PSS_SHA256};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use tee_attest_core::{AttestationToken, CodedError, MOCK_EVIDENCE_CLAIM};
use tee_attest_maa::{FixedClock, HttpConfig, Jwks, MaaError, TokenCheck, TokenValidator};

fn jwks() -> Jwks {
    Jwks::from_rsa_keys([(KID.to_string(), signing_key().public.clone())])
}

fn validator() -> TokenValidator {
    TokenValidator::with_jwks(Some(ISSUER), jwks()).with_clock(Arc::new(FixedClock(NOW)))
}

fn good() -> String {
    sign_json(&header(), &claims(), signing_key())
}

async fn refused_by(
    v: &TokenValidator,
    token: &str,
    nonce: Option<&[u8]>,
) -> (TokenCheck, MaaError) {
    match v.validate(token, nonce).await {
        Ok(_) => panic!("accepted: {token}"),
        Err(e) => (
            e.token_check()
                .unwrap_or_else(|| panic!("not a token refusal: {e}")),
            e,
        ),
    }
}

async fn assert_refused(token: &str, nonce: Option<&[u8]>, want: TokenCheck) {
    let (check, e) = refused_by(&validator(), token, nonce).await;
    assert_eq!(check, want, "{e}");
    assert_eq!(e.code(), want.code());
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

#[tokio::test]
async fn a_good_token_validates() {
    let t = validator().validate(&good(), None).await.unwrap();
    assert_eq!(t.issuer(), Some(ISSUER));
    // Raw nonce, or base64 as MAA returns the client payload.
    validator()
        .validate(&good(), Some(b"ADE0101"))
        .await
        .unwrap();
    // A `nonce` claim (platform protocols) also matches.
    let t = with_claims(|c| c["nonce"] = json!("n-42"));
    validator().validate(&t, Some(b"n-42")).await.unwrap();
    // Trailing slash on either side of the issuer comparison; whitespace around the token.
    let t = with_claims(|c| c["iss"] = json!(format!("{ISSUER}/")));
    validator()
        .validate(&format!(" {t}\n"), None)
        .await
        .unwrap();
    TokenValidator::with_jwks(Some(&format!("{ISSUER}/")), jwks())
        .with_clock(Arc::new(FixedClock(NOW)))
        .validate(&good(), None)
        .await
        .unwrap();
    // Within the leeway.
    let t = with_claims(|c| c["exp"] = json!(NOW - 30));
    validator().validate(&t, None).await.unwrap();
    // Without a configured issuer (static JWKS only), iss is not compared.
    let t = with_claims(|c| c["iss"] = json!("https://elsewhere"));
    TokenValidator::with_jwks(None, jwks())
        .with_clock(Arc::new(FixedClock(NOW)))
        .validate(&t, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn keys_from_x5c_only_jwks_as_maa_publishes_them() {
    let doc = x5c_jwks(KID, signing_key());
    let set = Jwks::parse(doc.to_string().as_bytes()).unwrap();
    let v = TokenValidator::with_jwks(Some(ISSUER), set).with_clock(Arc::new(FixedClock(NOW)));
    v.validate(&good(), None).await.unwrap();
}

// ---- the attack suite -------------------------------------------------------

#[tokio::test]
async fn attack_alg_none() {
    let t = format!(
        "{}.{}.",
        b64u(br#"{"alg":"none","typ":"JWT","kid":"test-kid"}"#),
        b64u(claims().to_string().as_bytes())
    );
    assert_refused(&t, None, TokenCheck::Algorithm).await;
    let t = format!(
        "{}.{}.c2ln",
        b64u(br#"{"alg":"none"}"#),
        b64u(claims().to_string().as_bytes())
    );
    assert_refused(&t, None, TokenCheck::Algorithm).await;
}

#[tokio::test]
async fn attack_hs256_signed_with_the_public_key() {
    use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
    let der = tee_attest_maa_spki(&signing_key().public);
    for secret in [
        der.clone(),
        STANDARD.encode(&der).into_bytes(),
        signing_key().public.n.clone(),
    ] {
        let mut h = Header::new(Algorithm::HS256);
        h.kid = Some(KID.into());
        let t = encode(&h, &claims(), &EncodingKey::from_secret(&secret)).unwrap();
        assert_refused(&t, None, TokenCheck::Algorithm).await;
    }
}

fn tee_attest_maa_spki(k: &tee_attest_keys::RsaPublic) -> Vec<u8> {
    use rsa::pkcs8::EncodePublicKey;
    rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&k.n),
        rsa::BigUint::from_bytes_be(&k.e),
    )
    .unwrap()
    .to_public_key_der()
    .unwrap()
    .as_bytes()
    .to_vec()
}

#[tokio::test]
async fn attack_jku_x5u_jwk_and_x5c_pointing_elsewhere_are_ignored() {
    // Signed by the attacker's key, header pointing at the attacker's keys:
    // the key comes only from the configured JWKS, so the signature fails.
    let evil = other_key();
    let evil_cert = STANDARD.encode(evil.certificate());
    let headers = [
        json!({"alg":"RS256","typ":"JWT","kid":KID,"jku":"https://evil.example/certs"}),
        json!({"alg":"RS256","typ":"JWT","kid":KID,"x5u":"https://evil.example/cert.pem"}),
        json!({"alg":"RS256","typ":"JWT","kid":KID,"jwk":evil.public.to_jwk()}),
        json!({"alg":"RS256","typ":"JWT","kid":KID,"x5c":[evil_cert]}),
    ];
    for h in headers {
        let t = sign_json(&h, &claims(), evil);
        assert_refused(&t, None, TokenCheck::Signature).await;
    }
    // x5c chaining to an untrusted root with the attacker's own kid: unknown kid.
    let h = json!({"alg":"RS256","kid":"evil","x5c":[STANDARD.encode(evil.certificate())]});
    assert_refused(&sign_json(&h, &claims(), evil), None, TokenCheck::KeyId).await;
}

#[tokio::test]
async fn attack_unknown_kid_and_missing_kid() {
    assert_refused(
        &with_header(|h| h["kid"] = json!("other")),
        None,
        TokenCheck::KeyId,
    )
    .await;
    // Without a kid, a multi-key JWKS is ambiguous.
    let set = Jwks::from_rsa_keys([
        (KID.to_string(), signing_key().public.clone()),
        ("k2".to_string(), other_key().public.clone()),
    ]);
    let v = TokenValidator::with_jwks(Some(ISSUER), set).with_clock(Arc::new(FixedClock(NOW)));
    let t = with_header(|h| {
        h.as_object_mut().unwrap().remove("kid");
    });
    assert_eq!(refused_by(&v, &t, None).await.0, TokenCheck::KeyId);
    // ...but a single-key JWKS is not.
    validator().validate(&t, None).await.unwrap();
    // kid of the wrong type.
    assert_refused(
        &with_header(|h| h["kid"] = json!(5)),
        None,
        TokenCheck::Header,
    )
    .await;
}

#[tokio::test]
async fn attack_signed_by_another_key_with_the_trusted_kid() {
    let t = sign_json(&header(), &claims(), other_key());
    assert_refused(&t, None, TokenCheck::Signature).await;
}

#[tokio::test]
async fn attack_expired() {
    assert_refused(
        &with_claims(|c| c["exp"] = json!(NOW - 61)),
        None,
        TokenCheck::Expired,
    )
    .await;
    assert_refused(
        &with_claims(|c| c["exp"] = json!(NOW - 60)),
        None,
        TokenCheck::Expired,
    )
    .await;
}

#[tokio::test]
async fn attack_not_yet_valid() {
    assert_refused(
        &with_claims(|c| c["nbf"] = json!(NOW + 120)),
        None,
        TokenCheck::NotYetValid,
    )
    .await;
    assert_refused(
        &with_claims(|c| c["iat"] = json!(NOW + 120)),
        None,
        TokenCheck::NotYetValid,
    )
    .await;
    assert_refused(
        &with_claims(|c| c["nbf"] = json!("soon")),
        None,
        TokenCheck::NotYetValid,
    )
    .await;
}

#[tokio::test]
async fn leeway_is_bounded() {
    let v = validator().with_leeway(Duration::from_secs(10 * 24 * 3600));
    let t = with_claims(|c| c["exp"] = json!(NOW - 301));
    assert_eq!(refused_by(&v, &t, None).await.0, TokenCheck::Expired);
}

#[tokio::test]
async fn attack_wrong_or_missing_issuer() {
    assert_refused(
        &with_claims(|c| c["iss"] = json!("https://evil.example")),
        None,
        TokenCheck::Issuer,
    )
    .await;
    assert_refused(
        &with_claims(|c| c["iss"] = json!(format!("{ISSUER}.evil.example"))),
        None,
        TokenCheck::Issuer,
    )
    .await;
    assert_refused(
        &with_claims(|c| {
            c.as_object_mut().unwrap().remove("iss");
        }),
        None,
        TokenCheck::Issuer,
    )
    .await;
}

#[tokio::test]
async fn attack_nonce_mismatch_or_missing() {
    assert_refused(&good(), Some(b"ADE0102"), TokenCheck::Nonce).await;
    let t = with_claims(|c| {
        c.as_object_mut().unwrap().remove("x-ms-runtime");
    });
    assert_refused(&t, Some(b"ADE0101"), TokenCheck::Nonce).await;
}

#[tokio::test]
async fn attack_tampered_claim() {
    let t = good();
    let parts: Vec<&str> = t.split('.').collect();
    let mut c = claims();
    c["x-ms-attestation-type"] = json!("sevsnpvm");
    c["exp"] = json!(NOW + 999_999);
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64u(c.to_string().as_bytes()),
        parts[2]
    );
    assert_refused(&forged, None, TokenCheck::Signature).await;
    // A flipped signature byte.
    let mut sig = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(parts[2])
        .unwrap();
    sig[10] ^= 1;
    let forged = format!("{}.{}.{}", parts[0], parts[1], b64u(&sig));
    assert_refused(&forged, None, TokenCheck::Signature).await;
}

#[tokio::test]
async fn attack_stripped_signature() {
    let t = good();
    let stripped = &t[..t.rfind('.').unwrap() + 1];
    assert_refused(stripped, None, TokenCheck::Signature).await;
}

#[tokio::test]
async fn attack_mock_token_when_mock_not_trusted() {
    let t = with_claims(|c| c[MOCK_EVIDENCE_CLAIM] = json!(true));
    assert_refused(&t, None, TokenCheck::MockEvidence).await;
    validator()
        .allow_mock(true)
        .validate(&t, None)
        .await
        .unwrap();
}

#[tokio::test]
async fn attack_oversized_token() {
    let t = with_claims(|c| c["pad"] = json!("x".repeat(300 * 1024)));
    assert_refused(&t, None, TokenCheck::Size).await;
    let v = validator().with_max_token_bytes(500);
    assert_eq!(refused_by(&v, &good(), None).await.0, TokenCheck::Size);
}

#[tokio::test]
async fn attack_non_utf8_header() {
    let t = sign_raw(
        b"{\"alg\":\"RS256\",\"kid\":\"\xff\xfe\"}",
        claims().to_string().as_bytes(),
        signing_key(),
        &RSA_PKCS1_SHA256,
    );
    assert_refused(&t, None, TokenCheck::Header).await;
    let t = sign_raw(
        b"not json",
        claims().to_string().as_bytes(),
        signing_key(),
        &RSA_PKCS1_SHA256,
    );
    assert_refused(&t, None, TokenCheck::Header).await;
    let t = sign_raw(
        b"[\"RS256\"]",
        claims().to_string().as_bytes(),
        signing_key(),
        &RSA_PKCS1_SHA256,
    );
    assert_refused(&t, None, TokenCheck::Header).await;
}

#[tokio::test]
async fn attack_duplicate_names() {
    let body = claims().to_string();
    // {"iss": <ours>, ..., "iss": "https://evil"} — last-wins parsers would see evil.
    let dup = format!(
        "{},\"iss\":\"https://evil.example\"}}",
        &body[..body.len() - 1]
    );
    let t = sign_raw(
        header().to_string().as_bytes(),
        dup.as_bytes(),
        signing_key(),
        &RSA_PKCS1_SHA256,
    );
    assert_refused(&t, None, TokenCheck::Claims).await;
    let nested = format!(
        "{},\"x-ms-isolation-tee\":{{\"a\":1,\"a\":2}}}}",
        &body[..body.len() - 1]
    );
    let t = sign_raw(
        header().to_string().as_bytes(),
        nested.as_bytes(),
        signing_key(),
        &RSA_PKCS1_SHA256,
    );
    assert_refused(&t, None, TokenCheck::Claims).await;
    let h = br#"{"alg":"RS256","kid":"test-kid","alg":"none"}"#;
    let t = sign_raw(h, body.as_bytes(), signing_key(), &RSA_PKCS1_SHA256);
    assert_refused(&t, None, TokenCheck::Header).await;
}

#[tokio::test]
async fn attack_duplicates_spelled_with_escapes_or_deep_in_the_payload() {
    let body = claims().to_string();
    let signed = |payload: &str| {
        sign_raw(
            header().to_string().as_bytes(),
            payload.as_bytes(),
            signing_key(),
            &RSA_PKCS1_SHA256,
        )
    };
    // `\u0069ss` is `iss`: the same name, whatever its spelling.
    let escaped = format!(
        "{},\"\\u0069ss\":\"https://evil.example\"}}",
        &body[..body.len() - 1]
    );
    assert_refused(&signed(&escaped), None, TokenCheck::Claims).await;
    // A second nonce inside the client payload, two levels down.
    let deep = body.replace(
        r#""nonce":"QURFMDEwMQ==""#,
        r#""nonce":"QURFMDEwMQ==","nonce":"ZXZpbA==""#,
    );
    assert_ne!(deep, body);
    assert_refused(&signed(&deep), Some(b"ADE0101"), TokenCheck::Claims).await;
    // Inside an array of objects.
    let in_array = format!(
        "{},\"keys\":[{{\"kid\":\"a\"}},{{\"kid\":\"b\",\"kid\":\"c\"}}]}}",
        &body[..body.len() - 1]
    );
    assert_refused(&signed(&in_array), None, TokenCheck::Claims).await;
    // A number no JSON decoder can hold: refused now, not on first use.
    let huge = format!("{},\"big\":1e999}}", &body[..body.len() - 1]);
    assert_refused(&signed(&huge), None, TokenCheck::Claims).await;
    // Trailing data after the object.
    assert_refused(&signed(&format!("{body} {{}}")), None, TokenCheck::Claims).await;
}

#[tokio::test]
async fn the_returned_token_holds_exactly_the_signed_claims() {
    let mut c = claims();
    c["x-ms-isolation-tee"] = json!({"x-ms-attestation-type": "sevsnpvm",
        "x-ms-runtime": {"keys": [{"kid": "HCLAkPub", "kty": "RSA"}], "vm-configuration": {"secure-boot": true}}});
    c["escaped"] = json!("a\"b\\c\u{e9}");
    c["list"] = json!([1, -2, 3.5, null, true, {"x": [[]]}]);
    let t = validator()
        .validate(&sign_json(&header(), &c, signing_key()), None)
        .await
        .unwrap();
    assert_eq!(t.claims(), &c);
    assert_eq!(t.header(), &header());
    assert_eq!(t.secure_boot(), Some(true));
    #[derive(serde::Deserialize)]
    struct Typed {
        iss: String,
        exp: i64,
    }
    let typed: Typed = t.claims_as().unwrap();
    assert_eq!(
        (typed.iss.as_str(), typed.exp),
        (ISSUER, c["exp"].as_i64().unwrap())
    );
}

#[tokio::test]
async fn nonces_are_found_in_any_case_and_only_in_the_client_payload() {
    for (key, ok) in [
        ("nonce", true),
        ("Nonce", true),
        ("NONCE", true),
        ("nonces", false),
    ] {
        let t = with_claims(|c| {
            c["x-ms-runtime"] = json!({"client-payload": {key: "QURFMDEwMQ=="}});
        });
        let r = validator().validate(&t, Some(b"ADE0101")).await;
        assert_eq!(r.is_ok(), ok, "{key}: {r:?}");
    }
    // A nonce elsewhere in the runtime claims, or a client payload that is
    // not an object, is not the token's nonce.
    for runtime in [
        json!({"keys": [{"nonce": "QURFMDEwMQ=="}], "client-payload": {}}),
        json!({"client-payload": [{"nonce": "QURFMDEwMQ=="}]}),
        json!([{"client-payload": {"nonce": "QURFMDEwMQ=="}}]),
        json!({"other": {"client-payload": {"nonce": "QURFMDEwMQ=="}}}),
    ] {
        let t = with_claims(|c| c["x-ms-runtime"] = runtime.clone());
        assert_refused(&t, Some(b"ADE0101"), TokenCheck::Nonce).await;
    }
}

#[tokio::test]
async fn attack_wrong_typ() {
    assert_refused(
        &with_header(|h| h["typ"] = json!("at+jwt")),
        None,
        TokenCheck::Type,
    )
    .await;
    assert_refused(
        &with_header(|h| h["typ"] = json!(1)),
        None,
        TokenCheck::Type,
    )
    .await;
    // "jwt" in any case is fine.
    validator()
        .validate(&with_header(|h| h["typ"] = json!("jwt")), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn attack_other_rsa_algorithms() {
    let h384 = json!({"alg":"RS384","kid":KID});
    let t = sign_raw(
        h384.to_string().as_bytes(),
        claims().to_string().as_bytes(),
        signing_key(),
        &RSA_PKCS1_SHA384,
    );
    assert_refused(&t, None, TokenCheck::Algorithm).await;
    let hps = json!({"alg":"PS256","kid":KID});
    let t = sign_raw(
        hps.to_string().as_bytes(),
        claims().to_string().as_bytes(),
        signing_key(),
        &RSA_PSS_SHA256,
    );
    assert_refused(&t, None, TokenCheck::Algorithm).await;
    // Claiming RS256 while signing PSS: the signature check refuses it.
    let t = sign_raw(
        header().to_string().as_bytes(),
        claims().to_string().as_bytes(),
        signing_key(),
        &RSA_PSS_SHA256,
    );
    assert_refused(&t, None, TokenCheck::Signature).await;
}

#[tokio::test]
async fn attack_missing_or_malformed_exp() {
    assert_refused(
        &with_claims(|c| {
            c.as_object_mut().unwrap().remove("exp");
        }),
        None,
        TokenCheck::MissingExpiry,
    )
    .await;
    assert_refused(
        &with_claims(|c| c["exp"] = json!("tomorrow")),
        None,
        TokenCheck::MissingExpiry,
    )
    .await;
}

#[tokio::test]
async fn attack_truncated_and_extra_segments() {
    let t = good();
    let two = &t[..t.rfind('.').unwrap()];
    assert_refused(two, None, TokenCheck::Format).await;
    assert_refused(&t[..20], None, TokenCheck::Format).await;
    assert_refused(&format!("{t}.AAAA"), None, TokenCheck::Format).await;
    assert_refused(&format!("{t}.AAAA.BBBB"), None, TokenCheck::Format).await;
    assert_refused("", None, TokenCheck::Format).await;
    // Padding or standard-alphabet characters are not base64url.
    let parts: Vec<&str> = t.split('.').collect();
    assert_refused(
        &format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
        None,
        TokenCheck::Format,
    )
    .await;
    assert_refused(
        &format!("{}.{}.{}+", parts[0], parts[1], parts[2]),
        None,
        TokenCheck::Format,
    )
    .await;
    assert_refused(
        &format!("{}.{} .{}", parts[0], parts[1], parts[2]),
        None,
        TokenCheck::Format,
    )
    .await;
}

#[tokio::test]
async fn attack_jwks_key_of_another_kty_or_use() {
    let ec = json!({"keys": [{"kid": KID, "kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"}]});
    let enc = json!({"keys": [{"kid": KID, "kty": "RSA", "use": "enc", "n": b64u(&signing_key().public.n), "e": "AQAB"}]});
    let small = json!({"keys": [{"kid": KID, "kty": "RSA", "n": b64u(&[0xc1; 128]), "e": "AQAB"}]});
    let mismatch = json!({"keys": [{"kid": KID, "kty": "RSA", "n": b64u(&other_key().public.n), "e": "AQAB",
        "x5c": [STANDARD.encode(signing_key().certificate())]}]});
    let bad_cert = json!({"keys": [{"kid": KID, "kty": "RSA", "x5c": ["AAAA"]}]});
    let twice = json!({"keys": [
        {"kid": KID, "kty": "RSA", "n": b64u(&signing_key().public.n), "e": "AQAB"},
        {"kid": KID, "kty": "RSA", "n": b64u(&other_key().public.n), "e": "AQAB"}]});
    for doc in [ec, enc, small, mismatch, bad_cert, twice] {
        let set = Jwks::parse(doc.to_string().as_bytes()).unwrap();
        let v = TokenValidator::with_jwks(Some(ISSUER), set).with_clock(Arc::new(FixedClock(NOW)));
        let (check, e) = refused_by(&v, &good(), None).await;
        assert_eq!(check, TokenCheck::Key, "{doc}: {e}");
        assert_eq!(e.code().number(), 23);
    }
}

#[tokio::test]
async fn attack_crit_header() {
    assert_refused(
        &with_header(|h| h["crit"] = json!(["exp"])),
        None,
        TokenCheck::Critical,
    )
    .await;
}

#[tokio::test]
async fn attack_missing_x_ms_ver() {
    assert_refused(
        &with_claims(|c| {
            c.as_object_mut().unwrap().remove("x-ms-ver");
        }),
        None,
        TokenCheck::Version,
    )
    .await;
}

#[tokio::test]
async fn attack_payload_not_an_object() {
    let t = sign_raw(
        header().to_string().as_bytes(),
        b"[1,2]",
        signing_key(),
        &RSA_PKCS1_SHA256,
    );
    assert_refused(&t, None, TokenCheck::Claims).await;
    let t = sign_raw(
        header().to_string().as_bytes(),
        b"\xff{}",
        signing_key(),
        &RSA_PKCS1_SHA256,
    );
    assert_refused(&t, None, TokenCheck::Claims).await;
}

#[test]
fn jwks_documents() {
    assert_eq!(Jwks::parse(b"").unwrap_err().code().number(), 18);
    assert_eq!(Jwks::parse(b"{").unwrap_err().code().number(), 16);
    assert_eq!(
        Jwks::parse(b"{\"keys\": 1}").unwrap_err().code().number(),
        16
    );
    let set = Jwks::parse(x5c_jwks("a", signing_key()).to_string().as_bytes()).unwrap();
    assert!(set.contains("a") && set.len() == 1 && !set.is_empty());
}

#[tokio::test]
async fn jwks_file_mode() {
    let dir = std::env::temp_dir().join(format!("tee-attest-maa-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("jwks.json");
    std::fs::write(&path, x5c_jwks(KID, signing_key()).to_string()).unwrap();
    let v = TokenValidator::from_jwks_file(Some(ISSUER), &path)
        .unwrap()
        .with_clock(Arc::new(FixedClock(NOW)));
    v.validate(&good(), None).await.unwrap();
    let missing = TokenValidator::from_jwks_file(Some(ISSUER), &dir.join("nope.json")).unwrap_err();
    assert_eq!(missing.code().number(), 8);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---- the real MAA token ------------------------------------------------------

const MAA_ISSUER: &str = "https://sharedweu.weu.attest.azure.net";

fn maa_token() -> String {
    String::from_utf8(tee_attest_testkit::vector("maa/azureguest-snp-token.jwt")).unwrap()
}

#[test]
fn the_real_maa_token_decodes_and_its_claims_are_readable() {
    let t = AttestationToken::parse(&maa_token()).unwrap();
    assert_eq!(t.header()["alg"], "RS256");
    assert_eq!(t.issuer(), Some(MAA_ISSUER));
    assert_eq!(t.attestation_type(), Some("azurevm"));
    assert_eq!(t.isolation_tee_type(), Some("sevsnpvm"));
    assert_eq!(t.compliance_status(), Some("azure-compliant-cvm"));
    assert_eq!(t.secure_boot(), Some(true));
    assert_eq!(t.nonce(), Some("QURFMDEwMQ=="));
    assert_eq!(t.ephemeral_key().unwrap()["key_ops"], json!(["encrypt"]));
    assert_eq!(t.claim("x-ms-ver"), Some(&json!("1.0")));
    assert_eq!(
        t.claim("x-ms-isolation-tee.x-ms-sevsnpvm-vmpl"),
        Some(&json!(0))
    );
}

#[tokio::test]
async fn the_real_maa_token_is_refused_as_expired_without_fetching_keys() {
    // The issuer's JWKS is not available (and never fetched: no network).
    let v = TokenValidator::with_jwks(Some(MAA_ISSUER), Jwks::default());
    let (check, e) = refused_by(&v, &maa_token(), None).await;
    assert_eq!(check, TokenCheck::Expired, "{e}");
    // At its own time, every structural check passes and only the key is missing.
    let iat = AttestationToken::parse(&maa_token())
        .unwrap()
        .claim("iat")
        .unwrap()
        .as_i64()
        .unwrap();
    let v = v.with_clock(Arc::new(FixedClock(iat + 60)));
    let (check, e) = refused_by(&v, &maa_token(), Some(b"ADE0101")).await;
    assert_eq!(check, TokenCheck::KeyId, "{e}");
}

// ---- discovery and the JWKS cache -------------------------------------------

struct Keys {
    kid: std::sync::Mutex<String>,
    jwks_hits: AtomicUsize,
    cross_origin: bool,
    /// Whether `/certs` answers only after a few seconds.
    slow: std::sync::atomic::AtomicBool,
    /// `/certs` answers given.
    jwks_served: AtomicUsize,
}

/// A key service with key `k1`, answering at once.
fn keys_service(cross_origin: bool) -> Arc<Keys> {
    Arc::new(Keys {
        kid: std::sync::Mutex::new("k1".into()),
        jwks_hits: AtomicUsize::new(0),
        cross_origin,
        slow: Default::default(),
        jwks_served: Default::default(),
    })
}

async fn discovery_server(state: Arc<Keys>) -> String {
    use axum::extract::State;
    use axum::routing::get;
    use axum::{Json, Router};
    let app = Router::new()
        .route(
            "/.well-known/openid-configuration",
            get(
                |State(s): State<Arc<Keys>>, headers: axum::http::HeaderMap| async move {
                    let host = headers.get("host").unwrap().to_str().unwrap().to_string();
                    let uri = if s.cross_origin {
                        "http://127.0.0.1:1/certs".to_string()
                    } else {
                        format!("http://{host}/certs")
                    };
                    Json(json!({"issuer": format!("http://{host}"), "jwks_uri": uri}))
                },
            ),
        )
        .route(
            "/certs",
            get(|State(s): State<Arc<Keys>>| async move {
                s.jwks_hits.fetch_add(1, Ordering::SeqCst);
                if s.slow.load(Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_secs(3)).await;
                }
                let kid = s.kid.lock().unwrap().clone();
                s.jwks_served.fetch_add(1, Ordering::SeqCst);
                Json(x5c_jwks(&kid, signing_key()))
            }),
        )
        .with_state(state);
    serve(app).await
}

fn fast_http() -> HttpConfig {
    HttpConfig::fast(
        Duration::from_secs(5),
        2,
        Duration::from_millis(10),
        Duration::from_millis(50),
    )
}

fn token_for(issuer: &str, kid: &str) -> String {
    let mut c = claims();
    c["iss"] = json!(issuer);
    sign_json(
        &json!({"alg":"RS256","typ":"JWT","kid":kid}),
        &c,
        signing_key(),
    )
}

#[tokio::test]
async fn discovery_fetches_once_and_refreshes_on_unknown_kid_rate_limited() {
    let state = keys_service(false);
    let base = discovery_server(state.clone()).await;
    let v = TokenValidator::with_discovery(&base, fast_http())
        .unwrap()
        .with_clock(Arc::new(FixedClock(NOW)))
        .with_refresh_interval(Duration::ZERO);
    v.validate(&token_for(&base, "k1"), None).await.unwrap();
    v.validate(&token_for(&base, "k1"), None).await.unwrap();
    assert_eq!(state.jwks_hits.load(Ordering::SeqCst), 1, "cached");
    // The service rotates its key: an unknown kid triggers a refresh.
    *state.kid.lock().unwrap() = "k2".into();
    v.validate(&token_for(&base, "k2"), None).await.unwrap();
    assert_eq!(state.jwks_hits.load(Ordering::SeqCst), 2);

    // With a long refresh interval, unknown kids do not hammer the service.
    let v = TokenValidator::with_discovery(&base, fast_http())
        .unwrap()
        .with_clock(Arc::new(FixedClock(NOW)))
        .with_refresh_interval(Duration::from_secs(3600));
    v.validate(&token_for(&base, "k2"), None).await.unwrap();
    let before = state.jwks_hits.load(Ordering::SeqCst);
    for _ in 0..5 {
        let (check, _) = refused_by(&v, &token_for(&base, "unknown"), None).await;
        assert_eq!(check, TokenCheck::KeyId);
    }
    assert_eq!(
        state.jwks_hits.load(Ordering::SeqCst),
        before,
        "rate limited"
    );
    // Stale tokens never cause a fetch.
    let mut c = claims();
    c["iss"] = json!(base.clone());
    c["exp"] = json!(NOW - 3600);
    let stale = sign_json(&json!({"alg":"RS256","kid":"zzz"}), &c, signing_key());
    assert_eq!(refused_by(&v, &stale, None).await.0, TokenCheck::Expired);
    assert_eq!(state.jwks_hits.load(Ordering::SeqCst), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_in_progress_does_not_hold_up_tokens_with_known_keys() {
    let state = keys_service(false);
    let base = discovery_server(state.clone()).await;
    let v = Arc::new(
        TokenValidator::with_discovery(&base, fast_http())
            .unwrap()
            .with_clock(Arc::new(FixedClock(NOW)))
            .with_refresh_interval(Duration::ZERO),
    );
    v.validate(&token_for(&base, "k1"), None).await.unwrap();
    // The service rotates to k2 and answers slowly: a k2 token starts a
    // refresh that takes seconds.
    state.slow.store(true, Ordering::SeqCst);
    *state.kid.lock().unwrap() = "k2".into();
    let refreshing = {
        let (v, t) = (v.clone(), token_for(&base, "k2"));
        tokio::spawn(async move { v.validate(&t, None).await })
    };
    while state.jwks_hits.load(Ordering::SeqCst) < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Meanwhile a k1 token validates from the cache, without waiting.
    v.validate(&token_for(&base, "k1"), None).await.unwrap();
    assert_eq!(
        state.jwks_served.load(Ordering::SeqCst),
        1,
        "the k1 token waited for the refresh"
    );
    refreshing.await.unwrap().unwrap();
    assert_eq!(state.jwks_hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn discovery_refuses_a_jwks_uri_on_another_origin() {
    let state = keys_service(true);
    let base = discovery_server(state.clone()).await;
    let v = TokenValidator::with_discovery(&base, fast_http())
        .unwrap()
        .with_clock(Arc::new(FixedClock(NOW)));
    let e = v.validate(&token_for(&base, "k1"), None).await.unwrap_err();
    assert_eq!(e.code().number(), 2, "{e}");
    assert_eq!(state.jwks_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn discovery_errors_are_coded() {
    use axum::routing::get;
    let app = axum::Router::new()
        .route(
            "/a/.well-known/openid-configuration",
            get(|| async { "not json" }),
        )
        .route(
            "/b/.well-known/openid-configuration",
            get(|| async { (axum::http::StatusCode::NOT_FOUND, "") }),
        );
    let base = serve(app).await;
    for (path, want) in [("a", 16), ("b", 5)] {
        let iss = format!("{base}/{path}");
        let v = TokenValidator::with_discovery(&iss, fast_http())
            .unwrap()
            .with_clock(Arc::new(FixedClock(NOW)));
        let e = v.validate(&token_for(&iss, "k1"), None).await.unwrap_err();
        assert_eq!(e.code().number(), want, "{path}: {e}");
        // Within the refresh interval the failure is not retried, but
        // reported as what it is: the keys could not be had (code 7), not
        // a refusal of the token.
        let e = v.validate(&token_for(&iss, "k1"), None).await.unwrap_err();
        assert_eq!(e.token_check(), None, "{e}");
        assert_eq!(e.code().number(), 7, "{e}");
        assert!(e.to_string().contains("last JWKS refresh failed"), "{e}");
    }
    assert_eq!(
        TokenValidator::with_discovery("ftp://x", fast_http())
            .unwrap_err()
            .code()
            .number(),
        8
    );
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn arbitrary_tokens_never_panic_and_are_refused(s in "[A-Za-z0-9_.=-]{0,400}") {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let r = rt.block_on(validator().validate(&s, None));
            prop_assert!(r.is_err());
        }

        /// Mutated payloads, validly signed: never a panic, and a token
        /// accepted holds exactly what a strict JSON decoder reads.
        #[test]
        fn signed_mutated_payloads_are_refused_or_read_exactly(
            pos in 0usize..400,
            byte in any::<u8>(),
        ) {
            let mut body = claims().to_string().into_bytes();
            let i = pos % body.len();
            body[i] = byte;
            let t = sign_raw(
                header().to_string().as_bytes(),
                &body,
                signing_key(),
                &RSA_PKCS1_SHA256,
            );
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            if let Ok(tok) = rt.block_on(validator().validate(&t, None)) {
                let strict: Value = serde_json::from_slice(&body).unwrap();
                prop_assert_eq!(tok.claims(), &strict);
            }
        }
    }
}
