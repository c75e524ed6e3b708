//! What several subcommands share: the data directory, the async runtime,
//! reading inputs.

use std::path::{Path, PathBuf};

use tee_attest_core::{Error, ErrorCode, Result};

/// The data directory: `--data-dir`, else `$TEE_ATTEST_DATA_DIR`, else
/// `$HOME/.local/share/tee-attest`.
pub fn data_dir(arg: Option<&Path>) -> PathBuf {
    tee_attest::verifiers::data_dir(arg)
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

/// Every certificate (DER) in a PEM file; code 8 when the file cannot be
/// read or holds none.
pub fn read_pem_certificates(path: &Path) -> Result<Vec<Vec<u8>>> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Error::with_source(
            ErrorCode::InvalidInputParameter,
            format!("reading {}", path.display()),
            e,
        )
    })?;
    let out = tee_attest_maa::azureguest::pem_certificates(&text)
        .map_err(|e| Error::from(e).context(path.display()))?;
    if out.is_empty() {
        return Err(Error::new(
            ErrorCode::InvalidInputParameter,
            format!("{} holds no PEM certificate", path.display()),
        ));
    }
    Ok(out)
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
}
