//! `AzureSnpProvider`: evidence from an Azure SEV-SNP confidential VM.
//!
//! 1. write fresh user data — SHA-512(nonce ‖ runtime data), 64 bytes — to
//!    NV `0x01400002`, so that the HCL refreshes the report;
//! 2. read the HCL report from NV `0x01400001`, check that its SNP report
//!    binds the variable data and that the variable data carries our user
//!    data (the report is fresh);
//! 3. get the VCEK chain (Azure IMDS THIM by default, through the
//!    configurable collateral chain);
//! 4. quote PCRs 0–23 with the AK over the nonce; create the ephemeral key
//!    and certify it with the AK over the nonce;
//! 5. read the TCG event log when present.
//!
//! TPM work runs on a blocking thread (the ESAPI context is not `Send`).

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use aws_lc_rs::digest;
use tee_attest_core::{
    Decryptor, Error, ErrorCode, Evidence, EvidenceProvider, EvidenceRequest, Result, TeeKind,
    TpmEvidence,
};
use tee_attest_snp::collateral::{CollateralChain, CollateralRequest, HttpConfig, Thim};
use tee_attest_tpm::handles::{
    AK_CERT_NV_INDEX, AK_PERSISTENT_HANDLE, HCL_REPORT_NV_INDEX, HCL_USER_DATA_NV_INDEX,
    HCL_USER_DATA_SIZE,
};
use tee_attest_tpm::{CertifiedKey, Quote, Tpm, TpmDecryptor, TpmError};

use crate::{AzureError, HclReport};

/// Azure's instance metadata service, reachable only inside Azure.
pub const AZURE_IMDS_URL: &str = "http://169.254.169.254";
/// Where Linux exposes the TCG (measured boot) event log.
pub const TCG_EVENT_LOG: &str = "/sys/kernel/security/tpm0/binary_bios_measurements";

/// Configuration of [`AzureSnpProvider`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct AzureSnpConfig {
    /// The vTPM's TCTI; `None` for `$TEE_ATTEST_TCTI` or the device.
    pub tcti: Option<String>,
    /// The IMDS base URL (THIM). Tests point it at loopback.
    pub imds_url: String,
    /// The TCG event log path.
    pub event_log: PathBuf,
    /// The SHA-256 PCRs to quote.
    pub quote_pcrs: Vec<u32>,
    /// Bind the nonce as the quote's and the certification's qualifying
    /// data (az-cvm-tooling's way). Microsoft's client leaves it empty and
    /// relies on the client payload and the ephemeral key for freshness.
    pub nonce_in_quote: bool,
    /// HTTP retries and time-outs for collateral.
    pub http: HttpConfig,
}

impl AzureSnpConfig {
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

impl Default for AzureSnpConfig {
    fn default() -> Self {
        Self {
            tcti: None,
            imds_url: AZURE_IMDS_URL.into(),
            event_log: TCG_EVENT_LOG.into(),
            quote_pcrs: (0..24).collect(),
            nonce_in_quote: true,
            http: HttpConfig::default(),
        }
    }
}

/// Gathers Azure SEV-SNP CVM evidence from the vTPM and IMDS.
#[derive(Debug)]
pub struct AzureSnpProvider {
    config: AzureSnpConfig,
    collateral: CollateralChain,
}

/// What the TPM part returns.
struct Gathered {
    hcl: Vec<u8>,
    ak_pub: Vec<u8>,
    ak_cert: Option<Vec<u8>>,
    quote: Quote,
    certified: CertifiedKey,
}

fn gather(
    tcti: Option<&str>,
    user_data: &[u8; HCL_USER_DATA_SIZE],
    nonce: &[u8],
    pcrs: &[u32],
) -> Result<Gathered, TpmError> {
    let mut tpm = Tpm::open(tcti)?;
    tpm.nv_write(HCL_USER_DATA_NV_INDEX, user_data)?;
    let hcl = tpm.nv_read(HCL_REPORT_NV_INDEX)?;
    let (ak_pub, _) = tpm.read_public(AK_PERSISTENT_HANDLE)?;
    let ak_cert = match tpm.nv_size(AK_CERT_NV_INDEX)? {
        Some(_) => Some(tpm.nv_read(AK_CERT_NV_INDEX)?),
        None => None,
    };
    let quote = tpm.quote(AK_PERSISTENT_HANDLE, pcrs, nonce)?;
    let key = tpm.ephemeral_key()?;
    let certified = tpm.certify(&key, AK_PERSISTENT_HANDLE, nonce);
    tpm.flush_ephemeral_key(key);
    Ok(Gathered {
        hcl,
        ak_pub,
        ak_cert,
        quote,
        certified: certified?,
    })
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
        Ok(Self { config, collateral })
    }

