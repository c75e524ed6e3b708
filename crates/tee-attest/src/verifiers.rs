//! The one verifier factory: `local` (the embedded verifier with every
//! appraiser compiled in) or `maa=URL` (an MAA-compatible service; room for
//! `ita=URL`), parsed once and used by the CLI, the C ABI, the demo and the
//! examples.

use std::path::PathBuf;
use std::str::FromStr;
use std::sync::Arc;

#[cfg(feature = "local-verifier")]
use tee_attest_core::Appraiser;
use tee_attest_core::{Error, ErrorCode, EvidenceProvider, Result, Verifier};

/// The default issuer of the embedded verifier: the default `serve`
/// address, so that tokens from the embedded verifier and the service agree.
pub const DEFAULT_ISSUER: &str = "http://127.0.0.1:8700";

/// `$TEE_ATTEST_DATA_DIR`: the local verifier's data directory.
pub const DATA_DIR_ENV: &str = "TEE_ATTEST_DATA_DIR";
/// `$TEE_ATTEST_TRUST_MOCK`: `1` trusts the repository's mock roots.
pub const TRUST_MOCK_ENV: &str = "TEE_ATTEST_TRUST_MOCK";

/// The data directory: `dir`, else `$TEE_ATTEST_DATA_DIR`, else
/// `$HOME/.local/share/tee-attest`.
pub fn data_dir(dir: Option<&std::path::Path>) -> PathBuf {
    if let Some(d) = dir {
        return d.to_path_buf();
    }
    if let Some(d) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."))
        .join(".local/share/tee-attest")
}

/// Whether `$TEE_ATTEST_TRUST_MOCK=1` asks to trust the mock roots.
pub fn trust_mock_env() -> bool {
    std::env::var(TRUST_MOCK_ENV).is_ok_and(|v| v == "1")
}

/// Which verifier: `local`, or `maa=URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum VerifierSpec {
    /// The embedded local verifier.
    Local,
    /// An MAA-compatible service at this base URL.
    Maa(String),
    /// Intel Trust Authority (or a service answering its API, such as
    /// `tee-attest serve --ita-api-keys`) at this API base URL.
    Ita(String),
}

impl FromStr for VerifierSpec {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        if s == "local" {
            return Ok(VerifierSpec::Local);
        }
        match s.split_once('=') {
            Some(("maa", url)) if !url.trim().is_empty() => {
                Ok(VerifierSpec::Maa(url.trim().to_string()))
            }
            Some(("ita", url)) if !url.trim().is_empty() => {
                Ok(VerifierSpec::Ita(url.trim().to_string()))
            }
            _ => Err(Error::new(
                ErrorCode::InvalidInputParameter,
                format!("unknown verifier {s:?}: expected `local`, `maa=URL` or `ita=URL`"),
            )),
        }
    }
}

impl VerifierSpec {
    /// The C ABI's convention: an empty endpoint is the local verifier, a
    /// bare URL means `maa=URL`.
    pub fn from_endpoint(endpoint: &str) -> Result<Self> {
        let e = endpoint.trim();
        if e.is_empty() {
            Ok(VerifierSpec::Local)
        } else if e.contains('=') {
            e.parse()
        } else {
            Ok(VerifierSpec::Maa(e.to_string()))
        }
    }

    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            VerifierSpec::Local => "local",
            VerifierSpec::Maa(_) => "MAA",
            VerifierSpec::Ita(_) => "ITA",
        }
    }
}

/// How verifiers are set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct VerifierOptions {
    /// The local verifier's data directory (its signing key); `None` for
    /// a fresh key that lives as long as the verifier (demos, tests).
    pub data_dir: Option<PathBuf>,
    /// The local verifier's issuer.
    pub issuer: String,
    /// The local verifier's policy (MAA language), for every attestation type.
    pub policy: Option<String>,
    /// Trust the repository's mock roots (and accept tokens from mock
    /// evidence from a remote verifier). Never by default.
    pub trust_mock: bool,
    /// Intel DCAP collateral for the TdxVm/SgxEnclave appraisers: an
    /// offline directory (Intel PCS v4 responses, dcap-qvl JSON). Default:
    /// `$TEE_ATTEST_DCAP_OFFLINE_DIR`.
    pub intel_collateral: Option<PathBuf>,
    /// A PCCS or Intel PCS base URL for DCAP collateral. No network is
    /// used for collateral without it.
    pub pccs_url: Option<String>,
    /// How to reach Intel Trust Authority (`ita=URL`).
    pub ita: ItaOptions,
}

/// The Intel Trust Authority client's settings (`ita=URL`).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ItaOptions {
    /// A file holding the API key; default `$TEE_ATTEST_ITA_API_KEY`.
    pub api_key_file: Option<PathBuf>,
    /// The token-signing JWKS URL; default: Intel's portal `/certs` for
    /// Intel's API hosts (US and EU), else the API's own origin `/certs`.
    pub jwks_url: Option<String>,
    /// Policies the token must match (`policy_must_match`).
    pub policy_ids: Vec<String>,
    /// A root (PEM or DER) the JWKS keys' `x5c` chains must end in; without
    /// one the keys are taken as served over TLS.
    pub root: Option<PathBuf>,
    /// The issuer (`iss`) tokens must name; default: Intel Trust
    /// Authority's. `tee-attest serve --ita-api-keys` issues its tokens as
    /// its own issuer.
    pub issuer: Option<String>,
}

