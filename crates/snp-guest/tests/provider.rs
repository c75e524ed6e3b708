//! The bare-metal SEV-SNP provider against a mock guest that behaves as the
//! kernel does (`MockSnpGuest`: a FUSE configfs-tsm signing fresh mock
//! reports), and against hostile or broken kernels (the bare emulator with
//! its own backends). Each test mounts its own FUSE filesystem in a
//! temporary directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use aws_lc_rs::digest;
use serde_json::json;
use tee_attest_core::{
    Appraiser, DetectContext, Error, ErrorCode, Evidence, EvidenceProvider, EvidenceRequest,
    ProviderConfig, MOCK_EVIDENCE_CLAIM,
};
use tee_attest_mock::amd::{MockAmdRoots, MockSnpReport, MockTcb};
use tee_attest_mock::MockSnpGuest;
use tee_attest_snp::collateral::{CollateralChain, EvidenceCerts};
use tee_attest_snp::{AttestationReport, SevSnpVmAppraiser, SEV_SNP_VM};
use tee_attest_snp_guest::{
    report_data_for, SnpGuestConfig, SnpGuestProvider, AMD_KDS_URL, BACKEND, SNP,
};
use tee_attest_tsm::emulator::{Backend, ReportInput, TsmEmulator};
use tee_attest_tsm::{build_cert_table, Guid, Tsm, PROVIDER_SEV_GUEST, PROVIDER_TDX_GUEST};

/// A mock guest mounted in a temporary directory.
struct Guest {
    // Dropped first: unmounted before the directory is removed.
    mock: MockSnpGuest,
    tmp: tempfile::TempDir,
}

impl Guest {
    fn mount() -> Guest {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("report");
        fs::create_dir(&dir).unwrap();
        let mock = MockSnpGuest::mount(&dir).unwrap();
        Guest { mock, tmp }
    }

    fn config(&self) -> SnpGuestConfig {
        SnpGuestConfig::default()
            .with_tsm_root(self.mock.root())
            .with_dev_root(self.tmp.path().join("dev"))
    }

    fn provider(&self) -> SnpGuestProvider {
        SnpGuestProvider::new(self.config())
    }

    fn report_dirs(&self) -> usize {
        fs::read_dir(self.mock.root()).unwrap().count()
    }
}

/// A bare emulator answering as `provider` with `backend`.
struct Emulated {
    emu: TsmEmulator,
    _tmp: tempfile::TempDir,
}

impl Emulated {
    fn mount(provider: &str, backend: Backend) -> Emulated {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("report");
        fs::create_dir(&dir).unwrap();
        let emu = TsmEmulator::mount(&dir, provider, backend).unwrap();
        Emulated { emu, _tmp: tmp }
    }

    fn config(&self) -> SnpGuestConfig {
        SnpGuestConfig::default().with_tsm_root(self.emu.path())
    }

    fn provider(&self) -> SnpGuestProvider {
        SnpGuestProvider::new(self.config())
    }
}

/// A backend signing genuine-looking mock reports, with `edit` applied to
/// each report's fields first, and `aux` as the auxblob.
fn signing_backend(
    edit: impl Fn(&mut MockSnpReport) + Send + Sync + 'static,
    aux: impl Fn(&[u8], &[u8], &[u8]) -> Option<Vec<u8>> + Send + Sync + 'static,
) -> (Backend, Vec<u8>) {
    let roots = MockAmdRoots::stored_milan().unwrap();
    let vcek = Arc::new(roots.issue_vcek([7u8; 64], MockTcb::default()).unwrap());
    let auxblob = aux(vcek.der(), roots.ask_der(), roots.ark_der());
    let ark = roots.ark_der().to_vec();
    let backend: Backend = Arc::new(move |input: &ReportInput| {
        let mut r = MockSnpReport {
            report_data: input.inblob,
            vmpl: input.privlevel,
            ..MockSnpReport::default()
        };
        edit(&mut r);
        Ok((r.sign(&vcek)?.to_vec(), auxblob.clone()))
    });
    (backend, ark)
}

fn full_table(vcek: &[u8], ask: &[u8], ark: &[u8]) -> Option<Vec<u8>> {
    Some(build_cert_table(&[
        (Guid::VCEK, vcek),
        (Guid::ASK, ask),
        (Guid::ARK, ark),
    ]))
}

