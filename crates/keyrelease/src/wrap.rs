//! The Key Vault SKR wrap format (`key_hsm`).
//!
//! ```text
//! key_hsm    = BASE64URL(JSON {"schema_version": "1.0",
//!                              "header": {"alg": "dir", "enc": ENC, "kid": KID},
//!                              "ciphertext": BASE64URL(C1 ‖ C2)})
//! C1         = RSA-OAEP(wrap key, transfer key)   -- k bytes, k = modulus size
//! C2         = AES-KWP(transfer key, material)    -- RFC 5649
//! ```
//!
//! The transfer key is a fresh AES-256 key; OAEP uses SHA-1 for
//! `CKM_RSA_AES_KEY_WRAP`, SHA-256 for `RSA_AES_KEY_WRAP_256` and SHA-384 for
//! `RSA_AES_KEY_WRAP_384` (MGF1 with the same hash, empty label). The wrap
//! key is the token's `TpmEphemeralEncryptionKey`. Key material is PKCS#8
//! for RSA and EC keys, the raw bytes for `oct` keys.

use std::fmt;

use aws_lc_rs::key_wrap::{AesKek, KeyWrapPadded, AES_256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest_core::{AttestationToken, Decryptor, RsaDecryptScheme};
use tee_attest_keys::RsaPublic;
use zeroize::Zeroizing;

use crate::error::{KeyReleaseError, Result};

/// The size of the AES transfer key (bytes).
pub const TRANSFER_KEY_LEN: usize = 32;
/// The smallest wrap key accepted (bits).
pub const MIN_WRAP_KEY_BITS: usize = 2048;
/// The largest wrap key accepted (bits).
pub const MAX_WRAP_KEY_BITS: usize = 8192;
/// The `schema_version` of `key_hsm`.
pub const KEY_HSM_SCHEMA_VERSION: &str = "1.0";

/// The wrapping algorithm of a release (`enc`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Enc {
    /// `CKM_RSA_AES_KEY_WRAP`: RSA-OAEP-SHA1 + AES-KWP.
    CkmRsaAesKeyWrap,
    /// `RSA_AES_KEY_WRAP_256`: RSA-OAEP-SHA256 + AES-KWP.
    RsaAesKeyWrap256,
    /// `RSA_AES_KEY_WRAP_384`: RSA-OAEP-SHA384 + AES-KWP.
    RsaAesKeyWrap384,
}

impl Enc {
    /// Every algorithm.
    pub const ALL: [Enc; 3] = [
        Enc::CkmRsaAesKeyWrap,
        Enc::RsaAesKeyWrap256,
        Enc::RsaAesKeyWrap384,
    ];

    /// The name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Enc::CkmRsaAesKeyWrap => "CKM_RSA_AES_KEY_WRAP",
            Enc::RsaAesKeyWrap256 => "RSA_AES_KEY_WRAP_256",
            Enc::RsaAesKeyWrap384 => "RSA_AES_KEY_WRAP_384",
        }
    }

    /// The algorithm with that wire name (exact match). Code 8 otherwise.
    pub fn parse(name: &str) -> Result<Self> {
        Enc::ALL
            .into_iter()
            .find(|e| e.name() == name)
            .ok_or_else(|| KeyReleaseError::UnsupportedEnc {
                enc: name.chars().take(64).collect(),
                reason: format!("expected one of {}", Enc::ALL.map(Enc::name).join(", ")),
            })
    }

    /// The TPM decryption scheme that unwraps its transfer key, if the
    /// decryptor interface offers it (`RsaDecryptScheme` has no OAEP-SHA384:
    /// that one is decoded here after a raw RSA decryption in the TPM).
    pub fn tpm_scheme(self) -> RsaDecryptScheme {
        match self {
            Enc::CkmRsaAesKeyWrap => RsaDecryptScheme::OaepSha1,
            Enc::RsaAesKeyWrap256 => RsaDecryptScheme::OaepSha256,
            Enc::RsaAesKeyWrap384 => RsaDecryptScheme::OaepSha384,
        }
    }

    fn oaep(self) -> rsa::Oaep {
        match self {
            Enc::CkmRsaAesKeyWrap => rsa::Oaep::new::<sha1::Sha1>(),
            Enc::RsaAesKeyWrap256 => rsa::Oaep::new::<sha2::Sha256>(),
            Enc::RsaAesKeyWrap384 => rsa::Oaep::new::<sha2::Sha384>(),
        }
    }
}

