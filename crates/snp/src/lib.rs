#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod anchors;
mod appraise;
mod bundle;
mod certs;
mod claims;
pub mod collateral;
mod crl;
mod der;
mod error;
mod report;
mod tcb;
mod verify;

pub use anchors::{RootOrigin, TrustAnchor, TrustAnchors};
pub use appraise::{SevSnpVmAppraiser, SEV_SNP_VM};
pub use bundle::CertBundle;
pub use certs::{AmdCertificate, AmdExtensions, CertRole, CertTcb};
pub use claims::MAA_CLAIM_NAMES;
pub use crl::AmdCrl;
pub use der::pem_blocks;
pub use error::{Check, SnpError};
pub use report::{offsets, AttestationReport, GuestPolicy, SigningKey, REPORT_LEN, SIGNED_LEN};
pub use tcb::{Product, TcbVersion};
/// The workspace's clock (`tee_attest_core::time`), kept at this path.
pub use tee_attest_core::time::{parse_rfc3339, Clock, FixedClock, SystemClock};
pub use verify::{CrlStatus, Expectations, SnpOptions, SnpVerified, SnpVerifier};
