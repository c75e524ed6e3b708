//! Intel's TCB info (versions 2 and 3; `id` SGX or TDX), as signed by the
//! Intel SGX TCB Signing certificate and served by the PCS at
//! `/{sgx,tdx}/certification/v4/tcb?fmspc=…`.
//!
//! TCB levels are kept in Intel's order, not the JSON's: descending by the
//! SGX components (lexicographically), then PCESVN, then (TDX) the TDX
//! components; two equal levels are refused, as Intel's library does.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde::Deserialize;
use tee_attest_snp::parse_rfc3339;

use crate::error::TdxError;
use crate::status::TcbStatus;

/// What a TCB info describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TcbId {
    /// SGX platforms (and TCB info version 2).
    Sgx,
    /// TDX platforms.
    Tdx,
}

/// One TCB level.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcbLevel {
    /// SGX TCB component SVNs.
    pub sgx_components: [u8; 16],
    /// PCESVN.
    pub pce_svn: u16,
    /// TDX TCB component SVNs (TDX TCB info).
    pub tdx_components: Option<[u8; 16]>,
    /// tcbDate (Unix seconds).
    pub tcb_date: u64,
    /// tcbDate as written.
    pub tcb_date_text: String,
    /// tcbStatus.
    pub status: TcbStatus,
    /// advisoryIDs.
    pub advisory_ids: Vec<String>,
}

/// One level of a TDX module identity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModuleTcbLevel {
    /// The module's ISVSVN (TEE_TCB_SVN[0]) this level starts at.
    pub isv_svn: u8,
    /// tcbDate (Unix seconds).
    pub tcb_date: u64,
    /// tcbDate as written.
    pub tcb_date_text: String,
    /// tcbStatus (UpToDate, OutOfDate or Revoked).
    pub status: TcbStatus,
    /// advisoryIDs.
    pub advisory_ids: Vec<String>,
}

/// The identity of a TDX module (`tdxModule`, or one of
/// `tdxModuleIdentities`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TdxModuleIdentity {
    /// `TDX_%02X` (empty for `tdxModule`).
    pub id: String,
    /// MRSIGNERSEAM expected.
    pub mrsigner: [u8; 48],
    /// SEAM attributes expected.
    pub attributes: [u8; 8],
    /// Their mask.
    pub attributes_mask: [u8; 8],
    /// Levels, descending by ISVSVN (empty for `tdxModule`).
    pub tcb_levels: Vec<ModuleTcbLevel>,
}

