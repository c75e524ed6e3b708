//! Relying-party validation of attestation tokens with
//! `ValidationProfile::maa()` and a static JWKS (the process's RSA and EC
//! keys): size, format, header, algorithm, claims, times, key, signature,
//! `x-ms-ver`, mock evidence, nonce; then the token's accessors.
//!
//! Input: first byte = mode. Bit 0 clear: the rest is the token. Bit 0 set:
//! `split_text(rest, 3)` = [header JSON, claims JSON, nonce], signed here
//! (algorithm from bits 2–3) so that the checks after the signature see the
//! fuzzer's claims. Bit 1: validate with the nonce (or "fuzz-nonce").
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tee_attest_fuzz::{block_on, jwks_json, sign_compact, split_text, SignAlg, FIXED_NOW, ISSUER};
use tee_attest_maa::{FixedClock, Jwks, TokenValidator, ValidationProfile};

fn validator() -> &'static TokenValidator {
    static V: OnceLock<TokenValidator> = OnceLock::new();
    V.get_or_init(|| {
        let jwks = Jwks::parse(jwks_json().to_string().as_bytes()).expect("the JWKS parses");
        TokenValidator::with_jwks(Some(ISSUER), jwks)
            .with_profile(ValidationProfile::maa())
            .with_clock(Arc::new(FixedClock(FIXED_NOW)))
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (token, nonce) = if mode & 1 == 0 {
        let Ok(t) = std::str::from_utf8(rest) else {
            return;
        };
        (t.to_string(), b"fuzz-nonce".to_vec())
    } else {
        let p = split_text(rest, 3);
        (
            sign_compact(p[0], p[1], SignAlg::from_byte(mode >> 2)),
            p[2].to_vec(),
        )
    };
    let expected = (mode & 2 == 2).then_some(nonce.as_slice());
    if let Ok(t) = block_on(validator().validate(&token, expected)) {
        let _ = t.claims();
        let _ = t.header();
        let _ = t.issuer();
        let _ = t.expires_at();
        let _ = t.attestation_type();
        let _ = t.isolation_tee_type();
        let _ = t.compliance_status();
        let _ = t.vm_configuration();
        let _ = t.secure_boot();
        let _ = t.ephemeral_key();
        let _ = t.client_payload();
        let _ = t.is_mock_evidence();
        let _ = t.nonce();
    }
});
