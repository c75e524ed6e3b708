//! The sealed AzureGuest response: the JWT encrypted with a fresh AES key,
//! the AES key encrypted to the TPM's ephemeral key.
//!
//! ```text
//! body  = {"token": BASE64URL(JSON(envelope))}
//! envelope = {
//!   "EncryptedInnerKey": b64(RSAES-PKCS1-v1_5(ephemeral key, aes key)),
//!   "EncryptionParams": {"BlockMode": "ChainingModeGCM", "BlockPadding": "PKCS7",
//!                        "Cipher": "AES", "KeySizeInBits": 256, "Iv": b64(12 bytes)},
//!   "AuthenticationData": b64(GCM tag, 16 bytes),
//!   "Jwt": b64(AES-GCM ciphertext of the JWT, AAD = "Transport Key")
//! }
//! ```
//!
//! `BlockPadding` is `PKCS7` because Microsoft's C++ client refuses any other
//! value (GCM needs no padding; the field is vestigial). `None` is accepted
//! on input too.

use aws_lc_rs::aead::{self, Aad, LessSafeKey, Nonce, UnboundKey};
use serde::{Deserialize, Serialize};
use tee_attest_core::{Decryptor, ErrorCode, RsaDecryptScheme};
use tee_attest_keys::RsaPublic;
use zeroize::Zeroizing;

use crate::{b64, MaaError};

/// The additional authenticated data of the GCM encryption.
pub const TRANSPORT_KEY_AAD: &[u8] = b"Transport Key";
/// `BlockMode` of the envelope.
pub const BLOCK_MODE_GCM: &str = "ChainingModeGCM";
/// `BlockPadding` that this crate writes (the value Microsoft's client needs).
pub const BLOCK_PADDING: &str = "PKCS7";
/// `Cipher` of the envelope.
pub const CIPHER_AES: &str = "AES";
/// The largest sealed response accepted (bytes).
pub const MAX_SEALED_BYTES: usize = 4 * 1024 * 1024;

/// `EncryptionParams` of the envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncryptionParams {
    /// `ChainingModeGCM`.
    #[serde(rename = "BlockMode")]
    pub block_mode: String,
    /// `PKCS7` (or `None`); ignored by GCM.
    #[serde(rename = "BlockPadding")]
    pub block_padding: String,
    /// `AES`.
    #[serde(rename = "Cipher")]
    pub cipher: String,
    /// 256 (128 accepted).
    #[serde(rename = "KeySizeInBits")]
    pub key_size_in_bits: u32,
    /// b64 of the 12-byte IV.
    #[serde(rename = "Iv")]
    pub iv: String,
}

/// The sealed token envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SealedToken {
    /// b64 of the AES key, RSAES-PKCS1-v1_5-encrypted to the ephemeral key.
    #[serde(rename = "EncryptedInnerKey")]
    pub encrypted_inner_key: String,
    /// How the JWT is encrypted.
    #[serde(rename = "EncryptionParams")]
    pub encryption_params: EncryptionParams,
    /// b64 of the GCM tag.
    #[serde(rename = "AuthenticationData")]
    pub authentication_data: String,
    /// b64 of the ciphertext.
    #[serde(rename = "Jwt")]
    pub jwt: String,
}

fn seal_err(what: &str) -> MaaError {
    MaaError::Seal(what.to_string())
}

fn unseal_err(what: impl Into<String>) -> MaaError {
    MaaError::Unseal(what.into())
}

/// The SubjectPublicKeyInfo DER of an RSA public key.
pub(crate) fn spki_der(key: &RsaPublic) -> Result<Vec<u8>, String> {
    use rsa::pkcs8::EncodePublicKey;
    let k = rsa::RsaPublicKey::new(
        rsa::BigUint::from_bytes_be(&key.n),
        rsa::BigUint::from_bytes_be(&key.e),
    )
    .map_err(|e| e.to_string())?;
    k.to_public_key_der()
        .map(|d| d.as_bytes().to_vec())
        .map_err(|e| e.to_string())
}

