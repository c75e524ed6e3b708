//! `tee-attest keys`: create, list, rotate, delete, audit, as separate
//! processes sharing one store; the KEK from a 0600 file or the environment.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const POLICY: &str = r#"{"version":"1.0.0","anyOf":[{"authority":"http://127.0.0.1:8700","allOf":[{"claim":"x-ms-isolation-tee.x-ms-attestation-type","equals":"sevsnpvm"}]}]}"#;

fn keys(dir: &Path, kek: Option<&str>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tee-attest"));
    c.arg("keys").args(args).arg("--data-dir").arg(dir);
    match kek {
        Some(k) => c.env("TEE_ATTEST_KEK", k),
        None => c.env_remove("TEE_ATTEST_KEK"),
    };
    c.env_remove("TEE_ATTEST_DATA_DIR").output().unwrap()
}

fn ok_json(out: Output) -> Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn create_list_rotate_delete_audit() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("release.json");
    std::fs::write(&policy, POLICY).unwrap();
    let p = policy.to_str().unwrap();

    let k = ok_json(keys(
        dir.path(),
        None,
        &["create", "disk", "--kty", "oct", "--policy", p],
    ));
    assert_eq!(k["version"], 1);
    assert_eq!(k["kty"], "oct");
    let k = ok_json(keys(
        dir.path(),
        None,
        &[
            "create", "sig", "--kty", "EC", "--size", "P-384", "--policy", p,
        ],
    ));
    assert_eq!(k["public_jwk"]["crv"], "P-384");
    let k = ok_json(keys(
        dir.path(),
        None,
        &["create", "rsa", "--kty", "RSA", "--policy", p],
    ));
    assert_eq!(k["public_jwk"]["kty"], "RSA");

    // The KEK file was created with mode 0600.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let kek = dir.path().join("keyrelease/kek");
        assert_eq!(
            std::fs::metadata(kek).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // Creating it again is refused (code 8).
    let out = keys(
        dir.path(),
        None,
        &["create", "disk", "--kty", "oct", "--policy", p],
    );
    assert_eq!(out.status.code(), Some(8));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    // A bad policy is refused (code 9), a bad kty (code 8).
    std::fs::write(dir.path().join("bad.json"), "{}").unwrap();
    let bad = dir.path().join("bad.json");
    let out = keys(
        dir.path(),
        None,
        &[
            "create",
            "x",
            "--kty",
            "oct",
            "--policy",
            bad.to_str().unwrap(),
        ],
    );
    assert_eq!(out.status.code(), Some(9));
    let out = keys(
        dir.path(),
        None,
        &["create", "x", "--kty", "DSA", "--policy", p],
    );
    assert_eq!(out.status.code(), Some(8));

    let r = ok_json(keys(dir.path(), None, &["rotate", "disk"]));
    assert_eq!(r["version"], 2);
    let list = ok_json(keys(dir.path(), None, &["list"]));
    let names: Vec<(String, u64)> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|k| {
            (
                k["name"].as_str().unwrap().to_string(),
                k["version"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            ("disk".into(), 1),
            ("disk".into(), 2),
            ("rsa".into(), 1),
            ("sig".into(), 1)
        ]
    );
    assert!(!String::from_utf8_lossy(&keys(dir.path(), None, &["list"]).stdout).contains("\"d\""));

    let d = ok_json(keys(dir.path(), None, &["delete", "disk"]));
    assert_eq!(d["versions"], 2);
    let out = keys(dir.path(), None, &["delete", "disk"]);
    assert_eq!(out.status.code(), Some(8));
    assert_eq!(
        ok_json(keys(dir.path(), None, &["list"]))
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(
        ok_json(keys(dir.path(), None, &["audit"])),
        serde_json::json!([])
    );

    // A KEK from the environment that is not the store's: a clear error.
    let out = keys(dir.path(), Some(&"ab".repeat(32)), &["list"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("different key-encryption key"), "{err}");
    // A malformed one, without echoing it.
    let out = keys(dir.path(), Some("not-a-key-123"), &["list"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(!String::from_utf8_lossy(&out.stderr).contains("not-a-key-123"));
}

#[test]
fn a_store_under_an_environment_kek() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("p.json");
    std::fs::write(&policy, POLICY).unwrap();
    let kek = "cd".repeat(32);
    ok_json(keys(
        dir.path(),
        Some(&kek),
        &[
            "create",
            "k",
            "--kty",
            "oct",
            "--policy",
            policy.to_str().unwrap(),
        ],
    ));
    assert!(
        !dir.path().join("keyrelease/kek").exists(),
        "no KEK file when the env gives one"
    );
    assert_eq!(
        ok_json(keys(dir.path(), Some(&kek), &["list"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // Without the env, a fresh KEK file is made, which is not the store's.
    let out = keys(dir.path(), None, &["list"]);
    assert_eq!(out.status.code(), Some(1));
}
