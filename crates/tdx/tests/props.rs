//! Parsers and the verifier never panic on arbitrary or mutated input, and
//! a mutated real quote is either refused or verifies to the same verdict.

use std::sync::{Arc, OnceLock};

use proptest::prelude::*;
use tee_attest_tdx::ccel::{CcEventLog, CcelTable};
use tee_attest_tdx::pki::{pem_certificates, IntelCert, IntelCrl};
use tee_attest_tdx::qe_identity::QeIdentity;
use tee_attest_tdx::tcb_info::TcbInfo;
use tee_attest_tdx::{
    parse_rfc3339, Collateral, DcapVerifier, FixedClock, PreparedCollateral, Quote, SignedJson,
    TdReport, VerifyOptions,
};
use tee_attest_testkit::vector;

fn fixture() -> &'static (DcapVerifier, PreparedCollateral, Vec<u8>, Vec<u8>) {
    static F: OnceLock<(DcapVerifier, PreparedCollateral, Vec<u8>, Vec<u8>)> = OnceLock::new();
    F.get_or_init(|| {
        let v = DcapVerifier::new()
            .expect("verifier")
            .with_clock(Arc::new(FixedClock(
                parse_rfc3339("2025-06-20").expect("date"),
            )));
        let c = Collateral::from_dcap_qvl_json(&vector("tdx-dcap/collateral.json")).expect("c");
        let p = v.prepare(&c).expect("prepared");
        (
            v,
            p,
            vector("tdx-dcap/quote.bin"),
            vector("sgx-dcap/quote.bin"),
        )
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = Quote::parse(&b);
        let _ = TdReport::parse(&b);
        let _ = CcelTable::parse(&b);
        let _ = CcEventLog::parse(&b);
        let _ = IntelCert::from_der(&b, "x");
        let _ = IntelCrl::from_any(&b, "x");
        let _ = pem_certificates(&b);
        let _ = Collateral::from_dcap_qvl_json(&b);
        let _ = SignedJson::from_pcs_response(&b);
        let s = String::from_utf8_lossy(&b);
        let _ = TcbInfo::parse(&s);
        let _ = QeIdentity::parse(&s);
    }

    #[test]
    fn arbitrary_quote_shaped_input_never_panics(
        version in 3u16..=6,
        tee in prop_oneof![Just(0u32), Just(0x81u32), any::<u32>()],
        body_type in 0u16..5,
        body_size in prop_oneof![Just(384u32), Just(584), Just(648), any::<u32>()],
        rest in proptest::collection::vec(any::<u8>(), 0..1500),
    ) {
        let mut b = Vec::new();
        b.extend_from_slice(&version.to_le_bytes());
        b.extend_from_slice(&2u16.to_le_bytes());
        b.extend_from_slice(&tee.to_le_bytes());
        b.extend_from_slice(&[0; 40]);
        if version >= 5 {
            b.extend_from_slice(&body_type.to_le_bytes());
            b.extend_from_slice(&body_size.to_le_bytes());
        }
        b.extend_from_slice(&rest);
        let (v, p, ..) = fixture();
        let _ = Quote::parse(&b);
        let _ = v.verify_prepared(&b, p, &VerifyOptions::default());
        let _ = v.verify_signatures(&b);
    }

    #[test]
    fn mutated_real_quotes_are_refused_or_verify_the_same(
        which in 0usize..2,
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in proptest::option::of(any::<usize>()),
    ) {
        let (v, p, tdx, sgx) = fixture();
        let original = if which == 0 { tdx } else { sgx };
        let mut m = original.clone();
        for (at, byte) in edits {
            let i = at % m.len();
            m[i] = byte;
        }
        if let Some(c) = cut {
            m.truncate(c % (m.len() + 1));
        }
        let _ = Quote::parse(&m);
        let _ = v.verify_signatures(&m);
        if which == 0 {
            let base = v.verify_prepared(original, p, &VerifyOptions::default()).expect("original");
            if let Ok(verdict) = v.verify_prepared(&m, p, &VerifyOptions::default()) {
                // Only bytes outside the quote (padding) may have changed.
                let q = Quote::parse(&m).expect("parsed before");
                prop_assert_eq!(&m[..q.declared_len()], &original[..q.declared_len()]);
                prop_assert_eq!(verdict.status, base.status);
            }
        }
    }
}
