//! The HCL report (DESIGN.md §6): parse, check the binding, build.
//!
//! ```text
//! offset  size  field
//!      0    32  header: signature "HCLA" (0x414C4348), version, report_size,
//!               request_type, status, reserved[3]          (u32, little-endian)
//!     32  1184  hardware report: SEV-SNP report, or TDREPORT (1024) + zeros
//!   1216    20  IGVM request data: data_size, version, report_type
//!               (2 SNP, 3 TVM, 4 TDX), hash_type (1/2/3 = SHA-256/384/512),
//!               var_data_size
//!   1236     n  variable data (JSON), n = var_data_size
//! ```
//! The NV index is larger than the report; the bytes after it are zero.

use aws_lc_rs::digest;
use tee_attest_snp::AttestationReport;

use crate::error::AzureError;
use crate::vardata::VarData;

/// `HCLA`, little-endian.
pub const HCL_SIGNATURE: u32 = 0x414C_4348;
/// Length of the header.
pub const HEADER_LEN: usize = 32;
/// Offset of the hardware report.
pub const HW_REPORT_OFFSET: usize = 32;
/// Length of the hardware report slot.
pub const HW_REPORT_LEN: usize = 1184;
/// Offset of the IGVM request data.
pub const IGVM_OFFSET: usize = 1216;
/// Length of the IGVM request header.
pub const IGVM_HEADER_LEN: usize = 20;
/// Offset of the variable data.
pub const VAR_DATA_OFFSET: usize = 1236;
/// Length of a TDREPORT.
pub const TDREPORT_LEN: usize = 1024;
/// Offset of report data inside a TDREPORT.
pub const TDREPORT_REPORTDATA_OFFSET: usize = 128;
/// Offset of report data inside an SNP report.
pub const SNP_REPORTDATA_OFFSET: usize = 0x50;

/// The hardware report's type (`report_type` of the IGVM request data).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportType {
    /// 2: an AMD SEV-SNP attestation report.
    Snp,
    /// 3: a TVM report.
    Tvm,
    /// 4: an Intel TDX TDREPORT.
    Tdx,
    /// Any other value.
    Other(u32),
}

impl ReportType {
    /// The wire value.
    pub fn value(self) -> u32 {
        match self {
            ReportType::Snp => 2,
            ReportType::Tvm => 3,
            ReportType::Tdx => 4,
            ReportType::Other(v) => v,
        }
    }
    /// The type of a wire value.
    pub fn from_value(v: u32) -> Self {
        match v {
            2 => ReportType::Snp,
            3 => ReportType::Tvm,
            4 => ReportType::Tdx,
            v => ReportType::Other(v),
        }
    }
    fn name(self) -> String {
        match self {
            ReportType::Snp => "SNP (2)".into(),
            ReportType::Tvm => "TVM (3)".into(),
            ReportType::Tdx => "TDX (4)".into(),
            ReportType::Other(v) => format!("unknown ({v})"),
        }
    }
}

/// The hash of the variable data that report_data carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum HashType {
    /// 1: SHA-256.
    Sha256,
    /// 2: SHA-384.
    Sha384,
    /// 3: SHA-512.
    Sha512,
}

impl HashType {
    /// The wire value.
    pub fn value(self) -> u32 {
        match self {
            HashType::Sha256 => 1,
            HashType::Sha384 => 2,
            HashType::Sha512 => 3,
        }
    }
    /// The type of a wire value.
    pub fn from_value(v: u32) -> Option<Self> {
        match v {
            1 => Some(HashType::Sha256),
            2 => Some(HashType::Sha384),
            3 => Some(HashType::Sha512),
            _ => None,
        }
    }
    /// The digest of `data`.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        let alg = match self {
            HashType::Sha256 => &digest::SHA256,
            HashType::Sha384 => &digest::SHA384,
            HashType::Sha512 => &digest::SHA512,
        };
        digest::digest(alg, data).as_ref().to_vec()
    }
}