fn request(report_data: [u8; 64]) -> EvidenceRequest {
    let mut r = EvidenceRequest::with_nonce(*b"nonce-1");
    r.report_data = Some(report_data);
    r
}

fn report_of(e: &Evidence) -> AttestationReport {
    AttestationReport::from_bytes(&e.hardware_report).unwrap()
}

fn assert_code(err: &Error, code: u32, needle: &str) {
    assert_eq!(err.code().number(), code, "{}", err.message());
    assert!(
        err.message().contains(needle),
        "{:?} not in {:?}",
        needle,
        err.message()
    );
}

/// The request a caller of the MAA-shaped verifier would build.
fn maa_request(nonce: &[u8], payload: &BTreeMap<String, String>) -> EvidenceRequest {
    let c = tee_attest_maa::challenge(SEV_SNP_VM, nonce, payload).unwrap();
    let mut r = EvidenceRequest::with_nonce(c.nonce.clone());
    r.runtime_data = c.runtime_data.clone();
    r.runtime_data_json = c.runtime_data_json;
    r.report_data = Some(c.report_data);
    r.client_payload = payload.clone();
    r
}

#[tokio::test]
async fn evidence_carries_exactly_the_requested_report_data() {
    let g = Guest::mount();
    let p = g.provider();
    assert_eq!(p.tee(), SNP);
    assert_eq!(p.evidence_type(), SEV_SNP_VM);
    let mut data = [0u8; 64];
    for (i, b) in data.iter_mut().enumerate() {
        *b = 0xA0 ^ i as u8;
    }
    let mut req = request(data);
    req.runtime_data = b"rt".to_vec();
    req.client_payload.insert("k".into(), "v".into());
    let e = p.evidence(&req).await.unwrap();

    assert_eq!(e.tee, SNP);
    assert_eq!(e.evidence_type, SEV_SNP_VM);
    assert_eq!(report_of(&e).report_data, data);
    assert_eq!(e.hardware_report.len(), tee_attest_snp::REPORT_LEN);
    assert_eq!(
        e.certificates,
        vec![
            g.mock.vcek_der().to_vec(),
            g.mock.ask_der().to_vec(),
            g.mock.ark_der().to_vec()
        ]
    );
    assert_eq!(e.nonce, b"nonce-1");
    assert_eq!(e.runtime_data, b"rt");
    assert!(!e.runtime_data_json);
    assert_eq!(e.client_payload.get("k").map(String::as_str), Some("v"));
    assert!(e.tpm.is_none() && e.hcl_report.is_none());
    assert_eq!(report_of(&e).chip_id, g.mock.chip_id());
    // One report per request, and its directory is gone.
    assert_eq!(g.mock.reports_signed(), 1);
    assert_eq!(g.report_dirs(), 0);
}

#[tokio::test]
async fn the_mock_rooted_appraiser_accepts_a_maa_challenge() {
    let g = Guest::mount();
    let mut payload = BTreeMap::new();
    payload.insert("app".to_string(), "demo".to_string());
    let req = maa_request(b"nonce-42", &payload);
    let e = g.provider().evidence(&req).await.unwrap();

    let appraiser = SevSnpVmAppraiser::with_extra_roots(&[g.mock.ark_der().to_vec()]).unwrap();
    let a = appraiser.appraise(&e, Some(b"nonce-42")).unwrap();
    assert!(a.mock);
    assert_eq!(a.claims["x-ms-attestation-type"], json!("sevsnpvm"));
    assert_eq!(a.claims["x-ms-runtime"]["app"], json!("demo"));
    assert_eq!(a.claims["x-ms-runtime"]["nonce"], json!("nonce-42"));
    assert_eq!(a.claims["nonce"], json!("nonce-42"));
    assert_eq!(a.claims[MOCK_EVIDENCE_CLAIM], json!(true));

    // Another nonce than the one the evidence binds is refused.
    let err = appraiser.appraise(&e, Some(b"nonce-43")).unwrap_err();
    assert_code(&err, 6, "nonce");
}

#[tokio::test]
async fn the_appraiser_without_the_mock_root_refuses() {
    let g = Guest::mount();
    let req = maa_request(b"n", &BTreeMap::new());
    let e = g.provider().evidence(&req).await.unwrap();
    let appraiser = SevSnpVmAppraiser::with_extra_roots(&[]).unwrap();
    let err = appraiser.appraise(&e, Some(b"n")).unwrap_err();
    assert_code(&err, 6, "untrusted-root");
}

