//! The conformance suite (`tee_attest_testkit::conformance`) on the TDX
//! backends, each against its mock:
//!
//! - `tdx`: `TdxGuestProvider` on a [`MockTdxGuest`] (configfs-tsm emulated
//!   with FUSE, quotes by the stored mock Intel platform, a CC event log
//!   replaying to the TD's RTMRs), appraised by `DcapAppraiser::tdx_vm`
//!   with MAA's `TdxVm` binding;
//! - `azure-tdx`: `AzureTdxProvider` on a mock Azure TDX CVM
//!   ([`MockAzureCvm::start_tdx`]: the vTPM whose HCL report is rebuilt as
//!   a TDX HCL report on each user-data write, a mock IMDS `/acc/tdquote`),
//!   appraised by `AzureTdxAppraiser`.
//!
//! Both appraisers share a `DcapTrust` trusting the stored mock Intel root
//! with collateral from `MockCollateralSource`; the genuine-only ones trust
//! Intel's root alone. One evidence per test; the suite appraises mutated
//! copies of it, then stops the device.

use std::fs;
use std::sync::Arc;
use std::time::Duration;

use tee_attest_azure::provider::{AzureTdxConfig, AzureTdxProvider};
use tee_attest_azure::AzureTdxAppraiser;
use tee_attest_core::{Appraiser, EvidenceProvider};
use tee_attest_mock::intel::{MockCollateralSource, MockIntelPlatform, TdQuoteKind};
use tee_attest_mock::{MockAzureCvm, MockTdxGuest};
use tee_attest_tdx::ccel::CcEventLog;
use tee_attest_tdx::{CollateralChain, DcapAppraiser, DcapTrust, Quote, VerifyOptions};
use tee_attest_tdx_guest::{TdxGuestConfig, TdxGuestProvider};
use tee_attest_testkit::conformance::{self, regions, Subject};

/// Trust in the stored mock Intel root (`mock`) or in Intel's alone, with
/// the mock platform's collateral either way.
fn trust(mock: bool) -> Arc<DcapTrust> {
    let p = MockIntelPlatform::stored().expect("the stored mock Intel platform");
    let roots = if mock {
        vec![p.root_der().to_vec()]
    } else {
        Vec::new()
    };
    let chain = CollateralChain::new().with_source(Arc::new(MockCollateralSource::new(p)));
    Arc::new(DcapTrust::new(&roots, chain, VerifyOptions::default()).expect("a DCAP trust"))
}

fn tdx_vm(mock: bool) -> Arc<dyn Appraiser> {
    Arc::new(DcapAppraiser::tdx_vm(trust(mock)))
}

fn azure_tdx(mock: bool) -> Arc<dyn Appraiser> {
    Arc::new(AzureTdxAppraiser::new(trust(mock)))
}

struct Guest {
    guest: MockTdxGuest,
    tmp: tempfile::TempDir,
}

fn mount(kind: TdQuoteKind) -> Guest {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let dir = tmp.path().join("report");
    fs::create_dir(&dir).expect("the mount point");
    let guest = MockTdxGuest::mount_with(&dir, &tmp.path().join("acpi"), kind)
        .expect("the mock TDX guest needs /dev/fuse");
    Guest { guest, tmp }
}

