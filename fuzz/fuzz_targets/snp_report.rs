//! A bare SEV-SNP report and the certificates sent with it (the table of
//! VCEK/ASK/ARK blobs, each DER, PEM or THIM JSON): parse, every accessor,
//! and the full appraisal against the AMD roots plus the mock ARK.
//!
//! Input: `split(data, 2)` = [report, certificate table], the table itself
//! `split`-framed blobs (up to 4).
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tee_attest_fuzz::{mock_ark_der, split, FIXED_NOW};
use tee_attest_snp::collateral::CollateralRequest;
use tee_attest_snp::{
    AttestationReport, CertBundle, Product, SnpOptions, SnpVerifier, TrustAnchors,
};

fn verifier() -> &'static SnpVerifier {
    static V: OnceLock<SnpVerifier> = OnceLock::new();
    V.get_or_init(|| {
        let anchors = TrustAnchors::amd()
            .with_extra_root(&mock_ark_der())
            .expect("the mock ARK is a root");
        SnpVerifier::new(anchors).without_cache()
    })
}

fuzz_target!(|data: &[u8]| {
    let parts = split(data, 2);
    let (report, table) = (parts[0], parts[1]);
    let certs: Vec<Vec<u8>> = split(table, 4)
        .into_iter()
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let mut bundle = CertBundle::new();
    for c in &certs {
        let _ = bundle.add_any(c, "fuzz");
    }
    let _ = bundle.to_der_list();
    if let Ok(r) = AttestationReport::from_bytes(report) {
        let _ = r.signed_bytes();
        let _ = r.signature_fixed();
        let _ = r.signing_key().name();
        let _ = r.chip_id_masked();
        let _ = r.author_key_enabled();
        let _ = r.platform_smt_enabled();
        let _ = r.platform_tsme_enabled();
        for p in [Product::Milan, Product::Genoa, Product::Turin] {
            let t = r.reported_tcb(p);
            let _ = t.to_raw(p);
            let _ = t.first_above(r.committed_tcb(p));
            let _ = r.current_tcb(p).to_string();
            let _ = r.launch_tcb(p).components();
        }
        let req = CollateralRequest::from_report(&r);
        let _ = req.cache_key();
        let _ = req.tcb();
        let _ = r
            .product_hint()
            .map(|p| req.clone().with_product(p).cache_key());
    }
    let mut opts = SnpOptions::at(FIXED_NOW as u64);
    if data.len() > 1 && data[data.len() - 1] & 1 == 1 {
        opts.require_crl = true;
    }
    if let Ok(v) = verifier().verify(report, &certs, &opts) {
        let _ = v.maa_claims();
        let _ = v.claims();
    }
});
