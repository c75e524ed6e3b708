//! What `Encrypt` reads from outside: the attestation token (unverified
//! parse, as `Encrypt` takes it) and its `TpmEphemeralEncryptionKey` JWK,
//! the encryption type names, TPM scheme ids; then encryption to the key
//! (public-key operations only).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_broker::{encrypt, EncryptionType, RecipientKey, RsaScheme};
use tee_attest_core::AttestationToken;

fuzz_target!(|data: &[u8]| {
    if data.len() >= 4 {
        let _ = RsaScheme::from_tpm_alg(
            u16::from_be_bytes([data[0], data[1]]),
            u16::from_be_bytes([data[2], data[3]]),
        );
    }
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    let _ = s.parse::<EncryptionType>();
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(s) {
        if let Ok(k) = RecipientKey::from_jwk(&v) {
            let _ = (k.kid(), k.modulus_len(), k.thumbprint());
            let again = RecipientKey::from_jwk(&k.to_jwk()).expect("to_jwk re-parses");
            assert_eq!(again.thumbprint(), k.thumbprint());
            for scheme in RsaScheme::ALL {
                let _ = k.encrypt_rsa(*scheme, b"fuzz");
            }
        }
    }
    if let Ok(t) = AttestationToken::parse(s) {
        let _ = t.ephemeral_key();
        let _ = RecipientKey::from_token(&t);
        let _ = encrypt(EncryptionType::Envelope, &t, b"fuzz");
    }
});
