//! The bare-metal TDX provider against the configfs-tsm FUSE emulator
//! answering as `tdx_guest`: its scripted kernel returns real TD quotes
//! (`../shared/testvectors`) with the report data patched to the `inblob`
//! written — the provider checks structure and binding, not signatures —
//! and, for the failure cases, hostile or broken answers. Each test mounts
//! its own FUSE filesystem in a temporary directory.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use aws_lc_rs::digest;
use serde_json::json;
use tee_attest_core::{
    DetectContext, Error, ErrorCode, Evidence, EvidenceProvider, EvidenceRequest, ProviderConfig,
};
use tee_attest_maa::azureguest::TdxVmRequest;
use tee_attest_tdx::Quote;
use tee_attest_tdx_guest::{
    report_data_for, TdxGuestConfig, TdxGuestProvider, BACKEND, TDX, TDX_VM,
};
use tee_attest_testkit::vector;
use tee_attest_tsm::emulator::{Backend, ReportInput, TsmEmulator};
use tee_attest_tsm::{Tsm, PROVIDER_SEV_GUEST, PROVIDER_TDX_GUEST};

/// `quote` with its report data replaced by `report_data` (at the body's
/// REPORTDATA, whatever the quote version).
fn patched(quote: &[u8], report_data: &[u8; 64]) -> Vec<u8> {
    let at =
        Quote::parse(quote).unwrap().body_offset() + tee_attest_tdx::quote::td_offsets::REPORT_DATA;
    let mut q = quote.to_vec();
    q[at..at + 64].copy_from_slice(report_data);
    q
}

/// A kernel that quotes `base` over whatever `inblob` is written, counting
/// the quotes it makes.
fn quoting(base: Vec<u8>) -> (Backend, Arc<AtomicUsize>) {
    let count = Arc::new(AtomicUsize::new(0));
    let c = count.clone();
    let backend: Backend = Arc::new(move |input: &ReportInput| {
        c.fetch_add(1, Ordering::SeqCst);
        Ok((patched(&base, &input.inblob), None))
    });
    (backend, count)
}

fn v4() -> Vec<u8> {
    vector("tdx-dcap/quote.bin")
}

/// A configfs-tsm emulator mounted in a temporary directory, with a CCEL
/// root (empty unless a test fills it) and a device root beside it.
struct Guest {
    emu: TsmEmulator,
    tmp: tempfile::TempDir,
}

impl Guest {
    fn mount(provider: &str, backend: Backend) -> Guest {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("report");
        fs::create_dir(&dir).unwrap();
        fs::create_dir(tmp.path().join("acpi")).unwrap();
        let emu = TsmEmulator::mount(&dir, provider, backend).unwrap();
        Guest { emu, tmp }
    }

    fn tdx(backend: Backend) -> Guest {
        Self::mount(PROVIDER_TDX_GUEST, backend)
    }

    fn acpi(&self) -> PathBuf {
        self.tmp.path().join("acpi")
    }

    fn config(&self) -> TdxGuestConfig {
        TdxGuestConfig::default()
            .with_tsm_root(self.emu.path())
            .with_dev_root(self.tmp.path().join("dev"))
            .with_ccel_root(self.acpi())
    }

    fn provider(&self) -> TdxGuestProvider {
        TdxGuestProvider::new(self.config())
    }

    fn report_dirs(&self) -> usize {
        fs::read_dir(self.emu.path()).unwrap().count()
    }

    /// The real CCEL table and log area of `tdx-go` under the ACPI root.
    fn with_real_ccel(&self) -> Vec<u8> {
        let acpi = self.acpi();
        fs::write(acpi.join("CCEL"), vector("tdx-go/ccel_ccel_table.dat")).unwrap();
        fs::create_dir_all(acpi.join("data")).unwrap();
        let log = vector("tdx-go/ccel_ccel_data.dat");
        fs::write(acpi.join("data/CCEL"), &log).unwrap();
        log
    }
}

fn request(report_data: [u8; 64]) -> EvidenceRequest {
    let mut r = EvidenceRequest::with_nonce(*b"nonce-1");
    r.report_data = Some(report_data);
    r
}

