//! Validation profiles. The admin profile against a loopback OpenID issuer
//! (Azure AD-shaped: `{issuer}/.well-known/openid-configuration` →
//! `jwks_uri` with one RSA and one EC P-256 key) that signs its own access
//! tokens: RS256, PS256 and ES256 tokens with the right audience and role
//! are accepted, and every refusal names its check. The MAA profile still
//! accepts RS256 only.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256, RSA_PSS_SHA256,
    RSA_PSS_SHA384,
};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use tee_attest_core::{CodedError, MOCK_EVIDENCE_CLAIM};
use tee_attest_maa::{
    Algorithm, FixedClock, HttpConfig, Jwks, MaaError, TokenCheck, TokenValidator,
    ValidationProfile,
};

const AUD: &str = "api://tee-attest-admin";
const ROLE: &str = "Attestation.Admin";
const RSA_KID: &str = "rsa-1";
const EC_KID: &str = "ec-1";
const TENANT: &str = "tenant-1";

// ---- keys ------------------------------------------------------------------

/// An EC P-256 signing key generated in the test.
struct EcKey {
    pkcs8: Vec<u8>,
    /// The uncompressed point `04 || x || y`.
    point: Vec<u8>,
}

impl EcKey {
    fn generate() -> Self {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .unwrap()
            .as_ref()
            .to_vec();
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &pkcs8).unwrap();
        let point = kp.public_key().as_ref().to_vec();
        assert_eq!((point.len(), point[0]), (65, 4));
        Self { pkcs8, point }
    }

    /// A fixed-size `r || s` signature, as JWS ES256 wants.
    fn sign(&self, msg: &[u8]) -> Vec<u8> {
        let kp = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &self.pkcs8).unwrap();
        let sig = kp.sign(&SystemRandom::new(), msg).unwrap();
        assert_eq!(sig.as_ref().len(), 64);
        sig.as_ref().to_vec()
    }

    fn jwk(&self, kid: &str) -> Value {
        json!({"kty": "EC", "use": "sig", "kid": kid, "crv": "P-256",
            "x": b64u(&self.point[1..33]), "y": b64u(&self.point[33..])})
    }

    /// A self-signed certificate for this key (DER).
    fn certificate(&self) -> Vec<u8> {
        let kp = rcgen::KeyPair::try_from(self.pkcs8.as_slice()).unwrap();
        let params = rcgen::CertificateParams::new(vec!["test-ec-signer".to_string()]).unwrap();
        params.self_signed(&kp).unwrap().der().to_vec()
    }
}

fn ec_key() -> &'static EcKey {
    static K: OnceLock<EcKey> = OnceLock::new();
    K.get_or_init(EcKey::generate)
}

fn other_ec_key() -> &'static EcKey {
    static K: OnceLock<EcKey> = OnceLock::new();
    K.get_or_init(EcKey::generate)
}

fn rsa_jwk(kid: &str, key: &TestKey, alg: Option<&str>) -> Value {
    let mut jwk = json!({"kty": "RSA", "use": "sig", "kid": kid,
        "n": b64u(&key.public.n), "e": b64u(&key.public.e)});
    if let Some(alg) = alg {
        jwk["alg"] = json!(alg);
    }
    jwk
}

// ---- tokens ----------------------------------------------------------------

/// `header.payload.signature`, signed as `alg` says with the issuer's RSA
/// key (RS256, PS256, PS384) or its EC key (ES256).
fn signed_as(alg: Algorithm, header: &Value, claims: &Value) -> String {
    let msg = format!(
        "{}.{}",
        b64u(header.to_string().as_bytes()),
        b64u(claims.to_string().as_bytes())
    );
    let sig = match alg {
        Algorithm::Rs256 => signing_key().sign(&RSA_PKCS1_SHA256, msg.as_bytes()),
        Algorithm::Ps256 => signing_key().sign(&RSA_PSS_SHA256, msg.as_bytes()),
        Algorithm::Ps384 => signing_key().sign(&RSA_PSS_SHA384, msg.as_bytes()),
        Algorithm::Es256 => ec_key().sign(msg.as_bytes()),
    };
    format!("{msg}.{}", b64u(&sig))
}

fn kid_for(alg: Algorithm) -> &'static str {
    match alg {
        Algorithm::Es256 => EC_KID,
        _ => RSA_KID,
    }
}