#[tokio::test]
async fn each_request_gets_a_fresh_report() {
    let g = Guest::mount();
    let p = g.provider();
    let a = p.evidence(&request([1; 64])).await.unwrap();
    let b = p.evidence(&request([2; 64])).await.unwrap();
    assert_eq!(report_of(&a).report_data, [1; 64]);
    assert_eq!(report_of(&b).report_data, [2; 64]);
    assert_ne!(a.hardware_report, b.hardware_report);
    // The same report data again: still a newly signed report.
    let c = p.evidence(&request([1; 64])).await.unwrap();
    assert_eq!(report_of(&c).report_data, [1; 64]);
    assert_ne!(a.hardware_report, c.hardware_report);
    assert_eq!(g.mock.reports_signed(), 3);
    assert_eq!(g.report_dirs(), 0);
}

#[tokio::test]
async fn without_report_data_the_binding_is_sha512_of_nonce_and_runtime_data() {
    let g = Guest::mount();
    let mut req = EvidenceRequest::with_nonce(*b"abc");
    req.runtime_data = b"def".to_vec();
    let e = g.provider().evidence(&req).await.unwrap();
    let expected = digest::digest(&digest::SHA512, b"abcdef");
    assert_eq!(report_of(&e).report_data.as_slice(), expected.as_ref());
    assert_eq!(report_data_for(&req).as_slice(), expected.as_ref());
}

#[tokio::test]
async fn the_vmpl_is_requested_through_privlevel() {
    let g = Guest::mount();
    let p = SnpGuestProvider::new(g.config().with_vmpl(2));
    let e = p.evidence(&request([3; 64])).await.unwrap();
    assert_eq!(report_of(&e).vmpl, 2);
    let e = g.provider().evidence(&request([3; 64])).await.unwrap();
    assert_eq!(report_of(&e).vmpl, 0);
    // Above VMPL 3: refused before the kernel is asked.
    let err = SnpGuestProvider::new(g.config().with_vmpl(4))
        .evidence(&request([3; 64]))
        .await
        .unwrap_err();
    assert_code(&err, 8, "privlevel");
}

#[tokio::test]
async fn a_report_for_another_vmpl_is_code_13() {
    let (backend, _) = signing_backend(|r| r.vmpl = 0, full_table);
    let emu = Emulated::mount(PROVIDER_SEV_GUEST, backend);
    let p = SnpGuestProvider::new(emu.config().with_vmpl(1));
    let err = p.evidence(&request([5; 64])).await.unwrap_err();
    assert_code(&err, 13, "VMPL 0");
}

#[tokio::test]
async fn a_wrong_provider_is_code_12() {
    let backend: Backend = Arc::new(|i: &ReportInput| Ok((i.inblob.to_vec(), None)));
    let emu = Emulated::mount(PROVIDER_TDX_GUEST, backend);
    let err = emu
        .provider()
        .evidence(&request([0; 64]))
        .await
        .unwrap_err();
    assert_code(&err, 12, "tdx_guest");
}

#[tokio::test]
async fn an_absent_root_is_code_12() {
    let tmp = tempfile::tempdir().unwrap();
    let p = SnpGuestProvider::new(
        SnpGuestConfig::default()
            .with_tsm_root(tmp.path().join("sys/kernel/config/tsm/report"))
            .with_dev_root(tmp.path().join("dev")),
    );
    let err = p.evidence(&request([0; 64])).await.unwrap_err();
    assert_code(&err, 12, "configfs-tsm is not available");
}

#[tokio::test]
async fn a_legacy_sev_guest_device_only_is_code_12_saying_6_7() {
    let tmp = tempfile::tempdir().unwrap();
    let dev = tmp.path().join("dev");
    fs::create_dir(&dev).unwrap();
    fs::write(dev.join("sev-guest"), b"").unwrap();
    let p = SnpGuestProvider::new(
        SnpGuestConfig::default()
            .with_tsm_root(tmp.path().join("sys/kernel/config/tsm/report"))
            .with_dev_root(&dev),
    );
    let err = p.evidence(&request([0; 64])).await.unwrap_err();
    assert_code(&err, 12, "6.7");
    assert!(err.message().contains("sev-guest"), "{}", err.message());
}

