//! `tee-attest attest`: gather evidence and get a token (printed on stdout).

use std::path::PathBuf;
use std::sync::Arc;

use clap::Args;
use tee_attest::{Attester, ClientParameters, ProviderConfig, TeeKind};
use tee_attest_core::{Error, ErrorCode, Result, Verifier};

use super::common;

/// Options of `attest`.
#[derive(Args, Debug)]
pub struct AttestArgs {
    /// The TEE: auto (detect), azure-snp, azure-tdx, tdx, snp, mock.
    #[arg(long, default_value = "auto")]
    pub tee: String,
    /// The verifier: `local` (embedded) or `maa=URL`.
    #[arg(long, default_value = "local")]
    pub verifier: String,
    /// The client payload, a JSON object of strings, e.g. '{"Nonce":"123"}'.
    #[arg(long, default_value = "")]
    pub payload: String,
    /// Trust the repository's mock AMD roots (for `--tee mock`, or a mock
    /// CVM from `mock up`; also `TEE_ATTEST_TRUST_MOCK=1`); tokens from mock
    /// evidence say so.
    #[arg(long)]
    pub trust_mock: bool,
    /// The local verifier's attestation policy file (MAA policy language).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// The local verifier's issuer URL.
    #[arg(long, default_value = common::DEFAULT_ISSUER)]
    pub issuer: String,
    /// The local verifier's data directory (signing key).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The vTPM's TCTI (default: $TEE_ATTEST_TCTI, then /dev/tpmrm0).
    #[arg(long)]
    pub tcti: Option<String>,
}

fn tee_kind(args: &AttestArgs) -> Result<TeeKind> {
    if args.tee != "auto" {
        return args.tee.parse();
    }
    let found = super::detect::detect_tee(args.tcti.as_deref());
    found.ok_or_else(|| {
        Error::new(
            ErrorCode::InitializationFailed,
            "no TEE detected on this machine; use --tee mock --trust-mock to try the mock CVM",
        )
    })
}

/// Build the verifier the arguments name; `decryptor` unseals MAA's answers.
pub fn verifier(
    args: &AttestArgs,
    decryptor: Option<Arc<dyn tee_attest_core::Decryptor>>,
) -> Result<Arc<dyn Verifier>> {
    let trust_mock = args.trust_mock || common::trust_mock_env();
    match args.verifier.as_str() {
        "local" => {
            let policy = args
                .policy
                .as_ref()
                .map(|p| {
                    std::fs::read_to_string(p).map_err(|e| {
                        Error::with_source(
                            ErrorCode::InvalidInputParameter,
                            format!("reading {}", p.display()),
                            e,
                        )
                    })
                })
                .transpose()?;
            let dir = common::data_dir(args.data_dir.as_deref());
            Ok(common::local_verifier(
                &dir,
                &args.issuer,
                policy,
                trust_mock,
            )?)
        }
        other => match other.strip_prefix("maa=") {
            Some(url) => {
                let decryptor = decryptor.ok_or_else(|| {
                    Error::new(
                        ErrorCode::InitializationFailed,
                        "this TEE has no vTPM key to unseal MAA's answer",
                    )
                })?;
                let http = tee_attest_maa::HttpConfig::default();
                let mut client = tee_attest_maa::MaaClient::new(
                    url,
                    decryptor,
                    tee_attest_maa::OsInfo::detect()?,
                    http.clone(),
                )?;
                if trust_mock {
                    client = client.with_validator(
                        tee_attest_maa::TokenValidator::with_discovery(url, http)?.allow_mock(true),
                    );
                }
                Ok(Arc::new(client))
            }
            None => Err(Error::new(
                ErrorCode::InvalidInputParameter,
                format!("unknown verifier {other:?}: expected `local` or `maa=URL`"),
            )),
        },
    }
}

/// Run `attest`.
pub fn run(args: AttestArgs) -> Result<()> {
    let params = ClientParameters::from_json_payload("", &args.payload)?;
    let kind = tee_kind(&args)?;
    let mut cfg = ProviderConfig::default();
    cfg.tcti = args.tcti.clone();
    let rt = common::runtime()?;
    let provider = tee_attest::provider(kind, &cfg)?;
    let verifier = verifier(&args, provider.decryptor())?;
    let attester = Attester::new(provider, verifier);
    let token = rt.block_on(attester.attest(&params))?;
    println!("{}", token.raw());
    Ok(())
}
