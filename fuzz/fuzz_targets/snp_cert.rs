//! One X.509 certificate of the SNP collateral (VCEK, VLEK, ASK, ASVK,
//! ARK): parse, AMD extensions, role, signature checks against the built-in
//! roots, validity; and as a trust anchor or intermediate.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tee_attest_fuzz::{mock_ark_der, FIXED_NOW};
use tee_attest_snp::{AmdCertificate, CertBundle, TrustAnchors};

fn anchors() -> &'static TrustAnchors {
    static A: OnceLock<TrustAnchors> = OnceLock::new();
    A.get_or_init(|| {
        TrustAnchors::amd()
            .with_extra_root(&mock_ark_der())
            .expect("the mock ARK is a root")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = AmdCertificate::from_der(data, "fuzz") {
        let _ = c.tbs_bytes();
        let _ = c.signature_bytes();
        let _ = c.public_key_bytes();
        let _ = c.role().name();
        let _ = (c.subject_cn(), c.issuer_cn(), c.serial());
        let _ = c.amd();
        let _ = c.is_self_issued();
        let _ = c.product();
        let _ = c.validity_at(FIXED_NOW as u64);
        let _ = c.validity_at(0);
        let _ = c.validity_at(u64::MAX);
        let _ = c.verify_signed_by(&c);
        for r in anchors().roots() {
            let _ = c.verify_signed_by(&r.ark);
        }
        for i in anchors().intermediates() {
            let _ = c.verify_signed_by(i);
            let _ = i.verify_signed_by(&c);
        }
        let _ = anchors().known(data);
    }
    let _ = TrustAnchors::empty().add_extra_root(data);
    let _ = TrustAnchors::empty().add_intermediate(data);
    let _ = CertBundle::new().add_der(data);
});
