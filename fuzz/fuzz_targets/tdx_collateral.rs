//! Intel DCAP collateral as it arrives from the PCS, a PCCS or an offline
//! directory: the signed TCB info and QE identity envelopes, their JSON
//! bodies, and dcap-qvl's collateral JSON (which must survive
//! `to_dcap_qvl_json` → `from_dcap_qvl_json` unchanged) (tdx).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_tdx::qe_identity::QeIdentity;
use tee_attest_tdx::tcb_info::TcbInfo;
use tee_attest_tdx::{Collateral, SignedJson};

fuzz_target!(|data: &[u8]| {
    if let Ok((signed, _kind)) = SignedJson::from_pcs_response(data) {
        let _ = TcbInfo::parse(&signed.body);
        let _ = QeIdentity::parse(&signed.body);
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(t) = TcbInfo::parse(s) {
            let _ = t.module_identity(1);
        }
        let _ = QeIdentity::parse(s);
    }
    if let Ok(c) = Collateral::from_dcap_qvl_json(data) {
        let _ = (c.is_complete(), c.next_update());
        if let Ok(json) = c.to_dcap_qvl_json() {
            let again = Collateral::from_dcap_qvl_json(&json).expect("written collateral reads");
            assert_eq!(again, c, "to/from dcap-qvl JSON changed the collateral");
        }
    }
});
