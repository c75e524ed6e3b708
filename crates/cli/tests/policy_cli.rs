//! `tee-attest policy …` end to end: exit codes, stdout and stderr.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tee-attest");

fn run(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .output()
        .expect("run tee-attest")
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_str().unwrap().to_string()
}

fn data(name: &str) -> String {
    let p: PathBuf = [
        env!("CARGO_MANIFEST_DIR"),
        "..",
        "policy",
        "tests",
        "data",
        name,
    ]
    .iter()
    .collect();
    p.to_str().unwrap().to_string()
}

const POLICY: &str = "version=1.0;\nauthorizationrules\n{\n    [type==\"x-ms-sevsnpvm-is-debuggable\", value==false] => permit();\n};\nissuancerules\n{\n    c:[type==\"x-ms-azurevm-vmid\"] => issue(type=\"vmid\", value=c.value);\n};\n";

// Computed independently with python3 (base64.urlsafe_b64encode + hashlib).
const POLICY_HASH: &str = "qTeCVx89jqqYNf9GCX0TpFsPBGcPAvgva9eq8uNItwo";

#[test]
fn check_accepts_and_refuses_with_a_located_error() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(dir.path(), "good.txt", POLICY);
    let o = run(&["policy", "check", &good]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).starts_with("ok: policy version 1.0"));

    let bad = write(
        dir.path(),
        "bad.txt",
        &POLICY.replace("[type==\"x-ms-sevsnpvm", "[type=\"x-ms-sevsnpvm"),
    );
    let o = run(&["policy", "check", &bad]);
    assert_eq!(code(&o), 9);
    let e = stderr(&o);
    assert!(e.contains("line 4, column 10"), "{e}");
    assert!(e.contains("use `==` to compare"), "{e}");
    assert!(e.contains("bad.txt"), "{e}");
}

#[test]
fn hash_prints_the_hash_alone_for_text_and_jws() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "p.txt", POLICY);
    let o = run(&["policy", "hash", &f]);
    assert_eq!(code(&o), 0);
    assert_eq!(stdout(&o), format!("{POLICY_HASH}\n"));

    let signed = run(&[
        "policy",
        "sign",
        &f,
        "--key",
        &data("signer-key.pem"),
        "--cert",
        &data("signer-cert.pem"),
    ]);
    assert_eq!(code(&signed), 0, "{}", stderr(&signed));
    let jws = write(dir.path(), "p.jws", &stdout(&signed));
    let o = run(&["policy", "hash", &jws]);
    assert_eq!(stdout(&o), format!("{POLICY_HASH}\n"));

    // Trusted signer: accepted; another signer: refused with code 9.
    let o = run(&[
        "policy",
        "check",
        &jws,
        "--trusted-signer",
        &data("signer-cert.pem"),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert!(stdout(&o).contains("signed"));
    let o = run(&[
        "policy",
        "check",
        &jws,
        "--trusted-signer",
        &data("other-cert.pem"),
    ]);
    assert_eq!(code(&o), 9);
    assert!(stderr(&o).contains("not trusted"), "{}", stderr(&o));
    let o = run(&[
        "policy",
        "check",
        &f,
        "--trusted-signer",
        &data("signer-cert.pem"),
    ]);
    assert_eq!(
        code(&o),
        9,
        "unsigned text refused when signers are configured"
    );
    // A JWS signed by openssl verifies too.
    let o = run(&["policy", "check", &data("openssl-signed.jws")]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn eval_prints_decision_rule_and_claims() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(dir.path(), "p.txt", POLICY);
    let claims = write(
        dir.path(),
        "c.json",
        r#"{"x-ms-sevsnpvm-is-debuggable": false, "x-ms-azurevm-vmid": "VM-1"}"#,
    );
    let o = run(&["policy", "eval", &f, "--claims", &claims]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["authorized"], true);
    assert_eq!(v["decided_by"]["rule"], 1);
    assert_eq!(v["decided_by"]["line"], 4);
    assert_eq!(v["outgoing_claims"]["vmid"], "VM-1");
    assert_eq!(v["x-ms-policy-hash"], POLICY_HASH);

    let refused = write(
        dir.path(),
        "r.json",
        r#"[{"type": "x-ms-sevsnpvm-is-debuggable", "value": true}]"#,
    );
    let o = run(&["policy", "eval", &f, "--claims", &refused]);
    assert_eq!(code(&o), 6);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["authorized"], false);
    assert!(v["decided_by"].is_null());
    assert!(stderr(&o).contains("no authorization rule ran permit()"));
}

#[test]
fn eval_takes_a_real_token_as_claims() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "cvm.txt",
        "version=1.0;\nauthorizationrules {\n [type==\"x-ms-isolation-tee.x-ms-compliance-status\", value==\"azure-compliant-cvm\"] => permit();\n};\n",
    );
    let token = std::env::var("TEE_ATTEST_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            [
                env!("CARGO_MANIFEST_DIR"),
                "..",
                "..",
                "..",
                "shared",
                "testvectors",
            ]
            .iter()
            .collect()
        })
        .join("maa/azureguest-snp-token.jwt");
    let o = run(&["policy", "eval", &f, "--claims", token.to_str().unwrap()]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
}

#[test]
fn release_eval_with_the_real_policy_and_token() {
    let vectors: PathBuf = std::env::var("TEE_ATTEST_VECTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            [
                env!("CARGO_MANIFEST_DIR"),
                "..",
                "..",
                "..",
                "shared",
                "testvectors",
            ]
            .iter()
            .collect()
        });
    let policy = vectors.join("maa/skr-release-policy-cvm.json");
    let token = vectors.join("maa/azureguest-snp-token.jwt");
    let o = run(&[
        "policy",
        "release-eval",
        policy.to_str().unwrap(),
        "--token-claims",
        token.to_str().unwrap(),
    ]);
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["released"], true);
    assert_eq!(v["authority"], "https://sharedweu.weu.attest.azure.net/");

    let dir = tempfile::tempdir().unwrap();
    let claims = write(
        dir.path(),
        "claims.json",
        r#"{"iss": "https://sharedweu.weu.attest.azure.net", "x-ms-isolation-tee": {"x-ms-attestation-type": "sevsnpvm", "x-ms-compliance-status": "no"}}"#,
    );
    let o = run(&[
        "policy",
        "release-eval",
        policy.to_str().unwrap(),
        "--token-claims",
        &claims,
    ]);
    assert_eq!(code(&o), 6);
    let v: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["released"], false);
    assert!(v["reasons"][0]
        .as_str()
        .unwrap()
        .contains("x-ms-compliance-status"));

    let bad = write(
        dir.path(),
        "bad.json",
        r#"{"version": "1.0.0", "anyOf": []}"#,
    );
    let o = run(&["policy", "release-eval", &bad, "--token-claims", &claims]);
    assert_eq!(code(&o), 9);
    assert!(stderr(&o).contains("anyOf"), "{}", stderr(&o));
}

#[test]
fn unreadable_files_are_code_8() {
    let o = run(&["policy", "check", "/nonexistent/policy.txt"]);
    assert_eq!(code(&o), 8);
    assert!(stderr(&o).contains("cannot read"));
}
