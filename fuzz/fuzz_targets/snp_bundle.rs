//! Collateral as it arrives from outside (IMDS/THIM JSON, PEM chains, DER
//! certificates or CRLs, an offline directory's files): `CertBundle::add_any`
//! and the PEM splitter, then the collateral picked for a report.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_snp::collateral::{Collateral, CollateralRequest};
use tee_attest_snp::{parse_rfc3339, pem_blocks, AttestationReport, CertBundle, REPORT_LEN};

fuzz_target!(|data: &[u8]| {
    let mut bundle = CertBundle::new();
    let _ = bundle.add_any(data, "fuzz");
    let _ = bundle.is_empty();
    let _ = bundle.to_der_list();
    let _ = pem_blocks(data, "CERTIFICATE");
    let _ = pem_blocks(data, "X509 CRL");
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = parse_rfc3339(s);
    }
    // A version-2 report with a zero chip id and TCB: what the collateral
    // would be picked for.
    let mut report = vec![0u8; REPORT_LEN];
    report[0] = 2;
    if let Ok(r) = AttestationReport::from_bytes(&report) {
        let req = CollateralRequest::from_report(&r);
        for leaf in &bundle.leaves {
            let _ = req.matches(leaf);
        }
        if let Some(c) = Collateral::from_bundle(&bundle, &req, "fuzz") {
            let _ = c.certs();
        }
    }
});
