//! The TdxVm and SgxEnclave appraisers on the real vectors, at a time
//! inside their collateral windows: claims in MAA's names, every refusal
//! named.

use std::sync::Arc;

use tee_attest_core::{Appraiser, ErrorCode, Evidence, TeeId};
use tee_attest_tdx::collateral::OfflineDir;
use tee_attest_tdx::{
    parse_rfc3339, Collateral, CollateralChain, DcapAppraiser, DcapTrust, FixedClock,
    VerifyOptions, SGX_ENCLAVE, TDX_VM,
};
use tee_attest_testkit::vector;

fn trust_at(date: &str, chain: CollateralChain) -> Arc<DcapTrust> {
    let t = parse_rfc3339(date).expect("date");
    Arc::new(
        DcapTrust::with_clock(
            &[],
            chain,
            VerifyOptions::default(),
            Arc::new(FixedClock(t)),
        )
        .expect("trust"),
    )
}

fn with(collateral: &str) -> CollateralChain {
    let c = Collateral::from_dcap_qvl_json(&vector(collateral)).expect("collateral");
    CollateralChain::standard(Some(c), None, None, None)
}

fn evidence(t: tee_attest_core::EvidenceType, quote: Vec<u8>) -> Evidence {
    let mut e = Evidence::new(TeeId::new("test"), t);
    e.hardware_report = quote;
    e
}

#[track_caller]
fn refused_with(r: tee_attest_core::Result<tee_attest_core::Appraisal>, check: &str) {
    match r {
        Ok(_) => panic!("accepted; expected {check}"),
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::AttestationFailed, "{e}");
            assert!(e.to_string().contains(check), "{check} not named in: {e}");
        }
    }
}

#[test]
fn tdx_vm_gives_maa_claims_and_refuses_what_it_must() {
    let a = DcapAppraiser::tdx_vm(trust_at(
        "2025-06-20T00:00:00Z",
        with("tdx-dcap/collateral.json"),
    ));
    assert_eq!(a.evidence_type(), TDX_VM);
    let quote = vector("tdx-dcap/quote.bin");
    let ok = a
        .appraise(&evidence(TDX_VM, quote.clone()), None)
        .expect("appraised");
    assert!(!ok.mock, "Intel's root");
    assert_eq!(ok.claims["attester_tcb_status"], "UpToDate");
    assert_eq!(ok.claims["x-ms-attestation-type"], "tdxvm");
    assert_eq!(
        ok.claims["eat_profile"],
        "https://aka.ms/maa-eat-profile-tdxvm"
    );
    assert_eq!(ok.claims["dbgstat"], "disabled");
    assert!(!ok.claims.contains_key(tee_attest_core::MOCK_EVIDENCE_CLAIM));

    // Runtime data its report data does not bind.
    let mut e = evidence(TDX_VM, quote.clone());
    e.runtime_data = b"{\"key\":1}".to_vec();
    e.runtime_data_json = true;
    refused_with(a.appraise(&e, None), "runtime-data.binding");
    // A nonce the evidence does not bind.
    let mut e = evidence(TDX_VM, quote.clone());
    e.nonce = b"fresh".to_vec();
    refused_with(a.appraise(&e, None), "nonce.binding");
    // Another nonce than the one expected.
    refused_with(
        a.appraise(&evidence(TDX_VM, quote.clone()), Some(b"n")),
        "nonce",
    );
    // An SGX quote as TdxVm, and SgxEnclave evidence given to it.
    refused_with(
        a.appraise(&evidence(TDX_VM, vector("sgx-dcap/quote.bin")), None),
        "evidence.type",
    );
    refused_with(
        a.appraise(&evidence(SGX_ENCLAVE, quote.clone()), None),
        "evidence.type",
    );
    // One signed byte changed.
    let mut bad = quote.clone();
    bad[48 + 136] ^= 1;
    refused_with(a.appraise(&evidence(TDX_VM, bad), None), "quote.signature");
    // Garbage: a parse error (20), not a panic.
    let e = a
        .appraise(&evidence(TDX_VM, vec![4u8; 64]), None)
        .expect_err("garbage");
    assert_eq!(e.code(), ErrorCode::ReportParsingFailed, "{e}");
}

