//! The bodies the mock platform quotes, laid out byte for byte as Intel's
//! DCAP quote specification (and the TDX module ABI for the TDREPORT) has
//! them; the quote assembly itself is [`super::MockIntelPlatform`]'s.
//!
//! ```text
//! SGX enclave report (384)   cpusvn 16 | miscselect 4 | res 12 | isvextprodid 16 | attributes 16
//!                            | mrenclave 32 | res 32 | mrsigner 32 | res 32 | configid 64
//!                            | isvprodid 2 | isvsvn 2 | configsvn 2 | res 42 | isvfamilyid 16 | reportdata 64
//! TD 1.0 body (584)          tee_tcb_svn 16 | mrseam 48 | mrsignerseam 48 | seamattributes 8
//!                            | tdattributes 8 | xfam 8 | mrtd 48 | mrconfigid 48 | mrowner 48
//!                            | mrownerconfig 48 | rtmr0..3 4×48 | reportdata 64
//! TD 1.5 body (648)          TD 1.0 body | tee_tcb_svn2 16 | mrservicetd 48
//! ```

use tee_attest_tdx::quote::{td_offsets as off, ENCLAVE_REPORT_LEN, TD10_BODY_LEN, TD15_BODY_LEN};
use tee_attest_tdx::TdReport;

/// Which TDX quote to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TdQuoteKind {
    /// Quote v4 with a TD 1.0 body.
    V4,
    /// Quote v5 with a TD 1.0 body (body type 2).
    V5Td10,
    /// Quote v5 with a TD 1.5 body (body type 3).
    V5Td15,
}

/// A deterministic 48-byte value for a default measurement.
fn pattern48(tag: u8) -> [u8; 48] {
    let mut out = [0u8; 48];
    for (i, b) in out.iter_mut().enumerate() {
        *b = tag.wrapping_mul(31).wrapping_add(i as u8);
    }
    out
}

/// Everything a TD quote body (TD 1.0 or 1.5) says: the SEAM (TDX module)
/// fields the platform sets and the TD's own measurements, attributes and
/// report data. [`super::MockIntelPlatform::td`] gives one whose SEAM
/// fields match the platform's TCB info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockTd {
    /// TEE_TCB_SVN: [0] module SVN, [1] module major version, [2..] SEAM components.
    pub tee_tcb_svn: [u8; 16],
    /// MRSEAM.
    pub mr_seam: [u8; 48],
    /// MRSIGNERSEAM (zero for Intel's modules).
    pub mr_signer_seam: [u8; 48],
    /// SEAMATTRIBUTES (zero).
    pub seam_attributes: [u8; 8],
    /// TDATTRIBUTES (bit 0 debug, bit 28 SEPT_VE_DISABLE, …), little-endian.
    pub td_attributes: [u8; 8],
    /// XFAM.
    pub xfam: [u8; 8],
    /// MRTD.
    pub mr_td: [u8; 48],
    /// MRCONFIGID.
    pub mr_config_id: [u8; 48],
    /// MROWNER.
    pub mr_owner: [u8; 48],
    /// MROWNERCONFIG.
    pub mr_owner_config: [u8; 48],
    /// RTMR0–3.
    pub rtmr: [[u8; 48]; 4],
    /// REPORTDATA.
    pub report_data: [u8; 64],
    /// TEE_TCB_SVN2 (TD 1.5 bodies and TDREPORTs).
    pub tee_tcb_svn2: [u8; 16],
    /// MRSERVICETD / SERVTD_HASH (TD 1.5; zero when no service TD).
    pub mr_service_td: [u8; 48],
}

