//! `swtpm` provisioned as an Azure confidential VM's vTPM.

use tee_attest_tpm::handles::{
    AK_PERSISTENT_HANDLE, HCL_REPORT_NV_INDEX, HCL_USER_DATA_NV_INDEX, HCL_USER_DATA_SIZE,
};
use tee_attest_tpm::{RsaPublic, Tpm};

use crate::{MockError, Swtpm};

/// Size of the mock HCL report NV index. libtpms caps an NV index at 2048
/// bytes (`TPM2_PT_NV_INDEX_MAX`), as the real Azure SNP report blob is.
pub const MOCK_HCL_REPORT_NV_SIZE: usize = 2048;

/// A simulator provisioned as an Azure vTPM: AK at `0x81000003`, HCL report
/// NV index `0x01400001` and user-data NV index `0x01400002`.
#[derive(Debug)]
pub struct MockVtpm {
    swtpm: Swtpm,
    ak: RsaPublic,
}

impl MockVtpm {
    /// Start and provision a fresh mock vTPM.
    pub fn start() -> Result<Self, MockError> {
        let swtpm = Swtpm::start()?;
        let ak = provision(&swtpm.tcti())?;
        Ok(Self { swtpm, ak })
    }

    /// The TCTI configuration that reaches it.
    pub fn tcti(&self) -> String {
        self.swtpm.tcti()
    }

    /// Open a TPM context on it.
    pub fn open(&self) -> Result<Tpm, MockError> {
        Ok(Tpm::open_tcti(&self.tcti())?)
    }

    /// The AK's public key.
    pub fn ak(&self) -> &RsaPublic {
        &self.ak
    }

    /// The simulator underneath.
    pub fn swtpm(&self) -> &Swtpm {
        &self.swtpm
    }

    /// The simulator underneath, mutably (to kill it in tests).
    pub fn swtpm_mut(&mut self) -> &mut Swtpm {
        &mut self.swtpm
    }
}

/// Provision the TPM at `tcti` as an Azure vTPM; returns the AK.
pub fn provision(tcti: &str) -> Result<RsaPublic, MockError> {
    let mut tpm = Tpm::open_tcti(tcti)?;
    let ak = tpm.create_persistent_ak(AK_PERSISTENT_HANDLE)?;
    tpm.nv_define(HCL_REPORT_NV_INDEX, MOCK_HCL_REPORT_NV_SIZE)?;
    tpm.nv_define(HCL_USER_DATA_NV_INDEX, HCL_USER_DATA_SIZE)?;
    Ok(ak)
}
