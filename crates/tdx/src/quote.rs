//! Intel DCAP quotes: SGX quote v3, TDX quotes v4 and v5 (and the SGX
//! forms of v4/v5), parsed by their declared lengths.
//!
//! ```text
//! v3, v4   header (48) ‖ body (SGX enclave report 384 | TD 1.0 584) ‖ sig-data len (4) ‖ sig data
//! v5       header (48) ‖ body type (2) ‖ body size (4) ‖ body (384 | 584 | 648) ‖ sig-data len ‖ sig data
//! signed   header ‖ [type ‖ size ‖] body  (by the attestation key)
//!
//! sig data v4/v5  signature (64) ‖ attestation key (64) ‖ certification data
//! sig data v3     signature (64) ‖ attestation key (64) ‖ QE report (384) ‖ QE report signature (64)
//!                 ‖ QE auth data (2 + n) ‖ certification data
//! certification data  type (2) ‖ size (4) ‖ data
//!   type 6  QE report (384) ‖ QE report signature (64) ‖ QE auth data (2 + n) ‖ certification data (type 1–5)
//!   type 5  PCK certificate chain, PEM (leaf, intermediate CA, root CA)
//! ```
//!
//! Bytes after the declared signature data (real quotes are zero padded,
//! some carry more) are ignored; inside it, every byte must belong to a
//! declared field (stricter than Intel's library, which ignores bytes left
//! over inside the signature data). Every length field is bounds-checked and
//! every error names the field and its offset in the quote.

use crate::bytes::Reader;
use crate::error::TdxError;

/// Length of the quote header.
pub const HEADER_LEN: usize = 48;
/// Length of an SGX enclave report (also the QE report).
pub const ENCLAVE_REPORT_LEN: usize = 384;
/// Length of a TD 1.0 quote body.
pub const TD10_BODY_LEN: usize = 584;
/// Length of a TD 1.5 quote body.
pub const TD15_BODY_LEN: usize = 648;
/// TEE type of SGX quotes.
pub const TEE_TYPE_SGX: u32 = 0x0000_0000;
/// TEE type of TDX quotes.
pub const TEE_TYPE_TDX: u32 = 0x0000_0081;
/// Attestation key type ECDSA-256 with P-256 (the only one in use).
pub const ATT_KEY_TYPE_ECDSA_P256: u16 = 2;
/// Certification data type: the PCK certificate chain (PEM).
pub const CERT_TYPE_PCK_CHAIN: u16 = 5;
/// Certification data type: QE report certification data.
pub const CERT_TYPE_QE_REPORT: u16 = 6;
/// v5 body type of an SGX enclave report.
pub const BODY_TYPE_SGX: u16 = 1;
/// v5 body type of a TD 1.0 report.
pub const BODY_TYPE_TD10: u16 = 2;
/// v5 body type of a TD 1.5 report.
pub const BODY_TYPE_TD15: u16 = 3;
/// Intel's QE vendor id.
pub const INTEL_QE_VENDOR_ID: [u8; 16] = [
    0x93, 0x9A, 0x72, 0x33, 0xF7, 0x9C, 0x4C, 0xA9, 0x94, 0x0A, 0x0D, 0xB3, 0x95, 0x7F, 0x06, 0x07,
];
/// The longest QE authentication data or certification data accepted (a
/// PCK chain is about 4 KiB; this bounds allocations on hostile input).
const MAX_CERT_DATA: usize = 1 << 20;

const S: &str = "quote";

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
    fn parse(r: &mut Reader<'_>) -> Result<Self, TdxError> {
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
    fn parse(r: &mut Reader<'_>) -> Result<Self, TdxError> {
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

/// Certification data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CertificationData {
    /// Type 6: the QE report, its signature by the PCK, the QE
    /// authentication data and the nested certification data. SGX v3
    /// quotes, whose signature data carries these directly, are read into
    /// the same shape.
    QeReport(Box<QeReportCertification>),
    /// Type 5: the PCK certificate chain (PEM text, leaf first).
    PckCertChain(Vec<u8>),
    /// Types 1–4 (PPID forms, a lone PCK certificate) and unknown types.
    Other {
        /// The type.
        cert_type: u16,
        /// The data.
        data: Vec<u8>,
    },
}

impl CertificationData {
    /// The type number.
    pub fn cert_type(&self) -> u16 {
        match self {
            CertificationData::QeReport(_) => CERT_TYPE_QE_REPORT,
            CertificationData::PckCertChain(_) => CERT_TYPE_PCK_CHAIN,
            CertificationData::Other { cert_type, .. } => *cert_type,
        }
    }
}

/// Type 6 certification data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QeReportCertification {
    /// The QE's report.
    pub qe_report: EnclaveReport,
    /// Its ECDSA-P256 signature by the PCK (r ‖ s).
    pub qe_report_signature: [u8; 64],
    /// QE authentication data.
    pub qe_auth_data: Vec<u8>,
    /// The nested certification data (type 1–5; 5 in practice).
    pub certification: CertificationData,
}

