//! The SEV-SNP attestation report (SEV-SNP ABI, `ATTESTATION_REPORT`),
//! versions 2, 3 and 5, parsed at fixed offsets.
//!
//! The `sev` crate's `AttestationReport` decoder refuses version-2 reports
//! whose chip id is masked (as Azure's are) and gives no offsets in its
//! errors, so this module reads the 1184 bytes itself; tests check that both
//! parsers agree where `sev` can read a report.

use crate::error::SnpError;
use crate::tcb::{Product, TcbVersion};

/// The length of an attestation report.
pub const REPORT_LEN: usize = 0x4A0;
/// The length of the signed part of a report (bytes 0x000–0x29F).
pub const SIGNED_LEN: usize = 0x2A0;

/// Field offsets of the report.
pub mod offsets {
    /// `VERSION` (u32).
    pub const VERSION: usize = 0x00;
    /// `GUEST_SVN` (u32).
    pub const GUEST_SVN: usize = 0x04;
    /// `POLICY` (u64).
    pub const POLICY: usize = 0x08;
    /// `FAMILY_ID` (16 bytes).
    pub const FAMILY_ID: usize = 0x10;
    /// `IMAGE_ID` (16 bytes).
    pub const IMAGE_ID: usize = 0x20;
    /// `VMPL` (u32).
    pub const VMPL: usize = 0x30;
    /// `SIGNATURE_ALGO` (u32).
    pub const SIGNATURE_ALGO: usize = 0x34;
    /// `CURRENT_TCB` (u64).
    pub const CURRENT_TCB: usize = 0x38;
    /// `PLATFORM_INFO` (u64).
    pub const PLATFORM_INFO: usize = 0x40;
    /// `SIGNER_INFO` / key info (u32): author key enabled, mask chip key, signing key.
    pub const SIGNER_INFO: usize = 0x48;
    /// `REPORT_DATA` (64 bytes).
    pub const REPORT_DATA: usize = 0x50;
    /// `MEASUREMENT` (48 bytes).
    pub const MEASUREMENT: usize = 0x90;
    /// `HOST_DATA` (32 bytes).
    pub const HOST_DATA: usize = 0xC0;
    /// `ID_KEY_DIGEST` (48 bytes).
    pub const ID_KEY_DIGEST: usize = 0xE0;
    /// `AUTHOR_KEY_DIGEST` (48 bytes).
    pub const AUTHOR_KEY_DIGEST: usize = 0x110;
    /// `REPORT_ID` (32 bytes).
    pub const REPORT_ID: usize = 0x140;
    /// `REPORT_ID_MA` (32 bytes).
    pub const REPORT_ID_MA: usize = 0x160;
    /// `REPORTED_TCB` (u64).
    pub const REPORTED_TCB: usize = 0x180;
    /// `CPUID_FAM_ID` (u8, v3+).
    pub const CPUID_FAM_ID: usize = 0x188;
    /// `CPUID_MOD_ID` (u8, v3+).
    pub const CPUID_MOD_ID: usize = 0x189;
    /// `CPUID_STEP` (u8, v3+).
    pub const CPUID_STEP: usize = 0x18A;
    /// `CHIP_ID` (64 bytes).
    pub const CHIP_ID: usize = 0x1A0;
    /// `COMMITTED_TCB` (u64).
    pub const COMMITTED_TCB: usize = 0x1E0;
    /// `CURRENT_BUILD`, `CURRENT_MINOR`, `CURRENT_MAJOR`.
    pub const CURRENT_VERSION: usize = 0x1E8;
    /// `COMMITTED_BUILD`, `COMMITTED_MINOR`, `COMMITTED_MAJOR`.
    pub const COMMITTED_VERSION: usize = 0x1EC;
    /// `LAUNCH_TCB` (u64).
    pub const LAUNCH_TCB: usize = 0x1F0;
    /// `LAUNCH_MIT_VECTOR` (u64, v5+).
    pub const LAUNCH_MIT_VECTOR: usize = 0x1F8;
    /// `CURRENT_MIT_VECTOR` (u64, v5+).
    pub const CURRENT_MIT_VECTOR: usize = 0x200;
    /// `SIGNATURE`: R (72 bytes, little-endian), S (72 bytes), reserved.
    pub const SIGNATURE: usize = 0x2A0;
}

use offsets as o;

