//! The client behind a `TeeAttestClient*`: settings (from the config struct
//! and the environment), the async runtime, the provider and the verifiers.

use std::path::PathBuf;
use std::sync::Arc;

use facade::{
    Attester, ClientParameters, EncryptionType, EvidenceProvider, ProviderConfig, Verifier,
    VerifierOptions, VerifierSpec,
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
pub(crate) const DATA_DIR_ENV: &str = facade::verifiers::DATA_DIR_ENV;
/// `TEE_ATTEST_TRUST_MOCK`: `1` trusts the repository's mock roots.
pub(crate) const TRUST_MOCK_ENV: &str = facade::verifiers::TRUST_MOCK_ENV;

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

    fn verifier_options(&self) -> VerifierOptions {
        let mut o = VerifierOptions::default();
        o.data_dir = Some(facade::verifiers::data_dir(
            self.data_dir.as_deref().map(std::path::Path::new),
        ));
        if let Some(i) = &self.issuer {
            o.issuer = i.clone();
        }
        o.policy = self.policy.clone();
        o.trust_mock = self.trust_mock;
        o
    }
}

/// A client: one per `TeeAttestClient*`.
pub(crate) struct Client {
    runtime: tokio::runtime::Runtime,
    settings: Settings,
    pub(crate) logger: Logger,
    pub(crate) dispatch: tracing::Dispatch,
    provider: Arc<dyn EvidenceProvider>,
    /// The verifier of the last endpoint used, kept for the next call.
    verifier: Option<(VerifierSpec, Arc<dyn Verifier>)>,
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
            let mut cfg = ProviderConfig::default();
            cfg.tcti = settings.tcti.clone();
            cfg.imds_url = settings.imds_url.clone();
            cfg.event_log = settings.event_log.as_ref().map(PathBuf::from);
            // One list of backends: `auto` asks each compiled-in backend
            // whether this machine is its TEE.
            let name = settings.tee.as_deref().map(str::trim).unwrap_or("auto");
            let provider = facade::provider(name, &cfg).map_err(|e| {
                Error::new(ErrorCode::InitializationFailed, e.message().to_string())
            })?;
            let kind = provider.tee();
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
                verifier: None,
            })
        })
    }

    /// The verifier for `endpoint` (empty: the local verifier; a bare URL:
    /// an MAA-compatible service), built by the facade's factory and kept
    /// for the next call to the same endpoint.
    fn verifier(&mut self, endpoint: &str) -> Result<Arc<dyn Verifier>> {
        let spec = VerifierSpec::from_endpoint(endpoint)?;
        if let Some((s, v)) = &self.verifier {
            if *s == spec {
                return Ok(v.clone());
            }
        }
        let v = facade::verifier(
            &spec,
            &self.settings.verifier_options(),
            self.provider.as_ref(),
        )?;
        self.logger.log(
            TEE_ATTEST_LOG_DEBUG,
            &format!("{} verifier ready", spec.name()),
        );
        self.verifier = Some((spec, v.clone()));
        Ok(v)
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
                VerifierSpec::from_endpoint(&params.endpoint)?.name()
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

    /// The ephemeral key's decryptor, from the provider: the key its
    /// evidence carried, made once (a TPM failure keeps its code; a TEE
    /// without a vTPM says Decrypt is not supported, code 1).
    fn decryptor(&mut self) -> Result<Arc<dyn Decryptor>> {
        self.provider.decryptor()
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
