//! The client behind a `TeeAttestClient*`: settings (from the config struct
//! and the environment), the async runtime, the provider and the verifiers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use facade::{
    Attester, ClientParameters, EncryptionType, EvidenceProvider, ProviderConfig, TeeKind, Verifier,
};
use tee_attest_core::{AttestationToken, Decryptor, Error, ErrorCode, Result};
use zeroize::Zeroizing;

use crate::logging::Logger;
use crate::{TEE_ATTEST_LOG_DEBUG, TEE_ATTEST_LOG_INFO};

/// `TEE_ATTEST_TEE`: the TEE (`auto`, `azure-snp`, `mock`, …).
pub(crate) const TEE_ENV: &str = "TEE_ATTEST_TEE";
/// `TEE_ATTEST_TCTI`: the vTPM's TCTI.
pub(crate) const TCTI_ENV: &str = "TEE_ATTEST_TCTI";
/// `TEE_ATTEST_IMDS_URL`: the IMDS base URL.
pub(crate) const IMDS_URL_ENV: &str = "TEE_ATTEST_IMDS_URL";
/// `TEE_ATTEST_EVENT_LOG`: the TCG event log file.
pub(crate) const EVENT_LOG_ENV: &str = "TEE_ATTEST_EVENT_LOG";
/// `TEE_ATTEST_DATA_DIR`: the local verifier's data directory.
pub(crate) const DATA_DIR_ENV: &str = "TEE_ATTEST_DATA_DIR";
/// `TEE_ATTEST_TRUST_MOCK`: `1` trusts the repository's mock AMD roots.
pub(crate) const TRUST_MOCK_ENV: &str = "TEE_ATTEST_TRUST_MOCK";
/// The default issuer of the embedded verifier (as the CLI's).
pub(crate) const DEFAULT_ISSUER: &str = "http://127.0.0.1:8700";

/// What the config struct says, each `None` when NULL or empty.
#[derive(Debug, Default, Clone)]
pub(crate) struct Settings {
    pub tee: Option<String>,
    pub tcti: Option<String>,
    pub imds_url: Option<String>,
    pub event_log: Option<String>,
    pub data_dir: Option<String>,
    pub issuer: Option<String>,
    pub policy: Option<String>,
    pub trust_mock: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

impl Settings {
    /// Fill what the struct left out from the environment.
    pub(crate) fn with_env(mut self) -> Self {
        self.tee = self.tee.or_else(|| env(TEE_ENV));
        self.tcti = self.tcti.or_else(|| env(TCTI_ENV));
        self.imds_url = self.imds_url.or_else(|| env(IMDS_URL_ENV));
        self.event_log = self.event_log.or_else(|| env(EVENT_LOG_ENV));
        self.data_dir = self.data_dir.or_else(|| env(DATA_DIR_ENV));
        self.trust_mock = self.trust_mock || env(TRUST_MOCK_ENV).as_deref() == Some("1");
        self
    }

    fn data_dir(&self) -> PathBuf {
        if let Some(d) = &self.data_dir {
            return PathBuf::from(d);
        }
        std::env::var_os("HOME")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("."))
            .join(".local/share/tee-attest")
    }
}

/// The HCL report's type from its header and IGVM request data
/// (`report_type` at byte 1224: 2 SNP, 4 TDX).
fn hcl_report_tee(blob: &[u8]) -> Option<TeeKind> {
    if blob.get(0..4)? != b"HCLA" {
        return None;
    }
    match u32::from_le_bytes(blob.get(1224..1228)?.try_into().ok()?) {
        2 => Some(TeeKind::AzureSnp),
        4 => Some(TeeKind::AzureTdx),
        _ => None,
    }
}

