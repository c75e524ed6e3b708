//! The conformance suite (`tee_attest_testkit::conformance`) on the Azure
//! SEV-SNP backend: the real `AzureSnpProvider` against a mock Azure CVM
//! (swtpm behind the mock HCL, mock THIM, the mock firmware's event log),
//! appraised by `AzureSnpAppraiser`. One evidence is gathered; the suite
//! appraises mutated copies of it (by a warm and by a cold appraiser),
//! then stops the CVM.

use std::sync::Arc;

use tee_attest_azure::provider::{AzureSnpConfig, AzureSnpProvider};
use tee_attest_azure::AzureSnpAppraiser;
use tee_attest_core::Appraiser;
use tee_attest_mock::MockAzureCvm;
use tee_attest_testkit::conformance::{self, regions, Subject};

fn appraiser(extra_roots: &[Vec<u8>]) -> Arc<dyn Appraiser> {
    Arc::new(AzureSnpAppraiser::with_extra_roots(extra_roots).expect("an Azure SNP appraiser"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_snp_provider_and_appraiser_conform() {
    let cvm = MockAzureCvm::start().expect("the mock Azure CVM needs swtpm (cargo xtask deps)");
    let mut cfg = AzureSnpConfig::default();
    cfg.tcti = Some(cvm.tcti());
    cfg.imds_url = cvm.imds_url();
    cfg.event_log = cvm.event_log_path();
    let provider = AzureSnpProvider::new(cfg).expect("the Azure SNP provider");
    let mock_ark = vec![cvm.ark_der().to_vec()];
    let subject = Subject::new(
        "azure-snp (AzureSnpProvider on MockAzureCvm, AzureSnpAppraiser)",
        Arc::new(provider),
        appraiser(&mock_ark),
        appraiser(&[]),
        |t, n, p| Ok(tee_attest_maa::challenge(t, n, p)?),
        regions::azure_guest_snp(),
    )
    .with_fresh_appraisers(move || appraiser(&mock_ark));
    let report = conformance::run(subject, Some(Box::new(move || drop(cvm)))).await;
    report.assert_passed();
}
