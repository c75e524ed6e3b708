//! TPM paths, each next to its floor measured in the same run:
//!
//! - `quote_verify/tee-attest`: verifying the real Azure vTPM quote (parse
//!   TPMS_ATTEST, RSASSA-SHA256 signature, nonce, PCR digest) vs
//!   `quote_verify/bare-rsa2048-verify`: the one RSA-2048 signature check
//!   it cannot avoid (aws-lc-rs, same message and key).
//! - `swtpm/nv_read_2KiB`: reading a 2 KiB NV index from swtpm over its TCP
//!   TCTI, and `swtpm/quote_pcr0-7` for scale.
//!
//! Figures: docs/PERFORMANCE.md. Run: `cargo bench -p tee-attest-benches --bench tpm`.

// criterion_group! generates undocumented items.
#![allow(missing_docs)]

use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use criterion::{criterion_group, criterion_main, Criterion};
use tee_attest_benches::vector;
use tee_attest_mock::{MockVtpm, MOCK_HCL_REPORT_NV_SIZE};
use tee_attest_tpm::handles::{AK_PERSISTENT_HANDLE, HCL_REPORT_NV_INDEX, LINUX_QUOTE_PCRS};
use tee_attest_tpm::verify::{verify_quote, Attest, Attested, RsaPublic};

fn quote_verify(c: &mut Criterion) {
    let dir = "azure-snp/tpm-quote";
    let attest = vector(&format!("{dir}/quote-attest.bin"));
    let signature = vector(&format!("{dir}/quote-signature.bin"));
    let ak = RsaPublic::from_pem(&String::from_utf8_lossy(&vector(&format!(
        "{dir}/ak-pub.pem"
    ))))
    .expect("AK PEM");
    let all = vector(&format!("{dir}/pcrs-sha256.bin"));
    let Ok(Attest {
        attested: Attested::Quote { selection, .. },
        ..
    }) = Attest::parse(&attest)
    else {
        panic!("the vector is a quote")
    };
    let pcrs: Vec<(u32, Vec<u8>)> = selection[0]
        .pcrs
        .iter()
        .map(|&i| (i, all[i as usize * 32..(i as usize + 1) * 32].to_vec()))
        .collect();

    let mut g = c.benchmark_group("quote_verify");
    g.bench_function("tee-attest", |b| {
        b.iter(|| verify_quote(&attest, &signature, &ak, b"challenge", &pcrs).expect("verifies"))
    });
    let key = RsaPublicKeyComponents {
        n: ak.n.as_slice(),
        e: ak.e.as_slice(),
    };
    g.bench_function("bare-rsa2048-verify", |b| {
        b.iter(|| {
            key.verify(&RSA_PKCS1_2048_8192_SHA256, &attest, &signature)
                .expect("verifies")
        })
    });
    g.finish();
}

fn swtpm(c: &mut Criterion) {
    let vtpm = MockVtpm::start().expect("swtpm must be installed (cargo xtask deps)");
    let mut tpm = vtpm.open().expect("open swtpm");
    tpm.nv_write(HCL_REPORT_NV_INDEX, &[0x5a; MOCK_HCL_REPORT_NV_SIZE])
        .expect("nv write");
    let mut g = c.benchmark_group("swtpm");
    g.sample_size(20);
    g.bench_function("nv_read_2KiB", |b| {
        b.iter(|| tpm.nv_read(HCL_REPORT_NV_INDEX).expect("nv read"))
    });
    g.bench_function("quote_pcr0-7", |b| {
        b.iter(|| {
            tpm.quote(AK_PERSISTENT_HANDLE, LINUX_QUOTE_PCRS, b"nonce")
                .expect("quote")
        })
    });
    g.finish();
}

criterion_group!(benches, quote_verify, swtpm);
criterion_main!(benches);
