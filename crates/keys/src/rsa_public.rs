//! RSA public keys: modulus and exponent, and their JWK (RFC 7517/7518),
//! PEM and DER (PKCS#1 `RSAPublicKey`, SubjectPublicKeyInfo) forms.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

use crate::KeyError;

/// An RSA public key: modulus and exponent, big-endian, without leading zeros.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RsaPublic {
    /// The modulus.
    pub n: Vec<u8>,
    /// The public exponent.
    pub e: Vec<u8>,
}

fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes[first..].to_vec()
}

impl RsaPublic {
    /// A key from modulus and exponent bytes (leading zeros are dropped).
    pub fn new(n: &[u8], e: &[u8]) -> Self {
        Self {
            n: strip_zeros(n),
            e: strip_zeros(e),
        }
    }

    /// The modulus size in bytes.
    pub fn modulus_len(&self) -> usize {
        self.n.len()
    }

    /// The key as a DER PKCS#1 `RSAPublicKey` (what aws-lc-rs parses for
    /// RSA signature verification). Fails only if the DER encoder does
    /// (an empty modulus or exponent is encoded as zero).
    pub fn to_pkcs1_der(&self) -> Result<Vec<u8>, KeyError> {
        use rsa::pkcs1::der::asn1::UintRef;
        use rsa::pkcs1::der::Encode;
        let unencodable = |e: rsa::pkcs1::der::Error| KeyError::Pkcs1 {
            source: Box::new(e),
        };
        rsa::pkcs1::RsaPublicKey {
            modulus: UintRef::new(&self.n).map_err(unencodable)?,
            public_exponent: UintRef::new(&self.e).map_err(unencodable)?,
        }
        .to_der()
        .map_err(unencodable)
    }

