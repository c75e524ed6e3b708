//! What several subcommands share: the data directory, the local verifier,
//! the async runtime, reading inputs.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tee_attest_core::{Error, ErrorCode, Result};
use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};

/// The default issuer of the local verifier: the default `serve` address,
/// so that tokens from the embedded verifier and the service agree.
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8700";

/// The data directory: `--data-dir`, else `$TEE_ATTEST_DATA_DIR`, else
/// `$HOME/.local/share/tee-attest`.
pub fn data_dir(arg: Option<&Path>) -> PathBuf {
    if let Some(d) = arg {
        return d.to_path_buf();
    }
    if let Some(d) = std::env::var_os("TEE_ATTEST_DATA_DIR") {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".local/share/tee-attest")
}

/// A runtime for the async parts.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Runtime::new().map_err(|e| {
        Error::with_source(
            ErrorCode::InitializationFailed,
            "starting the async runtime",
            e,
        )
    })
}

/// Read a file, or standard input for `-`.
pub fn read_input(path: &str) -> Result<Vec<u8>> {
    let read = if path == "-" {
        let mut buf = Vec::new();
        std::io::Read::read_to_end(&mut std::io::stdin(), &mut buf).map(|_| buf)
    } else {
        std::fs::read(path)
    };
    read.map_err(|e| {
        Error::with_source(
            ErrorCode::InvalidInputParameter,
            format!("reading {path}"),
            e,
        )
    })
}

/// The mock AMD ARK (DER) of the repository's stored mock roots.
pub fn mock_ark() -> Result<Vec<u8>> {
    Ok(tee_attest_mock::amd::MockAmdRoots::stored_milan()?
        .ark_der()
        .to_vec())
}

/// The local verifier with the data directory's signing key.
pub fn local_verifier(
    data_dir: &Path,
    issuer: &str,
    policy: Option<String>,
    trust_mock: bool,
) -> Result<Arc<LocalVerifier>> {
    let signer = TokenSigner::load_or_generate(data_dir)?;
    let mut cfg = LocalVerifierConfig::new(issuer);
    cfg.policy = policy;
    if trust_mock {
        cfg.extra_snp_roots.push(mock_ark()?);
    }
    Ok(Arc::new(LocalVerifier::new(cfg, signer)?))
}

/// Whether `TEE_ATTEST_TRUST_MOCK=1` asks to trust the mock roots.
pub fn trust_mock_env() -> bool {
    std::env::var("TEE_ATTEST_TRUST_MOCK").is_ok_and(|v| v == "1")
}

/// Every certificate (DER) in a PEM file; code 8 when the file cannot be
/// read or holds none.
pub fn read_pem_certificates(path: &Path) -> Result<Vec<Vec<u8>>> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::with_source(
            ErrorCode::InvalidInputParameter,
            format!("reading {}", path.display()),
            e,
        )
    })?;
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(i) = rest.find(BEGIN) {
        let block = &rest[i..];
        out.push(tee_attest_policy::jws::pem_to_der(block, &["CERTIFICATE"])?);
        rest = &block[BEGIN.len()..];
    }
    if out.is_empty() {
        return Err(Error::new(
            ErrorCode::InvalidInputParameter,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(out)
}
