#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

pub mod client;
mod error;
pub mod kek;
mod pgstore;
pub mod service;
pub mod store;
pub mod wrap;

pub use error::{KeyReleaseError, Result};
pub use kek::{Kek, KEK_ENV};
pub use store::{AuditRecord, KeyInfo, KeySpec, KeyStore};
pub use wrap::{unwrap_key_hsm, wrap_key_hsm, Enc, KeyHsm};
