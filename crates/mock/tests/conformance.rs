//! The conformance suite (`tee_attest_testkit::conformance`) on the mock
//! backend (`--tee mock`): the provider its registry value makes (the real
//! Azure SEV-SNP provider against a mock CVM started in process), appraised
//! by `AzureSnpAppraiser` trusting the mock roots only when told to. One
//! evidence per test; the suite appraises mutated copies of it.

use std::sync::Arc;

use tee_attest_azure::{AzureSnpAppraiser, AZURE_GUEST_SNP};
use tee_attest_core::{Appraiser, EvidenceProvider, ProviderConfig};
use tee_attest_mock::{trust_roots, MockProvider, BACKEND, MOCK};
use tee_attest_testkit::conformance::{self, regions, Conformance, Subject};

fn appraiser(extra_roots: &[Vec<u8>]) -> Arc<dyn Appraiser> {
    Arc::new(AzureSnpAppraiser::with_extra_roots(extra_roots).expect("an Azure SNP appraiser"))
}

fn subject(name: &str, provider: Arc<dyn EvidenceProvider>) -> Subject {
    let mock_ark = vec![trust_roots().expect("the stored mock roots").amd_ark];
    Subject::new(
        name,
        provider,
        appraiser(&mock_ark),
        appraiser(&[]),
        |t, n, p| Ok(tee_attest_maa::challenge(t, n, p)?),
        regions::azure_guest_snp(),
    )
    .with_fresh_appraisers(move || appraiser(&mock_ark))
}

/// The whole suite but `device-gone` on what `--tee mock` runs: the
/// registry value's provider, whose mock CVM it owns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_backend_conforms() {
    assert_eq!(BACKEND.id, MOCK);
    assert_eq!(BACKEND.evidence_type, AZURE_GUEST_SNP);
    let provider = (BACKEND.provider)(&ProviderConfig::default())
        .expect("the mock backend's provider needs swtpm (cargo xtask deps)");
    assert_eq!(provider.tee(), MOCK);
    let report = conformance::run(subject("mock (BACKEND.provider)", provider), None).await;
    report.assert_passed();
}

/// `device-gone` on a `MockProvider`: its swtpm killed (as a crash would),
/// evidence must fail with code 12 or 13, promptly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_provider_fails_with_a_tpm_code_once_its_swtpm_is_gone() {
    let provider = Arc::new(MockProvider::start().expect("the mock CVM needs swtpm"));
    let pid = provider
        .cvm()
        .vtpm()
        .swtpm()
        .pid()
        .expect("the swtpm this test started runs");
    let mut c = Conformance::gather(subject("mock (MockProvider)", provider.clone()))
        .await
        .expect("good evidence from the mock CVM");
    c.check_good();
    c.check_device_gone(Box::new(move || {
        // The swtpm this test started, by its pid; its `Drop` reaps it.
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("running kill");
        assert!(killed.success(), "kill -KILL {pid}");
    }))
    .await;
    c.finish().assert_passed();
}
