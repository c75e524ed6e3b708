//! A verdict as claims, named as Microsoft Azure Attestation names them:
//! the `tdx_*` set of its TDX EAT profile for TDX quotes, the
//! `x-ms-sgx-*` set for SGX quotes; plus the attester claims both share.
//!
//! Values follow MAA's profile: measurements and attribute fields as
//! lower-case hex of the bytes as they are in the quote, the TD attribute
//! bits as booleans, `tdx_seamsvn` the number SEAMSVN (TEE_TCB_SVN[0..2],
//! little-endian). Claims MAA does not define, for TD 1.5
//! (`tdx_tee_tcb_svn2`, `tdx_mrservicetd`) and for what this verifier
//! knows beyond MAA (`attester_advisory_ids`, `attester_tcb_date`,
//! `attester_revocation_checked`, `attester_revocation_gaps`), use the same
//! style.

use serde_json::{json, Map, Value};

use crate::quote::QuoteBody;
use crate::verify::{Revocation, Verdict};

/// MAA's EAT profile of TDX tokens.
pub const TDX_EAT_PROFILE: &str = "https://aka.ms/maa-eat-profile-tdxvm";

fn collateral(v: &Verdict) -> Value {
    let h = &v.collateral_hashes;
    json!({
        "qeidcertshash": h.qe_identity_certs,
        "qeidcrlhash": h.qe_identity_crl,
        "qeidhash": h.qe_identity,
        "quotehash": h.quote,
        "tcbinfocertshash": h.tcb_info_certs,
        "tcbinfocrlhash": h.tcb_info_crl,
        "tcbinfohash": h.tcb_info,
    })
}

/// The claims of a verdict (MAA's names; see the module documentation).
pub fn claims_json(v: &Verdict) -> Value {
    let mut m = Map::new();
    let debug = v.is_debug();
    m.insert("attester_tcb_status".into(), json!(v.status.as_str()));
    m.insert("attester_advisory_ids".into(), json!(v.advisory_ids));
    m.insert("attester_tcb_date".into(), json!(v.tcb_date_text));
    match &v.revocation {
        Revocation::Checked => {
            m.insert("attester_revocation_checked".into(), json!(true));
        }
        Revocation::NotChecked(gaps) => {
            m.insert("attester_revocation_checked".into(), json!(false));
            m.insert("attester_revocation_gaps".into(), json!(gaps));
        }
    }
    match &v.body {
        QuoteBody::SgxEnclave(e) => {
            m.insert("x-ms-attestation-type".into(), json!("sgx"));
            m.insert(
                "x-ms-sgx-mrenclave".into(),
                json!(hex::encode(e.mr_enclave)),
            );
            m.insert("x-ms-sgx-mrsigner".into(), json!(hex::encode(e.mr_signer)));
            m.insert("x-ms-sgx-product-id".into(), json!(e.isv_prod_id));
            m.insert("x-ms-sgx-svn".into(), json!(e.isv_svn));
            m.insert("x-ms-sgx-is-debuggable".into(), json!(debug));
            m.insert(
                "x-ms-sgx-report-data".into(),
                json!(hex::encode(e.report_data)),
            );
            m.insert("x-ms-sgx-config-id".into(), json!(hex::encode(e.config_id)));
            m.insert("x-ms-sgx-config-svn".into(), json!(e.config_svn));
            m.insert(
                "x-ms-sgx-isv-extended-product-id".into(),
                json!(hex::encode(e.isv_ext_prod_id)),
            );
            m.insert(
                "x-ms-sgx-isv-family-id".into(),
                json!(hex::encode(e.isv_family_id)),
            );
            m.insert("x-ms-sgx-collateral".into(), collateral(v));
        }
        QuoteBody::Td10(_) | QuoteBody::Td15(_) => {
            let Some(t) = v.body.td() else {
                return Value::Object(m);
            };
            let a = t.attributes();
            m.insert("x-ms-attestation-type".into(), json!("tdxvm"));
            m.insert("eat_profile".into(), json!(TDX_EAT_PROFILE));
            m.insert("intuse".into(), json!("generic"));
            m.insert(
                "dbgstat".into(),
                json!(if debug { "enabled" } else { "disabled" }),
            );
            m.insert(
                "tdx_mrsignerseam".into(),
                json!(hex::encode(t.mr_signer_seam)),
            );
            m.insert("tdx_mrseam".into(), json!(hex::encode(t.mr_seam)));
            m.insert("tdx_mrtd".into(), json!(hex::encode(t.mr_td)));
            for (i, r) in t.rtmr.iter().enumerate() {
                m.insert(format!("tdx_rtmr{i}"), json!(hex::encode(r)));
            }
            m.insert("tdx_mrconfigid".into(), json!(hex::encode(t.mr_config_id)));
            m.insert("tdx_mrowner".into(), json!(hex::encode(t.mr_owner)));
            m.insert(
                "tdx_mrownerconfig".into(),
                json!(hex::encode(t.mr_owner_config)),
            );
            m.insert("tdx_report_data".into(), json!(hex::encode(t.report_data)));
            m.insert(
                "tdx_seam_attributes".into(),
                json!(hex::encode(t.seam_attributes)),
            );
            m.insert("tdx_tee_tcb_svn".into(), json!(hex::encode(t.tee_tcb_svn)));
            m.insert(
                "tdx_seamsvn".into(),
                json!(u16::from_le_bytes([t.tee_tcb_svn[0], t.tee_tcb_svn[1]])),
            );
            m.insert("tdx_xfam".into(), json!(hex::encode(t.xfam)));
            m.insert(
                "tdx_td_attributes".into(),
                json!(hex::encode(t.td_attributes)),
            );
            m.insert("tdx_td_attributes_debug".into(), json!(a.debug()));
            m.insert("tdx_td_attributes_key_locker".into(), json!(a.key_locker()));
            m.insert("tdx_td_attributes_perfmon".into(), json!(a.perfmon()));
            m.insert(
                "tdx_td_attributes_protection_keys".into(),
                json!(a.protection_keys()),
            );
            m.insert(
                "tdx_td_attributes_septve_disable".into(),
                json!(a.sept_ve_disable()),
            );
            m.insert("tdx_is_debuggable".into(), json!(debug));
            if let QuoteBody::Td15(t15) = &v.body {
                m.insert(
                    "tdx_tee_tcb_svn2".into(),
                    json!(hex::encode(t15.tee_tcb_svn2)),
                );
                m.insert(
                    "tdx_mrservicetd".into(),
                    json!(hex::encode(t15.mr_service_td)),
                );
            }
            m.insert("tdx_collateral".into(), collateral(v));
        }
    }
    Value::Object(m)
}