/// The quote's signature data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureData {
    /// ECDSA-P256 signature of header and body (r ‖ s).
    pub signature: [u8; 64],
    /// The attestation key (x ‖ y).
    pub attestation_key: [u8; 64],
    /// The certification data.
    pub certification: CertificationData,
}

/// A parsed quote, with the bytes it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// The header.
    pub header: QuoteHeader,
    /// The body.
    pub body: QuoteBody,
    /// The signature data.
    pub signature_data: SignatureData,
    raw: Vec<u8>,
    signed_len: usize,
    body_offset: usize,
    end: usize,
}

fn parse_cert_data(r: &mut Reader<'_>, nested: bool) -> Result<CertificationData, TdxError> {
    let cert_type = r.u16("certification_data.type")?;
    let size = r.u32("certification_data.size")? as usize;
    if size > MAX_CERT_DATA {
        return Err(r.error(
            "certification_data.size",
            format!("{size} bytes is more than any certification data"),
        ));
    }
    let data_offset = r.offset();
    let data = r.take(size, "certification_data.data")?;
    match cert_type {
        CERT_TYPE_QE_REPORT if nested => Err(TdxError::parse(
            S,
            "certification_data.type",
            data_offset - 6,
            "type 6 nested in type 6",
        )),
        CERT_TYPE_QE_REPORT => {
            let mut q = Reader::new(data, S, data_offset);
            let qe = parse_qe_part(&mut q)?;
            let certification = parse_cert_data(&mut q, true)?;
            if q.remaining() != 0 {
                return Err(q.error(
                    "certification_data.data",
                    format!(
                        "{} bytes after the nested certification data",
                        q.remaining()
                    ),
                ));
            }
            Ok(CertificationData::QeReport(Box::new(
                QeReportCertification {
                    qe_report: qe.0,
                    qe_report_signature: qe.1,
                    qe_auth_data: qe.2,
                    certification,
                },
            )))
        }
        CERT_TYPE_PCK_CHAIN => Ok(CertificationData::PckCertChain(data.to_vec())),
        t => Ok(CertificationData::Other {
            cert_type: t,
            data: data.to_vec(),
        }),
    }
}

fn parse_qe_part(r: &mut Reader<'_>) -> Result<(EnclaveReport, [u8; 64], Vec<u8>), TdxError> {
    let off = r.offset();
    let qe_report = EnclaveReport::parse(r.take(ENCLAVE_REPORT_LEN, "qe_report")?, off)?;
    let qe_report_signature = r.array("qe_report_signature")?;
    let auth_len = r.u16("qe_auth_data.size")? as usize;
    let qe_auth_data = r.take(auth_len, "qe_auth_data.data")?.to_vec();
    Ok((qe_report, qe_report_signature, qe_auth_data))
}