fn header_for(alg: Algorithm) -> Value {
    json!({"alg": alg.as_str(), "typ": "JWT", "kid": kid_for(alg)})
}

/// An access token of `alg` with these claims, as the issuer signs them.
fn token(alg: Algorithm, claims: &Value) -> String {
    signed_as(alg, &header_for(alg), claims)
}

/// Access-token claims for the admin API (Azure AD v2.0-shaped).
fn admin_claims(iss: &str) -> Value {
    json!({
        "iss": iss,
        "aud": AUD,
        "sub": "0b3c1a55-admin-sp",
        "tid": TENANT,
        "azp": "deployment-pipeline",
        "roles": ["Attestation.Reader", ROLE],
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 3600,
        "ver": "2.0"
    })
}

fn with(claims: &Value, f: impl FnOnce(&mut Value)) -> Value {
    let mut c = claims.clone();
    f(&mut c);
    c
}

fn without(claims: &Value, name: &str) -> Value {
    with(claims, |c| {
        c.as_object_mut().unwrap().remove(name);
    })
}

// ---- the loopback OpenID issuer ---------------------------------------------

struct Issuer {
    /// `http://127.0.0.1:PORT/tenant-1/v2.0`, as `iss` says.
    iss: String,
    jwks_hits: Arc<AtomicUsize>,
}

/// An OpenID issuer on 127.0.0.1 serving its metadata and a JWKS with one
/// RSA key (its JWK's `alg` set to `rsa_alg`, if any) and one EC P-256 key.
async fn issuer(rsa_alg: Option<&'static str>) -> Issuer {
    use axum::extract::State;
    use axum::http::HeaderMap;
    use axum::routing::get;
    use axum::{Json, Router};
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new()
        .route(
            &format!("/{TENANT}/v2.0/.well-known/openid-configuration"),
            get(|headers: HeaderMap| async move {
                let host = headers.get("host").unwrap().to_str().unwrap().to_string();
                Json(json!({
                    "issuer": format!("http://{host}/{TENANT}/v2.0"),
                    "jwks_uri": format!("http://{host}/{TENANT}/discovery/v2.0/keys"),
                    "id_token_signing_alg_values_supported": ["RS256", "PS256", "ES256"],
                }))
            }),
        )
        .route(
            &format!("/{TENANT}/discovery/v2.0/keys"),
            get(move |State(hits): State<Arc<AtomicUsize>>| async move {
                hits.fetch_add(1, Ordering::SeqCst);
                Json(json!({"keys": [
                    rsa_jwk(RSA_KID, signing_key(), rsa_alg),
                    ec_key().jwk(EC_KID),
                ]}))
            }),
        )
        .with_state(hits.clone());
    let base = serve(app).await;
    Issuer {
        iss: format!("{base}/{TENANT}/v2.0"),
        jwks_hits: hits,
    }
}

fn fast_http() -> HttpConfig {
    HttpConfig::fast(
        Duration::from_secs(5),
        2,
        Duration::from_millis(10),
        Duration::from_millis(50),
    )
}

/// A validator discovering `iss`'s keys, at the fixed test time.
fn discovering(iss: &str, profile: ValidationProfile) -> TokenValidator {
    TokenValidator::with_discovery(iss, fast_http())
        .unwrap()
        .with_clock(Arc::new(FixedClock(NOW)))
        .with_profile(profile)
}

fn admin() -> ValidationProfile {
    ValidationProfile::admin(AUD, ROLE)
}

async fn refused(v: &TokenValidator, token: &str) -> (TokenCheck, MaaError) {
    match v.validate(token, None).await {
        Ok(_) => panic!("accepted: {token}"),
        Err(e) => (
            e.token_check()
                .unwrap_or_else(|| panic!("not a token refusal: {e}")),
            e,
        ),
    }
}

async fn assert_refused(v: &TokenValidator, token: &str, want: TokenCheck) -> MaaError {
    let (check, e) = refused(v, token).await;
    assert_eq!(check, want, "{e}");
    assert_eq!(e.code(), want.code());
    e
}

// ---- accepted ----------------------------------------------------------------

