//! The evidence providers of Azure confidential VMs: [`AzureSnpProvider`]
//! (SEV-SNP, here) and [`AzureTdxProvider`] (TDX, [`tdx`]), which share the
//! vTPM half of the evidence, their configuration ([`AzureCvmConfig`]) and
//! detection; [`imds::TdQuoteClient`] is IMDS's TD quote service.
//!
//! `AzureSnpProvider`, evidence from an Azure SEV-SNP confidential VM:
//!
//! 1. write fresh user data — the 64 bytes of report data the verifier's
//!    challenge asks for, else SHA-512(nonce ‖ runtime data) — to NV
//!    `0x01400002`, so that the HCL refreshes the report;
//! 2. read the HCL report from NV `0x01400001`, check that its SNP report
//!    binds the variable data and that the variable data carries our user
//!    data (the report is fresh);
//! 3. get the VCEK chain (Azure IMDS THIM by default, through the
//!    configurable collateral chain);
//! 4. quote PCRs 0–23 with the AK over the nonce; certify the ephemeral key
//!    with the AK over the nonce — the same key the provider's decryptor
//!    holds (made once, its context saved and loaded again);
//! 5. read the TCG event log when present.
//!
//! TPM work runs through [`TpmAccess::run`]: under the cross-process vTPM
//! lock (held from the user-data write to the HCL report read, so that no
//! process reads a report another asked for), on a worker thread with a
//! time-out on every TPM command (code 13 past it), with commands retried
//! while the TPM is out of object or session slots (docs/RELIABILITY.md).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use aws_lc_rs::digest;
use tee_attest_core::{
    Decryptor, DetectContext, Evidence, EvidenceProvider, EvidenceRequest, EvidenceType,
    ProviderConfig, Result, TeeBackend, TeeId,
};
use tee_attest_snp::collateral::{CollateralChain, CollateralRequest, HttpConfig, Thim};
use tee_attest_tpm::handles::{HCL_REPORT_NV_INDEX, HCL_USER_DATA_SIZE};
use tee_attest_tpm::TpmAccess;

use crate::{HclReport, ReportType, AZURE_GUEST_SNP, AZURE_SNP};

pub mod imds;
pub mod tdx;
mod vtpm;

pub use imds::{ImdsError, TdQuoteClient, TDQUOTE_PATH};
pub use tdx::{AzureTdxConfig, AzureTdxProvider, BACKEND as TDX_BACKEND};
use vtpm::{check_fresh, Vtpm};

/// Azure's instance metadata service, reachable only inside Azure.
pub const AZURE_IMDS_URL: &str = "http://169.254.169.254";
/// Where Linux exposes the TCG (measured boot) event log.
pub const TCG_EVENT_LOG: &str = "/sys/kernel/security/tpm0/binary_bios_measurements";

/// Configuration of an Azure CVM provider ([`AzureSnpProvider`],
/// [`AzureTdxProvider`]).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AzureCvmConfig {
    /// The vTPM's TCTI; `None` for `$TEE_ATTEST_TCTI` or the device.
    pub tcti: Option<String>,
    /// The IMDS base URL (THIM on SEV-SNP, `/acc/tdquote` on TDX). Tests
    /// point it at loopback.
    pub imds_url: String,
    /// The TCG event log path.
    pub event_log: PathBuf,
    /// The SHA-256 PCRs to quote.
    pub quote_pcrs: Vec<u32>,
    /// Bind the nonce as the quote's and the certification's qualifying
    /// data (az-cvm-tooling's way). Microsoft's client leaves it empty and
    /// relies on the client payload and the ephemeral key for freshness.
    pub nonce_in_quote: bool,
    /// HTTP retries and time-outs for IMDS (collateral, TD quotes).
    pub http: HttpConfig,
    /// The lock file shared by the processes using this vTPM; `None`:
    /// `$TEE_ATTEST_VTPM_LOCK`, else the default ([`TpmAccess`]).
    pub vtpm_lock: Option<PathBuf>,
    /// The time-out of one TPM command and of the wait for the lock;
    /// `None`: `$TEE_ATTEST_TPM_TIMEOUT`, else 30 s.
    pub tpm_timeout: Option<std::time::Duration>,
}