fn quote_of(e: &Evidence) -> Quote {
    Quote::parse(&e.hardware_report).unwrap()
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

/// The request a caller of an MAA-shaped verifier builds for `TdxVm`.
fn maa_request(nonce: &[u8], payload: &BTreeMap<String, String>) -> EvidenceRequest {
    let c = tee_attest_maa::challenge(TDX_VM, nonce, payload).unwrap();
    let mut r = EvidenceRequest::with_nonce(c.nonce.clone());
    r.runtime_data = c.runtime_data.clone();
    r.runtime_data_json = c.runtime_data_json;
    r.report_data = Some(c.report_data);
    r.client_payload = payload.clone();
    r
}

#[tokio::test]
async fn evidence_carries_exactly_the_requested_report_data() {
    let (backend, count) = quoting(v4());
    let g = Guest::tdx(backend);
    let p = g.provider();
    assert_eq!(p.tee(), TDX);
    assert_eq!(p.evidence_type(), TDX_VM);
    assert_eq!(TDX_VM.to_string(), "TdxVm");
    assert!(!TDX_VM.has_vtpm());
    let mut data = [0u8; 64];
    for (i, b) in data.iter_mut().enumerate() {
        *b = 0xA0 ^ i as u8;
    }
    let mut req = request(data);
    req.runtime_data = b"rt".to_vec();
    req.client_payload.insert("k".into(), "v".into());
    let e = p.evidence(&req).await.unwrap();

    assert_eq!(e.tee, TDX);
    assert_eq!(e.evidence_type, TDX_VM);
    assert_eq!(quote_of(&e).body.report_data(), &data);
    assert_eq!(
        e.hardware_report,
        patched(&v4(), &data),
        "the kernel's bytes, unchanged"
    );
    // The PCK chain the quote carries: PCK, PCK CA, Intel root.
    assert_eq!(e.certificates.len(), 3);
    assert_eq!(
        e.certificates[2],
        vector("tdx-dcap/intel-sgx-root-ca.der"),
        "leaf first, the root last"
    );
    assert_eq!(e.nonce, b"nonce-1");
    assert_eq!(e.runtime_data, b"rt");
    assert!(!e.runtime_data_json);
    assert_eq!(e.client_payload.get("k").map(String::as_str), Some("v"));
    assert!(e.tpm.is_none() && e.hcl_report.is_none());
    // No CCEL under the ACPI root: no event log, and no error.
    assert_eq!(e.event_log, None);
    // One quote per request, and its directory is gone.
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(g.report_dirs(), 0);
}

#[tokio::test]
async fn a_maa_challenge_binds_the_runtime_data_and_makes_a_tdx_vm_request() {
    let (backend, _) = quoting(v4());
    let g = Guest::tdx(backend);
    let mut payload = BTreeMap::new();
    payload.insert("app".to_string(), "demo".to_string());
    let req = maa_request(b"nonce-42", &payload);
    let e = g.provider().evidence(&req).await.unwrap();

    // MAA's rule: report_data[0..32] = SHA-256(runtime data), then zeros.
    let rd = *quote_of(&e).body.report_data();
    assert_eq!(
        &rd[..32],
        digest::digest(&digest::SHA256, &e.runtime_data).as_ref()
    );
    assert_eq!(rd[32..], [0u8; 32]);
    assert!(e.runtime_data_json);
    let rt: serde_json::Value = serde_json::from_slice(&e.runtime_data).unwrap();
    assert_eq!(rt, json!({"app": "demo", "nonce": "nonce-42"}));

    // The body the MAA client posts to /attest/TdxVm.
    let body = TdxVmRequest::from_evidence(&e).unwrap();
    let wire: serde_json::Value = serde_json::to_value(&body).unwrap();
    let keys: std::collections::BTreeSet<&str> = wire
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["nonce", "quote", "runtimeData"].into());
    assert_eq!(wire["runtimeData"]["dataType"], "JSON");
    assert_eq!(wire["nonce"], "nonce-42");
    let back = body.to_evidence().unwrap();
    assert_eq!(back.hardware_report, e.hardware_report);
    assert_eq!(back.runtime_data, e.runtime_data);
    assert_eq!(back.evidence_type, TDX_VM);
}

