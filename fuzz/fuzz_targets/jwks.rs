//! A static JWKS document (a relying party's trusted keys, or what an
//! issuer's `jwks_uri` serves): RSA `n`/`e`, EC `crv`/`x`/`y`, `x5c`
//! certificates, `use`, `alg`, duplicate kids; then a token signed by the
//! process's RSA key (`kid` `rsa-1`) validated with it, so that the keys'
//! parsed forms are used.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use tee_attest_fuzz::{block_on, sign_compact, SignAlg, FIXED_NOW, ISSUER};
use tee_attest_maa::{Algorithm, FixedClock, Jwks, TokenValidator, ValidationProfile};

fn tokens() -> &'static [String; 3] {
    static T: OnceLock<[String; 3]> = OnceLock::new();
    T.get_or_init(|| {
        let claims = format!(
            r#"{{"iss":"{ISSUER}","exp":{},"x-ms-ver":"1.0"}}"#,
            FIXED_NOW + 3600
        );
        [
            sign_compact(
                br#"{"alg":"RS256","kid":"rsa-1"}"#,
                claims.as_bytes(),
                SignAlg::Rs256,
            ),
            sign_compact(
                br#"{"alg":"PS256","kid":"rsa-1"}"#,
                claims.as_bytes(),
                SignAlg::Ps256,
            ),
            sign_compact(
                br#"{"alg":"ES256","kid":"ec-1"}"#,
                claims.as_bytes(),
                SignAlg::Es256,
            ),
        ]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(jwks) = Jwks::parse(data) else {
        return;
    };
    let _ = (jwks.len(), jwks.is_empty(), jwks.contains("rsa-1"));
    let profile = ValidationProfile::maa().with_algorithms(&Algorithm::ALL);
    let v = TokenValidator::with_jwks(Some(ISSUER), jwks)
        .with_profile(profile)
        .with_clock(Arc::new(FixedClock(FIXED_NOW)));
    for t in tokens() {
        let _ = block_on(v.validate(t, None));
    }
});