#[tokio::test]
async fn admin_tokens_rs256_ps256_es256_with_audience_and_role_are_accepted() {
    let is = issuer(None).await;
    let v = discovering(&is.iss, admin());
    let claims = admin_claims(&is.iss);
    for alg in [Algorithm::Rs256, Algorithm::Ps256, Algorithm::Es256] {
        let t = v.validate(&token(alg, &claims), None).await;
        let t = t.unwrap_or_else(|e| panic!("{alg}: {e}"));
        assert_eq!(t.issuer(), Some(is.iss.as_str()));
        assert_eq!(t.header()["alg"], alg.as_str());
        assert_eq!(t.claim("roles"), Some(&claims["roles"]));
    }
    // One discovery, keys parsed once for all three algorithms.
    assert_eq!(is.jwks_hits.load(Ordering::SeqCst), 1);
    // `aud` as an array; `roles` as a string, alone or space-separated.
    for c in [
        with(&claims, |c| c["aud"] = json!(["api://other", AUD])),
        with(&claims, |c| c["roles"] = json!(ROLE)),
        with(&claims, |c| {
            c["roles"] = json!(format!("Attestation.Reader {ROLE}"))
        }),
        // No x-ms-ver needed, and a mock flag means nothing to this profile.
        with(&claims, |c| c[MOCK_EVIDENCE_CLAIM] = json!(true)),
    ] {
        for alg in [Algorithm::Rs256, Algorithm::Es256] {
            v.validate(&token(alg, &c), None)
                .await
                .unwrap_or_else(|e| panic!("{alg} {c}: {e}"));
        }
    }
}

#[tokio::test]
async fn tokens_encoded_by_jsonwebtoken_are_accepted() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let is = issuer(None).await;
    let v = discovering(&is.iss, admin());
    let claims = admin_claims(&is.iss);
    let rsa_pkcs1 = rsa::RsaPrivateKey::from_pkcs8_der(&signing_key().pkcs8)
        .unwrap()
        .to_pkcs1_der()
        .unwrap();
    let rsa = EncodingKey::from_rsa_der(rsa_pkcs1.as_bytes());
    let ec = EncodingKey::from_ec_der(&ec_key().pkcs8);
    for (alg, key, kid) in [
        (jsonwebtoken::Algorithm::RS256, &rsa, RSA_KID),
        (jsonwebtoken::Algorithm::PS256, &rsa, RSA_KID),
        (jsonwebtoken::Algorithm::ES256, &ec, EC_KID),
    ] {
        let mut h = Header::new(alg);
        h.kid = Some(kid.into());
        let t = encode(&h, &claims, key).unwrap();
        v.validate(&t, None)
            .await
            .unwrap_or_else(|e| panic!("{alg:?}: {e}"));
    }
}

#[tokio::test]
async fn the_role_may_come_from_another_claim() {
    let is = issuer(None).await;
    let groups = with(&without(&admin_claims(&is.iss), "roles"), |c| {
        c["groups"] = json!(["g-1", ROLE])
    });
    let t = token(Algorithm::Rs256, &groups);
    // In another claim, the role is not granted...
    let e = assert_refused(&discovering(&is.iss, admin()), &t, TokenCheck::Role).await;
    assert!(e.to_string().contains("roles"), "{e}");
    // ...unless the profile reads that claim.
    let v = discovering(&is.iss, admin().with_role_claim("groups"));
    v.validate(&t, None).await.unwrap();
    // And then `roles` no longer counts.
    let t = token(Algorithm::Es256, &admin_claims(&is.iss));
    assert_refused(&v, &t, TokenCheck::Role).await;
    // A role claim that is also a claim every profile reads (`iss` here).
    let v = discovering(
        &is.iss,
        ValidationProfile::admin(AUD, is.iss.clone()).with_role_claim("iss"),
    );
    v.validate(&t, None).await.unwrap();
}

// ---- refused: authentication (401) -------------------------------------------

