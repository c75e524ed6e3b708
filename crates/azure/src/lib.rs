#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod error;
mod hcl;
#[cfg(feature = "provider")]
pub mod provider;
mod vardata;
mod verify;

pub use error::AzureError;
pub use hcl::{
    HashType, HclHeader, HclReport, IgvmRequestHeader, ReportType, HCL_SIGNATURE, HEADER_LEN,
    HW_REPORT_LEN, HW_REPORT_OFFSET, IGVM_HEADER_LEN, IGVM_OFFSET, SNP_REPORTDATA_OFFSET,
    TDREPORT_LEN, TDREPORT_REPORTDATA_OFFSET, VAR_DATA_OFFSET,
};
pub use vardata::{Jwk, RsaPublicJwk, VarData, AK_KID, EK_KID};
pub use verify::{verify_hcl_snp, AzureSnpVerified};
