#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod ccel;
mod error;
mod provider;

pub use ccel::{
    ccel_root, read_ccel, CcelEventLog, CCEL_DATA_CAP, CCEL_DATA_FILE, CCEL_ROOT_ENV,
    CCEL_TABLE_FILE, CC_TYPE_TDX, DEFAULT_ACPI_TABLES,
};
pub use error::TdxGuestError;
pub use provider::{
    check_kernel_quote, report_data_for, TdxGuestConfig, TdxGuestProvider, BACKEND, TDX,
};
/// MAA's `TdxVm` evidence type, which this backend gathers (defined by the
/// verification crate, `tee-attest-tdx`).
pub use tee_attest_tdx::TDX_VM;
