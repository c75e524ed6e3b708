//! The TDX backends end to end as separate processes: `mock up --tee tdx`
//! (a bare-metal TDX guest: configfs-tsm emulated with FUSE, TD quotes of
//! the stored mock Intel platform, a CC event log) and `mock up --tee
//! azure-tdx` (a mock Azure TDX CVM: swtpm behind the mock HCL writing TDX
//! HCL reports, a loopback IMDS `/acc/tdquote`), then `attest --tee
//! tdx|azure-tdx --trust-mock` through the embedded local verifier, which
//! trusts the stored mock Intel root and takes collateral from
//! `MockCollateralSource` only when told to.
//!
//! Then, in process, against the same mocks: evidence the real providers
//! gather, appraised by the local verifier the CLI uses, with one piece
//! tampered at a time — each refused by the check that names it.
//! Everything is on 127.0.0.1: nothing reaches Azure IMDS or Intel.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use tee_attest::VerifierOptions;
use tee_attest_azure::provider::{AzureTdxConfig, AzureTdxProvider};
use tee_attest_core::{
    AttestationToken, Error, ErrorCode, Evidence, EvidenceProvider, EvidenceRequest, Verifier,
    VerifyOptions,
};
use tee_attest_mock::intel::{MockCcEventLog, MockIntelPlatform};
use tee_attest_tdx_guest::{TdxGuestConfig, TdxGuestProvider};

mod common;

use common::{cli, ok, serve, Mock};