impl fmt::Display for Enc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The wrap key of a token: its `TpmEphemeralEncryptionKey` as an RSA key
/// of 2048 to 8192 bits (codes 22 when absent, 23 when unusable).
pub fn wrap_key_of(token: &AttestationToken) -> Result<RsaPublic> {
    let jwk = token
        .ephemeral_key()
        .ok_or(KeyReleaseError::NoEphemeralKey)?;
    if let Some(ops) = jwk.get("key_ops").and_then(Value::as_array) {
        if !ops.iter().any(|o| o.as_str() == Some("encrypt")) {
            return Err(KeyReleaseError::BadEphemeralKey(
                "its key_ops do not allow encrypt".into(),
            ));
        }
    }
    let key = RsaPublic::from_jwk(&Value::Object(jwk.clone()))
        .map_err(|e| KeyReleaseError::BadEphemeralKey(e.to_string()))?;
    check_wrap_key(&key)?;
    Ok(key)
}

fn check_wrap_key(key: &RsaPublic) -> Result<()> {
    let bits = key.modulus_len() * 8;
    if !(MIN_WRAP_KEY_BITS..=MAX_WRAP_KEY_BITS).contains(&bits) {
        return Err(KeyReleaseError::BadEphemeralKey(format!(
            "a {bits}-bit modulus (expected {MIN_WRAP_KEY_BITS} to {MAX_WRAP_KEY_BITS})"
        )));
    }
    Ok(())
}

/// `CKM_RSA_AES_KEY_WRAP` and its SHA-2 siblings: RSA-OAEP(transfer key) ‖
/// AES-KWP(material), with a fresh transfer key. Public-key operations only.
pub fn rsa_aes_key_wrap(enc: Enc, wrap_key: &RsaPublic, material: &[u8]) -> Result<Vec<u8>> {
    check_wrap_key(wrap_key)?;
    if material.is_empty() {
        return Err(KeyReleaseError::Wrap("no key material".into()));
    }
    let public = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&wrap_key.n),
        rsa::BigUint::from_bytes_be(&wrap_key.e),
    )
    .map_err(|e| KeyReleaseError::BadEphemeralKey(e.to_string()))?;
    let mut transfer = Zeroizing::new([0u8; TRANSFER_KEY_LEN]);
    aws_lc_rs::rand::fill(transfer.as_mut())
        .map_err(|_| KeyReleaseError::Wrap("no randomness for the transfer key".into()))?;
    let mut out = public
        .encrypt(&mut rand::rngs::OsRng, enc.oaep(), transfer.as_ref())
        .map_err(|e| KeyReleaseError::Wrap(format!("RSA-OAEP: {e}")))?;
    let kek = AesKek::new(&AES_256, transfer.as_ref())
        .map_err(|_| KeyReleaseError::Wrap("AES-KWP key".into()))?;
    let mut kwp = vec![0u8; material.len() + 16];
    let wrapped = kek
        .wrap_with_padding(material, &mut kwp)
        .map_err(|_| KeyReleaseError::Wrap("AES-KWP".into()))?;
    out.extend_from_slice(wrapped);
    Ok(out)
}

/// The `key_hsm` member for `material` wrapped to `wrap_key` with `enc`;
/// `kid` names the released key.
pub fn wrap_key_hsm(enc: Enc, wrap_key: &RsaPublic, kid: &str, material: &[u8]) -> Result<String> {
    let ciphertext = rsa_aes_key_wrap(enc, wrap_key, material)?;
    let doc = json!({
        "schema_version": KEY_HSM_SCHEMA_VERSION,
        "header": {"alg": "dir", "enc": enc.name(), "kid": kid},
        "ciphertext": URL_SAFE_NO_PAD.encode(ciphertext),
    });
    Ok(URL_SAFE_NO_PAD.encode(doc.to_string()))
}

/// A decoded `key_hsm`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyHsm {
    /// `schema_version`, if present.
    pub schema_version: Option<String>,
    /// `header.enc`.
    pub enc: Enc,
    /// `header.kid`, if present.
    pub kid: Option<String>,
    /// The decoded ciphertext: RSA-OAEP block ‖ AES-KWP.
    pub ciphertext: Vec<u8>,
}

fn b64url_decode(text: &str, what: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(text.trim().trim_end_matches('='))
        .map_err(|e| KeyReleaseError::Malformed(format!("{what} is not base64url: {e}")))
}

