//! The 1024-byte TDREPORT (TDG.MR.REPORT's output), as a TD reads it
//! before the quoting enclave turns it into a quote.
//!
//! ```text
//!    0  REPORTMACSTRUCT (256): report type (4), reserved (12), CPUSVN (16),
//!       TEE_TCB_INFO hash (48), TEE_INFO hash (48), REPORTDATA (64), reserved (32), MAC (32)
//!  256  TEE_TCB_INFO (239): valid (8), TEE_TCB_SVN (16), MRSEAM (48), MRSIGNERSEAM (48),
//!       ATTRIBUTES (8), TEE_TCB_SVN2 (16, TDX 1.5), reserved
//!  495  reserved (17)
//!  512  TDINFO (512): ATTRIBUTES (8), XFAM (8), MRTD, MRCONFIGID, MROWNER, MROWNERCONFIG,
//!       RTMR0–3 (48 each), SERVTD_HASH (48, TDX 1.5), reserved
//! ```
//!
//! The MAC can only be checked on the platform that made the report; off
//! the platform, [`TdReport::check_hashes`] checks that the two hashes in
//! REPORTMACSTRUCT cover TEE_TCB_INFO and TDINFO.

use aws_lc_rs::digest;

use crate::bytes::Reader;
use crate::error::TdxError;

/// Length of a TDREPORT.
pub const TDREPORT_LEN: usize = 1024;
/// Offset of REPORTDATA in a TDREPORT.
pub const REPORT_DATA_OFFSET: usize = 128;
/// Offset of TEE_TCB_INFO.
pub const TEE_TCB_INFO_OFFSET: usize = 256;
/// Length of TEE_TCB_INFO covered by its hash.
pub const TEE_TCB_INFO_LEN: usize = 239;
/// Offset of TDINFO.
pub const TDINFO_OFFSET: usize = 512;
/// Length of TDINFO.
pub const TDINFO_LEN: usize = 512;

const S: &str = "TDREPORT";

/// A parsed TDREPORT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdReport {
    /// Report type: type (0x81 = TDX), subtype, version, reserved.
    pub report_type: [u8; 4],
    /// CPUSVN.
    pub cpu_svn: [u8; 16],
    /// SHA-384 of TEE_TCB_INFO.
    pub tee_tcb_info_hash: [u8; 48],
    /// SHA-384 of TDINFO.
    pub tee_info_hash: [u8; 48],
    /// REPORTDATA.
    pub report_data: [u8; 64],
    /// The MAC (checkable on the platform only).
    pub mac: [u8; 32],
    /// TEE_TCB_INFO.valid: which fields are valid.
    pub tcb_valid: [u8; 8],
    /// TEE_TCB_SVN.
    pub tee_tcb_svn: [u8; 16],
    /// MRSEAM.
    pub mr_seam: [u8; 48],
    /// MRSIGNERSEAM.
    pub mr_signer_seam: [u8; 48],
    /// SEAM attributes.
    pub seam_attributes: [u8; 8],
    /// TEE_TCB_SVN2 (zero before TDX 1.5).
    pub tee_tcb_svn2: [u8; 16],
    /// TD attributes.
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
    /// SERVTD_HASH (zero before TDX 1.5).
    pub servtd_hash: [u8; 48],
    raw: Vec<u8>,
}

