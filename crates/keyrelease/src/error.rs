//! The crate's error type: one variant per failure, each mapping to exactly
//! one spec code (1–27). Messages never carry key material.

use tee_attest_core::{CodedError, ErrorCode};

/// Errors of key release: the store, the wrap format, the service and the
/// client.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyReleaseError {
    /// A request or argument is invalid (code 8).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The `enc` of a release request is not supported here (code 8).
    #[error("unsupported wrapping algorithm {enc:?}: {reason}")]
    UnsupportedEnc {
        /// The `enc` asked for.
        enc: String,
        /// Why it is not supported.
        reason: String,
    },
    /// No such key, or no such version of it (code 8).
    #[error("key {name:?}{} not found", version.as_deref().map(|v| format!(" version {v:?}")).unwrap_or_default())]
    KeyNotFound {
        /// The key's name.
        name: String,
        /// The version asked for, if one was.
        version: Option<String>,
    },
    /// A key of that name already exists (code 8).
    #[error("key {0:?} already exists (use rotate for a new version)")]
    KeyExists(String),
    /// A release policy does not parse (code 9).
    #[error("release policy: {0}")]
    Policy(#[source] tee_attest_policy::PolicyError),
    /// The attestation token failed validation (code of the failed check:
    /// 6, 22 or 23).
    #[error("the attestation token is not valid: {0}")]
    Token(#[source] tee_attest_maa::MaaError),
    /// The key's release policy does not hold for the token (code 6).
    #[error("the key's release policy refused the token: {0}")]
    PolicyRefused(String),
    /// The nonce was already used for a release of this key (code 6).
    #[error("the nonce was already used to release this key (replay refused)")]
    NonceReplayed,
    /// The token carries no `TpmEphemeralEncryptionKey` (code 22).
    #[error("the token carries no TpmEphemeralEncryptionKey in x-ms-runtime.keys")]
    NoEphemeralKey,
    /// The token's ephemeral key is not a usable RSA key (code 23).
    #[error("the token's ephemeral key is not a usable RSA key: {0}")]
    BadEphemeralKey(String),
    /// Wrapping the key failed (code 25).
    #[error("wrapping the key failed: {0}")]
    Wrap(String),
    /// A released key could not be unwrapped (malformed or tampered
    /// `key_hsm`, or a transfer key of the wrong size) (code 26).
    #[error("unwrapping the released key failed: {0}")]
    Unwrap(String),
    /// The TPM failed to decrypt the transfer key (code of the TPM error, 26).
    #[error("the TPM failed to decrypt the transfer key")]
    UnwrapTpm(#[source] tee_attest_core::Error),
    /// The key-encryption key is missing, malformed, or not the store's
    /// (code 1).
    #[error("key-encryption key: {0}")]
    Kek(String),
    /// The store failed (code 1).
    #[error("key store: {0}")]
    Store(String),
    /// The shared store (PostgreSQL) cannot be reached now (code 7): the
    /// service answers 503 with `Retry-After`.
    #[error("the key store is unavailable: {0}")]
    Unavailable(#[source] tee_attest_store::StoreError),
    /// A request could not be sent or its response not read (code 7).
    #[error("sending the release request to {url} failed: {reason}")]
    Send {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// The key broker answered with an error (code 5).
    #[error("{url} answered HTTP {status} ({code}): {message}")]
    HttpStatus {
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The service's error code.
        code: String,
        /// The service's message.
        message: String,
    },
    /// The release response is not what Key Vault returns (code 2).
    #[error("the release response could not be parsed: {0}")]
    Malformed(String),
    /// The release response's signature does not verify with the trusted
    /// key (code 6).
    #[error("the release response's signature is not valid: {0}")]
    ResponseSignature(String),
}

impl KeyReleaseError {
    pub(crate) fn store(e: impl std::fmt::Display) -> Self {
        let m = e.to_string();
        // What a user can do about the two faults of a shared local store
        // (docs/RELIABILITY.md, "Faults").
        let hint = if m.contains("database is locked") {
            " (another process holds the key database's lock; SQLite waits at most 10 s \
             for it; nothing was changed: retry once it is released)"
        } else if m.contains("disk is full") {
            " (the data directory's file system is full; nothing was changed)"
        } else {
            ""
        };
        KeyReleaseError::Store(format!("{m}{hint}"))
    }
}

impl CodedError for KeyReleaseError {
    fn code(&self) -> ErrorCode {
        match self {
            KeyReleaseError::InvalidInput(_)
            | KeyReleaseError::UnsupportedEnc { .. }
            | KeyReleaseError::KeyNotFound { .. }
            | KeyReleaseError::KeyExists(_) => ErrorCode::InvalidInputParameter,
            KeyReleaseError::Policy(_) => ErrorCode::AttestationParametersValidationFailed,
            KeyReleaseError::Token(e) => e.code(),
            KeyReleaseError::PolicyRefused(_)
            | KeyReleaseError::NonceReplayed
            | KeyReleaseError::ResponseSignature(_) => ErrorCode::AttestationFailed,
            KeyReleaseError::NoEphemeralKey => ErrorCode::JwtExtractionFailed,
            KeyReleaseError::BadEphemeralKey(_) => ErrorCode::JwtToRsaKeyFailed,
            KeyReleaseError::Wrap(_) => ErrorCode::EncryptFailed,
            KeyReleaseError::Unwrap(_) => ErrorCode::DecryptTpmError,
            KeyReleaseError::UnwrapTpm(e) => e.code(),
            KeyReleaseError::Kek(_) | KeyReleaseError::Store(_) => ErrorCode::InitializationFailed,
            KeyReleaseError::Unavailable(e) => e.code(),
            KeyReleaseError::Send { .. } => ErrorCode::SendRequestFailed,
            KeyReleaseError::HttpStatus { .. } => ErrorCode::RequestFailed,
            KeyReleaseError::Malformed(_) => ErrorCode::ParseResponseFailed,
        }
    }
}

impl From<tee_attest_policy::PolicyError> for KeyReleaseError {
    fn from(e: tee_attest_policy::PolicyError) -> Self {
        KeyReleaseError::Policy(e)
    }
}

/// `Result` with [`KeyReleaseError`].
pub type Result<T, E = KeyReleaseError> = std::result::Result<T, E>;