/// Seals `jwt` to `key` (the token's `TpmEphemeralEncryptionKey`) and
/// returns the envelope's base64url text (the value of `token`). Code 25 if
/// the key is unusable.
pub fn seal_envelope(jwt: &str, key: &RsaPublic) -> Result<String, MaaError> {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let mut aes_key = Zeroizing::new([0u8; 32]);
    aws_lc_rs::rand::SecureRandom::fill(&rng, aes_key.as_mut())
        .map_err(|_| seal_err("no randomness for the AES key"))?;
    let mut iv = [0u8; aead::NONCE_LEN];
    aws_lc_rs::rand::SecureRandom::fill(&rng, &mut iv)
        .map_err(|_| seal_err("no randomness for the IV"))?;

    let der = spki_der(key).map_err(|e| MaaError::Seal(format!("the RSA key is unusable: {e}")))?;
    let pubkey = aws_lc_rs::rsa::PublicEncryptingKey::from_der(&der)
        .map_err(|_| seal_err("the RSA key is unusable"))?;
    let enc = aws_lc_rs::rsa::Pkcs1PublicEncryptingKey::new(pubkey)
        .map_err(|_| seal_err("the RSA key is unusable"))?;
    let mut wrapped = vec![0u8; enc.ciphertext_size()];
    let wrapped = enc
        .encrypt(aes_key.as_ref(), &mut wrapped)
        .map_err(|_| seal_err("RSA encryption of the inner key failed"))?
        .to_vec();

    let unbound = UnboundKey::new(&aead::AES_256_GCM, aes_key.as_ref())
        .map_err(|_| seal_err("AES key setup failed"))?;
    let sealing = LessSafeKey::new(unbound);
    let mut data = jwt.as_bytes().to_vec();
    let tag = sealing
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(TRANSPORT_KEY_AAD),
            &mut data,
        )
        .map_err(|_| seal_err("AES-GCM encryption failed"))?;
    let envelope = SealedToken {
        encrypted_inner_key: b64::std(&wrapped),
        encryption_params: EncryptionParams {
            block_mode: BLOCK_MODE_GCM.into(),
            block_padding: BLOCK_PADDING.into(),
            cipher: CIPHER_AES.into(),
            key_size_in_bits: 256,
            iv: b64::std(&iv),
        },
        authentication_data: b64::std(tag.as_ref()),
        jwt: b64::std(&data),
    };
    let json = serde_json::to_vec(&envelope).map_err(|source| MaaError::SealEncode { source })?;
    Ok(b64::url(&json))
}

/// Seals `jwt` to `key` and returns the whole response body
/// `{"token": BASE64URL(envelope)}`, as MAA answers `attest/AzureGuest`.
pub fn seal_token(jwt: &str, key: &RsaPublic) -> Result<String, MaaError> {
    let token = seal_envelope(jwt, key)?;
    Ok(serde_json::json!({ "token": token }).to_string())
}

/// The `token` value of a response body. Code 18 when the body is empty,
/// 16 when it is not JSON, 2 when there is no `token` string.
pub fn response_token(body: &[u8]) -> Result<String, MaaError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(MaaError::EmptyResponse("the attestation response".into()));
    }
    if body.len() > MAX_SEALED_BYTES {
        return Err(MaaError::malformed(
            "the attestation response",
            format!(
                "{} bytes is more than the {MAX_SEALED_BYTES} accepted",
                body.len()
            ),
        ));
    }
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|e| MaaError::json("the attestation response", e))?;
    let token = v
        .get("token")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| MaaError::malformed("the attestation response", "no `token` string"))?;
    if token.trim().is_empty() {
        return Err(MaaError::EmptyResponse("the response's token".into()));
    }
    Ok(token.trim().to_string())
}

