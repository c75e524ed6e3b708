//! The recipient's RSA public key, from a token or a JWK, and the public-key
//! operations on it. Public operations only: decryption happens in the vTPM.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, RsaPublicKey};
use serde_json::{Map, Value};
use tee_attest_core::{AttestationToken, EPHEMERAL_KEY_KID};
use tee_attest_keys::RsaPublic;

use crate::{BrokerError, Result, RsaScheme};

/// The smallest modulus accepted, in bits.
pub const MIN_MODULUS_BITS: usize = 2048;
/// The largest modulus accepted, in bits.
pub const MAX_MODULUS_BITS: usize = 4096;

/// An RSA public key to encrypt to: normally the token's
/// `TpmEphemeralEncryptionKey`.
#[derive(Debug, Clone)]
pub struct RecipientKey {
    kid: String,
    key: RsaPublicKey,
    /// The same key for aws-lc-rs, which does the PKCS#1 v1.5 and OAEP
    /// encryptions (about 20× faster than the `rsa` crate here).
    aws: aws_lc_rs::rsa::PublicEncryptingKey,
    thumbprint: String,
}

/// Keys are equal when their `kid` and RSA key are (the aws-lc-rs copy is
/// derived from the latter).
impl PartialEq for RecipientKey {
    fn eq(&self, other: &Self) -> bool {
        self.kid == other.kid && self.key == other.key
    }
}

impl Eq for RecipientKey {}

fn unusable(kid: &str, reason: impl Into<String>) -> BrokerError {
    BrokerError::UnusableKey {
        kid: kid.chars().take(64).collect(),
        reason: reason.into(),
    }
}

impl RecipientKey {
    /// The token's `TpmEphemeralEncryptionKey` (from `x-ms-runtime.keys`,
    /// else the isolation TEE's runtime keys). The token's signature is not
    /// checked here: that is the relying party's business. Code 22 if the
    /// token has no such key, 23 if it is not a usable RSA encryption key.
    pub fn from_token(token: &AttestationToken) -> Result<Self> {
        let jwk = token.ephemeral_key().ok_or(BrokerError::NoEphemeralKey {
            kid: EPHEMERAL_KEY_KID,
        })?;
        Self::from_jwk_map(jwk)
    }

    /// A key from an RSA JWK (`kty` `RSA`, `n`, `e`; `kid` optional). Code
    /// 23 if it is not an RSA key of 2048 to 4096 bits with a valid odd
    /// exponent, or if its `use` / `key_ops` forbid encryption.
    pub fn from_jwk(jwk: &Value) -> Result<Self> {
        let map = jwk
            .as_object()
            .ok_or_else(|| unusable(EPHEMERAL_KEY_KID, "the JWK is not a JSON object"))?;
        Self::from_jwk_map(map)
    }

    fn from_jwk_map(jwk: &Map<String, Value>) -> Result<Self> {
        let kid = match jwk.get("kid") {
            None => EPHEMERAL_KEY_KID.to_string(),
            Some(Value::String(k)) => k.clone(),
            Some(_) => return Err(unusable(EPHEMERAL_KEY_KID, "`kid` is not a string")),
        };
        if let Some(u) = jwk.get("use") {
            if u.as_str() != Some("enc") {
                return Err(unusable(&kid, "its `use` is not `enc`"));
            }
        }
        if let Some(ops) = jwk.get("key_ops") {
            let ops = ops
                .as_array()
                .ok_or_else(|| unusable(&kid, "`key_ops` is not an array"))?;
            if !ops
                .iter()
                .any(|o| matches!(o.as_str(), Some("encrypt" | "wrapKey")))
            {
                return Err(unusable(
                    &kid,
                    "its `key_ops` allow neither encrypt nor wrapKey",
                ));
            }
        }
        let public = RsaPublic::from_jwk(&Value::Object(jwk.clone()))
            .map_err(|e| unusable(&kid, e.to_string()))?;
        let bits = public.n.len() * 8 - public.n.first().map_or(0, |b| b.leading_zeros() as usize);
        if !(MIN_MODULUS_BITS..=MAX_MODULUS_BITS).contains(&bits) {
            return Err(unusable(
                &kid,
                format!(
                    "a {bits}-bit modulus (from {MIN_MODULUS_BITS} to {MAX_MODULUS_BITS} bits are accepted)"
                ),
            ));
        }
        if public.n.last().is_none_or(|b| b & 1 == 0) {
            return Err(unusable(&kid, "the modulus is even"));
        }
        if public.e.len() > 4 || public.e.last().is_none_or(|b| b & 1 == 0) {
            return Err(unusable(
                &kid,
                "the exponent is not an odd number of at most 32 bits",
            ));
        }
        let key = RsaPublicKey::new_with_max_size(
            BigUint::from_bytes_be(&public.n),
            BigUint::from_bytes_be(&public.e),
            MAX_MODULUS_BITS,
        )
        .map_err(|e| unusable(&kid, e.to_string()))?;
        let spki = rsa::pkcs8::EncodePublicKey::to_public_key_der(&key)
            .map_err(|e| unusable(&kid, e.to_string()))?;
        let aws = aws_lc_rs::rsa::PublicEncryptingKey::from_der(spki.as_bytes())
            .map_err(|e| unusable(&kid, e.to_string()))?;
        let thumbprint = jwk_thumbprint(&public);
        Ok(Self {
            kid,
            key,
            aws,
            thumbprint,
        })
    }

