#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod appraise;
mod certs;
mod claims;
mod clock;
pub mod collateral;
mod crl;
mod error;
mod report;
mod tcb;
mod verify;

pub use appraise::{SevSnpVmAppraiser, SEV_SNP_VM};
pub use certs::{
    pem_blocks, AmdCertificate, AmdExtensions, CertBundle, CertRole, CertTcb, RootOrigin,
    TrustAnchor, TrustAnchors,
};
pub use claims::MAA_CLAIM_NAMES;
pub use clock::{parse_rfc3339, Clock, FixedClock, SystemClock};
pub use crl::AmdCrl;
pub use error::{Check, SnpError};
pub use report::{offsets, AttestationReport, GuestPolicy, SigningKey, REPORT_LEN, SIGNED_LEN};
pub use tcb::{Product, TcbVersion};
pub use verify::{CrlStatus, Expectations, SnpOptions, SnpVerified, SnpVerifier};