impl AzureCvmConfig {
    /// How the provider reaches its vTPM: the TCTI, lock file and time-out
    /// configured, else from the environment. Code 8 for a time-out
    /// variable that does not parse.
    pub fn tpm_access(&self) -> Result<TpmAccess> {
        Ok(TpmAccess::resolve(
            self.tcti.as_deref(),
            self.vtpm_lock.as_deref(),
            self.tpm_timeout,
        )?)
    }
}

/// The configuration of [`AzureSnpProvider`].
pub type AzureSnpConfig = AzureCvmConfig;

impl AzureCvmConfig {
    /// Evidence exactly as Microsoft's client gathers it: SHA-256 PCRs 0–7,
    /// empty qualifying data.
    pub fn microsoft_compatible() -> Self {
        Self {
            quote_pcrs: tee_attest_tpm::handles::LINUX_QUOTE_PCRS.to_vec(),
            nonce_in_quote: false,
            ..Self::default()
        }
    }
}

impl Default for AzureCvmConfig {
    fn default() -> Self {
        Self {
            tcti: None,
            imds_url: AZURE_IMDS_URL.into(),
            event_log: TCG_EVENT_LOG.into(),
            quote_pcrs: (0..24).collect(),
            nonce_in_quote: true,
            http: HttpConfig::default(),
            vtpm_lock: None,
            tpm_timeout: None,
        }
    }
}

/// Gathers Azure SEV-SNP CVM evidence from the vTPM and IMDS.
#[derive(Debug)]
pub struct AzureSnpProvider {
    config: AzureCvmConfig,
    collateral: CollateralChain,
    /// The vTPM half, with the ephemeral key's decryptor (made once, by the
    /// first evidence or the first `decryptor()` call, and shared with the
    /// evidence).
    vtpm: Vtpm,
    /// For the mock backend: the TEE id its evidence reports.
    tee: TeeId,
}