#[tokio::test]
async fn each_request_gets_a_fresh_quote() {
    let (backend, count) = quoting(v4());
    let g = Guest::tdx(backend);
    let p = g.provider();
    let a = p.evidence(&request([1; 64])).await.unwrap();
    let b = p.evidence(&request([2; 64])).await.unwrap();
    assert_eq!(quote_of(&a).body.report_data(), &[1; 64]);
    assert_eq!(quote_of(&b).body.report_data(), &[2; 64]);
    let _ = p.evidence(&request([1; 64])).await.unwrap();
    assert_eq!(count.load(Ordering::SeqCst), 3);
    assert_eq!(g.report_dirs(), 0);
}

#[tokio::test]
async fn without_report_data_the_binding_is_sha512_of_nonce_and_runtime_data() {
    let (backend, _) = quoting(v4());
    let g = Guest::tdx(backend);
    let mut req = EvidenceRequest::with_nonce(*b"abc");
    req.runtime_data = b"def".to_vec();
    let e = g.provider().evidence(&req).await.unwrap();
    let expected = digest::digest(&digest::SHA512, b"abcdef");
    assert_eq!(
        quote_of(&e).body.report_data().as_slice(),
        expected.as_ref()
    );
    assert_eq!(report_data_for(&req).as_slice(), expected.as_ref());
}

#[tokio::test]
async fn a_v5_td15_quote_is_taken_too() {
    let (backend, _) = quoting(vector("tdx-go/quote_v5_sample.dat"));
    let g = Guest::tdx(backend);
    let e = g.provider().evidence(&request([9; 64])).await.unwrap();
    let q = quote_of(&e);
    assert_eq!(q.header.version, 5);
    assert_eq!(q.body.report_data(), &[9; 64]);
}

#[tokio::test]
async fn the_cc_event_log_goes_with_the_quote() {
    let (backend, _) = quoting(vector("tdx-go/ccel_cos-113-tdx-quote.dat"));
    let g = Guest::tdx(backend);
    let log = g.with_real_ccel();
    let e = g.provider().evidence(&request([3; 64])).await.unwrap();
    assert_eq!(e.event_log.as_deref(), Some(log.as_slice()));
    // It is the log of this TD: it replays to the quote's RTMRs.
    let parsed = tee_attest_tdx::ccel::CcEventLog::parse(e.event_log.as_deref().unwrap()).unwrap();
    parsed.check(quote_of(&e).body.td().unwrap()).unwrap();
}

#[tokio::test]
async fn a_ccel_table_that_is_not_a_tds_is_code_20_and_an_unreadable_one_13() {
    let (backend, _) = quoting(v4());
    let g = Guest::tdx(backend);
    g.with_real_ccel();
    let mut table = vector("tdx-go/ccel_ccel_table.dat");
    table[36] = 1; // CC type 1: SEV
    fs::write(g.acpi().join("CCEL"), &table).unwrap();
    let err = g.provider().evidence(&request([0; 64])).await.unwrap_err();
    assert_code(&err, 20, "CC type 1");
    fs::write(g.acpi().join("CCEL"), b"ACPI").unwrap();
    let err = g.provider().evidence(&request([0; 64])).await.unwrap_err();
    assert_code(&err, 20, "CCEL table");
    // The log area is a directory: it cannot be read.
    fs::write(g.acpi().join("CCEL"), vector("tdx-go/ccel_ccel_table.dat")).unwrap();
    fs::remove_file(g.acpi().join("data/CCEL")).unwrap();
    fs::create_dir(g.acpi().join("data/CCEL")).unwrap();
    let err = g.provider().evidence(&request([0; 64])).await.unwrap_err();
    assert_code(&err, 13, "data/CCEL");
    assert_eq!(g.report_dirs(), 0);
}

