//! TEE backends as values, not matches (the way rustls picks a
//! `CryptoProvider`): each TEE crate exports a [`TeeBackend`] — its id, how
//! to recognise this machine as one, how to make its provider — and the
//! facade lists the backends its cargo features enable. Detection, the
//! provider, the C ABI's choice of TEE and `Decrypt` all read that one list.

use std::path::PathBuf;
use std::sync::Arc;

use crate::{EvidenceProvider, EvidenceType, Result, TeeId};

/// Where a provider finds its platform. Every device, file and base URL is
/// configurable, so that tests point them at a mock or at loopback; `None`
/// means the backend's default (its environment variable, then the real
/// device or endpoint).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProviderConfig {
    /// The vTPM's TCTI (`None`: `$TEE_ATTEST_TCTI`, else `/dev/tpmrm0`).
    pub tcti: Option<String>,
    /// Azure IMDS base URL (`None`: `$TEE_ATTEST_IMDS_URL`, else Azure's).
    pub imds_url: Option<String>,
    /// The TCG event log (`None`: `$TEE_ATTEST_EVENT_LOG`, else the kernel's file).
    pub event_log: Option<PathBuf>,
    /// The configfs-tsm report directory (`None`: `$TEE_ATTEST_TSM_ROOT`,
    /// else `/sys/kernel/config/tsm/report`).
    pub tsm_root: Option<PathBuf>,
    /// The lock file that serializes the processes sharing the vTPM
    /// (`None`: `$TEE_ATTEST_VTPM_LOCK`, else `/run/tee-attest/vtpm.lock`
    /// or the first writable fallback; docs/RELIABILITY.md).
    pub vtpm_lock: Option<PathBuf>,
    /// How long one TPM command, and the wait for the vTPM lock, may take
    /// (`None`: `$TEE_ATTEST_TPM_TIMEOUT`, else 30 s); past it, code 13.
    pub tpm_timeout: Option<std::time::Duration>,
}

/// What detection may look at: devices, sysfs and configfs under `root`
/// (`/` on a real machine, a fake tree in tests), and the TPM at `tcti`.
/// Detection never reaches the network.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DetectContext {
    /// The file-system root to look under.
    pub root: PathBuf,
    /// The TPM to inspect (`None`: `$TEE_ATTEST_TCTI`, then the devices under `root`).
    pub tcti: Option<String>,
}

impl Default for DetectContext {
    fn default() -> Self {
        Self {
            root: PathBuf::from("/"),
            tcti: None,
        }
    }
}

impl DetectContext {
    /// Looking under `root`, at the TPM `tcti`.
    pub fn new(root: impl Into<PathBuf>, tcti: Option<String>) -> Self {
        Self {
            root: root.into(),
            tcti,
        }
    }

    /// `path` (absolute, as on a real machine) under this context's root.
    pub fn path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }
}

/// A TEE backend: a value a TEE crate exports and the facade lists.
#[derive(Clone, Copy)]
pub struct TeeBackend {
    /// Its registry id (`--tee ID`).
    pub id: TeeId,
    /// One line for listings and `detect`.
    pub description: &'static str,
    /// The evidence its provider gathers (what a verifier must appraise).
    pub evidence_type: EvidenceType,
    /// Whether this machine is this TEE: `Some(details)` (JSON for
    /// `detect`) when it is. Only local devices, files and the TPM; never
    /// the network. A backend that is never detected (the mock) returns
    /// `None`.
    pub detect: fn(&DetectContext) -> Option<serde_json::Value>,
    /// Its evidence provider, configured.
    pub provider: fn(&ProviderConfig) -> Result<Arc<dyn EvidenceProvider>>,
}

impl std::fmt::Debug for TeeBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TeeBackend")
            .field("id", &self.id)
            .field("evidence_type", &self.evidence_type)
            .finish_non_exhaustive()
    }
}
