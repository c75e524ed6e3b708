//! The broker's errors, each mapping to one spec code.

use tee_attest_core::{CodedError, ErrorCode};

/// What can go wrong in `encrypt` / `decrypt`.
///
/// Messages never carry key material or plaintext. Every failure to
/// authenticate ciphertext is the same opaque [`BrokerError::DecryptionFailed`]:
/// it never says which chunk or which byte failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The token has no `TpmEphemeralEncryptionKey` in `x-ms-runtime.keys`
    /// (code 22).
    #[error("the token has no `{kid}` key in x-ms-runtime.keys")]
    NoEphemeralKey {
        /// The `kid` looked for.
        kid: &'static str,
    },
    /// The token's key is not a usable RSA encryption key (code 23).
    #[error("the token's `{kid}` is not a usable RSA encryption key: {reason}")]
    UnusableKey {
        /// The key's `kid`.
        kid: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The data is too large for a direct RSA scheme (code 8).
    #[error("{len} bytes of data do not fit {scheme} with a {modulus_bits}-bit key: {limit}; use the envelope scheme for larger data")]
    InputTooLarge {
        /// The data's length.
        len: usize,
        /// The scheme's name.
        scheme: &'static str,
        /// The key's size in bits.
        modulus_bits: usize,
        /// The rule the data broke (`at most 190 bytes`, `exactly 256 bytes`).
        limit: String,
    },
    /// An input parameter is invalid (code 8).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The encryption metadata is malformed (code 8).
    #[error("malformed encryption metadata: {0}")]
    MalformedMetadata(String),
    /// The metadata does not belong to the encryption type given (code 8).
    #[error("the encryption metadata does not match encryption type {expected}: {found}")]
    SchemeMismatch {
        /// The encryption type the caller named.
        expected: String,
        /// What the metadata says instead.
        found: String,
    },
    /// Encryption could not be set up: no randomness, or the AES key was
    /// refused (code 24).
    #[error("encryption initialisation failed: {0}")]
    EncryptInit(&'static str),
    /// Encryption failed (code 25).
    #[error("encryption failed: {0}")]
    EncryptFailed(String),
    /// Reading the plaintext or writing the ciphertext failed (code 25).
    #[error("encryption failed: {what}")]
    EncryptIo {
        /// `reading the input` or `writing the output`.
        what: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The ciphertext does not authenticate: it was altered, truncated,
    /// reordered, or is not for this key (code 26). Deliberately opaque.
    #[error("decryption failed: the data or its metadata was altered, truncated or reordered, or was not encrypted to this key")]
    DecryptionFailed,
    /// The envelope was encrypted to another key than the decryptor's
    /// (code 26): after a reboot or a change of PCRs 0–7 the vTPM's
    /// ephemeral key is a different key.
    #[error("the data was encrypted to key {expected}, but the decryptor's key is {actual}: the ephemeral key changed (reboot or PCRs 0-7 changed) or the data is for another machine")]
    KeyMismatch {
        /// The thumbprint named in the metadata.
        expected: String,
        /// The decryptor's key thumbprint.
        actual: String,
    },
    /// The decryptor (the vTPM) failed (code 26).
    #[error("TPM error while decrypting data")]
    Decryptor {
        /// The decryptor's error.
        #[source]
        source: tee_attest_core::Error,
    },
    /// Reading the ciphertext or writing the plaintext failed (code 26).
    #[error("decryption failed: {what}")]
    DecryptIo {
        /// `reading the input` or `writing the output`.
        what: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl CodedError for BrokerError {
    fn code(&self) -> ErrorCode {
        match self {
            BrokerError::NoEphemeralKey { .. } => ErrorCode::JwtExtractionFailed,
            BrokerError::UnusableKey { .. } => ErrorCode::JwtToRsaKeyFailed,
            BrokerError::InputTooLarge { .. }
            | BrokerError::InvalidInput(_)
            | BrokerError::MalformedMetadata(_)
            | BrokerError::SchemeMismatch { .. } => ErrorCode::InvalidInputParameter,
            BrokerError::EncryptInit(_) => ErrorCode::EncryptInitFailed,
            BrokerError::EncryptFailed(_) | BrokerError::EncryptIo { .. } => {
                ErrorCode::EncryptFailed
            }
            BrokerError::DecryptionFailed
            | BrokerError::KeyMismatch { .. }
            | BrokerError::Decryptor { .. }
            | BrokerError::DecryptIo { .. } => ErrorCode::DecryptTpmError,
        }
    }
}

/// `Result` with [`BrokerError`].
pub type Result<T, E = BrokerError> = std::result::Result<T, E>;
