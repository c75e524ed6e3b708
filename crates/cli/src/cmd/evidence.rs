//! `tee-attest evidence …`: verify hardware evidence offline and print its
//! claims as JSON.
//!
//! ```text
//! tee-attest evidence snp --report F [--certs PATH]… [--at RFC3339]
//! tee-attest evidence hcl --report F [--certs PATH]… [--at RFC3339]
//! tee-attest evidence tdx --quote F [--collateral F|DIR] [--at RFC3339] [--no-revocation-data]
//! tee-attest evidence sgx --quote F [--collateral F|DIR] [--at RFC3339] [--no-revocation-data]
//! tee-attest evidence azure-tdx --report HCL --quote F [--collateral F|DIR] [--at RFC3339]
//! ```
//!
//! Exit code 0, or the spec code of the first failed check: 20 for a report
//! or quote that does not parse, 21 for an empty one, 6 for a failed
//! verification, 17 when no VCEK or DCAP collateral is found, 8 for
//! unusable arguments.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::{Args, Subcommand};
use tee_attest_azure::{verify_hcl_snp, HclReport};
use tee_attest_core::{Error, ErrorCode, Result};
use tee_attest_snp::collateral::{
    CollateralCache, CollateralChain, CollateralRequest, HttpConfig, Kds, OfflineDir, Thim,
};
use tee_attest_snp::{
    parse_rfc3339, AttestationReport, CertBundle, SnpOptions, SnpVerifier, TrustAnchors,
};

use super::common::{read_file, FileKind};

/// The `evidence` subcommands.
#[derive(Subcommand, Debug)]
pub enum EvidenceCmd {
    /// Verify a bare AMD SEV-SNP attestation report and print its claims.
    Snp(VerifyArgs),
    /// Verify an Azure HCL report (the vTPM's NV 0x01400001: SNP report and
    /// the variable data it binds) and print its claims.
    Hcl(VerifyArgs),
    /// Verify an Intel TDX quote (v4 or v5) with Intel's DCAP rules and
    /// print its claims (MAA's `tdx_*` names).
    Tdx(DcapArgs),
    /// Verify an Intel SGX quote (v3) with Intel's DCAP rules and print its
    /// claims (MAA's `x-ms-sgx-*` names).
    Sgx(DcapArgs),
    /// Verify Azure TDX CVM evidence: the HCL report (vTPM NV 0x01400001,
    /// type 4: a TDREPORT binding the variable data) and the TD quote IMDS
    /// made of that TDREPORT; print the claims as MAA nests them under
    /// `x-ms-isolation-tee`.
    AzureTdx(AzureTdxArgs),
}

/// Arguments of `evidence azure-tdx`.
#[derive(Args, Debug)]
pub struct AzureTdxArgs {
    /// The HCL report file (binary or hex text).
    #[arg(long, value_name = "FILE")]
    report: PathBuf,
    /// The TD quote and how to verify it.
    #[command(flatten)]
    dcap: DcapArgs,
}

/// Arguments of `evidence tdx` and `evidence sgx`.
#[derive(Args, Debug)]
pub struct DcapArgs {
    /// The quote file: binary, or hex text.
    #[arg(long, value_name = "FILE")]
    quote: PathBuf,
    /// The collateral: a file (dcap-qvl's collateral JSON) or a directory
    /// (Intel PCS v4 responses and CRLs, or collateral JSON files). Without
    /// it: the cache, $TEE_ATTEST_DCAP_OFFLINE_DIR and --pccs-url.
    #[arg(long, value_name = "FILE|DIR")]
    collateral: Option<PathBuf>,
    /// Verify at this time (RFC 3339, e.g. 2025-06-20T00:00:00Z) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Accept a verification without (current) revocation data; the
    /// claims then say `attester_revocation_checked: false`. A revoked
    /// certificate is refused regardless.
    #[arg(long)]
    no_revocation_data: bool,
    /// Trust this root instead of Intel's SGX Root CA (a self-signed
    /// certificate, PEM or DER), e.g. the mock Intel root. Never otherwise.
    #[arg(long = "trust-root", value_name = "FILE")]
    trust_root: Option<PathBuf>,
    /// Collateral cache directory (default: $TEE_ATTEST_DCAP_CACHE_DIR;
    /// else memory only). Used without --collateral.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// A PCCS or Intel PCS base URL (e.g. https://api.trustedservices.intel.com).
    /// No network is used without it. Used without --collateral.
    #[arg(long, value_name = "URL")]
    pccs_url: Option<String>,
}

