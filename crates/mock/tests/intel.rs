//! The mock Intel platform's evidence runs through the real DCAP code —
//! `Quote::parse`, `DcapVerifier`, the collateral sources — and is accepted
//! when, and only when, the mock root is trusted explicitly.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tee_attest_core::{CodedError, ErrorCode};
use tee_attest_mock::intel::{
    MockCollateralOptions, MockIntelConfig, MockIntelPlatform, MockPcs, MockTd, TdQuoteKind, DAY,
};
use tee_attest_tdx::collateral::{
    verify_with_collateral, CollateralRequest, CollateralSource, HttpConfig, OfflineDir, PckCa,
    Pcs, Tee,
};
use tee_attest_tdx::pki::parse_pem_chain;
use tee_attest_tdx::{
    claims_json, parse_rfc3339, Check, Collateral, CollateralChain, DcapVerifier, FixedClock,
    Policy, Quote, QuoteBody, Revocation, TcbStatus, TdReport, TdxError, Verdict, VerifyOptions,
};
use tee_attest_testkit::vector;
use x509_cert::der::{Decode, Tagged};

/// The time the tests verify at.
fn now() -> u64 {
    parse_rfc3339("2025-06-20T00:00:00Z").expect("date")
}

fn platform() -> &'static MockIntelPlatform {
    static P: OnceLock<MockIntelPlatform> = OnceLock::new();
    P.get_or_init(|| MockIntelPlatform::from_seed(b"tee-attest intel tests").expect("platform"))
}

fn trusting(at: u64) -> DcapVerifier {
    DcapVerifier::with_root_der(platform().root_der())
        .expect("mock root")
        .with_clock(Arc::new(FixedClock(at)))
}

fn genuine(at: u64) -> DcapVerifier {
    DcapVerifier::new()
        .expect("Intel root")
        .with_clock(Arc::new(FixedClock(at)))
}

fn collateral(tee: Tee, o: &MockCollateralOptions) -> Collateral {
    platform().collateral(tee, o).expect("collateral")
}

#[track_caller]
fn refused(r: Result<Verdict, TdxError>) -> Check {
    match r {
        Err(e) => {
            assert_eq!(e.code(), ErrorCode::AttestationFailed, "{e}");
            e.check()
                .unwrap_or_else(|| panic!("not a failed check: {e}"))
        }
        Ok(v) => panic!("accepted with status {}", v.status),
    }
}

fn td_with(report_data: [u8; 64]) -> MockTd {
    MockTd {
        report_data,
        mr_td: [0x3D; 48],
        rtmr: [[0x10; 48], [0x11; 48], [0x12; 48], [0x13; 48]],
        mr_config_id: [0xC1; 48],
        ..platform().td()
    }
}

/// Each kind of mock quote with its TEE.
fn quotes() -> Vec<(&'static str, Tee, Vec<u8>)> {
    let p = platform();
    let td = td_with([0xAB; 64]);
    let enclave = tee_attest_mock::intel::MockEnclave {
        report_data: [0xAB; 64],
        ..p.enclave()
    };
    vec![
        ("TDX v4", Tee::Tdx, p.tdx_quote_v4(&td).expect("v4")),
        ("TDX v5 TD 1.5", Tee::Tdx, p.tdx_quote_v5(&td).expect("v5")),
        (
            "TDX v5 TD 1.0",
            Tee::Tdx,
            p.tdx_quote(&td, TdQuoteKind::V5Td10).expect("v5 td10"),
        ),
        ("SGX v3", Tee::Sgx, p.sgx_quote_v3(&enclave).expect("v3")),
    ]
}

