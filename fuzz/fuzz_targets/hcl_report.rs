//! The Azure HCL report (vTPM NV index 0x01400001) and its variable data:
//! parse, binding, the SNP report inside, the JWKs; a report that parses
//! must survive `to_bytes` → `from_bytes` unchanged.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_azure::{HclReport, VarData};

fuzz_target!(|data: &[u8]| {
    if data.first() == Some(&b'{') {
        if let Ok(v) = VarData::from_bytes(data) {
            let _ = v.ak_pub();
            let _ = v.ek_pub();
            let _ = v.user_data();
            let _ = v.vm_configuration();
            for k in v.keys() {
                let _ = k.rsa_public();
            }
        }
        return;
    }
    let peeked = HclReport::peek_type(data);
    let Ok(h) = HclReport::from_bytes(data) else {
        return;
    };
    assert_eq!(
        peeked,
        Some(h.report_type()),
        "peek_type disagrees with the parse"
    );
    let _ = h.check_binding();
    let _ = h.report_data();
    let _ = h.tdreport();
    if let Ok(r) = h.snp_report() {
        let _ = r.signing_key();
        let _ = r.product_hint();
    }
    if let Ok(v) = h.var_data() {
        let _ = v.ak_pub();
        let _ = v.ek_pub();
        let _ = v.user_data();
    }
    let again = HclReport::from_bytes(&h.to_bytes()).expect("a parsed report re-parses");
    assert_eq!(again, h, "to_bytes/from_bytes changed the report");
    let nv = HclReport::from_bytes(&h.to_nv_bytes(8192)).expect("NV bytes re-parse");
    assert_eq!(nv, h, "to_nv_bytes/from_bytes changed the report");
});