#[tokio::test]
async fn a_persistent_generation_race_is_code_13() {
    let g = Guest::mount();
    // Another writer changes the inputs after every read.
    let hook = Arc::new(|dir: &Path| {
        let _ = fs::write(dir.join("inblob"), [9u8; 64]);
    });
    let tsm = Tsm::new(Some(g.mock.root().to_path_buf())).with_after_read_hook(hook);
    let p = SnpGuestProvider::with_tsm(g.config(), tsm);
    let err = p.evidence(&request([1; 64])).await.unwrap_err();
    assert_code(&err, 13, "race");
    assert_eq!(g.report_dirs(), 0);
}

#[tokio::test]
async fn a_kernel_error_is_code_13_with_the_errno() {
    let backend: Backend = Arc::new(|_: &ReportInput| {
        Err(Error::new(
            ErrorCode::TpmOperationFailed,
            "firmware said no",
        ))
    });
    let emu = Emulated::mount(PROVIDER_SEV_GUEST, backend);
    let err = emu
        .provider()
        .evidence(&request([0; 64]))
        .await
        .unwrap_err();
    // The emulator answers a failing backend with EIO, as the kernel does.
    assert_code(&err, 13, "errno 5");
}

#[tokio::test]
async fn a_report_for_other_report_data_is_code_13() {
    let (backend, _) = signing_backend(|r| r.report_data[0] ^= 1, full_table);
    let emu = Emulated::mount(PROVIDER_SEV_GUEST, backend);
    let err = emu
        .provider()
        .evidence(&request([4; 64]))
        .await
        .unwrap_err();
    assert_code(
        &err,
        13,
        "the kernel returned a report for other report data",
    );
}

#[tokio::test]
async fn a_malformed_report_is_code_20() {
    let backend: Backend = Arc::new(|_: &ReportInput| Ok((b"not a report".to_vec(), None)));
    let emu = Emulated::mount(PROVIDER_SEV_GUEST, backend);
    let err = emu
        .provider()
        .evidence(&request([0; 64]))
        .await
        .unwrap_err();
    assert_code(&err, 20, "outblob");
    // A report of the right size with an unknown version.
    let backend: Backend = Arc::new(|_: &ReportInput| Ok((vec![0xEE; 0x4A0], None)));
    let emu = Emulated::mount(PROVIDER_SEV_GUEST, backend);
    let err = emu
        .provider()
        .evidence(&request([0; 64]))
        .await
        .unwrap_err();
    assert_code(&err, 20, "version");
}

#[tokio::test]
async fn a_malformed_certificate_table_is_code_20() {
    let (backend, _) = signing_backend(|_| {}, |_, _, _| Some(vec![0x63; 30]));
    let emu = Emulated::mount(PROVIDER_SEV_GUEST, backend);
    let err = emu
        .provider()
        .evidence(&request([0; 64]))
        .await
        .unwrap_err();
    assert_code(&err, 20, "certificate table");
}

#[tokio::test]
async fn without_certificates_and_collateral_it_is_code_17_and_reaches_no_one() {
    let (backend, _) = signing_backend(|_| {}, |_, _, _| None);
    let emu = Emulated::mount(PROVIDER_SEV_GUEST, backend);
    // The default configuration has no collateral source: no KDS.
    assert!(SnpGuestConfig::default()
        .collateral
        .source_names()
        .is_empty());
    let err = emu
        .provider()
        .evidence(&request([0; 64]))
        .await
        .unwrap_err();
    assert_code(&err, 17, "with_kds");
    // A table with only the ASK and ARK has no leaf either.
    let (backend, _) = signing_backend(
        |_| {},
        |_, ask, ark| Some(build_cert_table(&[(Guid::ASK, ask), (Guid::ARK, ark)])),
    );
    let emu = Emulated::mount(PROVIDER_SEV_GUEST, backend);
    let err = emu
        .provider()
        .evidence(&request([0; 64]))
        .await
        .unwrap_err();
    assert_code(&err, 17, "vcek");
}

