//! The mock HCL: builds byte-exact HCL reports, as the Azure paravisor does
//! when the guest writes user data to NV `0x01400002`. The variable data
//! (the vTPM's AK as `HCLAkPub`, the VM configuration, the user data) is
//! bound by the hardware report's report data, `report_data[0..32]` =
//! SHA-256(variable data), zeros after:
//!
//! - SEV-SNP ([`MockHcl::new`]): an SNP report signed by the mock VCEK
//!   (report type 2, header version 1);
//! - TDX ([`MockHcl::tdx`]): the TDREPORT the mock Intel platform's TDX
//!   module makes for the mock TD (report type 4, header version 2, as
//!   Azure's TDX paravisor writes them), which IMDS's mock quoting service
//!   turns into a quote.

use std::sync::Arc;

use aws_lc_rs::digest;
use tee_attest_azure::{HashType, HclReport, Jwk, ReportType, VarData};
use tee_attest_tpm::RsaPublic;

use crate::amd::{MockSnpReport, MockVcek};
use crate::intel::{MockIntelPlatform, MockTd};
use crate::{MockError, MOCK_HCL_REPORT_NV_SIZE};

/// The HCL header version Azure's TDX paravisor writes.
const TDX_HCL_HEADER_VERSION: u32 = 2;

/// What makes the hardware report.
#[derive(Debug)]
enum Hardware {
    /// An SNP report of `template`, signed by `vcek`.
    Snp {
        vcek: MockVcek,
        template: Box<MockSnpReport>,
    },
    /// A TDREPORT of `td` on `platform`.
    Tdx {
        platform: Arc<MockIntelPlatform>,
        td: Box<MockTd>,
    },
}

/// What the mock HCL puts in every report.
#[derive(Debug)]
pub struct MockHcl {
    hardware: Hardware,
    ak: RsaPublic,
    vm_configuration: serde_json::Value,
}

/// The VM configuration the HCL reports (Azure's names).
fn vm_configuration(vm_unique_id: &str) -> serde_json::Value {
    serde_json::json!({
        "console-enabled": true,
        "secure-boot": true,
        "tpm-enabled": true,
        "vmUniqueId": vm_unique_id,
    })
}

impl MockHcl {
    /// A mock SEV-SNP HCL for the vTPM whose AK is `ak`, signing with `vcek`.
    pub fn new(vcek: MockVcek, ak: RsaPublic, vm_unique_id: &str) -> Self {
        Self {
            hardware: Hardware::Snp {
                vcek,
                template: Box::new(MockSnpReport {
                    // The HCL runs at VMPL 0; Azure's family and image ids.
                    family_id: *b"\x01\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
                    image_id: *b"\x02\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0",
                    ..MockSnpReport::default()
                }),
            },
            ak,
            vm_configuration: vm_configuration(vm_unique_id),
        }
    }

    /// A mock TDX HCL for the vTPM whose AK is `ak`: TDREPORTs of `td`
    /// (its report data replaced by the binding of the variable data) made
    /// by `platform`'s TDX module, which only `platform`'s quoting enclave
    /// accepts.
    pub fn tdx(
        platform: Arc<MockIntelPlatform>,
        td: MockTd,
        ak: RsaPublic,
        vm_unique_id: &str,
    ) -> Self {
        Self {
            hardware: Hardware::Tdx {
                platform,
                td: Box::new(td),
            },
            ak,
            vm_configuration: vm_configuration(vm_unique_id),
        }
    }

    /// The VCEK that signs the reports (SEV-SNP; `None` on TDX).
    pub fn vcek(&self) -> Option<&MockVcek> {
        match &self.hardware {
            Hardware::Snp { vcek, .. } => Some(vcek),
            Hardware::Tdx { .. } => None,
        }
    }

    /// The report type it writes (SEV-SNP or TDX).
    pub fn report_type(&self) -> ReportType {
        match self.hardware {
            Hardware::Snp { .. } => ReportType::Snp,
            Hardware::Tdx { .. } => ReportType::Tdx,
        }
    }

    /// The HCL report for `user_data`, as the NV index holds it (padded
    /// with zeros to the index size).
    pub fn report(&self, user_data: &[u8]) -> Result<Vec<u8>, MockError> {
        let ak = Jwk::rsa("HCLAkPub", &["sign"], &self.ak.n, &self.ak.e);
        let var_data = VarData::encode(&[ak], Some(&self.vm_configuration), Some(user_data));
        let hash = digest::digest(&digest::SHA256, &var_data);
        let mut report_data = [0u8; 64];
        report_data[..32].copy_from_slice(hash.as_ref());
        let hcl_error = |e: tee_attest_azure::AzureError| MockError::Crypto {
            what: "HCL report",
            reason: e.to_string(),
        };
        let hcl = match &self.hardware {
            Hardware::Snp { vcek, template } => {
                let snp = MockSnpReport {
                    report_data,
                    ..(**template).clone()
                }
                .sign(vcek)?;
                HclReport::new(ReportType::Snp, HashType::Sha256, &snp, var_data)
                    .map_err(hcl_error)?
            }
            Hardware::Tdx { platform, td } => {
                let tdreport = platform.tdreport(&MockTd {
                    report_data,
                    ..(**td).clone()
                });
                let mut hcl =
                    HclReport::new(ReportType::Tdx, HashType::Sha256, &tdreport, var_data)
                        .map_err(hcl_error)?;
                hcl.header.version = TDX_HCL_HEADER_VERSION;
                hcl
            }
        };
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
