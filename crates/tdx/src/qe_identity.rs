//! Intel's QE identity (enclave identity version 2: `QE` for SGX, `TD_QE`
//! for TDX), as signed by the Intel SGX TCB Signing certificate and served
//! at `/{sgx,tdx}/certification/v4/qe/identity`.

use serde::Deserialize;

use crate::error::TdxError;
use crate::quote::EnclaveReport;
use crate::status::TcbStatus;
use crate::tcb_info::{date, hex_field};

/// Which quoting enclave an identity describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QeId {
    /// The SGX QE (`QE`).
    Qe,
    /// The TDX QE (`TD_QE`).
    TdQe,
    /// The quote verification enclave (`QVE`): never used for quotes.
    Qve,
}

impl QeId {
    /// Intel's name.
    pub fn as_str(self) -> &'static str {
        match self {
            QeId::Qe => "QE",
            QeId::TdQe => "TD_QE",
            QeId::Qve => "QVE",
        }
    }
}

/// One level of a QE identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QeTcbLevel {
    /// ISVSVN this level starts at.
    pub isv_svn: u16,
    /// tcbDate (Unix seconds).
    pub tcb_date: u64,
    /// tcbDate as written.
    pub tcb_date_text: String,
    /// tcbStatus.
    pub status: TcbStatus,
    /// advisoryIDs.
    pub advisory_ids: Vec<String>,
}

/// A parsed QE identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QeIdentity {
    /// Which QE.
    pub id: QeId,
    /// Version (2).
    pub version: u32,
    /// issueDate (Unix seconds).
    pub issue_date: u64,
    /// nextUpdate (Unix seconds).
    pub next_update: u64,
    /// tcbEvaluationDataNumber.
    pub tcb_evaluation_data_number: u32,
    /// MISCSELECT expected (bytes as in the report).
    pub miscselect: [u8; 4],
    /// Its mask.
    pub miscselect_mask: [u8; 4],
    /// ATTRIBUTES expected.
    pub attributes: [u8; 16],
    /// Their mask.
    pub attributes_mask: [u8; 16],
    /// MRSIGNER.
    pub mrsigner: [u8; 32],
    /// ISVPRODID.
    pub isv_prod_id: u16,
    /// Levels, in the JSON's order (Intel takes the first whose ISVSVN is
    /// not above the report's).
    pub tcb_levels: Vec<QeTcbLevel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Raw {
    id: String,
    version: u32,
    issue_date: String,
    next_update: String,
    tcb_evaluation_data_number: u32,
    miscselect: String,
    miscselect_mask: String,
    attributes: String,
    attributes_mask: String,
    mrsigner: String,
    isvprodid: u16,
    tcb_levels: Vec<RawLevel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLevel {
    tcb: RawIsvSvn,
    tcb_date: String,
    tcb_status: String,
    #[serde(default, rename = "advisoryIDs")]
    advisory_ids: Vec<String>,
}

#[derive(Deserialize)]
struct RawIsvSvn {
    isvsvn: u16,
}

/// How a QE report compares with an identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QeMismatch {
    /// Masked MISCSELECT differs.
    Miscselect,
    /// Masked ATTRIBUTES differ.
    Attributes,
    /// MRSIGNER differs.
    Mrsigner,
    /// ISVPRODID differs.
    IsvProdId,
}

impl QeIdentity {
    /// Parses the signed `enclaveIdentity` object (its JSON text).
    pub fn parse(body: &str) -> Result<Self, TdxError> {
        let what = "QE identity";
        let raw: Raw = serde_json::from_str(body)
            .map_err(|e| TdxError::collateral(what, format!("not the JSON expected: {e}")))?;
        if raw.version != 2 {
            return Err(TdxError::collateral(
                what,
                format!("unsupported version {}", raw.version),
            ));
        }
        let id = match raw.id.as_str() {
            "QE" => QeId::Qe,
            "TD_QE" => QeId::TdQe,
            "QVE" => QeId::Qve,
            other => return Err(TdxError::collateral(what, format!("unknown id {other:?}"))),
        };
        let mut tcb_levels = Vec::with_capacity(raw.tcb_levels.len());
        for l in raw.tcb_levels {
            let status: TcbStatus = l
                .tcb_status
                .parse()
                .map_err(|e: String| TdxError::collateral(what, e))?;
            if !matches!(
                status,
                TcbStatus::UpToDate
                    | TcbStatus::ConfigurationNeeded
                    | TcbStatus::OutOfDate
                    | TcbStatus::OutOfDateConfigurationNeeded
                    | TcbStatus::Revoked
            ) {
                return Err(TdxError::collateral(
                    what,
                    format!("{status} is not a QE identity status"),
                ));
            }
            tcb_levels.push(QeTcbLevel {
                isv_svn: l.tcb.isvsvn,
                tcb_date: date(&l.tcb_date, what)?,
                tcb_date_text: l.tcb_date,
                status,
                advisory_ids: l.advisory_ids,
            });
        }
        if tcb_levels.is_empty() {
            return Err(TdxError::collateral(what, "no tcbLevels"));
        }
        Ok(Self {
            id,
            version: raw.version,
            issue_date: date(&raw.issue_date, "QE identity issueDate")?,
            next_update: date(&raw.next_update, "QE identity nextUpdate")?,
            tcb_evaluation_data_number: raw.tcb_evaluation_data_number,
            miscselect: hex_field(&raw.miscselect, "QE identity miscselect")?,
            miscselect_mask: hex_field(&raw.miscselect_mask, "QE identity miscselectMask")?,
            attributes: hex_field(&raw.attributes, "QE identity attributes")?,
            attributes_mask: hex_field(&raw.attributes_mask, "QE identity attributesMask")?,
            mrsigner: hex_field(&raw.mrsigner, "QE identity mrsigner")?,
            isv_prod_id: raw.isvprodid,
            tcb_levels,
        })
    }

