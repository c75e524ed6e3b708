//! `tee-attest encrypt` and `tee-attest decrypt`: files encrypted to a
//! token's ephemeral key, decrypted inside this machine's vTPM.
//!
//! `encrypt` writes the ciphertext to `--out` and the metadata to
//! `--out`.meta (empty for the direct RSA schemes, as in Microsoft's
//! library); `decrypt` reads `--in`.meta. The envelope scheme streams: memory
//! stays at one 64 KiB chunk whatever the file size, and `decrypt` writes to a
//! temporary file that it renames to `--out` only once every chunk
//! authenticated.

use std::fs::File;
use std::io::{BufReader, BufWriter, Write};
use std::path::{Path, PathBuf};

use clap::Args;
use tee_attest_broker::{EncryptionType, EnvelopeDecryptor};
use tee_attest_core::{AttestationToken, Error, ErrorCode, Result};

use super::common::{read_file, read_input, read_secret, runtime, FileKind};

/// Arguments of `tee-attest encrypt`.
#[derive(Args, Debug)]
pub struct EncryptArgs {
    /// The attestation token (JWT) whose `TpmEphemeralEncryptionKey` to
    /// encrypt to (its signature is not checked here), or `-` for stdin.
    #[arg(long)]
    pub token: String,
    /// The file to encrypt.
    #[arg(long = "in")]
    pub input: PathBuf,
    /// The ciphertext file; the metadata goes to this path + `.meta`.
    #[arg(long)]
    pub out: PathBuf,
    /// `envelope` (default: any size, AES-256-GCM streamed, key wrapped with
    /// RSA-OAEP-SHA256), or a direct RSA scheme as Microsoft's
    /// `EncryptionType::NONE`: `none` / `rsa-oaep-sha256` (up to 190 bytes),
    /// `rsa-oaep-sha1`, `rsa-pkcs1v15` / `none-microsoft` (Microsoft's
    /// default), `rsa-raw` (exactly 256 bytes; interop only).
    #[arg(long, default_value = "envelope")]
    pub scheme: String,
}

/// Arguments of `tee-attest decrypt`.
#[derive(Args, Debug)]
pub struct DecryptArgs {
    /// The ciphertext file; its metadata is read from this path + `.meta`.
    #[arg(long = "in")]
    pub input: PathBuf,
    /// Where to write the plaintext (created with mode 0600).
    #[arg(long)]
    pub out: PathBuf,
    /// The metadata file, if not `--in` + `.meta`.
    #[arg(long)]
    pub meta: Option<PathBuf>,
    /// The scheme: by default `envelope` when the metadata is not empty,
    /// else `rsa-oaep-sha256`. Name the scheme for other direct RSA data.
    #[arg(long)]
    pub scheme: Option<String>,
    /// The TEE whose key decrypts: `auto` (detect) or a backend id. Only
    /// TEEs with a vTPM ephemeral key can (code 1 otherwise).
    #[arg(long, default_value = "auto")]
    pub tee: String,
    /// The vTPM's TCTI (default: `$TEE_ATTEST_TCTI`, else `/dev/tpmrm0`).
    #[arg(long)]
    pub tcti: Option<String>,
    /// The vTPM lock file (default: `$TEE_ATTEST_VTPM_LOCK`, else
    /// `/run/tee-attest/vtpm.lock` or a writable fallback).
    #[arg(long)]
    pub vtpm_lock: Option<PathBuf>,
    /// How long one TPM command, and the wait for the vTPM lock, may take
    /// (default: `$TEE_ATTEST_TPM_TIMEOUT`, else 30 s); code 13 past it.
    #[arg(long, value_parser = super::attest::tpm_timeout)]
    pub tpm_timeout: Option<std::time::Duration>,
}

fn meta_path(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".meta");
    PathBuf::from(p)
}

fn io_error(code: ErrorCode, what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::with_source(code, what, e)
}

fn create_private(path: &Path) -> std::io::Result<File> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    opts.open(path)
}