#[tokio::test]
async fn a_quote_for_another_request_is_code_13() {
    // The kernel answers with the quote of another request's inblob.
    let base = v4();
    let backend: Backend = Arc::new(move |input: &ReportInput| {
        let mut other = input.inblob;
        other[63] ^= 1;
        Ok((patched(&base, &other), None))
    });
    let g = Guest::tdx(backend);
    let err = g.provider().evidence(&request([4; 64])).await.unwrap_err();
    assert_code(
        &err,
        13,
        "the kernel returned a quote for other report data",
    );
    // A stale quote, the same whatever is asked.
    let stale = patched(&v4(), &[0x55; 64]);
    let backend: Backend = Arc::new(move |_: &ReportInput| Ok((stale.clone(), None)));
    let g = Guest::tdx(backend);
    let err = g.provider().evidence(&request([4; 64])).await.unwrap_err();
    assert_code(&err, 13, &"55".repeat(64));
}

#[tokio::test]
async fn an_sgx_quote_or_no_quote_is_code_20() {
    let sgx = vector("sgx-dcap/quote.bin");
    let backend: Backend = Arc::new(move |_: &ReportInput| Ok((sgx.clone(), None)));
    let g = Guest::tdx(backend);
    let err = g.provider().evidence(&request([0; 64])).await.unwrap_err();
    assert_code(&err, 20, "not a TD quote");

    let backend: Backend = Arc::new(|_: &ReportInput| Ok((b"not a quote".to_vec(), None)));
    let g = Guest::tdx(backend);
    let err = g.provider().evidence(&request([0; 64])).await.unwrap_err();
    assert_code(&err, 20, "outblob");

    let backend: Backend = Arc::new(|_: &ReportInput| Ok((vec![0u8; 5006], None)));
    let g = Guest::tdx(backend);
    let err = g.provider().evidence(&request([0; 64])).await.unwrap_err();
    assert_code(&err, 21, "quote");
}

#[tokio::test]
async fn a_wrong_provider_is_code_12() {
    let (backend, _) = quoting(v4());
    let g = Guest::mount(PROVIDER_SEV_GUEST, backend);
    let err = g.provider().evidence(&request([0; 64])).await.unwrap_err();
    assert_code(&err, 12, "sev_guest");
}

#[tokio::test]
async fn an_absent_root_is_code_12_and_a_legacy_device_says_6_7() {
    let tmp = tempfile::tempdir().unwrap();
    let config = || {
        TdxGuestConfig::default()
            .with_tsm_root(tmp.path().join("sys/kernel/config/tsm/report"))
            .with_dev_root(tmp.path().join("dev"))
            .with_ccel_root(tmp.path().join("acpi"))
    };
    let err = TdxGuestProvider::new(config())
        .evidence(&request([0; 64]))
        .await
        .unwrap_err();
    assert_code(&err, 12, "configfs-tsm is not available");
    fs::create_dir(tmp.path().join("dev")).unwrap();
    fs::write(tmp.path().join("dev/tdx_guest"), b"").unwrap();
    let err = TdxGuestProvider::new(config())
        .evidence(&request([0; 64]))
        .await
        .unwrap_err();
    assert_code(&err, 12, "6.7");
    assert!(err.message().contains("tdx_guest"), "{}", err.message());
}

#[tokio::test]
async fn a_kernel_error_is_code_13_with_the_errno() {
    let backend: Backend = Arc::new(|_: &ReportInput| {
        Err(Error::new(
            ErrorCode::TpmOperationFailed,
            "the quoting enclave said no",
        ))
    });
    let g = Guest::tdx(backend);
    let err = g.provider().evidence(&request([0; 64])).await.unwrap_err();
    assert_code(&err, 13, "errno 5");
}

