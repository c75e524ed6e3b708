//! The tee-attest local verifier: appraises evidence offline with the
//! appraisers it is given (one per evidence type, each from its TEE's
//! crate: `tee_attest_azure::AzureSnpAppraiser`,
//! `tee_attest_snp::SevSnpVmAppraiser`, …) into the claims Microsoft Azure
//! Attestation issues, evaluates the MAA policy language on them, and signs
//! an MAA-compatible token (RS256, `jku`, `kid`, `x5c`); and serves it as
//! an MAA-shaped HTTP service ([`service`]).
//!
//! Mock roots are trusted only when the configuration names them, and a
//! token from mock evidence says so (`x-tee-attest-mock-evidence: true`)
//! and never carries `x-ms-compliance-status`.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

pub mod audit;
mod error;
pub mod fsutil;
pub mod keyset;
mod local;
pub mod service;
mod signer;

pub use error::VerifierError;
pub use keyset::KeySet;
pub use local::{
    LocalVerifier, LocalVerifierConfig, DEFAULT_POLICY, DEFAULT_VALIDITY_MINUTES,
    MAX_VALIDITY_MINUTES, RESERVED_CLAIMS,
};
pub use signer::TokenSigner;
