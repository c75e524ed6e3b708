//! The mock backend as a provider: a [`MockAzureCvm`] started in process,
//! and the real Azure SEV-SNP provider pointed at it. Its evidence chains to
//! mock AMD roots, which no verifier trusts unless told to
//! ([`MockProvider::ark_der`]).

use std::sync::Arc;

use async_trait::async_trait;
use tee_attest_azure::provider::{AzureSnpConfig, AzureSnpProvider};
use tee_attest_core::{Decryptor, Evidence, EvidenceProvider, EvidenceRequest, Result, TeeKind};
use tee_attest_mock::MockAzureCvm;

/// A mock Azure SEV-SNP CVM with its provider; stops when dropped.
#[derive(Debug)]
pub struct MockProvider {
    inner: AzureSnpProvider,
    cvm: MockAzureCvm,
}

impl MockProvider {
    /// Start the mock CVM (swtpm, mock HCL, mock IMDS) and its provider.
    pub fn start() -> Result<Self> {
        let cvm = MockAzureCvm::start()?;
        let mut cfg = AzureSnpConfig::default();
        cfg.tcti = Some(cvm.tcti());
        cfg.imds_url = cvm.imds_url();
        cfg.event_log = cvm.event_log_path();
        Ok(Self {
            inner: AzureSnpProvider::new(cfg)?,
            cvm,
        })
    }

    /// The mock ARK (DER): what a verifier must be told to trust.
    pub fn ark_der(&self) -> &[u8] {
        self.cvm.ark_der()
    }

    /// The mock CVM.
    pub fn cvm(&self) -> &MockAzureCvm {
        &self.cvm
    }
}

#[async_trait]
impl EvidenceProvider for MockProvider {
    fn tee(&self) -> TeeKind {
        TeeKind::Mock
    }

    async fn evidence(&self, request: &EvidenceRequest) -> Result<Evidence> {
        self.inner.evidence(request).await
    }

    fn decryptor(&self) -> Option<Arc<dyn Decryptor>> {
        self.inner.decryptor()
    }
}
