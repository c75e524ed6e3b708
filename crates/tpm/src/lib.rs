#![doc = include_str!("../README.md")]
// The crate itself holds no unsafe code; tss-esapi does the FFI.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod error;
pub mod eventlog;
pub mod handles;
pub mod verify;

#[cfg(feature = "device")]
mod device;

#[cfg(feature = "device")]
pub use device::{CertifiedKey, EphemeralKey, Quote, SavedKey, Tpm, TpmDecryptor, TCTI_ENV};
pub use error::TpmError;
pub use verify::{RsaPublic, SignatureScheme};
