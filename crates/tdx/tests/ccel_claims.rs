//! The go-tdx-guest CCEL replayed to its quote's RTMRs; trustee's parsed
//! claims of quote 4 matched field by field; MAA-named claims.

use std::sync::Arc;

use serde_json::Value;
use tee_attest_tdx::ccel::{CcEventLog, CcelTable};
use tee_attest_tdx::pki::parse_pem_chain;
use tee_attest_tdx::{
    claims_json, parse_rfc3339, Check, Collateral, DcapVerifier, FixedClock, Quote, QuoteBody,
    VerifyOptions,
};
use tee_attest_testkit::vector;

#[test]
fn ccel_replays_to_the_cos_113_quotes_rtmrs() {
    let table = CcelTable::parse(&vector("tdx-go/ccel_ccel_table.dat")).expect("table");
    assert_eq!(table.cc_type, 2, "TDX");
    assert_eq!(table.laml, 0x40000);
    let log = CcEventLog::parse(&vector("tdx-go/ccel_ccel_data.dat")).expect("log");
    assert!(log.events.len() > 10);
    let quote = Quote::parse(&vector("tdx-go/ccel_cos-113-tdx-quote.dat")).expect("quote");
    let td = quote.body.td().expect("TD");
    let (rtmr, seen) = log.replay().expect("replay");
    assert!(seen[0] && seen[1] && seen[2]);
    for (i, (replayed, quoted)) in rtmr.iter().zip(&td.rtmr).take(3).enumerate() {
        assert_eq!(replayed, quoted, "RTMR{i}");
    }
    log.check(td).expect("replays");
    // A changed event is noticed.
    let mut bad = log.clone();
    let e = bad
        .events
        .iter_mut()
        .find(|e| e.mr_index == 2 && e.sha384.is_some())
        .expect("an RTMR1 event");
    if let Some(d) = e.sha384.as_mut() {
        d[0] ^= 1;
    }
    let err = bad.check(td).expect_err("RTMR1 differs");
    assert_eq!(err.check(), Some(Check::Rtmr));
    // And the nonce file is the quote's report data.
    let nonce = vector("tdx-go/ccel_nonce.dat");
    assert_eq!(&td.report_data[..], &nonce[..]);
}

fn hexs(v: &Value) -> &str {
    v.as_str().expect("a string")
}

#[test]
fn trustee_quote_4_matches_parse_tdx_claims_expected_field_by_field() {
    let expected: Value =
        serde_json::from_slice(&vector("tdx-trustee/parse_tdx_claims_expected.json"))
            .expect("json");
    let q = Quote::parse(&vector("tdx-trustee/tdx_quote_4.dat")).expect("quote");
    let QuoteBody::Td10(b) = &q.body else {
        panic!("a TD 1.0 body")
    };
    let h = &expected["quote"]["header"];
    assert_eq!(
        hexs(&h["version"]),
        hex::encode(q.header.version.to_le_bytes())
    );
    assert_eq!(
        hexs(&h["att_key_type"]),
        hex::encode(q.header.att_key_type.to_le_bytes())
    );
    assert_eq!(
        hexs(&h["tee_type"]),
        hex::encode(q.header.tee_type.to_le_bytes())
    );
    assert_eq!(hexs(&h["reserved"]), hex::encode(q.header.reserved));
    assert_eq!(hexs(&h["vendor_id"]), hex::encode(q.header.qe_vendor_id));
    assert_eq!(hexs(&h["user_data"]), hex::encode(q.header.user_data));
    let e = &expected["quote"]["body"];
    let fields: [(&str, &[u8]); 16] = [
        ("mr_config_id", &b.mr_config_id),
        ("mr_owner", &b.mr_owner),
        ("mr_owner_config", &b.mr_owner_config),
        ("mr_seam", &b.mr_seam),
        ("mr_td", &b.mr_td),
        ("mrsigner_seam", &b.mr_signer_seam),
        ("report_data", &b.report_data),
        ("rtmr_0", &b.rtmr[0]),
        ("rtmr_1", &b.rtmr[1]),
        ("rtmr_2", &b.rtmr[2]),
        ("rtmr_3", &b.rtmr[3]),
        ("seam_attributes", &b.seam_attributes),
        ("tcb_svn", &b.tee_tcb_svn),
        ("td_attributes", &b.td_attributes),
        ("xfam", &b.xfam),
        ("mr_td", &b.mr_td),
    ];
    let names: std::collections::BTreeSet<&str> = e
        .as_object()
        .expect("body object")
        .keys()
        .map(String::as_str)
        .collect();
    for (name, ours) in fields {
        assert_eq!(hexs(&e[name]), hex::encode(ours), "{name}");
    }
    // Every body field of trustee's is compared.
    assert_eq!(names.len(), 15);
    assert!(names.iter().all(|n| fields.iter().any(|(f, _)| f == n)));
    assert_eq!(hexs(&expected["report_data"]), hex::encode(b.report_data));
    assert_eq!(hexs(&expected["init_data"]), hex::encode(b.mr_config_id));
    let a = b.attributes();
    let ta = &expected["td_attributes"];
    assert_eq!(ta["debug"].as_bool(), Some(a.debug()));
    assert_eq!(ta["key_locker"].as_bool(), Some(a.key_locker()));
    assert_eq!(ta["perfmon"].as_bool(), Some(a.perfmon()));
    assert_eq!(ta["protection_keys"].as_bool(), Some(a.protection_keys()));
    assert_eq!(ta["septve_disable"].as_bool(), Some(a.sept_ve_disable()));
    let chain = parse_pem_chain(q.pck_chain_pem().expect("chain"), "pck").expect("chain");
    let pid = chain[0]
        .sgx_extensions()
        .and_then(|e| e.platform_instance_id)
        .expect("platform instance id");
    // trustee prints the PCK certificate's platform instance id as a
    // little-endian 128-bit number: the same 16 bytes, reversed.
    let mut reversed = pid;
    reversed.reverse();
    assert_eq!(
        hexs(&expected["platform_instance_id"]),
        hex::encode(reversed)
    );
    // Its uefi_event_logs come from a CCEL that is not shipped: not compared.
}

