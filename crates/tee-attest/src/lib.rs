#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

use std::collections::BTreeMap;
use std::sync::Arc;

use aws_lc_rs::digest;
pub use tee_attest_core::{
    Appraisal, Appraiser, AttestationResult, AttestationToken, Challenge, ClientParameters,
    Decryptor, DetectContext, Error, ErrorCode, Evidence, EvidenceProvider, EvidenceRequest,
    EvidenceType, ProviderConfig, Result, TeeBackend, TeeId, Verifier, VerifyOptions,
};

pub use tee_attest_broker::{EncryptionType, RsaScheme};

/// The encryption layer in full: envelope streaming, metadata, recipient
/// keys, and its error type.
pub use tee_attest_broker as broker;

pub mod registry;
pub mod verifiers;

pub use registry::{backend, detect, provider, BACKENDS};
pub use verifiers::{verifier, ItaOptions, VerifierOptions, VerifierSpec, DEFAULT_ISSUER};

/// The MAA client, wire formats and relying-party token validation.
#[cfg(feature = "maa")]
pub use tee_attest_maa as maa;
/// The mock backend (mock roots, a mock Azure SNP CVM).
#[cfg(feature = "mock")]
pub use tee_attest_mock as mock;
/// The local verifier (and its service).
#[cfg(feature = "local-verifier")]
pub use tee_attest_verifier as local;

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

    /// Validate the parameters, ask the verifier what the evidence must
    /// bind (its [`Challenge`] for this TEE's evidence type), gather the
    /// evidence with exactly that, and return the verifier's token.
    pub async fn attest(&self, params: &ClientParameters) -> Result<AttestationToken> {
        params.validate()?;
        let mut payload: BTreeMap<String, String> = params.client_payload.clone();
        let nonce = match params.nonce() {
            Some(_) => evidence_nonce(params)?,
            None => {
                let fresh = fresh_nonce()?;
                payload.insert("nonce".into(), fresh.clone());
                fresh.into_bytes()
            }
        };
        let challenge = self
            .verifier
            .challenge(self.provider.evidence_type(), &nonce, &payload)
            .await?;
        let mut request = EvidenceRequest::default();
        request.nonce = challenge.nonce.clone();
        request.runtime_data = challenge.runtime_data;
        request.runtime_data_json = challenge.runtime_data_json;
        request.report_data = Some(challenge.report_data);
        request.client_payload = payload;
        let evidence = self.provider.evidence(&request).await?;
        let mut options = VerifyOptions::default();
        // A provider in Microsoft's mode binds no nonce in the quote (the
        // client payload carries it); otherwise the evidence must bind ours.
        if !evidence.nonce.is_empty() {
            options.nonce = Some(challenge.nonce);
        }
        self.verifier.verify(&evidence, &options).await
    }

    /// The decryptor of the token's ephemeral key (`Decrypt` uses it): the
    /// key the evidence carried, made once. Code 1 on a TEE without a vTPM.
    pub fn decryptor(&self) -> Result<Arc<dyn Decryptor>> {
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
        match provider("snp", &ProviderConfig::default()) {
            Ok(_) => {}
            Err(err) if cfg!(feature = "snp") => panic!("{err}"),
            Err(err) => {
                assert_eq!(err.code(), ErrorCode::InitializationFailed);
                assert!(err.message().contains("`snp` feature"), "{err}");
            }
        }
    }
}