#[test]
fn sgx_enclave_gives_the_sgx_claim_set_with_the_older_names() {
    let a = DcapAppraiser::sgx_enclave(trust_at(
        "2025-06-20T00:00:00Z",
        with("sgx-dcap/collateral.json"),
    ));
    assert_eq!(a.evidence_type(), SGX_ENCLAVE);
    let quote = vector("sgx-dcap/quote.bin");
    let ok = a
        .appraise(&evidence(SGX_ENCLAVE, quote.clone()), None)
        .expect("appraised");
    let c = &ok.claims;
    assert_eq!(
        c["attester_tcb_status"],
        "ConfigurationAndSWHardeningNeeded"
    );
    assert_eq!(c["x-ms-attestation-type"], "sgx");
    assert_eq!(c["x-ms-sgx-mrenclave"], hex::encode(&quote[112..144]));
    assert_eq!(c["sgx-mrenclave"], c["x-ms-sgx-mrenclave"]);
    assert_eq!(c["sgx-mrsigner"], c["x-ms-sgx-mrsigner"]);
    assert_eq!(c["is-debuggable"], c["x-ms-sgx-is-debuggable"]);
    assert_eq!(c["product-id"], c["x-ms-sgx-product-id"]);
    assert_eq!(c["svn"], c["x-ms-sgx-svn"]);
    assert_eq!(c["maa-attestationcollateral"], c["x-ms-sgx-collateral"]);
    assert_eq!(c["x-ms-sgx-ehd"], "", "no enclave held data");
    assert_eq!(c["tee"], "sgx");
    refused_with(
        a.appraise(&evidence(SGX_ENCLAVE, vector("tdx-dcap/quote.bin")), None),
        "evidence.type",
    );
}

#[test]
fn collateral_comes_from_the_sources_and_is_remembered_while_current() {
    // An offline directory holding the collateral: read once, then
    // remembered (the directory is removed and the appraisal still works).
    let dir = tempfile::tempdir().expect("dir");
    std::fs::write(
        dir.path().join("c.json"),
        vector("tdx-dcap/collateral.json"),
    )
    .expect("write");
    let chain = CollateralChain::new().with_source(Arc::new(OfflineDir::new(dir.path())));
    let a = DcapAppraiser::tdx_vm(trust_at("2025-06-20T00:00:00Z", chain));
    let e = evidence(TDX_VM, vector("tdx-dcap/quote.bin"));
    a.appraise(&e, None).expect("first");
    drop(dir);
    a.appraise(&e, None).expect("remembered");
    // No source has it: 17.
    let a = DcapAppraiser::tdx_vm(trust_at("2025-06-20T00:00:00Z", CollateralChain::new()));
    let err = a.appraise(&e, None).expect_err("no collateral");
    assert_eq!(err.code(), ErrorCode::EmptyVcekCert, "{err}");
    // Expired collateral is refused (today).
    let a = DcapAppraiser::tdx_vm(trust_at(
        "2026-12-01T00:00:00Z",
        with("tdx-dcap/collateral.json"),
    ));
    refused_with(a.appraise(&e, None), "expired");
}

#[tokio::test(flavor = "current_thread")]
async fn appraisal_works_from_inside_an_async_runtime() {
    let a = DcapAppraiser::tdx_vm(trust_at(
        "2025-06-20T00:00:00Z",
        with("tdx-dcap/collateral.json"),
    ));
    let ok = a
        .appraise(&evidence(TDX_VM, vector("tdx-dcap/quote.bin")), None)
        .expect("appraised");
    assert_eq!(ok.claims["attester_tcb_status"], "UpToDate");
}
