//! A mock bare-metal SEV-SNP guest: a FUSE configfs-tsm report root
//! ([`TsmEmulator`], provider `sev_guest`) that behaves as the kernel does
//! — `mkdir` makes the attribute files, writes to `inblob` and `privlevel`
//! bump `generation`, reading `outblob` returns a fresh SEV-SNP report
//! signed by a mock VCEK with report data = `inblob` and VMPL =
//! `privlevel`, and `auxblob` is the certificate table (VCEK, ASK, ARK,
//! with their GUIDs). So the provider that runs against it is the code
//! that runs on a real guest.
//!
//! Its chain ends in the stored mock Milan ARK
//! ([`MockAmdRoots::stored_milan`]), which no verifier trusts unless told
//! to. Mounting needs `/dev/fuse` and root or `fusermount3`.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use tee_attest_core::{Error, ErrorCode, Result};
use tee_attest_tsm::emulator::{Backend, ReportInput, TsmEmulator};
use tee_attest_tsm::{build_cert_table, Guid, DEFAULT_TSM_ROOT, PROVIDER_SEV_GUEST};

use crate::amd::{MockAmdRoots, MockSnpReport, MockTcb, MockVcek};
use crate::MockError;

/// A mounted mock SEV-SNP guest's configfs-tsm; unmounted on drop.
#[derive(Debug)]
pub struct MockSnpGuest {
    // Dropped first: unmounted before anything else goes.
    emulator: TsmEmulator,
    ark_der: Vec<u8>,
    ask_der: Vec<u8>,
    vcek_der: Vec<u8>,
    chip_id: [u8; 64],
    reports: Arc<AtomicU64>,
}

impl MockSnpGuest {
    /// Mounts the mock guest's configfs-tsm report root on the existing
    /// directory `dir`, with a new mock chip (random chip id) whose VCEK
    /// the stored mock Milan roots issue. Code 1 when FUSE cannot be
    /// mounted or the mock keys cannot be made.
    pub fn mount(dir: &Path) -> Result<MockSnpGuest> {
        let roots = MockAmdRoots::stored_milan()?;
        // A new chip and a new guest: random chip id and report id.
        let mut chip_id = [0u8; 64];
        let mut report_id = [0u8; 32];
        let rng = SystemRandom::new();
        for buf in [&mut chip_id[..], &mut report_id[..]] {
            rng.fill(buf).map_err(|_| MockError::Crypto {
                what: "chip and report ids",
                reason: "no randomness".into(),
            })?;
        }
        let vcek = roots.issue_vcek(chip_id, MockTcb::default())?;
        let table = build_cert_table(&[
            (Guid::VCEK, vcek.der()),
            (Guid::ASK, roots.ask_der()),
            (Guid::ARK, roots.ark_der()),
        ]);
        let (ark_der, ask_der, vcek_der) = (
            roots.ark_der().to_vec(),
            roots.ask_der().to_vec(),
            vcek.der().to_vec(),
        );
        let reports = Arc::new(AtomicU64::new(0));
        let template = MockSnpReport {
            report_id,
            ..MockSnpReport::default()
        };
        let backend = report_backend(Arc::new(vcek), template, table, reports.clone());
        let emulator = TsmEmulator::mount(dir, PROVIDER_SEV_GUEST, backend)?;
        Ok(MockSnpGuest {
            emulator,
            ark_der,
            ask_der,
            vcek_der,
            chip_id,
            reports,
        })
    }

    /// Makes `<root>/sys/kernel/config/tsm/report` and mounts the mock
    /// there: a fake machine root for detection (`DetectContext::new(root,
    /// …)`) whose configfs-tsm is this mock.
    pub fn mount_in_tree(root: &Path) -> Result<MockSnpGuest> {
        let dir = tree_path(root);
        fs::create_dir_all(&dir).map_err(|e| {
            Error::with_source(
                ErrorCode::InitializationFailed,
                format!("making the mock configfs-tsm mount point {}", dir.display()),
                e,
            )
        })?;
        Self::mount(&dir)
    }

    /// The mounted directory: the configfs-tsm report root to give the
    /// provider (`tsm_root`, `$TEE_ATTEST_TSM_ROOT`).
    pub fn root(&self) -> &Path {
        self.emulator.path()
    }

    /// The mock ARK (DER): what a verifier must be told to trust.
    pub fn ark_der(&self) -> &[u8] {
        &self.ark_der
    }

    /// The mock ASK (DER).
    pub fn ask_der(&self) -> &[u8] {
        &self.ask_der
    }

    /// The mock chip's VCEK (DER).
    pub fn vcek_der(&self) -> &[u8] {
        &self.vcek_der
    }

    /// The mock chip's id (the VCEK's hwID, the reports' `CHIP_ID`).
    pub fn chip_id(&self) -> [u8; 64] {
        self.chip_id
    }

    /// How many reports it has signed (one per `inblob`/`privlevel`
    /// generation read).
    pub fn reports_signed(&self) -> u64 {
        self.reports.load(Ordering::Relaxed)
    }
}

/// `<root>/sys/kernel/config/tsm/report`.
fn tree_path(root: &Path) -> PathBuf {
    root.join(DEFAULT_TSM_ROOT.trim_start_matches('/'))
}

/// The emulator's backend: for each input, `template` with report data =
/// `inblob` and VMPL = `privlevel`, freshly signed by `vcek`, with the
/// certificate table as auxblob.
fn report_backend(
    vcek: Arc<MockVcek>,
    template: MockSnpReport,
    table: Vec<u8>,
    reports: Arc<AtomicU64>,
) -> Backend {
    Arc::new(move |input: &ReportInput| {
        let report = MockSnpReport {
            report_data: input.inblob,
            vmpl: input.privlevel,
            ..template.clone()
        }
        .sign(&vcek)?;
        reports.fetch_add(1, Ordering::Relaxed);
        Ok((report.to_vec(), Some(table.clone())))
    })
}
