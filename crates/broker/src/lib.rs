#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod envelope;
mod error;
mod key;
mod scheme;

use std::io::{Read, Write};

use tee_attest_core::{AttestationToken, Decryptor};
use tee_attest_keys::RsaPublic;
use zeroize::Zeroizing;

pub use envelope::{
    EnvelopeDecryptor, EnvelopeEncryptor, EnvelopeMetadata, CIPHER, DEFAULT_CHUNK_SIZE,
    ENVELOPE_SCHEME, KEY_WRAP, MAX_CHUNK_SIZE, MAX_METADATA_BYTES, METADATA_VERSION,
    MIN_CHUNK_SIZE,
};
pub use error::{BrokerError, Result};
pub use key::{jwk_thumbprint, RecipientKey, MAX_MODULUS_BITS, MIN_MODULUS_BITS};
pub use scheme::{
    EncryptionType, RsaScheme, TPM_ALG_NULL, TPM_ALG_OAEP, TPM_ALG_RSAES, TPM_ALG_SHA1,
    TPM_ALG_SHA256,
};

/// `Encrypt`: encrypt `data` to the token's `TpmEphemeralEncryptionKey`.
/// Returns `(encrypted_data, encryption_metadata)`; the metadata is empty
/// for [`EncryptionType::None`].
///
/// The token's signature is not checked (the relying party validates the
/// token before trusting its key); its structure is: code 22 without the
/// key, 23 if the key is not a usable RSA key, 8 if the data does not fit a
/// direct RSA scheme, 24/25 if encryption fails.
pub fn encrypt(
    kind: EncryptionType,
    token: &AttestationToken,
    data: &[u8],
) -> Result<(Vec<u8>, Vec<u8>)> {
    encrypt_to_key(kind, &RecipientKey::from_token(token)?, data)
}

/// [`encrypt`] to a key already extracted (e.g. [`RecipientKey::from_jwk`]).
pub fn encrypt_to_key(
    kind: EncryptionType,
    key: &RecipientKey,
    data: &[u8],
) -> Result<(Vec<u8>, Vec<u8>)> {
    match kind {
        EncryptionType::None(scheme) => Ok((key.encrypt_rsa(scheme, data)?, Vec::new())),
        EncryptionType::Envelope => {
            let enc = EnvelopeEncryptor::new(key)?;
            let metadata = enc.metadata().to_bytes();
            Ok((enc.encrypt(data)?, metadata))
        }
    }
}

/// Envelope-encrypt everything `reader` yields into `writer` with flat
/// memory (one 64 KiB chunk), to the token's ephemeral key. Returns the
/// metadata `decrypt` needs.
pub fn encrypt_stream(
    token: &AttestationToken,
    reader: impl Read,
    writer: impl Write,
) -> Result<Vec<u8>> {
    let enc = EnvelopeEncryptor::new(&RecipientKey::from_token(token)?)?;
    let metadata = enc.metadata().to_bytes();
    enc.encrypt_stream(reader, writer)?;
    Ok(metadata)
}

/// `Decrypt`: decrypt with the private key inside the vTPM (`decryptor`).
///
/// Returns the plaintext only when all of it authenticated; on any failure
/// nothing. Code 8 for malformed metadata or metadata of another encryption
/// type (direct RSA takes empty metadata), 26 when the vTPM fails or the
/// ciphertext does not authenticate.
pub async fn decrypt(
    kind: EncryptionType,
    decryptor: &dyn Decryptor,
    encrypted_data: &[u8],
    encryption_metadata: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    match kind {
        EncryptionType::None(scheme) => {
            if !encryption_metadata.is_empty() {
                return Err(BrokerError::SchemeMismatch {
                    expected: scheme.name().into(),
                    found: "non-empty metadata (direct RSA takes none)".into(),
                });
            }
            decrypt_rsa(scheme, decryptor, encrypted_data).await
        }
        EncryptionType::Envelope => EnvelopeDecryptor::open(decryptor, encryption_metadata)
            .await?
            .decrypt(encrypted_data),
    }
}

/// Envelope-decrypt everything `reader` yields into `writer`, one chunk at
/// a time; only authenticated chunks are written, but a truncation shows
/// only at the end: **on error, discard what was written**. The reading and
/// writing are blocking I/O; for large inputs in an async program, call
/// [`EnvelopeDecryptor::open`] and run [`EnvelopeDecryptor::decrypt_stream`]
/// on a blocking thread. Returns the plaintext length.
pub async fn decrypt_stream(
    decryptor: &dyn Decryptor,
    encryption_metadata: &[u8],
    reader: impl Read,
    writer: impl Write,
) -> Result<u64> {
    EnvelopeDecryptor::open(decryptor, encryption_metadata)
        .await?
        .decrypt_stream(reader, writer)
}

async fn decrypt_rsa(
    scheme: RsaScheme,
    decryptor: &dyn Decryptor,
    ciphertext: &[u8],
) -> Result<Zeroizing<Vec<u8>>> {
    let k = RsaPublic::from_jwk(&decryptor.public_jwk())
        .ok()
        .map(|p| p.modulus_len());
    match k {
        Some(k) if ciphertext.len() != k => {
            return Err(BrokerError::InvalidInput(format!(
                "the ciphertext is {} bytes; the decryptor's key needs exactly {k}",
                ciphertext.len()
            )))
        }
        None if ciphertext.is_empty() || ciphertext.len() > MAX_MODULUS_BITS / 8 => {
            return Err(BrokerError::InvalidInput(format!(
                "the ciphertext is {} bytes, not one RSA block",
                ciphertext.len()
            )))
        }
        _ => {}
    }
    let plain = decryptor
        .decrypt(scheme.decrypt_scheme(), ciphertext)
        .await
        .map_err(|source| BrokerError::Decryptor { source })?;
    match (scheme, k) {
        // Raw RSA yields the whole k-byte block; a TPM may drop its leading
        // zeros.
        (RsaScheme::Raw, Some(k)) if plain.len() < k => {
            let mut full = Zeroizing::new(vec![0u8; k - plain.len()]);
            full.extend_from_slice(&plain);
            Ok(full)
        }
        _ => Ok(plain),
    }
}
