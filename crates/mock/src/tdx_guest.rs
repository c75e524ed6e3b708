//! A mock bare-metal TDX guest: a FUSE configfs-tsm report root
//! ([`TsmEmulator`], provider `tdx_guest`) that behaves as the kernel does
//! — `mkdir` makes the attribute files the TDX driver shows (`inblob`,
//! `outblob`, `provider`, `generation`), a write to `inblob` bumps
//! `generation`, and reading `outblob` returns a fresh TD quote (v4, or v5
//! when asked) of the mock TD with report data = `inblob`, signed by the
//! stored mock Intel platform's attestation key and carrying its PCK chain
//! — plus the TD firmware's CC event log under an ACPI tables directory
//! (`CCEL`, `data/CCEL`) whose replay is the TD's RTMR0–3. So the provider
//! that runs against it is the code that runs on a real TD.
//!
//! Its quotes chain to the mock Intel root of
//! [`MockIntelPlatform::stored`], which no verifier trusts unless told to.
//! Mounting needs `/dev/fuse` and root or `fusermount3`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use tee_attest_core::Result;
use tee_attest_tsm::emulator::{Backend, ReportInput, TsmEmulator};
use tee_attest_tsm::{DEFAULT_TSM_ROOT, PROVIDER_TDX_GUEST};

use crate::intel::{MockCcEventLog, MockIntelPlatform, MockTd, TdQuoteKind};
use crate::MockError;

/// Where Linux shows the ACPI tables (the CCEL table and its log area).
const ACPI_TABLES: &str = "/sys/firmware/acpi/tables";

/// A mounted mock TDX guest's configfs-tsm, with its CC event log;
/// unmounted on drop (the CCEL files stay where they were written).
#[derive(Debug)]
pub struct MockTdxGuest {
    // Dropped first: unmounted before anything else goes.
    emulator: TsmEmulator,
    acpi_tables: PathBuf,
    td: MockTd,
    kind: TdQuoteKind,
    log: MockCcEventLog,
    root_der: Vec<u8>,
    quotes: Arc<AtomicU64>,
}

impl MockTdxGuest {
    /// Mounts the mock guest's configfs-tsm report root on the existing
    /// directory `report_dir` and writes its CC event log under the ACPI
    /// tables directory `acpi_tables` (made if missing). Quotes are v4.
    /// Code 1 when FUSE cannot be mounted or the files cannot be written.
    pub fn mount(report_dir: &Path, acpi_tables: &Path) -> Result<MockTdxGuest> {
        Self::mount_with(report_dir, acpi_tables, TdQuoteKind::V4)
    }

    /// [`MockTdxGuest::mount`], quoting as `kind` (v4, or v5 with a TD 1.0
    /// or TD 1.5 body).
    pub fn mount_with(
        report_dir: &Path,
        acpi_tables: &Path,
        kind: TdQuoteKind,
    ) -> Result<MockTdxGuest> {
        let platform = MockIntelPlatform::stored()?;
        let log = MockCcEventLog::firmware();
        log.write_acpi(acpi_tables)?;
        // The TD the firmware booted: its RTMRs are the log's replay.
        let mut td = platform.td();
        td.rtmr = log.rtmrs();
        let quotes = Arc::new(AtomicU64::new(0));
        let root_der = platform.root_der().to_vec();
        let backend = quote_backend(platform, td.clone(), kind, quotes.clone());
        let emulator = TsmEmulator::mount(report_dir, PROVIDER_TDX_GUEST, backend)?;
        Ok(MockTdxGuest {
            emulator,
            acpi_tables: acpi_tables.to_path_buf(),
            td,
            kind,
            log,
            root_der,
            quotes,
        })
    }

    /// Makes `<root>/sys/kernel/config/tsm/report` and mounts the mock
    /// there, with its CC event log under `<root>/sys/firmware/acpi/tables`:
    /// a fake machine root for detection (`DetectContext::new(root, …)`)
    /// whose configfs-tsm and CCEL are this mock's.
    pub fn mount_in_tree(root: &Path) -> Result<MockTdxGuest> {
        let dir = root.join(DEFAULT_TSM_ROOT.trim_start_matches('/'));
        fs::create_dir_all(&dir).map_err(MockError::io("making", &dir))?;
        Self::mount(&dir, &root.join(ACPI_TABLES.trim_start_matches('/')))
    }

    /// The mounted directory: the configfs-tsm report root to give the
    /// provider (`tsm_root`, `$TEE_ATTEST_TSM_ROOT`).
    pub fn root(&self) -> &Path {
        self.emulator.path()
    }

    /// The ACPI tables directory holding `CCEL` and `data/CCEL` (the
    /// provider's `ccel_root`, `$TEE_ATTEST_CCEL_ROOT`).
    pub fn ccel_root(&self) -> &Path {
        &self.acpi_tables
    }

    /// The mock TD its quotes describe (report data zero here: each quote
    /// carries its `inblob`).
    pub fn td(&self) -> &MockTd {
        &self.td
    }

    /// The quotes' version and body.
    pub fn quote_kind(&self) -> TdQuoteKind {
        self.kind
    }

    /// The CC event log as written (its replay is [`Self::td`]'s RTMRs).
    pub fn event_log(&self) -> &MockCcEventLog {
        &self.log
    }

    /// The mock Intel root (DER): what a verifier must be told to trust.
    pub fn root_der(&self) -> &[u8] {
        &self.root_der
    }

    /// How many quotes it has made (one per `inblob` generation read).
    pub fn quotes_made(&self) -> u64 {
        self.quotes.load(Ordering::Relaxed)
    }
}

/// The emulator's backend: for each input, a `kind` quote of `td` with
/// report data = `inblob`, freshly signed by `platform`; no auxblob (the
/// TDX driver has none).
fn quote_backend(
    platform: Arc<MockIntelPlatform>,
    td: MockTd,
    kind: TdQuoteKind,
    quotes: Arc<AtomicU64>,
) -> Backend {
    Arc::new(move |input: &ReportInput| {
        let quote = platform.tdx_quote(
            &MockTd {
                report_data: input.inblob,
                ..td.clone()
            },
            kind,
        )?;
        quotes.fetch_add(1, Ordering::Relaxed);
        Ok((quote, None))
    })
}
