//! [`SnpGuestProvider`]: evidence from a bare-metal SEV-SNP guest through
//! Linux configfs-tsm, and [`BACKEND`], its registry value.
//!
//! For each request:
//!
//! 1. the report data (`inblob`) is exactly the 64 bytes the verifier's
//!    challenge asks for (`EvidenceRequest::report_data`); without one,
//!    SHA-512(nonce ‖ runtime data);
//! 2. one configfs-tsm report ([`Tsm::report`], on a blocking thread):
//!    provider `sev_guest`, `privlevel` = the configured VMPL, `inblob`,
//!    then `outblob` (the report) and `auxblob` (the certificate table),
//!    `generation` checked, the report directory removed;
//! 3. the report must parse and carry exactly that report data (and the
//!    VMPL asked for) — else the kernel answered another request;
//! 4. the certificates: the auxblob's VCEK (or VLEK) with its ASK and ARK,
//!    else the configured collateral chain (none by default).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use aws_lc_rs::digest;
use serde_json::json;
use tee_attest_core::{
    DetectContext, Evidence, EvidenceProvider, EvidenceRequest, EvidenceType, ProviderConfig,
    Result, TeeBackend, TeeId,
};
use tee_attest_snp::collateral::{CollateralChain, CollateralRequest, HttpConfig, Kds};
use tee_attest_snp::{AttestationReport, SigningKey, SEV_SNP_VM};
use tee_attest_tsm::{
    parse_cert_table, Guid, ReportRequest, Tsm, DEFAULT_DEV_ROOT, DEFAULT_TSM_ROOT, INBLOB_MAX,
    PROVIDER_SEV_GUEST,
};

use crate::SnpGuestError;

/// The registry id of bare-metal SEV-SNP guests (`--tee snp`).
pub const SNP: TeeId = TeeId::new("snp");

/// AMD's Key Distribution Service. Never used unless configured
/// ([`SnpGuestConfig::with_kds`]): by default certificates come only from
/// the host (the auxblob), so that nothing reaches AMD implicitly — and
/// tests never do.
pub const AMD_KDS_URL: &str = "https://kdsintf.amd.com";

/// The legacy SEV guest device, relative to the device root.
const SEV_GUEST_DEVICE: &str = "sev-guest";

/// Configuration of [`SnpGuestProvider`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SnpGuestConfig {
    /// The configfs-tsm report root; `None`: `$TEE_ATTEST_TSM_ROOT` if set
    /// and not empty, else `/sys/kernel/config/tsm/report`.
    pub tsm_root: Option<PathBuf>,
    /// Where the legacy guest device is looked for to explain a missing
    /// configfs-tsm (`None`: `/dev`).
    pub dev_root: Option<PathBuf>,
    /// The VMPL to request (configfs-tsm `privlevel`, 0–3); `None` writes
    /// none and the kernel uses its default.
    pub vmpl: Option<u32>,
    /// Where certificates come from when the host put none in the auxblob.
    /// Empty by default: then the auxblob must carry them. AMD's KDS is
    /// added only when configured explicitly ([`SnpGuestConfig::with_kds`]).
    pub collateral: CollateralChain,
}

impl SnpGuestConfig {
    /// The configuration a [`ProviderConfig`] says: its configfs-tsm root,
    /// everything else by default.
    pub fn from_provider_config(config: &ProviderConfig) -> Self {
        Self {
            tsm_root: config.tsm_root.clone(),
            ..Self::default()
        }
    }

    /// With this configfs-tsm report root.
    #[must_use]
    pub fn with_tsm_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.tsm_root = Some(root.into());
        self
    }

    /// With this device root (where `sev-guest` is looked for).
    #[must_use]
    pub fn with_dev_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.dev_root = Some(root.into());
        self
    }

    /// Requesting reports at this VMPL.
    #[must_use]
    pub fn with_vmpl(mut self, vmpl: u32) -> Self {
        self.vmpl = Some(vmpl);
        self
    }

    /// With this collateral chain for reports whose auxblob carries no
    /// certificate.
    #[must_use]
    pub fn with_collateral(mut self, collateral: CollateralChain) -> Self {
        self.collateral = collateral;
        self
    }

    /// With AMD's KDS at `url` (e.g. [`AMD_KDS_URL`]) added at the end of
    /// the collateral chain: the VCEK is fetched from it when the auxblob
    /// has none. Code 8 for an unusable URL or HTTP client.
    pub fn with_kds(mut self, url: impl Into<String>) -> Result<Self> {
        let kds = Kds::new(url, HttpConfig::default())?;
        self.collateral = self.collateral.with_source(Arc::new(kds));
        Ok(self)
    }
}

