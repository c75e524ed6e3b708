#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod error;
mod provider;

pub use error::SnpGuestError;
pub use provider::{
    certificates_from_table, check_kernel_report, report_data_for, KernelReport, SnpGuestConfig,
    SnpGuestProvider, AMD_KDS_URL, BACKEND, SNP,
};