/// Which key signed a report (`SIGNER_INFO.SIGNING_KEY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningKey {
    /// The Versioned Chip Endorsement Key.
    Vcek,
    /// The Versioned Loaded Endorsement Key.
    Vlek,
    /// No key: the report is unsigned.
    None,
    /// A reserved value.
    Reserved(u8),
}

impl SigningKey {
    /// The name used in claims and messages (`vcek`, `vlek`, …).
    pub fn name(self) -> &'static str {
        match self {
            SigningKey::Vcek => "vcek",
            SigningKey::Vlek => "vlek",
            SigningKey::None => "none",
            SigningKey::Reserved(_) => "reserved",
        }
    }
}

/// The guest policy (`POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct GuestPolicy(pub u64);

impl GuestPolicy {
    fn bit(self, n: u32) -> bool {
        self.0 & (1u64 << n) != 0
    }
    /// Minimum ABI minor version.
    pub fn abi_minor(self) -> u8 {
        (self.0 & 0xff) as u8
    }
    /// Minimum ABI major version.
    pub fn abi_major(self) -> u8 {
        ((self.0 >> 8) & 0xff) as u8
    }
    /// Simultaneous multithreading allowed (bit 16).
    pub fn smt_allowed(self) -> bool {
        self.bit(16)
    }
    /// Migration agent allowed (bit 18).
    pub fn migrate_ma_allowed(self) -> bool {
        self.bit(18)
    }
    /// Debugging allowed (bit 19).
    pub fn debug_allowed(self) -> bool {
        self.bit(19)
    }
    /// Single socket only (bit 20).
    pub fn single_socket(self) -> bool {
        self.bit(20)
    }
}

/// One parsed SEV-SNP attestation report. The raw bytes are kept: the
/// signature covers them, not this structure.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttestationReport {
    raw: Box<[u8; REPORT_LEN]>,
    /// `VERSION`: 2, 3, 4 or 5.
    pub version: u32,
    /// `GUEST_SVN`.
    pub guest_svn: u32,
    /// `POLICY`.
    pub policy: GuestPolicy,
    /// `FAMILY_ID`.
    pub family_id: [u8; 16],
    /// `IMAGE_ID`.
    pub image_id: [u8; 16],
    /// `VMPL`.
    pub vmpl: u32,
    /// `SIGNATURE_ALGO` (1 = ECDSA P-384 with SHA-384).
    pub signature_algo: u32,
    /// `CURRENT_TCB`, raw (its byte layout depends on the product).
    pub current_tcb: u64,
    /// `PLATFORM_INFO`.
    pub platform_info: u64,
    /// `SIGNER_INFO` (u32 at 0x48).
    pub signer_info: u32,
    /// `REPORT_DATA`.
    pub report_data: [u8; 64],
    /// `MEASUREMENT`.
    pub measurement: [u8; 48],
    /// `HOST_DATA`.
    pub host_data: [u8; 32],
    /// `ID_KEY_DIGEST`.
    pub id_key_digest: [u8; 48],
    /// `AUTHOR_KEY_DIGEST`.
    pub author_key_digest: [u8; 48],
    /// `REPORT_ID`.
    pub report_id: [u8; 32],
    /// `REPORT_ID_MA`.
    pub report_id_ma: [u8; 32],
    /// `REPORTED_TCB`, raw.
    pub reported_tcb: u64,
    /// `CPUID_FAM_ID`, `CPUID_MOD_ID`, `CPUID_STEP` (v3+).
    pub cpuid: Option<(u8, u8, u8)>,
    /// `CHIP_ID` (all zero when the guest masked it).
    pub chip_id: [u8; 64],
    /// `COMMITTED_TCB`, raw.
    pub committed_tcb: u64,
    /// Current firmware version (major, minor, build).
    pub current_version: (u8, u8, u8),
    /// Committed firmware version (major, minor, build).
    pub committed_version: (u8, u8, u8),
    /// `LAUNCH_TCB`, raw.
    pub launch_tcb: u64,
    /// `LAUNCH_MIT_VECTOR` (v5+).
    pub launch_mit_vector: Option<u64>,
    /// `CURRENT_MIT_VECTOR` (v5+).
    pub current_mit_vector: Option<u64>,
    /// The signature's R, big-endian, 48 bytes.
    pub signature_r: [u8; 48],
    /// The signature's S, big-endian, 48 bytes.
    pub signature_s: [u8; 48],
}

