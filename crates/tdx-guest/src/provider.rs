//! [`TdxGuestProvider`]: evidence from a bare-metal TDX guest through Linux
//! configfs-tsm, and [`BACKEND`], its registry value.
//!
//! For each request:
//!
//! 1. the report data (`inblob`) is exactly the 64 bytes the verifier's
//!    challenge asks for (`EvidenceRequest::report_data`; MAA's `TdxVm`
//!    rule: SHA-256 of the runtime data, then zeros); without one,
//!    SHA-512(nonce ‖ runtime data);
//! 2. one configfs-tsm report ([`Tsm::report`], on a blocking thread):
//!    provider `tdx_guest`, `inblob`, then `outblob` — the TD quote the
//!    kernel got from the quoting enclave — `generation` checked, the report
//!    directory removed;
//! 3. the quote must parse as a TD quote (v4 or v5) and carry exactly that
//!    report data — else the kernel answered another request; its
//!    signatures are the verifier's business, not checked here;
//! 4. the CC event log (ACPI CCEL, [`crate::read_ccel`]) goes with it when
//!    the TD has one, and the PCK certificate chain the quote carries is
//!    copied into the evidence's certificates (DER, leaf first).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;
use aws_lc_rs::digest;
use serde_json::json;
use tee_attest_core::{
    DetectContext, Evidence, EvidenceProvider, EvidenceRequest, EvidenceType, ProviderConfig,
    Result, TeeBackend, TeeId,
};
use tee_attest_tdx::{Quote, TDX_VM};
use tee_attest_tsm::{
    ReportRequest, Tsm, DEFAULT_DEV_ROOT, DEFAULT_TSM_ROOT, INBLOB_MAX, PROVIDER_TDX_GUEST,
};

use crate::ccel::{ccel_root, read_ccel, CcelEventLog, DEFAULT_ACPI_TABLES};
use crate::TdxGuestError;

/// The registry id of bare-metal TDX guests (`--tee tdx`).
pub const TDX: TeeId = TeeId::new("tdx");

/// The legacy TDX guest device, relative to the device root.
const TDX_GUEST_DEVICE: &str = "tdx_guest";

/// Configuration of [`TdxGuestProvider`].
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct TdxGuestConfig {
    /// The configfs-tsm report root; `None`: `$TEE_ATTEST_TSM_ROOT` if set
    /// and not empty, else `/sys/kernel/config/tsm/report`.
    pub tsm_root: Option<PathBuf>,
    /// Where the legacy guest device is looked for to explain a missing
    /// configfs-tsm (`None`: `/dev`).
    pub dev_root: Option<PathBuf>,
    /// The ACPI tables directory holding `CCEL` and `data/CCEL`; `None`:
    /// `$TEE_ATTEST_CCEL_ROOT` if set and not empty, else
    /// `/sys/firmware/acpi/tables`.
    pub ccel_root: Option<PathBuf>,
}

impl TdxGuestConfig {
    /// The configuration a [`ProviderConfig`] says: its configfs-tsm root,
    /// everything else by default (the CCEL root from
    /// `$TEE_ATTEST_CCEL_ROOT`).
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

    /// With this device root (where `tdx_guest` is looked for).
    #[must_use]
    pub fn with_dev_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.dev_root = Some(root.into());
        self
    }

    /// With this ACPI tables directory (where `CCEL` and `data/CCEL` are
    /// looked for).
    #[must_use]
    pub fn with_ccel_root(mut self, root: impl Into<PathBuf>) -> Self {
        self.ccel_root = Some(root.into());
        self
    }
}

/// Gathers TDX evidence from a bare-metal guest through configfs-tsm.
/// There is no vTPM: no ephemeral key, so no decryptor.
#[derive(Debug, Clone)]
pub struct TdxGuestProvider {
    tsm: Tsm,
    ccel_root: PathBuf,
}

impl TdxGuestProvider {
    /// A provider with `config`.
    pub fn new(config: TdxGuestConfig) -> Self {
        let tsm = Tsm::new(config.tsm_root.clone()).with_dev_root(
            config
                .dev_root
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_DEV_ROOT)),
        );
        Self::with_tsm(config, tsm)
    }

    /// A provider using `tsm` as its configfs-tsm client (its root, retries
    /// and hooks; `config.tsm_root` and `config.dev_root` are then unused).
    pub fn with_tsm(config: TdxGuestConfig, tsm: Tsm) -> Self {
        Self {
            tsm,
            ccel_root: ccel_root(config.ccel_root.as_deref()),
        }
    }

    /// The configfs-tsm report root it uses.
    pub fn tsm_root(&self) -> &Path {
        self.tsm.root()
    }

    /// The ACPI tables directory it reads the CC event log from.
    pub fn ccel_root(&self) -> &Path {
        &self.ccel_root
    }
}

