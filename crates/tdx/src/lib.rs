#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

pub mod appraise;
mod bytes;
pub mod ccel;
mod claims;
pub mod collateral;
mod error;
pub mod pki;
pub mod qe_identity;
pub mod quote;
pub mod status;
pub mod tcb_info;
pub mod tdreport;
pub mod verify;

pub use appraise::{DcapAppraiser, DcapTrust, QuoteClaims, SGX_ENCLAVE};
pub use claims::{claims_json, TDX_EAT_PROFILE};
pub use collateral::{
    Collateral, CollateralChain, CollateralRequest, CollateralSource, SignedJson,
};
pub use error::{Check, TdxError};
pub use quote::{
    CertificationData, EnclaveReport, QeReportCertification, Quote, QuoteBody, QuoteHeader,
    SignatureData, TdAttributes, TdReport10, TdReport15,
};
pub use status::TcbStatus;
pub use tdreport::TdReport;
pub use tee_attest_core::time::{parse_rfc3339, Clock, FixedClock, SystemClock};
pub use verify::{
    apply_policy, check_platform, evaluate_tcb, CollateralHashes, DcapVerifier, PckFacts, Policy,
    PreparedCollateral, Revocation, TcbEvaluation, Verdict, VerifyOptions, PREPARED_MEMO_ENTRIES,
};

/// MAA's `TdxVm` evidence: a bare TDX quote (`POST /attest/TdxVm`), whose
/// `report_data[0..32]` binds the SHA-256 of the runtime data. Bare-metal
/// TDX guests (`tee-attest-tdx-guest`) gather it; the verification crate
/// owns the name, as `tee-attest-snp` owns `SevSnpVm`.
pub const TDX_VM: tee_attest_core::EvidenceType = tee_attest_core::EvidenceType::new("TdxVm", None);