/// Arguments shared by `evidence snp` and `evidence hcl`.
#[derive(Args, Debug)]
pub struct VerifyArgs {
    /// The report file: binary, or hex text.
    #[arg(long, value_name = "FILE")]
    report: PathBuf,
    /// Certificates and CRLs: PEM bundles, DER files, THIM JSON, or
    /// directories of them (VCEK, ASK and ARK are told apart by contents).
    /// Repeatable. Without it, the collateral sources are used.
    #[arg(long = "certs", value_name = "PATH")]
    certs: Vec<PathBuf>,
    /// Verify at this time (RFC 3339, e.g. 2025-06-01T00:00:00Z) instead of now.
    #[arg(long, value_name = "RFC3339")]
    at: Option<String>,
    /// Also trust this root (a self-signed ARK, PEM or DER), e.g. the mock
    /// roots. Never trusted otherwise. Repeatable.
    #[arg(long = "extra-root", value_name = "FILE")]
    extra_roots: Vec<PathBuf>,
    /// Fail when no AMD CRL is at hand (else its absence is a claim).
    #[arg(long)]
    require_crl: bool,
    /// Collateral cache directory (default: $TEE_ATTEST_SNP_CACHE_DIR; else
    /// memory only). Used without --certs.
    #[arg(long, value_name = "DIR")]
    cache_dir: Option<PathBuf>,
    /// Offline collateral directory (default: $TEE_ATTEST_SNP_OFFLINE_DIR).
    /// Used without --certs.
    #[arg(long, value_name = "DIR")]
    offline_dir: Option<PathBuf>,
    /// Azure THIM base URL (inside Azure: http://169.254.169.254). No
    /// network is used without it. Used without --certs.
    #[arg(long, value_name = "URL")]
    thim_url: Option<String>,
    /// AMD KDS base URL (https://kdsintf.amd.com). No network is used
    /// without it. Used without --certs.
    #[arg(long, value_name = "URL")]
    kds_url: Option<String>,
}

/// Run an `evidence` subcommand.
pub fn run(cmd: EvidenceCmd) -> Result<()> {
    let claims = match cmd {
        EvidenceCmd::Snp(a) => run_snp(&a)?,
        EvidenceCmd::Hcl(a) => run_hcl(&a)?,
        EvidenceCmd::Tdx(a) => run_dcap(&a, DcapKind::Tdx)?,
        EvidenceCmd::Sgx(a) => run_dcap(&a, DcapKind::Sgx)?,
        EvidenceCmd::AzureTdx(a) => run_azure_tdx(&a)?,
    };
    let text = serde_json::to_string_pretty(&serde_json::Value::Object(claims))
        .map_err(|e| Error::new(ErrorCode::InvalidInputParameter, e.to_string()))?;
    println!("{text}");
    Ok(())
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidInputParameter, msg)
}

/// Reads a report file: hex text (whitespace ignored) or binary.
fn read_report(path: &Path) -> Result<Vec<u8>> {
    let bytes = read_file(path, FileKind::Evidence, ErrorCode::InvalidInputParameter)
        .map_err(|e| invalid(format!("--report: {e}")))?;
    if let Ok(text) = std::str::from_utf8(&bytes) {
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        if !compact.is_empty() && compact.len() & 1 == 0 {
            let body = compact.strip_prefix("0x").unwrap_or(&compact);
            if body.bytes().all(|b| b.is_ascii_hexdigit()) {
                if let Ok(decoded) = hex::decode(body) {
                    return Ok(decoded);
                }
            }
        }
    }
    Ok(bytes)
}

/// Reads the `--certs` items; files in directories that are not
/// certificates are skipped, named files must be usable.
fn read_certs(paths: &[PathBuf]) -> Result<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(p)
                .map_err(|e| invalid(format!("cannot read --certs {}: {e}", p.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|e| e.is_file())
                .collect();
            entries.sort();
            for e in entries {
                if let Ok(bytes) =
                    read_file(&e, FileKind::Collateral, ErrorCode::InvalidInputParameter)
                {
                    if CertBundle::new().add_any(&bytes, "x").unwrap_or(0) > 0 {
                        out.push(bytes);
                    }
                }
            }
        } else {
            let bytes = read_file(p, FileKind::Collateral, ErrorCode::InvalidInputParameter)
                .map_err(|e| invalid(format!("--certs: {e}")))?;
            match CertBundle::new().add_any(&bytes, &p.display().to_string()) {
                Ok(n) if n > 0 => out.push(bytes),
                Ok(_) => {
                    return Err(invalid(format!(
                        "--certs {}: no certificate or CRL in it",
                        p.display()
                    )))
                }
                Err(e) => {
                    return Err(invalid(format!("--certs {}: {e}", p.display())));
                }
            }
        }
    }
    Ok(out)
}