    /// The key's `kid`.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The modulus length in bytes (k).
    pub fn modulus_len(&self) -> usize {
        self.key.size()
    }

    /// The RFC 7638 JWK thumbprint (SHA-256, base64url): names the key in
    /// envelope metadata.
    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The key as an RSA JWK.
    pub fn to_jwk(&self) -> Value {
        let mut jwk =
            RsaPublic::new(&self.key.n().to_bytes_be(), &self.key.e().to_bytes_be()).to_jwk();
        if let Some(o) = jwk.as_object_mut() {
            o.insert("kid".into(), Value::String(self.kid.clone()));
        }
        jwk
    }

    /// RSA-encrypt `data` with `scheme` (a public-key operation). Code 8 if
    /// the data does not fit the scheme, 25 if encryption fails.
    pub fn encrypt_rsa(&self, scheme: RsaScheme, data: &[u8]) -> Result<Vec<u8>> {
        let k = self.modulus_len();
        let too_large = |limit: String| BrokerError::InputTooLarge {
            len: data.len(),
            scheme: scheme.name(),
            modulus_bits: k * 8,
            limit,
        };
        let max = scheme.max_plaintext_len(k);
        let out = match scheme {
            RsaScheme::Raw => {
                if data.len() != k {
                    return Err(too_large(format!("exactly {k} bytes")));
                }
                // The plaintext as a number: wiped when dropped.
                let m = zeroize::Zeroizing::new(BigUint::from_bytes_be(data));
                if &*m >= self.key.n() {
                    return Err(BrokerError::InvalidInput(
                        "raw RSA data, read as a big-endian number, must be less than the modulus"
                            .into(),
                    ));
                }
                let c = m.modpow(self.key.e(), self.key.n()).to_bytes_be();
                let mut out = vec![0u8; k - c.len().min(k)];
                out.extend_from_slice(&c);
                return Ok(out);
            }
            _ if data.len() > max => return Err(too_large(format!("at most {max} bytes"))),
            RsaScheme::Pkcs1v15 => aws_lc_rs::rsa::Pkcs1PublicEncryptingKey::new(self.aws.clone())
                .and_then(|key| {
                    let mut out = vec![0u8; k];
                    let n = key.encrypt(data, &mut out)?.len();
                    out.truncate(n);
                    Ok(out)
                }),
            RsaScheme::OaepSha1 | RsaScheme::OaepSha256 => {
                let alg = if scheme == RsaScheme::OaepSha1 {
                    &aws_lc_rs::rsa::OAEP_SHA1_MGF1SHA1
                } else {
                    &aws_lc_rs::rsa::OAEP_SHA256_MGF1SHA256
                };
                aws_lc_rs::rsa::OaepPublicEncryptingKey::new(self.aws.clone()).and_then(|key| {
                    let mut out = vec![0u8; k];
                    let n = key.encrypt(alg, data, &mut out, None)?.len();
                    out.truncate(n);
                    Ok(out)
                })
            }
        };
        out.map_err(|e| BrokerError::EncryptFailed(format!("{}: {e}", scheme.name())))
    }
}

/// The RFC 7638 thumbprint of an RSA key: base64url(SHA-256 of
/// `{"e":…,"kty":"RSA","n":…}`).
pub fn jwk_thumbprint(key: &RsaPublic) -> String {
    let canonical = format!(
        r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(&key.e),
        URL_SAFE_NO_PAD.encode(&key.n)
    );
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        canonical.as_bytes(),
    ))
}
