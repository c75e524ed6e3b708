//! Issue 18, item 4: the suite's secrets — a KEK, an ITA API key, an
//! administrator's bearer token, the plaintext `encrypt` seals and
//! `decrypt` returns, a released key's material, the verifier's signing
//! keys — driven through the CLI and `serve` at trace level
//! (`RUST_LOG=trace`, `--log-level trace --log-format json`), on success
//! and failure paths (a wrong KEK, a wrong API key, a forged admin token,
//! refused and replayed releases, tampered ciphertext, data for another
//! key), never appear — raw, hex, base64 or base64url — in any log line,
//! standard output or error, HTTP error body or panic text.

#![cfg(all(feature = "service", feature = "mock", feature = "ita"))]

mod common;

use std::path::Path;
use std::process::Output;

use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};

use common::{serve_with, Mock};

/// 32 bytes of printable ASCII, so that the raw form is searchable too.
const KEK: &[u8; 32] = b"KEK-SECRET-7c1e-0123456789abcdef";
const WRONG_KEK: &[u8; 32] = b"KEK-WRONG--93a0-fedcba9876543210";
const ITA_KEY: &str = "ita-api-key-SECRET-4b7d9e21f0a3c5";
const WRONG_ITA_KEY: &str = "ita-api-key-WRONG-99aa77bb55cc33";
const PLAINTEXT: &[u8] = b"PLAINTEXT-SECRET-sealed-by-Encrypt-5d2f8a61";
const AUD: &str = "api://tee-attest-admin";
const ROLE: &str = "Attestation.Admin";

/// Every form of `secret` a log could carry: raw, hex (both cases), and
/// base64/base64url at each of the three alignments it can take inside a
/// longer encoded value (the characters that depend on the secret alone).
fn forms(secret: &[u8]) -> Vec<Vec<u8>> {
    let mut out = vec![
        secret.to_vec(),
        hex::encode(secret).into_bytes(),
        hex::encode_upper(secret).into_bytes(),
    ];
    for k in 0..3usize {
        let mut data = vec![0u8; k];
        data.extend_from_slice(secret);
        for enc in [STANDARD_NO_PAD.encode(&data), URL_SAFE_NO_PAD.encode(&data)] {
            let start = (4 * k).div_ceil(3);
            let end = data.len() * 8 / 6;
            out.push(enc.as_bytes()[start..end].to_vec());
        }
    }
    out
}

/// What the test saw: every output, log and HTTP body, named.
#[derive(Default)]
struct Seen(Vec<(String, Vec<u8>)>);

impl Seen {
    fn add(&mut self, what: impl Into<String>, bytes: &[u8]) {
        self.0.push((what.into(), bytes.to_vec()));
    }

    /// Both streams of a process; returns it.
    fn run(&mut self, what: &str, out: Output) -> Output {
        self.add(format!("{what}: stdout"), &out.stdout);
        self.add(format!("{what}: stderr"), &out.stderr);
        out
    }

    /// Fails naming where a secret was seen, and in which form.
    fn check(&self, secrets: &[(&str, &[u8])]) {
        for (what, bytes) in &self.0 {
            let text = String::from_utf8_lossy(bytes);
            assert!(!text.contains("panicked at"), "a panic in {what}:\n{text}");
            for (name, secret) in secrets {
                for (i, form) in forms(secret).iter().enumerate() {
                    assert!(
                        !bytes.windows(form.len()).any(|w| w == &form[..]),
                        "the {name} (form {i}) is in {what}"
                    );
                }
            }
        }
    }
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

#[track_caller]
fn success(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stderr)
    );
}

fn write(dir: &Path, name: &str, data: impl AsRef<[u8]>) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

/// A token whose ephemeral key is `jwk` (unsigned: `encrypt` does not
/// check signatures).
fn token_with(jwk: Value) -> String {
    let b64 = |v: Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.c2ln",
        b64(json!({"alg": "RS256", "typ": "JWT"})),
        b64(json!({"x-ms-runtime": {"keys": [jwk]}}))
    )
}