impl Quote {
    /// Parses a quote (v3 SGX; v4 and v5, TDX or SGX). Checks structure
    /// only: versions, types and lengths; [`crate::DcapVerifier`] checks
    /// the rest.
    pub fn parse(bytes: &[u8]) -> Result<Self, TdxError> {
        if bytes.iter().all(|&b| b == 0) {
            return Err(TdxError::Empty {
                what: "quote",
                len: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes, S, 0);
        let header = QuoteHeader::parse(&mut r)?;
        let tdx = match header.tee_type {
            TEE_TYPE_SGX => false,
            TEE_TYPE_TDX => true,
            t => {
                return Err(TdxError::parse(
                    S,
                    "header.tee_type",
                    4,
                    format!("{t:#x} is neither SGX (0) nor TDX (0x81)"),
                ))
            }
        };
        let (body, body_offset) = match header.version {
            3 | 4 => {
                if header.version == 3 && tdx {
                    return Err(TdxError::parse(
                        S,
                        "header.version",
                        0,
                        "a v3 quote is SGX only",
                    ));
                }
                let off = r.offset();
                let body = if tdx {
                    let b = r.take(TD10_BODY_LEN, "body")?;
                    QuoteBody::Td10(TdReport10::parse(&mut Reader::new(b, S, off))?)
                } else {
                    QuoteBody::SgxEnclave(EnclaveReport::parse(
                        r.take(ENCLAVE_REPORT_LEN, "body")?,
                        off,
                    )?)
                };
                (body, off)
            }
            5 => {
                let body_type = r.u16("body.type")?;
                let body_size = r.u32("body.size")? as usize;
                let expected = match body_type {
                    BODY_TYPE_SGX => ENCLAVE_REPORT_LEN,
                    BODY_TYPE_TD10 => TD10_BODY_LEN,
                    BODY_TYPE_TD15 => TD15_BODY_LEN,
                    t => {
                        return Err(TdxError::parse(
                            S,
                            "body.type",
                            HEADER_LEN,
                            format!("unknown body type {t}"),
                        ))
                    }
                };
                if (body_type == BODY_TYPE_SGX) == tdx {
                    return Err(TdxError::parse(
                        S,
                        "body.type",
                        HEADER_LEN,
                        format!(
                            "body type {body_type} does not fit TEE type {:#x}",
                            header.tee_type
                        ),
                    ));
                }
                if body_size != expected {
                    return Err(TdxError::parse(
                        S,
                        "body.size",
                        HEADER_LEN + 2,
                        format!("{body_size}, but body type {body_type} is {expected} bytes"),
                    ));
                }
                let off = r.offset();
                let b = r.take(body_size, "body")?;
                let mut br = Reader::new(b, S, off);
                let body = match body_type {
                    BODY_TYPE_SGX => QuoteBody::SgxEnclave(EnclaveReport::parse(b, off)?),
                    BODY_TYPE_TD10 => QuoteBody::Td10(TdReport10::parse(&mut br)?),
                    _ => {
                        let base = TdReport10::parse(&mut br)?;
                        QuoteBody::Td15(TdReport15 {
                            base,
                            tee_tcb_svn2: br.array("body.tee_tcb_svn2")?,
                            mr_service_td: br.array("body.mr_service_td")?,
                        })
                    }
                };
                (body, off)
            }
            v => {
                return Err(TdxError::parse(
                    S,
                    "header.version",
                    0,
                    format!("unsupported quote version {v}"),
                ))
            }
        };
        let signed_len = r.pos();
        let sig_len = r.u32("signature_data.size")? as usize;
        let sig_off = r.offset();
        let sig = r.take(sig_len, "signature_data")?;
        let mut s = Reader::new(sig, S, sig_off);
        let signature = s.array("signature_data.signature")?;
        let attestation_key = s.array("signature_data.attestation_key")?;
        let certification = if header.version == 3 {
            let qe = parse_qe_part(&mut s)?;
            let certification = parse_cert_data(&mut s, true)?;
            CertificationData::QeReport(Box::new(QeReportCertification {
                qe_report: qe.0,
                qe_report_signature: qe.1,
                qe_auth_data: qe.2,
                certification,
            }))
        } else {
            parse_cert_data(&mut s, false)?
        };
        if s.remaining() != 0 {
            return Err(s.error(
                "signature_data.size",
                format!(
                    "{} bytes of the declared signature data are not part of it",
                    s.remaining()
                ),
            ));
        }
        let end = sig_off + s.pos();
        Ok(Self {
            header,
            body,
            signature_data: SignatureData {
                signature,
                attestation_key,
                certification,
            },
            raw: bytes.to_vec(),
            signed_len,
            body_offset,
            end,
        })
    }

    /// The bytes the quote was parsed from.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// The bytes the attestation key signed: header, (v5 body type and
    /// size,) body.
    pub fn signed_bytes(&self) -> &[u8] {
        &self.raw[..self.signed_len]
    }

    /// Where the body starts in the quote.
    pub fn body_offset(&self) -> usize {
        self.body_offset
    }

    /// Where the parsed signature data (and so the quote as declared) ends;
    /// bytes after it are padding.
    pub fn declared_len(&self) -> usize {
        self.end
    }

    /// Whether the quote is from a TD.
    pub fn is_tdx(&self) -> bool {
        self.header.is_tdx()
    }

    /// The type 6 part (QE report, its signature, auth data), if present.
    pub fn qe_certification(&self) -> Option<&QeReportCertification> {
        match &self.signature_data.certification {
            CertificationData::QeReport(q) => Some(q),
            _ => None,
        }
    }

    /// The PCK certificate chain (PEM) carried in the quote, if any: type 5
    /// nested in type 6, or type 5 directly.
    pub fn pck_chain_pem(&self) -> Option<&[u8]> {
        let cd = match &self.signature_data.certification {
            CertificationData::QeReport(q) => &q.certification,
            other => other,
        };
        match cd {
            CertificationData::PckCertChain(p) => Some(p),
            _ => None,
        }
    }

    /// The PCK certificate chain carried in the quote, as DER certificates
    /// (leaf first, as the PEM lists them); empty when the quote carries
    /// none (certification data types 1–4) or its PEM does not decode.
    /// For providers that pass the chain on beside the quote; verification
    /// reads the PEM itself, strictly ([`crate::DcapVerifier`]).
    pub fn pck_chain_der(&self) -> Vec<Vec<u8>> {
        self.pck_chain_pem()
            .and_then(|pem| crate::pki::pem_blocks(pem, "CERTIFICATE").ok())
            .unwrap_or_default()
    }

    /// TEE_TCB_SVN of a TD quote.
    pub fn tee_tcb_svn(&self) -> Option<[u8; 16]> {
        self.body.td().map(|t| t.tee_tcb_svn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal v4 TDX quote with type 6 → type 5 certification data.
    pub(crate) fn synthetic_v4() -> Vec<u8> {
        let mut q = Vec::new();
        q.extend_from_slice(&4u16.to_le_bytes());
        q.extend_from_slice(&2u16.to_le_bytes());
        q.extend_from_slice(&TEE_TYPE_TDX.to_le_bytes());
        q.extend_from_slice(&[0; 4]);
        q.extend_from_slice(&INTEL_QE_VENDOR_ID);
        q.extend_from_slice(&[0; 20]);
        q.extend_from_slice(&[7; TD10_BODY_LEN]);
        let chain = b"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n";
        let mut inner = Vec::new();
        inner.extend_from_slice(&[1; ENCLAVE_REPORT_LEN]);
        inner.extend_from_slice(&[2; 64]);
        inner.extend_from_slice(&3u16.to_le_bytes());
        inner.extend_from_slice(&[9, 9, 9]);
        inner.extend_from_slice(&5u16.to_le_bytes());
        inner.extend_from_slice(&(chain.len() as u32).to_le_bytes());
        inner.extend_from_slice(chain);
        let mut sig = Vec::new();
        sig.extend_from_slice(&[4; 64]);
        sig.extend_from_slice(&[5; 64]);
        sig.extend_from_slice(&6u16.to_le_bytes());
        sig.extend_from_slice(&(inner.len() as u32).to_le_bytes());
        sig.extend_from_slice(&inner);
        q.extend_from_slice(&(sig.len() as u32).to_le_bytes());
        q.extend_from_slice(&sig);
        q.extend_from_slice(&[0; 70]);
        q
    }

    #[test]
    fn parses_a_synthetic_v4() {
        let b = synthetic_v4();
        let q = Quote::parse(&b).expect("parses");
        assert!(q.is_tdx());
        assert_eq!(q.signed_bytes().len(), HEADER_LEN + TD10_BODY_LEN);
        assert_eq!(q.declared_len(), b.len() - 70);
        let qe = q.qe_certification().expect("type 6");
        assert_eq!(qe.qe_auth_data, vec![9, 9, 9]);
        assert!(q.pck_chain_pem().is_some());
        assert_eq!(q.body.td().map(|t| t.mr_td), Some([7; 48]));
    }

    #[test]
    fn errors_name_field_and_offset() {
        let mut b = synthetic_v4();
        b[0] = 9;
        let e = Quote::parse(&b)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("header.version") && e.contains("unsupported"),
            "{e}"
        );
        let b = synthetic_v4();
        let e = Quote::parse(&b[..600])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("field body") && e.contains("0x30"), "{e}");
        // A declared certification size past the end.
        let mut b = synthetic_v4();
        let at = HEADER_LEN + TD10_BODY_LEN + 4 + 128 + 2;
        b[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        let e = Quote::parse(&b)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("certification_data.size"), "{e}");
        assert!(matches!(
            Quote::parse(&[0u8; 10]),
            Err(TdxError::Empty { .. })
        ));
    }

    #[test]
    fn td_attributes() {
        let a = TdAttributes(1 | (1 << 28));
        assert!(a.debug() && a.sept_ve_disable() && !a.key_locker() && !a.perfmon());
    }
}
