//! An AMD CRL (KDS `crl` endpoint, or carried in the collateral): parse,
//! the ARK-signature and freshness check against each root, and lookups.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use tee_attest_fuzz::{mock_ark_der, FIXED_NOW};
use tee_attest_snp::{AmdCrl, TrustAnchors};

fn anchors() -> &'static TrustAnchors {
    static A: OnceLock<TrustAnchors> = OnceLock::new();
    A.get_or_init(|| {
        TrustAnchors::amd()
            .with_extra_root(&mock_ark_der())
            .expect("the mock ARK is a root")
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(crl) = AmdCrl::from_der(data) else {
        return;
    };
    let _ = crl.der();
    let _ = crl.revoked_serials();
    for r in anchors().roots() {
        let _ = crl.check(&r.ark, FIXED_NOW as u64);
        let _ = crl.check(&r.ark, 0);
        let _ = crl.lists(&r.ark);
    }
    for i in anchors().intermediates() {
        let _ = crl.lists(i);
    }
});