#[test]
fn claims_use_maas_tdx_names() {
    let v = DcapVerifier::new()
        .expect("verifier")
        .with_clock(Arc::new(FixedClock(
            parse_rfc3339("2025-06-20").expect("date"),
        )))
        .verify(
            &vector("tdx-dcap/quote.bin"),
            &Collateral::from_dcap_qvl_json(&vector("tdx-dcap/collateral.json")).expect("c"),
            &VerifyOptions::default(),
        )
        .expect("verifies");
    let c = claims_json(&v);
    let td = v.body.td().expect("TD");
    assert_eq!(c["x-ms-attestation-type"], "tdxvm");
    assert_eq!(c["eat_profile"], "https://aka.ms/maa-eat-profile-tdxvm");
    assert_eq!(c["attester_tcb_status"], "UpToDate");
    assert_eq!(c["dbgstat"], "disabled");
    assert_eq!(c["tdx_mrtd"], hex::encode(td.mr_td));
    assert_eq!(c["tdx_rtmr3"], hex::encode(td.rtmr[3]));
    assert_eq!(c["tdx_tee_tcb_svn"], "06010300000000000000000000000000");
    assert_eq!(c["tdx_seamsvn"], 0x0106);
    assert_eq!(c["tdx_td_attributes_septve_disable"], true);
    assert_eq!(c["tdx_td_attributes_debug"], false);
    assert_eq!(c["tdx_is_debuggable"], false);
    assert_eq!(c["attester_revocation_checked"], true);
    assert_eq!(
        c["tdx_collateral"]["quotehash"].as_str().map(str::len),
        Some(64)
    );
    for name in [
        "tdx_mrsignerseam",
        "tdx_mrseam",
        "tdx_rtmr0",
        "tdx_rtmr1",
        "tdx_rtmr2",
        "tdx_mrconfigid",
        "tdx_mrowner",
        "tdx_mrownerconfig",
        "tdx_report_data",
        "tdx_seam_attributes",
        "tdx_xfam",
        "tdx_td_attributes",
        "tdx_td_attributes_key_locker",
        "tdx_td_attributes_perfmon",
        "tdx_td_attributes_protection_keys",
    ] {
        assert!(c.get(name).is_some(), "{name}");
    }
    assert!(c.get("x-ms-sgx-mrenclave").is_none());
}

#[test]
fn sgx_claims_use_maas_x_ms_sgx_names() {
    let v = DcapVerifier::new()
        .expect("verifier")
        .with_clock(Arc::new(FixedClock(
            parse_rfc3339("2025-06-20").expect("date"),
        )))
        .verify(
            &vector("sgx-dcap/quote.bin"),
            &Collateral::from_dcap_qvl_json(&vector("sgx-dcap/collateral.json")).expect("c"),
            &VerifyOptions::default(),
        )
        .expect("verifies");
    let c = claims_json(&v);
    let e = v.body.enclave().expect("enclave");
    assert_eq!(c["x-ms-attestation-type"], "sgx");
    assert_eq!(c["x-ms-sgx-mrenclave"], hex::encode(e.mr_enclave));
    assert_eq!(c["x-ms-sgx-mrsigner"], hex::encode(e.mr_signer));
    assert_eq!(c["x-ms-sgx-product-id"], e.isv_prod_id);
    assert_eq!(c["x-ms-sgx-svn"], e.isv_svn);
    assert_eq!(c["x-ms-sgx-is-debuggable"], e.is_debug());
    assert_eq!(
        c["attester_tcb_status"],
        "ConfigurationAndSWHardeningNeeded"
    );
    assert_eq!(
        c["attester_advisory_ids"],
        serde_json::json!(["INTEL-SA-00289", "INTEL-SA-00615"])
    );
    assert!(c["x-ms-sgx-collateral"]["tcbinfohash"].is_string());
    assert!(c.get("tdx_mrtd").is_none());
}
