//! Mock collateral: TCB info (TDX v3 with `tdxModule`,
//! `tdxModuleIdentities` and `tdxtcbcomponents`; SGX v3) and QE identity
//! (`TD_QE`, `QE`, version 2) as Intel's PCS v4 writes them — the same keys
//! in the same order, dates as `YYYY-MM-DDThh:mm:ssZ`, hex upper-case —
//! signed by the mock TCB Signing key, with the CRLs, over a window chosen
//! by the caller.

use serde::Serialize;
use tee_attest_tdx::collateral::{PcsKind, Tee};
use tee_attest_tdx::{Collateral, SignedJson, TcbStatus, TdxError};
use x509_cert::der::DateTime;

use super::pki::crypto;
use super::MockIntelPlatform;
use crate::MockError;

/// One day in seconds.
pub const DAY: u64 = 86_400;
/// tcbDate of the levels a platform matches (2024-03-13T00:00:00Z).
pub const CURRENT_TCB_DATE: u64 = 1_710_288_000;
/// tcbDate of the older, out-of-date levels (2018-01-04T00:00:00Z).
pub const OLD_TCB_DATE: u64 = 1_515_024_000;
/// Advisory id of the out-of-date levels.
pub const OLD_ADVISORY: &str = "INTEL-SA-00000";

/// What the mock collateral says, and when it is valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MockCollateralOptions {
    /// issueDate of the TCB info and QE identity (Unix seconds).
    pub issue_date: u64,
    /// nextUpdate of the TCB info and QE identity.
    pub next_update: u64,
    /// thisUpdate of both CRLs.
    pub crl_this_update: u64,
    /// nextUpdate of both CRLs.
    pub crl_next_update: u64,
    /// tcbEvaluationDataNumber.
    pub tcb_evaluation_data_number: u32,
    /// The status of the TCB level the platform (and, for TDX, its
    /// TEE_TCB_SVN) matches. A TDX TCB info may not say TDRelaunchAdvised.
    pub platform_status: TcbStatus,
    /// Its advisory ids.
    pub platform_advisory_ids: Vec<String>,
    /// The status of the module identity level the TDX module matches
    /// (UpToDate, OutOfDate or Revoked).
    pub module_status: TcbStatus,
    /// The status of the QE identity level the QE matches (UpToDate,
    /// ConfigurationNeeded, OutOfDate, OutOfDateConfigurationNeeded or Revoked).
    pub qe_status: TcbStatus,
    /// List the platform's PCK certificate in the PCK CRL.
    pub revoke_pck: bool,
    /// List the PCK CA in the root CA CRL.
    pub revoke_pck_ca: bool,
}

impl MockCollateralOptions {
    /// Collateral current at `at` (Unix seconds): issued a day before,
    /// next update 29 days after (Intel's are valid 30 days); everything
    /// UpToDate, nothing revoked.
    pub fn at(at: u64) -> Self {
        let issued = at.saturating_sub(DAY);
        let next = at.saturating_add(29 * DAY);
        Self {
            issue_date: issued,
            next_update: next,
            crl_this_update: issued,
            crl_next_update: next,
            tcb_evaluation_data_number: 17,
            platform_status: TcbStatus::UpToDate,
            platform_advisory_ids: Vec::new(),
            module_status: TcbStatus::UpToDate,
            qe_status: TcbStatus::UpToDate,
            revoke_pck: false,
            revoke_pck_ca: false,
        }
    }
}

/// Unix seconds as Intel writes dates: `2025-06-19T10:16:03Z`.
pub fn intel_date(secs: u64) -> Result<String, MockError> {
    let t = DateTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map_err(|e| crypto("date")(e.to_string()))?;
    Ok(format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        t.year(),
        t.month(),
        t.day(),
        t.hour(),
        t.minutes(),
        t.seconds()
    ))
}