impl Default for VerifierOptions {
    fn default() -> Self {
        Self {
            data_dir: Some(data_dir(None)),
            issuer: DEFAULT_ISSUER.to_string(),
            policy: None,
            trust_mock: false,
            intel_collateral: None,
            pccs_url: None,
            ita: ItaOptions::default(),
        }
    }
}

/// The mock roots to trust, when asked to (code 1 if the mock backend is
/// not compiled in).
#[cfg(feature = "local-verifier")]
fn extra_amd_roots(trust_mock: bool) -> Result<Vec<Vec<u8>>> {
    if !trust_mock {
        return Ok(Vec::new());
    }
    #[cfg(feature = "mock")]
    {
        Ok(vec![tee_attest_mock::trust_roots()?.amd_ark])
    }
    #[cfg(not(feature = "mock"))]
    {
        Err(Error::new(
            ErrorCode::InitializationFailed,
            "trusting the mock roots needs the `mock` feature",
        ))
    }
}

/// Every appraiser compiled in, each with its own trust anchors (the
/// genuine roots, plus the mock roots when `trust_mock`), DCAP collateral
/// from the default sources.
#[cfg(feature = "local-verifier")]
pub fn appraisers(trust_mock: bool) -> Result<Vec<Arc<dyn Appraiser>>> {
    appraisers_for(&VerifierOptions {
        trust_mock,
        ..VerifierOptions::default()
    })
}

/// Every appraiser compiled in, configured by `options`: the mock roots
/// when `trust_mock`; Intel DCAP collateral from a memory cache, then
/// `intel_collateral` (or `$TEE_ATTEST_DCAP_OFFLINE_DIR`), then `pccs_url`,
/// then — only when trusting the mock — the stored mock Intel platform's.
#[cfg(feature = "local-verifier")]
pub fn appraisers_for(options: &VerifierOptions) -> Result<Vec<Arc<dyn Appraiser>>> {
    use tee_attest_tdx::collateral::{CollateralCache, HttpConfig, OfflineDir, Pcs};
    use tee_attest_tdx::{CollateralChain, DcapAppraiser, DcapTrust, VerifyOptions};

    let amd = extra_amd_roots(options.trust_mock)?;
    let offline = options
        .intel_collateral
        .clone()
        .or_else(|| std::env::var_os("TEE_ATTEST_DCAP_OFFLINE_DIR").map(PathBuf::from))
        .map(OfflineDir::new);
    let pcs = options
        .pccs_url
        .as_ref()
        .map(|u| Pcs::new(u, HttpConfig::default()))
        .transpose()?;
    #[allow(unused_mut)]
    let mut chain = CollateralChain::standard(
        None,
        Some(Arc::new(CollateralCache::in_memory())),
        offline,
        pcs,
    );
    let mut intel = Vec::new();
    #[cfg(feature = "mock")]
    if options.trust_mock {
        let platform = tee_attest_mock::intel::MockIntelPlatform::stored()?;
        intel.push(platform.root_der().to_vec());
        chain = chain.with_source(Arc::new(tee_attest_mock::intel::MockCollateralSource::new(
            platform,
        )));
    }
    let dcap = Arc::new(DcapTrust::new(&intel, chain, VerifyOptions::default())?);
    Ok(vec![
        Arc::new(tee_attest_azure::AzureSnpAppraiser::with_extra_roots(&amd)?),
        Arc::new(tee_attest_snp::SevSnpVmAppraiser::with_extra_roots(&amd)?),
        Arc::new(tee_attest_azure::AzureTdxAppraiser::new(dcap.clone())),
        Arc::new(DcapAppraiser::tdx_vm(dcap.clone())),
        Arc::new(DcapAppraiser::sgx_enclave(dcap)),
    ])
}

/// The embedded local verifier: the data directory's signing key, every
/// appraiser compiled in.
#[cfg(feature = "local-verifier")]
pub fn local_verifier(
    options: &VerifierOptions,
) -> Result<Arc<tee_attest_verifier::LocalVerifier>> {
    use tee_attest_verifier::{KeySet, TokenSigner};
    let signer = match &options.data_dir {
        Some(dir) => TokenSigner::load_or_generate(dir)?,
        None => TokenSigner::generate()?,
    };
    local_verifier_with_keys(options, Arc::new(KeySet::fixed(signer)))
}

/// The embedded local verifier signing with the live key set `keys`
/// (rotated as the data directory says: `tee-attest serve`).
#[cfg(feature = "local-verifier")]
pub fn local_verifier_with_keys(
    options: &VerifierOptions,
    keys: Arc<tee_attest_verifier::KeySet>,
) -> Result<Arc<tee_attest_verifier::LocalVerifier>> {
    use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig};
    let mut cfg = LocalVerifierConfig::new(&options.issuer);
    cfg.policy = options.policy.clone();
    cfg.appraisers = appraisers_for(options)?;
    Ok(Arc::new(LocalVerifier::with_key_set(cfg, keys)?))
}