    /// Compares a QE report with the identity (Intel's order: MISCSELECT,
    /// ATTRIBUTES, MRSIGNER, ISVPRODID).
    pub fn matches(&self, report: &EnclaveReport) -> Result<(), QeMismatch> {
        let misc = report.misc_select.to_le_bytes();
        if misc
            .iter()
            .zip(&self.miscselect_mask)
            .map(|(a, m)| a & m)
            .ne(self.miscselect.iter().copied())
        {
            return Err(QeMismatch::Miscselect);
        }
        if report
            .attributes
            .iter()
            .zip(&self.attributes_mask)
            .map(|(a, m)| a & m)
            .ne(self.attributes.iter().copied())
        {
            return Err(QeMismatch::Attributes);
        }
        if report.mr_signer != self.mrsigner {
            return Err(QeMismatch::Mrsigner);
        }
        if report.isv_prod_id != self.isv_prod_id {
            return Err(QeMismatch::IsvProdId);
        }
        Ok(())
    }

    /// The level of a QE ISVSVN: the first, in the JSON's order, whose
    /// ISVSVN is not above it.
    pub fn level_for(&self, isv_svn: u16) -> Option<&QeTcbLevel> {
        self.tcb_levels.iter().find(|l| l.isv_svn <= isv_svn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &str = r#"{"id":"TD_QE","version":2,"issueDate":"2025-06-19T10:32:27Z","nextUpdate":"2025-07-19T10:32:27Z","tcbEvaluationDataNumber":17,"miscselect":"00000000","miscselectMask":"FFFFFFFF","attributes":"11000000000000000000000000000000","attributesMask":"FBFFFFFFFFFFFFFF0000000000000000","mrsigner":"DC9E2A7C6F948F17474E34A7FC43ED030F7C1563F1BABDDF6340C82E0E54A8C5","isvprodid":2,"tcbLevels":[{"tcb":{"isvsvn":4},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"UpToDate"},{"tcb":{"isvsvn":2},"tcbDate":"2023-01-01T00:00:00Z","tcbStatus":"OutOfDate"}]}"#;

    #[test]
    fn parses_and_matches() {
        let q = QeIdentity::parse(BODY).expect("parses");
        assert_eq!(q.id, QeId::TdQe);
        assert_eq!(q.level_for(5).map(|l| l.status), Some(TcbStatus::UpToDate));
        assert_eq!(q.level_for(3).map(|l| l.status), Some(TcbStatus::OutOfDate));
        assert!(q.level_for(1).is_none());
        let raw = vec![0u8; 384];
        let mut r = EnclaveReport::parse(&raw, 0).expect("report");
        r.attributes[0] = 0x15; // bit 2 masked out
        r.mr_signer = q.mrsigner;
        r.isv_prod_id = 2;
        assert_eq!(q.matches(&r), Ok(()));
        r.attributes[0] = 0x13;
        assert_eq!(q.matches(&r), Err(QeMismatch::Attributes));
        r.attributes[0] = 0x11;
        r.misc_select = 1;
        assert_eq!(q.matches(&r), Err(QeMismatch::Miscselect));
        r.misc_select = 0;
        r.isv_prod_id = 1;
        assert_eq!(q.matches(&r), Err(QeMismatch::IsvProdId));
        assert!(QeIdentity::parse(&BODY.replace("\"version\":2", "\"version\":1")).is_err());
    }
}
