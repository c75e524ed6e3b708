//! `tee-attest attest`: gather evidence and get a token (printed on stdout).

use std::path::PathBuf;

use clap::Args;
use tee_attest::{Attester, ClientParameters, ProviderConfig, VerifierOptions, VerifierSpec};
use tee_attest_core::{ErrorCode, Result};

use super::common;

/// Options of `attest`.
#[derive(Args, Debug)]
pub struct AttestArgs {
    /// The TEE: `auto` (detect), or a backend compiled in (`tee-attest
    /// detect` lists them: azure-snp, snp, mock, …).
    #[arg(long, default_value = "auto")]
    pub tee: String,
    /// The verifier: `local` (embedded) or `maa=URL`.
    #[arg(long, default_value = "local")]
    pub verifier: String,
    /// The client payload, a JSON object of strings, e.g. '{"Nonce":"123"}'.
    #[arg(long, default_value = "")]
    pub payload: String,
    /// Trust the repository's mock roots (for `--tee mock`, or a mock TEE
    /// from `mock up`; also `TEE_ATTEST_TRUST_MOCK=1`); tokens from mock
    /// evidence say so.
    #[arg(long)]
    pub trust_mock: bool,
    /// The local verifier's attestation policy file (MAA policy language).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// The local verifier's issuer URL.
    #[arg(long, default_value = tee_attest::DEFAULT_ISSUER)]
    pub issuer: String,
    /// The local verifier's data directory (signing key).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The vTPM's TCTI (default: $TEE_ATTEST_TCTI, then /dev/tpmrm0).
    #[arg(long)]
    pub tcti: Option<String>,
    /// The configfs-tsm report directory (default: $TEE_ATTEST_TSM_ROOT,
    /// then /sys/kernel/config/tsm/report).
    #[arg(long)]
    pub tsm_root: Option<PathBuf>,
}

impl AttestArgs {
    /// The verifier options the arguments say.
    pub fn verifier_options(&self) -> Result<VerifierOptions> {
        let policy = self
            .policy
            .as_ref()
            .map(|p| {
                common::read_text(
                    p,
                    common::FileKind::Policy,
                    ErrorCode::InvalidInputParameter,
                )
            })
            .transpose()?;
        let mut opts = VerifierOptions::default();
        opts.data_dir = Some(common::data_dir(self.data_dir.as_deref()));
        opts.issuer = self.issuer.clone();
        opts.policy = policy;
        opts.trust_mock = self.trust_mock || tee_attest::verifiers::trust_mock_env();
        Ok(opts)
    }

    /// The provider configuration the arguments say.
    pub fn provider_config(&self) -> ProviderConfig {
        let mut cfg = ProviderConfig::default();
        cfg.tcti = self.tcti.clone();
        cfg.tsm_root = self.tsm_root.clone();
        cfg
    }
}

/// Run `attest`.
pub fn run(args: AttestArgs) -> Result<()> {
    let params = ClientParameters::from_json_payload("", &args.payload)?;
    let spec: VerifierSpec = args.verifier.parse()?;
    let rt = common::runtime()?;
    let provider = tee_attest::provider(&args.tee, &args.provider_config())?;
    let verifier = tee_attest::verifier(&spec, &args.verifier_options()?, provider.as_ref())?;
    let attester = Attester::new(provider, verifier);
    let token = rt.block_on(attester.attest(&params))?;
    println!("{}", token.raw());
    Ok(())
}
