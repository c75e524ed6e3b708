//! The Linux configfs-tsm attestation report interface for tee-attest.
//!
//! Since Linux 6.7 a confidential guest gets its hardware attestation report
//! through configfs: a client makes a directory under
//! `/sys/kernel/config/tsm/report/`, writes up to 64 bytes of report data to
//! its `inblob` (and, for SEV-SNP, a VMPL to `privlevel`), reads the report
//! from `outblob` (SEV-SNP's certificate table from `auxblob`), checks that
//! `generation` counts exactly its own writes, and removes the directory.
//! `provider` names the format: `sev_guest` or `tdx_guest`.
//!
//! * [`Tsm`] is that client ([`Tsm::report`], [`Tsm::probe`]).
//! * [`parse_cert_table`] / [`build_cert_table`] read and write SEV-SNP's
//!   certificate table, with the GHCB GUIDs as [`Guid`] constants.
//! * `emulator` (feature `emulator`): [`emulator::TsmEmulator`], a FUSE
//!   filesystem that behaves like the kernel's report root, backed by a
//!   closure, for tests on machines without a TEE.
//!
//! Errors map to the spec codes: configfs-tsm absent, unusable or the wrong
//! provider → 12; a failed kernel read/write or a generation race through
//! every try → 13; an empty report → 21; a malformed certificate table → 20;
//! an invalid request → 8.
#![forbid(unsafe_code)]

mod certs;
mod client;
mod error;

#[cfg(feature = "emulator")]
pub mod emulator;

pub use certs::{build_cert_table, parse_cert_table, Guid, CERT_TABLE_ENTRY_SIZE};
pub use client::{
    AfterReadHook, ReportRequest, Tsm, TsmReport, AUXBLOB_CAP, DEFAULT_DEV_ROOT, DEFAULT_MAX_TRIES,
    DEFAULT_TSM_ROOT, INBLOB_MAX, OUTBLOB_CAP, PRIVLEVEL_MAX, PROVIDER_SEV_GUEST,
    PROVIDER_TDX_GUEST, TEXT_ATTR_CAP, TSM_ROOT_ENV,
};
pub use error::TsmError;