/// Gathers SEV-SNP evidence from a bare-metal guest through configfs-tsm.
/// There is no vTPM: no ephemeral key, so no decryptor.
#[derive(Debug, Clone)]
pub struct SnpGuestProvider {
    config: SnpGuestConfig,
    tsm: Tsm,
}

impl SnpGuestProvider {
    /// A provider with `config`.
    pub fn new(config: SnpGuestConfig) -> Self {
        let tsm = Tsm::new(config.tsm_root.clone()).with_dev_root(
            config
                .dev_root
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DEV_ROOT)),
        );
        Self { config, tsm }
    }

    /// A provider using `tsm` as its configfs-tsm client (its root, retries
    /// and hooks; `config.tsm_root` and `config.dev_root` are then unused).
    pub fn with_tsm(config: SnpGuestConfig, tsm: Tsm) -> Self {
        Self { config, tsm }
    }

    /// The configfs-tsm report root it uses.
    pub fn tsm_root(&self) -> &Path {
        self.tsm.root()
    }

    /// Certificates for `report` from the collateral chain.
    async fn collateral_certs(&self, report: &AttestationReport) -> Result<Vec<Vec<u8>>> {
        if self.config.collateral.source_names().is_empty() {
            return Err(SnpGuestError::NoCertificate {
                signer: report.signing_key().name(),
            }
            .into());
        }
        let found = self
            .config
            .collateral
            .resolve(&CollateralRequest::from_report(report))
            .await?;
        Ok(found.certs())
    }
}

/// The report data used when a request carries none: SHA-512(nonce ‖
/// runtime data), as the Azure SEV-SNP provider writes its user data.
/// Verifiers that decide the binding (MAA: SHA-256 of the runtime data)
/// give the 64 bytes in [`EvidenceRequest::report_data`] instead.
pub fn report_data_for(request: &EvidenceRequest) -> [u8; INBLOB_MAX] {
    let mut ctx = digest::Context::new(&digest::SHA512);
    ctx.update(&request.nonce);
    ctx.update(&request.runtime_data);
    let mut out = [0u8; INBLOB_MAX];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// What the kernel returned for one request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct KernelReport {
    /// The parsed report (its bytes are the `outblob`).
    pub report: AttestationReport,
    /// The certificates the auxblob carried for it, leaf first (VCEK or
    /// VLEK, then ASK/ASVK, then ARK, DER); `None` when it carried no leaf
    /// for the report's signing key.
    pub certificates: Option<Vec<Vec<u8>>>,
}

/// The certificates of a parsed certificate table for a report signed by
/// `signer`: the VCEK (or VLEK) first, then the ASK and the ARK when the
/// table has them; `None` without a non-empty leaf of that kind. The first
/// entry of each GUID counts; unknown GUIDs are ignored.
pub fn certificates_from_table(
    table: &[(Guid, Vec<u8>)],
    signer: SigningKey,
) -> Option<Vec<Vec<u8>>> {
    let first = |guid: Guid| {
        table
            .iter()
            .find(|(g, _)| *g == guid)
            .map(|(_, der)| der)
            .filter(|der| !der.is_empty())
    };
    let leaf = match signer {
        SigningKey::Vcek => first(Guid::VCEK)?,
        SigningKey::Vlek => first(Guid::VLEK)?,
        SigningKey::None | SigningKey::Reserved(_) => return None,
    };
    let mut certs = vec![leaf.clone()];
    certs.extend(first(Guid::ASK).cloned());
    certs.extend(first(Guid::ARK).cloned());
    Some(certs)
}