/// The default TDX module SVNs: module SVN 5, major version 1, SEAM
/// component 2.
pub const DEFAULT_TEE_TCB_SVN: [u8; 16] = [5, 1, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

impl Default for MockTd {
    /// A production TD (not debug, SEPT_VE_DISABLE set, the XFAM of real
    /// TDs) on the default TDX module, with fixed mock measurements and
    /// zero report data.
    fn default() -> Self {
        Self {
            tee_tcb_svn: DEFAULT_TEE_TCB_SVN,
            mr_seam: pattern48(1),
            mr_signer_seam: [0; 48],
            seam_attributes: [0; 8],
            td_attributes: (1u64 << 28).to_le_bytes(),
            xfam: [0xE7, 0x02, 0x06, 0, 0, 0, 0, 0],
            mr_td: pattern48(2),
            mr_config_id: [0; 48],
            mr_owner: [0; 48],
            mr_owner_config: [0; 48],
            rtmr: [pattern48(3), pattern48(4), pattern48(5), [0; 48]],
            report_data: [0; 64],
            tee_tcb_svn2: DEFAULT_TEE_TCB_SVN,
            mr_service_td: [0; 48],
        }
    }
}

impl MockTd {
    /// The TD 1.0 quote body.
    pub fn td10_body(&self) -> [u8; TD10_BODY_LEN] {
        let mut b = [0u8; TD10_BODY_LEN];
        let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
        put(off::TEE_TCB_SVN, &self.tee_tcb_svn);
        put(off::MR_SEAM, &self.mr_seam);
        put(off::MR_SIGNER_SEAM, &self.mr_signer_seam);
        put(off::SEAM_ATTRIBUTES, &self.seam_attributes);
        put(off::TD_ATTRIBUTES, &self.td_attributes);
        put(off::XFAM, &self.xfam);
        put(off::MR_TD, &self.mr_td);
        put(off::MR_CONFIG_ID, &self.mr_config_id);
        put(off::MR_OWNER, &self.mr_owner);
        put(off::MR_OWNER_CONFIG, &self.mr_owner_config);
        for (i, r) in self.rtmr.iter().enumerate() {
            put(off::RTMR0 + 48 * i, r);
        }
        put(off::REPORT_DATA, &self.report_data);
        b
    }

    /// The TD 1.5 quote body: the TD 1.0 body, TEE_TCB_SVN2, MRSERVICETD.
    pub fn td15_body(&self) -> [u8; TD15_BODY_LEN] {
        let mut b = [0u8; TD15_BODY_LEN];
        b[..TD10_BODY_LEN].copy_from_slice(&self.td10_body());
        b[off::TEE_TCB_SVN2..off::TEE_TCB_SVN2 + 16].copy_from_slice(&self.tee_tcb_svn2);
        b[off::MR_SERVICE_TD..off::MR_SERVICE_TD + 48].copy_from_slice(&self.mr_service_td);
        b
    }

    /// The TD a TDREPORT describes (SERVTD_HASH as MRSERVICETD).
    pub fn from_tdreport(r: &TdReport) -> Self {
        Self {
            tee_tcb_svn: r.tee_tcb_svn,
            mr_seam: r.mr_seam,
            mr_signer_seam: r.mr_signer_seam,
            seam_attributes: r.seam_attributes,
            td_attributes: r.td_attributes,
            xfam: r.xfam,
            mr_td: r.mr_td,
            mr_config_id: r.mr_config_id,
            mr_owner: r.mr_owner,
            mr_owner_config: r.mr_owner_config,
            rtmr: r.rtmr,
            report_data: r.report_data,
            tee_tcb_svn2: r.tee_tcb_svn2,
            mr_service_td: r.servtd_hash,
        }
    }
}

/// An SGX enclave report: the body of SGX quotes and the QE report of every
/// quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockEnclave {
    /// CPUSVN.
    pub cpu_svn: [u8; 16],
    /// MISCSELECT.
    pub misc_select: u32,
    /// ISVEXTPRODID.
    pub isv_ext_prod_id: [u8; 16],
    /// ATTRIBUTES: flags (bit 1 debug) then XFRM.
    pub attributes: [u8; 16],
    /// MRENCLAVE.
    pub mr_enclave: [u8; 32],
    /// MRSIGNER.
    pub mr_signer: [u8; 32],
    /// CONFIGID.
    pub config_id: [u8; 64],
    /// ISVPRODID.
    pub isv_prod_id: u16,
    /// ISVSVN.
    pub isv_svn: u16,
    /// CONFIGSVN.
    pub config_svn: u16,
    /// ISVFAMILYID.
    pub isv_family_id: [u8; 16],
    /// REPORTDATA.
    pub report_data: [u8; 64],
}

