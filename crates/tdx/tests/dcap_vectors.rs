//! Full DCAP verification of the real vectors, as the table at the end of
//! `../shared/testvectors/PROVENANCE.md` says each can prove: full
//! verifications inside their windows, refusals today, the must-fail cases
//! naming their check, the signature-only cases.

use std::path::Path;
use std::sync::Arc;

use tee_attest_core::{CodedError, ErrorCode};
use tee_attest_tdx::collateral::{CollateralRequest, OfflineDir};
use tee_attest_tdx::pki::parse_pem_chain;
use tee_attest_tdx::{
    parse_rfc3339, Check, Collateral, CollateralChain, DcapVerifier, FixedClock, Quote, Revocation,
    TcbStatus, TdxError, Verdict, VerifyOptions,
};
use tee_attest_testkit::vector;

fn verifier_at(date: &str) -> DcapVerifier {
    let t = parse_rfc3339(date).expect("date");
    DcapVerifier::new()
        .expect("verifier")
        .with_clock(Arc::new(FixedClock(t)))
}

fn collateral(name: &str) -> Collateral {
    Collateral::from_dcap_qvl_json(&vector(name)).expect("collateral JSON")
}

#[track_caller]
fn refused(r: Result<Verdict, TdxError>) -> (Check, String) {
    match r {
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::AttestationFailed, "{e}");
            (
                e.check()
                    .unwrap_or_else(|| panic!("not a failed check: {e}")),
                e.to_string(),
            )
        }
        Ok(v) => panic!("accepted with status {}", v.status),
    }
}

/// The TCB signing chain (TCB Signing certificate of 2025-05-06 + root)
/// from the tdx-dcap collateral: the same key as the one that signed the
/// 2023 and the trustee collateral, which ship without their chain.
fn tcb_signing_chain_pem() -> Vec<u8> {
    collateral("tdx-dcap/collateral.json").tcb_info_issuer_chain
}