/// `attest` without the mock roots trusted: refused, code 6, naming the
/// untrusted root.
fn refused_without_trust(m: &Mock, tee: &str) {
    let out = m
        .cli_without(&["TEE_ATTEST_TRUST_MOCK"])
        .args(["attest", "--tee", tee, "--data-dir", &m.data_dir()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(6), "{stderr}");
    assert!(stderr.contains("untrusted-root"), "{stderr}");
}

fn hex48(b: &[u8; 48]) -> Value {
    Value::from(hex::encode(b))
}

/// The local verifier `attest --trust-mock` uses (a fresh signing key).
fn local_verifier() -> Arc<dyn Verifier> {
    let mut opts = VerifierOptions::default();
    opts.data_dir = None;
    opts.trust_mock = true;
    tee_attest::verifiers::local_verifier(&opts).unwrap()
}

/// The challenge for `nonce`, the evidence `provider` gathers for it, and
/// the options that verify it.
async fn gather(
    verifier: &dyn Verifier,
    provider: &dyn EvidenceProvider,
    nonce: &str,
) -> (Evidence, VerifyOptions) {
    let payload = BTreeMap::from([
        ("nonce".to_string(), nonce.to_string()),
        ("app".to_string(), "tamper".to_string()),
    ]);
    let c = verifier
        .challenge(provider.evidence_type(), nonce.as_bytes(), &payload)
        .await
        .unwrap();
    let mut req = EvidenceRequest::with_nonce(c.nonce.clone());
    req.runtime_data = c.runtime_data;
    req.runtime_data_json = c.runtime_data_json;
    req.report_data = Some(c.report_data);
    req.client_payload = payload;
    let evidence = provider.evidence(&req).await.unwrap();
    let mut opts = VerifyOptions::default();
    opts.nonce = Some(c.nonce);
    (evidence, opts)
}

/// Asserts a refusal with code 6 naming `check`.
fn refused_by(result: Result<AttestationToken, Error>, check: &str) {
    let err = result.expect_err("tampered evidence must be refused");
    assert_eq!(err.code(), ErrorCode::AttestationFailed, "{err}");
    let text = err.full_message();
    assert!(
        text.contains(&format!("`{check}`")) || text.contains(&format!(": {check}: ")),
        "expected check {check}: {text}"
    );
}

/// A byte of the quote's REPORTDATA (TD body offset 520, after the 48-byte
/// header of a v4 quote) flipped.
fn flip_quote(e: &Evidence) -> Evidence {
    let mut e = e.clone();
    e.hardware_report[48 + 520] ^= 0x01;
    e
}

#[test]
fn a_bare_metal_tdx_guest_attests_through_the_registry() {
    let m = Mock::up("tdx");
    let tsm = m.var("TEE_ATTEST_TSM_ROOT");
    let ccel = m.var("TEE_ATTEST_CCEL_ROOT");
    assert_eq!(m.var("TEE_ATTEST_TEE"), "tdx");
    assert!(PathBuf::from(&ccel).join("CCEL").is_file());

    // Embedded verifier, mock roots trusted (the flag, and the export).
    let out = m.run(&[
        "attest",
        "--tee",
        "tdx",
        "--trust-mock",
        "--data-dir",
        &m.data_dir(),
        "--payload",
        r#"{"Nonce":"bare-tdx-1","app":"demo"}"#,
    ]);
    let token = AttestationToken::parse(&ok(&out)).unwrap();
    assert_eq!(token.attestation_type(), Some("tdxvm"));
    assert_eq!(
        token.claim("x-ms-attestation-type"),
        Some(&Value::from("tdxvm"))
    );
    assert_eq!(token.nonce(), Some("bare-tdx-1"));
    assert!(token.is_mock_evidence());
    let platform = MockIntelPlatform::stored().unwrap();
    assert_eq!(token.claim("tdx_mrtd"), Some(&hex48(&platform.td().mr_td)));
    // The mock TD's RTMRs are the replay of the CC event log it wrote.
    let rtmrs = MockCcEventLog::firmware().rtmrs();
    assert_eq!(token.claim("tdx_rtmr0"), Some(&hex48(&rtmrs[0])));
    assert_eq!(token.claim("tdx_rtmr2"), Some(&hex48(&rtmrs[2])));
    assert_eq!(token.claim("x-ms-runtime.app"), Some(&Value::from("demo")));
    assert!(token.claim("x-ms-compliance-status").is_none());
    refused_without_trust(&m, "tdx");

    // In process, against the same mock guest: tampered pieces.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let provider = TdxGuestProvider::new(
            TdxGuestConfig::default()
                .with_tsm_root(&tsm)
                .with_ccel_root(&ccel)
                .with_dev_root(m.dir.path().join("dev")),
        );
        let verifier = local_verifier();
        let (e, opts) = gather(verifier.as_ref(), &provider, "bare-tdx-2").await;
        assert!(
            e.event_log.is_some(),
            "the CC event log goes with the quote"
        );
        let token = verifier.verify(&e, &opts).await.unwrap();
        assert_eq!(token.nonce(), Some("bare-tdx-2"));

        // A quote byte flipped: its signature.
        refused_by(
            verifier.verify(&flip_quote(&e), &opts).await,
            "quote.signature",
        );
        // Other runtime data than the quote binds.
        let mut other = e.clone();
        other.runtime_data = br#"{"nonce":"bare-tdx-2","app":"other"}"#.to_vec();
        refused_by(verifier.verify(&other, &opts).await, "runtime-data.binding");
        // Another nonce expected than the evidence binds.
        let mut another = opts.clone();
        another.nonce = Some(b"another-nonce".to_vec());
        refused_by(verifier.verify(&e, &another).await, "nonce");
        // The evidence relabelled with that nonce: not bound by the quote.
        let mut relabelled = e.clone();
        relabelled.nonce = b"another-nonce".to_vec();
        refused_by(
            verifier.verify(&relabelled, &another).await,
            "nonce.binding",
        );
    });
}

