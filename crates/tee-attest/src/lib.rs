#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

use std::path::PathBuf;
use std::sync::Arc;

use aws_lc_rs::digest;
pub use tee_attest_core::{
    AttestationResult, AttestationToken, ClientParameters, Decryptor, Error, ErrorCode, Evidence,
    EvidenceProvider, EvidenceRequest, Result, TeeKind, Verifier, VerifyOptions,
};

pub use tee_attest_broker::{EncryptionType, RsaScheme};

/// The encryption layer in full: envelope streaming, metadata, recipient
/// keys, and its error type.
pub use tee_attest_broker as broker;

/// `Encrypt`: encrypt `data` to the token's `TpmEphemeralEncryptionKey`;
/// returns `(encrypted_data, encryption_metadata)`. See
/// [`broker::encrypt`] for the schemes and codes (22 no key, 23 unusable
/// key, 8 data too large for direct RSA).
pub fn encrypt(
    kind: EncryptionType,
    token: &AttestationToken,
    data: &[u8],
) -> Result<(Vec<u8>, Vec<u8>)> {
    Ok(tee_attest_broker::encrypt(kind, token, data)?)
}

/// `Decrypt`: decrypt with the ephemeral key inside the vTPM (`decryptor`,
/// e.g. [`Attester::decryptor`]). Returns the plaintext only if all of it
/// authenticated. See [`broker::decrypt`] (8 malformed or mismatched
/// metadata, 26 vTPM or authentication failure).
pub async fn decrypt(
    kind: EncryptionType,
    decryptor: &dyn Decryptor,
    encrypted_data: &[u8],
    encryption_metadata: &[u8],
) -> Result<zeroize::Zeroizing<Vec<u8>>> {
    Ok(tee_attest_broker::decrypt(kind, decryptor, encrypted_data, encryption_metadata).await?)
}

#[cfg(feature = "mock")]
mod mock;
#[cfg(feature = "mock")]
pub use mock::MockProvider;

/// Where a provider finds its platform: every base URL and device is
/// configurable, so that tests point them at loopback.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// The vTPM's TCTI (`None`: `$TEE_ATTEST_TCTI`, else `/dev/tpmrm0`).
    pub tcti: Option<String>,
    /// Azure IMDS base URL (`None`: `$TEE_ATTEST_IMDS_URL`, else Azure's).
    pub imds_url: Option<String>,
    /// The TCG event log (`None`: `$TEE_ATTEST_EVENT_LOG`, else the kernel's securityfs file).
    pub event_log: Option<PathBuf>,
}

/// The environment variable that overrides the IMDS base URL.
pub const IMDS_URL_ENV: &str = "TEE_ATTEST_IMDS_URL";
/// The environment variable that overrides the TCG event log path.
pub const EVENT_LOG_ENV: &str = "TEE_ATTEST_EVENT_LOG";

fn not_enabled(kind: TeeKind, feature: &str) -> Error {
    Error::new(
        ErrorCode::InitializationFailed,
        format!("TEE {kind} is not compiled in: build tee-attest with the `{feature}` feature"),
    )
}

/// The provider for `kind`, among those compiled in.
pub fn provider(kind: TeeKind, config: &ProviderConfig) -> Result<Arc<dyn EvidenceProvider>> {
    match kind {
        TeeKind::AzureSnp => azure_snp(config),
        TeeKind::Mock => mock_provider(),
        TeeKind::AzureTdx => Err(not_enabled(kind, "azure-tdx")),
        TeeKind::Tdx => Err(not_enabled(kind, "tdx")),
        TeeKind::Snp => Err(not_enabled(kind, "snp")),
        _ => Err(Error::new(
            ErrorCode::InvalidInputParameter,
            format!("unknown TEE {kind}"),
        )),
    }
}

#[cfg(feature = "azure-snp")]
fn azure_snp(config: &ProviderConfig) -> Result<Arc<dyn EvidenceProvider>> {
    use tee_attest_azure::provider::{AzureSnpConfig, AzureSnpProvider};
    let mut cfg = AzureSnpConfig::default();
    cfg.tcti = config.tcti.clone();
    if let Some(url) = config
        .imds_url
        .clone()
        .or_else(|| std::env::var(IMDS_URL_ENV).ok())
    {
        cfg.imds_url = url;
    }
    if let Some(log) = config
        .event_log
        .clone()
        .or_else(|| std::env::var_os(EVENT_LOG_ENV).map(PathBuf::from))
    {
        cfg.event_log = log;
    }
    Ok(Arc::new(AzureSnpProvider::new(cfg)?))
}

