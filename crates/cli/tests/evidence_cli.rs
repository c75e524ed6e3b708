//! `tee-attest evidence snp|hcl` on the real vectors: claims on stdout,
//! spec codes as exit codes.

use std::path::PathBuf;
use std::process::{Command, Output};

use tee_attest_testkit::{vector, vector_path};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tee-attest"))
        .args(args)
        .env_remove("TEE_ATTEST_SNP_CACHE_DIR")
        .env_remove("TEE_ATTEST_SNP_OFFLINE_DIR")
        .output()
        .unwrap()
}

fn p(rel: &str) -> String {
    vector_path(rel).display().to_string()
}

fn claims(out: &Output) -> serde_json::Map<String, serde_json::Value> {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

const AT: &str = "2025-06-01T00:00:00Z";

#[test]
fn snp_hex_report_with_vcek_der() {
    let out = run(&[
        "evidence",
        "snp",
        "--report",
        &p("snp-milan/report.hex"),
        "--certs",
        &p("snp-milan/vcek.der"),
        "--at",
        AT,
    ]);
    let c = claims(&out);
    assert_eq!(c["x-ms-sevsnpvm-microcode-svn"], 115);
    assert_eq!(c["x-tee-attest-snp-root"], "amd");
    assert_eq!(c["x-tee-attest-snp-crl"], "absent");
}

#[test]
fn snp_binary_report_with_a_directory_of_certs() {
    let dir = tempfile::tempdir().unwrap();
    // Names say nothing: contents decide.
    std::fs::write(dir.path().join("1"), vector("snp-milan-2/vcek.der")).unwrap();
    std::fs::write(dir.path().join("2"), vector("snp-milan/ask-ark.pem")).unwrap();
    std::fs::write(dir.path().join("readme"), b"hello").unwrap();
    let out = run(&[
        "evidence",
        "snp",
        "--report",
        &p("snp-milan-2/report.bin"),
        "--certs",
        dir.path().to_str().unwrap(),
        "--at",
        AT,
    ]);
    claims(&out);
}

#[test]
fn snp_with_thim_json_certs() {
    let dir = tempfile::tempdir().unwrap();
    let pem = String::from_utf8(vector("azure-snp-2/vcek-chain.pem")).unwrap();
    let split = pem.find("-----END CERTIFICATE-----").unwrap() + 25;
    let json = serde_json::json!({
        "vcekCert": &pem[..split],
        "certificateChain": &pem[split..],
        "tcbm": "",
    });
    let f = dir.path().join("thim.json");
    std::fs::write(&f, json.to_string()).unwrap();
    let out = run(&[
        "evidence",
        "hcl",
        "--report",
        &p("azure-snp-2/hcl-report.bin"),
        "--certs",
        f.to_str().unwrap(),
        "--at",
        AT,
    ]);
    let c = claims(&out);
    assert_eq!(c["x-ms-attestation-type"], "sevsnpvm");
    assert!(c["x-ms-runtime"]["keys"].is_array());
}

#[test]
fn hcl_full_uses_builtin_ask_ark() {
    let out = run(&[
        "evidence",
        "hcl",
        "--report",
        &p("azure-snp-full/hcl-report.bin"),
        "--certs",
        &p("azure-snp-full/vcek.der"),
    ]);
    let c = claims(&out);
    assert_eq!(c["x-tee-attest-snp-report-version"], 3);
}

#[test]
fn hcl_with_a_vcek_that_did_not_sign_it_is_6() {
    let out = run(&[
        "evidence",
        "hcl",
        "--report",
        &p("azure-snp/hcl-report.bin"),
        "--certs",
        &p("azure-snp/vcek-chain.pem"),
        "--at",
        AT,
    ]);
    assert_eq!(out.status.code(), Some(6));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("report-signature"), "{err}");
}

#[test]
fn vlek_expired_today_is_6_and_fine_at_its_time() {
    let args = |at: Option<&str>| {
        let mut v = vec![
            "evidence".to_string(),
            "snp".into(),
            "--report".into(),
            p("snp-vlek/report.bin"),
            "--certs".into(),
            p("snp-vlek/vlek.der"),
            "--certs".into(),
            p("snp-vlek/asvk-ark.pem"),
        ];
        if let Some(at) = at {
            v.push("--at".into());
            v.push(at.into());
        }
        v
    };
    let a = args(None);
    let out = run(&a.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(out.status.code(), Some(6));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expired"));
    let a = args(Some(AT));
    claims(&run(&a.iter().map(String::as_str).collect::<Vec<_>>()));
}

#[test]
fn unparseable_and_empty_reports() {
    let dir = tempfile::tempdir().unwrap();
    let short = dir.path().join("short.bin");
    std::fs::write(&short, &vector("snp-milan-2/report.bin")[..100]).unwrap();
    let out = run(&[
        "evidence",
        "snp",
        "--report",
        short.to_str().unwrap(),
        "--certs",
        &p("snp-milan/vcek.der"),
    ]);
    assert_eq!(out.status.code(), Some(20));
    assert!(String::from_utf8_lossy(&out.stderr).contains("offset"));

    let zero = dir.path().join("zero.bin");
    std::fs::write(&zero, vec![0u8; 1184]).unwrap();
    let out = run(&["evidence", "snp", "--report", zero.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(21));

    let out = run(&["evidence", "hcl", "--report", zero.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(21));
    let out = run(&["evidence", "hcl", "--report", short.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(20));
}

#[test]
fn without_certs_uses_the_offline_directory_and_else_17() {
    let out = run(&[
        "evidence",
        "snp",
        "--report",
        &p("snp-milan/report.hex"),
        "--at",
        AT,
    ]);
    assert_eq!(
        out.status.code(),
        Some(17),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v"), vector("snp-milan/vcek.der")).unwrap();
    let out = run(&[
        "evidence",
        "snp",
        "--report",
        &p("snp-milan/report.hex"),
        "--at",
        AT,
        "--offline-dir",
        dir.path().to_str().unwrap(),
    ]);
    claims(&out);
}

#[test]
fn bad_arguments_are_8() {
    let out = run(&[
        "evidence",
        "snp",
        "--report",
        &p("snp-milan/report.hex"),
        "--certs",
        &p("PROVENANCE.md"),
    ]);
    assert_eq!(out.status.code(), Some(8));
    let out = run(&[
        "evidence",
        "snp",
        "--report",
        &p("snp-milan/report.hex"),
        "--certs",
        &p("snp-milan/vcek.der"),
        "--at",
        "yesterday",
    ]);
    assert_eq!(out.status.code(), Some(8));
    let missing = PathBuf::from("/nonexistent/report");
    let out = run(&["evidence", "snp", "--report", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(8));
}
