//! The SevSnpVm request body (`POST /attest/SevSnpVm`): JSON, the
//! base64url SNP proof inside, the PEM chain, the runtime and init-time
//! data, the evidence they make. A report and chain (and the evidence)
//! that decode must survive re-encoding; so must
//! certificates through `certs_to_pem` / `pem_certificates`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_maa::azureguest::{certs_to_pem, pem_certificates};
use tee_attest_maa::SevSnpVmRequest;

fuzz_target!(|data: &[u8]| {
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(certs) = pem_certificates(s) {
            if !certs.is_empty() {
                let again = pem_certificates(&certs_to_pem(&certs)).expect("PEM re-parses");
                assert_eq!(
                    again, certs,
                    "certs_to_pem/pem_certificates changed the chain"
                );
            }
        }
    }
    let Ok(req) = SevSnpVmRequest::from_body(data) else {
        return;
    };
    if let Some(r) = &req.runtime_data {
        let _ = r.bytes();
    }
    if let Some(r) = &req.init_time_data {
        let _ = r.bytes();
    }
    if let Ok(mut ev) = req.to_evidence() {
        let again = SevSnpVmRequest::from_evidence(&ev).expect("decoded evidence re-encodes");
        let ev2 = again.to_evidence().expect("re-encoded evidence decodes");
        // Empty runtime data is sent as none, so its type is not kept.
        if ev.runtime_data.is_empty() {
            ev.runtime_data_json = false;
        }
        assert_eq!(ev2, ev, "the evidence changed in a round trip");
    }
    let Ok((report, certs)) = req.decode_report() else {
        return;
    };
    let again = SevSnpVmRequest::new(&report, &certs).expect("a decoded proof re-encodes");
    let (r2, c2) = again.decode_report().expect("a re-encoded proof decodes");
    assert_eq!(
        (r2, c2),
        (report, certs),
        "the SNP proof changed in a round trip"
    );
});