/// The 32-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HclHeader {
    /// `HCLA` (0x414C4348).
    pub signature: u32,
    /// Header version (1 on SNP CVMs, 2 seen on TDX).
    pub version: u32,
    /// Bytes of the report in use (header to end of variable data).
    pub report_size: u32,
    /// Request type (0 invalid, 1 key release, 2 AK certificate).
    pub request_type: u32,
    /// Status.
    pub status: u32,
    /// Reserved.
    pub reserved: [u32; 3],
}

/// The 20-byte IGVM request header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IgvmRequestHeader {
    /// Size of the request data: this header plus the variable data.
    pub data_size: u32,
    /// Version (1).
    pub version: u32,
    /// The hardware report's type.
    pub report_type: ReportType,
    /// Raw hash type (1/2/3).
    pub hash_type: u32,
    /// Length of the variable data.
    pub var_data_size: u32,
}

/// A parsed HCL report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HclReport {
    /// The header.
    pub header: HclHeader,
    /// The 1184-byte hardware report slot.
    pub hw_report: Vec<u8>,
    /// The IGVM request header.
    pub igvm: IgvmRequestHeader,
    /// The variable data (JSON bytes).
    pub var_data: Vec<u8>,
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[off..off + 4]);
    u32::from_le_bytes(a)
}