impl KeyHsm {
    /// Decode a `key_hsm` value (code 2 when malformed, 8 for an unknown
    /// `enc`).
    pub fn parse(key_hsm: &str) -> Result<Self> {
        let bytes = b64url_decode(key_hsm, "key_hsm")?;
        let doc: Value = serde_json::from_slice(&bytes)
            .map_err(|e| KeyReleaseError::Malformed(format!("key_hsm is not JSON: {e}")))?;
        let header = doc
            .get("header")
            .and_then(Value::as_object)
            .ok_or_else(|| KeyReleaseError::Malformed("key_hsm has no `header` object".into()))?;
        if let Some(alg) = header.get("alg") {
            if alg.as_str() != Some("dir") {
                return Err(KeyReleaseError::Malformed(format!(
                    "key_hsm header alg {alg} is not \"dir\""
                )));
            }
        }
        let enc = header
            .get("enc")
            .and_then(Value::as_str)
            .ok_or_else(|| KeyReleaseError::Malformed("key_hsm header has no `enc`".into()))?;
        let enc = Enc::parse(enc)?;
        let ciphertext = doc
            .get("ciphertext")
            .and_then(Value::as_str)
            .ok_or_else(|| KeyReleaseError::Malformed("key_hsm has no `ciphertext`".into()))?;
        Ok(Self {
            schema_version: doc
                .get("schema_version")
                .and_then(Value::as_str)
                .map(str::to_string),
            enc,
            kid: header
                .get("kid")
                .and_then(Value::as_str)
                .map(str::to_string),
            ciphertext: b64url_decode(ciphertext, "key_hsm ciphertext")?,
        })
    }

    /// Split the ciphertext for a wrap key of `modulus_len` bytes.
    fn split(&self, modulus_len: usize) -> Result<(&[u8], &[u8])> {
        // KWP output is at least 16 bytes and a multiple of 8.
        let rest = self.ciphertext.len().checked_sub(modulus_len);
        match rest {
            Some(r) if r >= 16 && r % 8 == 0 => Ok(self.ciphertext.split_at(modulus_len)),
            _ => Err(KeyReleaseError::Unwrap(format!(
                "a {}-byte ciphertext does not fit a {modulus_len}-byte RSA block followed by AES-KWP",
                self.ciphertext.len()
            ))),
        }
    }
}

/// AES-KWP unwrap (RFC 5649) into a zeroizing buffer.
pub fn aes_kwp_unwrap(transfer_key: &[u8], wrapped: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
    if transfer_key.len() != TRANSFER_KEY_LEN {
        return Err(KeyReleaseError::Unwrap(format!(
            "the transfer key is {} bytes, not {TRANSFER_KEY_LEN}",
            transfer_key.len()
        )));
    }
    let kek = AesKek::new(&AES_256, transfer_key)
        .map_err(|_| KeyReleaseError::Unwrap("AES-KWP key".into()))?;
    let mut out = Zeroizing::new(vec![0u8; wrapped.len()]);
    let len = kek
        .unwrap_with_padding(wrapped, &mut out)
        .map_err(|_| KeyReleaseError::Unwrap("AES-KWP integrity check failed".into()))?
        .len();
    out.truncate(len);
    Ok(out)
}