/// Run `tee-attest encrypt`.
pub fn run_encrypt(args: EncryptArgs) -> Result<()> {
    let kind: EncryptionType = args.scheme.parse()?;
    let text = String::from_utf8(read_input(&args.token, FileKind::Credential)?).map_err(|e| {
        Error::with_source(ErrorCode::JwtExtractionFailed, "the token is not UTF-8", e)
    })?;
    let token = AttestationToken::parse(&text)?;
    let in_name = args.input.display().to_string();
    let out_name = args.out.display().to_string();
    let metadata = match kind {
        EncryptionType::Envelope => {
            let key = tee_attest_broker::RecipientKey::from_token(&token)?;
            let enc = tee_attest_broker::EnvelopeEncryptor::new(&key)?;
            let metadata = enc.metadata().to_bytes();
            let input = File::open(&args.input).map_err(io_error(
                ErrorCode::InvalidInputParameter,
                format!("opening {in_name}"),
            ))?;
            let out = File::create(&args.out).map_err(io_error(
                ErrorCode::InvalidInputParameter,
                format!("creating {out_name}"),
            ))?;
            let mut writer = BufWriter::with_capacity(256 * 1024, out);
            // Unbuffered input: the encryptor reads whole chunks into its
            // own zeroizing buffer, and a `BufReader` would keep a copy of
            // the plaintext that is freed unzeroized.
            enc.encrypt_stream(input, &mut writer)?;
            writer
                .into_inner()
                .map_err(|e| e.into_error())
                .and_then(|f| f.sync_all())
                .map_err(io_error(
                    ErrorCode::EncryptFailed,
                    format!("writing {out_name}"),
                ))?;
            metadata
        }
        _ => {
            let data = read_secret(
                &args.input,
                FileKind::Data,
                ErrorCode::InvalidInputParameter,
            )?;
            let (ct, metadata) = tee_attest_broker::encrypt(kind, &token, &data)?;
            std::fs::write(&args.out, ct).map_err(io_error(
                ErrorCode::EncryptFailed,
                format!("writing {out_name}"),
            ))?;
            metadata
        }
    };
    let meta = meta_path(&args.out);
    std::fs::write(&meta, &metadata).map_err(io_error(
        ErrorCode::EncryptFailed,
        format!("writing {}", meta.display()),
    ))?;
    eprintln!(
        "encrypted {in_name} with {kind} to {out_name} (metadata: {})",
        meta.display()
    );
    Ok(())
}

/// Run `tee-attest decrypt`.
pub fn run_decrypt(args: DecryptArgs) -> Result<()> {
    let meta_file = args.meta.clone().unwrap_or_else(|| meta_path(&args.input));
    let metadata = read_file(
        &meta_file,
        FileKind::Metadata,
        ErrorCode::InvalidInputParameter,
    )?;
    let kind: EncryptionType = match &args.scheme {
        Some(s) => s.parse()?,
        None if metadata.is_empty() => EncryptionType::default(),
        None => EncryptionType::Envelope,
    };
    let mut cfg = tee_attest::ProviderConfig::default();
    cfg.tcti = args.tcti.clone();
    cfg.vtpm_lock = args.vtpm_lock.clone();
    cfg.tpm_timeout = args.tpm_timeout;
    let decryptor = tee_attest::provider(&args.tee, &cfg)?.decryptor()?;
    let decryptor = decryptor.as_ref();
    let rt = runtime()?;
    let in_name = args.input.display().to_string();
    match kind {
        EncryptionType::Envelope => {
            let opened = rt.block_on(EnvelopeDecryptor::open(decryptor, &metadata))?;
            let input = File::open(&args.input).map_err(io_error(
                ErrorCode::InvalidInputParameter,
                format!("opening {in_name}"),
            ))?;
            // Plaintext goes to a temporary file next to `--out`, renamed
            // only when every chunk authenticated, removed otherwise.
            let tmp = partial_path(&args.out);
            let result = (|| -> Result<()> {
                let out = create_private(&tmp).map_err(io_error(
                    ErrorCode::InvalidInputParameter,
                    format!("creating {}", tmp.display()),
                ))?;
                // Unbuffered output: the decryptor writes whole
                // authenticated chunks from its zeroizing buffer, and a
                // `BufWriter` would keep a copy of the plaintext that is
                // freed unzeroized.
                let mut writer = out;
                opened.decrypt_stream(BufReader::with_capacity(256 * 1024, input), &mut writer)?;
                writer
                    .sync_all()
                    .and_then(|()| std::fs::rename(&tmp, &args.out))
                    .map_err(io_error(
                        ErrorCode::DecryptTpmError,
                        format!("writing {}", args.out.display()),
                    ))
            })();
            if result.is_err() {
                let _ = std::fs::remove_file(&tmp);
            }
            result?;
        }
        _ => {
            let data = read_file(
                &args.input,
                FileKind::Data,
                ErrorCode::InvalidInputParameter,
            )?;
            let plain = rt.block_on(tee_attest_broker::decrypt(
                kind, decryptor, &data, &metadata,
            ))?;
            let mut out = create_private(&args.out).map_err(io_error(
                ErrorCode::InvalidInputParameter,
                format!("creating {}", args.out.display()),
            ))?;
            out.write_all(&plain).map_err(io_error(
                ErrorCode::DecryptTpmError,
                format!("writing {}", args.out.display()),
            ))?;
        }
    }
    eprintln!("decrypted {in_name} with {kind} to {}", args.out.display());
    Ok(())
}

fn partial_path(out: &Path) -> PathBuf {
    let name = out
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "plaintext".into());
    out.with_file_name(format!(".{name}.partial-{}", std::process::id()))
}