/// Production enclave attributes: INIT and MODE64BIT, not DEBUG; XFRM 0xE7.
const ENCLAVE_ATTRIBUTES: [u8; 16] = [0x05, 0, 0, 0, 0, 0, 0, 0, 0xE7, 0, 0, 0, 0, 0, 0, 0];

impl Default for MockEnclave {
    /// A production (not debug) enclave with mock measurements.
    fn default() -> Self {
        Self {
            cpu_svn: [0; 16],
            misc_select: 0,
            isv_ext_prod_id: [0; 16],
            attributes: ENCLAVE_ATTRIBUTES,
            mr_enclave: [0x5E; 32],
            mr_signer: [0x51; 32],
            config_id: [0; 64],
            isv_prod_id: 1,
            isv_svn: 1,
            config_svn: 0,
            isv_family_id: [0; 16],
            report_data: [0; 64],
        }
    }
}

impl MockEnclave {
    /// The 384-byte report.
    pub fn to_bytes(&self) -> [u8; ENCLAVE_REPORT_LEN] {
        let mut b = [0u8; ENCLAVE_REPORT_LEN];
        let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
        put(0, &self.cpu_svn);
        put(16, &self.misc_select.to_le_bytes());
        put(32, &self.isv_ext_prod_id);
        put(48, &self.attributes);
        put(64, &self.mr_enclave);
        put(128, &self.mr_signer);
        put(192, &self.config_id);
        put(256, &self.isv_prod_id.to_le_bytes());
        put(258, &self.isv_svn.to_le_bytes());
        put(260, &self.config_svn.to_le_bytes());
        put(304, &self.isv_family_id);
        put(320, &self.report_data);
        b
    }

    /// A mock quoting enclave's identity: Intel's QE attributes (INIT,
    /// MODE64BIT, PROVISIONKEY; XFRM 0xE7), a mock MRENCLAVE and MRSIGNER,
    /// the product id (1 for the SGX QE, 2 for the TD QE) and ISVSVN.
    pub fn quoting_enclave(isv_prod_id: u16, isv_svn: u16) -> Self {
        let tag = isv_prod_id as u8;
        Self {
            attributes: [0x15, 0, 0, 0, 0, 0, 0, 0, 0xE7, 0, 0, 0, 0, 0, 0, 0],
            mr_enclave: [0xE0 | tag; 32],
            mr_signer: [0xC0 | tag; 32],
            isv_prod_id,
            isv_svn,
            ..Self::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tee_attest_tdx::EnclaveReport;

    #[test]
    fn enclave_report_round_trips_through_the_parser() {
        let e = MockEnclave {
            misc_select: 0x0102_0304,
            isv_prod_id: 7,
            isv_svn: 9,
            config_svn: 3,
            report_data: [0xAA; 64],
            ..MockEnclave::default()
        };
        let r = EnclaveReport::parse(&e.to_bytes(), 0).expect("parses");
        assert_eq!(r.misc_select, 0x0102_0304);
        assert_eq!((r.isv_prod_id, r.isv_svn, r.config_svn), (7, 9, 3));
        assert_eq!(r.mr_enclave, e.mr_enclave);
        assert_eq!(r.mr_signer, e.mr_signer);
        assert_eq!(r.report_data, [0xAA; 64]);
        assert!(!r.is_debug());
    }
}