/// `auto`: an Azure CVM's HCL report in the vTPM, else a guest device.
/// Looks only at the TPM and `/dev`: never the network.
fn detect_tee(tcti: Option<&str>) -> Result<TeeKind> {
    use tee_attest_tpm::handles::HCL_REPORT_NV_INDEX;
    if let Ok(mut tpm) = tee_attest_tpm::Tpm::open(tcti) {
        if let Ok(Some(_)) = tpm.nv_size(HCL_REPORT_NV_INDEX) {
            if let Some(kind) = tpm
                .nv_read(HCL_REPORT_NV_INDEX)
                .ok()
                .and_then(|b| hcl_report_tee(&b))
            {
                return Ok(kind);
            }
        }
    }
    if Path::new("/dev/tdx_guest").exists() {
        return Ok(TeeKind::Tdx);
    }
    if Path::new("/dev/sev-guest").exists() {
        return Ok(TeeKind::Snp);
    }
    Err(Error::new(
        ErrorCode::InitializationFailed,
        "no TEE detected on this machine: name one in TeeAttestConfig.tee or $TEE_ATTEST_TEE",
    ))
}

/// A client: one per `TeeAttestClient*`.
pub(crate) struct Client {
    runtime: tokio::runtime::Runtime,
    settings: Settings,
    pub(crate) logger: Logger,
    pub(crate) dispatch: tracing::Dispatch,
    provider: Arc<dyn EvidenceProvider>,
    local: Option<Arc<dyn Verifier>>,
    maa: Option<(String, Arc<dyn Verifier>)>,
    decryptor: Option<Arc<dyn Decryptor>>,
}