#[tokio::test]
async fn missing_or_wrong_audience_is_refused_by_the_audience_check() {
    let is = issuer(None).await;
    let v = discovering(&is.iss, admin());
    let claims = admin_claims(&is.iss);
    for c in [
        without(&claims, "aud"),
        with(&claims, |c| c["aud"] = json!("api://another-service")),
        with(&claims, |c| c["aud"] = json!(format!("{AUD}/"))),
        with(&claims, |c| c["aud"] = json!(["api://a", "api://b"])),
        with(&claims, |c| c["aud"] = json!([])),
        with(&claims, |c| c["aud"] = json!(7)),
    ] {
        for alg in [Algorithm::Rs256, Algorithm::Ps256, Algorithm::Es256] {
            let e = assert_refused(&v, &token(alg, &c), TokenCheck::Audience).await;
            assert_eq!(e.token_check().unwrap().http_status(), 401);
        }
    }
    // Checked before any key is fetched.
    assert_eq!(is.jwks_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn expired_and_foreign_tokens_are_refused() {
    let is = issuer(None).await;
    let v = discovering(&is.iss, admin());
    let claims = admin_claims(&is.iss);
    for alg in [Algorithm::Rs256, Algorithm::Es256] {
        let c = with(&claims, |c| c["exp"] = json!(NOW - 61));
        assert_refused(&v, &token(alg, &c), TokenCheck::Expired).await;
        let c = with(&claims, |c| {
            c["iss"] = json!("https://login.example/evil/v2.0")
        });
        assert_refused(&v, &token(alg, &c), TokenCheck::Issuer).await;
        let c = without(&claims, "iss");
        assert_refused(&v, &token(alg, &c), TokenCheck::Issuer).await;
    }
    assert_eq!(is.jwks_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn attack_alg_none() {
    let is = issuer(None).await;
    let v = discovering(&is.iss, admin());
    let claims = admin_claims(&is.iss);
    for (h, sig) in [
        (json!({"alg": "none", "typ": "JWT", "kid": RSA_KID}), ""),
        (json!({"alg": "none", "kid": EC_KID}), "c2ln"),
        (json!({"alg": "None", "kid": RSA_KID}), "c2ln"),
        (json!({"typ": "JWT", "kid": RSA_KID}), "c2ln"),
        (json!({"alg": null, "kid": RSA_KID}), "c2ln"),
    ] {
        let t = format!(
            "{}.{}.{sig}",
            b64u(h.to_string().as_bytes()),
            b64u(claims.to_string().as_bytes())
        );
        assert_refused(&v, &t, TokenCheck::Algorithm).await;
    }
}

#[tokio::test]
async fn attack_hs256_signed_with_the_rsa_public_key_as_secret() {
    use jsonwebtoken::{encode, EncodingKey, Header};
    use rsa::pkcs8::EncodePublicKey;
    let is = issuer(None).await;
    let v = discovering(&is.iss, admin());
    let public = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&signing_key().public.n),
        rsa::BigUint::from_bytes_be(&signing_key().public.e),
    )
    .unwrap();
    let der = public.to_public_key_der().unwrap().as_bytes().to_vec();
    let pem = public
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap()
        .into_bytes();
    let jwk = rsa_jwk(RSA_KID, signing_key(), None)
        .to_string()
        .into_bytes();
    for secret in [
        der.clone(),
        STANDARD.encode(&der).into_bytes(),
        pem,
        jwk,
        signing_key().public.n.clone(),
        ec_key().point.clone(),
    ] {
        for alg in [
            jsonwebtoken::Algorithm::HS256,
            jsonwebtoken::Algorithm::HS384,
            jsonwebtoken::Algorithm::HS512,
        ] {
            let mut h = Header::new(alg);
            h.kid = Some(RSA_KID.into());
            let t = encode(
                &h,
                &admin_claims(&is.iss),
                &EncodingKey::from_secret(&secret),
            )
            .unwrap();
            assert_refused(&v, &t, TokenCheck::Algorithm).await;
        }
    }
    assert_eq!(is.jwks_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn attack_rs256_token_for_a_key_whose_jwk_says_ps256() {
    let is = issuer(Some("PS256")).await;
    let v = discovering(&is.iss, admin());
    let claims = admin_claims(&is.iss);
    let e = assert_refused(&v, &token(Algorithm::Rs256, &claims), TokenCheck::Key).await;
    assert_eq!(e.code().number(), 23);
    assert!(e.to_string().contains("PS256"), "{e}");
    // The algorithm the JWK names is accepted.
    v.validate(&token(Algorithm::Ps256, &claims), None)
        .await
        .unwrap();
}

#[tokio::test]
async fn attack_key_type_confusion() {
    let is = issuer(None).await;
    let v = discovering(&is.iss, admin());
    let claims = admin_claims(&is.iss);
    // An ES256 header naming the RSA key (signed by the EC key, or not at all).
    let h = json!({"alg": "ES256", "typ": "JWT", "kid": RSA_KID});
    assert_refused(
        &v,
        &signed_as(Algorithm::Es256, &h, &claims),
        TokenCheck::Key,
    )
    .await;
    let unsigned = format!(
        "{}.{}.{}",
        b64u(h.to_string().as_bytes()),
        b64u(claims.to_string().as_bytes()),
        b64u(&[0u8; 64])
    );
    assert_refused(&v, &unsigned, TokenCheck::Key).await;
    // RSA algorithms naming the EC key.
    for alg in [Algorithm::Rs256, Algorithm::Ps256] {
        let h = json!({"alg": alg.as_str(), "kid": EC_KID});
        assert_refused(&v, &signed_as(alg, &h, &claims), TokenCheck::Key).await;
    }
    // A PS256 token claiming RS256 (same key, other padding): the signature fails.
    let h = header_for(Algorithm::Rs256);
    let msg = format!(
        "{}.{}",
        b64u(h.to_string().as_bytes()),
        b64u(claims.to_string().as_bytes())
    );
    let pss = signing_key().sign(&RSA_PSS_SHA256, msg.as_bytes());
    assert_refused(&v, &format!("{msg}.{}", b64u(&pss)), TokenCheck::Signature).await;
    // An ES256 signature by another EC key with the trusted kid.
    let msg = format!(
        "{}.{}",
        b64u(header_for(Algorithm::Es256).to_string().as_bytes()),
        b64u(claims.to_string().as_bytes())
    );
    let forged = other_ec_key().sign(msg.as_bytes());
    assert_refused(
        &v,
        &format!("{msg}.{}", b64u(&forged)),
        TokenCheck::Signature,
    )
    .await;
    // A DER-encoded ECDSA signature is not a JWS one.
    let der_sig = {
        let kp = EcdsaKeyPair::from_pkcs8(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            &ec_key().pkcs8,
        )
        .unwrap();
        kp.sign(&SystemRandom::new(), msg.as_bytes())
            .unwrap()
            .as_ref()
            .to_vec()
    };
    assert_refused(
        &v,
        &format!("{msg}.{}", b64u(&der_sig)),
        TokenCheck::Signature,
    )
    .await;
}

#[tokio::test]
async fn attack_token_without_kid() {
    let is = issuer(None).await;
    let v = discovering(&is.iss, admin());
    let claims = admin_claims(&is.iss);
    for alg in [Algorithm::Rs256, Algorithm::Ps256, Algorithm::Es256] {
        let h = json!({"alg": alg.as_str(), "typ": "JWT"});
        assert_refused(&v, &signed_as(alg, &h, &claims), TokenCheck::KeyId).await;
    }
    // Refused before any key is fetched.
    assert_eq!(is.jwks_hits.load(Ordering::SeqCst), 0);
    // Even with a single-key JWKS, which the MAA profile would use.
    let single = Jwks::from_rsa_keys([(RSA_KID.to_string(), signing_key().public.clone())]);
    let v = TokenValidator::with_jwks(Some(&is.iss), single)
        .with_clock(Arc::new(FixedClock(NOW)))
        .with_profile(admin());
    let t = signed_as(Algorithm::Rs256, &json!({"alg": "RS256"}), &claims);
    assert_refused(&v, &t, TokenCheck::KeyId).await;
    v.with_profile(admin().require_kid(false))
        .validate(&t, None)
        .await
        .unwrap();
}

// ---- refused: authorization (403) --------------------------------------------

#[tokio::test]
async fn missing_or_ungranted_role_is_refused_by_the_role_check_with_403() {
    let is = issuer(None).await;
    let v = discovering(&is.iss, admin());
    let claims = admin_claims(&is.iss);
    for c in [
        without(&claims, "roles"),
        with(&claims, |c| c["roles"] = json!(["Attestation.Reader"])),
        with(&claims, |c| c["roles"] = json!([])),
        with(&claims, |c| c["roles"] = json!("Attestation.Reader")),
        with(&claims, |c| c["roles"] = json!(format!("{ROLE}X"))),
        with(&claims, |c| c["roles"] = json!(ROLE.to_lowercase())),
        with(&claims, |c| c["roles"] = json!([[ROLE]])),
        with(&claims, |c| c["roles"] = json!({ "role": ROLE })),
        with(&claims, |c| c["roles"] = json!(null)),
    ] {
        for alg in [Algorithm::Rs256, Algorithm::Ps256, Algorithm::Es256] {
            let e = assert_refused(&v, &token(alg, &c), TokenCheck::Role).await;
            let check = e.token_check().unwrap();
            assert!(check.is_authorization());
            assert_eq!(check.http_status(), 403);
            assert_eq!(e.code().number(), 6);
        }
    }
}

#[tokio::test]
async fn the_role_check_is_made_only_on_authentic_valid_tokens() {
    let is = issuer(None).await;
    let v = discovering(&is.iss, admin());
    let no_role = without(&admin_claims(&is.iss), "roles");
    // Forged (another key with the trusted kid): 401, not 403.
    let forged = sign_json(&header_for(Algorithm::Rs256), &no_role, other_key());
    assert_refused(&v, &forged, TokenCheck::Signature).await;
    // Expired, or for another audience, or with a wrong nonce.
    let expired = with(&no_role, |c| c["exp"] = json!(NOW - 3600));
    assert_refused(&v, &token(Algorithm::Es256, &expired), TokenCheck::Expired).await;
    let elsewhere = with(&no_role, |c| c["aud"] = json!("api://other"));
    assert_refused(
        &v,
        &token(Algorithm::Ps256, &elsewhere),
        TokenCheck::Audience,
    )
    .await;
    let with_nonce = with(&no_role, |c| c["nonce"] = json!("n-1"));
    let (check, _) = match v
        .validate(&token(Algorithm::Rs256, &with_nonce), Some(b"n-2"))
        .await
    {
        Err(e) => (e.token_check().unwrap(), e),
        Ok(_) => panic!("accepted"),
    };
    assert_eq!(check, TokenCheck::Nonce);
}

// ---- the MAA profile ---------------------------------------------------------

#[tokio::test]
async fn the_maa_profile_still_refuses_ps256_and_es256() {
    let is = issuer(None).await;
    let mut claims = admin_claims(&is.iss);
    claims["x-ms-ver"] = json!("1.0");
    for v in [
        TokenValidator::with_discovery(&is.iss, fast_http())
            .unwrap()
            .with_clock(Arc::new(FixedClock(NOW))),
        discovering(&is.iss, ValidationProfile::maa()),
    ] {
        for alg in [Algorithm::Ps256, Algorithm::Ps384, Algorithm::Es256] {
            let e = assert_refused(&v, &token(alg, &claims), TokenCheck::Algorithm).await;
            assert!(e.to_string().contains("allowed: RS256"), "{e}");
        }
        // RS256 with x-ms-ver passes (audience and roles mean nothing to it).
        v.validate(&token(Algorithm::Rs256, &claims), None)
            .await
            .unwrap();
        // Without x-ms-ver, refused as before.
        let e = without(&claims, "x-ms-ver");
        assert_refused(&v, &token(Algorithm::Rs256, &e), TokenCheck::Version).await;
    }
}

#[tokio::test]
async fn a_ps384_profile_for_intel_trust_authority_tokens() {
    let is = issuer(None).await;
    let profile = ValidationProfile::maa()
        .with_algorithms(&[Algorithm::Ps384])
        .require_kid(true)
        .require_version(false);
    let v = discovering(&is.iss, profile);
    let claims = admin_claims(&is.iss);
    v.validate(&token(Algorithm::Ps384, &claims), None)
        .await
        .unwrap();
    for alg in [Algorithm::Rs256, Algorithm::Ps256, Algorithm::Es256] {
        assert_refused(&v, &token(alg, &claims), TokenCheck::Algorithm).await;
    }
    let h = json!({"alg": "PS384"});
    assert_refused(
        &v,
        &signed_as(Algorithm::Ps384, &h, &claims),
        TokenCheck::KeyId,
    )
    .await;
    // No algorithm at all: everything is refused.
    let v = discovering(
        &is.iss,
        ValidationProfile::admin(AUD, ROLE).with_algorithms(&[]),
    );
    assert_refused(&v, &token(Algorithm::Rs256, &claims), TokenCheck::Algorithm).await;
}

// ---- JWKS: EC keys and `alg` ---------------------------------------------------

fn static_admin(doc: Value) -> TokenValidator {
    let set = Jwks::parse(doc.to_string().as_bytes()).unwrap();
    TokenValidator::with_jwks(Some(ISSUER), set)
        .with_clock(Arc::new(FixedClock(NOW)))
        .with_profile(admin())
}

#[tokio::test]
async fn ec_keys_from_x5c_certificates() {
    let cert = STANDARD.encode(ec_key().certificate());
    let t = token(Algorithm::Es256, &admin_claims(ISSUER));
    // x5c only (as MAA publishes its keys), and x5c with matching x/y.
    let x5c_only = json!({"keys": [{"kty": "EC", "kid": EC_KID, "x5c": [cert]}]});
    let mut both = ec_key().jwk(EC_KID);
    both["x5c"] = json!([cert]);
    for doc in [x5c_only, json!({"keys": [both]})] {
        static_admin(doc.clone())
            .validate(&t, None)
            .await
            .unwrap_or_else(|e| panic!("{doc}: {e}"));
    }
}

#[tokio::test]
async fn unusable_ec_and_rsa_jwks_are_refused_by_the_key_check() {
    let cert = STANDARD.encode(ec_key().certificate());
    let rsa_cert = STANDARD.encode(signing_key().certificate());
    let mut mismatch = other_ec_key().jwk(EC_KID);
    mismatch["x5c"] = json!([cert]);
    let mut p384 = ec_key().jwk(EC_KID);
    p384["crv"] = json!("P-384");
    let mut no_crv = ec_key().jwk(EC_KID);
    no_crv.as_object_mut().unwrap().remove("crv");
    let mut off_curve = ec_key().jwk(EC_KID);
    off_curve["y"] = json!(b64u(&[7u8; 32]));
    let mut short = ec_key().jwk(EC_KID);
    short["x"] = json!(b64u(&ec_key().point[2..33]));
    let mut enc = ec_key().jwk(EC_KID);
    enc["use"] = json!("enc");
    let mut rs_alg = ec_key().jwk(EC_KID);
    rs_alg["alg"] = json!("RS256");
    let mut es384 = ec_key().jwk(EC_KID);
    es384["alg"] = json!("ES384");
    let docs = [
        mismatch,
        p384,
        no_crv,
        off_curve,
        short,
        enc,
        rs_alg,
        es384,
        // kty EC whose certificate holds an RSA key.
        json!({"kty": "EC", "kid": EC_KID, "x5c": [rsa_cert]}),
        json!({"kty": "EC", "kid": EC_KID}),
        json!({"kty": "OKP", "kid": EC_KID, "crv": "Ed25519", "x": b64u(&[1; 32])}),
    ];
    let t = token(Algorithm::Es256, &admin_claims(ISSUER));
    for jwk in docs {
        let v = static_admin(json!({ "keys": [jwk.clone()] }));
        let (check, e) = refused(&v, &t).await;
        assert_eq!(check, TokenCheck::Key, "{jwk}: {e}");
        assert_eq!(e.code().number(), 23);
    }
    // kty RSA whose certificate holds an EC key.
    let v = static_admin(json!({"keys": [{"kty": "RSA", "kid": RSA_KID, "x5c": [cert]}]}));
    let t = token(Algorithm::Rs256, &admin_claims(ISSUER));
    assert_refused(&v, &t, TokenCheck::Key).await;
}

#[tokio::test]
async fn a_jwk_alg_restricts_its_key_to_that_algorithm() {
    let claims = admin_claims(ISSUER);
    let keys = json!({"keys": [rsa_jwk(RSA_KID, signing_key(), Some("RS256")),
        {"kty": "EC", "kid": EC_KID, "alg": "ES256", "crv": "P-256",
         "x": b64u(&ec_key().point[1..33]), "y": b64u(&ec_key().point[33..])}]});
    let v = static_admin(keys);
    v.validate(&token(Algorithm::Rs256, &claims), None)
        .await
        .unwrap();
    v.validate(&token(Algorithm::Es256, &claims), None)
        .await
        .unwrap();
    let e = assert_refused(&v, &token(Algorithm::Ps256, &claims), TokenCheck::Key).await;
    assert!(e.to_string().contains("RS256 only"), "{e}");
    // An alg we do not support makes the key unusable for everything.
    let v = static_admin(json!({"keys": [rsa_jwk(RSA_KID, signing_key(), Some("RS512"))]}));
    for alg in [Algorithm::Rs256, Algorithm::Ps256] {
        assert_refused(&v, &token(alg, &claims), TokenCheck::Key).await;
    }
}
