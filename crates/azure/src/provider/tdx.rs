//! `AzureTdxProvider`: evidence from an Azure TDX confidential VM, and
//! [`BACKEND`], its registry value.
//!
//! 1. the vTPM half, as on SEV-SNP ([`super::vtpm`]): fresh user data (the
//!    64 bytes of report data the verifier's challenge asks for, else
//!    SHA-512(nonce ‖ runtime data)) to NV `0x01400002`, the HCL report
//!    from NV `0x01400001`, the AK, a PCR quote and the certified
//!    ephemeral key;
//! 2. the HCL report must be of type 4 (TDX), its TDREPORT must bind the
//!    variable data and the variable data must carry our user data;
//! 3. IMDS turns the TDREPORT into a TD quote (`POST {imds}/acc/tdquote`,
//!    [`TdQuoteClient`]), which must be of the same TD with the same
//!    REPORTDATA ([`check_quote_matches`]);
//! 4. the TCG event log when present.
//!
//! The evidence is `AzureGuest` with `IsolationInfo.Type` `Tdx`: `Proof`
//! is the TD quote, `RunTimeData` the variable data (`tee_attest_maa`
//! builds the body).

use std::sync::Arc;

use async_trait::async_trait;
use tee_attest_core::{
    Decryptor, DetectContext, Evidence, EvidenceProvider, EvidenceRequest, EvidenceType,
    ProviderConfig, Result, TeeBackend, TeeId,
};
use tee_attest_tdx::Quote;

use super::imds::TdQuoteClient;
use super::vtpm::{check_fresh, Vtpm};
use super::{config_from, detect_hcl_report, AzureCvmConfig};
use crate::{check_quote_matches, AzureError, HclReport, ReportType, AZURE_GUEST_TDX, AZURE_TDX};

/// The configuration of [`AzureTdxProvider`]: the same as SEV-SNP's (the
/// IMDS base URL serves `/acc/tdquote`).
pub type AzureTdxConfig = AzureCvmConfig;

/// Gathers Azure TDX CVM evidence from the vTPM and IMDS.
#[derive(Debug)]
pub struct AzureTdxProvider {
    config: AzureCvmConfig,
    imds: TdQuoteClient,
    vtpm: Vtpm,
}

impl AzureTdxProvider {
    /// A provider with IMDS at `config.imds_url`. Code 1 when the HTTP
    /// client cannot be built.
    pub fn new(config: AzureTdxConfig) -> Result<Self> {
        let imds = TdQuoteClient::new(&config.imds_url, config.http.clone())?;
        Ok(Self {
            config,
            imds,
            vtpm: Vtpm::default(),
        })
    }

    /// The TD quote service it asks.
    pub fn imds(&self) -> &TdQuoteClient {
        &self.imds
    }
}

#[async_trait]
impl EvidenceProvider for AzureTdxProvider {
    fn tee(&self) -> TeeId {
        AZURE_TDX
    }

    fn evidence_type(&self) -> EvidenceType {
        AZURE_GUEST_TDX
    }

    async fn evidence(&self, request: &EvidenceRequest) -> Result<Evidence> {
        let v = self.vtpm.gather(&self.config, request).await?;
        let hcl = HclReport::from_bytes(&v.hcl)?;
        let td = hcl.td_report()?;
        hcl.check_binding()?;
        check_fresh(&hcl, &v.user_data)?;
        let quote_bytes = self.imds.quote(td.raw()).await?;
        let quote = Quote::parse(&quote_bytes).map_err(AzureError::from)?;
        check_quote_matches(&quote, &td)?;
        let event_log = std::fs::read(&self.config.event_log).ok();

        let mut evidence = Evidence::new(AZURE_TDX, AZURE_GUEST_TDX);
        // The PCK chain the quote carries, if any.
        evidence.certificates = quote.pck_chain_der();
        evidence.hardware_report = quote_bytes;
        evidence.runtime_data = hcl.var_data.clone();
        evidence.hcl_report = Some(v.hcl);
        evidence.tpm = Some(v.tpm);
        evidence.event_log = event_log;
        evidence.nonce = v.nonce;
        evidence.client_payload = request.client_payload.clone();
        Ok(evidence)
    }

    fn decryptor(&self) -> Result<Arc<dyn Decryptor>> {
        self.vtpm.decryptor(&self.config)
    }
}

fn detect(ctx: &DetectContext) -> Option<serde_json::Value> {
    match detect_hcl_report(ctx)? {
        ReportType::Tdx => Some(serde_json::json!({
            "hcl_report": {"nv_index": "0x01400001", "type": "tdx"}
        })),
        _ => None,
    }
}

fn provider(config: &ProviderConfig) -> Result<Arc<dyn EvidenceProvider>> {
    Ok(Arc::new(AzureTdxProvider::new(config_from(config))?))
}

/// The Azure TDX CVM backend, for the facade's registry.
pub const BACKEND: TeeBackend = TeeBackend {
    id: AZURE_TDX,
    description: "Azure confidential VM on Intel TDX (vTPM, HCL report, IMDS TD quote)",
    evidence_type: AZURE_GUEST_TDX,
    detect,
    provider,
};
