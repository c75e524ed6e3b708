#![doc = include_str!("../README.md")]
// The crate itself holds no unsafe code; tss-esapi does the FFI.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod error;
pub mod eventlog;
pub mod handles;
pub mod settings;
pub mod verify;

#[cfg(feature = "device")]
mod device;

#[cfg(feature = "device")]
pub use device::access::SYSTEM_LOCK_DIR;
#[cfg(feature = "device")]
pub use device::{
    access, CertifiedKey, EphemeralKey, Quote, RetryPolicy, SavedKey, Tpm, TpmAccess, TpmDecryptor,
    TCTI_ENV,
};
pub use error::TpmError;
pub use settings::{parse_timeout, DEFAULT_TPM_TIMEOUT, TPM_TIMEOUT_ENV, VTPM_LOCK_ENV};
pub use verify::{RsaPublic, SignatureScheme};