impl TdReport {
    /// Parses the first 1024 bytes of `bytes` (an HCL report slot or a
    /// kernel buffer may be longer).
    pub fn parse(bytes: &[u8]) -> Result<Self, TdxError> {
        if bytes.iter().take(TDREPORT_LEN).all(|&b| b == 0) {
            return Err(TdxError::Empty {
                what: "TDREPORT",
                len: bytes.len(),
            });
        }
        let mut r = Reader::new(bytes, S, 0);
        let raw = r.take(TDREPORT_LEN, "tdreport")?;
        let mut r = Reader::new(raw, S, 0);
        let report_type = r.array("reportmacstruct.report_type")?;
        r.take(12, "reportmacstruct.reserved1")?;
        let cpu_svn = r.array("reportmacstruct.cpu_svn")?;
        let tee_tcb_info_hash = r.array("reportmacstruct.tee_tcb_info_hash")?;
        let tee_info_hash = r.array("reportmacstruct.tee_info_hash")?;
        let report_data = r.array("reportmacstruct.report_data")?;
        r.take(32, "reportmacstruct.reserved2")?;
        let mac = r.array("reportmacstruct.mac")?;
        let tcb_valid = r.array("tee_tcb_info.valid")?;
        let tee_tcb_svn = r.array("tee_tcb_info.tee_tcb_svn")?;
        let mr_seam = r.array("tee_tcb_info.mr_seam")?;
        let mr_signer_seam = r.array("tee_tcb_info.mr_signer_seam")?;
        let seam_attributes = r.array("tee_tcb_info.attributes")?;
        let tee_tcb_svn2 = r.array("tee_tcb_info.tee_tcb_svn2")?;
        r.take(TDINFO_OFFSET - r.pos(), "reserved")?;
        let td_attributes = r.array("tdinfo.attributes")?;
        let xfam = r.array("tdinfo.xfam")?;
        let mr_td = r.array("tdinfo.mr_td")?;
        let mr_config_id = r.array("tdinfo.mr_config_id")?;
        let mr_owner = r.array("tdinfo.mr_owner")?;
        let mr_owner_config = r.array("tdinfo.mr_owner_config")?;
        let rtmr = [
            r.array("tdinfo.rtmr0")?,
            r.array("tdinfo.rtmr1")?,
            r.array("tdinfo.rtmr2")?,
            r.array("tdinfo.rtmr3")?,
        ];
        let servtd_hash = r.array("tdinfo.servtd_hash")?;
        Ok(Self {
            report_type,
            cpu_svn,
            tee_tcb_info_hash,
            tee_info_hash,
            report_data,
            mac,
            tcb_valid,
            tee_tcb_svn,
            mr_seam,
            mr_signer_seam,
            seam_attributes,
            tee_tcb_svn2,
            td_attributes,
            xfam,
            mr_td,
            mr_config_id,
            mr_owner,
            mr_owner_config,
            rtmr,
            servtd_hash,
            raw: raw.to_vec(),
        })
    }

    /// The 1024 bytes.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Whether the report type says TDX (0x81).
    pub fn is_tdx(&self) -> bool {
        self.report_type[0] == 0x81
    }

    /// Checks that TEE_TCB_INFO_HASH is SHA-384(TEE_TCB_INFO) and
    /// TEE_INFO_HASH is SHA-384(TDINFO): the parts of the report the MAC
    /// covers only through these hashes belong to it.
    pub fn check_hashes(&self) -> Result<(), TdxError> {
        let tcb = &self.raw[TEE_TCB_INFO_OFFSET..TEE_TCB_INFO_OFFSET + TEE_TCB_INFO_LEN];
        if digest::digest(&digest::SHA384, tcb).as_ref() != self.tee_tcb_info_hash {
            return Err(TdxError::parse(
                S,
                "reportmacstruct.tee_tcb_info_hash",
                32,
                "is not the SHA-384 of TEE_TCB_INFO",
            ));
        }
        let info = &self.raw[TDINFO_OFFSET..TDINFO_OFFSET + TDINFO_LEN];
        if digest::digest(&digest::SHA384, info).as_ref() != self.tee_info_hash {
            return Err(TdxError::parse(
                S,
                "reportmacstruct.tee_info_hash",
                80,
                "is not the SHA-384 of TDINFO",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn synthetic() -> Vec<u8> {
        let mut b = vec![0u8; TDREPORT_LEN];
        b[0] = 0x81;
        b[128..192].copy_from_slice(&[0xAB; 64]);
        b[512 + 16] = 0x11;
        let tcb = digest::digest(&digest::SHA384, &b[256..495]);
        b[32..80].copy_from_slice(tcb.as_ref());
        let info = digest::digest(&digest::SHA384, &b[512..1024]);
        b[80..128].copy_from_slice(info.as_ref());
        b
    }

    #[test]
    fn parses_and_checks_hashes() {
        let b = synthetic();
        let r = TdReport::parse(&b).expect("parses");
        assert!(r.is_tdx());
        assert_eq!(r.report_data, [0xAB; 64]);
        assert_eq!(r.mr_td[0], 0x11);
        assert!(r.check_hashes().is_ok());
        let mut bad = b.clone();
        bad[600] ^= 1;
        let e = TdReport::parse(&bad).and_then(|r| r.check_hashes());
        assert!(matches!(
            e,
            Err(TdxError::Parse {
                field: "reportmacstruct.tee_info_hash",
                ..
            })
        ));
        let e = TdReport::parse(&b[..1000])
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("TDREPORT") && e.contains("tdreport"), "{e}");
    }
}