/// Checks what the kernel returned for `inblob` (and `vmpl`, when one was
/// requested) and extracts the auxblob's certificates.
///
/// Errors: `outblob` not an SEV-SNP report: code 20 (21 when all zero); a
/// report for other report data or another VMPL: code 13 (the kernel
/// answered another request); a malformed certificate table: code 20.
/// Never panics, whatever the bytes.
pub fn check_kernel_report(
    outblob: &[u8],
    auxblob: Option<&[u8]>,
    inblob: &[u8; INBLOB_MAX],
    vmpl: Option<u32>,
) -> Result<KernelReport> {
    let report = AttestationReport::from_bytes(outblob).map_err(SnpGuestError::Report)?;
    if &report.report_data != inblob {
        return Err(SnpGuestError::ReportDataMismatch {
            expected: hex::encode(inblob),
            found: hex::encode(report.report_data),
        }
        .into());
    }
    if let Some(expected) = vmpl {
        if report.vmpl != expected {
            return Err(SnpGuestError::VmplMismatch {
                expected,
                found: report.vmpl,
            }
            .into());
        }
    }
    let certificates = match auxblob {
        Some(blob) => certificates_from_table(&parse_cert_table(blob)?, report.signing_key()),
        None => None,
    };
    Ok(KernelReport {
        report,
        certificates,
    })
}

#[async_trait]
impl EvidenceProvider for SnpGuestProvider {
    fn tee(&self) -> TeeId {
        SNP
    }

    fn evidence_type(&self) -> EvidenceType {
        SEV_SNP_VM
    }

    async fn evidence(&self, request: &EvidenceRequest) -> Result<Evidence> {
        let inblob = request
            .report_data
            .unwrap_or_else(|| report_data_for(request));
        let (tsm, vmpl) = (self.tsm.clone(), self.config.vmpl);
        let raw = tokio::task::spawn_blocking(move || {
            tsm.report(&ReportRequest {
                inblob,
                privlevel: vmpl,
                provider: PROVIDER_SEV_GUEST,
                want_auxblob: true,
            })
        })
        .await
        .map_err(|e| SnpGuestError::Task(e.to_string()))??;
        let checked = check_kernel_report(&raw.outblob, raw.auxblob.as_deref(), &inblob, vmpl)?;
        let certificates = match checked.certificates {
            Some(certs) => certs,
            None => self.collateral_certs(&checked.report).await?,
        };

        let mut evidence = Evidence::new(SNP, SEV_SNP_VM);
        evidence.hardware_report = raw.outblob;
        evidence.certificates = certificates;
        evidence.runtime_data = request.runtime_data.clone();
        evidence.runtime_data_json = request.runtime_data_json;
        evidence.nonce = request.nonce.clone();
        evidence.client_payload = request.client_payload.clone();
        Ok(evidence)
    }
}

/// Whether the machine under `ctx` is a bare-metal SEV-SNP guest: a
/// configfs-tsm whose provider is `sev_guest`, or (a kernel older than
/// 6.7) only the legacy `/dev/sev-guest`, which this backend cannot use
/// but names. Makes and removes one report directory; never the network.
fn detect(ctx: &DetectContext) -> Option<serde_json::Value> {
    let root = ctx.path(DEFAULT_TSM_ROOT);
    if let Ok(Some(provider)) = Tsm::new(Some(root.clone())).probe() {
        if provider == PROVIDER_SEV_GUEST {
            return Some(json!({
                "configfs_tsm": root.display().to_string(),
                "provider": PROVIDER_SEV_GUEST,
            }));
        }
    }
    let device = ctx.path(DEFAULT_DEV_ROOT).join(SEV_GUEST_DEVICE);
    if device.exists() {
        return Some(json!({
            "device": device.display().to_string(),
            "configfs_tsm": null,
            "note": "Linux >= 6.7 with configfs-tsm is needed",
        }));
    }
    None
}

fn provider(config: &ProviderConfig) -> Result<Arc<dyn EvidenceProvider>> {
    Ok(Arc::new(SnpGuestProvider::new(
        SnpGuestConfig::from_provider_config(config),
    )))
}

/// The bare-metal SEV-SNP guest backend, for the facade's registry.
pub const BACKEND: TeeBackend = TeeBackend {
    id: SNP,
    description: "bare-metal AMD SEV-SNP guest (Linux configfs-tsm; no vTPM)",
    evidence_type: SEV_SNP_VM,
    detect,
    provider,
};
