//! The conformance suite (`tee_attest_testkit::conformance`) on the
//! bare-metal SEV-SNP backend (`--tee snp`): `SnpGuestProvider` against a
//! mock guest that behaves as the kernel does (`MockSnpGuest`, a FUSE
//! configfs-tsm signing fresh mock reports), appraised by
//! `SevSnpVmAppraiser` with MAA's `SevSnpVm` binding. One evidence; the
//! suite appraises mutated copies of it, then unmounts the mock guest.

use std::fs;
use std::sync::Arc;

use tee_attest_core::Appraiser;
use tee_attest_mock::MockSnpGuest;
use tee_attest_snp::SevSnpVmAppraiser;
use tee_attest_snp_guest::{SnpGuestConfig, SnpGuestProvider};
use tee_attest_testkit::conformance::{self, regions, Subject};

fn appraiser(extra_roots: &[Vec<u8>]) -> Arc<dyn Appraiser> {
    Arc::new(SevSnpVmAppraiser::with_extra_roots(extra_roots).expect("a SevSnpVm appraiser"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snp_guest_provider_and_sev_snp_vm_appraiser_conform() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().join("report");
    fs::create_dir(&dir).expect("the mount point");
    let guest = MockSnpGuest::mount(&dir).expect("the mock SNP guest needs /dev/fuse");
    let provider = SnpGuestProvider::new(
        SnpGuestConfig::default()
            .with_tsm_root(guest.root())
            .with_dev_root(tmp.path().join("dev")),
    );
    let mock_ark = vec![guest.ark_der().to_vec()];
    let subject = Subject::new(
        "snp (SnpGuestProvider on MockSnpGuest, SevSnpVmAppraiser)",
        Arc::new(provider),
        appraiser(&mock_ark),
        appraiser(&[]),
        |t, n, p| Ok(tee_attest_maa::challenge(t, n, p)?),
        regions::sev_snp_vm(),
    )
    .with_fresh_appraisers(move || appraiser(&mock_ark));
    // The device goes as a guest without configfs-tsm: unmounted, its
    // directory gone.
    let stop = Box::new(move || {
        drop(guest);
        drop(tmp);
    });
    let report = conformance::run(subject, Some(stop)).await;
    report.assert_passed();
}