/// An RSA key that is not the vTPM's, as a `TpmEphemeralEncryptionKey`.
fn foreign_jwk() -> Value {
    use aws_lc_rs::encoding::AsDer as _;
    let k =
        aws_lc_rs::rsa::PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let spki = k.public_key().as_der().unwrap();
    let mut jwk = tee_attest_tpm::RsaPublic::from_spki_der(spki.as_ref())
        .unwrap()
        .to_jwk();
    jwk["kid"] = json!("TpmEphemeralEncryptionKey");
    jwk
}

#[test]
fn no_secret_reaches_a_log_an_error_or_a_panic() {
    let m = Mock::up("mock");
    let dir = m.dir.path();
    let kek = hex::encode(KEK);
    let wrong_kek = hex::encode(WRONG_KEK);
    let issuer = tee_attest_testkit::oidc::TestIssuer::start();
    let admin_token = issuer.token(&issuer.admin_claims(AUD, ROLE));
    let mut forged_token = admin_token.clone();
    forged_token.truncate(forged_token.len() - 4);
    forged_token.push_str("AAAA");
    let ita_keys = write(dir, "ita-api-keys", format!("{ITA_KEY}\n"));
    let log = dir.join("serve.log");
    let (serve, base) = serve_with(
        dir,
        &[
            "--trust-mock",
            "--log-format",
            "json",
            "--log-level",
            "trace",
            "--ita-api-keys",
            ita_keys.to_str().unwrap(),
            "--admin-issuer",
            issuer.url(),
            "--admin-audience",
            AUD,
            "--admin-role",
            ROLE,
        ],
        &[("TEE_ATTEST_KEK", &kek), ("RUST_LOG", "trace")],
        Some(&log),
    );
    let srv = dir.join("srv");
    let mut seen = Seen::default();
    // The CLI at trace level, with the mock's exports and the KEK.
    let cli = |args: &[&str]| {
        m.cli_without(&[])
            .args(args)
            .env("RUST_LOG", "trace")
            .env("TEE_ATTEST_KEK", &kek)
            .output()
            .unwrap()
    };

    // Keys to release: one whose policy the mock CVM's tokens satisfy, one
    // whose policy they do not.
    let policy = |tee: &str| {
        json!({"version": "1.0.0", "anyOf": [{"authority": base, "allOf": [
            {"claim": "x-ms-isolation-tee.x-ms-attestation-type", "equals": tee}]}]})
        .to_string()
    };
    let srv_s = srv.to_str().unwrap();
    for (name, tee) in [("secret-key", "sevsnpvm"), ("tdx-only", "tdxvm")] {
        let p = write(dir, &format!("{name}.json"), policy(tee));
        success(&seen.run(
            "keys create",
            cli(&[
                "keys",
                "create",
                name,
                "--kty",
                "oct",
                "--policy",
                p.to_str().unwrap(),
                "--data-dir",
                srv_s,
            ]),
        ));
    }

    // The KEK: right, then wrong (refused without echoing either).
    success(&seen.run("keys list", cli(&["keys", "list", "--data-dir", srv_s])));
    let out = m
        .cli_without(&[])
        .args(["keys", "list", "--data-dir", srv_s])
        .env("RUST_LOG", "trace")
        .env("TEE_ATTEST_KEK", &wrong_kek)
        .output()
        .unwrap();
    assert_eq!(code(&seen.run("keys list, wrong KEK", out)), Some(1));

    // A token from the service, then releases: granted, replayed, refused
    // by the policy, to a forged token.
    let out = seen.run(
        "attest",
        cli(&[
            "attest",
            "--trust-mock",
            "--verifier",
            &format!("maa={base}"),
        ]),
    );
    success(&out);
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let request = |seen: &mut Seen, what: &str, req: reqwest::RequestBuilder| {
        let (status, body) = rt.block_on(async {
            let r = req.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        });
        seen.add(format!("HTTP {what} ({status})"), body.as_bytes());
        (status, body)
    };
    let release = |key: &str, target: &str, nonce: &str| {
        http.post(format!("{base}/keys/{key}/release?api-version=7.4"))
            .json(&json!({"target": target, "nonce": nonce, "enc": "RSA_AES_KEY_WRAP_256"}))
    };
    let (status, body) = request(&mut seen, "release", release("secret-key", &token, "n-1"));
    assert_eq!(status, 200, "{body}");
    // It is the material: the transfer key decrypted in the vTPM by
    // `decrypt` (RSA-OAEP-SHA256), then AES-KWP unwrapped here.
    let jws = serde_json::from_str::<Value>(&body).unwrap()["value"]
        .as_str()
        .unwrap()
        .to_string();
    let payload: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(jws.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    let hsm: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(
                payload["response"]["key"]["key"]["key_hsm"]
                    .as_str()
                    .unwrap(),
            )
            .unwrap(),
    )
    .unwrap();
    let ct = URL_SAFE_NO_PAD
        .decode(hsm["ciphertext"].as_str().unwrap())
        .unwrap();
    let (block, kwp) = ct.split_at(256);
    let block_file = write(dir, "transfer.enc", block);
    let empty = write(dir, "empty.meta", b"");
    let transfer = dir.join("transfer.key");
    success(&seen.run(
        "decrypt transfer key",
        cli(&[
            "decrypt",
            "--in",
            block_file.to_str().unwrap(),
            "--meta",
            empty.to_str().unwrap(),
            "--out",
            transfer.to_str().unwrap(),
            "--scheme",
            "rsa-oaep-sha256",
            "--tcti",
            &m.var("TEE_ATTEST_TCTI"),
        ]),
    ));
    let transfer_key = std::fs::read(&transfer).unwrap();
    let kwp_key =
        aws_lc_rs::key_wrap::AesKek::new(&aws_lc_rs::key_wrap::AES_256, &transfer_key).unwrap();
    let mut out = vec![0u8; kwp.len()];
    let material = {
        use aws_lc_rs::key_wrap::KeyWrapPadded as _;
        kwp_key.unwrap_with_padding(kwp, &mut out).unwrap().to_vec()
    };
    assert_eq!(material.len(), 32, "an oct key's material");
    let (status, _) = request(
        &mut seen,
        "release replayed",
        release("secret-key", &token, "n-1"),
    );
    assert_eq!(status, 403);
    let (status, _) = request(
        &mut seen,
        "release refused",
        release("tdx-only", &token, "n-2"),
    );
    assert_eq!(status, 403);
    let mut forged = token.clone();
    forged.truncate(forged.len() - 4);
    forged.push_str("AAAA");
    let (status, _) = request(
        &mut seen,
        "release forged",
        release("secret-key", &forged, "n-3"),
    );
    assert_eq!(status, 400);

    // Encrypt / Decrypt: envelope and direct RSA, then tampered data and
    // data for another key (26).
    let plain = write(dir, "plain.bin", PLAINTEXT);
    let token_file = write(dir, "token.jwt", &token);
    let tcti = m.var("TEE_ATTEST_TCTI");
    for scheme in ["envelope", "rsa-oaep-sha256"] {
        let ct = dir.join(format!("{scheme}.enc"));
        let back = dir.join(format!("{scheme}.out"));
        let (ct_s, back_s) = (ct.to_str().unwrap(), back.to_str().unwrap());
        success(&seen.run(
            "encrypt",
            cli(&[
                "encrypt",
                "--token",
                token_file.to_str().unwrap(),
                "--in",
                plain.to_str().unwrap(),
                "--out",
                ct_s,
                "--scheme",
                scheme,
            ]),
        ));
        success(&seen.run(
            "decrypt",
            cli(&[
                "decrypt", "--in", ct_s, "--out", back_s, "--tcti", &tcti, "--scheme", scheme,
            ]),
        ));
        assert_eq!(std::fs::read(&back).unwrap(), PLAINTEXT);
        let mut bytes = std::fs::read(&ct).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 1;
        std::fs::write(&ct, bytes).unwrap();
        let out = cli(&[
            "decrypt", "--in", ct_s, "--out", back_s, "--tcti", &tcti, "--scheme", scheme,
        ]);
        assert_eq!(
            code(&seen.run("decrypt, tampered", out)),
            Some(26),
            "{scheme}"
        );
    }
    let foreign = write(dir, "foreign.jwt", token_with(foreign_jwk()));
    let ct = dir.join("foreign.enc");
    let ct_s = ct.to_str().unwrap();
    success(&seen.run(
        "encrypt, foreign key",
        cli(&[
            "encrypt",
            "--token",
            foreign.to_str().unwrap(),
            "--in",
            plain.to_str().unwrap(),
            "--out",
            ct_s,
        ]),
    ));
    let out = cli(&[
        "decrypt",
        "--in",
        ct_s,
        "--out",
        dir.join("f.out").to_str().unwrap(),
        "--tcti",
        &tcti,
    ]);
    assert_eq!(code(&seen.run("decrypt, another key", out)), Some(26));

    // The ITA API key: the service's routes with it and with a wrong one,
    // and the CLI's ITA client with each.
    let nonce = |key: &str| {
        http.get(format!("{base}/appraisal/v2/nonce"))
            .header("x-api-key", key)
    };
    let (status, body) = request(&mut seen, "ITA nonce", nonce(ITA_KEY));
    assert_eq!(status, 200, "{body}");
    let (status, _) = request(&mut seen, "ITA nonce, wrong key", nonce(WRONG_ITA_KEY));
    assert_eq!(status, 401);
    for (what, key) in [
        ("ITA attest", ITA_KEY),
        ("ITA attest, wrong key", WRONG_ITA_KEY),
    ] {
        let out = m
            .cli_without(&[])
            .args([
                "attest",
                "--tee",
                "mock",
                "--verifier",
                &format!("ita={base}"),
            ])
            .args(["--ita-issuer", &base])
            .env("RUST_LOG", "trace")
            .env("TEE_ATTEST_ITA_API_KEY", key)
            .output()
            .unwrap();
        let out = seen.run(what, out);
        if key == WRONG_ITA_KEY {
            assert!(!out.status.success(), "a wrong API key is refused");
        }
    }

    // An administrator's bearer token, and a forged one.
    let admin = write(dir, "admin.jwt", &admin_token);
    let forged_admin = write(dir, "forged.jwt", &forged_token);
    let permit = write(
        dir,
        "permit.txt",
        "version=1.0; authorizationrules { => permit(); };",
    );
    for (what, file) in [
        ("policy set", &admin),
        ("policy set, forged token", &forged_admin),
    ] {
        let out = cli(&[
            "policy",
            "set",
            permit.to_str().unwrap(),
            "--url",
            &base,
            "--token-file",
            file.to_str().unwrap(),
        ]);
        let out = seen.run(what, out);
        assert_eq!(out.status.success(), file == &admin, "{what}");
    }

    // The service's log: JSON lines, at trace level.
    drop(serve);
    let log_text = std::fs::read(&log).unwrap();
    let text = String::from_utf8_lossy(&log_text);
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    assert!(
        text.contains(r#""level":"DEBUG""#) || text.contains(r#""level":"TRACE""#),
        "the log is not at trace level:\n{text}"
    );
    assert!(text.contains("key release refused"), "{text}");
    seen.add("serve's log", &log_text);

    // The verifier's signing keys (RS256 and the ITA PS384 key), as stored.
    let signing = std::fs::read(srv.join("signing-key.pk8")).unwrap();
    let ita_signing = std::fs::read(srv.join("ita/signing-key.pk8")).unwrap();
    seen.check(&[
        ("KEK", KEK),
        ("KEK (hex, as given)", kek.as_bytes()),
        ("wrong KEK", WRONG_KEK),
        ("wrong KEK (hex, as given)", wrong_kek.as_bytes()),
        ("ITA API key", ITA_KEY.as_bytes()),
        ("wrong ITA API key", WRONG_ITA_KEY.as_bytes()),
        ("admin token", admin_token.as_bytes()),
        (
            "admin token's signature",
            admin_token.rsplit('.').next().unwrap().as_bytes(),
        ),
        (
            "forged admin token's signature",
            forged_token.rsplit('.').next().unwrap().as_bytes(),
        ),
        ("plaintext", PLAINTEXT),
        ("released material", &material),
        ("transfer key", &transfer_key),
        ("signing key", &signing),
        ("ITA signing key", &ita_signing),
    ]);
}
