//! Typed access to an ITA token's claims, field by field, for a token in
//! ITA's v2 layout (attester claims under `"tdx"`) and in the v1 layout
//! (all at the top level), as ITA's published token examples show them.

mod common;

use common::*;
use serde_json::json;
use tee_attest_ita::{Expectations, TokenAlg};

#[test]
fn a_v2_tdx_token_field_by_field() {
    let n = nonce();
    let token = good();
    let t = validator()
        .validate_cached(&token, Expectations::nonce(&n))
        .unwrap();
    assert_eq!(t.alg(), TokenAlg::Ps384);
    assert_eq!(t.kid(), KID);
    assert_eq!(t.raw(), token);
    assert_eq!(t.token().issuer(), Some("Intel Trust Authority"));
    assert_eq!(
        t.token().header()["jku"],
        "https://portal.trustauthority.intel.com/certs"
    );

    // The convenience accessors.
    assert_eq!(t.attester_tcb_status(), Some("OutOfDate"));
    assert_eq!(
        t.attester_advisory_ids(),
        ["INTEL-SA-00837", "INTEL-SA-00960"]
    );
    assert_eq!(t.attester_type(), Some("TDX"));

    // The top level.
    let c = t.claims().unwrap();
    assert_eq!(c.iss.as_deref(), Some("Intel Trust Authority"));
    assert_eq!(c.exp, Some(NOW + 300));
    assert_eq!(c.iat, Some(NOW - 10));
    assert_eq!(c.nbf, Some(NOW - 10));
    assert_eq!(
        c.jti.as_deref(),
        Some("0c1b3de7-2487-485f-9f7b-066e299d83fc")
    );
    assert_eq!(c.ver.as_deref(), Some("2.0.0"));
    let matched = c.policy_ids_matched.as_ref().unwrap();
    assert_eq!(matched.len(), 1);
    assert_eq!(matched[0].id, POLICY);
    assert_eq!(matched[0].version.as_deref(), Some("v1"));
    assert_eq!(matched[0].hash.as_deref(), Some("PApC1bnOL3KvC4IieSU6m"));
    assert_eq!(c.matched_policy_ids().collect::<Vec<_>>(), [POLICY]);
    assert_eq!(c.policy_ids_unmatched, None, "null reads as absent");
    assert_eq!(c.policy_defined_claims, Some(json!({})));
    assert_eq!(
        c.verifier_instance_ids.as_deref().unwrap(),
        [
            "605a1fb4-4831-487b-9422-980c16ae0585",
            "08696fd9-c544-497b-bf6f-913effdfa579"
        ]
    );
    let vn = c.verifier_nonce().unwrap();
    assert!(n.matches(&vn.val, &vn.iat, &vn.signature));

    // The `tdx` object.
    let tdx = t.tdx().unwrap();
    assert_eq!(tdx.attester_tcb_status.as_deref(), Some("OutOfDate"));
    assert_eq!(
        tdx.attester_tcb_date.as_deref(),
        Some("2024-03-13T00:00:00Z")
    );
    assert_eq!(
        tdx.attester_advisory_ids.as_deref().unwrap(),
        ["INTEL-SA-00837", "INTEL-SA-00960"]
    );
    assert_eq!(tdx.attester_type.as_deref(), Some("TDX"));
    assert_eq!(
        tdx.attester_held_data.as_deref(),
        Some("eyJub25jZSI6Im4tMSJ9")
    );
    assert_eq!(
        tdx.attester_runtime_data,
        Some(json!({"nonce": "n-1", "app": "demo"}))
    );
    assert_eq!(tdx.dbgstat.as_deref(), Some("disabled"));
    assert_eq!(
        tdx.eat_profile.as_deref(),
        Some("https://portal.trustauthority.intel.com/eat_profile.html")
    );
    assert_eq!(tdx.intuse.as_deref(), Some("generic"));
    assert_eq!(tdx.mrtd(), Some([0xa3; 48]));
    assert_eq!(tdx.tdx_mrtd.as_deref(), Some("a3".repeat(48).as_str()));
    assert_eq!(tdx.rtmr(0), Some([0x01; 48]));
    assert_eq!(tdx.rtmr(1), Some([0x02; 48]));
    assert_eq!(tdx.rtmr(2), Some([0x03; 48]));
    assert_eq!(tdx.rtmr(3), Some([0x00; 48]));
    assert_eq!(tdx.report_data(), Some([0x7c; 64]));
    assert_eq!(tdx.mrconfigid(), Some([0; 48]));
    assert_eq!(tdx.tdx_mrowner.as_deref(), Some("00".repeat(48).as_str()));
    assert_eq!(
        tdx.tdx_mrownerconfig.as_deref(),
        Some("00".repeat(48).as_str())
    );
    assert_eq!(
        tdx.mrseam().map(|m| m[..4].to_vec()),
        Some(vec![0x5b, 0x38, 0xe3, 0x3a])
    );
    assert_eq!(
        tdx.tdx_mrsignerseam.as_deref(),
        Some("00".repeat(48).as_str())
    );
    assert_eq!(tdx.tdx_seam_attributes.as_deref(), Some("0000000000000000"));
    assert_eq!(tdx.tdx_seamsvn, Some(261));
    assert_eq!(tdx.tdx_td_attributes.as_deref(), Some("0000001000000000"));
    assert_eq!(tdx.tdx_td_attributes_debug, Some(false));
    assert_eq!(tdx.tdx_td_attributes_key_locker, Some(false));
    assert_eq!(tdx.tdx_td_attributes_perfmon, Some(false));
    assert_eq!(tdx.tdx_td_attributes_protection_keys, Some(false));
    assert_eq!(tdx.tdx_td_attributes_septve_disable, Some(true));
    assert_eq!(
        tdx.tdx_tee_tcb_svn.as_deref(),
        Some("05010200000000000000000000000000")
    );
    assert_eq!(tdx.tdx_xfam.as_deref(), Some("e742060000000000"));
    assert_eq!(tdx.tdx_is_debuggable, Some(false));
    assert_eq!(tdx.is_debuggable(), Some(false));
    let col = tdx.tdx_collateral.as_ref().unwrap();
    assert_eq!(col.qeidcerthash.as_deref(), Some("b2ca71b8e849d5e79945"));
    assert_eq!(col.qeidcrlhash.as_deref(), Some("f454dc1b9bd4ce36c0"));
    assert_eq!(col.qeidhash.as_deref(), Some("665b5e4a8c34c2493"));
    assert_eq!(col.quotehash.as_deref(), Some("ac5efbb7ac2815acdd6"));
    assert_eq!(col.tcbinfocerthash.as_deref(), Some("b2ca71b8e849d5e79"));
    assert_eq!(col.tcbinfocrlhash.as_deref(), Some("f454dc1b9bd4ce36c"));
    assert_eq!(col.tcbinfohash.as_deref(), Some("0bc7962b158eaeb896"));
    let vn = tdx.verifier_nonce.as_ref().unwrap();
    assert!(n.matches(&vn.val, &vn.iat, &vn.signature));

    // Core's view of the same token.
    let core = t.clone().into_token();
    assert_eq!(core.claim("tdx.attester_type"), Some(&json!("TDX")));
}