#[test]
fn an_azure_tdx_cvm_attests_through_the_registry() {
    let m = Mock::up("azure-tdx");
    let imds = m.var("TEE_ATTEST_IMDS_URL");
    assert!(imds.starts_with("http://127.0.0.1:"), "{imds}");
    assert_eq!(m.var("TEE_ATTEST_TEE"), "azure-tdx");

    let out = m.run(&[
        "attest",
        "--tee",
        "azure-tdx",
        "--trust-mock",
        "--data-dir",
        &m.data_dir(),
        "--payload",
        r#"{"Nonce":"azure-tdx-1","app":"demo"}"#,
    ]);
    let token = AttestationToken::parse(&ok(&out)).unwrap();
    assert_eq!(
        token.claim("x-ms-attestation-type"),
        Some(&Value::from("azurevm"))
    );
    assert_eq!(
        token.claim("x-ms-isolation-tee.x-ms-attestation-type"),
        Some(&Value::from("tdxvm"))
    );
    let platform = MockIntelPlatform::stored().unwrap();
    assert_eq!(
        token.claim("x-ms-isolation-tee.tdx_mrtd"),
        Some(&hex48(&platform.td().mr_td))
    );
    assert_eq!(token.nonce(), Some("azure-tdx-1"));
    assert!(token.is_mock_evidence());
    assert!(token
        .claim("x-ms-isolation-tee.x-ms-compliance-status")
        .is_none());
    assert!(
        token.claim("x-ms-runtime.keys").is_some(),
        "the vTPM's ephemeral key"
    );
    assert_eq!(token.claim("secureboot"), Some(&Value::Bool(true)));
    refused_without_trust(&m, "azure-tdx");

    // In process, against the same mock CVM: tampered pieces.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let mut cfg = AzureTdxConfig::default();
        cfg.tcti = Some(m.var("TEE_ATTEST_TCTI"));
        cfg.imds_url = imds.clone();
        cfg.event_log = m.var("TEE_ATTEST_EVENT_LOG").into();
        let provider = AzureTdxProvider::new(cfg).unwrap();
        let verifier = local_verifier();
        let (e, opts) = gather(verifier.as_ref(), &provider, "azure-tdx-2").await;
        let token = verifier.verify(&e, &opts).await.unwrap();
        assert_eq!(token.nonce(), Some("azure-tdx-2"));

        // A quote byte flipped: its signature.
        refused_by(
            verifier.verify(&flip_quote(&e), &opts).await,
            "quote.signature",
        );
        // The HCL variable data changed: the TDREPORT no longer binds it.
        let mut var = e.clone();
        let text = String::from_utf8(var.runtime_data.clone()).unwrap();
        var.runtime_data = text
            .replace("\"secure-boot\":true", "\"secure-boot\":false")
            .into_bytes();
        assert_ne!(var.runtime_data, e.runtime_data);
        refused_by(verifier.verify(&var, &opts).await, "hcl.binding");
        // Another nonce expected than the evidence binds.
        let mut another = opts.clone();
        another.nonce = Some(b"another-nonce".to_vec());
        refused_by(verifier.verify(&e, &another).await, "nonce");
        // The evidence relabelled with that nonce: the TPM quote binds ours.
        let mut relabelled = e.clone();
        relabelled.nonce = b"another-nonce".to_vec();
        relabelled.client_payload.remove("nonce");
        refused_by(verifier.verify(&relabelled, &another).await, "quote.nonce");
    });
}

/// Through `serve` with the MAA client: bare-metal TDX goes to
/// `/attest/TdxVm`, Azure TDX to `/attest/AzureGuest` (sealed to the vTPM's
/// ephemeral key); a relying party validates each token against the
/// service's keys, and the service refuses both without trusting the mock.
#[test]
fn tdx_and_azure_tdx_attest_through_serve_with_the_maa_client() {
    for (tee, attestation_type, nonce) in [
        ("tdx", "tdxvm", "via-tdx-vm"),
        ("azure-tdx", "azurevm", "via-azure-guest-tdx"),
    ] {
        let m = Mock::up(tee);
        let (_serve, url) = serve(m.dir.path(), &["--trust-mock"]);
        let out = m.run(&[
            "attest",
            "--tee",
            tee,
            "--verifier",
            &format!("maa={url}"),
            "--payload",
            &format!(r#"{{"Nonce":"{nonce}"}}"#),
        ]);
        let raw = ok(&out);
        let token = AttestationToken::parse(raw.trim()).unwrap();
        assert_eq!(token.attestation_type(), Some(attestation_type), "{tee}");
        assert_eq!(token.nonce(), Some(nonce), "{tee}");
        let mrtd = if tee == "tdx" {
            &token.claims()["tdx_mrtd"]
        } else {
            &token.claims()["x-ms-isolation-tee"]["tdx_mrtd"]
        };
        assert!(
            mrtd.as_str().is_some_and(|s| s.len() == 96),
            "{tee}: {mrtd}"
        );
        let token_file = m.dir.path().join("t.jwt");
        std::fs::write(&token_file, raw.trim()).unwrap();
        let out = cli()
            .args(["token", "verify"])
            .arg(&token_file)
            .args(["--issuer", &url, "--allow-mock", "--nonce", nonce])
            .output()
            .unwrap();
        ok(&out);
        // A service that does not trust the mock Intel root refuses it.
        drop(_serve);
        let strict_dir = m.dir.path().join("strict");
        let (_strict, strict_url) = serve(&strict_dir, &[]);
        let out = m.run(&[
            "attest",
            "--tee",
            tee,
            "--verifier",
            &format!("maa={strict_url}"),
        ]);
        assert_eq!(
            out.status.code(),
            Some(6),
            "{tee}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("untrusted-root"),
            "{tee}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
