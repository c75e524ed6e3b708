//! What several subcommands share: the data directory, the async runtime,
//! reading inputs.

use std::path::{Path, PathBuf};

use tee_attest_core::{Error, ErrorCode, Result};
use zeroize::Zeroizing;

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

/// What a file the CLI reads holds, which sets the most bytes read from
/// it: every file is read through [`read_file`], so that no input (a
/// device such as `/dev/zero`, a runaway log) can make the CLI allocate
/// without bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A hardware report, HCL report or quote: 1 MiB.
    Evidence,
    /// Certificates, chains, CRLs, trust anchors: 16 MiB.
    Collateral,
    /// A policy document (MAA or release policy, text or JWS): 1 MiB.
    Policy,
    /// A token, a JWKS, a key or credential file: 1 MiB.
    Credential,
    /// Encryption metadata: 64 KiB.
    Metadata,
    /// Data encrypted or decrypted whole, not streamed (the direct RSA
    /// schemes: at most a modulus): 1 MiB.
    Data,
    /// The mock's own small state files (pid, environment, log): 1 MiB.
    State,
}

impl FileKind {
    /// The most bytes read from a file of this kind.
    pub const fn cap(self) -> u64 {
        const MIB: u64 = 1024 * 1024;
        match self {
            FileKind::Evidence
            | FileKind::Policy
            | FileKind::Credential
            | FileKind::Data
            | FileKind::State => MIB,
            FileKind::Collateral => 16 * MIB,
            FileKind::Metadata => 64 * 1024,
        }
    }

    fn name(self) -> &'static str {
        match self {
            FileKind::Evidence => "evidence",
            FileKind::Collateral => "collateral",
            FileKind::Policy => "policy",
            FileKind::Credential => "credential",
            FileKind::Metadata => "metadata",
            FileKind::Data => "data",
            FileKind::State => "state",
        }
    }
}

/// Reads `reader` (named `what`), at most `kind`'s cap: a longer input is
/// refused after reading one byte past the cap, with `code`.
fn read_capped(
    reader: impl std::io::Read,
    hint: u64,
    what: &str,
    kind: FileKind,
    code: ErrorCode,
) -> Result<Vec<u8>> {
    let cap = kind.cap();
    let too_large = || {
        Error::new(
            code,
            format!(
                "{what} is larger than {cap} bytes (the cap on {} files)",
                kind.name()
            ),
        )
    };
    if hint > cap {
        return Err(too_large());
    }
    // Files may hold secrets (keys, credentials, plaintext): the buffer
    // never reallocates in place of growing (which would free a copy
    // unzeroized); it grows into a new zeroizing buffer, and the old one is
    // wiped when dropped.
    let mut reader = reader.take(cap + 1);
    let mut buf = Zeroizing::new(Vec::with_capacity(
        usize::try_from(hint.saturating_add(1))
            .unwrap_or(0)
            .max(4096),
    ));
    loop {
        if buf.len() == buf.capacity() {
            let mut bigger = Zeroizing::new(Vec::with_capacity(buf.capacity().saturating_mul(2)));
            bigger.extend_from_slice(&buf);
            buf = bigger;
        }
        let len = buf.len();
        // At most 64 KiB at a time: a pipe's small reads do not zero the
        // whole spare capacity each time.
        let spare = (buf.capacity() - len).min(64 * 1024);
        buf.resize(len + spare, 0);
        match std::io::Read::read(&mut reader, &mut buf[len..]) {
            Ok(0) => {
                buf.truncate(len);
                break;
            }
            Ok(n) => buf.truncate(len + n),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => buf.truncate(len),
            Err(e) => return Err(Error::with_source(code, format!("cannot read {what}"), e)),
        }
    }
    if buf.len() as u64 > cap {
        return Err(too_large());
    }
    // The caller owns the bytes from here (and wraps secrets in `Zeroizing`).
    Ok(std::mem::take(&mut *buf))
}

/// [`read_file`] for a file that holds a secret: the bytes are zeroized
/// when dropped.
pub fn read_secret(path: &Path, kind: FileKind, code: ErrorCode) -> Result<Zeroizing<Vec<u8>>> {
    read_file(path, kind, code).map(Zeroizing::new)
}

/// Reads the file `path`, at most `kind`'s cap (see [`FileKind`]); a
/// larger file (or one that never ends) is refused with `code`, the code
/// the command uses for a bad input, as is one that cannot be read.
pub fn read_file(path: &Path, kind: FileKind, code: ErrorCode) -> Result<Vec<u8>> {
    let what = path.display().to_string();
    let file = std::fs::File::open(path)
        .map_err(|e| Error::with_source(code, format!("cannot read {what}"), e))?;
    // A regular file says its size: refuse a large one before reading it.
    let hint = file
        .metadata()
        .ok()
        .filter(std::fs::Metadata::is_file)
        .map_or(0, |m| m.len());
    read_capped(file, hint, &what, kind, code)
}

/// [`read_file`] as UTF-8 text (`code` when it is not).
pub fn read_text(path: &Path, kind: FileKind, code: ErrorCode) -> Result<String> {
    let bytes = read_secret(path, kind, code)?;
    // Checked on the zeroizing buffer, so that a refused file's bytes are
    // wiped too; the `String` then takes them over without a copy.
    if std::str::from_utf8(&bytes).is_err() {
        return Err(Error::new(
            code,
            format!("{} is not UTF-8 text", path.display()),
        ));
    }
    let mut bytes = bytes;
    String::from_utf8(std::mem::take(&mut *bytes))
        .map_err(|e| Error::with_source(code, format!("{} is not UTF-8 text", path.display()), e))
}

/// Read a file, or standard input for `-`, at most `kind`'s cap (code 8).
pub fn read_input(path: &str, kind: FileKind) -> Result<Vec<u8>> {
    if path == "-" {
        return read_capped(
            std::io::stdin().lock(),
            0,
            "standard input",
            kind,
            ErrorCode::InvalidInputParameter,
        );
    }
    read_file(Path::new(path), kind, ErrorCode::InvalidInputParameter)
}

/// Every certificate (DER) in a PEM file; code 8 when the file cannot be
/// read or holds none.
pub fn read_pem_certificates(path: &Path) -> Result<Vec<Vec<u8>>> {
    let text = read_text(path, FileKind::Collateral, ErrorCode::InvalidInputParameter)?;
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