#[test]
fn a_v1_token_reads_the_same_through_tdx() {
    // v1: no `tdx` object; attester and TDX claims at the top level.
    let mut c = claims();
    let tdx = c["tdx"].take();
    let obj = c.as_object_mut().unwrap();
    obj.remove("tdx");
    for (k, v) in tdx.as_object().unwrap() {
        if k != "verifier_nonce" {
            obj.insert(k.clone(), v.clone());
        }
    }
    obj.insert("ver".into(), json!("1.0.0"));
    let token = sign_json(&header(), &c, signing_key());
    let n = nonce();
    let t = validator()
        .validate_cached(&token, Expectations::nonce(&n))
        .unwrap();
    let claims = t.claims().unwrap();
    assert!(claims.tdx_object.is_none());
    assert_eq!(claims.attester_tcb_status.as_deref(), Some("OutOfDate"));
    assert_eq!(t.attester_tcb_status(), Some("OutOfDate"));
    assert_eq!(t.attester_type(), Some("TDX"));
    assert_eq!(t.attester_advisory_ids().len(), 2);
    let tdx = t.tdx().unwrap();
    assert_eq!(tdx.mrtd(), Some([0xa3; 48]));
    assert_eq!(tdx.tdx_seamsvn, Some(261));
}

#[test]
fn claims_of_another_shape_are_an_error_not_a_panic() {
    // Valid JWT, valid signature, but a TDX claim of the wrong type: the
    // typed view refuses it (code 22); the token itself stays usable.
    let token = {
        let mut c = claims();
        c["tdx"]["tdx_seamsvn"] = json!("261");
        sign_json(&header(), &c, signing_key())
    };
    let t = validator()
        .validate_cached(&token, Expectations::none())
        .unwrap();
    let e = t.claims().unwrap_err();
    use tee_attest_core::CodedError;
    assert_eq!(e.code().number(), 22);
    assert!(
        e.to_string().contains("tdx_seamsvn") || e.to_string().contains("string"),
        "{e}"
    );
    assert_eq!(t.attester_tcb_status(), None);
    assert!(t.attester_advisory_ids().is_empty());
    assert_eq!(t.token().claim("tdx.tdx_seamsvn"), Some(&json!("261")));
}