#[test]
fn mock_quotes_parse_as_intel_lays_them_out() {
    let p = platform();
    let td = td_with([0x42; 64]);
    let v4 = Quote::parse(&p.tdx_quote_v4(&td).expect("v4")).expect("parses");
    assert_eq!(v4.header.version, 4);
    assert!(v4.is_tdx());
    assert_eq!(v4.signed_bytes().len(), 48 + 584);
    let body = v4.body.td().expect("TD body");
    assert_eq!(body.mr_td, td.mr_td);
    assert_eq!(body.rtmr, td.rtmr);
    assert_eq!(body.report_data, [0x42; 64]);
    assert_eq!(body.td_attributes, td.td_attributes);
    let qe = v4.qe_certification().expect("type 6");
    assert_eq!(qe.qe_auth_data, (0u8..32).collect::<Vec<_>>());
    assert_eq!(qe.qe_report.isv_prod_id, 2);
    assert_eq!(qe.certification.cert_type(), 5);
    assert_eq!(v4.declared_len(), v4.raw().len());
    let chain = parse_pem_chain(v4.pck_chain_pem().expect("chain"), "chain").expect("PEM");
    let cns: Vec<&str> = chain.iter().map(|c| c.subject_cn()).collect();
    assert_eq!(
        cns,
        [
            "Mock Intel SGX PCK Certificate",
            "Mock Intel SGX PCK Platform CA",
            "Mock Intel SGX Root CA"
        ]
    );
    let ext = chain[0].sgx_extensions().expect("SGX extensions");
    let c = p.config();
    assert_eq!(ext.fmspc, c.fmspc);
    assert_eq!(ext.pce_id, c.pce_id);
    assert_eq!(ext.ppid, c.ppid);
    assert_eq!(ext.tcb.comp_svn, c.sgx_tcb_components);
    assert_eq!(ext.tcb.pce_svn, c.pce_svn);
    assert_eq!(ext.tcb.cpu_svn, c.cpu_svn);
    assert_eq!(ext.sgx_type, 1);
    assert_eq!(ext.platform_instance_id, Some(c.platform_instance_id));

    let v5 = Quote::parse(&p.tdx_quote_v5(&td).expect("v5")).expect("parses");
    assert_eq!(v5.header.version, 5);
    assert_eq!(v5.signed_bytes().len(), 48 + 6 + 648);
    match &v5.body {
        QuoteBody::Td15(t) => {
            assert_eq!(t.base.mr_td, td.mr_td);
            assert_eq!(t.tee_tcb_svn2, td.tee_tcb_svn2);
            assert_eq!(t.mr_service_td, [0; 48]);
        }
        other => panic!("not a TD 1.5 body: {other:?}"),
    }
    let sgx = Quote::parse(&p.sgx_quote_v3(&p.enclave()).expect("v3")).expect("parses");
    assert_eq!(sgx.header.version, 3);
    assert!(!sgx.is_tdx());
    assert_eq!(
        sgx.header.reserved,
        [8, 0, 13, 0],
        "QE SVN and PCE SVN in the v3 header"
    );
    assert_eq!(
        sgx.qe_certification()
            .expect("QE part")
            .qe_report
            .isv_prod_id,
        1
    );
}

#[test]
fn mock_quotes_verify_up_to_date_only_under_the_explicitly_trusted_mock_root() {
    let o = MockCollateralOptions::at(now());
    for (name, tee, quote) in quotes() {
        let c = collateral(tee, &o);
        let v = trusting(now())
            .verify(&quote, &c, &VerifyOptions::default())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.status, TcbStatus::UpToDate, "{name}");
        assert_eq!(v.qe_status, TcbStatus::UpToDate, "{name}");
        assert_eq!(v.revocation, Revocation::Checked, "{name}");
        assert_eq!(*v.body.report_data(), [0xAB; 64], "{name}");
        assert_eq!(v.collateral_source, "mock");
        assert_eq!(v.pck.issuer_cn, "Mock Intel SGX PCK Platform CA");
        assert_eq!(v.tcb_evaluation_data_number, 17);
        assert!(v.advisory_ids.is_empty(), "{name}: {:?}", v.advisory_ids);
        if tee == Tee::Tdx {
            assert_eq!(v.tdx_level_status, Some(TcbStatus::UpToDate), "{name}");
            assert_eq!(v.module_status, Some(TcbStatus::UpToDate), "{name}");
        }
        // The strict policy and the expected report data pass too.
        let strict = VerifyOptions {
            policy: Policy::strict(),
            expected_report_data: Some(vec![0xAB; 64]),
            ..VerifyOptions::default()
        };
        trusting(now())
            .verify(&quote, &c, &strict)
            .unwrap_or_else(|e| panic!("{name} strict: {e}"));
        let wrong = VerifyOptions {
            expected_report_data: Some(vec![0xAC; 64]),
            ..VerifyOptions::default()
        };
        assert_eq!(
            refused(trusting(now()).verify(&quote, &c, &wrong)),
            Check::ReportData
        );
        // Signatures alone, under the mock root.
        trusting(now())
            .verify_signatures(&quote)
            .unwrap_or_else(|e| panic!("{name} signatures: {e}"));

        // The genuine Intel root refuses the mock, with and without collateral.
        assert_eq!(
            refused(genuine(now()).verify(&quote, &c, &VerifyOptions::default())),
            Check::UntrustedRoot,
            "{name}"
        );
        let e = genuine(now())
            .verify_signatures(&quote)
            .expect_err("genuine root");
        assert_eq!(e.check(), Some(Check::UntrustedRoot), "{name}: {e}");
    }
}