fn verifier(args: &VerifyArgs) -> Result<SnpVerifier> {
    let mut anchors = TrustAnchors::amd();
    for p in &args.extra_roots {
        let bytes = read_file(p, FileKind::Collateral, ErrorCode::InvalidInputParameter)
            .map_err(|e| invalid(format!("--extra-root: {e}")))?;
        let ders = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
            tee_attest_snp::pem_blocks(&bytes, "CERTIFICATE")
        } else {
            vec![bytes]
        };
        for der in ders {
            anchors
                .add_extra_root(&der)
                .map_err(|e| invalid(format!("--extra-root {}: {e}", p.display())))?;
        }
    }
    Ok(SnpVerifier::new(anchors).without_cache())
}

fn options(args: &VerifyArgs) -> Result<SnpOptions> {
    let mut opts = SnpOptions::default();
    if let Some(at) = &args.at {
        opts.at = Some(parse_rfc3339(at).ok_or_else(|| {
            invalid(format!(
                "--at {at:?} is not an RFC 3339 time (2025-06-01T00:00:00Z)"
            ))
        })?);
    }
    opts.require_crl = args.require_crl;
    Ok(opts)
}

/// The certificates to verify with: `--certs`, or else the collateral
/// sources (cache, offline directory, and THIM/KDS only when given URLs).
fn certificates(
    args: &VerifyArgs,
    snp_report: &[u8],
    opts: &mut SnpOptions,
) -> Result<Vec<Vec<u8>>> {
    if !args.certs.is_empty() {
        return read_certs(&args.certs);
    }
    let report = AttestationReport::from_bytes(snp_report)?;
    let env_dir = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let cache = match args
        .cache_dir
        .clone()
        .or_else(|| env_dir("TEE_ATTEST_SNP_CACHE_DIR"))
    {
        Some(d) => CollateralCache::with_dir(d),
        None => CollateralCache::in_memory(),
    };
    let offline = args
        .offline_dir
        .clone()
        .or_else(|| env_dir("TEE_ATTEST_SNP_OFFLINE_DIR"))
        .map(OfflineDir::new);
    let thim = args
        .thim_url
        .as_ref()
        .map(|u| Thim::new(u, HttpConfig::default()))
        .transpose()?;
    let kds = args
        .kds_url
        .as_ref()
        .map(|u| Kds::new(u, HttpConfig::default()))
        .transpose()?;
    let chain = CollateralChain::standard(Vec::new(), Some(Arc::new(cache)), offline, thim, kds);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorCode::InitializationFailed, e.to_string()))?;
    let coll = rt.block_on(chain.resolve(&CollateralRequest::from_report(&report)))?;
    opts.crls.extend(coll.crl.iter().cloned());
    Ok(coll.certs())
}

fn run_snp(args: &VerifyArgs) -> Result<serde_json::Map<String, serde_json::Value>> {
    let report = read_report(&args.report)?;
    // Parse first: a bad report is 20/21 whatever the certificates.
    AttestationReport::from_bytes(&report)?;
    let mut opts = options(args)?;
    let certs = certificates(args, &report, &mut opts)?;
    let v = verifier(args)?.verify(&report, &certs, &opts)?;
    Ok(v.claims())
}

fn run_hcl(args: &VerifyArgs) -> Result<serde_json::Map<String, serde_json::Value>> {
    let bytes = read_report(&args.report)?;
    let hcl = HclReport::from_bytes(&bytes)?;
    let snp = hcl.snp_report()?;
    let mut opts = options(args)?;
    let certs = certificates(args, snp.as_bytes(), &mut opts)?;
    let v = verify_hcl_snp(&bytes, &verifier(args)?, &certs, &opts)?;
    Ok(v.claims())
}

/// Which quotes a `evidence tdx|sgx` command takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum DcapKind {
    Tdx,
    Sgx,
}

fn run_dcap(args: &DcapArgs, kind: DcapKind) -> Result<serde_json::Map<String, serde_json::Value>> {
    let bytes = read_report(&args.quote)?;
    dcap_claims(args, &bytes, kind)
}

/// `evidence azure-tdx`: the HCL report's TDREPORT binds its variable
/// data, the quote is of that TDREPORT, and the quote verifies.
fn run_azure_tdx(args: &AzureTdxArgs) -> Result<serde_json::Map<String, serde_json::Value>> {
    let hcl = HclReport::from_bytes(&read_report(&args.report)?)?;
    let td = hcl.td_report()?;
    hcl.check_binding()?;
    let var_data = hcl.var_data()?;
    let bytes = read_report(&args.dcap.quote)?;
    let quote = tee_attest_tdx::Quote::parse(&bytes)?;
    tee_attest_azure::check_quote_matches(&quote, &td)?;
    let mut claims = dcap_claims(&args.dcap, &bytes, DcapKind::Tdx)?;
    claims.insert(
        "x-ms-runtime".into(),
        serde_json::Value::Object(var_data.json().clone()),
    );
    Ok(claims)
}

