//! The fixed-size parts of a quote: the header, the SGX enclave report
//! (also the QE report) and the TD 1.0 / 1.5 bodies, with their decoded
//! fields.

use super::*;

/// The 48-byte quote header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuoteHeader {
    /// Quote version (3, 4 or 5).
    pub version: u16,
    /// Attestation key type (2 = ECDSA-256 with P-256).
    pub att_key_type: u16,
    /// TEE type (0 SGX, 0x81 TDX).
    pub tee_type: u32,
    /// Bytes 8..12: QE SVN and PCE SVN in v3, reserved since v4.
    pub reserved: [u8; 4],
    /// The QE vendor id.
    pub qe_vendor_id: [u8; 16],
    /// User data (the first 16 bytes are the platform's QE id for Intel's QE).
    pub user_data: [u8; 20],
}

impl QuoteHeader {
    pub(super) fn parse(r: &mut Reader<'_>) -> Result<Self, TdxError> {
        Ok(Self {
            version: r.u16("header.version")?,
            att_key_type: r.u16("header.att_key_type")?,
            tee_type: r.u32("header.tee_type")?,
            reserved: r.array("header.reserved")?,
            qe_vendor_id: r.array("header.qe_vendor_id")?,
            user_data: r.array("header.user_data")?,
        })
    }

    /// Whether the quote is from a TD.
    pub fn is_tdx(&self) -> bool {
        self.tee_type == TEE_TYPE_TDX
    }

    /// The header's bytes.
    pub fn to_bytes(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0..2].copy_from_slice(&self.version.to_le_bytes());
        b[2..4].copy_from_slice(&self.att_key_type.to_le_bytes());
        b[4..8].copy_from_slice(&self.tee_type.to_le_bytes());
        b[8..12].copy_from_slice(&self.reserved);
        b[12..28].copy_from_slice(&self.qe_vendor_id);
        b[28..48].copy_from_slice(&self.user_data);
        b
    }
}

/// An SGX enclave report (384 bytes): a quote body of SGX quotes, and the
/// QE report of every quote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnclaveReport {
    /// CPUSVN.
    pub cpu_svn: [u8; 16],
    /// MISCSELECT (little-endian in the report).
    pub misc_select: u32,
    /// ISVEXTPRODID.
    pub isv_ext_prod_id: [u8; 16],
    /// ATTRIBUTES (flags then XFRM).
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
    /// The 384 bytes as they are in the quote.
    pub raw: Vec<u8>,
}

impl EnclaveReport {
    /// Parses 384 bytes (`base` is their offset in the enclosing structure,
    /// for error messages).
    pub fn parse(bytes: &[u8], base: usize) -> Result<Self, TdxError> {
        let mut r = Reader::new(bytes, S, base);
        let raw = r.take(ENCLAVE_REPORT_LEN, "enclave_report")?;
        let mut r = Reader::new(raw, S, base);
        let cpu_svn = r.array("report.cpu_svn")?;
        let misc_select = r.u32("report.misc_select")?;
        r.take(12, "report.reserved1")?;
        let isv_ext_prod_id = r.array("report.isv_ext_prod_id")?;
        let attributes = r.array("report.attributes")?;
        let mr_enclave = r.array("report.mr_enclave")?;
        r.take(32, "report.reserved2")?;
        let mr_signer = r.array("report.mr_signer")?;
        r.take(32, "report.reserved3")?;
        let config_id = r.array("report.config_id")?;
        let isv_prod_id = r.u16("report.isv_prod_id")?;
        let isv_svn = r.u16("report.isv_svn")?;
        let config_svn = r.u16("report.config_svn")?;
        r.take(42, "report.reserved4")?;
        let isv_family_id = r.array("report.isv_family_id")?;
        let report_data = r.array("report.report_data")?;
        Ok(Self {
            cpu_svn,
            misc_select,
            isv_ext_prod_id,
            attributes,
            mr_enclave,
            mr_signer,
            config_id,
            isv_prod_id,
            isv_svn,
            config_svn,
            isv_family_id,
            report_data,
            raw: raw.to_vec(),
        })
    }

    /// Whether the enclave is debuggable (ATTRIBUTES.DEBUG, bit 1).
    pub fn is_debug(&self) -> bool {
        self.attributes[0] & 0x02 != 0
    }
}

/// A TD 1.0 quote body (584 bytes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdReport10 {
    /// TEE_TCB_SVN: [0] TDX module minor SVN, [1] module major version, [2..] SEAM components.
    pub tee_tcb_svn: [u8; 16],
    /// MRSEAM: the TDX module's measurement.
    pub mr_seam: [u8; 48],
    /// MRSIGNERSEAM: the TDX module signer (zero for Intel's).
    pub mr_signer_seam: [u8; 48],
    /// SEAMATTRIBUTES.
    pub seam_attributes: [u8; 8],
    /// TDATTRIBUTES.
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
}