/// A parsed TCB info.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcbInfo {
    /// SGX or TDX.
    pub id: TcbId,
    /// Version (2 or 3).
    pub version: u32,
    /// issueDate (Unix seconds).
    pub issue_date: u64,
    /// nextUpdate (Unix seconds).
    pub next_update: u64,
    /// FMSPC.
    pub fmspc: [u8; 6],
    /// PCEID.
    pub pce_id: [u8; 2],
    /// tcbType (0).
    pub tcb_type: u32,
    /// tcbEvaluationDataNumber.
    pub tcb_evaluation_data_number: u32,
    /// tdxModule (TDX).
    pub tdx_module: Option<TdxModuleIdentity>,
    /// tdxModuleIdentities (TDX).
    pub tdx_module_identities: Vec<TdxModuleIdentity>,
    /// Levels in Intel's order (highest first).
    pub tcb_levels: Vec<TcbLevel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawTcbInfo {
    #[serde(default)]
    id: Option<String>,
    version: u32,
    issue_date: String,
    next_update: String,
    fmspc: String,
    pce_id: String,
    tcb_type: u32,
    tcb_evaluation_data_number: u32,
    #[serde(default)]
    tdx_module: Option<RawModule>,
    #[serde(default)]
    tdx_module_identities: Option<Vec<RawModule>>,
    tcb_levels: Vec<RawLevel>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawModule {
    #[serde(default)]
    id: Option<String>,
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
    #[serde(default)]
    tcb_levels: Option<Vec<RawModuleLevel>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawModuleLevel {
    tcb: RawIsvSvn,
    tcb_date: String,
    tcb_status: String,
    #[serde(default, rename = "advisoryIDs")]
    advisory_ids: Vec<String>,
}

#[derive(Deserialize)]
struct RawIsvSvn {
    isvsvn: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawLevel {
    tcb: RawTcb,
    tcb_date: String,
    tcb_status: String,
    #[serde(default, rename = "advisoryIDs")]
    advisory_ids: Vec<String>,
}

#[derive(Deserialize)]
struct RawTcb {
    #[serde(default)]
    sgxtcbcomponents: Option<Vec<RawComponent>>,
    #[serde(default)]
    tdxtcbcomponents: Option<Vec<RawComponent>>,
    pcesvn: u32,
    /// Version 2: `sgxtcbcomp01svn` … `sgxtcbcomp16svn`.
    #[serde(flatten)]
    v2: BTreeMap<String, serde_json::Value>,
}

#[derive(Deserialize)]
struct RawComponent {
    svn: u32,
}

pub(crate) fn hex_field<const N: usize>(s: &str, what: &str) -> Result<[u8; N], TdxError> {
    let v = hex::decode(s).map_err(|e| TdxError::collateral(what, format!("not hex: {e}")))?;
    v.as_slice()
        .try_into()
        .map_err(|_| TdxError::collateral(what, format!("{} bytes, expected {N}", v.len())))
}

pub(crate) fn date(s: &str, what: &str) -> Result<u64, TdxError> {
    parse_rfc3339(s).ok_or_else(|| TdxError::collateral(what, format!("{s:?} is not an ISO date")))
}

fn svn8(v: u32, what: &str) -> Result<u8, TdxError> {
    u8::try_from(v).map_err(|_| TdxError::collateral(what, format!("SVN {v} is over 255")))
}

fn components(c: &[RawComponent], what: &str) -> Result<[u8; 16], TdxError> {
    if c.len() != 16 {
        return Err(TdxError::collateral(
            what,
            format!("{} components, expected 16", c.len()),
        ));
    }
    let mut out = [0u8; 16];
    for (o, c) in out.iter_mut().zip(c) {
        *o = svn8(c.svn, what)?;
    }
    Ok(out)
}

fn module(m: RawModule, with_levels: bool) -> Result<TdxModuleIdentity, TdxError> {
    let what = "TCB info tdxModule";
    let mut tcb_levels = Vec::new();
    if with_levels {
        let levels = m
            .tcb_levels
            .ok_or_else(|| TdxError::collateral(what, "a module identity has no tcbLevels"))?;
        for l in levels {
            let status: TcbStatus = l
                .tcb_status
                .parse()
                .map_err(|e: String| TdxError::collateral(what, e))?;
            if !status.valid_in_module_identity() {
                return Err(TdxError::collateral(
                    what,
                    format!("{status} is not a TDX module status"),
                ));
            }
            tcb_levels.push(ModuleTcbLevel {
                isv_svn: svn8(l.tcb.isvsvn, what)?,
                tcb_date: date(&l.tcb_date, what)?,
                tcb_date_text: l.tcb_date,
                status,
                advisory_ids: l.advisory_ids,
            });
        }
        if tcb_levels.is_empty() {
            return Err(TdxError::collateral(
                what,
                "a module identity has no levels",
            ));
        }
        tcb_levels.sort_by_key(|l| std::cmp::Reverse(l.isv_svn));
        if tcb_levels.windows(2).any(|w| w[0].isv_svn == w[1].isv_svn) {
            return Err(TdxError::collateral(what, "duplicated module TCB levels"));
        }
    }
    Ok(TdxModuleIdentity {
        id: m.id.unwrap_or_default(),
        mrsigner: hex_field(&m.mrsigner, "tdxModule mrsigner")?,
        attributes: hex_field(&m.attributes, "tdxModule attributes")?,
        attributes_mask: hex_field(&m.attributes_mask, "tdxModule attributesMask")?,
        tcb_levels,
    })
}

/// Intel's level order (`TcbLevel::operator>`), as an ordering where the
/// higher level is greater.
fn level_cmp(a: &TcbLevel, b: &TcbLevel) -> Ordering {
    a.sgx_components
        .cmp(&b.sgx_components)
        .then(a.pce_svn.cmp(&b.pce_svn))
        .then(a.tdx_components.cmp(&b.tdx_components))
}

impl TcbInfo {
    /// Parses the signed `tcbInfo` object (its JSON text).
    pub fn parse(body: &str) -> Result<Self, TdxError> {
        let what = "TCB info";
        let raw: RawTcbInfo = serde_json::from_str(body)
            .map_err(|e| TdxError::collateral(what, format!("not the JSON expected: {e}")))?;
        let id = match (raw.version, raw.id.as_deref()) {
            (2, _) => TcbId::Sgx,
            (3, Some("SGX")) => TcbId::Sgx,
            (3, Some("TDX")) => TcbId::Tdx,
            (3, other) => {
                return Err(TdxError::collateral(
                    what,
                    format!("unsupported id {other:?}"),
                ))
            }
            (v, _) => {
                return Err(TdxError::collateral(
                    what,
                    format!("unsupported version {v}"),
                ))
            }
        };
        if raw.tcb_type != 0 {
            return Err(TdxError::collateral(
                what,
                format!("tcbType {} is not supported (only 0)", raw.tcb_type),
            ));
        }
        let (tdx_module, tdx_module_identities) = match id {
            TcbId::Tdx => {
                let m = raw
                    .tdx_module
                    .ok_or_else(|| TdxError::collateral(what, "a TDX TCB info has no tdxModule"))?;
                let ids = raw
                    .tdx_module_identities
                    .unwrap_or_default()
                    .into_iter()
                    .map(|m| module(m, true))
                    .collect::<Result<Vec<_>, _>>()?;
                (Some(module(m, false)?), ids)
            }
            TcbId::Sgx => {
                if raw.tdx_module.is_some() || raw.tdx_module_identities.is_some() {
                    return Err(TdxError::collateral(
                        what,
                        "an SGX TCB info has TDX module fields",
                    ));
                }
                (None, Vec::new())
            }
        };
        let mut tcb_levels = Vec::with_capacity(raw.tcb_levels.len());
        for l in raw.tcb_levels {
            let status: TcbStatus = l
                .tcb_status
                .parse()
                .map_err(|e: String| TdxError::collateral(what, e))?;
            if !status.valid_in_tcb_info() {
                return Err(TdxError::collateral(
                    what,
                    format!("{status} is not a TCB info status"),
                ));
            }
            let sgx_components = if raw.version == 2 {
                let mut out = [0u8; 16];
                for (i, o) in out.iter_mut().enumerate() {
                    let key = format!("sgxtcbcomp{:02}svn", i + 1);
                    let v = l
                        .tcb
                        .v2
                        .get(&key)
                        .and_then(serde_json::Value::as_u64)
                        .ok_or_else(|| TdxError::collateral(what, format!("no {key}")))?;
                    *o = svn8(u32::try_from(v).unwrap_or(u32::MAX), what)?;
                }
                out
            } else {
                components(
                    l.tcb
                        .sgxtcbcomponents
                        .as_deref()
                        .ok_or_else(|| TdxError::collateral(what, "no sgxtcbcomponents"))?,
                    "TCB info sgxtcbcomponents",
                )?
            };
            let tdx_components = match id {
                TcbId::Tdx => Some(components(
                    l.tcb
                        .tdxtcbcomponents
                        .as_deref()
                        .ok_or_else(|| TdxError::collateral(what, "no tdxtcbcomponents"))?,
                    "TCB info tdxtcbcomponents",
                )?),
                TcbId::Sgx => None,
            };
            tcb_levels.push(TcbLevel {
                sgx_components,
                pce_svn: u16::try_from(l.tcb.pcesvn)
                    .map_err(|_| TdxError::collateral(what, "pcesvn over 65535"))?,
                tdx_components,
                tcb_date: date(&l.tcb_date, what)?,
                tcb_date_text: l.tcb_date,
                status,
                advisory_ids: l.advisory_ids,
            });
        }
        if tcb_levels.is_empty() {
            return Err(TdxError::collateral(what, "no tcbLevels"));
        }
        tcb_levels.sort_by(|a, b| level_cmp(b, a));
        if tcb_levels
            .windows(2)
            .any(|w| level_cmp(&w[0], &w[1]) == Ordering::Equal)
        {
            return Err(TdxError::collateral(what, "duplicated TCB levels"));
        }
        Ok(Self {
            id,
            version: raw.version,
            issue_date: date(&raw.issue_date, "TCB info issueDate")?,
            next_update: date(&raw.next_update, "TCB info nextUpdate")?,
            fmspc: hex_field(&raw.fmspc, "TCB info fmspc")?,
            pce_id: hex_field(&raw.pce_id, "TCB info pceId")?,
            tcb_type: raw.tcb_type,
            tcb_evaluation_data_number: raw.tcb_evaluation_data_number,
            tdx_module,
            tdx_module_identities,
            tcb_levels,
        })
    }

    /// The module identity `TDX_%02X` of a module major version
    /// (case-insensitive, as Intel compares).
    pub fn module_identity(&self, major: u8) -> Option<&TdxModuleIdentity> {
        let want = format!("TDX_{major:02X}");
        self.tdx_module_identities
            .iter()
            .find(|m| m.id.eq_ignore_ascii_case(&want))
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn level(sgx: u8, pce: u16, tdx: [u8; 3], status: &str, date: &str) -> String {
        let comps = |first: &[u8]| {
            (0..16)
                .map(|i| format!("{{\"svn\":{}}}", first.get(i).copied().unwrap_or(0)))
                .collect::<Vec<_>>()
                .join(",")
        };
        format!(
            r#"{{"tcb":{{"sgxtcbcomponents":[{}],"pcesvn":{pce},"tdxtcbcomponents":[{}]}},"tcbDate":"{date}","tcbStatus":"{status}","advisoryIDs":["INTEL-SA-{sgx:05}"]}}"#,
            comps(&[sgx]),
            comps(&tdx)
        )
    }

    #[test]
    fn parses_and_orders_levels_as_intel() {
        let body = format!(
            r#"{{"id":"TDX","version":3,"issueDate":"2025-01-01T00:00:00Z","nextUpdate":"2025-02-01T00:00:00Z","fmspc":"B0C06F000000","pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":17,"tdxModule":{{"mrsigner":"{z96}","attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF"}},"tdxModuleIdentities":[{{"id":"tdx_01","mrsigner":"{z96}","attributes":"0000000000000000","attributesMask":"FFFFFFFFFFFFFFFF","tcbLevels":[{{"tcb":{{"isvsvn":2}},"tcbDate":"2023-08-09T00:00:00Z","tcbStatus":"OutOfDate"}},{{"tcb":{{"isvsvn":4}},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"UpToDate"}}]}}],"tcbLevels":[{},{},{}]}}"#,
            level(2, 5, [5, 0, 2], "OutOfDate", "2018-01-04T00:00:00Z"),
            level(2, 11, [5, 0, 2], "UpToDate", "2024-03-13T00:00:00Z"),
            level(2, 11, [3, 0, 2], "OutOfDate", "2023-01-01T00:00:00Z"),
            z96 = "0".repeat(96)
        );
        let t = TcbInfo::parse(&body).expect("parses");
        assert_eq!(t.id, TcbId::Tdx);
        assert_eq!(t.fmspc, [0xB0, 0xC0, 0x6F, 0, 0, 0]);
        let order: Vec<(u16, u8)> = t
            .tcb_levels
            .iter()
            .map(|l| (l.pce_svn, l.tdx_components.map_or(0, |c| c[0])))
            .collect();
        assert_eq!(order, vec![(11, 5), (11, 3), (5, 5)]);
        let m = t.module_identity(1).expect("TDX_01, case-insensitive");
        assert_eq!(
            m.tcb_levels.iter().map(|l| l.isv_svn).collect::<Vec<_>>(),
            vec![4, 2]
        );
        assert!(t.module_identity(3).is_none());
        // The same level twice is refused.
        let twice = format!(
            r#"{{"id":"SGX","version":3,"issueDate":"2025-01-01T00:00:00Z","nextUpdate":"2025-02-01T00:00:00Z","fmspc":"B0C06F000000","pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":17,"tcbLevels":[{a},{a}]}}"#,
            a = level(2, 5, [0, 0, 0], "UpToDate", "2018-01-04T00:00:00Z")
        );
        let e = TcbInfo::parse(&twice)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("duplicated"), "{e}");
        let bad = body.replace("\"tcbType\":0", "\"tcbType\":1");
        assert!(TcbInfo::parse(&bad).is_err());
        let bad = body.replace("\"UpToDate\"", "\"Fine\"");
        assert!(TcbInfo::parse(&bad).is_err());
    }
}