/// The user data written for a request: SHA-512(nonce ‖ runtime data).
pub fn user_data_for(request: &EvidenceRequest) -> [u8; HCL_USER_DATA_SIZE] {
    let mut ctx = digest::Context::new(&digest::SHA512);
    ctx.update(&request.nonce);
    ctx.update(&request.runtime_data);
    let mut out = [0u8; HCL_USER_DATA_SIZE];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

impl AzureSnpProvider {
    /// A provider with THIM at `config.imds_url` as its collateral source.
    pub fn new(config: AzureSnpConfig) -> Result<Self> {
        let thim = Thim::new(config.imds_url.clone(), config.http.clone())?;
        let collateral = CollateralChain::new().with_source(Arc::new(thim));
        Ok(Self::with_collateral(config, collateral))
    }

    /// A provider with another collateral chain (cache, offline directory…).
    pub fn with_collateral(config: AzureSnpConfig, collateral: CollateralChain) -> Self {
        Self {
            config,
            collateral,
            vtpm: Vtpm::default(),
            tee: AZURE_SNP,
        }
    }

    /// The same provider reporting another backend's id (the mock backend
    /// runs this provider against its mock CVM).
    #[must_use]
    pub fn reporting_as(mut self, tee: TeeId) -> Self {
        self.tee = tee;
        self
    }
}

#[async_trait]
impl EvidenceProvider for AzureSnpProvider {
    fn tee(&self) -> TeeId {
        self.tee
    }

    fn evidence_type(&self) -> EvidenceType {
        AZURE_GUEST_SNP
    }

    async fn evidence(&self, request: &EvidenceRequest) -> Result<Evidence> {
        let v = self.vtpm.gather(&self.config, request).await?;
        let hcl = HclReport::from_bytes(&v.hcl)?;
        let report = hcl.snp_report()?;
        hcl.check_binding()?;
        check_fresh(&hcl, &v.user_data)?;
        let collateral = self
            .collateral
            .resolve(&CollateralRequest::from_report(&report))
            .await?;
        let event_log = std::fs::read(&self.config.event_log).ok();

        let mut evidence = Evidence::new(self.tee, AZURE_GUEST_SNP);
        evidence.hardware_report = hcl.hw_report.clone();
        evidence.runtime_data = hcl.var_data.clone();
        evidence.hcl_report = Some(v.hcl);
        evidence.certificates = collateral.certs();
        evidence.tpm = Some(v.tpm);
        evidence.event_log = event_log;
        // What the quote and the certification bind.
        evidence.nonce = v.nonce;
        evidence.client_payload = request.client_payload.clone();
        Ok(evidence)
    }

    fn decryptor(&self) -> Result<Arc<dyn Decryptor>> {
        self.vtpm.decryptor(&self.config)
    }
}

/// `$TEE_ATTEST_IMDS_URL`: overrides the IMDS base URL.
pub const IMDS_URL_ENV: &str = "TEE_ATTEST_IMDS_URL";
/// `$TEE_ATTEST_EVENT_LOG`: overrides the TCG event log path.
pub const EVENT_LOG_ENV: &str = "TEE_ATTEST_EVENT_LOG";

/// The provider configuration a [`ProviderConfig`] and the environment say:
/// each field from the config, else its environment variable, else Azure's
/// (for SEV-SNP and TDX alike).
pub fn config_from(config: &ProviderConfig) -> AzureCvmConfig {
    let mut cfg = AzureCvmConfig {
        tcti: config.tcti.clone(),
        vtpm_lock: config.vtpm_lock.clone(),
        tpm_timeout: config.tpm_timeout,
        ..AzureCvmConfig::default()
    };
    if let Some(url) = config
        .imds_url
        .clone()
        .or_else(|| std::env::var(IMDS_URL_ENV).ok().filter(|v| !v.is_empty()))
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
    cfg
}

/// The type of the HCL report in this machine's vTPM, if it has one: how
/// an Azure CVM is recognised (no network). The TPM is read under the vTPM
/// lock, with the time-out of [`TpmAccess::resolve`]: a stopped TPM is not
/// recognised rather than hanging detection.
pub fn detect_hcl_report(ctx: &DetectContext) -> Option<ReportType> {
    let tcti = ctx
        .tcti
        .clone()
        .or_else(|| {
            std::env::var(tee_attest_tpm::TCTI_ENV)
                .ok()
                .filter(|t| !t.is_empty())
        })
        .or_else(|| {
            ["dev/tpmrm0", "dev/tpm0"]
                .iter()
                .map(|d| ctx.root.join(d))
                .find(|p| p.exists())
                .map(|p| format!("device:{}", p.display()))
        })?;
    let access = TpmAccess::resolve(Some(&tcti), None, None).ok()?;
    let blob = access
        .run(|tpm| match tpm.nv_size(HCL_REPORT_NV_INDEX)? {
            Some(_) => tpm.nv_read(HCL_REPORT_NV_INDEX).map(Some),
            None => Ok(None),
        })
        .ok()??;
    HclReport::peek_type(&blob)
}

fn detect(ctx: &DetectContext) -> Option<serde_json::Value> {
    match detect_hcl_report(ctx)? {
        ReportType::Snp => Some(serde_json::json!({
            "hcl_report": {"nv_index": "0x01400001", "type": "snp"}
        })),
        _ => None,
    }
}

fn provider(config: &ProviderConfig) -> Result<Arc<dyn EvidenceProvider>> {
    Ok(Arc::new(AzureSnpProvider::new(config_from(config))?))
}

/// The Azure SEV-SNP CVM backend, for the facade's registry.
pub const BACKEND: TeeBackend = TeeBackend {
    id: AZURE_SNP,
    description: "Azure confidential VM on AMD SEV-SNP (vTPM, HCL report, IMDS)",
    evidence_type: AZURE_GUEST_SNP,
    detect,
    provider,
};
