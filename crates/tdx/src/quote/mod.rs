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

mod body;

pub use body::{
    td_offsets, EnclaveReport, QuoteBody, QuoteHeader, TdAttributes, TdReport10, TdReport15,
};

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
