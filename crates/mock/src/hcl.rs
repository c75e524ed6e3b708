//! The mock HCL: builds byte-exact HCL reports (an SNP report signed by the
//! mock VCEK whose report data binds the variable data: the vTPM's AK as
//! `HCLAkPub`, the VM configuration, the user data), as the Azure paravisor
//! does when the guest writes user data to NV `0x01400002`.

use aws_lc_rs::digest;
use tee_attest_azure::{HashType, HclReport, Jwk, ReportType, VarData};
use tee_attest_tpm::RsaPublic;

use crate::amd::{MockSnpReport, MockVcek};
use crate::{MockError, MOCK_HCL_REPORT_NV_SIZE};

/// What the mock HCL puts in every report.
#[derive(Debug)]
pub struct MockHcl {
    vcek: MockVcek,
    ak: RsaPublic,
    vm_configuration: serde_json::Value,
    template: MockSnpReport,
}

impl MockHcl {
    /// A mock HCL for the vTPM whose AK is `ak`, signing with `vcek`.
    pub fn new(vcek: MockVcek, ak: RsaPublic, vm_unique_id: &str) -> Self {
        Self {
            vcek,
            ak,
            vm_configuration: serde_json::json!({
                "console-enabled": true,
                "secure-boot": true,
                "tpm-enabled": true,
                "vmUniqueId": vm_unique_id,
            }),
            template: MockSnpReport {
                // The HCL runs at VMPL 0; Azure's family and image ids.
                family_id: *b"\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
                image_id: *b"\x02\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
                ..MockSnpReport::default()
            },
        }
    }

    /// The VCEK that signs the reports.
    pub fn vcek(&self) -> &MockVcek {
        &self.vcek
    }

    /// The HCL report for `user_data`, as the NV index holds it (padded
    /// with zeros to the index size).
    pub fn report(&self, user_data: &[u8]) -> Result<Vec<u8>, MockError> {
        let ak = Jwk::rsa("HCLAkPub", &["sign"], &self.ak.n, &self.ak.e);
        let var_data = VarData::encode(&[ak], Some(&self.vm_configuration), Some(user_data));
        let hash = digest::digest(&digest::SHA256, &var_data);
        let mut report = self.template.clone();
        report.report_data = [0; 64];
        report.report_data[..32].copy_from_slice(hash.as_ref());
        let snp = report.sign(&self.vcek)?;
        let hcl =
            HclReport::new(ReportType::Snp, HashType::Sha256, &snp, var_data).map_err(|e| {
                MockError::Crypto {
                    what: "HCL report",
                    reason: e.to_string(),
                }
            })?;
        let bytes = hcl.to_nv_bytes(MOCK_HCL_REPORT_NV_SIZE);
        if bytes.len() > MOCK_HCL_REPORT_NV_SIZE {
            return Err(MockError::Crypto {
                what: "HCL report",
                reason: format!(
                    "{} bytes exceed the {MOCK_HCL_REPORT_NV_SIZE}-byte NV index",
                    bytes.len()
                ),
            });
        }
        Ok(bytes)
    }
}
