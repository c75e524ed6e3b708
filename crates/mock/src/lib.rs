//! The mock backend of tee-attest: real formats under mock roots.
//!
//! - [`Swtpm`]: a `swtpm` TPM 2.0 simulator on free loopback ports with a
//!   temporary state directory, stopped (by its pid) when dropped.
//! - [`MockVtpm`]: that simulator provisioned as an Azure CVM's vTPM — an
//!   RSA-2048 restricted signing AK persisted at `0x81000003`, and the HCL's
//!   NV indices `0x01400001` (report) and `0x01400002` (user data).
//!
//! - [`MockAzureCvm`]: a whole mock Azure CVM, SEV-SNP or TDX — the vTPM
//!   behind [`HclProxy`], the mock HCL that refreshes the HCL report in NV
//!   `0x01400001` whenever user data is written to `0x01400002` (as the
//!   paravisor does: an SNP report, or a TDREPORT of the mock TD), and a
//!   [`MockImds`] serving the VCEK chain (THIM) or TD quotes
//!   (`/acc/tdquote`).
//! - [`MockSnpGuest`], [`MockTdxGuest`]: mock bare-metal SEV-SNP and TDX
//!   guests — configfs-tsm emulated with FUSE, answering each `inblob` with
//!   a fresh mock-signed report or TD quote; the TDX guest with its CC
//!   event log (ACPI CCEL) replaying to its RTMRs.
//! - [`amd`]: mock AMD roots (ARK → ASK → VCEK) and SEV-SNP reports they sign.
//! - [`intel`]: a mock Intel DCAP platform — mock Intel SGX Root CA, PCK and
//!   TCB Signing certificates, signed TCB info and QE identities, CRLs, TDX
//!   quotes v4/v5 and SGX quotes v3, TDREPORTs and a mock quoting enclave,
//!   and a mock PCS on loopback ([`intel::MockPcs`]).
//! - [`BACKEND`] (`--tee mock`): the registry value of the mock backend,
//!   [`MockProvider`] (the real Azure SEV-SNP provider against a
//!   [`MockAzureCvm`] started in process), and [`trust_roots`].
//!
//! Nothing here is trusted by default anywhere in tee-attest: verifiers
//! accept mock roots only when asked explicitly.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

pub mod amd;
mod cvm;
pub mod hcl;
mod imds;
pub mod intel;
mod provider;
mod proxy;
pub mod snp_guest;
mod swtpm;
pub mod tdx_guest;
mod vtpm;

pub use cvm::{MockAzureCvm, MockIsolation};
pub use imds::{MockImds, MockThim};
pub use provider::{trust_roots, MockProvider, MockTrustRoots, BACKEND, MOCK};
pub use proxy::HclProxy;
pub use snp_guest::MockSnpGuest;
pub use swtpm::{MockError, Swtpm};
pub use tdx_guest::MockTdxGuest;
pub use vtpm::{MockVtpm, MOCK_HCL_REPORT_NV_SIZE};