#[tokio::test]
async fn without_certificates_in_the_auxblob_the_collateral_chain_answers() {
    let roots = MockAmdRoots::stored_milan().unwrap();
    let vcek = roots.issue_vcek([7u8; 64], MockTcb::default()).unwrap();
    let chain = vec![
        vcek.der().to_vec(),
        roots.ask_der().to_vec(),
        roots.ark_der().to_vec(),
    ];
    let vcek = Arc::new(vcek);
    let backend: Backend = Arc::new(move |input: &ReportInput| {
        let r = MockSnpReport {
            report_data: input.inblob,
            ..MockSnpReport::default()
        };
        Ok((r.sign(&vcek)?.to_vec(), None))
    });
    let emu = Emulated::mount(PROVIDER_SEV_GUEST, backend);
    let collateral =
        CollateralChain::new().with_source(Arc::new(EvidenceCerts::new(chain.clone())));
    let p = SnpGuestProvider::new(emu.config().with_collateral(collateral));
    let e = p.evidence(&request([6; 64])).await.unwrap();
    assert_eq!(e.certificates.first(), chain.first());
    let appraiser = SevSnpVmAppraiser::with_extra_roots(&[roots.ark_der().to_vec()]).unwrap();
    let mut e = e;
    e.nonce.clear();
    appraiser.appraise(&e, None).unwrap();
}

#[test]
fn kds_is_only_added_when_asked_for() {
    let cfg = SnpGuestConfig::default().with_kds(AMD_KDS_URL).unwrap();
    assert_eq!(cfg.collateral.source_names(), ["kds"]);
    assert_eq!(AMD_KDS_URL, "https://kdsintf.amd.com");
}

#[tokio::test]
async fn there_is_no_decryptor() {
    let g = Guest::mount();
    let err = g.provider().decryptor().err().unwrap();
    assert_code(&err, 1, "not supported on this TEE");
}

#[tokio::test]
async fn the_backend_makes_a_provider_at_the_configured_root() {
    let g = Guest::mount();
    assert_eq!(BACKEND.id, SNP);
    assert_eq!(BACKEND.id.as_str(), "snp");
    assert_eq!(BACKEND.evidence_type, SEV_SNP_VM);
    let mut cfg = ProviderConfig::default();
    cfg.tsm_root = Some(g.mock.root().to_path_buf());
    let p = (BACKEND.provider)(&cfg).unwrap();
    assert_eq!(p.tee(), SNP);
    assert_eq!(p.evidence_type(), SEV_SNP_VM);
    let e = p.evidence(&request([8; 64])).await.unwrap();
    assert_eq!(report_of(&e).report_data, [8; 64]);
}

fn tree_path(root: &Path) -> PathBuf {
    root.join("sys/kernel/config/tsm/report")
}

#[test]
fn detect_finds_the_mock_guest() {
    let tmp = tempfile::tempdir().unwrap();
    let mock = MockSnpGuest::mount_in_tree(tmp.path()).unwrap();
    let ctx = DetectContext::new(tmp.path(), None);
    assert_eq!(mock.root(), tree_path(tmp.path()));
    assert_eq!(ctx.path("/sys/kernel/config/tsm/report"), mock.root());
    let found = (BACKEND.detect)(&ctx).unwrap();
    assert_eq!(
        found,
        json!({
            "configfs_tsm": mock.root().display().to_string(),
            "provider": "sev_guest",
        })
    );
    // Detection leaves no report directory behind.
    assert_eq!(fs::read_dir(mock.root()).unwrap().count(), 0);
}

#[test]
fn detect_names_a_legacy_device_and_finds_nothing_elsewhere() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = DetectContext::new(tmp.path(), None);
    assert_eq!((BACKEND.detect)(&ctx), None);

    // A TDX guest's configfs-tsm is not this backend's.
    let dir = tree_path(tmp.path());
    fs::create_dir_all(&dir).unwrap();
    let backend: Backend = Arc::new(|i: &ReportInput| Ok((i.inblob.to_vec(), None)));
    let emu = TsmEmulator::mount(&dir, PROVIDER_TDX_GUEST, backend).unwrap();
    assert_eq!((BACKEND.detect)(&ctx), None);
    drop(emu);

    fs::create_dir(tmp.path().join("dev")).unwrap();
    fs::write(tmp.path().join("dev/sev-guest"), b"").unwrap();
    let found = (BACKEND.detect)(&ctx).unwrap();
    assert_eq!(found["configfs_tsm"], json!(null));
    assert_eq!(
        found["device"],
        json!(tmp.path().join("dev/sev-guest").display().to_string())
    );
    assert!(found["note"].as_str().unwrap().contains("6.7"));
}
