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
    /// The verifier: `local` (embedded), `maa=URL` or `ita=URL` (Intel
    /// Trust Authority's API, e.g. https://api.trustauthority.intel.com).
    #[arg(long, default_value = "local")]
    pub verifier: String,
    /// `ita=URL`: the token-signing JWKS URL (default: Intel's portal
    /// `/certs` for Intel's hosts, else the API's origin `/certs`).
    #[arg(long, value_name = "URL")]
    pub ita_jwks: Option<String>,
    /// `ita=URL`: the API key file (default: $TEE_ATTEST_ITA_API_KEY).
    #[arg(long, value_name = "FILE")]
    pub api_key_file: Option<PathBuf>,
    /// `ita=URL`: a policy the token must match (repeatable).
    #[arg(long = "policy-id", value_name = "ID")]
    pub policy_ids: Vec<String>,
    /// `ita=URL`: the root the JWKS keys' `x5c` chains must end in.
    #[arg(long, value_name = "FILE")]
    pub ita_root: Option<PathBuf>,
    /// `ita=URL`: the issuer (`iss`) tokens must name (default: Intel
    /// Trust Authority's); `tee-attest serve` issues them as its issuer.
    #[arg(long, value_name = "ISS")]
    pub ita_issuer: Option<String>,
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
    /// The lock file serializing the processes that share the vTPM
    /// (default: $TEE_ATTEST_VTPM_LOCK, then /run/tee-attest/vtpm.lock or a
    /// writable fallback; docs/RELIABILITY.md).
    #[arg(long)]
    pub vtpm_lock: Option<PathBuf>,
    /// How long one TPM command, and the wait for the vTPM lock, may take:
    /// seconds (30, 0.5) or 500ms, 2s (default: $TEE_ATTEST_TPM_TIMEOUT,
    /// then 30 s). Past it the command fails with code 13.
    #[arg(long, value_parser = tpm_timeout)]
    pub tpm_timeout: Option<std::time::Duration>,
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
        opts.ita.api_key_file = self.api_key_file.clone();
        opts.ita.jwks_url = self.ita_jwks.clone();
        opts.ita.policy_ids = self.policy_ids.clone();
        opts.ita.root = self.ita_root.clone();
        opts.ita.issuer = self.ita_issuer.clone();
        Ok(opts)
    }

    /// The provider configuration the arguments say.
    pub fn provider_config(&self) -> ProviderConfig {
        let mut cfg = ProviderConfig::default();
        cfg.tcti = self.tcti.clone();
        cfg.tsm_root = self.tsm_root.clone();
        cfg.vtpm_lock = self.vtpm_lock.clone();
        cfg.tpm_timeout = self.tpm_timeout;
        cfg
    }
}

/// `--tpm-timeout`: seconds, or a duration with `ms` or `s`.
pub fn tpm_timeout(text: &str) -> std::result::Result<std::time::Duration, String> {
    tee_attest_tpm::parse_timeout(text).map_err(|e| e.to_string())
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
