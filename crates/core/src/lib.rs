#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod appraise;
mod backend;
mod error;
mod evidence;
pub mod fault;
pub mod json;
mod params;
pub mod sources;
mod tee;
pub mod time;
mod token;
mod traits;

pub use appraise::{Appraisal, Appraiser, CacheCounters};
pub use backend::{DetectContext, ProviderConfig, TeeBackend};
pub use error::{AttestationResult, CodedError, Error, ErrorCode, Result};
pub use evidence::{Evidence, EvidenceRequest, TpmEvidence};
pub use params::{ClientParameters, MAX_CLIENT_PAYLOAD_BYTES};
pub use tee::{EvidenceType, TeeId};
pub use time::{Clock, FixedClock, SystemClock};
pub use token::{AttestationToken, EPHEMERAL_KEY_KID, MOCK_EVIDENCE_CLAIM};
pub use traits::{
    decrypt_not_supported, Challenge, Decryptor, EvidenceProvider, KeyBroker, KeyReleaseRequest,
    ReleasedKey, RsaDecryptScheme, Verifier, VerifyOptions,
};
