//! `TPM2B_PUBLIC` / `TPMT_PUBLIC` (the AK and the ephemeral key as the
//! AzureGuest request carries them) and the other encodings an RSA public
//! key arrives in (PEM, SubjectPublicKeyInfo DER, JWK).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_tpm::verify::{attributes, RsaPublic, TpmPublic};

fuzz_target!(|data: &[u8]| {
    for k in [TpmPublic::parse_tpm2b(data), TpmPublic::parse_tpmt(data)]
        .into_iter()
        .flatten()
    {
        let _ = k.name();
        let _ = k.has(attributes::DECRYPT | attributes::FIXED_TPM);
        let _ = k.key.modulus_len();
        let _ = k.key.to_pkcs1_der();
        let _ = k.key.to_jwk();
    }
    if let Ok(k) = RsaPublic::from_spki_der(data) {
        let _ = k.to_pkcs1_der();
    }
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = RsaPublic::from_pem(s);
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(s) {
            if let Ok(k) = RsaPublic::from_jwk(&v) {
                let back = RsaPublic::from_jwk(&k.to_jwk()).expect("to_jwk re-parses");
                assert_eq!(back, k, "to_jwk/from_jwk changed the key");
            }
        }
    }
});