/// Offsets of the TD quote body's fields, from the start of the body.
pub mod td_offsets {
    /// TEE_TCB_SVN.
    pub const TEE_TCB_SVN: usize = 0;
    /// MRSEAM.
    pub const MR_SEAM: usize = 16;
    /// MRSIGNERSEAM.
    pub const MR_SIGNER_SEAM: usize = 64;
    /// SEAMATTRIBUTES.
    pub const SEAM_ATTRIBUTES: usize = 112;
    /// TDATTRIBUTES.
    pub const TD_ATTRIBUTES: usize = 120;
    /// XFAM.
    pub const XFAM: usize = 128;
    /// MRTD.
    pub const MR_TD: usize = 136;
    /// MRCONFIGID.
    pub const MR_CONFIG_ID: usize = 184;
    /// MROWNER.
    pub const MR_OWNER: usize = 232;
    /// MROWNERCONFIG.
    pub const MR_OWNER_CONFIG: usize = 280;
    /// RTMR0 (RTMR1–3 follow, 48 bytes each).
    pub const RTMR0: usize = 328;
    /// REPORTDATA.
    pub const REPORT_DATA: usize = 520;
    /// TEE_TCB_SVN2 (TD 1.5).
    pub const TEE_TCB_SVN2: usize = 584;
    /// MRSERVICETD (TD 1.5).
    pub const MR_SERVICE_TD: usize = 600;
}

impl TdReport10 {
    pub(super) fn parse(r: &mut Reader<'_>) -> Result<Self, TdxError> {
        Ok(Self {
            tee_tcb_svn: r.array("body.tee_tcb_svn")?,
            mr_seam: r.array("body.mr_seam")?,
            mr_signer_seam: r.array("body.mr_signer_seam")?,
            seam_attributes: r.array("body.seam_attributes")?,
            td_attributes: r.array("body.td_attributes")?,
            xfam: r.array("body.xfam")?,
            mr_td: r.array("body.mr_td")?,
            mr_config_id: r.array("body.mr_config_id")?,
            mr_owner: r.array("body.mr_owner")?,
            mr_owner_config: r.array("body.mr_owner_config")?,
            rtmr: [
                r.array("body.rtmr0")?,
                r.array("body.rtmr1")?,
                r.array("body.rtmr2")?,
                r.array("body.rtmr3")?,
            ],
            report_data: r.array("body.report_data")?,
        })
    }

    /// The TD attributes, decoded.
    pub fn attributes(&self) -> TdAttributes {
        TdAttributes(u64::from_le_bytes(self.td_attributes))
    }
}

/// A TD 1.5 quote body (648 bytes): TD 1.0's, then TEE_TCB_SVN2 and MRSERVICETD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdReport15 {
    /// The TD 1.0 fields.
    pub base: TdReport10,
    /// TEE_TCB_SVN2: the SVNs of the module the TD would run after a relaunch.
    pub tee_tcb_svn2: [u8; 16],
    /// MRSERVICETD: the hash of the service TDs bound to this TD (zero when none).
    pub mr_service_td: [u8; 48],
}

/// TDATTRIBUTES, decoded (Intel TDX module ABI, TD attributes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TdAttributes(pub u64);

impl TdAttributes {
    /// DEBUG (bit 0): the host can read the TD's state and memory.
    pub fn debug(self) -> bool {
        self.0 & 1 != 0
    }
    /// SEPT_VE_DISABLE (bit 28): EPT violations on pending pages do not become #VE.
    pub fn sept_ve_disable(self) -> bool {
        self.0 & (1 << 28) != 0
    }
    /// PKS (bit 30): supervisor protection keys allowed.
    pub fn protection_keys(self) -> bool {
        self.0 & (1 << 30) != 0
    }
    /// KL (bit 31): Key Locker allowed.
    pub fn key_locker(self) -> bool {
        self.0 & (1 << 31) != 0
    }
    /// PERFMON (bit 63): performance monitoring allowed.
    pub fn perfmon(self) -> bool {
        self.0 & (1 << 63) != 0
    }
}

/// The quote body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QuoteBody {
    /// An SGX enclave report.
    SgxEnclave(EnclaveReport),
    /// A TD 1.0 report.
    Td10(TdReport10),
    /// A TD 1.5 report.
    Td15(TdReport15),
}

impl QuoteBody {
    /// The TD fields (TD 1.0 and TD 1.5 bodies), `None` for SGX.
    pub fn td(&self) -> Option<&TdReport10> {
        match self {
            QuoteBody::SgxEnclave(_) => None,
            QuoteBody::Td10(t) => Some(t),
            QuoteBody::Td15(t) => Some(&t.base),
        }
    }

    /// The enclave report of an SGX quote.
    pub fn enclave(&self) -> Option<&EnclaveReport> {
        match self {
            QuoteBody::SgxEnclave(e) => Some(e),
            _ => None,
        }
    }

    /// The report data of the body.
    pub fn report_data(&self) -> &[u8; 64] {
        match self {
            QuoteBody::SgxEnclave(e) => &e.report_data,
            QuoteBody::Td10(t) => &t.report_data,
            QuoteBody::Td15(t) => &t.base.report_data,
        }
    }

    /// The v5 body type this body has (1, 2, 3).
    pub fn body_type(&self) -> u16 {
        match self {
            QuoteBody::SgxEnclave(_) => BODY_TYPE_SGX,
            QuoteBody::Td10(_) => BODY_TYPE_TD10,
            QuoteBody::Td15(_) => BODY_TYPE_TD15,
        }
    }
}
