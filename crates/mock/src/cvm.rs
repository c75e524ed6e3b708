//! A whole mock Azure SEV-SNP confidential VM: a provisioned vTPM (swtpm),
//! the mock HCL in front of it, mock AMD roots and a VCEK for its "chip",
//! and a mock IMDS THIM endpoint that serves the VCEK chain.

use aws_lc_rs::digest;
use x509_cert::der::pem::{encode_string, LineEnding};

use tee_attest_tpm::eventlog::{EventLogBuilder, EV_SEPARATOR};

use crate::amd::{MockAmdRoots, MockTcb};
use crate::hcl::MockHcl;
use crate::thim::MockThim;
use crate::{HclProxy, MockError, MockVtpm};

/// A running mock Azure SEV-SNP CVM. Everything stops when it is dropped.
#[derive(Debug)]
pub struct MockAzureCvm {
    // Field order is drop order: the proxy before the simulator behind it.
    proxy: HclProxy,
    thim: MockThim,
    vtpm: MockVtpm,
    log_dir: tempfile::TempDir,
    ark_der: Vec<u8>,
    ask_der: Vec<u8>,
    vcek_der: Vec<u8>,
}

fn pem(der: &[u8]) -> Result<String, MockError> {
    encode_string("CERTIFICATE", LineEnding::LF, der).map_err(|e| MockError::Crypto {
        what: "PEM",
        reason: e.to_string(),
    })
}

impl MockAzureCvm {
    /// Start one with the repository's stored mock Milan roots.
    pub fn start() -> Result<Self, MockError> {
        Self::start_with(&MockAmdRoots::stored_milan()?)
    }

    /// Start one whose VCEK is issued by `roots`.
    pub fn start_with(roots: &MockAmdRoots) -> Result<Self, MockError> {
        let vtpm = MockVtpm::start()?;
        let log_dir = measured_boot(&vtpm)?;
        // The "chip id": derived from the AK, so each mock CVM is its own chip.
        let mut chip_id = [0u8; 64];
        chip_id.copy_from_slice(digest::digest(&digest::SHA512, &vtpm.ak().n).as_ref());
        let vcek = roots.issue_vcek(chip_id, MockTcb::default())?;
        let vcek_der = vcek.der().to_vec();
        let vm_id = format!(
            "{:08X}-0000-4000-8000-{:012X}",
            u32::from_be_bytes([chip_id[0], chip_id[1], chip_id[2], chip_id[3]]),
            u64::from_be_bytes([
                0, 0, chip_id[4], chip_id[5], chip_id[6], chip_id[7], chip_id[8], chip_id[9]
            ])
        );
        let hcl = MockHcl::new(vcek, vtpm.ak().clone(), &vm_id);
        let proxy = HclProxy::start(vtpm.swtpm().port(), hcl)?;
        let thim = MockThim::start(serde_json::json!({
            "vcekCert": pem(&vcek_der)?,
            "certificateChain": format!("{}{}", pem(roots.ask_der())?, pem(roots.ark_der())?),
            "tcbm": format!("{:016X}", MockTcb::default().to_u64()),
        }))?;
        Ok(Self {
            proxy,
            thim,
            vtpm,
            log_dir,
            ark_der: roots.ark_der().to_vec(),
            ask_der: roots.ask_der().to_vec(),
            vcek_der,
        })
    }

    /// The TCTI of the vTPM as the guest sees it (through the mock HCL).
    pub fn tcti(&self) -> String {
        self.proxy.tcti()
    }

    /// The IMDS base URL serving THIM (`http://127.0.0.1:PORT`).
    pub fn imds_url(&self) -> String {
        self.thim.base_url()
    }

    /// The TCG event log of the mock firmware's measured boot, whose
    /// events are extended into the vTPM's PCRs 0–7 (secure boot on).
    pub fn event_log_path(&self) -> std::path::PathBuf {
        self.log_dir.path().join(EVENT_LOG_FILE)
    }

    /// The mock ARK (DER): what a verifier must be told to trust.
    pub fn ark_der(&self) -> &[u8] {
        &self.ark_der
    }

    /// The mock ASK (DER).
    pub fn ask_der(&self) -> &[u8] {
        &self.ask_der
    }

    /// The mock VCEK (DER).
    pub fn vcek_der(&self) -> &[u8] {
        &self.vcek_der
    }

    /// The provisioned vTPM underneath (direct, bypassing the HCL).
    pub fn vtpm(&self) -> &MockVtpm {
        &self.vtpm
    }
}

const EVENT_LOG_FILE: &str = "binary_bios_measurements";

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
    std::fs::write(dir.path().join(EVENT_LOG_FILE), log.build()).map_err(|source| {
        MockError::Spawn {
            hint: "writing the event log",
            source,
        }
    })?;
    Ok(dir)
}
