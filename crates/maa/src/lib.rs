#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod b64;
mod challenge;
mod client;
mod error;
mod profile;

pub mod admin;
pub mod azureguest;
pub mod limits;
pub mod seal;
pub mod validate;

pub use azureguest::{
    build_request_body, parse_request_body, AttestationInfo, OsInfo, QuoteRequest, SevSnpVmRequest,
    SgxEnclaveRequest, TdxVmRequest,
};
pub use challenge::challenge;
pub use client::{
    MaaClient, IMDS_TOKEN_API_VERSION, MAA_RESOURCE, PLATFORM_API_VERSION, TDX_VM_API_VERSION,
};
pub use error::{MaaError, TokenCheck};
pub use limits::RequestLimits;
pub use seal::{seal_envelope, seal_token, unseal_envelope, unseal_token};
pub use tee_attest_http::{retry_delay, HttpConfig};
pub use validate::{
    Algorithm, Clock, FixedClock, Jwks, SystemClock, TokenValidator, ValidationProfile,
    DEFAULT_ROLE_CLAIM,
};
