//! Shared helpers of the criterion benchmarks in this directory (one file
//! per path: `tpm.rs`, `snp.rs`, `policy.rs`, …). Run them with
//! `cargo bench -p tee-attest-benches --bench NAME`.
#![forbid(unsafe_code)]

pub use tee_attest_testkit::{hex_vector, vector, vector_path};
