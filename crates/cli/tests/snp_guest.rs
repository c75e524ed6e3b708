//! The bare-metal SEV-SNP backend, added through the registry, end to end
//! as separate processes: `mock up --tee snp` (configfs-tsm emulated with
//! FUSE), then `attest --tee snp` with the embedded verifier and with the
//! MAA client against `serve` (`SevSnpVm`, the report data binding the
//! runtime data that carries the nonce); `Decrypt` says it is not supported.

use std::process::{Command, Output};

fn cli() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tee-attest"));
    for k in [
        "TEE_ATTEST_TCTI",
        "TEE_ATTEST_TSM_ROOT",
        "TEE_ATTEST_TEE",
        "TEE_ATTEST_TRUST_MOCK",
    ] {
        c.env_remove(k);
    }
    c
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

struct Mock {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Mock {
    fn up() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let out = cli()
            .args(["mock", "up", "--tee", "snp", "--dir"])
            .arg(dir.path())
            .output()
            .unwrap();
        let exports = ok(&out);
        let env = exports
            .lines()
            .filter_map(|l| l.strip_prefix("export "))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
            .collect();
        Mock { dir, env }
    }

    fn run(&self, args: &[&str]) -> Output {
        let mut c = cli();
        c.args(args);
        for (k, v) in &self.env {
            c.env(k, v);
        }
        c.output().unwrap()
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = cli()
            .args(["mock", "down", "--dir"])
            .arg(self.dir.path())
            .output();
    }
}

#[test]
fn a_bare_metal_snp_guest_attests_through_the_registry() {
    let m = Mock::up();
    let keys: Vec<&str> = m.env.iter().map(|(k, _)| k.as_str()).collect();
    assert!(keys.contains(&"TEE_ATTEST_TSM_ROOT"), "{keys:?}");
    let data = m.dir.path().join("data");
    let data = data.to_str().unwrap();

    // Embedded verifier, mock roots trusted.
    let out = m.run(&[
        "attest",
        "--tee",
        "snp",
        "--trust-mock",
        "--data-dir",
        data,
        "--payload",
        r#"{"Nonce":"bare-metal-1","app":"demo"}"#,
    ]);
    let token = tee_attest_core::AttestationToken::parse(&ok(&out)).unwrap();
    assert_eq!(token.attestation_type(), Some("sevsnpvm"));
    assert_eq!(token.nonce(), Some("bare-metal-1"));
    assert!(token.is_mock_evidence());
    assert_eq!(
        token.claim("x-ms-runtime.app"),
        Some(&serde_json::Value::from("demo"))
    );
    assert!(
        token.claim("x-ms-runtime.keys").is_none(),
        "no vTPM, no ephemeral key"
    );

    // Without the mock roots trusted: refused (code 6, untrusted root).
    let mut c = cli();
    c.args(["attest", "--tee", "snp", "--data-dir", data]);
    for (k, v) in &m.env {
        if k != "TEE_ATTEST_TRUST_MOCK" {
            c.env(k, v);
        }
    }
    let out = c.output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("untrusted-root"));

    // Decrypt: not supported on this TEE (code 1).
    let ct = m.dir.path().join("ct");
    std::fs::write(&ct, b"x").unwrap();
    std::fs::write(m.dir.path().join("ct.meta"), b"").unwrap();
    let out = m.run(&[
        "decrypt",
        "--tee",
        "snp",
        "--in",
        ct.to_str().unwrap(),
        "--out",
        m.dir.path().join("pt").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("not supported on this TEE (snp)"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

struct Serve(std::process::Child);
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn the_maa_client_routes_bare_snp_evidence_to_sev_snp_vm() {
    let m = Mock::up();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _serve = Serve(
        cli()
            .args([
                "serve",
                "--trust-mock",
                "--addr",
                &format!("127.0.0.1:{port}"),
            ])
            .arg("--data-dir")
            .arg(m.dir.path().join("srv"))
            .env("TEE_ATTEST_KEK", "00".repeat(32))
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    // A connection from the port to itself (TCP simultaneous open, when
    // the kernel picks the probed port as the source) is not a listener.
    while !std::net::TcpStream::connect(("127.0.0.1", port))
        .is_ok_and(|s| s.local_addr().is_ok_and(|a| a.port() != port))
    {
        assert!(std::time::Instant::now() < deadline, "serve did not start");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let url = format!("http://127.0.0.1:{port}");
    let out = m.run(&[
        "attest",
        "--tee",
        "snp",
        "--verifier",
        &format!("maa={url}"),
        "--payload",
        r#"{"Nonce":"via-sev-snp-vm"}"#,
    ]);
    let raw = ok(&out);
    let token = tee_attest_core::AttestationToken::parse(&raw).unwrap();
    assert_eq!(token.attestation_type(), Some("sevsnpvm"));
    assert_eq!(token.nonce(), Some("via-sev-snp-vm"));
    // A relying party validates it against the service's keys.
    let token_file = m.dir.path().join("t.jwt");
    std::fs::write(&token_file, raw.trim()).unwrap();
    let out = cli()
        .args(["token", "verify"])
        .arg(&token_file)
        .args([
            "--issuer",
            &url,
            "--allow-mock",
            "--nonce",
            "via-sev-snp-vm",
        ])
        .output()
        .unwrap();
    ok(&out);
}
