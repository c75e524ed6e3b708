//! Signed policies (`tee_attest_policy::verify_jws` and what builds on it):
//! compact JWS, `alg` allow-list, the signer certificate in `x5c`, the RS256
//! signature, trusted signers, the `AttestationPolicy` payload; plus the
//! PEM and certificate helpers.
//!
//! Input: first byte = mode. Bit 0 clear: the rest is the JWS (or policy
//! text, or PEM). Bit 0 set: the rest is a payload, signed here by a key
//! whose certificate is trusted, so that the payload is read after the
//! signature verified; bit 1 then puts the certificate in `jwk.x5c`.
#![no_main]

use std::sync::OnceLock;

use aws_lc_rs::signature::{RsaKeyPair, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use tee_attest_policy::jws::{decode_policy_jws, looks_like_jws, pem_to_der, unverified_payload};
use tee_attest_policy::{certificate_jwk, load_policy, verify_jws, JwsOptions, Policy};
use tee_attest_verifier::TokenSigner;

struct Signer {
    key: RsaKeyPair,
    cert: Vec<u8>,
}

fn signer() -> &'static Signer {
    static S: OnceLock<Signer> = OnceLock::new();
    S.get_or_init(|| {
        let t = TokenSigner::generate().expect("a signing key and certificate");
        Signer {
            key: RsaKeyPair::from_pkcs8(t.pkcs8()).expect("PKCS#8"),
            cert: t.cert_der().to_vec(),
        }
    })
}

fn check(jws: &str) {
    let s = signer();
    let opts = [
        JwsOptions::default(),
        JwsOptions::default().trust(s.cert.clone()),
        JwsOptions::default().allow_only(&["RS256"]),
    ];
    for o in &opts {
        if let Ok(v) = verify_jws(jws, o) {
            let _ = v.signer.map(|s| s.claim());
        }
        if let Ok(doc) = load_policy(jws, o) {
            let _ = Policy::parse(&doc.text);
        }
        let _ = decode_policy_jws(jws, o);
    }
    let _ = looks_like_jws(jws);
    let _ = unverified_payload(jws);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        let _ = certificate_jwk(rest);
        if let Ok(s) = std::str::from_utf8(rest) {
            check(s);
            let _ = pem_to_der(s, &["CERTIFICATE", "PRIVATE KEY", "RSA PRIVATE KEY"]);
        }
        return;
    }
    let s = signer();
    let x5c = STANDARD.encode(&s.cert);
    let header = if mode & 2 == 2 {
        format!(r#"{{"alg":"RS256","jwk":{{"x5c":["{x5c}"]}}}}"#)
    } else {
        format!(r#"{{"alg":"RS256","x5c":["{x5c}"]}}"#)
    };
    let mut msg = URL_SAFE_NO_PAD.encode(header);
    msg.push('.');
    msg.push_str(&URL_SAFE_NO_PAD.encode(rest));
    let mut sig = vec![0u8; s.key.public_modulus_len()];
    s.key
        .sign(
            &RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            msg.as_bytes(),
            &mut sig,
        )
        .expect("RSA signing");
    msg.push('.');
    msg.push_str(&URL_SAFE_NO_PAD.encode(sig));
    check(&msg);
});