#[test]
fn other_statuses_come_through() {
    let mut o = MockCollateralOptions::at(now());
    o.platform_status = TcbStatus::SwHardeningNeeded;
    o.platform_advisory_ids = vec!["INTEL-SA-00615".into()];
    o.qe_status = TcbStatus::OutOfDate;
    let (_, tee, quote) = quotes().remove(0);
    let v = trusting(now())
        .verify(&quote, &collateral(tee, &o), &VerifyOptions::default())
        .expect("verifies");
    assert_eq!(v.sgx_level_status, TcbStatus::SwHardeningNeeded);
    assert_eq!(v.qe_status, TcbStatus::OutOfDate);
    assert_eq!(v.status, TcbStatus::OutOfDate);
    assert_eq!(v.advisory_ids, vec!["INTEL-SA-00615".to_string()]);
    // A TD on an older module than the TCB info's falls to the old level.
    let old = MockTd {
        tee_tcb_svn: [5, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ..platform().td()
    };
    let q = platform().tdx_quote_v4(&old).expect("quote");
    let v = trusting(now())
        .verify(
            &q,
            &collateral(Tee::Tdx, &MockCollateralOptions::at(now())),
            &VerifyOptions::default(),
        )
        .expect("verifies");
    assert_eq!(v.status, TcbStatus::OutOfDate);
    assert_eq!(v.advisory_ids, vec!["INTEL-SA-00000".to_string()]);
    // A revoked module identity level is refused by the default policy.
    let mut o = MockCollateralOptions::at(now());
    o.module_status = TcbStatus::Revoked;
    let (_, tee, quote) = quotes().remove(0);
    assert_eq!(
        refused(trusting(now()).verify(&quote, &collateral(tee, &o), &VerifyOptions::default())),
        Check::TcbStatusPolicy
    );
    // Statuses a TCB info cannot carry are refused when building it.
    let mut o = MockCollateralOptions::at(now());
    o.platform_status = TcbStatus::TdRelaunchAdvised;
    assert!(platform().collateral(Tee::Tdx, &o).is_err());
}

#[test]
fn a_revoked_pck_or_pck_ca_is_refused() {
    let mut o = MockCollateralOptions::at(now());
    o.revoke_pck = true;
    for (name, tee, quote) in quotes() {
        assert_eq!(
            refused(trusting(now()).verify(
                &quote,
                &collateral(tee, &o),
                &VerifyOptions::default()
            )),
            Check::PckRevoked,
            "{name}"
        );
        // Listed is refused even when missing revocation data is accepted.
        let lax = VerifyOptions {
            accept_missing_revocation: true,
            ..VerifyOptions::default()
        };
        assert_eq!(
            refused(trusting(now()).verify(&quote, &collateral(tee, &o), &lax)),
            Check::PckRevoked,
            "{name}"
        );
    }
    let mut o = MockCollateralOptions::at(now());
    o.revoke_pck_ca = true;
    let (_, tee, quote) = quotes().remove(0);
    assert_eq!(
        refused(trusting(now()).verify(&quote, &collateral(tee, &o), &VerifyOptions::default())),
        Check::CaRevoked
    );
    // Without CRLs: refused, unless the caller accepts it (and is told).
    let mut c = collateral(tee, &MockCollateralOptions::at(now()));
    c.pck_crl = None;
    assert_eq!(
        refused(trusting(now()).verify(&quote, &c, &VerifyOptions::default())),
        Check::CrlMissing
    );
    let lax = VerifyOptions {
        accept_missing_revocation: true,
        ..VerifyOptions::default()
    };
    let v = trusting(now()).verify(&quote, &c, &lax).expect("lax");
    assert_eq!(
        v.revocation,
        Revocation::NotChecked(vec!["PCK CRL missing".into()])
    );
}

#[test]
fn out_of_window_times_are_refused() {
    let o = MockCollateralOptions::at(now());
    for (name, tee, quote) in quotes() {
        let c = collateral(tee, &o);
        assert_eq!(
            refused(trusting(now() + 30 * DAY).verify(&quote, &c, &VerifyOptions::default())),
            Check::TcbInfoExpired,
            "{name}"
        );
        assert_eq!(
            refused(trusting(now() - 2 * DAY).verify(&quote, &c, &VerifyOptions::default())),
            Check::TcbInfoNotYetValid,
            "{name}"
        );
    }
    // CRLs past their nextUpdate while TCB info and QE identity are current.
    let mut o = MockCollateralOptions::at(now());
    o.crl_next_update = now() - 1;
    o.crl_this_update = now() - 10 * DAY;
    let (_, tee, quote) = quotes().remove(0);
    assert_eq!(
        refused(trusting(now()).verify(&quote, &collateral(tee, &o), &VerifyOptions::default())),
        Check::CrlExpired
    );
    // Certificates outside their validity (the default PKI starts 2024).
    let before = parse_rfc3339("2023-12-30T00:00:00Z").expect("date");
    let c = collateral(tee, &MockCollateralOptions::at(before));
    assert_eq!(
        refused(trusting(before).verify(&quote, &c, &VerifyOptions::default())),
        Check::CertNotYetValid
    );
}

#[test]
fn every_flipped_byte_of_the_signed_parts_is_refused() {
    let o = MockCollateralOptions::at(now());
    let v = trusting(now());
    let mut tried = 0;
    for (name, tee, quote) in quotes() {
        let prepared = v.prepare(&collateral(tee, &o)).expect("prepared");
        let opts = VerifyOptions::default();
        v.verify_prepared(&quote, &prepared, &opts)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let q = Quote::parse(&quote).expect("parses");
        let signed = q.signed_bytes().len();
        let pem_at = quote
            .windows(11)
            .position(|w| w == b"-----BEGIN ")
            .expect("PEM");
        // The whole signed region of the TDX v4 quote; every 3rd byte of the
        // others; then the signature data (signature, attestation key, QE
        // report, its signature, auth data, lengths) every 2nd byte, and
        // the PCK chain every 37th.
        let step = if name == "TDX v4" { 1 } else { 3 };
        let offsets = (0..signed)
            .step_by(step)
            .chain((signed..pem_at).step_by(2))
            .chain((pem_at..quote.len()).step_by(37))
            .chain([quote.len() - 1]);
        for at in offsets {
            let mut bad = quote.clone();
            bad[at] ^= 0x01;
            assert!(
                v.verify_prepared(&bad, &prepared, &opts).is_err(),
                "{name}: flipping byte {at} was not noticed"
            );
            tried += 1;
        }
    }
    assert!(tried > 2000, "{tried}");
}

#[tokio::test]
async fn the_tdx_pcs_source_fetches_from_the_mock_pcs_and_verifies() {
    let p = platform();
    let pcs = MockPcs::start(p, &MockCollateralOptions::at(now())).expect("mock PCS");
    assert!(pcs.base_url().starts_with("http://127.0.0.1:"));
    let cfg = HttpConfig::fast(
        Duration::from_secs(5),
        2,
        Duration::from_millis(10),
        Duration::from_millis(50),
    );
    let source = Pcs::new(pcs.base_url(), cfg.clone()).expect("source");
    let chain = CollateralChain::standard(None, None, None, Some(source));
    for (name, _, quote) in quotes() {
        let v = verify_with_collateral(&trusting(now()), &quote, &chain, &VerifyOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.status, TcbStatus::UpToDate, "{name}");
        assert_eq!(v.revocation, Revocation::Checked, "{name}");
        assert_eq!(v.collateral_source, "pcs");
        // The genuine root refuses the same collateral.
        let e = verify_with_collateral(&genuine(now()), &quote, &chain, &VerifyOptions::default())
            .await
            .expect_err("genuine root");
        assert_eq!(e.check(), Some(Check::UntrustedRoot), "{name}: {e}");
    }
    let fmspc = hex::encode_upper(p.config().fmspc);
    let asked = pcs.requests();
    for want in [
        format!("/tdx/certification/v4/tcb?fmspc={fmspc}"),
        "/tdx/certification/v4/qe/identity".to_string(),
        format!("/sgx/certification/v4/tcb?fmspc={fmspc}"),
        "/sgx/certification/v4/qe/identity".to_string(),
        "/sgx/certification/v4/pckcrl?ca=platform&encoding=der".to_string(),
        "/sgx/certification/v4/rootcacrl".to_string(),
    ] {
        assert!(asked.contains(&want), "{want} not in {asked:?}");
    }
    // Intel's certificates-site path for the root CA CRL works too.
    let source = Pcs::new(pcs.base_url(), cfg.clone())
        .expect("source")
        .with_root_crl_url(pcs.root_crl_url());
    let req =
        CollateralRequest::from_quote(&Quote::parse(&quotes()[0].2).expect("q")).expect("req");
    let c = source.fetch(&req).await.expect("fetch").expect("found");
    assert!(c.root_ca_crl.is_some() && c.pck_crl.is_some());
    // An FMSPC the PCS does not know is "nothing for it" (404).
    let other = CollateralRequest {
        fmspc: [1, 2, 3, 4, 5, 6],
        ..req.clone()
    };
    assert!(source.fetch(&other).await.expect("fetch").is_none());
    // A PCK from a Processor CA finds no CRL here: verification then needs
    // the caller's leave.
    let processor = CollateralRequest {
        ca: PckCa::Processor,
        ..req
    };
    let c = source
        .fetch(&processor)
        .await
        .expect("fetch")
        .expect("found");
    assert!(c.pck_crl.is_none());
}

#[tokio::test]
async fn the_offline_directory_reads_the_mock_pcs_responses() {
    let dir = tempfile::tempdir().expect("tempdir");
    platform()
        .write_offline_dir(dir.path(), &MockCollateralOptions::at(now()))
        .expect("written");
    let chain = CollateralChain::standard(None, None, Some(OfflineDir::new(dir.path())), None);
    for (name, _, quote) in quotes() {
        let v = verify_with_collateral(&trusting(now()), &quote, &chain, &VerifyOptions::default())
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(v.status, TcbStatus::UpToDate, "{name}");
        assert_eq!(v.revocation, Revocation::Checked, "{name}");
        assert_eq!(v.collateral_source, "offline");
    }
}

#[test]
fn claims_of_mock_quotes() {
    let o = MockCollateralOptions::at(now());
    let qs = quotes();
    let (_, tee, v4) = &qs[0];
    let v = trusting(now())
        .verify(v4, &collateral(*tee, &o), &VerifyOptions::default())
        .expect("verifies");
    let claims = claims_json(&v);
    let td = td_with([0xAB; 64]);
    assert_eq!(claims["x-ms-attestation-type"], "tdxvm");
    assert_eq!(claims["attester_tcb_status"], "UpToDate");
    assert_eq!(claims["tdx_mrtd"], hex::encode(td.mr_td));
    assert_eq!(claims["tdx_rtmr2"], hex::encode(td.rtmr[2]));
    assert_eq!(claims["tdx_mrconfigid"], hex::encode(td.mr_config_id));
    assert_eq!(claims["tdx_report_data"], hex::encode([0xAB; 64]));
    assert_eq!(claims["tdx_td_attributes_septve_disable"], true);
    assert_eq!(claims["tdx_is_debuggable"], false);
    assert_eq!(claims["dbgstat"], "disabled");
    assert_eq!(claims["tdx_seamsvn"], 0x0105);
    assert_eq!(claims["attester_revocation_checked"], true);
    assert_eq!(
        claims["tdx_collateral"]["quotehash"].as_str().map(str::len),
        Some(64)
    );
    let (_, tee, v5) = &qs[1];
    let v = trusting(now())
        .verify(v5, &collateral(*tee, &o), &VerifyOptions::default())
        .expect("verifies");
    let claims = claims_json(&v);
    assert_eq!(claims["tdx_tee_tcb_svn2"], hex::encode(td.tee_tcb_svn2));
    assert_eq!(claims["tdx_mrservicetd"], hex::encode([0u8; 48]));
    let (_, tee, sgx) = &qs[3];
    let v = trusting(now())
        .verify(sgx, &collateral(*tee, &o), &VerifyOptions::default())
        .expect("verifies");
    let claims = claims_json(&v);
    assert_eq!(claims["x-ms-attestation-type"], "sgx");
    assert_eq!(
        claims["x-ms-sgx-mrenclave"],
        hex::encode(platform().enclave().mr_enclave)
    );
    assert_eq!(claims["x-ms-sgx-is-debuggable"], false);
}

#[test]
fn a_debug_td_is_reported_and_refused_by_the_strict_policy() {
    let td = MockTd {
        td_attributes: (1u64 | 1 << 28).to_le_bytes(),
        ..platform().td()
    };
    let q = platform().tdx_quote_v4(&td).expect("quote");
    let c = collateral(Tee::Tdx, &MockCollateralOptions::at(now()));
    let v = trusting(now())
        .verify(&q, &c, &VerifyOptions::default())
        .expect("the default policy reports debug");
    assert!(v.is_debug());
    assert_eq!(claims_json(&v)["tdx_is_debuggable"], true);
    let strict = VerifyOptions {
        policy: Policy::strict(),
        ..VerifyOptions::default()
    };
    assert_eq!(
        refused(trusting(now()).verify(&q, &c, &strict)),
        Check::DebugPolicy
    );
}

#[test]
fn tdreports_become_quotes_in_the_mock_quoting_enclave() {
    let p = platform();
    let td = td_with([0x5A; 64]);
    let report = p.tdreport(&td);
    assert_eq!(report.len(), 1024);
    let parsed = TdReport::parse(&report).expect("parses");
    parsed.check_hashes().expect("hashes");
    assert!(parsed.is_tdx());
    assert_eq!(parsed.report_data, [0x5A; 64]);
    assert_eq!(parsed.mr_td, td.mr_td);
    assert_eq!(parsed.rtmr, td.rtmr);
    assert_eq!(parsed.tee_tcb_svn, td.tee_tcb_svn);
    assert_eq!(parsed.tee_tcb_svn2, td.tee_tcb_svn2);
    assert_eq!(parsed.mr_seam, td.mr_seam);
    assert_eq!(parsed.td_attributes, td.td_attributes);
    assert_eq!(parsed.xfam, td.xfam);
    assert_eq!(parsed.cpu_svn, p.config().cpu_svn);
    assert_eq!(MockTd::from_tdreport(&parsed), td);

    let quote = p.quote_from_tdreport(&report).expect("quoted");
    let q = Quote::parse(&quote).expect("parses");
    assert_eq!(q.header.version, 4);
    let v = trusting(now())
        .verify(
            &quote,
            &collateral(Tee::Tdx, &MockCollateralOptions::at(now())),
            &VerifyOptions::default(),
        )
        .expect("verifies");
    assert_eq!(v.status, TcbStatus::UpToDate);
    let body = v.body.td().expect("TD");
    assert_eq!(body.report_data, [0x5A; 64]);
    assert_eq!(body.mr_td, td.mr_td);
    assert_eq!(body.rtmr, td.rtmr);
    let v5 = p
        .quote_tdreport(&report, TdQuoteKind::V5Td15)
        .expect("quoted v5");
    assert_eq!(Quote::parse(&v5).expect("parses").header.version, 5);

    // A TDREPORT with a changed byte, or made on another platform, is refused.
    let mut bad = report;
    bad[600] ^= 1;
    let e = p.quote_from_tdreport(&bad).expect_err("hash");
    assert_eq!(e.code(), ErrorCode::ReportParsingFailed, "{e}");
    let mut bad = report;
    bad[130] ^= 1;
    let e = p.quote_from_tdreport(&bad).expect_err("MAC");
    assert_eq!(e.code(), ErrorCode::InvalidInputParameter, "{e}");
    let other = MockIntelPlatform::from_seed(b"another platform").expect("platform");
    let e = p
        .quote_from_tdreport(&other.tdreport(&td))
        .expect_err("foreign");
    assert_eq!(e.code(), ErrorCode::InvalidInputParameter, "{e}");
    let e = p.quote_from_tdreport(&report[..512]).expect_err("short");
    assert_eq!(e.code(), ErrorCode::ReportParsingFailed, "{e}");
    let e = p.quote_from_tdreport(&[0u8; 1024]).expect_err("empty");
    assert_eq!(e.code(), ErrorCode::EmptyReport, "{e}");
}

#[test]
fn seeds_give_the_same_pki_and_platforms_differ() {
    let a = MockIntelPlatform::from_seed(b"seed").expect("a");
    let b = MockIntelPlatform::from_seed(b"seed").expect("b");
    let c = MockIntelPlatform::generate().expect("c");
    // A platform can be shared across threads (an IMDS or configfs mock).
    fn shared<T: Send + Sync>(_: &T) {}
    shared(&c);
    assert_eq!(a.root_der(), b.root_der());
    assert_eq!(a.pck().der(), b.pck().der());
    assert_eq!(a.attestation_key(), b.attestation_key());
    // Seeded keys sign deterministically: byte-identical evidence.
    let o = MockCollateralOptions::at(now());
    assert_eq!(
        a.collateral(Tee::Tdx, &o).expect("a"),
        b.collateral(Tee::Tdx, &o).expect("b")
    );
    assert_eq!(
        a.tdx_quote_v5(&a.td()).expect("a"),
        b.tdx_quote_v5(&b.td()).expect("b")
    );
    assert_ne!(a.root_der(), c.root_der());
    assert_ne!(a.root_der(), platform().root_der());
    // One mock platform's quotes are refused under another mock's root.
    let q = a.tdx_quote_v4(&a.td()).expect("quote");
    let other = DcapVerifier::with_root_der(c.root_der())
        .expect("root")
        .with_clock(Arc::new(FixedClock(now())));
    let col = a
        .collateral(Tee::Tdx, &MockCollateralOptions::at(now()))
        .expect("collateral");
    assert_eq!(
        refused(other.verify(&q, &col, &VerifyOptions::default())),
        Check::UntrustedRoot
    );
}

#[test]
fn a_processor_ca_platform_verifies_and_carries_a_standard_pck() {
    let p = MockIntelPlatform::build(
        MockIntelConfig {
            ca: PckCa::Processor,
            fmspc: [0x00, 0x90, 0x6E, 0xD5, 0x00, 0x00],
            ..MockIntelConfig::default()
        },
        Some(b"processor"),
    )
    .expect("platform");
    let q = p.sgx_quote_v3(&p.enclave()).expect("quote");
    let parsed = Quote::parse(&q).expect("parses");
    let req = CollateralRequest::from_quote(&parsed).expect("request");
    assert_eq!(req.ca, PckCa::Processor);
    let chain = parse_pem_chain(parsed.pck_chain_pem().expect("chain"), "c").expect("PEM");
    let ext = chain[0].sgx_extensions().expect("ext");
    assert_eq!((ext.sgx_type, ext.platform_instance_id), (0, None));
    let v = DcapVerifier::with_root_der(p.root_der())
        .expect("root")
        .with_clock(Arc::new(FixedClock(now())))
        .verify(
            &q,
            &p.collateral(Tee::Sgx, &MockCollateralOptions::at(now()))
                .expect("collateral"),
            &VerifyOptions::default(),
        )
        .expect("verifies");
    assert_eq!(v.pck.issuer_cn, "Mock Intel SGX PCK Processor CA");
    assert_eq!(v.status, TcbStatus::UpToDate);
}

/// The extension OIDs of a certificate, in order, and its name's
/// attribute (OID, string tag) pairs.
fn shape(der: &[u8]) -> (Vec<String>, Vec<(String, u8)>) {
    let c = x509_cert::Certificate::from_der(der).expect("certificate");
    let exts = c
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .map(|e| format!("{}{}", e.extn_id, if e.critical { "!" } else { "" }))
        .collect();
    let name = c
        .tbs_certificate
        .subject
        .0
        .iter()
        .flat_map(|rdn| rdn.0.iter())
        .map(|a| (a.oid.to_string(), u8::from(a.value.tag())))
        .collect();
    (exts, name)
}

/// The top-level SGX extension entries' OIDs.
fn sgx_entries(der: &[u8]) -> Vec<String> {
    let c = x509_cert::Certificate::from_der(der).expect("certificate");
    let ext = c
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|e| e.extn_id.to_string() == "1.2.840.113741.1.13.1")
        .expect("SGX extension");
    let seq: Vec<x509_cert::der::Any> =
        Vec::from_der(ext.extn_value.as_bytes()).expect("SEQUENCE OF");
    seq.iter()
        .map(|entry| {
            let parts: Vec<x509_cert::der::Any> = entry.decode_as().expect("(OID, value)");
            let oid: x509_cert::der::asn1::ObjectIdentifier = parts[0].decode_as().expect("OID");
            format!("{oid}/{}", u8::from(parts[1].tag()))
        })
        .collect()
}

