//! SEV-SNP appraisal against its floor, measured in the same run.
//!
//! * `floor/p384+3xrsa4096pss`: one ECDSA-P384 verify (the report) and
//!   three RSA-4096-PSS verifies (ARK self-signature, ARK→ASK, ASK→VCEK),
//!   done directly with aws-lc-rs on the real Milan vectors: the least work
//!   a full appraisal can do.
//! * `floor/p384`: the one ECDSA-P384 verify alone (the floor of a warm
//!   appraisal).
//! * `appraisal/cold-*`: parse the report and the VCEK, check the whole
//!   chain, TCB, hwID, claims — every time (no cache).
//! * `appraisal/warm`: the same with the validated chain cached per VCEK.
//! * `hcl/parse+binding`: parse an Azure HCL report and check that its SNP
//!   report binds the variable data.
//!
//! Run: `cargo bench -p tee-attest-benches --bench snp -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;

use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P384_SHA384_FIXED, RSA_PSS_2048_8192_SHA384};
use criterion::{criterion_group, criterion_main, Criterion};
use tee_attest_azure::HclReport;
use tee_attest_benches::{hex_vector, vector};
use tee_attest_snp::{
    parse_rfc3339, pem_blocks, AmdCertificate, AttestationReport, CertRole, SnpOptions,
    SnpVerifier, TrustAnchors,
};

fn bench(c: &mut Criterion) {
    let report = hex_vector("snp-milan/report.hex");
    let vcek_der = vector("snp-milan/vcek.der");
    let chain_pem = vector("snp-milan/ask-ark.pem");
    let chain: Vec<Vec<u8>> = pem_blocks(&chain_pem, "CERTIFICATE");
    let opts = SnpOptions::at(parse_rfc3339("2025-06-01T00:00:00Z").expect("time"));

    // The floor's inputs, taken apart once.
    let vcek = AmdCertificate::from_der(&vcek_der, "VCEK").expect("VCEK");
    let certs: Vec<AmdCertificate> = chain
        .iter()
        .map(|d| AmdCertificate::from_der(d, "chain").expect("cert"))
        .collect();
    let ark = certs
        .iter()
        .find(|c| c.role() == CertRole::Ark)
        .expect("ARK");
    let ask = certs
        .iter()
        .find(|c| c.role() == CertRole::Ask)
        .expect("ASK");
    let parsed = AttestationReport::from_bytes(&report).expect("report");
    let signed = parsed.signed_bytes().to_vec();
    let sig = parsed.signature_fixed();
    let vcek_key = vcek.public_key_bytes();
    let ark_key = ark.public_key_bytes();
    let ask_key = ask.public_key_bytes();
    let rsa = [
        (
            ark_key.clone(),
            ark.tbs_bytes().to_vec(),
            ark.signature_bytes().to_vec(),
        ),
        (
            ark_key,
            ask.tbs_bytes().to_vec(),
            ask.signature_bytes().to_vec(),
        ),
        (
            ask_key,
            vcek.tbs_bytes().to_vec(),
            vcek.signature_bytes().to_vec(),
        ),
    ];
    let p384 = || {
        UnparsedPublicKey::new(&ECDSA_P384_SHA384_FIXED, &vcek_key)
            .verify(black_box(&signed), black_box(&sig))
            .expect("P-384")
    };

    let mut g = c.benchmark_group("snp");
    g.bench_function("floor/p384+3xrsa4096pss", |b| {
        b.iter(|| {
            p384();
            for (key, msg, s) in &rsa {
                UnparsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, key)
                    .verify(black_box(msg), black_box(s))
                    .expect("RSA-PSS");
            }
        })
    });
    g.bench_function("floor/p384", |b| b.iter(p384));

    let cold = SnpVerifier::new(TrustAnchors::amd()).without_cache();
    let vcek_only = vec![vcek_der.clone()];
    let mut full = vec![vcek_der.clone()];
    full.extend(chain.iter().cloned());
    g.bench_function("appraisal/cold-vcek-only", |b| {
        b.iter(|| {
            black_box(
                cold.verify(black_box(&report), &vcek_only, &opts)
                    .expect("cold"),
            )
            .maa_claims()
        })
    });
    g.bench_function("appraisal/cold-full-chain", |b| {
        b.iter(|| {
            black_box(cold.verify(black_box(&report), &full, &opts).expect("cold")).maa_claims()
        })
    });
    let warm = SnpVerifier::new(TrustAnchors::amd());
    warm.verify(&report, &vcek_only, &opts).expect("warm-up");
    g.bench_function("appraisal/warm", |b| {
        b.iter(|| {
            let v = warm
                .verify(black_box(&report), &vcek_only, &opts)
                .expect("warm");
            assert!(v.chain_cached);
            black_box(v).maa_claims()
        })
    });

    let hcl = vector("azure-snp-2/hcl-report.bin");
    g.bench_function("hcl/parse+binding", |b| {
        b.iter(|| {
            let h = HclReport::from_bytes(black_box(&hcl)).expect("hcl");
            h.check_binding().expect("binding");
            black_box(h.var_data().expect("var data").ak_pub().expect("ak"))
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