impl HclReport {
    /// Parses an HCL report as read from the NV index (trailing bytes after
    /// the variable data are ignored). Code 21 for an empty or all-zero
    /// blob, 20 naming field and offset for anything malformed.
    pub fn from_bytes(b: &[u8]) -> Result<Self, AzureError> {
        if b.iter().all(|&x| x == 0) {
            return Err(AzureError::EmptyReport { len: b.len() });
        }
        let need = |field: &'static str, off: usize, len: usize| {
            if b.len() < off + len {
                Err(AzureError::parse(
                    field,
                    off,
                    format!("blob is {} bytes, {len} needed here", b.len()),
                ))
            } else {
                Ok(())
            }
        };
        need("header", 0, HEADER_LEN)?;
        let signature = u32_at(b, 0);
        if signature != HCL_SIGNATURE {
            return Err(AzureError::parse(
                "signature",
                0,
                format!("{signature:#010x}, not \"HCLA\" ({HCL_SIGNATURE:#010x})"),
            ));
        }
        let header = HclHeader {
            signature,
            version: u32_at(b, 4),
            report_size: u32_at(b, 8),
            request_type: u32_at(b, 12),
            status: u32_at(b, 16),
            reserved: [u32_at(b, 20), u32_at(b, 24), u32_at(b, 28)],
        };
        need("hw_report", HW_REPORT_OFFSET, HW_REPORT_LEN)?;
        need("igvm_request_data", IGVM_OFFSET, IGVM_HEADER_LEN)?;
        let igvm = IgvmRequestHeader {
            data_size: u32_at(b, IGVM_OFFSET),
            version: u32_at(b, IGVM_OFFSET + 4),
            report_type: ReportType::from_value(u32_at(b, IGVM_OFFSET + 8)),
            hash_type: u32_at(b, IGVM_OFFSET + 12),
            var_data_size: u32_at(b, IGVM_OFFSET + 16),
        };
        if let ReportType::Other(v) = igvm.report_type {
            return Err(AzureError::parse(
                "report_type",
                IGVM_OFFSET + 8,
                format!("unknown report type {v} (2 SNP, 3 TVM, 4 TDX)"),
            ));
        }
        if HashType::from_value(igvm.hash_type).is_none() {
            return Err(AzureError::parse(
                "hash_type",
                IGVM_OFFSET + 12,
                format!("unknown hash type {} (1, 2, 3)", igvm.hash_type),
            ));
        }
        let var_len = igvm.var_data_size as usize;
        if b.len() - VAR_DATA_OFFSET < var_len {
            return Err(AzureError::parse(
                "var_data",
                VAR_DATA_OFFSET,
                format!(
                    "var_data_size is {var_len} but only {} bytes follow",
                    b.len() - VAR_DATA_OFFSET
                ),
            ));
        }
        if igvm.data_size as usize != IGVM_HEADER_LEN + var_len {
            return Err(AzureError::parse(
                "data_size",
                IGVM_OFFSET,
                format!(
                    "data_size {} is not {IGVM_HEADER_LEN} + var_data_size {var_len}",
                    igvm.data_size
                ),
            ));
        }
        Ok(Self {
            header,
            hw_report: b[HW_REPORT_OFFSET..HW_REPORT_OFFSET + HW_REPORT_LEN].to_vec(),
            igvm,
            var_data: b[VAR_DATA_OFFSET..VAR_DATA_OFFSET + var_len].to_vec(),
        })
    }

    /// A new report around a hardware report and variable data, with the
    /// header and IGVM sizes filled in (header version 1, request type 2 =
    /// AK certificate, status 0). `hw_report` is padded with zeros to
    /// 1184 bytes (a TDREPORT is 1024). The hardware report's report data
    /// must already bind `var_data` (see [`HashType::digest`]).
    pub fn new(
        report_type: ReportType,
        hash_type: HashType,
        hw_report: &[u8],
        var_data: Vec<u8>,
    ) -> Result<Self, AzureError> {
        if hw_report.len() > HW_REPORT_LEN {
            return Err(AzureError::parse(
                "hw_report",
                HW_REPORT_OFFSET,
                format!("{} bytes do not fit the 1184-byte slot", hw_report.len()),
            ));
        }
        let var_size = u32::try_from(var_data.len())
            .map_err(|_| AzureError::parse("var_data", VAR_DATA_OFFSET, "too long"))?;
        let mut hw = hw_report.to_vec();
        hw.resize(HW_REPORT_LEN, 0);
        Ok(Self {
            header: HclHeader {
                signature: HCL_SIGNATURE,
                version: 1,
                report_size: VAR_DATA_OFFSET as u32 + var_size,
                request_type: 2,
                status: 0,
                reserved: [0; 3],
            },
            hw_report: hw,
            igvm: IgvmRequestHeader {
                data_size: IGVM_HEADER_LEN as u32 + var_size,
                version: 1,
                report_type,
                hash_type: hash_type.value(),
                var_data_size: var_size,
            },
            var_data,
        })
    }

    /// The report's bytes: header to the end of the variable data.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(VAR_DATA_OFFSET + self.var_data.len());
        let h = &self.header;
        for v in [
            h.signature,
            h.version,
            h.report_size,
            h.request_type,
            h.status,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        for v in h.reserved {
            out.extend_from_slice(&v.to_le_bytes());
        }
        let mut hw = self.hw_report.clone();
        hw.resize(HW_REPORT_LEN, 0);
        out.extend_from_slice(&hw);
        let i = &self.igvm;
        for v in [
            i.data_size,
            i.version,
            i.report_type.value(),
            i.hash_type,
            i.var_data_size,
        ] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.var_data);
        out
    }

    /// The bytes as the NV index holds them: [`to_bytes`](Self::to_bytes)
    /// padded with zeros to `nv_size` (when longer).
    pub fn to_nv_bytes(&self, nv_size: usize) -> Vec<u8> {
        let mut out = self.to_bytes();
        if out.len() < nv_size {
            out.resize(nv_size, 0);
        }
        out
    }

    /// The report's type.
    pub fn report_type(&self) -> ReportType {
        self.igvm.report_type
    }

    /// The report type of an HCL report blob from its header alone (the
    /// `HCLA` signature and the IGVM request data's type), without parsing
    /// the rest: how a machine's vTPM is recognised as an Azure CVM's.
    pub fn peek_type(blob: &[u8]) -> Option<ReportType> {
        if blob.get(0..4)? != HCL_SIGNATURE.to_le_bytes().as_slice() {
            return None;
        }
        let t = blob.get(IGVM_OFFSET + 8..IGVM_OFFSET + 12)?;
        Some(ReportType::from_value(u32::from_le_bytes(
            t.try_into().ok()?,
        )))
    }

    /// The hash type of the binding.
    pub fn hash_type(&self) -> Option<HashType> {
        HashType::from_value(self.igvm.hash_type)
    }

    /// The hardware report's 64 bytes of report data (SNP at 0x50, TDX
    /// TDREPORT at 128).
    pub fn report_data(&self) -> Option<&[u8]> {
        let off = match self.igvm.report_type {
            ReportType::Snp => SNP_REPORTDATA_OFFSET,
            ReportType::Tdx => TDREPORT_REPORTDATA_OFFSET,
            _ => return None,
        };
        self.hw_report.get(off..off + 64)
    }

    /// Checks that report data begins with the hash (of the stated type) of
    /// the variable data.
    pub fn check_binding(&self) -> Result<(), AzureError> {
        let hash = self
            .hash_type()
            .ok_or_else(|| AzureError::Binding("unknown hash type".into()))?;
        let rd = self.report_data().ok_or_else(|| {
            AzureError::Binding(format!(
                "report type {} has no known report data",
                self.report_type().name()
            ))
        })?;
        let digest = hash.digest(&self.var_data);
        if rd.get(..digest.len()) != Some(digest.as_slice()) {
            return Err(AzureError::Binding(format!(
                "report_data does not begin with the {:?} of the variable data",
                hash
            )));
        }
        Ok(())
    }

    /// The SEV-SNP report, parsed (SNP reports only).
    pub fn snp_report(&self) -> Result<AttestationReport, AzureError> {
        if self.igvm.report_type != ReportType::Snp {
            return Err(AzureError::ReportType {
                found: self.igvm.report_type.name(),
                expected: "SNP (2)",
            });
        }
        Ok(AttestationReport::from_bytes(&self.hw_report)?)
    }

    /// The TDREPORT (TDX reports only): the first 1024 bytes of the slot.
    pub fn tdreport(&self) -> Result<&[u8], AzureError> {
        if self.igvm.report_type != ReportType::Tdx {
            return Err(AzureError::ReportType {
                found: self.igvm.report_type.name(),
                expected: "TDX (4)",
            });
        }
        Ok(&self.hw_report[..TDREPORT_LEN])
    }

    /// The variable data, parsed.
    pub fn var_data(&self) -> Result<VarData, AzureError> {
        VarData::from_bytes(&self.var_data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_parse_round_trip() {
        let var = br#"{"keys":[]}"#.to_vec();
        let mut hw = vec![0u8; 1184];
        hw[0] = 2;
        let h = HashType::Sha384.digest(&var);
        hw[SNP_REPORTDATA_OFFSET..SNP_REPORTDATA_OFFSET + 48].copy_from_slice(&h);
        let r = HclReport::new(ReportType::Snp, HashType::Sha384, &hw, var).unwrap();
        let bytes = r.to_nv_bytes(2048);
        assert_eq!(bytes.len(), 2048);
        let p = HclReport::from_bytes(&bytes).unwrap();
        assert_eq!(p, r);
        p.check_binding().unwrap();
        let mut bad = p.clone();
        bad.var_data[2] ^= 1;
        assert!(matches!(bad.check_binding(), Err(AzureError::Binding(_))));
    }

    #[test]
    fn errors_name_fields() {
        assert!(matches!(
            HclReport::from_bytes(&[0; 100]),
            Err(AzureError::EmptyReport { .. })
        ));
        let mut b = vec![0u8; 1300];
        b[0] = 1;
        assert!(matches!(
            HclReport::from_bytes(&b),
            Err(AzureError::Parse {
                field: "signature",
                offset: 0,
                ..
            })
        ));
        b[..4].copy_from_slice(&HCL_SIGNATURE.to_le_bytes());
        assert!(matches!(
            HclReport::from_bytes(&b[..500]),
            Err(AzureError::Parse {
                field: "hw_report",
                offset: 32,
                ..
            })
        ));
        b[IGVM_OFFSET + 8] = 2;
        b[IGVM_OFFSET + 12] = 1;
        b[IGVM_OFFSET + 16] = 200;
        assert!(matches!(
            HclReport::from_bytes(&b),
            Err(AzureError::Parse {
                field: "var_data",
                ..
            })
        ));
    }
}
