//! Shared by the broker's tests: a software decryptor over a fixed test key
//! (tests only: library code never decrypts with the `rsa` crate) and
//! hand-built unsigned tokens.
#![allow(dead_code)]

use async_trait::async_trait;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::pkcs8::DecodePrivateKey;
use rsa::traits::{PrivateKeyParts, PublicKeyParts};
use rsa::{Oaep, Pkcs1v15Encrypt, RsaPrivateKey};
use serde_json::{json, Value};
use tee_attest_core::{AttestationToken, Decryptor, Error, ErrorCode, RsaDecryptScheme};
use zeroize::Zeroizing;

pub const KEY_2048: &str = include_str!("../data/test-rsa2048.pem");
pub const KEY_1024: &str = include_str!("../data/test-rsa1024.pem");

pub fn private_key() -> RsaPrivateKey {
    RsaPrivateKey::from_pkcs8_pem(KEY_2048).unwrap()
}

pub fn jwk_of(key: &RsaPrivateKey) -> Value {
    json!({
        "kid": "TpmEphemeralEncryptionKey",
        "kty": "RSA",
        "key_ops": ["encrypt"],
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    })
}

/// An unsigned token whose `x-ms-runtime.keys` are `keys`.
pub fn token_with_keys(keys: Value) -> AttestationToken {
    let header = json!({"alg": "RS256", "typ": "JWT"});
    let claims = json!({"x-ms-runtime": {"keys": keys}});
    let b64 = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    AttestationToken::parse(&format!("{}.{}.c2ln", b64(&header), b64(&claims))).unwrap()
}

pub fn token_for(key: &RsaPrivateKey) -> AttestationToken {
    token_with_keys(json!([jwk_of(key)]))
}

/// A Decryptor with the private key in memory (tests only).
pub struct SoftDecryptor(pub RsaPrivateKey);

#[async_trait]
impl Decryptor for SoftDecryptor {
    fn public_jwk(&self) -> Value {
        jwk_of(&self.0)
    }

    async fn decrypt(
        &self,
        scheme: RsaDecryptScheme,
        ciphertext: &[u8],
    ) -> tee_attest_core::Result<Zeroizing<Vec<u8>>> {
        let r = match scheme {
            RsaDecryptScheme::OaepSha256 => self.0.decrypt(Oaep::new::<sha2::Sha256>(), ciphertext),
            RsaDecryptScheme::OaepSha1 => self.0.decrypt(Oaep::new::<sha1::Sha1>(), ciphertext),
            RsaDecryptScheme::Pkcs1v15 => self.0.decrypt(Pkcs1v15Encrypt, ciphertext),
            RsaDecryptScheme::Raw => {
                let c = rsa::BigUint::from_bytes_be(ciphertext);
                Ok(c.modpow(self.0.d(), self.0.n()).to_bytes_be())
            }
            _ => return Err(Error::new(ErrorCode::DecryptTpmError, "scheme")),
        };
        r.map(Zeroizing::new)
            .map_err(|_| Error::new(ErrorCode::DecryptTpmError, "soft decrypt failed"))
    }
}
