#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod error;
mod rsa_public;

pub use error::KeyError;
pub use rsa_public::RsaPublic;