fn arr<const N: usize>(b: &[u8], off: usize) -> [u8; N] {
    let mut out = [0u8; N];
    out.copy_from_slice(&b[off..off + N]);
    out
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(arr(b, off))
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(arr(b, off))
}

/// The fields in order, for "which field is cut off" messages.
const FIELDS: &[(&str, usize)] = &[
    ("version", o::VERSION),
    ("guest_svn", o::GUEST_SVN),
    ("policy", o::POLICY),
    ("family_id", o::FAMILY_ID),
    ("image_id", o::IMAGE_ID),
    ("vmpl", o::VMPL),
    ("signature_algo", o::SIGNATURE_ALGO),
    ("current_tcb", o::CURRENT_TCB),
    ("platform_info", o::PLATFORM_INFO),
    ("signer_info", o::SIGNER_INFO),
    ("report_data", o::REPORT_DATA),
    ("measurement", o::MEASUREMENT),
    ("host_data", o::HOST_DATA),
    ("id_key_digest", o::ID_KEY_DIGEST),
    ("author_key_digest", o::AUTHOR_KEY_DIGEST),
    ("report_id", o::REPORT_ID),
    ("report_id_ma", o::REPORT_ID_MA),
    ("reported_tcb", o::REPORTED_TCB),
    ("cpuid", o::CPUID_FAM_ID),
    ("chip_id", o::CHIP_ID),
    ("committed_tcb", o::COMMITTED_TCB),
    ("current_version", o::CURRENT_VERSION),
    ("committed_version", o::COMMITTED_VERSION),
    ("launch_tcb", o::LAUNCH_TCB),
    ("mit_vectors", o::LAUNCH_MIT_VECTOR),
    ("reserved", 0x208),
    ("signature", o::SIGNATURE),
    ("signature_reserved", o::SIGNATURE + 144),
];

/// Reads a little-endian 72-byte ECDSA component into 48 big-endian bytes.
/// The top 24 bytes must be zero.
fn le72_to_be48(b: &[u8], off: usize, field: &'static str) -> Result<[u8; 48], SnpError> {
    if b[off + 48..off + 72].iter().any(|&x| x != 0) {
        return Err(SnpError::parse(
            field,
            off + 48,
            "bytes 48..72 of the 72-byte component are not zero",
        ));
    }
    let mut out = [0u8; 48];
    for (i, v) in b[off..off + 48].iter().enumerate() {
        out[47 - i] = *v;
    }
    Ok(out)
}