    /// A provider with another collateral chain (cache, offline directory…).
    pub fn with_collateral(config: AzureSnpConfig, collateral: CollateralChain) -> Self {
        Self { config, collateral }
    }
}

#[async_trait]
impl EvidenceProvider for AzureSnpProvider {
    fn tee(&self) -> TeeKind {
        TeeKind::AzureSnp
    }

    async fn evidence(&self, request: &EvidenceRequest) -> Result<Evidence> {
        if request.nonce.len() > 64 {
            return Err(Error::new(
                ErrorCode::InvalidInputParameter,
                format!(
                    "nonce of {} bytes: a TPM quote binds at most 64",
                    request.nonce.len()
                ),
            ));
        }
        let user_data = user_data_for(request);
        let (tcti, nonce, pcrs) = (
            self.config.tcti.clone(),
            if self.config.nonce_in_quote {
                request.nonce.clone()
            } else {
                Vec::new()
            },
            self.config.quote_pcrs.clone(),
        );
        let g =
            tokio::task::spawn_blocking(move || gather(tcti.as_deref(), &user_data, &nonce, &pcrs))
                .await
                .map_err(|e| {
                    Error::with_source(ErrorCode::TpmInternalFailure, "TPM task failed", e)
                })??;

        let hcl = HclReport::from_bytes(&g.hcl)?;
        let report = hcl.snp_report()?;
        hcl.check_binding()?;
        let var_data = hcl.var_data()?;
        if var_data.user_data().as_deref() != Some(&user_data[..]) {
            return Err(AzureError::Binding(
                "the HCL report does not carry the user data just written: it was not refreshed"
                    .into(),
            )
            .into());
        }
        let collateral = self
            .collateral
            .resolve(&CollateralRequest::from_report(&report))
            .await?;
        let event_log = std::fs::read(&self.config.event_log).ok();

        let mut evidence = Evidence::new(TeeKind::AzureSnp);
        evidence.hardware_report = hcl.hw_report.clone();
        evidence.runtime_data = hcl.var_data.clone();
        evidence.hcl_report = Some(g.hcl);
        evidence.certificates = collateral.certs();
        let mut tpm = TpmEvidence::default();
        tpm.ak_pub = g.ak_pub;
        tpm.ak_cert = g.ak_cert;
        tpm.quote = g.quote.attest;
        tpm.quote_signature = g.quote.signature;
        tpm.pcrs = g.quote.pcrs;
        tpm.enc_key_pub = g.certified.public;
        tpm.enc_key_certify_info = g.certified.certify_info;
        tpm.enc_key_certify_signature = g.certified.signature;
        evidence.tpm = Some(tpm);
        evidence.event_log = event_log;
        // What the quote and the certification bind.
        evidence.nonce = if self.config.nonce_in_quote {
            request.nonce.clone()
        } else {
            Vec::new()
        };
        evidence.client_payload = request.client_payload.clone();
        Ok(evidence)
    }

    fn decryptor(&self) -> Option<Arc<dyn Decryptor>> {
        TpmDecryptor::open(self.config.tcti.as_deref())
            .ok()
            .map(|d| Arc::new(d) as Arc<dyn Decryptor>)
    }
}