/// The report data used when a request carries none: SHA-512(nonce ‖
/// runtime data), as the other providers bind them. Verifiers that decide
/// the binding (MAA's `TdxVm`: SHA-256 of the runtime data, then zeros)
/// give the 64 bytes in [`EvidenceRequest::report_data`] instead.
pub fn report_data_for(request: &EvidenceRequest) -> [u8; INBLOB_MAX] {
    let mut ctx = digest::Context::new(&digest::SHA512);
    ctx.update(&request.nonce);
    ctx.update(&request.runtime_data);
    let mut out = [0u8; INBLOB_MAX];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// Checks what the kernel returned for `inblob`: a TD quote (v4 or v5)
/// carrying exactly that report data. Signatures are not checked (the
/// verifier does that).
///
/// Errors: `outblob` not a quote: code 20 (21 when all zero); an SGX quote:
/// code 20; a quote for other report data: code 13 (the kernel answered
/// another request). Never panics, whatever the bytes.
pub fn check_kernel_quote(outblob: &[u8], inblob: &[u8; INBLOB_MAX]) -> Result<Quote> {
    let quote = Quote::parse(outblob).map_err(TdxGuestError::Quote)?;
    if !quote.is_tdx() || quote.body.td().is_none() {
        return Err(TdxGuestError::NotTdx {
            tee_type: quote.header.tee_type,
        }
        .into());
    }
    if quote.body.report_data() != inblob {
        return Err(TdxGuestError::ReportDataMismatch {
            expected: hex::encode(inblob),
            found: hex::encode(quote.body.report_data()),
        }
        .into());
    }
    Ok(quote)
}

#[async_trait]
impl EvidenceProvider for TdxGuestProvider {
    fn tee(&self) -> TeeId {
        TDX
    }

    fn evidence_type(&self) -> EvidenceType {
        TDX_VM
    }

    async fn evidence(&self, request: &EvidenceRequest) -> Result<Evidence> {
        let inblob = request
            .report_data
            .unwrap_or_else(|| report_data_for(request));
        let (tsm, ccel_root) = (self.tsm.clone(), self.ccel_root.clone());
        let (raw, ccel) = tokio::task::spawn_blocking(move || -> Result<_> {
            let raw = tsm.report(&ReportRequest::new(inblob, PROVIDER_TDX_GUEST))?;
            // Read only once the quote is there: a guest without configfs-tsm
            // is told so first.
            let ccel: Option<CcelEventLog> = read_ccel(&ccel_root)?;
            Ok((raw, ccel))
        })
        .await
        .map_err(|e| TdxGuestError::Task(e.to_string()))??;
        let quote = check_kernel_quote(&raw.outblob, &inblob)?;

        let mut evidence = Evidence::new(TDX, TDX_VM);
        // The PCK chain the quote carries, if any (else the verifier
        // fetches the PCK); the quote goes as it is either way.
        evidence.certificates = quote.pck_chain_der();
        evidence.hardware_report = raw.outblob;
        evidence.event_log = ccel.map(|c| c.log);
        evidence.runtime_data = request.runtime_data.clone();
        evidence.runtime_data_json = request.runtime_data_json;
        evidence.nonce = request.nonce.clone();
        evidence.client_payload = request.client_payload.clone();
        Ok(evidence)
    }
}

/// Whether the machine under `ctx` is a bare-metal TDX guest: a
/// configfs-tsm whose provider is `tdx_guest`, or (a kernel older than
/// 6.7) only the legacy `/dev/tdx_guest`, which this backend cannot use but
/// names. Says whether the CC event log is there. Makes and removes one
/// report directory; never the network.
fn detect(ctx: &DetectContext) -> Option<serde_json::Value> {
    let root = ctx.path(DEFAULT_TSM_ROOT);
    let ccel = ctx.path(DEFAULT_ACPI_TABLES).join(crate::CCEL_TABLE_FILE);
    let ccel = ccel.exists().then(|| ccel.display().to_string());
    if let Ok(Some(provider)) = Tsm::new(Some(root.clone())).probe() {
        if provider == PROVIDER_TDX_GUEST {
            return Some(json!({
                "configfs_tsm": root.display().to_string(),
                "provider": PROVIDER_TDX_GUEST,
                "ccel": ccel,
            }));
        }
    }
    let device = ctx.path(DEFAULT_DEV_ROOT).join(TDX_GUEST_DEVICE);
    if device.exists() {
        return Some(json!({
            "device": device.display().to_string(),
            "configfs_tsm": null,
            "ccel": ccel,
            "note": "Linux >= 6.7 with configfs-tsm is needed",
        }));
    }
    None
}

fn provider(config: &ProviderConfig) -> Result<Arc<dyn EvidenceProvider>> {
    Ok(Arc::new(TdxGuestProvider::new(
        TdxGuestConfig::from_provider_config(config),
    )))
}

/// The bare-metal TDX guest backend, for the facade's registry.
pub const BACKEND: TeeBackend = TeeBackend {
    id: TDX,
    description: "bare-metal Intel TDX guest (Linux configfs-tsm, CCEL event log; no vTPM)",
    evidence_type: TDX_VM,
    detect,
    provider,
};