impl AttestationReport {
    /// Parses a report of exactly [`REPORT_LEN`] bytes.
    ///
    /// Errors: code 21 for no bytes or all-zero bytes, code 20 for a short or
    /// long report, an unknown version, or a malformed signature field — each
    /// naming the field and its offset.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, SnpError> {
        if bytes.iter().all(|&b| b == 0) {
            return Err(SnpError::EmptyReport { len: bytes.len() });
        }
        if bytes.len() < REPORT_LEN {
            let (field, offset) = FIELDS
                .iter()
                .rev()
                .find(|(_, off)| *off <= bytes.len())
                .copied()
                .unwrap_or(("version", 0));
            return Err(SnpError::parse(
                field,
                offset,
                format!(
                    "report is {} bytes, cut off inside this field (a report is {REPORT_LEN} bytes)",
                    bytes.len()
                ),
            ));
        }
        if bytes.len() > REPORT_LEN {
            return Err(SnpError::parse(
                "end",
                REPORT_LEN,
                format!(
                    "report is {} bytes, {} more than the {REPORT_LEN} of a report",
                    bytes.len(),
                    bytes.len() - REPORT_LEN
                ),
            ));
        }
        let b = bytes;
        let version = u32_at(b, o::VERSION);
        if !(2..=5).contains(&version) {
            return Err(SnpError::parse(
                "version",
                o::VERSION,
                format!("unsupported report version {version} (2, 3, 4 or 5 expected)"),
            ));
        }
        let cpuid =
            (version >= 3).then(|| (b[o::CPUID_FAM_ID], b[o::CPUID_MOD_ID], b[o::CPUID_STEP]));
        let (launch_mit_vector, current_mit_vector) = if version >= 5 {
            (
                Some(u64_at(b, o::LAUNCH_MIT_VECTOR)),
                Some(u64_at(b, o::CURRENT_MIT_VECTOR)),
            )
        } else {
            (None, None)
        };
        let signature_r = le72_to_be48(b, o::SIGNATURE, "signature.r")?;
        let signature_s = le72_to_be48(b, o::SIGNATURE + 72, "signature.s")?;
        let ver = |off: usize| (b[off + 2], b[off + 1], b[off]);
        Ok(Self {
            raw: Box::new(arr(b, 0)),
            version,
            guest_svn: u32_at(b, o::GUEST_SVN),
            policy: GuestPolicy(u64_at(b, o::POLICY)),
            family_id: arr(b, o::FAMILY_ID),
            image_id: arr(b, o::IMAGE_ID),
            vmpl: u32_at(b, o::VMPL),
            signature_algo: u32_at(b, o::SIGNATURE_ALGO),
            current_tcb: u64_at(b, o::CURRENT_TCB),
            platform_info: u64_at(b, o::PLATFORM_INFO),
            signer_info: u32_at(b, o::SIGNER_INFO),
            report_data: arr(b, o::REPORT_DATA),
            measurement: arr(b, o::MEASUREMENT),
            host_data: arr(b, o::HOST_DATA),
            id_key_digest: arr(b, o::ID_KEY_DIGEST),
            author_key_digest: arr(b, o::AUTHOR_KEY_DIGEST),
            report_id: arr(b, o::REPORT_ID),
            report_id_ma: arr(b, o::REPORT_ID_MA),
            reported_tcb: u64_at(b, o::REPORTED_TCB),
            cpuid,
            chip_id: arr(b, o::CHIP_ID),
            committed_tcb: u64_at(b, o::COMMITTED_TCB),
            current_version: ver(o::CURRENT_VERSION),
            committed_version: ver(o::COMMITTED_VERSION),
            launch_tcb: u64_at(b, o::LAUNCH_TCB),
            launch_mit_vector,
            current_mit_vector,
            signature_r,
            signature_s,
        })
    }

    /// Writes an ECDSA P-384 signature given as fixed `r ‖ s` (96 bytes,
    /// big-endian, as aws-lc-rs' `ECDSA_P384_SHA384_FIXED_SIGNING` makes
    /// it) into the signature field of raw report bytes: r and s
    /// little-endian in 72-byte fields at 0x2A0 and 0x2E8, the rest of the
    /// field zero. For building reports (the mock); `report` must be at
    /// least [`REPORT_LEN`] bytes.
    pub fn write_signature(report: &mut [u8], sig_fixed: &[u8]) -> Result<(), SnpError> {
        if report.len() < REPORT_LEN {
            return Err(SnpError::parse(
                "signature",
                o::SIGNATURE,
                format!("report is {} bytes, {REPORT_LEN} needed", report.len()),
            ));
        }
        if sig_fixed.len() != 96 {
            return Err(SnpError::InvalidInput(format!(
                "a P-384 fixed signature is 96 bytes, not {}",
                sig_fixed.len()
            )));
        }
        let field = &mut report[o::SIGNATURE..REPORT_LEN];
        field.fill(0);
        for i in 0..48 {
            field[i] = sig_fixed[47 - i];
            field[72 + i] = sig_fixed[95 - i];
        }
        Ok(())
    }

    /// The report's bytes, exactly as parsed.
    pub fn as_bytes(&self) -> &[u8; REPORT_LEN] {
        &self.raw
    }

    /// The signed part of the report (bytes 0x000–0x29F).
    pub fn signed_bytes(&self) -> &[u8] {
        &self.raw[..SIGNED_LEN]
    }

    /// The signature as `r ‖ s`, 48 bytes each, big-endian (the "fixed"
    /// encoding of ECDSA P-384).
    pub fn signature_fixed(&self) -> [u8; 96] {
        let mut sig = [0u8; 96];
        sig[..48].copy_from_slice(&self.signature_r);
        sig[48..].copy_from_slice(&self.signature_s);
        sig
    }

    /// The key that signed the report (`SIGNER_INFO` bits 4:2).
    pub fn signing_key(&self) -> SigningKey {
        match (self.signer_info >> 2) & 0x7 {
            0 => SigningKey::Vcek,
            1 => SigningKey::Vlek,
            7 => SigningKey::None,
            n => SigningKey::Reserved(n as u8),
        }
    }

    /// Whether the guest asked for the chip id to be masked
    /// (`SIGNER_INFO.MASK_CHIP_ID`, bit 1), or the chip id is all zero.
    pub fn chip_id_masked(&self) -> bool {
        self.signer_info & 0b10 != 0 || self.chip_id.iter().all(|&b| b == 0)
    }

    /// Whether the author key is enabled (`SIGNER_INFO.AUTHOR_KEY_EN`).
    pub fn author_key_enabled(&self) -> bool {
        self.signer_info & 1 != 0
    }

    /// Whether SMT is enabled on the platform (`PLATFORM_INFO` bit 0).
    pub fn platform_smt_enabled(&self) -> bool {
        self.platform_info & 1 != 0
    }

    /// Whether TSME is enabled on the platform (`PLATFORM_INFO` bit 1).
    pub fn platform_tsme_enabled(&self) -> bool {
        self.platform_info & 2 != 0
    }

    /// The chip product the report itself tells: from CPUID family and model
    /// (v3+), else, for a v2 report, Turin when the chip id looks like a
    /// Turin one (8 significant bytes). `None` when only a certificate can
    /// tell.
    pub fn product_hint(&self) -> Option<Product> {
        match self.cpuid {
            Some((family, model, _)) => Product::from_cpuid(family, model),
            None => {
                if self.chip_id_masked() {
                    None
                } else if self.chip_id[8..].iter().all(|&b| b == 0) {
                    Some(Product::Turin)
                } else {
                    None
                }
            }
        }
    }

    /// The current TCB, read with `product`'s layout.
    pub fn current_tcb(&self, product: Product) -> TcbVersion {
        TcbVersion::from_raw(self.current_tcb, product)
    }

    /// The reported TCB (the one the VCEK is derived from).
    pub fn reported_tcb(&self, product: Product) -> TcbVersion {
        TcbVersion::from_raw(self.reported_tcb, product)
    }

    /// The committed TCB.
    pub fn committed_tcb(&self, product: Product) -> TcbVersion {
        TcbVersion::from_raw(self.committed_tcb, product)
    }

    /// The launch TCB.
    pub fn launch_tcb(&self, product: Product) -> TcbVersion {
        TcbVersion::from_raw(self.launch_tcb, product)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let mut b = vec![0u8; REPORT_LEN];
        b[0] = 2;
        b[o::SIGNATURE_ALGO] = 1;
        b[o::SIGNATURE] = 7;
        b
    }

    #[test]
    fn empty_and_short() {
        assert!(matches!(
            AttestationReport::from_bytes(&[]),
            Err(SnpError::EmptyReport { .. })
        ));
        assert!(matches!(
            AttestationReport::from_bytes(&[0u8; REPORT_LEN]),
            Err(SnpError::EmptyReport { .. })
        ));
        let b = sample();
        match AttestationReport::from_bytes(&b[..0x1A5]) {
            Err(SnpError::Parse { field, offset, .. }) => {
                assert_eq!(field, "chip_id");
                assert_eq!(offset, 0x1A0);
            }
            other => panic!("{other:?}"),
        }
        match AttestationReport::from_bytes(&[b.as_slice(), &[0]].concat()) {
            Err(SnpError::Parse { field, .. }) => assert_eq!(field, "end"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn version_and_signature_fields() {
        let mut b = sample();
        b[0] = 9;
        match AttestationReport::from_bytes(&b) {
            Err(SnpError::Parse { field, offset, .. }) => {
                assert_eq!((field, offset), ("version", 0));
            }
            other => panic!("{other:?}"),
        }
        let mut b = sample();
        b[o::SIGNATURE + 60] = 1;
        match AttestationReport::from_bytes(&b) {
            Err(SnpError::Parse { field, .. }) => assert_eq!(field, "signature.r"),
            other => panic!("{other:?}"),
        }
        let r = AttestationReport::from_bytes(&sample()).unwrap();
        assert_eq!(r.signature_r[47], 7);
        let mut b = sample();
        let mut sig = [0u8; 96];
        sig[0] = 0xAA;
        sig[95] = 0xBB;
        AttestationReport::write_signature(&mut b, &sig).unwrap();
        let w = AttestationReport::from_bytes(&b).unwrap();
        assert_eq!(w.signature_fixed(), sig);
        assert!(AttestationReport::write_signature(&mut b[..100], &sig).is_err());
        assert_eq!(r.signing_key(), SigningKey::Vcek);
        assert!(r.chip_id_masked());
        assert_eq!(r.as_bytes().as_slice(), sample().as_slice());
    }
}