/// The verifier `spec` names, for evidence from `provider` (whose vTPM key,
/// if it has one, unseals an MAA service's answers).
pub fn verifier(
    spec: &VerifierSpec,
    options: &VerifierOptions,
    provider: &dyn EvidenceProvider,
) -> Result<Arc<dyn Verifier>> {
    match spec {
        VerifierSpec::Local => {
            #[cfg(feature = "local-verifier")]
            {
                let _ = provider;
                Ok(local_verifier(options)?)
            }
            #[cfg(not(feature = "local-verifier"))]
            {
                let _ = (options, provider);
                Err(Error::new(
                    ErrorCode::InitializationFailed,
                    "the local verifier is not compiled in: build tee-attest with the \
                     `local-verifier` feature",
                ))
            }
        }
        VerifierSpec::Maa(url) => {
            #[cfg(feature = "maa")]
            {
                use tee_attest_maa::{HttpConfig, MaaClient, OsInfo, TokenValidator};
                let http = HttpConfig::default();
                let mut client = if provider.evidence_type().has_vtpm() {
                    MaaClient::new(url, provider.decryptor()?, OsInfo::detect()?, http.clone())?
                } else {
                    MaaClient::without_vtpm(url, http.clone())?
                };
                if options.trust_mock {
                    client = client.with_validator(
                        TokenValidator::with_discovery(url, http)?.allow_mock(true),
                    );
                }
                Ok(Arc::new(client))
            }
            #[cfg(not(feature = "maa"))]
            {
                let _ = (url, options, provider);
                Err(Error::new(
                    ErrorCode::InitializationFailed,
                    "the MAA client is not compiled in: build tee-attest with the `maa` feature",
                ))
            }
        }
        VerifierSpec::Ita(url) => {
            let _ = provider;
            #[cfg(feature = "ita")]
            {
                Ok(ita_client(url, &options.ita)?)
            }
            #[cfg(not(feature = "ita"))]
            {
                let _ = (url, options);
                Err(Error::new(
                    ErrorCode::InitializationFailed,
                    "the Intel Trust Authority client is not compiled in: build tee-attest with \
                     the `ita` feature",
                ))
            }
        }
    }
}

/// The Intel Trust Authority client of `ita=URL`.
#[cfg(feature = "ita")]
fn ita_client(url: &str, o: &ItaOptions) -> Result<Arc<dyn Verifier>> {
    use tee_attest_ita::{
        certs_url_for, ApiKey, ItaClient, ItaConfig, ItaValidator, KeyTrust, PinnedRoots,
    };
    let key = match &o.api_key_file {
        Some(p) => ApiKey::from_file(p)?,
        None => ApiKey::from_env()?,
    };
    let mut cfg = ItaConfig::new(url, key);
    if !o.policy_ids.is_empty() {
        cfg = cfg.with_policies(o.policy_ids.clone(), true)?;
    }
    if let Some(j) = &o.jwks_url {
        cfg = cfg.with_certs_url(j);
    }
    if let Some(r) = &o.root {
        cfg = cfg.with_pinned_roots(PinnedRoots::from_file(r)?);
    }
    let Some(issuer) = &o.issuer else {
        return Ok(Arc::new(ItaClient::new(cfg)?));
    };
    // Another issuer than Intel's: the same keys and trust, that issuer.
    let certs = match &o.jwks_url {
        Some(j) => j.clone(),
        None => certs_url_for(url)?,
    };
    let trust = match &o.root {
        Some(r) => KeyTrust::Pinned(PinnedRoots::from_file(r)?),
        None => KeyTrust::AsServed,
    };
    let mut http = cfg.http.clone();
    http.follow_redirects = false;
    let validator = ItaValidator::with_certs_url(&certs, trust, http)?.with_issuer(issuer);
    Ok(Arc::new(ItaClient::new(cfg)?.with_validator(validator)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs_parse_once() {
        assert_eq!(
            "local".parse::<VerifierSpec>().unwrap(),
            VerifierSpec::Local
        );
        assert_eq!(
            "maa=https://x.example".parse::<VerifierSpec>().unwrap(),
            VerifierSpec::Maa("https://x.example".into())
        );
        assert_eq!(
            "ita=https://x".parse::<VerifierSpec>().unwrap(),
            VerifierSpec::Ita("https://x".into())
        );
        assert_eq!(
            "sgx=https://x".parse::<VerifierSpec>().unwrap_err().code(),
            ErrorCode::InvalidInputParameter
        );
        assert!("maa=".parse::<VerifierSpec>().is_err());
        assert_eq!(
            VerifierSpec::from_endpoint("").unwrap(),
            VerifierSpec::Local
        );
        assert_eq!(
            VerifierSpec::from_endpoint("https://m").unwrap(),
            VerifierSpec::Maa("https://m".into())
        );
    }
}