/// The claims of a verified DCAP quote (`kind`: which quotes are taken).
fn dcap_claims(
    args: &DcapArgs,
    bytes: &[u8],
    kind: DcapKind,
) -> Result<serde_json::Map<String, serde_json::Value>> {
    use tee_attest_tdx::collateral::{CollateralCache, OfflineDir, Pcs};
    use tee_attest_tdx::{
        Collateral, CollateralChain, CollateralRequest, DcapVerifier, FixedClock, Quote,
        VerifyOptions,
    };
    // Parse first: a bad quote is 20/21 whatever the collateral.
    let quote = Quote::parse(bytes)?;
    let is_sgx = matches!(quote.body, tee_attest_tdx::QuoteBody::SgxEnclave(_));
    match (kind, is_sgx) {
        (DcapKind::Tdx, true) => {
            return Err(invalid(format!(
                "--quote {} is an SGX quote: use `evidence sgx`",
                args.quote.display()
            )))
        }
        (DcapKind::Sgx, false) => {
            return Err(invalid(format!(
                "--quote {} is a TDX quote: use `evidence tdx`",
                args.quote.display()
            )))
        }
        _ => {}
    }
    let mut verifier = match &args.trust_root {
        None => DcapVerifier::new()?,
        Some(p) => {
            let bytes = read_file(p, FileKind::Collateral, ErrorCode::InvalidInputParameter)
                .map_err(|e| e.context("--trust-root"))?;
            let der = if bytes.trim_ascii_start().starts_with(b"-----BEGIN") {
                tee_attest_snp::pem_blocks(&bytes, "CERTIFICATE")
                    .into_iter()
                    .next()
                    .ok_or_else(|| {
                        invalid(format!(
                            "--trust-root {}: no certificate in it",
                            p.display()
                        ))
                    })?
            } else {
                bytes
            };
            DcapVerifier::with_root_der(&der)
                .map_err(|e| invalid(format!("--trust-root {}: {e}", p.display())))?
        }
    };
    if let Some(at) = &args.at {
        let t = parse_rfc3339(at).ok_or_else(|| {
            invalid(format!(
                "--at {at:?} is not an RFC 3339 time (2025-06-20T00:00:00Z)"
            ))
        })?;
        verifier = verifier.with_clock(Arc::new(FixedClock(t)));
    }
    let env_dir = |name: &str| std::env::var_os(name).map(PathBuf::from);
    let chain = match &args.collateral {
        Some(p) if p.is_dir() => CollateralChain::new().with_source(Arc::new(OfflineDir::new(p))),
        Some(p) => {
            let json = read_file(p, FileKind::Collateral, ErrorCode::InvalidInputParameter)
                .map_err(|e| e.context("--collateral"))?;
            let c = Collateral::from_dcap_qvl_json(&json)
                .map_err(|e| invalid(format!("--collateral {}: {e}", p.display())))?;
            CollateralChain::standard(Some(c), None, None, None)
        }
        None => {
            let cache = match args
                .cache_dir
                .clone()
                .or_else(|| env_dir("TEE_ATTEST_DCAP_CACHE_DIR"))
            {
                Some(d) => CollateralCache::with_dir(d),
                None => CollateralCache::in_memory(),
            };
            let offline = env_dir("TEE_ATTEST_DCAP_OFFLINE_DIR").map(OfflineDir::new);
            let pcs = args
                .pccs_url
                .as_ref()
                .map(|u| Pcs::new(u, tee_attest_tdx::collateral::HttpConfig::default()))
                .transpose()?;
            CollateralChain::standard(None, Some(Arc::new(cache)), offline, pcs)
        }
    };
    let req = CollateralRequest::from_quote(&quote)?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorCode::InitializationFailed, e.to_string()))?;
    let collateral = rt.block_on(chain.resolve(&req))?;
    let opts = VerifyOptions {
        accept_missing_revocation: args.no_revocation_data,
        ..VerifyOptions::default()
    };
    let verdict = verifier.verify(bytes, &collateral, &opts)?;
    match tee_attest_tdx::claims_json(&verdict) {
        serde_json::Value::Object(m) => Ok(m),
        _ => Err(Error::new(
            ErrorCode::InitializationFailed,
            "the claims are not a JSON object",
        )),
    }
}