/// A temporary offline directory with these vectors (read in place, written
/// to a temporary directory outside the repository) and extra files.
fn offline_dir(files: &[&str], extra: &[(&str, Vec<u8>)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for f in files {
        let name = Path::new(f).file_name().expect("name");
        std::fs::write(dir.path().join(name), vector(f)).expect("write");
    }
    for (name, bytes) in extra {
        std::fs::write(dir.path().join(name), bytes).expect("write");
    }
    dir
}

fn request(quote: &[u8]) -> CollateralRequest {
    CollateralRequest::from_quote(&Quote::parse(quote).expect("quote")).expect("request")
}

#[test]
fn tdx_dcap_v4_is_up_to_date_inside_its_window() {
    let v = verifier_at("2025-06-20T00:00:00Z")
        .verify(
            &vector("tdx-dcap/quote.bin"),
            &collateral("tdx-dcap/collateral.json"),
            &VerifyOptions::default(),
        )
        .expect("verifies");
    assert_eq!(v.status, TcbStatus::UpToDate);
    assert_eq!(v.sgx_level_status, TcbStatus::UpToDate);
    assert_eq!(v.tdx_level_status, Some(TcbStatus::UpToDate));
    // TEE_TCB_SVN 06 01 …: module TDX_01, ISVSVN 6 ≥ 4 → UpToDate.
    assert_eq!(v.module_status, Some(TcbStatus::UpToDate));
    assert_eq!(v.qe_status, TcbStatus::UpToDate);
    assert!(v.advisory_ids.is_empty());
    assert_eq!(v.tcb_date_text, "2024-03-13T00:00:00Z");
    assert_eq!(v.tcb_evaluation_data_number, 17);
    assert_eq!(v.revocation, Revocation::Checked);
    assert_eq!(hex::encode_upper(v.pck.extensions.fmspc), "B0C06F000000");
    assert_eq!(v.pck.issuer_cn, "Intel SGX PCK Platform CA");
    assert!(v.is_tdx() && !v.is_debug());
    // The earliest nextUpdate: the PCK CRL's, before the TCB info's 2025-07-19T10:16:03Z.
    assert!(v.collateral_expiry <= parse_rfc3339("2025-07-19T10:16:03Z").expect("d"));
    assert!(v.collateral_expiry > v.verified_at);
    // The strict policy accepts it too.
    let strict = VerifyOptions {
        policy: tee_attest_tdx::Policy::strict(),
        ..VerifyOptions::default()
    };
    verifier_at("2025-06-20T00:00:00Z")
        .verify(
            &vector("tdx-dcap/quote.bin"),
            &collateral("tdx-dcap/collateral.json"),
            &strict,
        )
        .expect("strict policy");
}

/// The v5 (TD 1.5) "outdated" sample: every signature, chain, CRL and
/// window checks at 2026-02-19, but its PCK certificate's SGX TCB component
/// 8 (SEAMLDR ACM) is 3 and every level of its TCB info asks for at least 5.
/// Intel's library then selects no TCB level: STATUS_TCB_NOT_SUPPORTED, a
/// refusal, not OutOfDate. We follow Intel (dcap-qvl's matching refuses it
/// too: "No matching TCB level found").
#[test]
fn tdx_dcap_v5_outdated_has_no_matching_tcb_level_under_intels_rules() {
    let quote = vector("tdx-dcap/quote-outdated.bin");
    let q = Quote::parse(&quote).expect("parses");
    assert_eq!(q.header.version, 5);
    let chain = parse_pem_chain(q.pck_chain_pem().expect("chain"), "pck").expect("chain");
    assert_eq!(chain[0].sgx_extensions().expect("ext").tcb.comp_svn[7], 3);
    let (check, msg) = refused(verifier_at("2026-02-19T00:00:00Z").verify(
        &quote,
        &collateral("tdx-dcap/collateral-outdated.json"),
        &VerifyOptions::default(),
    ));
    assert_eq!(check, Check::TcbNotSupported, "{msg}");
    assert!(msg.contains("SGX components"), "{msg}");
}

#[test]
fn sgx_v3_is_configuration_and_sw_hardening_needed_with_advisories() {
    let v = verifier_at("2025-06-20T00:00:00Z")
        .verify(
            &vector("sgx-dcap/quote.bin"),
            &collateral("sgx-dcap/collateral.json"),
            &VerifyOptions::default(),
        )
        .expect("verifies");
    assert!(!v.is_tdx());
    assert_eq!(v.status, TcbStatus::ConfigurationAndSwHardeningNeeded);
    assert_eq!(v.qe_status, TcbStatus::UpToDate);
    assert_eq!(v.advisory_ids, vec!["INTEL-SA-00289", "INTEL-SA-00615"]);
    assert_eq!(v.tcb_date_text, "2024-03-13T00:00:00Z");
    assert_eq!(v.pck.issuer_cn, "Intel SGX PCK Processor CA");
    // The strict policy refuses it, naming the status.
    let (check, msg) = refused(verifier_at("2025-06-20T00:00:00Z").verify(
        &vector("sgx-dcap/quote.bin"),
        &collateral("sgx-dcap/collateral.json"),
        &VerifyOptions {
            policy: tee_attest_tdx::Policy::strict(),
            ..VerifyOptions::default()
        },
    ));
    assert_eq!(check, Check::TcbStatusPolicy);
    assert!(msg.contains("ConfigurationAndSWHardeningNeeded"), "{msg}");
}

#[test]
fn every_full_vector_is_refused_today_as_expired_collateral() {
    let v = DcapVerifier::new().expect("verifier");
    for (quote, coll) in [
        ("tdx-dcap/quote.bin", "tdx-dcap/collateral.json"),
        (
            "tdx-dcap/quote-outdated.bin",
            "tdx-dcap/collateral-outdated.json",
        ),
        ("sgx-dcap/quote.bin", "sgx-dcap/collateral.json"),
    ] {
        let (check, msg) =
            refused(v.verify(&vector(quote), &collateral(coll), &VerifyOptions::default()));
        assert_eq!(check, Check::TcbInfoExpired, "{quote}: {msg}");
    }
}

#[test]
fn the_2023_collateral_without_its_signing_certificate_is_refused_naming_the_check() {
    let quote = vector("tdx-go/tdx_prod_quote_SPR_E4.dat");
    let req = request(&quote);
    assert_eq!(req.fmspc_hex(), "50806F000000");
    // Read in place: the directory has no TCB signing chain at all.
    let c = OfflineDir::collateral_for(&tee_attest_testkit::vector_path("tdx-go"), &req)
        .expect("reads")
        .expect("TCB info and QE identity found");
    assert!(c.tcb_info_issuer_chain.is_empty());
    assert!(c.pck_crl.is_some() && c.root_ca_crl.is_some());
    let (check, msg) =
        refused(verifier_at("2023-06-20T00:00:00Z").verify(&quote, &c, &VerifyOptions::default()));
    assert_eq!(check, Check::TcbInfoChain, "{msg}");
    // With the only TCB signing certificate at hand (issued 2025-05-06).
    let dir = offline_dir(
        &[
            "tdx-go/sample_tcbInfo_response",
            "tdx-go/sample_qeIdentity_response",
            "tdx-go/pckcrl",
            "tdx-go/rootcrl.der",
            "tdx-go/verify_trusted_root.pem",
        ],
        &[("tcb-signing-chain.pem", tcb_signing_chain_pem())],
    );
    let c = OfflineDir::collateral_for(dir.path(), &req)
        .expect("reads")
        .expect("found");
    let (check, msg) =
        refused(verifier_at("2023-06-20T00:00:00Z").verify(&quote, &c, &VerifyOptions::default()));
    assert_eq!(check, Check::CertNotYetValid, "{msg}");
    assert!(msg.contains("Intel SGX TCB Signing"), "{msg}");
    let (check, msg) =
        refused(verifier_at("2025-05-07T00:00:00Z").verify(&quote, &c, &VerifyOptions::default()));
    assert_eq!(check, Check::TcbInfoExpired, "{msg}");
}

fn trustee_collateral() -> Collateral {
    let dir = offline_dir(
        &[
            "tdx-trustee/tcbInfo.json",
            "tdx-trustee/enclaveIdentity.json",
        ],
        &[("tcb-signing-chain.pem", tcb_signing_chain_pem())],
    );
    OfflineDir::collateral_for(dir.path(), &request(&vector("tdx-trustee/tdx_quote_6.dat")))
        .expect("reads")
        .expect("found")
}

#[test]
fn trustee_quote_6_verifies_only_with_the_no_revocation_data_option() {
    let quote = vector("tdx-trustee/tdx_quote_6.dat");
    let c = trustee_collateral();
    assert!(c.pck_crl.is_none() && c.root_ca_crl.is_none());
    let v = verifier_at("2025-10-28T12:00:00Z");
    let (check, msg) = refused(v.verify(&quote, &c, &VerifyOptions::default()));
    assert_eq!(check, Check::CrlMissing, "{msg}");
    let opts = VerifyOptions {
        accept_missing_revocation: true,
        ..VerifyOptions::default()
    };
    let verdict = v
        .verify(&quote, &c, &opts)
        .expect("verifies without revocation data");
    assert_eq!(
        verdict.revocation,
        Revocation::NotChecked(vec!["root CA CRL missing".into(), "PCK CRL missing".into()])
    );
    // TEE_TCB_SVN 05 03 02: module TDX_03.
    assert_eq!(
        verdict.tee_tcb_svn(),
        Some([5, 3, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    );
    assert!(verdict.module_status.is_some());
    // The PCK CRL at hand (June 2025) is out of date in October (the root
    // CA CRL still current): refused, unless the option accepts it,
    // recorded as such.
    let mut stale = c.clone();
    let june = collateral("tdx-dcap/collateral.json");
    stale.root_ca_crl = june.root_ca_crl.clone();
    stale.pck_crl = june.pck_crl.clone();
    stale.pck_crl_issuer_chain = june.pck_crl_issuer_chain.clone();
    let (check, msg) = refused(v.verify(&quote, &stale, &VerifyOptions::default()));
    assert_eq!(check, Check::CrlExpired, "{msg}");
    let verdict = v
        .verify(&quote, &stale, &opts)
        .expect("stale CRLs accepted by the option");
    assert_eq!(
        verdict.revocation,
        Revocation::NotChecked(vec!["PCK CRL out of date".into()])
    );
}

/// A time inside the PCK chain's windows of a quote.
fn inside_pck_window(quote: &[u8]) -> u64 {
    let q = Quote::parse(quote).expect("parses");
    let chain = parse_pem_chain(q.pck_chain_pem().expect("chain"), "pck").expect("chain");
    chain.iter().map(|c| c.not_before()).max().unwrap_or(0) + 86_400
}

#[test]
fn signature_only_vectors_verify_and_lack_collateral_offline() {
    for name in [
        "tdx-trustee/tdx_quote_4.dat",
        "tdx-trustee/tdx_quote_5.dat",
        "tdx-go/quote_v5_sample.dat",
        "tdx-go/ccel_cos-113-tdx-quote.dat",
        "tdx-go/tdx_prod_quote_SPR_E4.dat",
        "tdx-dcap/quote.bin",
        "tdx-dcap/quote-outdated.bin",
        "tdx-trustee/tdx_quote_6.dat",
        "sgx-dcap/quote.bin",
    ] {
        let quote = vector(name);
        let v = DcapVerifier::new()
            .expect("verifier")
            .with_clock(Arc::new(FixedClock(inside_pck_window(&quote))));
        v.verify_signatures(&quote)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // No collateral for them offline: code 17.
    let empty = tempfile::tempdir().expect("tempdir");
    let chain = CollateralChain::new().with_source(Arc::new(OfflineDir::new(empty.path())));
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    for name in ["tdx-trustee/tdx_quote_4.dat", "tdx-trustee/tdx_quote_5.dat"] {
        let e = rt
            .block_on(chain.resolve(&request(&vector(name))))
            .expect_err("no collateral");
        assert_eq!(e.code(), ErrorCode::EmptyVcekCert, "{name}: {e}");
    }
}

#[test]
fn a_pck_chain_outside_its_window_is_refused() {
    let quote = vector("tdx-dcap/quote.bin");
    let v = verifier_at("2020-01-01T00:00:00Z");
    let e = v.verify_signatures(&quote).expect_err("PCK not yet valid");
    assert_eq!(e.check(), Some(Check::CertNotYetValid), "{e}");
}

/// `verify` remembers prepared collateral: the second verification with the
/// same collateral gives the same verdict, the windows are still checked at
/// the clock's time (a clone on another clock shares the memo and refuses),
/// and collateral differing in one signed byte is checked afresh and
/// refused — a memo hit never stands in for different bytes.
#[test]
fn remembered_collateral_is_keyed_by_every_byte_and_windows_are_checked_each_time() {
    let quote = vector("tdx-dcap/quote.bin");
    let good = collateral("tdx-dcap/collateral.json");
    let v = verifier_at("2025-06-20T00:00:00Z");
    let first = v
        .verify(&quote, &good, &VerifyOptions::default())
        .expect("verifies");
    let again = v
        .verify(&quote, &good, &VerifyOptions::default())
        .expect("verifies again");
    assert_eq!(first.status, again.status);
    assert_eq!(first.collateral_expiry, again.collateral_expiry);
    assert_eq!(
        format!("{:?}", first.collateral_hashes),
        format!("{:?}", again.collateral_hashes),
        "the same collateral hashes"
    );
    // Same memo, a clock after the windows: refused.
    let later = v.clone().with_clock(Arc::new(FixedClock(
        parse_rfc3339("2026-12-01T00:00:00Z").expect("d"),
    )));
    let (check, _) = refused(later.verify(&quote, &good, &VerifyOptions::default()));
    assert!(check.name().ends_with("expired"), "{check:?}");
    // One byte of the TCB info's signature changed: prepared afresh, refused.
    let mut bad = good.clone();
    if let Some(t) = bad.tcb_info.as_mut() {
        t.signature[10] ^= 1;
    }
    let (check, _) = refused(v.verify(&quote, &bad, &VerifyOptions::default()));
    assert_eq!(check, Check::TcbInfoSignature);
    // The same for the QE identity's body.
    let mut bad = good.clone();
    if let Some(q) = bad.qe_identity.as_mut() {
        q.body = q.body.replacen("\"version\":2", "\"version\":2 ", 1);
    }
    let (check, _) = refused(v.verify(&quote, &bad, &VerifyOptions::default()));
    assert_eq!(check, Check::QeIdentitySignature);
    // And the good collateral still verifies afterwards.
    v.verify(&quote, &good, &VerifyOptions::default())
        .expect("still verifies");
}
