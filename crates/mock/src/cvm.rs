//! A whole mock Azure confidential VM: a provisioned vTPM (swtpm) with a
//! measured boot, the mock HCL in front of it, and a mock IMDS — on
//! SEV-SNP ([`MockAzureCvm::start`]): mock AMD roots, a VCEK for its
//! "chip", THIM serving the VCEK chain; on TDX
//! ([`MockAzureCvm::start_tdx`]): the stored mock Intel platform, whose
//! TDX module makes the HCL's TDREPORTs and whose quoting enclave IMDS's
//! `/acc/tdquote` asks.

use std::sync::Arc;

use aws_lc_rs::digest;
use x509_cert::der::pem::{encode_string, LineEnding};

use tee_attest_tpm::eventlog::{EventLogBuilder, EV_SEPARATOR};
use tee_attest_tpm::RsaPublic;

use crate::amd::{MockAmdRoots, MockTcb};
use crate::hcl::MockHcl;
use crate::imds::MockImds;
use crate::intel::{MockIntelPlatform, MockTd};
use crate::{HclProxy, MockError, MockVtpm};

/// The hardware under a mock Azure CVM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum MockIsolation {
    /// AMD SEV-SNP (HCL report type 2, THIM).
    SevSnp,
    /// Intel TDX (HCL report type 4, IMDS TD quotes).
    Tdx,
}

/// The roots and keys a mock CVM's evidence chains to.
#[derive(Debug)]
enum Roots {
    Snp {
        ark_der: Vec<u8>,
        ask_der: Vec<u8>,
        vcek_der: Vec<u8>,
    },
    Tdx {
        intel_root_der: Vec<u8>,
        td: Box<MockTd>,
    },
}

/// A running mock Azure CVM (SEV-SNP or TDX). Everything stops when it is
/// dropped.
#[derive(Debug)]
pub struct MockAzureCvm {
    // Field order is drop order: the proxy before the simulator behind it.
    proxy: HclProxy,
    imds: MockImds,
    vtpm: MockVtpm,
    log_dir: tempfile::TempDir,
    roots: Roots,
}

fn pem(der: &[u8]) -> Result<String, MockError> {
    encode_string("CERTIFICATE", LineEnding::LF, der).map_err(|e| MockError::Crypto {
        what: "PEM",
        reason: e.to_string(),
    })
}

/// A booted vTPM: provisioned, its PCRs 0–7 measured.
struct Booted {
    vtpm: MockVtpm,
    log_dir: tempfile::TempDir,
    /// Derived from the AK, so each mock CVM is its own machine: the SNP
    /// chip id.
    machine_id: [u8; 64],
    /// The VM's unique id (a GUID), from the same bytes.
    vm_id: String,
}

fn boot() -> Result<Booted, MockError> {
    let vtpm = MockVtpm::start()?;
    let log_dir = measured_boot(&vtpm)?;
    let machine_id = machine_id(vtpm.ak());
    let vm_id = format!(
        "{:08X}-0000-4000-8000-{:012X}",
        u32::from_be_bytes([machine_id[0], machine_id[1], machine_id[2], machine_id[3]]),
        u64::from_be_bytes([
            0,
            0,
            machine_id[4],
            machine_id[5],
            machine_id[6],
            machine_id[7],
            machine_id[8],
            machine_id[9]
        ])
    );
    Ok(Booted {
        vtpm,
        log_dir,
        machine_id,
        vm_id,
    })
}

fn machine_id(ak: &RsaPublic) -> [u8; 64] {
    let mut id = [0u8; 64];
    id.copy_from_slice(digest::digest(&digest::SHA512, &ak.n).as_ref());
    id
}

impl MockAzureCvm {
    /// Start a mock Azure SEV-SNP CVM with the repository's stored mock
    /// Milan roots.
    pub fn start() -> Result<Self, MockError> {
        Self::start_with(&MockAmdRoots::stored_milan()?)
    }

    /// Start a mock Azure SEV-SNP CVM whose VCEK is issued by `roots`.
    pub fn start_with(roots: &MockAmdRoots) -> Result<Self, MockError> {
        let b = boot()?;
        let vcek = roots.issue_vcek(b.machine_id, MockTcb::default())?;
        let vcek_der = vcek.der().to_vec();
        let hcl = MockHcl::new(vcek, b.vtpm.ak().clone(), &b.vm_id);
        let proxy = HclProxy::start(b.vtpm.swtpm().port(), hcl)?;
        let imds = MockImds::start(serde_json::json!({
            "vcekCert": pem(&vcek_der)?,
            "certificateChain": format!("{}{}", pem(roots.ask_der())?, pem(roots.ark_der())?),
            "tcbm": format!("{:016X}", MockTcb::default().to_u64()),
        }))?;
        Ok(Self {
            proxy,
            imds,
            vtpm: b.vtpm,
            log_dir: b.log_dir,
            roots: Roots::Snp {
                ark_der: roots.ark_der().to_vec(),
                ask_der: roots.ask_der().to_vec(),
                vcek_der,
            },
        })
    }

    /// Start a mock Azure TDX CVM on the stored mock Intel platform
    /// ([`MockIntelPlatform::stored`]), its TD [`MockIntelPlatform::td`].
    pub fn start_tdx() -> Result<Self, MockError> {
        let platform = MockIntelPlatform::stored()?;
        let td = platform.td();
        Self::start_tdx_with(platform, td)
    }