    /// A key from a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) or
    /// `RSA PUBLIC KEY` (PKCS#1). When neither parses, the error is that of
    /// the parser the text's label calls for.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        use rsa::pkcs1::DecodeRsaPublicKey;
        use rsa::pkcs8::DecodePublicKey;
        let text = pem.trim();
        let key = match rsa::RsaPublicKey::from_public_key_pem(text) {
            Ok(key) => key,
            Err(spki) => match rsa::RsaPublicKey::from_pkcs1_pem(text) {
                Ok(key) => key,
                Err(pkcs1) => {
                    let source: Box<dyn std::error::Error + Send + Sync> =
                        if text.contains("-----BEGIN RSA PUBLIC KEY-----") {
                            Box::new(pkcs1)
                        } else {
                            Box::new(spki)
                        };
                    return Err(KeyError::Pem { source });
                }
            },
        };
        Ok(Self::from_rsa(&key))
    }

    /// A key from a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, KeyError> {
        use rsa::pkcs8::DecodePublicKey;
        let key = rsa::RsaPublicKey::from_public_key_der(der).map_err(|e| KeyError::Spki {
            source: Box::new(e),
        })?;
        Ok(Self::from_rsa(&key))
    }

    fn from_rsa(key: &rsa::RsaPublicKey) -> Self {
        use rsa::traits::PublicKeyParts;
        Self::new(&key.n().to_bytes_be(), &key.e().to_bytes_be())
    }

    /// A key from a JWK (`kty` `RSA`, base64url `n` and `e`; trailing `=`
    /// padding is tolerated). Other members are ignored.
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self, KeyError> {
        let field = |field: &'static str| -> Result<Vec<u8>, KeyError> {
            let text = jwk
                .get(field)
                .and_then(|v| v.as_str())
                .ok_or(KeyError::JwkField {
                    field,
                    reason: "missing or not a string",
                })?;
            URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|e| KeyError::JwkBase64 {
                    field,
                    source: Box::new(e),
                })
        };
        if jwk.get("kty").and_then(|v| v.as_str()) != Some("RSA") {
            return Err(KeyError::JwkField {
                field: "kty",
                reason: "not RSA",
            });
        }
        Ok(Self::new(&field("n")?, &field("e")?))
    }

    /// The key as an RSA JWK: `{"kty":"RSA","n":…,"e":…}`.
    pub fn to_jwk(&self) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA",
            "n": URL_SAFE_NO_PAD.encode(&self.n),
            "e": URL_SAFE_NO_PAD.encode(&self.e),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{KeyPair, KeySize};
    use aws_lc_rs::signature::{self, KeyPair as _};
    use proptest::prelude::*;
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    use serde_json::json;
    use tee_attest_core::{CodedError, ErrorCode};

    use super::*;

    fn key_pair() -> (KeyPair, RsaPublic) {
        let kp = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let spki = kp.public_key().as_der().unwrap();
        let public = RsaPublic::from_spki_der(spki.as_ref()).unwrap();
        (kp, public)
    }

    fn rsa_key(k: &RsaPublic) -> rsa::RsaPublicKey {
        rsa::RsaPublicKey::new(
            rsa::BigUint::from_bytes_be(&k.n),
            rsa::BigUint::from_bytes_be(&k.e),
        )
        .unwrap()
    }

    #[test]
    fn the_forms_agree() {
        let (kp, public) = key_pair();
        assert_eq!(public.modulus_len(), 256);
        assert_eq!(public.e, [1, 0, 1]);
        assert_eq!(RsaPublic::from_jwk(&public.to_jwk()).unwrap(), public);
        let rsa = rsa_key(&public);
        let spki_pem = rsa.to_public_key_pem(LineEnding::LF).unwrap();
        let pkcs1_pem = rsa.to_pkcs1_pem(LineEnding::LF).unwrap();
        assert_eq!(RsaPublic::from_pem(&spki_pem).unwrap(), public);
        assert_eq!(
            RsaPublic::from_pem(&format!("\n{pkcs1_pem}\n")).unwrap(),
            public
        );
        let pkcs1 = public.to_pkcs1_der().unwrap();
        assert_eq!(pkcs1, rsa.to_pkcs1_der().unwrap().as_bytes());
        // What aws-lc-rs verifies signatures with.
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let mut sig = vec![0; kp.public_modulus_len()];
        kp.sign(&signature::RSA_PKCS1_SHA256, &rng, b"message", &mut sig)
            .unwrap();
        signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &pkcs1)
            .verify(b"message", &sig)
            .unwrap();
    }

    #[test]
    fn jwk_errors_name_the_field() {
        let bad = |jwk: serde_json::Value| RsaPublic::from_jwk(&jwk).unwrap_err();
        let e = bad(json!({"kty": "EC", "n": "AQ", "e": "AQAB"}));
        assert_eq!(e.to_string(), "malformed JWK: field `kty`: not RSA");
        let e = bad(json!({"kty": "RSA", "e": "AQAB"}));
        assert_eq!(
            e.to_string(),
            "malformed JWK: field `n`: missing or not a string"
        );
        assert!(e.source().is_none());
        let e = bad(json!({"kty": "RSA", "n": "AQ", "e": 65537}));
        assert!(e.to_string().contains("field `e`"), "{e}");
        let e = bad(json!({"kty": "RSA", "n": "A+/Q", "e": "AQAB"}));
        assert!(
            e.to_string()
                .starts_with("malformed JWK: field `n` is not base64url: "),
            "{e}"
        );
        assert!(e.source().is_some());
        assert_eq!(e.code(), ErrorCode::ReportParsingFailed);
        // Padding is tolerated, leading zeros dropped.
        let k = RsaPublic::from_jwk(&json!({"kty": "RSA", "n": "AADF", "e": "AQAB=="})).unwrap();
        assert_eq!(k, RsaPublic::new(&[0xC5], &[1, 0, 1]));
    }

    #[test]
    fn der_and_pem_errors_keep_the_cause() {
        let e = RsaPublic::from_spki_der(b"\x30\x03\x02\x01\x01").unwrap_err();
        assert!(matches!(e, KeyError::Spki { .. }), "{e:?}");
        assert!(e.source().is_some());
        let e = RsaPublic::from_pem("not a key").unwrap_err();
        assert!(matches!(e, KeyError::Pem { .. }), "{e:?}");
        assert!(e.source().is_some());
        // An EC key is a well-formed SubjectPublicKeyInfo, but not RSA.
        let ec = aws_lc_rs::signature::EcdsaKeyPair::generate(
            &aws_lc_rs::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
        )
        .unwrap();
        let spki = ec.public_key().as_der().unwrap();
        assert!(RsaPublic::from_spki_der(spki.as_ref()).is_err());
    }

    proptest! {
        #[test]
        fn jwk_round_trips(n in proptest::collection::vec(any::<u8>(), 0..600),
                           e in proptest::collection::vec(any::<u8>(), 0..8)) {
            let key = RsaPublic::new(&n, &e);
            prop_assert!(key.n.first() != Some(&0) && key.e.first() != Some(&0));
            prop_assert_eq!(RsaPublic::from_jwk(&key.to_jwk()).unwrap(), key);
        }

        #[test]
        fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                               text in ".{0,200}") {
            let _ = RsaPublic::from_spki_der(&bytes);
            let _ = RsaPublic::from_pem(&text);
            let _ = RsaPublic::from_jwk(&json!({"kty": "RSA", "n": text, "e": "AQAB"}));
        }
    }
}
