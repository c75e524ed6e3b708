//! The key-release request as the service receives it (`POST
//! /keys/{name}[/{version}]/release?api-version=…`, body `{"target", "enc",
//! "nonce"}`): routing, body parse, token validation, key lookup, the SKR
//! policy on the token's claims, the wrap key, the nonce, the wrap and the
//! signed answer, through the real router on a fresh in-memory store. A
//! client's request never makes the service fail internally (5xx), and a
//! released key's answer verifies with the service's JWKS.
//!
//! Input: first byte = mode, then `split(rest, 5)` = [key name, version,
//! api-version, body, extra]. Mode bit 0 set: "body" holds token claims
//! (JSON), signed here by the key the validator trusts, and the body is
//! built with `enc` and `nonce` from `split_text(extra, 2)`.
#![no_main]

use std::sync::{Arc, OnceLock};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Map, Value};
use tee_attest_fuzz::{
    block_on, jwks_json, sign_compact, split, split_text, SignAlg, FIXED_NOW, ISSUER,
};
use tee_attest_keyrelease::client::KeyReleaseResponse;
use tee_attest_keyrelease::service::{router, ReleaseState};
use tee_attest_keyrelease::store::generate_key;
use tee_attest_keyrelease::{Kek, KeySpec, KeyStore};
use tee_attest_maa::{FixedClock, Jwks, TokenValidator};
use tee_attest_verifier::TokenSigner;
use tower::ServiceExt as _;
use zeroize::Zeroizing;

const BASE: &str = "https://keys.fuzz.tee-attest.invalid";

struct Fixture {
    signer_pkcs8: Vec<u8>,
    signer_cert: Vec<u8>,
    signer_jwks: Value,
    keys: Vec<(&'static str, KeySpec, Zeroizing<Vec<u8>>, Value)>,
    policy: String,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let signer = TokenSigner::generate().expect("response signer");
        let keys = [
            ("oct", KeySpec::Oct256),
            ("rsa", KeySpec::Rsa2048),
            ("ec", KeySpec::EcP256),
        ]
        .into_iter()
        .map(|(name, spec)| {
            let (material, jwk) = generate_key(spec).expect("key generation");
            (name, spec, material, jwk)
        })
        .collect();
        let policy = json!({"version": "1.0.0", "anyOf": [{"authority": ISSUER, "allOf": [
            {"claim": "x-ms-isolation-tee.x-ms-attestation-type", "equals": "sevsnpvm"},
            {"claim": "x-ms-attestation-type", "equals": "azurevm"}
        ]}]})
        .to_string();
        Fixture {
            signer_pkcs8: signer.pkcs8().to_vec(),
            signer_cert: signer.cert_der().to_vec(),
            signer_jwks: signer.jwks(),
            keys,
            policy,
        }
    })
}

/// Percent-encodes everything but RFC 3986's unreserved characters.
fn pct(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        if c.is_ascii_alphanumeric() || b"-._~".contains(&c) {
            s.push(c as char);
        } else {
            s.push_str(&format!("%{c:02X}"));
        }
    }
    s
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let p = split(rest, 5);
    let (name, version, api, body, extra) = (p[0], p[1], p[2], p[3], p[4]);
    let body = if mode & 1 == 1 {
        let token = sign_compact(
            br#"{"alg":"RS256","kid":"rsa-1","typ":"JWT"}"#,
            body,
            SignAlg::Rs256,
        );
        let e = split_text(extra, 2);
        let mut m = Map::new();
        m.insert("target".into(), json!(token));
        if !e[0].is_empty() {
            m.insert("enc".into(), json!(String::from_utf8_lossy(e[0])));
        }
        if !e[1].is_empty() {
            m.insert("nonce".into(), json!(String::from_utf8_lossy(e[1])));
        }
        Value::Object(m).to_string().into_bytes()
    } else {
        body.to_vec()
    };
    let mut uri = format!("/keys/{}", pct(name));
    if !version.is_empty() {
        uri.push('/');
        uri.push_str(&pct(version));
    }
    uri.push_str("/release");
    if !api.is_empty() {
        uri.push_str("?api-version=");
        uri.push_str(&pct(api));
    }
    let Ok(request) = Request::post(uri).body(Body::from(body)) else {
        return;
    };

    let f = fixture();
    let store = KeyStore::in_memory(Kek::from_bytes([7; 32])).expect("in-memory store");
    for (name, spec, material, jwk) in &f.keys {
        block_on(store.import(name, *spec, material, jwk.clone(), &f.policy)).expect("key import");
    }
    let jwks = Jwks::parse(jwks_json().to_string().as_bytes()).expect("JWKS");
    let validator = TokenValidator::with_jwks(Some(ISSUER), jwks)
        .with_clock(Arc::new(FixedClock(FIXED_NOW)))
        .allow_mock(true);
    let signer = TokenSigner::from_parts(&f.signer_pkcs8, f.signer_cert.clone()).expect("signer");
    let state = ReleaseState::new(Arc::new(store), Arc::new(validator), signer, BASE);
    let (status, bytes) = block_on(async {
        let resp = router(state)
            .oneshot(request)
            .await
            .expect("the router answers");
        let status = resp.status();
        let bytes = axum::body::to_bytes(resp.into_body(), 1 << 22)
            .await
            .expect("the answer's body");
        (status, bytes)
    });
    assert!(
        !status.is_server_error(),
        "a request made the service fail: {status} {}",
        String::from_utf8_lossy(&bytes)
    );
    if status == StatusCode::OK {
        let v: Value = serde_json::from_slice(&bytes).expect("a JSON answer");
        let jws = v["value"].as_str().expect("a `value` string");
        let r = KeyReleaseResponse::parse(jws).expect("the service's answer parses");
        r.verify_signature(&f.signer_jwks)
            .expect("the service's answer verifies with its JWKS");
    }
});