/// Unwrap a `key_hsm` with the private wrap key held by `decryptor` (the
/// vTPM): the transfer key is decrypted inside it, then AES-KWP unwraps
/// the material into a zeroizing buffer.
///
/// The transfer key is unwrapped by the TPM's RSA-OAEP with the hash the
/// `enc` names (SHA-1, SHA-256, SHA-384).
pub async fn unwrap_key_hsm(
    key_hsm: &str,
    decryptor: &dyn Decryptor,
) -> Result<Zeroizing<Vec<u8>>> {
    let hsm = KeyHsm::parse(key_hsm)?;
    let public = RsaPublic::from_jwk(&decryptor.public_jwk())
        .map_err(|e| KeyReleaseError::BadEphemeralKey(e.to_string()))?;
    let k = public.modulus_len();
    let (rsa_block, kwp) = hsm.split(k)?;
    let transfer = decryptor
        .decrypt(hsm.enc.tpm_scheme(), rsa_block)
        .await
        .map_err(KeyReleaseError::UnwrapTpm)?;
    aes_kwp_unwrap(&transfer, kwp)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{
        KeySize, OaepAlgorithm, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA1_MGF1SHA1,
        OAEP_SHA256_MGF1SHA256, OAEP_SHA384_MGF1SHA384,
    };

    fn key() -> (OaepPrivateDecryptingKey, RsaPublic) {
        let k = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let spki = k.public_key().as_der().unwrap();
        let public = RsaPublic::from_spki_der(spki.as_ref()).unwrap();
        (OaepPrivateDecryptingKey::new(k).unwrap(), public)
    }

    fn unwrap_soft(enc: Enc, dec: &OaepPrivateDecryptingKey, hsm: &str) -> Zeroizing<Vec<u8>> {
        let hsm = KeyHsm::parse(hsm).unwrap();
        assert_eq!(hsm.enc, enc);
        let (c1, c2) = hsm.split(256).unwrap();
        let alg: &'static OaepAlgorithm = match enc {
            Enc::CkmRsaAesKeyWrap => &OAEP_SHA1_MGF1SHA1,
            Enc::RsaAesKeyWrap256 => &OAEP_SHA256_MGF1SHA256,
            Enc::RsaAesKeyWrap384 => &OAEP_SHA384_MGF1SHA384,
        };
        let mut out = vec![0u8; 256];
        let tk = dec.decrypt(alg, c1, &mut out, None).unwrap();
        aes_kwp_unwrap(tk, c2).unwrap()
    }

    #[test]
    fn every_enc_round_trips_with_the_named_oaep_hash() {
        let (k, public) = key();
        for enc in Enc::ALL {
            for len in [1usize, 7, 8, 32, 33, 1217] {
                let material: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let hsm = wrap_key_hsm(enc, &public, "https://kv/keys/a/1", &material).unwrap();
                assert_eq!(*unwrap_soft(enc, &k, &hsm), material, "{enc} {len}");
                let parsed = KeyHsm::parse(&hsm).unwrap();
                assert_eq!(parsed.kid.as_deref(), Some("https://kv/keys/a/1"));
                assert_eq!(parsed.schema_version.as_deref(), Some("1.0"));
            }
        }
    }

    #[test]
    fn the_wire_names_are_exact() {
        assert_eq!(
            Enc::parse("CKM_RSA_AES_KEY_WRAP").unwrap(),
            Enc::CkmRsaAesKeyWrap
        );
        assert_eq!(
            Enc::parse("RSA_AES_KEY_WRAP_256").unwrap(),
            Enc::RsaAesKeyWrap256
        );
        assert_eq!(
            Enc::parse("RSA_AES_KEY_WRAP_384").unwrap(),
            Enc::RsaAesKeyWrap384
        );
        for bad in ["", "rsa_aes_key_wrap_256", "RSA-OAEP", "A256KW"] {
            let e = Enc::parse(bad).unwrap_err();
            assert_eq!(
                tee_attest_core::CodedError::code(&e),
                tee_attest_core::ErrorCode::InvalidInputParameter
            );
        }
    }

    #[test]
    fn tampered_kwp_is_refused() {
        let (dec, public) = key();
        let ct = rsa_aes_key_wrap(Enc::RsaAesKeyWrap256, &public, b"secret key").unwrap();
        let mut out = vec![0u8; 256];
        let tk = dec
            .decrypt(&OAEP_SHA256_MGF1SHA256, &ct[..256], &mut out, None)
            .unwrap()
            .to_vec();
        let mut kwp = ct[256..].to_vec();
        kwp[3] ^= 1;
        assert!(matches!(
            aes_kwp_unwrap(&tk, &kwp),
            Err(KeyReleaseError::Unwrap(_))
        ));
        assert!(aes_kwp_unwrap(&tk[..16], &ct[256..]).is_err());
    }

    #[test]
    fn malformed_key_hsm_never_panics() {
        for bad in [
            "",
            "!!",
            "e30",
            "bnVsbA",
            &URL_SAFE_NO_PAD.encode(r#"{"header":{"enc":"X"},"ciphertext":"AA"}"#),
        ] {
            assert!(KeyHsm::parse(bad).is_err(), "{bad}");
        }
        let hsm = KeyHsm {
            schema_version: None,
            enc: Enc::CkmRsaAesKeyWrap,
            kid: None,
            ciphertext: vec![0; 260],
        };
        assert!(hsm.split(256).is_err());
    }

    #[test]
    fn small_wrap_keys_are_refused() {
        let small = RsaPublic::new(&[0xC5; 128], &[1, 0, 1]);
        assert!(matches!(
            rsa_aes_key_wrap(Enc::RsaAesKeyWrap256, &small, b"k"),
            Err(KeyReleaseError::BadEphemeralKey(_))
        ));
    }
}
