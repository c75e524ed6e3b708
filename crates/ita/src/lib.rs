#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

#[cfg(feature = "client")]
mod apikey;
mod chain;
mod claims;
#[cfg(feature = "client")]
mod client;
mod error;
mod jose;
mod jwks;
pub mod request;
pub mod validate;

#[cfg(feature = "client")]
pub use apikey::{ApiKey, API_KEY_ENV};
pub use claims::{ItaClaims, ItaToken, NonceClaim, PolicyRef, TdxClaims, TdxCollateral};
#[cfg(feature = "client")]
pub use client::{
    certs_url_for, ItaClient, ItaConfig, AZURE_GUEST_TDX, CHALLENGE_TTL, EU_API_URL, EU_CERTS_URL,
    MAX_ANSWER_BYTES, MAX_PENDING_CHALLENGES, TDX_VM, US_API_URL, US_CERTS_URL,
};
pub use error::{ItaError, TokenCheck};
pub use jwks::{Jwks, KeyTrust, PinnedRoots, MIN_RSA_BITS};
pub use request::{
    report_data, AttestOptions, AttestRequest, EvidenceKind, TokenAlg, VerifierNonce,
};
#[cfg(feature = "client")]
pub use tee_attest_http::HttpConfig;
pub use validate::{Clock, Expectations, FixedClock, ItaValidator, SystemClock, ITA_ISSUER};