impl Client {
    /// Resolve the settings, detect or name the TEE, build its provider and
    /// a runtime. Code 1 when any of that fails.
    pub(crate) fn new(settings: Settings, logger: Logger) -> Result<Self> {
        let settings = settings.with_env();
        let dispatch = logger.dispatch();
        tracing::dispatcher::with_default(&dispatch, || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| {
                    Error::with_source(
                        ErrorCode::InitializationFailed,
                        "starting the async runtime",
                        e,
                    )
                })?;
            let kind = match settings.tee.as_deref().map(str::trim) {
                None | Some("auto") => detect_tee(settings.tcti.as_deref())?,
                Some(name) => name.parse::<TeeKind>().map_err(|e| {
                    Error::new(ErrorCode::InitializationFailed, e.message().to_string())
                })?,
            };
            let mut cfg = ProviderConfig::default();
            cfg.tcti = settings.tcti.clone();
            cfg.imds_url = settings.imds_url.clone();
            cfg.event_log = settings.event_log.as_ref().map(PathBuf::from);
            let provider = facade::provider(kind, &cfg)?;
            logger.log(
                TEE_ATTEST_LOG_INFO,
                &format!(
                    "tee-attest client ready: TEE {kind}{}",
                    if settings.trust_mock {
                        ", mock AMD roots trusted"
                    } else {
                        ""
                    }
                ),
            );
            Ok(Self {
                runtime,
                settings,
                logger: logger.clone(),
                dispatch: dispatch.clone(),
                provider,
                local: None,
                maa: None,
                decryptor: None,
            })
        })
    }

    fn local_verifier(&mut self) -> Result<Arc<dyn Verifier>> {
        if let Some(v) = &self.local {
            return Ok(v.clone());
        }
        use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};
        let dir = self.settings.data_dir();
        let signer = TokenSigner::load_or_generate(&dir)?;
        let issuer = self.settings.issuer.as_deref().unwrap_or(DEFAULT_ISSUER);
        let mut cfg = LocalVerifierConfig::new(issuer);
        cfg.policy = self.settings.policy.clone();
        if self.settings.trust_mock {
            cfg.extra_snp_roots.push(
                tee_attest_mock::amd::MockAmdRoots::stored_milan()?
                    .ark_der()
                    .to_vec(),
            );
        }
        let v: Arc<dyn Verifier> = Arc::new(LocalVerifier::new(cfg, signer)?);
        self.logger.log(
            TEE_ATTEST_LOG_DEBUG,
            &format!("local verifier ready (issuer {issuer})"),
        );
        self.local = Some(v.clone());
        Ok(v)
    }

    /// The MAA client for `endpoint` (kept for the next call to the same
    /// endpoint). MAA seals its answer to the vTPM's ephemeral key, so the
    /// client unseals with this TEE's decryptor.
    fn maa_verifier(&mut self, endpoint: &str) -> Result<Arc<dyn Verifier>> {
        if let Some((e, v)) = &self.maa {
            if e == endpoint {
                return Ok(v.clone());
            }
        }
        use tee_attest_maa::{HttpConfig, MaaClient, OsInfo, TokenValidator};
        let decryptor = self.decryptor()?;
        let http = HttpConfig::default();
        let mut client = MaaClient::new(endpoint, decryptor, OsInfo::detect()?, http.clone())?;
        if self.settings.trust_mock {
            client = client
                .with_validator(TokenValidator::with_discovery(endpoint, http)?.allow_mock(true));
        }
        let v: Arc<dyn Verifier> = Arc::new(client);
        self.maa = Some((endpoint.to_string(), v.clone()));
        Ok(v)
    }

    fn verifier(&mut self, endpoint: &str) -> Result<Arc<dyn Verifier>> {
        let endpoint = endpoint.trim();
        if endpoint.is_empty() {
            self.local_verifier()
        } else {
            self.maa_verifier(endpoint)
        }
    }

    /// `Attest`: the token's text.
    pub(crate) fn attest(&mut self, params: &ClientParameters) -> Result<String> {
        let verifier = self.verifier(&params.endpoint)?;
        let attester = Attester::new(self.provider.clone(), verifier);
        self.logger.log(
            TEE_ATTEST_LOG_INFO,
            &format!(
                "attesting {} with the {} verifier",
                self.provider.tee(),
                if params.endpoint.trim().is_empty() {
                    "local"
                } else {
                    "MAA"
                }
            ),
        );
        let token = self.runtime.block_on(attester.attest(params))?;
        Ok(token.raw().to_string())
    }

    /// `Encrypt`: to the token's ephemeral key.
    pub(crate) fn encrypt(
        &self,
        kind: EncryptionType,
        token: &str,
        data: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>)> {
        let token = AttestationToken::parse(token)?;
        self.logger.log(
            TEE_ATTEST_LOG_DEBUG,
            &format!("encrypting {} bytes ({kind})", data.len()),
        );
        facade::encrypt(kind, &token, data)
    }

    /// The ephemeral key's decryptor. On Azure the vTPM is opened directly,
    /// so that a TPM failure keeps its code and message; other TEEs answer
    /// through their provider.
    fn decryptor(&mut self) -> Result<Arc<dyn Decryptor>> {
        if let Some(d) = &self.decryptor {
            return Ok(d.clone());
        }
        let d: Arc<dyn Decryptor> = match self.provider.tee() {
            TeeKind::AzureSnp | TeeKind::AzureTdx => Arc::new(tee_attest_tpm::TpmDecryptor::open(
                self.settings.tcti.as_deref(),
            )?),
            kind => self.provider.decryptor().ok_or_else(|| {
                Error::new(
                    ErrorCode::InitializationFailed,
                    format!("TEE {kind} has no vTPM ephemeral key to decrypt with"),
                )
            })?,
        };
        self.decryptor = Some(d.clone());
        Ok(d)
    }

    /// `Decrypt`: with the ephemeral key inside the vTPM.
    pub(crate) fn decrypt(
        &mut self,
        kind: EncryptionType,
        data: &[u8],
        metadata: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let decryptor = self.decryptor()?;
        self.logger.log(
            TEE_ATTEST_LOG_DEBUG,
            &format!("decrypting {} bytes ({kind}) in the vTPM", data.len()),
        );
        self.runtime
            .block_on(facade::decrypt(kind, decryptor.as_ref(), data, metadata))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hcl_types() {
        let mut blob = vec![0u8; 1300];
        assert_eq!(hcl_report_tee(&blob), None);
        blob[0..4].copy_from_slice(b"HCLA");
        blob[1224..1228].copy_from_slice(&2u32.to_le_bytes());
        assert_eq!(hcl_report_tee(&blob), Some(TeeKind::AzureSnp));
        blob[1224..1228].copy_from_slice(&4u32.to_le_bytes());
        assert_eq!(hcl_report_tee(&blob), Some(TeeKind::AzureTdx));
        assert_eq!(hcl_report_tee(&blob[..100]), None);
    }
}
