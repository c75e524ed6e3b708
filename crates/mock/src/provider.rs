//! The mock backend as a registry value: [`BACKEND`] (`--tee mock`) starts a
//! [`MockAzureCvm`] in process and runs the real Azure SEV-SNP provider
//! against it. Its evidence chains to mock AMD roots, which no verifier
//! trusts unless told to ([`MockProvider::ark_der`], [`trust_roots`]).

use std::sync::Arc;

use async_trait::async_trait;
use tee_attest_azure::provider::{AzureSnpConfig, AzureSnpProvider};
use tee_attest_azure::AZURE_GUEST_SNP;
use tee_attest_core::{
    Decryptor, DetectContext, Evidence, EvidenceProvider, EvidenceRequest, EvidenceType,
    ProviderConfig, Result, TeeBackend, TeeId,
};

use crate::amd::MockAmdRoots;
use crate::MockAzureCvm;

/// The registry id of the mock backend: a mock Azure SEV-SNP CVM.
pub const MOCK: TeeId = TeeId::new("mock");

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
        cfg.vtpm_lock = Some(cvm.vtpm_lock_path());
        Ok(Self {
            inner: AzureSnpProvider::new(cfg)?.reporting_as(MOCK),
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
    fn tee(&self) -> TeeId {
        MOCK
    }

    fn evidence_type(&self) -> EvidenceType {
        AZURE_GUEST_SNP
    }

    async fn evidence(&self, request: &EvidenceRequest) -> Result<Evidence> {
        self.inner.evidence(request).await
    }

    fn decryptor(&self) -> Result<Arc<dyn Decryptor>> {
        self.inner.decryptor()
    }
}

/// The mock roots a verifier must be told to trust for mock evidence, by
/// TEE family (DER). Trusting them is always an explicit choice.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct MockTrustRoots {
    /// The mock AMD ARK (SEV-SNP: Azure SNP CVMs and bare-metal guests).
    pub amd_ark: Vec<u8>,
    /// The mock Intel SGX Root CA (DER) of the stored mock Intel platform
    /// ([`crate::intel::MockIntelPlatform::stored`]).
    pub intel_root: Vec<u8>,
}

/// The repository's stored mock roots (`testvectors/mock`), which every
/// mock backend signs with.
pub fn trust_roots() -> Result<MockTrustRoots> {
    Ok(MockTrustRoots {
        amd_ark: MockAmdRoots::stored_milan()?.ark_der().to_vec(),
        intel_root: crate::intel::MockIntelPlatform::stored()?
            .root_der()
            .to_vec(),
    })
}

fn detect(_: &DetectContext) -> Option<serde_json::Value> {
    // The mock is chosen, never detected.
    None
}

fn provider(_: &ProviderConfig) -> Result<Arc<dyn EvidenceProvider>> {
    Ok(Arc::new(MockProvider::start()?))
}

/// The mock backend: a mock Azure SEV-SNP CVM started in process (needs
/// `swtpm`). A persistent one for separate processes is `tee-attest mock up`.
pub const BACKEND: TeeBackend = TeeBackend {
    id: MOCK,
    description: "mock Azure SEV-SNP CVM on swtpm, signed by mock AMD roots (testing only)",
    evidence_type: AZURE_GUEST_SNP,
    detect,
    provider,
};
