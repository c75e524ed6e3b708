//! Test support shared by the workspace's tests and benches.
//!
//! Real-hardware vectors live outside the repository, in
//! `../shared/testvectors` (see its `PROVENANCE.md`); the environment
//! variable `TEE_ATTEST_VECTORS` points elsewhere. They are read in place and
//! never copied into the repository. A missing vector fails the test loudly.
//!
//! [`conformance`]: the suite every TEE backend and appraiser runs (wrong
//! nonce, truncated evidence, each signed region flipped, untrusted roots,
//! device gone).
//!
//! [`postgres`]: a throwaway PostgreSQL cluster (`PgCluster`).
#![forbid(unsafe_code)]

pub mod conformance;
pub mod oidc;
pub mod pki;
pub mod postgres;

use std::path::{Path, PathBuf};

/// The directory of the real-hardware vectors: `$TEE_ATTEST_VECTORS`, else
/// `../shared/testvectors` beside the workspace root.
pub fn vectors_dir() -> PathBuf {
    match std::env::var_os("TEE_ATTEST_VECTORS") {
        Some(dir) => PathBuf::from(dir),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/testvectors"),
    }
}

/// The path of one vector, e.g. `vector_path("snp-milan/vcek.der")`.
pub fn vector_path(rel: &str) -> PathBuf {
    vectors_dir().join(rel)
}

/// The bytes of one vector. Panics with a message that says where it looked
/// and how to point elsewhere: a test that needs a vector must not pass
/// without it.
pub fn vector(rel: &str) -> Vec<u8> {
    let path = vector_path(rel);
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "real-hardware vector {} is missing ({e}); set TEE_ATTEST_VECTORS to the shared testvectors directory",
            path.display()
        )
    })
}

/// A hex-text vector (whitespace ignored) as bytes.
pub fn hex_vector(rel: &str) -> Vec<u8> {
    let text: String = String::from_utf8_lossy(&vector(rel))
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    hex::decode(text).unwrap_or_else(|e| panic!("vector {rel} is not hex: {e}"))
}

/// The repository's own generated vectors (`testvectors/` at the root).
pub fn own_vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testvectors")
}

#[cfg(test)]
mod tests {
    #[test]
    fn finds_the_shared_vectors() {
        let provenance = super::vector("PROVENANCE.md");
        assert!(String::from_utf8_lossy(&provenance).contains("Real-hardware test vectors"));
        assert_eq!(super::hex_vector("snp-milan/report.hex").len(), 1184);
    }
}
