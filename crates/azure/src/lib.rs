#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod appraise;
mod error;
mod hcl;
#[cfg(feature = "provider")]
pub mod provider;
mod tdx;
mod vardata;
mod verify;

pub use appraise::{compliant, AzureSnpAppraiser, AzureTdxAppraiser};
pub use error::AzureError;
use tee_attest_core::{EvidenceType, TeeId};

/// The registry id of the Azure SEV-SNP CVM backend.
pub const AZURE_SNP: TeeId = TeeId::new("azure-snp");
/// Azure SEV-SNP CVM evidence as MAA takes it: `AzureGuest` with `SevSnp`
/// isolation.
pub const AZURE_GUEST_SNP: EvidenceType = EvidenceType::new("AzureGuest", Some("SevSnp"));
/// The registry id of the Azure TDX CVM backend.
pub const AZURE_TDX: TeeId = TeeId::new("azure-tdx");
/// Azure TDX CVM evidence as MAA takes it: `AzureGuest` with `Tdx`
/// isolation (the TD quote as `Proof`, the HCL variable data as
/// `RunTimeData`).
pub const AZURE_GUEST_TDX: EvidenceType = EvidenceType::new("AzureGuest", Some("Tdx"));
pub use hcl::{
    HashType, HclHeader, HclReport, IgvmRequestHeader, ReportType, HCL_SIGNATURE, HEADER_LEN,
    HW_REPORT_LEN, HW_REPORT_OFFSET, IGVM_HEADER_LEN, IGVM_OFFSET, SNP_REPORTDATA_OFFSET,
    TDREPORT_LEN, TDREPORT_REPORTDATA_OFFSET, VAR_DATA_OFFSET,
};
pub use tdx::check_quote_matches;
pub use vardata::{Jwk, RsaPublicJwk, VarData, AK_KID, EK_KID};
pub use verify::{verify_hcl_snp, AzureSnpVerified};