#[cfg(not(feature = "azure-snp"))]
fn azure_snp(_: &ProviderConfig) -> Result<Arc<dyn EvidenceProvider>> {
    Err(not_enabled(TeeKind::AzureSnp, "azure-snp"))
}

#[cfg(feature = "mock")]
fn mock_provider() -> Result<Arc<dyn EvidenceProvider>> {
    Ok(Arc::new(MockProvider::start()?))
}

#[cfg(not(feature = "mock"))]
fn mock_provider() -> Result<Arc<dyn EvidenceProvider>> {
    Err(not_enabled(TeeKind::Mock, "mock"))
}

/// The nonce bound into the evidence for these parameters: the client
/// payload's nonce (any case of the key) when it fits a TPM quote's 64
/// bytes, its SHA-256 when longer. Without one, a fresh nonce (32 hex
/// characters) is made, and [`Attester::attest`] also puts it in the client
/// payload, so the quote, the payload and the token all carry the same value.
pub fn evidence_nonce(params: &ClientParameters) -> Result<Vec<u8>> {
    match params.nonce() {
        Some(n) if n.len() <= 64 => Ok(n.as_bytes().to_vec()),
        Some(n) => Ok(digest::digest(&digest::SHA256, n.as_bytes())
            .as_ref()
            .to_vec()),
        None => fresh_nonce().map(String::into_bytes),
    }
}

fn fresh_nonce() -> Result<String> {
    let mut n = [0u8; 16];
    aws_lc_rs::rand::fill(&mut n)
        .map_err(|_| Error::new(ErrorCode::InitializationFailed, "no randomness for a nonce"))?;
    Ok(n.iter().map(|b| format!("{b:02x}")).collect())
}

/// `Attest`: gather evidence with a provider, get a token from a verifier.
#[derive(Clone)]
pub struct Attester {
    provider: Arc<dyn EvidenceProvider>,
    verifier: Arc<dyn Verifier>,
}

impl std::fmt::Debug for Attester {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attester")
            .field("tee", &self.provider.tee())
            .field("verifier", &self.verifier.name())
            .finish()
    }
}

impl Attester {
    /// An attester over a provider and a verifier.
    pub fn new(provider: Arc<dyn EvidenceProvider>, verifier: Arc<dyn Verifier>) -> Self {
        Self { provider, verifier }
    }

    /// The provider.
    pub fn provider(&self) -> &Arc<dyn EvidenceProvider> {
        &self.provider
    }

    /// Validate the parameters, gather evidence bound to their nonce, and
    /// return the verifier's token.
    pub async fn attest(&self, params: &ClientParameters) -> Result<AttestationToken> {
        params.validate()?;
        let mut request = EvidenceRequest::default();
        request.client_payload = params.client_payload.clone();
        let nonce = match params.nonce() {
            Some(_) => evidence_nonce(params)?,
            None => {
                let fresh = fresh_nonce()?;
                request.client_payload.insert("nonce".into(), fresh.clone());
                fresh.into_bytes()
            }
        };
        request.nonce = nonce.clone();
        let evidence = self.provider.evidence(&request).await?;
        let mut options = VerifyOptions::default();
        // A provider in Microsoft's mode binds no nonce in the quote (the
        // client payload carries it); otherwise the evidence must bind ours.
        if !evidence.nonce.is_empty() {
            options.nonce = Some(nonce);
        }
        self.verifier.verify(&evidence, &options).await
    }

    /// The decryptor of the token's ephemeral key (`Decrypt` uses it).
    pub fn decryptor(&self) -> Option<Arc<dyn Decryptor>> {
        self.provider.decryptor()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_fit_a_quote() {
        let p = ClientParameters::new("").with_payload("Nonce", "011510062022");
        assert_eq!(evidence_nonce(&p).unwrap(), b"011510062022");
        let long = ClientParameters::new("").with_payload("nonce", "x".repeat(100));
        assert_eq!(evidence_nonce(&long).unwrap().len(), 32);
        let none = ClientParameters::new("");
        let (a, b) = (
            evidence_nonce(&none).unwrap(),
            evidence_nonce(&none).unwrap(),
        );
        assert_eq!(a.len(), 32);
        assert_ne!(a, b);
    }

    #[test]
    fn backends_not_compiled_in_say_which_feature() {
        let err = provider(TeeKind::Tdx, &ProviderConfig::default())
            .err()
            .unwrap();
        assert_eq!(err.code(), ErrorCode::InitializationFailed);
        assert!(err.message().contains("`tdx` feature"), "{err}");
    }
}
