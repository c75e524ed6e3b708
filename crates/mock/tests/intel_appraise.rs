//! The stored mock Intel platform through the TdxVm and SgxEnclave
//! appraisers: accepted (and marked mock) only when its root is trusted
//! explicitly, with collateral from [`MockCollateralSource`]; runtime data
//! and nonce bound as MAA binds them.

use std::sync::Arc;

use tee_attest_core::{Appraiser, ErrorCode, Evidence, TeeId, MOCK_EVIDENCE_CLAIM};
use tee_attest_mock::intel::{MockCollateralSource, MockIntelPlatform};
use tee_attest_tdx::{
    CollateralChain, DcapAppraiser, DcapTrust, VerifyOptions, SGX_ENCLAVE, TDX_VM,
};

fn trust(extra: bool) -> Arc<DcapTrust> {
    let p = MockIntelPlatform::stored().expect("platform");
    let roots = if extra {
        vec![p.root_der().to_vec()]
    } else {
        vec![]
    };
    let chain = CollateralChain::new().with_source(Arc::new(MockCollateralSource::new(p)));
    Arc::new(DcapTrust::new(&roots, chain, VerifyOptions::default()).expect("trust"))
}

fn sha256(b: &[u8]) -> Vec<u8> {
    aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, b)
        .as_ref()
        .to_vec()
}

fn evidence(t: tee_attest_core::EvidenceType, quote: Vec<u8>, runtime: &[u8]) -> Evidence {
    let mut e = Evidence::new(TeeId::new("mock-tdx"), t);
    e.hardware_report = quote;
    e.runtime_data = runtime.to_vec();
    e.runtime_data_json = true;
    e
}

#[test]
fn the_stored_platform_is_the_same_in_every_call_and_named_by_trust_roots() {
    let a = MockIntelPlatform::stored().expect("a");
    let b = MockIntelPlatform::from_seed(tee_attest_mock::intel::STORED_SEED).expect("b");
    assert_eq!(a.root_der(), b.root_der(), "seeded: byte-identical");
    assert_eq!(
        tee_attest_mock::trust_roots().expect("roots").intel_root,
        a.root_der()
    );
}

#[test]
fn mock_tdx_quotes_are_appraised_only_under_the_trusted_mock_root() {
    let p = MockIntelPlatform::stored().expect("platform");
    let runtime = br#"{"nonce":"n-1","key":"k"}"#;
    let mut td = p.td();
    td.report_data[..32].copy_from_slice(&sha256(runtime));
    for quote in [
        p.tdx_quote_v4(&td).expect("v4"),
        p.tdx_quote_v5(&td).expect("v5"),
    ] {
        let a = DcapAppraiser::tdx_vm(trust(true));
        let mut e = evidence(TDX_VM, quote.clone(), runtime);
        e.nonce = b"n-1".to_vec();
        let ok = a.appraise(&e, Some(b"n-1")).expect("appraised");
        assert!(ok.mock);
        assert_eq!(ok.claims[MOCK_EVIDENCE_CLAIM], true);
        assert_eq!(ok.claims["attester_tcb_status"], "UpToDate");
        assert_eq!(ok.claims["x-ms-runtime"]["key"], "k");
        assert_eq!(ok.claims["nonce"], "n-1");
        assert_eq!(ok.claims["tdx_mrtd"], hex::encode(td.mr_td));
        assert!(!ok.claims.contains_key("x-ms-compliance-status"));

        // Without the explicit trust: refused naming the root.
        let e = evidence(TDX_VM, quote.clone(), runtime);
        let err = DcapAppraiser::tdx_vm(trust(false))
            .appraise(&e, None)
            .expect_err("untrusted");
        assert_eq!(err.code(), ErrorCode::AttestationFailed);
        assert!(err.to_string().contains("untrusted-root"), "{err}");

        // Other runtime data than the quote binds.
        let e = evidence(TDX_VM, quote, br#"{"nonce":"n-2"}"#);
        let err = a.appraise(&e, None).expect_err("unbound");
        assert!(err.to_string().contains("runtime-data.binding"), "{err}");
    }
}

#[test]
fn mock_sgx_quotes_carry_the_enclave_held_data() {
    let p = MockIntelPlatform::stored().expect("platform");
    let ehd = b"enclave held data";
    let mut enclave = p.enclave();
    enclave.report_data[..32].copy_from_slice(&sha256(ehd));
    let quote = p.sgx_quote_v3(&enclave).expect("quote");
    let a = DcapAppraiser::sgx_enclave(trust(true));
    let mut e = evidence(SGX_ENCLAVE, quote, ehd);
    e.runtime_data_json = false;
    let ok = a.appraise(&e, None).expect("appraised");
    assert!(ok.mock);
    assert_eq!(ok.claims["x-ms-sgx-ehd"], "ZW5jbGF2ZSBoZWxkIGRhdGE");
    assert_eq!(
        ok.claims["x-ms-sgx-mrenclave"],
        hex::encode(enclave.mr_enclave)
    );
    assert_eq!(ok.claims["sgx-mrsigner"], hex::encode(enclave.mr_signer));
    assert_eq!(ok.claims["x-ms-sgx-is-debuggable"], false);
}

/// A CCEL event log sent with a TD quote must replay to its RTMRs: the
/// mock firmware log does; one more event makes it refused (`rtmr`).
#[test]
fn a_ccel_event_log_sent_with_the_quote_must_replay_to_its_rtmrs() {
    use tee_attest_mock::intel::MockCcEventLog;
    let p = MockIntelPlatform::stored().expect("platform");
    let log = MockCcEventLog::firmware();
    let mut td = p.td();
    td.rtmr = log.rtmrs();
    let quote = p.tdx_quote_v4(&td).expect("quote");
    let a = DcapAppraiser::tdx_vm(trust(true));
    let mut e = evidence(TDX_VM, quote.clone(), b"");
    e.event_log = Some(log.log_area());
    a.appraise(&e, None).expect("the log replays");

    let mut longer = MockCcEventLog::firmware();
    longer.event(3, 0x8000_0001, b"an event the quote does not measure");
    e.event_log = Some(longer.log_area());
    let err = a.appraise(&e, None).expect_err("refused");
    assert!(err.to_string().contains("rtmr"), "{err}");
    // A log that does not parse is refused too (code 20), not ignored.
    e.event_log = Some(vec![0x42; 64]);
    let err = a.appraise(&e, None).expect_err("garbage");
    assert_eq!(err.code(), ErrorCode::ReportParsingFailed, "{err}");
}