#[tokio::test]
async fn a_persistent_generation_race_is_code_13() {
    let (backend, _) = quoting(v4());
    let g = Guest::tdx(backend);
    let hook = Arc::new(|dir: &Path| {
        let _ = fs::write(dir.join("inblob"), [9u8; 64]);
    });
    let tsm = Tsm::new(Some(g.emu.path().to_path_buf())).with_after_read_hook(hook);
    let p = TdxGuestProvider::with_tsm(g.config(), tsm);
    let err = p.evidence(&request([1; 64])).await.unwrap_err();
    assert_code(&err, 13, "race");
    assert_eq!(g.report_dirs(), 0);
}

#[tokio::test]
async fn there_is_no_decryptor() {
    let (backend, _) = quoting(v4());
    let g = Guest::tdx(backend);
    let err = g.provider().decryptor().err().unwrap();
    assert_code(&err, 1, "not supported on this TEE");
}

#[tokio::test]
async fn the_backend_makes_a_provider_at_the_configured_root() {
    let (backend, _) = quoting(v4());
    let g = Guest::tdx(backend);
    assert_eq!(BACKEND.id, TDX);
    assert_eq!(BACKEND.id.as_str(), "tdx");
    assert_eq!(BACKEND.evidence_type, TDX_VM);
    let mut cfg = ProviderConfig::default();
    cfg.tsm_root = Some(g.emu.path().to_path_buf());
    let p = (BACKEND.provider)(&cfg).unwrap();
    assert_eq!(p.tee(), TDX);
    assert_eq!(p.evidence_type(), TDX_VM);
    let e = p.evidence(&request([8; 64])).await.unwrap();
    assert_eq!(quote_of(&e).body.report_data(), &[8; 64]);
}

fn tree_path(root: &Path) -> PathBuf {
    root.join("sys/kernel/config/tsm/report")
}

#[test]
fn detect_finds_a_tdx_guest_and_its_ccel() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = DetectContext::new(tmp.path(), None);
    assert_eq!((BACKEND.detect)(&ctx), None, "an empty tree");

    let dir = tree_path(tmp.path());
    fs::create_dir_all(&dir).unwrap();
    let (backend, count) = quoting(v4());
    let emu = TsmEmulator::mount(&dir, PROVIDER_TDX_GUEST, backend).unwrap();
    let found = (BACKEND.detect)(&ctx).unwrap();
    assert_eq!(
        found,
        json!({
            "configfs_tsm": dir.display().to_string(),
            "provider": "tdx_guest",
            "ccel": null,
        })
    );
    let acpi = tmp.path().join("sys/firmware/acpi/tables");
    fs::create_dir_all(&acpi).unwrap();
    fs::write(acpi.join("CCEL"), vector("tdx-go/ccel_ccel_table.dat")).unwrap();
    let found = (BACKEND.detect)(&ctx).unwrap();
    assert_eq!(
        found["ccel"],
        json!(acpi.join("CCEL").display().to_string())
    );
    // Detection asks for no quote and leaves no report directory behind.
    assert_eq!(count.load(Ordering::SeqCst), 0);
    assert_eq!(fs::read_dir(&dir).unwrap().count(), 0);
    drop(emu);
}

#[test]
fn detect_names_a_legacy_device_and_ignores_an_snp_guest() {
    let tmp = tempfile::tempdir().unwrap();
    let ctx = DetectContext::new(tmp.path(), None);
    // An SEV-SNP guest's configfs-tsm is not this backend's.
    let dir = tree_path(tmp.path());
    fs::create_dir_all(&dir).unwrap();
    let backend: Backend = Arc::new(|i: &ReportInput| Ok((i.inblob.to_vec(), None)));
    let emu = TsmEmulator::mount(&dir, PROVIDER_SEV_GUEST, backend).unwrap();
    assert_eq!((BACKEND.detect)(&ctx), None);
    drop(emu);

    fs::create_dir(tmp.path().join("dev")).unwrap();
    fs::write(tmp.path().join("dev/tdx_guest"), b"").unwrap();
    let found = (BACKEND.detect)(&ctx).unwrap();
    assert_eq!(found["configfs_tsm"], json!(null));
    assert_eq!(
        found["device"],
        json!(tmp.path().join("dev/tdx_guest").display().to_string())
    );
    assert!(found["note"].as_str().unwrap().contains("6.7"));
}