#[test]
fn the_mock_pki_is_shaped_like_intels() {
    let real = Quote::parse(&vector("tdx-dcap/quote.bin")).expect("real quote");
    let real_chain =
        tee_attest_tdx::pki::pem_certificates(real.pck_chain_pem().expect("chain")).expect("PEM");
    let mock = Quote::parse(&platform().tdx_quote_v4(&platform().td()).expect("quote"))
        .expect("mock quote");
    let mock_chain =
        tee_attest_tdx::pki::pem_certificates(mock.pck_chain_pem().expect("chain")).expect("PEM");
    assert_eq!(real_chain.len(), mock_chain.len());
    for (r, m) in real_chain.iter().zip(&mock_chain) {
        assert_eq!(shape(r), shape(m));
    }
    assert_eq!(sgx_entries(&real_chain[0]), sgx_entries(&mock_chain[0]));
    // The same header but for the QE id, the same certification data shape.
    assert_eq!(real.raw()[..28], mock.raw()[..28]);
    let (rq, mq) = (
        real.qe_certification().expect("real"),
        mock.qe_certification().expect("mock"),
    );
    assert_eq!(rq.qe_auth_data.len(), mq.qe_auth_data.len());
    assert_eq!(rq.certification.cert_type(), mq.certification.cert_type());
    assert_eq!(
        real.pck_chain_pem().map(|p| p.last().copied()),
        mock.pck_chain_pem().map(|p| p.last().copied()),
        "the chain ends with a NUL as Intel's does"
    );
    // The TCB signing certificate too.
    let real_col =
        Collateral::from_dcap_qvl_json(&vector("tdx-dcap/collateral.json")).expect("collateral");
    let real_tcb =
        tee_attest_tdx::pki::pem_certificates(&real_col.tcb_info_issuer_chain).expect("PEM");
    assert_eq!(
        shape(&real_tcb[0]),
        shape(platform().pki().tcb_signing_der())
    );
}
