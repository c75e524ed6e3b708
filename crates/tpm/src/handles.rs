//! The vTPM handles of an Azure confidential VM (DESIGN.md §6).

/// NV index of the HCL report.
pub const HCL_REPORT_NV_INDEX: u32 = 0x0140_0001;
/// NV index of the HCL user data (≤ 64 bytes; writing it refreshes the report).
pub const HCL_USER_DATA_NV_INDEX: u32 = 0x0140_0002;
/// Size of the HCL user-data NV index.
pub const HCL_USER_DATA_SIZE: usize = 64;
/// Persistent handle of the attestation key (AK).
pub const AK_PERSISTENT_HANDLE: u32 = 0x8100_0003;
/// NV index of the AK certificate (DER).
pub const AK_CERT_NV_INDEX: u32 = 0x01C1_01D0;
/// NV index of the EK certificate.
pub const EK_CERT_NV_INDEX: u32 = 0x01C0_0002;
/// Persistent handle of the storage root key.
pub const SRK_PERSISTENT_HANDLE: u32 = 0x8100_0001;
/// The PCRs Microsoft's client quotes on Linux.
pub const LINUX_QUOTE_PCRS: &[u32] = &[0, 1, 2, 3, 4, 5, 6, 7];
/// The PCRs the ephemeral key's PolicyPCR binds.
pub const EPHEMERAL_KEY_POLICY_PCRS: &[u32] = &[0, 1, 2, 3, 4, 5, 6, 7];
