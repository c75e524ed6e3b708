//! Every byte of a real quote, changed, is refused: the signed header and
//! body (the quote's signature), the signature data (QE report and its
//! signature, attestation key, QE auth data, the PCK chain, every length).

use std::sync::Arc;

use tee_attest_tdx::{parse_rfc3339, Collateral, DcapVerifier, FixedClock, Quote, VerifyOptions};
use tee_attest_testkit::vector;

fn check_all_flips(quote_name: &str, collateral_name: &str, date: &str) {
    let v = DcapVerifier::new()
        .expect("verifier")
        .with_clock(Arc::new(FixedClock(parse_rfc3339(date).expect("date"))));
    let c = Collateral::from_dcap_qvl_json(&vector(collateral_name)).expect("collateral");
    let prepared = v.prepare(&c).expect("prepared");
    let quote = vector(quote_name);
    let opts = VerifyOptions::default();
    v.verify_prepared(&quote, &prepared, &opts)
        .expect("the original verifies");
    let q = Quote::parse(&quote).expect("parses");
    let signed = q.signed_bytes().len();
    let end = q.declared_len();
    let mut accepted = Vec::new();
    for i in 0..end {
        let mut m = quote.clone();
        m[i] ^= 0x01;
        if v.verify_prepared(&m, &prepared, &opts).is_ok() {
            accepted.push(i);
        }
    }
    assert!(
        accepted.is_empty(),
        "{quote_name}: {} of {end} changed bytes accepted (signed range 0..{signed}): {:?}",
        accepted.len(),
        &accepted[..accepted.len().min(20)]
    );
    // The padding after the declared end is not part of the quote.
    if end < quote.len() {
        let mut m = quote.clone();
        m[end] ^= 0xFF;
        v.verify_prepared(&m, &prepared, &opts)
            .expect("padding is not signed");
    }
}

#[test]
fn every_byte_of_the_tdx_v4_quote_changed_is_refused() {
    check_all_flips(
        "tdx-dcap/quote.bin",
        "tdx-dcap/collateral.json",
        "2025-06-20T00:00:00Z",
    );
}

#[test]
fn every_byte_of_the_sgx_v3_quote_changed_is_refused() {
    check_all_flips(
        "sgx-dcap/quote.bin",
        "sgx-dcap/collateral.json",
        "2025-06-20T00:00:00Z",
    );
}
