//! DCAP quote verification: tee-attest-tdx against dcap-qvl (0.7.1, the
//! newest release, ring backend), on the same quote and collateral in the
//! same run.
//!
//! * `tdx-v4/dcap-qvl`, `sgx-v3/dcap-qvl`: `dcap_qvl::verify::verify` with
//!   the collateral already deserialised (its `QuoteCollateralV3`).
//! * `tdx-v4/ours`, `sgx-v3/ours`: `DcapVerifier::verify` with the
//!   collateral already read (our `Collateral`), as a service calls it: the
//!   collateral set was seen before, so its signatures and chains are not
//!   checked again (the verifier's memo, keyed by the SHA-256 of every
//!   collateral byte, hashed each call); the windows, the PCK chain and its
//!   revocation, the QE report and the quote are checked each time.
//! * `tdx-v4/ours-first-sight`, `sgx-v3/ours-first-sight`: collateral never
//!   seen before (`prepare` + `verify_prepared`, no memo): every chain, CRL,
//!   signature and JSON parse each time, as dcap-qvl does.
//! * `tdx-v4/ours-prepared`, `sgx-v3/ours-prepared`: the cached-collateral
//!   path, `verify_prepared` against collateral whose signatures were
//!   checked once (`DcapVerifier::prepare`); windows, the PCK chain, the QE
//!   report and the quote are still checked every time.
//!
//! * `parts/*`: the floor and the parsing costs — one P-256 verify with
//!   aws-lc-rs (a cold verification does nine: root CA CRL, PCK CA, PCK CRL,
//!   TCB signing certificate, TCB info, QE identity, PCK certificate, QE
//!   report, quote; a prepared one three), parsing the PCK chain, the TCB
//!   info, the PCK CRL, a quote.
//!
//! Before measuring, both verifiers must agree on the verdict of each quote
//! (TDX v4: UpToDate; SGX v3: ConfigurationAndSWHardeningNeeded with the
//! same advisories), at a time inside the collateral's windows.
//!
//! Run: `cargo bench -p tee-attest-benches --bench tdx -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use tee_attest_benches::vector;
use tee_attest_tdx::{parse_rfc3339, Collateral, DcapVerifier, FixedClock, VerifyOptions};

struct Case {
    name: &'static str,
    quote: Vec<u8>,
    ours: Collateral,
    theirs: dcap_qvl::QuoteCollateralV3,
}

fn case(name: &'static str, quote: &str, collateral: &str) -> Case {
    let json = vector(collateral);
    Case {
        name,
        quote: vector(quote),
        ours: Collateral::from_dcap_qvl_json(&json).expect("our collateral"),
        theirs: serde_json::from_slice(&json).expect("dcap-qvl collateral"),
    }
}

fn bench(c: &mut Criterion) {
    let now = parse_rfc3339("2025-06-20T00:00:00Z").expect("time");
    let verifier = DcapVerifier::new()
        .expect("verifier")
        .with_clock(Arc::new(FixedClock(now)));
    let opts = VerifyOptions::default();
    let cases = [
        case("tdx-v4", "tdx-dcap/quote.bin", "tdx-dcap/collateral.json"),
        case("sgx-v3", "sgx-dcap/quote.bin", "sgx-dcap/collateral.json"),
    ];
    for k in &cases {
        // The same verdict from both, where the rule sets agree.
        let ours = verifier
            .verify(&k.quote, &k.ours, &opts)
            .expect("ours verifies");
        let theirs = dcap_qvl::verify::verify(&k.quote, &k.theirs, now).expect("dcap-qvl verifies");
        assert_eq!(ours.status.as_str(), theirs.status, "{}: status", k.name);
        let mut their_adv = theirs.advisory_ids.clone();
        their_adv.sort();
        their_adv.dedup();
        assert_eq!(ours.advisory_ids, their_adv, "{}: advisories", k.name);
        eprintln!(
            "{}: both say {} (advisories {:?})",
            k.name, ours.status, ours.advisory_ids
        );
        let prepared = verifier.prepare(&k.ours).expect("prepared");

        let mut g = c.benchmark_group(k.name);
        g.bench_function("dcap-qvl", |b| {
            b.iter(|| {
                dcap_qvl::verify::verify(black_box(&k.quote), black_box(&k.theirs), now)
                    .expect("dcap-qvl")
            })
        });
        g.bench_function("ours", |b| {
            b.iter(|| {
                verifier
                    .verify(black_box(&k.quote), black_box(&k.ours), &opts)
                    .expect("ours")
            })
        });
        g.bench_function("ours-first-sight", |b| {
            b.iter(|| {
                let p = verifier.prepare(black_box(&k.ours)).expect("prepared");
                verifier
                    .verify_prepared(black_box(&k.quote), &p, &opts)
                    .expect("ours")
            })
        });
        g.bench_function("ours-prepared", |b| {
            b.iter(|| {
                verifier
                    .verify_prepared(black_box(&k.quote), black_box(&prepared), &opts)
                    .expect("ours")
            })
        });
        g.finish();
    }
}

/// What the verifications cost in parts: one P-256 verify (aws-lc-rs),
/// parsing the PCK chain, the TCB info, the PCK CRL, a quote.
fn parts(c: &mut Criterion) {
    use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
    use tee_attest_tdx::pki::{parse_pem_chain, IntelCrl};
    use tee_attest_tdx::tcb_info::TcbInfo;
    use tee_attest_tdx::Quote;
    let quote = vector("tdx-dcap/quote.bin");
    let q = Quote::parse(&quote).expect("quote");
    let coll = Collateral::from_dcap_qvl_json(&vector("tdx-dcap/collateral.json")).expect("c");
    let mut key = vec![4u8];
    key.extend_from_slice(&q.signature_data.attestation_key);
    let mut g = c.benchmark_group("parts");
    g.bench_function("p256-verify", |b| {
        b.iter(|| {
            UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key)
                .verify(black_box(q.signed_bytes()), &q.signature_data.signature)
                .expect("verifies")
        })
    });
    let sig = q.signature_data.signature;
    g.bench_function("p256-verify-parsed-key", |b| {
        let k = aws_lc_rs::signature::ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key)
            .expect("key");
        b.iter(|| {
            k.verify_sig(black_box(q.signed_bytes()), &sig)
                .expect("verifies")
        })
    });
    let pem = q.pck_chain_pem().expect("chain").to_vec();
    g.bench_function("parse-pck-chain", |b| {
        b.iter(|| parse_pem_chain(black_box(&pem), "pck").expect("chain"))
    });
    let tcb = coll.tcb_info.clone().expect("tcb").body;
    g.bench_function("parse-tcb-info", |b| {
        b.iter(|| TcbInfo::parse(black_box(&tcb)).expect("tcb"))
    });
    let crl = coll.pck_crl.clone().expect("crl");
    g.bench_function("parse-pck-crl", |b| {
        b.iter(|| IntelCrl::from_der(black_box(&crl), "crl").expect("crl"))
    });
    g.bench_function("parse-quote", |b| {
        b.iter(|| Quote::parse(black_box(&quote)).expect("quote"))
    });
    g.finish();
}

criterion_group!(benches, bench, parts);
criterion_main!(benches);