    /// Start a mock Azure TDX CVM whose HCL reports TDREPORTs of `td`
    /// (its report data replaced by the binding of the variable data) made
    /// on `platform`, and whose IMDS quotes them with `platform`'s quoting
    /// enclave.
    pub fn start_tdx_with(platform: Arc<MockIntelPlatform>, td: MockTd) -> Result<Self, MockError> {
        let b = boot()?;
        let hcl = MockHcl::tdx(platform.clone(), td.clone(), b.vtpm.ak().clone(), &b.vm_id);
        let proxy = HclProxy::start(b.vtpm.swtpm().port(), hcl)?;
        let intel_root_der = platform.root_der().to_vec();
        let imds = MockImds::start_tdquote(platform)?;
        Ok(Self {
            proxy,
            imds,
            vtpm: b.vtpm,
            log_dir: b.log_dir,
            roots: Roots::Tdx {
                intel_root_der,
                td: Box::new(td),
            },
        })
    }

    /// Its hardware: SEV-SNP or TDX.
    pub fn isolation(&self) -> MockIsolation {
        match self.roots {
            Roots::Snp { .. } => MockIsolation::SevSnp,
            Roots::Tdx { .. } => MockIsolation::Tdx,
        }
    }

    /// The TCTI of the vTPM as the guest sees it (through the mock HCL).
    pub fn tcti(&self) -> String {
        self.proxy.tcti()
    }

    /// The IMDS base URL (`http://127.0.0.1:PORT`): THIM on SEV-SNP,
    /// `/acc/tdquote` on TDX.
    pub fn imds_url(&self) -> String {
        self.imds.base_url()
    }

    /// The mock IMDS.
    pub fn imds(&self) -> &MockImds {
        &self.imds
    }

    /// The lock file that serializes the processes sharing this CVM's
    /// vTPM (next to its event log; `tee-attest mock up` exports it as
    /// `TEE_ATTEST_VTPM_LOCK`). Created on first use by whoever locks it.
    pub fn vtpm_lock_path(&self) -> std::path::PathBuf {
        self.log_dir.path().join(VTPM_LOCK_FILE)
    }

    /// The TCG event log of the mock firmware's measured boot, whose
    /// events are extended into the vTPM's PCRs 0–7 (secure boot on).
    pub fn event_log_path(&self) -> std::path::PathBuf {
        self.log_dir.path().join(EVENT_LOG_FILE)
    }

    /// The root its evidence chains to (DER): the mock ARK on SEV-SNP, the
    /// mock Intel root on TDX — what a verifier must be told to trust.
    pub fn root_der(&self) -> &[u8] {
        match &self.roots {
            Roots::Snp { ark_der, .. } => ark_der,
            Roots::Tdx { intel_root_der, .. } => intel_root_der,
        }
    }

    /// The mock ARK (DER) of a SEV-SNP CVM (empty on TDX).
    pub fn ark_der(&self) -> &[u8] {
        match &self.roots {
            Roots::Snp { ark_der, .. } => ark_der,
            Roots::Tdx { .. } => &[],
        }
    }

    /// The mock ASK (DER) of a SEV-SNP CVM (empty on TDX).
    pub fn ask_der(&self) -> &[u8] {
        match &self.roots {
            Roots::Snp { ask_der, .. } => ask_der,
            Roots::Tdx { .. } => &[],
        }
    }

    /// The mock VCEK (DER) of a SEV-SNP CVM (empty on TDX).
    pub fn vcek_der(&self) -> &[u8] {
        match &self.roots {
            Roots::Snp { vcek_der, .. } => vcek_der,
            Roots::Tdx { .. } => &[],
        }
    }

    /// The mock TD of a TDX CVM (its report data zero: each TDREPORT binds
    /// the variable data); `None` on SEV-SNP.
    pub fn td(&self) -> Option<&MockTd> {
        match &self.roots {
            Roots::Snp { .. } => None,
            Roots::Tdx { td, .. } => Some(td),
        }
    }

    /// The provisioned vTPM underneath (direct, bypassing the HCL).
    pub fn vtpm(&self) -> &MockVtpm {
        &self.vtpm
    }
}

const EVENT_LOG_FILE: &str = "binary_bios_measurements";
const VTPM_LOCK_FILE: &str = "vtpm.lock";

/// Play a firmware's measured boot: log events for PCRs 0–7 (with the
/// `SecureBoot` variable measured as 1) and extend the same digests into
/// the vTPM. Returns the directory holding the log.
fn measured_boot(vtpm: &MockVtpm) -> Result<tempfile::TempDir, MockError> {
    let mut tpm = vtpm.open()?;
    let mut log = EventLogBuilder::new();
    let mut extend = |pcr: u32, digest: [u8; 32]| tpm.pcr_extend_sha256(pcr, digest);
    for pcr in 0..7 {
        extend(
            pcr,
            log.event(
                pcr,
                0x8000_0008,
                format!("mock firmware component {pcr}").as_bytes(),
            ),
        )?;
    }
    extend(7, log.secure_boot(true))?;
    for pcr in 0..8 {
        extend(pcr, log.event(pcr, EV_SEPARATOR, &[0, 0, 0, 0]))?;
    }
    let dir = tempfile::tempdir().map_err(|source| MockError::Spawn {
        hint: "creating the event log directory",
        source,
    })?;
    let path = dir.path().join(EVENT_LOG_FILE);
    std::fs::write(&path, log.build()).map_err(MockError::io("writing", &path))?;
    Ok(dir)
}