/// Opens a sealed envelope (the base64url `token` value): the inner key is
/// decrypted by `decryptor` (RSAES-PKCS1-v1_5, inside the TPM), then the JWT
/// with AES-GCM. Code 15 when the TPM fails, 14 for any other failure
/// (malformed envelope, unsupported parameters, wrong key, bad tag).
pub async fn unseal_envelope(token: &str, decryptor: &dyn Decryptor) -> Result<String, MaaError> {
    let json = b64::decode_any(token.trim())
        .ok_or_else(|| unseal_err("the sealed token is not base64url"))?;
    let env: SealedToken = serde_json::from_slice(&json).map_err(|e| {
        unseal_err(format!(
            "the sealed token is not the JSON envelope expected: {e}"
        ))
    })?;
    let p = &env.encryption_params;
    if p.block_mode != BLOCK_MODE_GCM {
        return Err(unseal_err(format!(
            "unsupported BlockMode {:?}",
            p.block_mode
        )));
    }
    if p.cipher != CIPHER_AES {
        return Err(unseal_err(format!("unsupported Cipher {:?}", p.cipher)));
    }
    if !matches!(p.block_padding.as_str(), "PKCS7" | "None" | "") {
        return Err(unseal_err(format!(
            "unsupported BlockPadding {:?}",
            p.block_padding
        )));
    }
    let algorithm = match p.key_size_in_bits {
        256 => &aead::AES_256_GCM,
        128 => &aead::AES_128_GCM,
        n => return Err(unseal_err(format!("unsupported KeySizeInBits {n}"))),
    };
    let field = |v: &str, what: &str| {
        b64::decode_any(v).ok_or_else(|| unseal_err(format!("{what} is not base64")))
    };
    let iv = field(&p.iv, "EncryptionParams.Iv")?;
    let iv: [u8; aead::NONCE_LEN] = iv
        .as_slice()
        .try_into()
        .map_err(|_| unseal_err(format!("the IV is {} bytes, not 12", iv.len())))?;
    let tag = field(&env.authentication_data, "AuthenticationData")?;
    if tag.len() != aead::MAX_TAG_LEN {
        return Err(unseal_err(format!(
            "the GCM tag is {} bytes, not 16",
            tag.len()
        )));
    }
    let wrapped = field(&env.encrypted_inner_key, "EncryptedInnerKey")?;
    if wrapped.is_empty() {
        return Err(unseal_err("EncryptedInnerKey is empty"));
    }
    let mut data = field(&env.jwt, "Jwt")?;
    if data.is_empty() {
        return Err(unseal_err("Jwt is empty"));
    }

    let aes_key = decryptor
        .decrypt(RsaDecryptScheme::Pkcs1v15, &wrapped)
        .await
        .map_err(|e| match e.code() {
            ErrorCode::TpmInternalFailure
            | ErrorCode::TpmOperationFailed
            | ErrorCode::JwtDecryptionTpmError
            | ErrorCode::DecryptTpmError => MaaError::UnsealTpm { source: e },
            _ => unseal_err(format!(
                "the inner key could not be decrypted: {}",
                e.message()
            )),
        })?;
    if aes_key.len() * 8 != p.key_size_in_bits as usize {
        return Err(unseal_err("the inner key does not have the size announced"));
    }
    let unbound = UnboundKey::new(algorithm, aes_key.as_slice())
        .map_err(|_| unseal_err("the inner key is not an AES key"))?;
    let opening = LessSafeKey::new(unbound);
    data.extend_from_slice(&tag);
    let plain = Zeroizing::new(
        opening
            .open_in_place(
                Nonce::assume_unique_for_key(iv),
                Aad::from(TRANSPORT_KEY_AAD),
                &mut data,
            )
            .map_err(|_| {
                unseal_err("the sealed token does not authenticate (wrong key or tampered)")
            })?
            .to_vec(),
    );
    String::from_utf8(plain.to_vec()).map_err(|_| unseal_err("the decrypted token is not UTF-8"))
}

/// Opens a sealed AzureGuest response body `{"token": …}` (see
/// [`response_token`] and [`unseal_envelope`] for the codes).
pub async fn unseal_token(body: &[u8], decryptor: &dyn Decryptor) -> Result<String, MaaError> {
    let token = response_token(body)?;
    unseal_envelope(&token, decryptor).await
}
