//! Many providers on one vTPM at once (issue 18): every evidence request
//! holds the vTPM lock from its user-data write to its HCL report read, so
//! each gets the report of its own user data; a stopped vTPM is code 13
//! within the time-out. Against the mock Azure CVM (swtpm, `cargo xtask
//! deps`).

use std::time::{Duration, Instant};

use tee_attest_azure::provider::{AzureSnpConfig, AzureSnpProvider};
use tee_attest_azure::HclReport;
use tee_attest_core::{ErrorCode, EvidenceProvider, EvidenceRequest};
use tee_attest_mock::MockAzureCvm;

fn provider(cvm: &MockAzureCvm, timeout: Option<Duration>) -> AzureSnpProvider {
    let mut cfg = AzureSnpConfig::default();
    cfg.tcti = Some(cvm.tcti());
    cfg.imds_url = cvm.imds_url();
    cfg.event_log = cvm.event_log_path();
    cfg.vtpm_lock = Some(cvm.vtpm_lock_path());
    cfg.tpm_timeout = timeout;
    AzureSnpProvider::new(cfg).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_providers_at_once_each_get_the_report_of_their_own_user_data() {
    let cvm = MockAzureCvm::start().expect("swtpm must be installed (cargo xtask deps)");
    let tasks: Vec<_> = (0..16)
        .map(|i| {
            // One provider each, as separate processes would have.
            let p = provider(&cvm, None);
            tokio::spawn(async move {
                let nonce = format!("nonce-of-request-{i}").into_bytes();
                let request = EvidenceRequest::with_nonce(nonce.clone());
                let e = p.evidence(&request).await?;
                Ok::<_, tee_attest_core::Error>((nonce, request, e))
            })
        })
        .collect();
    for t in tasks {
        let (nonce, request, e) = t.await.unwrap().expect("every request succeeds");
        assert_eq!(e.nonce, nonce);
        let hcl = HclReport::from_bytes(e.hcl_report.as_deref().unwrap()).unwrap();
        hcl.check_binding().unwrap();
        let user_data = hcl.var_data().unwrap().user_data().unwrap();
        assert_eq!(
            user_data,
            tee_attest_azure::provider::user_data_for(&request).to_vec(),
            "the HCL report carries this request's user data"
        );
    }
}

/// `kill -SIG pid` through the shell's builtin.
fn signal(sig: &str, pid: u32) {
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -{sig} {pid}")])
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_vtpm_is_code_13_within_the_time_out_and_works_again_after() {
    let cvm = MockAzureCvm::start().expect("swtpm must be installed (cargo xtask deps)");
    let p = provider(&cvm, Some(Duration::from_secs(1)));
    let request = EvidenceRequest::with_nonce(b"before".to_vec());
    p.evidence(&request).await.unwrap();
    let pid = cvm.vtpm().swtpm().pid().unwrap();
    signal("STOP", pid);
    let start = Instant::now();
    let err = p
        .evidence(&EvidenceRequest::with_nonce(b"stopped".to_vec()))
        .await
        .unwrap_err();
    let took = start.elapsed();
    signal("CONT", pid);
    assert_eq!(err.code(), ErrorCode::TpmOperationFailed, "{err}");
    assert!(took < Duration::from_secs(6), "{took:?}");
    // The same provider works again once the vTPM answers: the abandoned
    // context finishes and releases the lock, the next request opens a
    // fresh one.
    p.evidence(&EvidenceRequest::with_nonce(b"after".to_vec()))
        .await
        .expect("a fresh context once the vTPM answers");
}
