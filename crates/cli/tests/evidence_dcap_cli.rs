//! `tee-attest evidence tdx|sgx` on the real Intel vectors: claims in MAA's
//! names on stdout, spec codes as exit codes.

use std::process::{Command, Output};

use tee_attest_testkit::{vector, vector_path};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tee-attest"))
        .args(args)
        .env_remove("TEE_ATTEST_DCAP_CACHE_DIR")
        .env_remove("TEE_ATTEST_DCAP_OFFLINE_DIR")
        .output()
        .unwrap()
}

fn p(rel: &str) -> String {
    vector_path(rel).display().to_string()
}

#[track_caller]
fn claims(out: &Output) -> serde_json::Map<String, serde_json::Value> {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[track_caller]
fn code(out: &Output) -> i32 {
    assert!(out.stdout.is_empty(), "no partial output");
    out.status.code().unwrap()
}

/// Inside the tdx-dcap and sgx-dcap collateral windows.
const AT: &str = "2025-06-20T00:00:00Z";

#[test]
fn tdx_v4_with_its_collateral_json_is_up_to_date_in_maa_names() {
    let out = run(&[
        "evidence",
        "tdx",
        "--quote",
        &p("tdx-dcap/quote.bin"),
        "--collateral",
        &p("tdx-dcap/collateral.json"),
        "--at",
        AT,
    ]);
    let c = claims(&out);
    assert_eq!(c["attester_tcb_status"], "UpToDate");
    assert_eq!(c["x-ms-attestation-type"], "tdxvm");
    assert_eq!(c["attester_revocation_checked"], true);
    // MRTD: the 48 bytes at body offset 136 of the v4 quote (header 48).
    let q = vector("tdx-dcap/quote.bin");
    assert_eq!(c["tdx_mrtd"], hex::encode(&q[48 + 136..48 + 184]));
    assert_eq!(c["tdx_report_data"], hex::encode(&q[48 + 520..48 + 584]));
    assert_eq!(c["tdx_is_debuggable"], false);
}

#[test]
fn sgx_v3_reports_its_status_and_advisories() {
    let out = run(&[
        "evidence",
        "sgx",
        "--quote",
        &p("sgx-dcap/quote.bin"),
        "--collateral",
        &p("sgx-dcap/collateral.json"),
        "--at",
        AT,
    ]);
    let c = claims(&out);
    assert_eq!(
        c["attester_tcb_status"],
        "ConfigurationAndSWHardeningNeeded"
    );
    let adv: Vec<&str> = c["attester_advisory_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        adv.contains(&"INTEL-SA-00289") && adv.contains(&"INTEL-SA-00615"),
        "{adv:?}"
    );
    // MRENCLAVE: enclave report offset 64 after the 48-byte header.
    let q = vector("sgx-dcap/quote.bin");
    assert_eq!(c["x-ms-sgx-mrenclave"], hex::encode(&q[48 + 64..48 + 96]));
    assert!(c.contains_key("x-ms-sgx-mrsigner"));
}

#[test]
fn a_directory_of_collateral_is_searched() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("anything.json"),
        vector("tdx-dcap/collateral.json"),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"not collateral").unwrap();
    let d = dir.path().display().to_string();
    let args = |at: &'static str| {
        vec![
            "evidence".to_string(),
            "tdx".into(),
            "--quote".into(),
            p("tdx-dcap/quote.bin"),
            "--collateral".into(),
            d.clone(),
            "--at".into(),
            at.into(),
        ]
    };
    let a = args(AT);
    let c = claims(&run(&a.iter().map(String::as_str).collect::<Vec<_>>()));
    assert_eq!(c["attester_tcb_status"], "UpToDate");
    // Today the same collateral is expired: refused, code 6.
    let a = args("2026-12-01T00:00:00Z");
    let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(code(&out), 6, "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn missing_revocation_data_is_refused_unless_accepted_and_then_said() {
    let mut json: serde_json::Value =
        serde_json::from_slice(&vector("tdx-dcap/collateral.json")).unwrap();
    let o = json.as_object_mut().unwrap();
    // dcap-qvl's JSON has every field: absent pieces are empty.
    o.insert("pck_crl".into(), "".into());
    o.insert("root_ca_crl".into(), "".into());
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("no-crls.json");
    std::fs::write(&f, serde_json::to_vec(&json).unwrap()).unwrap();
    let f = f.display().to_string();
    let base = [
        "evidence",
        "tdx",
        "--quote",
        &p("tdx-dcap/quote.bin"),
        "--collateral",
        &f,
        "--at",
        AT,
    ];
    let out = run(&base);
    assert_eq!(code(&out), 6, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("crl"),
        "names the check: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut with = base.to_vec();
    with.push("--no-revocation-data");
    let c = claims(&run(&with));
    assert_eq!(c["attester_revocation_checked"], false);
    assert!(!c["attester_revocation_gaps"].as_array().unwrap().is_empty());
}

#[test]
fn wrong_kind_unparseable_empty_and_missing_collateral() {
    // An SGX quote given to `evidence tdx`, and the reverse: 8.
    let out = run(&["evidence", "tdx", "--quote", &p("sgx-dcap/quote.bin")]);
    assert_eq!(code(&out), 8);
    assert!(String::from_utf8_lossy(&out.stderr).contains("evidence sgx"));
    let out = run(&["evidence", "sgx", "--quote", &p("tdx-dcap/quote.bin")]);
    assert_eq!(code(&out), 8);
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let junk = dir.path().join("junk");
    std::fs::write(&junk, [7u8; 700]).unwrap();
    let out = run(&["evidence", "tdx", "--quote", &empty.display().to_string()]);
    assert_eq!(code(&out), 21);
    let out = run(&["evidence", "tdx", "--quote", &junk.display().to_string()]);
    assert_eq!(code(&out), 20);
    // No collateral anywhere (no network without --pccs-url): 17.
    let out = run(&["evidence", "tdx", "--quote", &p("tdx-dcap/quote.bin")]);
    assert_eq!(code(&out), 17, "{}", String::from_utf8_lossy(&out.stderr));
    // A collateral file that is not collateral: 8.
    let out = run(&[
        "evidence",
        "tdx",
        "--quote",
        &p("tdx-dcap/quote.bin"),
        "--collateral",
        &junk.display().to_string(),
    ]);
    assert_eq!(code(&out), 8);
    // A trust root that is not a certificate: 8.
    let out = run(&[
        "evidence",
        "tdx",
        "--quote",
        &p("tdx-dcap/quote.bin"),
        "--trust-root",
        &junk.display().to_string(),
    ]);
    assert_eq!(code(&out), 8);
}

#[test]
fn the_genuine_root_is_replaced_only_when_asked() {
    // The Intel root given explicitly: the same verdict.
    let out = run(&[
        "evidence",
        "tdx",
        "--quote",
        &p("tdx-dcap/quote.bin"),
        "--collateral",
        &p("tdx-dcap/collateral.json"),
        "--at",
        AT,
        "--trust-root",
        &p("tdx-dcap/intel-sgx-root-ca.der"),
    ]);
    assert_eq!(claims(&out)["attester_tcb_status"], "UpToDate");
    // Another self-signed root: the genuine chain no longer verifies, 6.
    let other = tee_attest_testkit::pki::TestCa::new("Not Intel Root");
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("root.pem");
    std::fs::write(&f, &other.cert_pem).unwrap();
    let out = run(&[
        "evidence",
        "tdx",
        "--quote",
        &p("tdx-dcap/quote.bin"),
        "--collateral",
        &p("tdx-dcap/collateral.json"),
        "--at",
        AT,
        "--trust-root",
        &f.display().to_string(),
    ]);
    assert_eq!(code(&out), 6, "{}", String::from_utf8_lossy(&out.stderr));
}

/// `evidence azure-tdx` on an HCL report of the mock Intel platform (type 4,
/// a TDREPORT binding the variable data) with the TD quote made of it: the
/// claims carry the variable data; a quote of another TDREPORT, changed
/// variable data and the genuine root are each refused.
#[test]
fn azure_tdx_hcl_report_and_its_quote() {
    use tee_attest_azure::{HashType, HclReport, ReportType};
    use tee_attest_mock::intel::{MockCollateralOptions, MockIntelPlatform};

    let platform = MockIntelPlatform::stored().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    platform
        .write_offline_dir(&d.join("collateral"), &MockCollateralOptions::at(now))
        .unwrap();
    std::fs::write(d.join("root.der"), platform.root_der()).unwrap();
    let hcl_for = |var: &[u8]| {
        let mut td = platform.td();
        td.report_data[..32].copy_from_slice(&HashType::Sha256.digest(var));
        let tdreport = platform.tdreport(&td);
        let quote = platform.quote_from_tdreport(&tdreport).unwrap();
        let hcl = HclReport::new(ReportType::Tdx, HashType::Sha256, &tdreport, var.to_vec())
            .unwrap()
            .to_nv_bytes(8192);
        (hcl, quote)
    };
    let var =
        br#"{"keys":[{"kid":"HCLAkPub","kty":"RSA","n":"AQAB","e":"AQAB"}],"user-data":"00"}"#;
    let (hcl, quote) = hcl_for(var);
    std::fs::write(d.join("hcl.bin"), &hcl).unwrap();
    std::fs::write(d.join("quote.bin"), &quote).unwrap();
    let s = |p: &str| d.join(p).display().to_string();
    let args = |quote: &str, hcl: &str, root: bool| {
        let mut a = vec![
            "evidence".to_string(),
            "azure-tdx".into(),
            "--report".into(),
            s(hcl),
            "--quote".into(),
            s(quote),
            "--collateral".into(),
            s("collateral"),
        ];
        if root {
            a.extend(["--trust-root".into(), s("root.der")]);
        }
        a
    };
    let go = |a: Vec<String>| run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let c = claims(&go(args("quote.bin", "hcl.bin", true)));
    assert_eq!(c["x-ms-attestation-type"], "tdxvm");
    assert_eq!(c["attester_tcb_status"], "UpToDate");
    assert_eq!(c["x-ms-runtime"]["user-data"], "00");
    assert_eq!(c["tdx_mrtd"], hex::encode(platform.td().mr_td));

    // The quote of another TDREPORT (other variable data): 6, named.
    let (_, other_quote) = hcl_for(br#"{"keys":[],"user-data":"01"}"#);
    std::fs::write(d.join("other.bin"), &other_quote).unwrap();
    let out = go(args("other.bin", "hcl.bin", true));
    assert_eq!(code(&out), 6);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("tdquote.report_data"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Variable data changed after the TDREPORT bound it: refused.
    let mut changed = hcl.clone();
    let pos = changed.windows(7).position(|w| w == b"user-da").unwrap();
    changed[pos + 12] = b'9';
    std::fs::write(d.join("changed.bin"), &changed).unwrap();
    let out = go(args("quote.bin", "changed.bin", true));
    assert_eq!(code(&out), 6, "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("variable data"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The genuine root only: the mock chain is refused.
    let out = go(args("quote.bin", "hcl.bin", false));
    assert_eq!(code(&out), 6, "{}", String::from_utf8_lossy(&out.stderr));
}
