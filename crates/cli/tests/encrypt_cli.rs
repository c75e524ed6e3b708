//! `tee-attest encrypt` / `decrypt` as separate processes against a mock
//! vTPM: encrypt to its ephemeral key (in a hand-built unsigned token:
//! `encrypt` does not check signatures), decrypt in the vTPM.

use std::path::Path;
use std::process::{Command, Output};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest_mock::MockAzureCvm;
use tee_attest_tpm::TpmDecryptor;

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tee-attest"));
    c.env_remove("TEE_ATTEST_TCTI");
    c
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

fn token_with(keys: Value) -> String {
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2ln",
        b64(json!({"alg": "RS256", "typ": "JWT"})),
        b64(json!({"x-ms-runtime": {"keys": keys}}))
    )
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap_or(-1)
}

#[test]
fn encrypt_then_decrypt_in_the_vtpm() {
    let cvm = MockAzureCvm::start().expect("swtpm must be installed (cargo xtask deps)");
    let tcti = cvm.tcti();
    let mut jwk = TpmDecryptor::open(Some(&tcti)).unwrap().public().to_jwk();
    jwk["kid"] = json!("TpmEphemeralEncryptionKey");
    let dir = tempfile::tempdir().unwrap();
    let token = dir.path().join("token.jwt");
    std::fs::write(&token, token_with(json!([jwk]))).unwrap();
    let plain = dir.path().join("plain.bin");
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&plain, &data).unwrap();
    let small = dir.path().join("small.txt");
    std::fs::write(&small, b"a secret for the CVM").unwrap();

    // Envelope (the default), any size.
    let ct = dir.path().join("plain.enc");
    let o = run(&[
        "encrypt",
        "--token",
        s(&token),
        "--in",
        s(&plain),
        "--out",
        s(&ct),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let meta: Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("plain.enc.meta")).unwrap()).unwrap();
    assert_eq!(meta["scheme"], "envelope");
    let out = dir.path().join("plain.out");
    let o = run(&["decrypt", "--in", s(&ct), "--out", s(&out), "--tcti", &tcti]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read(&out).unwrap() == data);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&out).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    // Direct RSA schemes, the decrypt side told the scheme or defaulting.
    for (scheme, decrypt_scheme) in [
        ("rsa-pkcs1v15", Some("rsa-pkcs1v15")),
        ("none-microsoft", Some("none-microsoft")),
        ("rsa-oaep-sha1", Some("rsa-oaep-sha1")),
        ("none", None),
    ] {
        let ct = dir.path().join(format!("small.{scheme}"));
        let o = run(&[
            "encrypt",
            "--token",
            s(&token),
            "--in",
            s(&small),
            "--out",
            s(&ct),
            "--scheme",
            scheme,
        ]);
        assert!(
            o.status.success(),
            "{scheme}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            std::fs::read(dir.path().join(format!("small.{scheme}.meta")))
                .unwrap()
                .is_empty()
        );
        let out = dir.path().join(format!("small.{scheme}.out"));
        let mut args = vec!["decrypt", "--in", s(&ct), "--out", s(&out), "--tcti", &tcti];
        if let Some(d) = decrypt_scheme {
            args.extend(["--scheme", d]);
        }
        let o = run(&args);
        assert!(
            o.status.success(),
            "{scheme}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(std::fs::read(&out).unwrap(), b"a secret for the CVM");
    }

    // Tampered envelope: code 26, and no plaintext file left behind.
    let mut bytes = std::fs::read(&ct).unwrap();
    bytes[70_000] ^= 1;
    let bad = dir.path().join("bad.enc");
    std::fs::write(&bad, &bytes).unwrap();
    std::fs::copy(
        dir.path().join("plain.enc.meta"),
        dir.path().join("bad.enc.meta"),
    )
    .unwrap();
    let bad_out = dir.path().join("bad.out");
    let o = run(&[
        "decrypt",
        "--in",
        s(&bad),
        "--out",
        s(&bad_out),
        "--tcti",
        &tcti,
    ]);
    assert_eq!(code(&o), 26, "{}", String::from_utf8_lossy(&o.stderr));
    assert!(!bad_out.exists());
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains("partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // Too large for direct RSA: 8.
    let o = run(&[
        "encrypt",
        "--token",
        s(&token),
        "--in",
        s(&plain),
        "--out",
        s(&ct),
        "--scheme",
        "none",
    ]);
    assert_eq!(code(&o), 8, "{}", String::from_utf8_lossy(&o.stderr));

    // Missing metadata: 8.
    std::fs::remove_file(dir.path().join("plain.enc.meta")).unwrap();
    let o = run(&[
        "decrypt",
        "--in",
        s(&dir.path().join("plain.enc")),
        "--out",
        s(&out),
        "--tcti",
        &tcti,
    ]);
    assert_eq!(code(&o), 8, "{}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn token_problems_have_their_codes() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("p");
    std::fs::write(&plain, b"x").unwrap();
    let out = dir.path().join("o");
    let token = dir.path().join("t");
    // No ephemeral key: 22.
    std::fs::write(&token, token_with(json!([]))).unwrap();
    let o = run(&[
        "encrypt",
        "--token",
        s(&token),
        "--in",
        s(&plain),
        "--out",
        s(&out),
    ]);
    assert_eq!(code(&o), 22, "{}", String::from_utf8_lossy(&o.stderr));
    // A key that is not RSA: 23.
    std::fs::write(
        &token,
        token_with(json!([{"kid": "TpmEphemeralEncryptionKey", "kty": "EC", "crv": "P-256"}])),
    )
    .unwrap();
    let o = run(&[
        "encrypt",
        "--token",
        s(&token),
        "--in",
        s(&plain),
        "--out",
        s(&out),
    ]);
    assert_eq!(code(&o), 23, "{}", String::from_utf8_lossy(&o.stderr));
    // Not a token at all: 22. An unknown scheme: 8.
    std::fs::write(&token, "not a jwt").unwrap();
    let o = run(&[
        "encrypt",
        "--token",
        s(&token),
        "--in",
        s(&plain),
        "--out",
        s(&out),
    ]);
    assert_eq!(code(&o), 22);
    let o = run(&[
        "encrypt",
        "--token",
        s(&token),
        "--in",
        s(&plain),
        "--out",
        s(&out),
        "--scheme",
        "rot13",
    ]);
    assert_eq!(code(&o), 8);
}