/// URL-encodes a PEM chain as Intel's PCS does in its issuer-chain headers
/// (every byte but `A–Z a–z 0–9 - _ . ~` as `%XX`).
pub fn url_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3 / 2);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn upper(b: &[u8]) -> String {
    hex::encode_upper(b)
}

// Intel's key order, kept by serialising structs.

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TcbInfoJson {
    id: &'static str,
    version: u32,
    issue_date: String,
    next_update: String,
    fmspc: String,
    pce_id: String,
    tcb_type: u32,
    tcb_evaluation_data_number: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    tdx_module: Option<ModuleJson>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tdx_module_identities: Option<Vec<ModuleJson>>,
    tcb_levels: Vec<LevelJson>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ModuleJson {
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    mrsigner: String,
    attributes: String,
    attributes_mask: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    tcb_levels: Option<Vec<IsvLevelJson>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IsvLevelJson {
    tcb: IsvSvn,
    tcb_date: String,
    tcb_status: &'static str,
    #[serde(rename = "advisoryIDs", skip_serializing_if = "Vec::is_empty")]
    advisory_ids: Vec<String>,
}

#[derive(Serialize)]
struct IsvSvn {
    isvsvn: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LevelJson {
    tcb: TcbJson,
    tcb_date: String,
    tcb_status: &'static str,
    #[serde(rename = "advisoryIDs", skip_serializing_if = "Vec::is_empty")]
    advisory_ids: Vec<String>,
}

#[derive(Serialize)]
struct TcbJson {
    sgxtcbcomponents: Vec<Component>,
    pcesvn: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    tdxtcbcomponents: Option<Vec<Component>>,
}

#[derive(Serialize)]
struct Component {
    svn: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    category: Option<&'static str>,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    kind: Option<&'static str>,
}

/// Intel's names of the first SGX TCB components.
const SGX_COMPONENTS: [(Option<&str>, Option<&str>); 8] = [
    (Some("BIOS"), Some("Early Microcode Update")),
    (Some("OS/VMM"), Some("SGX Late Microcode Update")),
    (Some("OS/VMM"), Some("TXT SINIT")),
    (Some("BIOS"), None),
    (Some("BIOS"), None),
    (Some("BIOS"), None),
    (None, None),
    (Some("OS/VMM"), Some("SEAMLDR ACM")),
];

/// Intel's names of the first TDX TCB components.
const TDX_COMPONENTS: [(Option<&str>, Option<&str>); 3] = [
    (Some("OS/VMM"), Some("TDX Module")),
    (Some("OS/VMM"), Some("TDX Module")),
    (Some("OS/VMM"), Some("TDX Late Microcode Update")),
];

fn components(
    svns: &[u8; 16],
    names: &[(Option<&'static str>, Option<&'static str>)],
) -> Vec<Component> {
    svns.iter()
        .enumerate()
        .map(|(i, &svn)| {
            let (category, kind) = names.get(i).copied().unwrap_or((None, None));
            Component {
                svn,
                category,
                kind,
            }
        })
        .collect()
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QeIdentityJson {
    id: &'static str,
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
    tcb_levels: Vec<IsvLevelJson>,
}

fn to_json<T: Serialize>(v: &T) -> Result<String, MockError> {
    serde_json::to_string(v).map_err(|e| crypto("collateral JSON")(e.to_string()))
}

fn check_status(s: TcbStatus, ok: bool, what: &str) -> Result<(), MockError> {
    if ok {
        Ok(())
    } else {
        Err(crypto("collateral")(format!(
            "{s} is not a valid {what} status"
        )))
    }
}

/// The masks Intel's QE identities use.
const MISCSELECT_MASK: [u8; 4] = [0xFF; 4];
const ATTRIBUTES_MASK: [u8; 16] = [
    0xFB, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0, 0,
];

impl MockIntelPlatform {
    /// The TCB info body (the signed JSON text) for `tee`.
    ///
    /// Levels, highest first: the platform's own (its PCK's SGX components
    /// and PCESVN; for TDX, TEE_TCB_SVN with the module's bytes judged by
    /// the module identity) with `platform_status`, then an all-zero level,
    /// OutOfDate. TDX: `tdxModule` with zero MRSIGNER and attributes, and
    /// the module identity `TDX_%02X` of TEE_TCB_SVN[1] (when not zero)
    /// with a level at the module's SVN (`module_status`) and one at 0.
    pub fn tcb_info_json(&self, tee: Tee, o: &MockCollateralOptions) -> Result<String, MockError> {
        check_status(
            o.platform_status,
            o.platform_status.valid_in_tcb_info(),
            "TCB info",
        )?;
        check_status(
            o.module_status,
            o.module_status.valid_in_module_identity(),
            "TDX module",
        )?;
        let c = &self.config;
        let tdx = tee == Tee::Tdx;
        let svn = c.tee_tcb_svn;
        let major = svn[1];
        // As Intel writes them: byte 1 (the module's major version) zero;
        // when it is not zero in the quote, bytes 0–1 are judged by the
        // module identity instead.
        let mut top_tdx = svn;
        top_tdx[1] = 0;
        let old = intel_date(OLD_TCB_DATE)?;
        let current = intel_date(CURRENT_TCB_DATE)?;
        let mut levels = vec![LevelJson {
            tcb: TcbJson {
                sgxtcbcomponents: components(&c.sgx_tcb_components, &SGX_COMPONENTS),
                pcesvn: c.pce_svn,
                tdxtcbcomponents: tdx.then(|| components(&top_tdx, &TDX_COMPONENTS)),
            },
            tcb_date: current.clone(),
            tcb_status: o.platform_status.as_str(),
            advisory_ids: o.platform_advisory_ids.clone(),
        }];
        let lowest =
            c.sgx_tcb_components == [0; 16] && c.pce_svn == 0 && (!tdx || top_tdx == [0; 16]);
        if !lowest {
            levels.push(LevelJson {
                tcb: TcbJson {
                    sgxtcbcomponents: components(&[0; 16], &SGX_COMPONENTS),
                    pcesvn: 0,
                    tdxtcbcomponents: tdx.then(|| components(&[0; 16], &TDX_COMPONENTS)),
                },
                tcb_date: old.clone(),
                tcb_status: TcbStatus::OutOfDate.as_str(),
                advisory_ids: vec![OLD_ADVISORY.to_string()],
            });
        }
        let zero_module = |id: Option<String>, tcb_levels| ModuleJson {
            id,
            mrsigner: upper(&[0u8; 48]),
            attributes: upper(&[0u8; 8]),
            attributes_mask: "FFFFFFFFFFFFFFFF".into(),
            tcb_levels,
        };
        let (tdx_module, identities) = if tdx {
            let mut ids = Vec::new();
            if major > 0 {
                let mut lv = vec![IsvLevelJson {
                    tcb: IsvSvn {
                        isvsvn: u16::from(svn[0]),
                    },
                    tcb_date: current.clone(),
                    tcb_status: o.module_status.as_str(),
                    advisory_ids: Vec::new(),
                }];
                if svn[0] > 0 {
                    lv.push(IsvLevelJson {
                        tcb: IsvSvn { isvsvn: 0 },
                        tcb_date: old.clone(),
                        tcb_status: TcbStatus::OutOfDate.as_str(),
                        advisory_ids: vec![OLD_ADVISORY.to_string()],
                    });
                }
                ids.push(zero_module(Some(format!("TDX_{major:02X}")), Some(lv)));
            }
            (Some(zero_module(None, None)), Some(ids))
        } else {
            (None, None)
        };
        to_json(&TcbInfoJson {
            id: if tdx { "TDX" } else { "SGX" },
            version: 3,
            issue_date: intel_date(o.issue_date)?,
            next_update: intel_date(o.next_update)?,
            fmspc: upper(&c.fmspc),
            pce_id: upper(&c.pce_id),
            tcb_type: 0,
            tcb_evaluation_data_number: o.tcb_evaluation_data_number,
            tdx_module,
            tdx_module_identities: identities,
            tcb_levels: levels,
        })
    }

    /// The QE identity body for `tee` (`TD_QE` for TDX, `QE` for SGX): the
    /// QE's masked MISCSELECT and ATTRIBUTES with Intel's masks, its
    /// MRSIGNER and ISVPRODID; a level at its ISVSVN (`qe_status`) and, below
    /// it, one at 0 (OutOfDate).
    pub fn qe_identity_json(
        &self,
        tee: Tee,
        o: &MockCollateralOptions,
    ) -> Result<String, MockError> {
        check_status(
            o.qe_status,
            matches!(
                o.qe_status,
                TcbStatus::UpToDate
                    | TcbStatus::ConfigurationNeeded
                    | TcbStatus::OutOfDate
                    | TcbStatus::OutOfDateConfigurationNeeded
                    | TcbStatus::Revoked
            ),
            "QE identity",
        )?;
        let qe = match tee {
            Tee::Tdx => &self.config.td_qe,
            Tee::Sgx => &self.config.sgx_qe,
        };
        let misc: Vec<u8> = qe
            .misc_select
            .to_le_bytes()
            .iter()
            .zip(MISCSELECT_MASK)
            .map(|(a, m)| a & m)
            .collect();
        let attrs: Vec<u8> = qe
            .attributes
            .iter()
            .zip(ATTRIBUTES_MASK)
            .map(|(a, m)| a & m)
            .collect();
        let mut levels = vec![IsvLevelJson {
            tcb: IsvSvn { isvsvn: qe.isv_svn },
            tcb_date: intel_date(CURRENT_TCB_DATE)?,
            tcb_status: o.qe_status.as_str(),
            advisory_ids: Vec::new(),
        }];
        if qe.isv_svn > 0 {
            levels.push(IsvLevelJson {
                tcb: IsvSvn { isvsvn: 0 },
                tcb_date: intel_date(OLD_TCB_DATE)?,
                tcb_status: TcbStatus::OutOfDate.as_str(),
                advisory_ids: vec![OLD_ADVISORY.to_string()],
            });
        }
        to_json(&QeIdentityJson {
            id: match tee {
                Tee::Tdx => "TD_QE",
                Tee::Sgx => "QE",
            },
            version: 2,
            issue_date: intel_date(o.issue_date)?,
            next_update: intel_date(o.next_update)?,
            tcb_evaluation_data_number: o.tcb_evaluation_data_number,
            miscselect: upper(&misc),
            miscselect_mask: upper(&MISCSELECT_MASK),
            attributes: upper(&attrs),
            attributes_mask: upper(&ATTRIBUTES_MASK),
            mrsigner: upper(&qe.mr_signer),
            isvprodid: qe.isv_prod_id,
            tcb_levels: levels,
        })
    }

    /// The signed TCB info for `tee`.
    pub fn tcb_info(&self, tee: Tee, o: &MockCollateralOptions) -> Result<SignedJson, MockError> {
        self.pki.sign_json(self.tcb_info_json(tee, o)?)
    }

    /// The signed QE identity for `tee`.
    pub fn qe_identity(
        &self,
        tee: Tee,
        o: &MockCollateralOptions,
    ) -> Result<SignedJson, MockError> {
        self.pki.sign_json(self.qe_identity_json(tee, o)?)
    }

    /// The root CA CRL (DER) the options describe.
    pub fn root_ca_crl(&self, o: &MockCollateralOptions) -> Result<Vec<u8>, MockError> {
        let ca_serial = self.pki.pck_ca_serial();
        let revoked: Vec<&[u8]> = if o.revoke_pck_ca {
            vec![&ca_serial[..]]
        } else {
            Vec::new()
        };
        self.pki
            .root_crl(o.crl_this_update, o.crl_next_update, &revoked)
    }

    /// The PCK CRL (DER) the options describe.
    pub fn pck_crl(&self, o: &MockCollateralOptions) -> Result<Vec<u8>, MockError> {
        let revoked: Vec<&[u8]> = if o.revoke_pck {
            vec![self.pck.serial()]
        } else {
            Vec::new()
        };
        self.pki
            .pck_crl(o.crl_this_update, o.crl_next_update, &revoked)
    }

    /// The whole collateral for `tee`, as the verifier takes it (source
    /// `mock`).
    pub fn collateral(&self, tee: Tee, o: &MockCollateralOptions) -> Result<Collateral, MockError> {
        let chain = self.pki.tcb_signing_chain_pem().into_bytes();
        Ok(Collateral {
            tcb_info: Some(self.tcb_info(tee, o)?),
            tcb_info_issuer_chain: chain.clone(),
            qe_identity: Some(self.qe_identity(tee, o)?),
            qe_identity_issuer_chain: chain,
            pck_crl: Some(self.pck_crl(o)?),
            pck_crl_issuer_chain: self.pki.pck_ca_chain_pem().into_bytes(),
            root_ca_crl: Some(self.root_ca_crl(o)?),
            pck_certificate_chain: None,
            source: "mock".into(),
        })
    }

    /// Writes the collateral of both TEEs into `dir` as Intel's PCS v4 raw
    /// responses, the layout `tee_attest_tdx::collateral::OfflineDir` reads:
    ///
    /// ```text
    /// tdx-tcbinfo.json, sgx-tcbinfo.json         {"tcbInfo": …, "signature": "…"}
    /// tdx-qeidentity.json, sgx-qeidentity.json   {"enclaveIdentity": …, "signature": "…"}
    /// tcb-info-issuer-chain.txt                  TCB-Info-Issuer-Chain header value (URL-encoded PEM)
    /// pck-crl-issuer-chain.txt                   SGX-PCK-CRL-Issuer-Chain header value
    /// pckcrl.der, rootcacrl.der                  the CRLs, DER
    /// ```
    pub fn write_offline_dir(
        &self,
        dir: &std::path::Path,
        o: &MockCollateralOptions,
    ) -> Result<(), MockError> {
        let io = |path: &std::path::Path| {
            let path = path.display().to_string();
            move |source| MockError::Tdx(TdxError::Io { path, source })
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let mut files: Vec<(String, Vec<u8>)> = Vec::new();
        for tee in [Tee::Tdx, Tee::Sgx] {
            let p = tee.path();
            files.push((
                format!("{p}-tcbinfo.json"),
                self.tcb_info(tee, o)?
                    .to_pcs_response(PcsKind::TcbInfo)
                    .into_bytes(),
            ));
            files.push((
                format!("{p}-qeidentity.json"),
                self.qe_identity(tee, o)?
                    .to_pcs_response(PcsKind::QeIdentity)
                    .into_bytes(),
            ));
        }
        files.push((
            "tcb-info-issuer-chain.txt".into(),
            url_encode(&self.pki.tcb_signing_chain_pem()).into_bytes(),
        ));
        files.push((
            "pck-crl-issuer-chain.txt".into(),
            url_encode(&self.pki.pck_ca_chain_pem()).into_bytes(),
        ));
        files.push(("pckcrl.der".into(), self.pck_crl(o)?));
        files.push(("rootcacrl.der".into(), self.root_ca_crl(o)?));
        for (name, bytes) in files {
            let path = dir.join(name);
            std::fs::write(&path, bytes).map_err(io(&path))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_url_encoding_are_intels() {
        assert_eq!(
            intel_date(1_750_328_163).expect("date"),
            "2025-06-19T10:16:03Z"
        );
        assert_eq!(
            url_encode("-----BEGIN CERTIFICATE-----\nab/+=\n"),
            "-----BEGIN%20CERTIFICATE-----%0Aab%2F%2B%3D%0A"
        );
    }
}