fn tdx_provider(g: &Guest) -> TdxGuestProvider {
    TdxGuestProvider::new(
        TdxGuestConfig::default()
            .with_tsm_root(g.guest.root())
            .with_dev_root(g.tmp.path().join("dev"))
            .with_ccel_root(g.guest.ccel_root()),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tdx_guest_provider_and_tdx_vm_appraiser_conform() {
    let g = mount(TdQuoteKind::V4);
    let subject = Subject::new(
        "tdx (TdxGuestProvider on MockTdxGuest, DcapAppraiser::tdx_vm)",
        Arc::new(tdx_provider(&g)),
        tdx_vm(true),
        tdx_vm(false),
        |t, n, p| Ok(tee_attest_maa::challenge(t, n, p)?),
        regions::tdx_vm(),
    )
    .with_fresh_appraisers(|| tdx_vm(true));
    // The device goes as a guest without configfs-tsm: unmounted, its
    // directory gone.
    let stop = Box::new(move || drop(g));
    let report = conformance::run(subject, Some(stop)).await;
    report.assert_passed();
}

/// The mock guest's evidence carries its CC event log, which replays to
/// the quote's RTMRs; v5 quotes (TD 1.0 and TD 1.5 bodies) pass the
/// appraisal checks as v4 ones do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mock_tdx_guest_logs_what_its_rtmrs_say_and_quotes_v4_and_v5() {
    for kind in [TdQuoteKind::V4, TdQuoteKind::V5Td10, TdQuoteKind::V5Td15] {
        let g = mount(kind);
        let provider: Arc<dyn EvidenceProvider> = Arc::new(tdx_provider(&g));
        let subject = Subject::new(
            format!("tdx {kind:?}"),
            provider,
            tdx_vm(true),
            tdx_vm(false),
            |t, n, p| Ok(tee_attest_maa::challenge(t, n, p)?),
            regions::tdx_vm(),
        );
        let mut c = conformance::Conformance::gather(subject)
            .await
            .expect("evidence from the mock TDX guest");
        let e = c.evidence().clone();
        let quote = Quote::parse(&e.hardware_report).expect("a TD quote");
        assert_eq!(
            quote.header.version,
            if kind == TdQuoteKind::V4 { 4 } else { 5 }
        );
        let td = quote.body.td().expect("a TD body");
        assert_eq!(td.rtmr, g.guest.td().rtmr);
        assert_eq!(td.mr_td, g.guest.td().mr_td);
        let log = CcEventLog::parse(e.event_log.as_deref().expect("the CC event log"))
            .expect("the CC event log parses");
        log.check(td).expect("the log replays to the quote's RTMRs");
        assert_eq!(e.certificates.len(), 3, "the PCK chain the quote carries");
        assert_eq!(g.guest.quotes_made(), 1);
        c.check_all_appraisals();
        c.finish().assert_passed();
    }
}

fn azure_config(cvm: &MockAzureCvm) -> AzureTdxConfig {
    let mut cfg = AzureTdxConfig::default();
    cfg.tcti = Some(cvm.tcti());
    cfg.imds_url = cvm.imds_url();
    cfg.event_log = cvm.event_log_path();
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn azure_tdx_provider_and_appraiser_conform() {
    let cvm = MockAzureCvm::start_tdx().expect("the mock Azure TDX CVM needs swtpm");
    let pid = cvm.vtpm().swtpm().pid().expect("its swtpm runs");
    let provider = AzureTdxProvider::new(azure_config(&cvm)).expect("the provider");
    let mut subject = Subject::new(
        "azure-tdx (AzureTdxProvider on MockAzureCvm::start_tdx, AzureTdxAppraiser)",
        Arc::new(provider),
        azure_tdx(true),
        azure_tdx(false),
        |t, n, p| Ok(tee_attest_maa::challenge(t, n, p)?),
        regions::azure_guest_tdx(),
    )
    .with_fresh_appraisers(|| azure_tdx(true));
    subject.device_timeout = Duration::from_secs(30);
    // The vTPM goes as in a crash: its swtpm killed (by the pid this test
    // started); the CVM's `Drop` reaps it.
    let stop = Box::new(move || {
        let killed = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("running kill");
        assert!(killed.success(), "kill -KILL {pid}");
    });
    let report = conformance::run(subject, Some(stop)).await;
    assert!(cvm.imds().tdquotes_served() >= 1);
    drop(cvm);
    report.assert_passed();
}

/// Mounted in a fake machine tree, the mock guest is what the `tdx`
/// backend's detection finds: configfs-tsm answering as `tdx_guest`, with
/// its CCEL.
#[test]
fn detection_finds_the_mock_guest_and_its_ccel() {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let guest = MockTdxGuest::mount_in_tree(tmp.path()).expect("the mock TDX guest");
    assert!(guest.ccel_root().join("CCEL").is_file());
    assert!(guest.ccel_root().join("data/CCEL").is_file());
    let ctx = tee_attest_core::DetectContext::new(tmp.path(), None);
    let found = (tee_attest_tdx_guest::BACKEND.detect)(&ctx).expect("detected");
    assert_eq!(found["provider"], "tdx_guest");
    assert_eq!(
        found["ccel"],
        guest.ccel_root().join("CCEL").display().to_string()
    );
    assert_eq!(guest.quotes_made(), 0, "detection makes no quote");
}
