//! The three scenarios of the user's documents, as the programs in
//! `examples/` run them against a mock Azure SEV-SNP CVM (as `tee-attest
//! mock up` would provide it): each program is a separate process.

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::Arc;

use tee_attest_mock::MockAzureCvm;
use tee_attest_verifier::service::{serve, ServiceState};
use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};

/// The example binary `name`: built by `cargo test` next to the test's
/// profile directory; built here if it is missing.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let profile = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("profile dir")
        .to_path_buf();
    let path = profile.join("examples").join(name);
    if !path.is_file() {
        let status = Command::new(env!("CARGO"))
            .args(["build", "-p", "tee-attest", "--examples"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
            .status()
            .expect("cargo build --examples");
        assert!(status.success());
    }
    assert!(path.is_file(), "no example binary at {}", path.display());
    path
}

fn run(cvm: &MockAzureCvm, name: &str, args: &[&str], trust_mock: bool) -> (Option<i32>, String) {
    let mut c = Command::new(example(name));
    c.args(args)
        .env("TEE_ATTEST_TCTI", cvm.tcti())
        .env("TEE_ATTEST_IMDS_URL", cvm.imds_url())
        .env("TEE_ATTEST_EVENT_LOG", cvm.event_log_path())
        .env("TEE_ATTEST_TEE", "azure-snp")
        .env("TSS2_LOG", "all+none");
    if trust_mock {
        c.env("TEE_ATTEST_TRUST_MOCK", "1");
    } else {
        c.env_remove("TEE_ATTEST_TRUST_MOCK");
    }
    let Output {
        status,
        stdout,
        stderr,
    } = c.output().expect("run example");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    (status.code(), text)
}

fn cvm() -> MockAzureCvm {
    MockAzureCvm::start().expect("swtpm must be installed (cargo xtask deps)")
}

#[test]
fn scenario_1_platform_checker_passes_and_refuses() {
    let cvm = cvm();
    let (code, out) = run(&cvm, "platform_checker", &[], true);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("platform check: PASS"), "{out}");
    // Mock roots not trusted: attestation fails and the checker says so.
    let (code, out) = run(&cvm, "platform_checker", &[], false);
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("untrusted-root"), "{out}");
}

#[test]
fn scenario_2_workload_checks_before_it_starts() {
    let cvm = cvm();
    let (code, out) = run(&cvm, "workload", &[], true);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("started its real work"), "{out}");
    let (code, out) = run(&cvm, "workload", &[], false);
    assert_ne!(code, Some(0), "{out}");
    assert!(!out.contains("started its real work"), "{out}");
}

#[test]
fn scenario_3_relying_party_handshake() {
    let cvm = cvm();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let mut cfg = LocalVerifierConfig::new(&url);
    cfg.appraisers = tee_attest::verifiers::appraisers(true).unwrap();
    let verifier = Arc::new(LocalVerifier::new(cfg, TokenSigner::generate().unwrap()).unwrap());
    let state = ServiceState::new(verifier, dir.path()).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(serve(listener, state, async {
        let _ = rx.await;
    }));

    let (code, out) = run(&cvm, "relying_party", &[&url], true);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains("secret opened inside the vTPM"), "{out}");
    assert!(out.contains("replayed token -> 403"), "{out}");
    assert!(out.contains("handshake: OK"), "{out}");

    // The relying party refuses tokens from mock evidence unless told to trust mocks.
    let (code, out) = run(&cvm, "relying_party", &[&url], false);
    assert_eq!(code, Some(1), "{out}");

    let _ = tx.send(());
    rt.block_on(server).unwrap().unwrap();
}
