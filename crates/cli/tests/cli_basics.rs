//! The CLI's own commands: --version, detect, demo.

use std::process::Command;

use tee_attest_mock::MockVtpm;
use tee_attest_tpm::handles::HCL_REPORT_NV_INDEX;

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tee-attest"))
}

fn json(out: &std::process::Output) -> serde_json::Value {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("stdout is JSON")
}

#[test]
fn version() {
    let out = cli().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("tee-attest 0."));
}

#[test]
fn detect_on_a_bare_machine_recommends_the_mock() {
    let root = tempfile::tempdir().unwrap();
    let v = json(
        &cli()
            .args(["detect", "--root"])
            .arg(root.path())
            .env_remove("TEE_ATTEST_TCTI")
            .output()
            .unwrap(),
    );
    assert_eq!(v["tee"], serde_json::Value::Null);
    assert_eq!(v["detected"], serde_json::json!([]));
    assert_eq!(v["recommended_features"], serde_json::json!(["mock"]));
    let built = v["compiled_in"].as_array().unwrap();
    for id in ["azure-snp", "snp", "mock"] {
        assert!(built.contains(&serde_json::json!(id)), "{v}");
    }
}

#[test]
fn detect_names_a_legacy_snp_device_under_its_root() {
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("dev")).unwrap();
    std::fs::write(root.path().join("dev/sev-guest"), b"").unwrap();
    let v = json(
        &cli()
            .args(["detect", "--root"])
            .arg(root.path())
            .env_remove("TEE_ATTEST_TCTI")
            .output()
            .unwrap(),
    );
    assert_eq!(v["tee"], "snp", "{v}");
    assert_eq!(v["detected"][0]["evidence_type"], "SevSnpVm");
    assert_eq!(v["recommended_features"], serde_json::json!(["snp"]));
}

#[test]
fn detect_reads_the_hcl_report_type_from_the_vtpm() {
    let vtpm = MockVtpm::start().expect("swtpm must be installed (cargo xtask deps)");
    let root = tempfile::tempdir().unwrap();
    let run = || {
        json(
            &cli()
                .args(["detect", "--root"])
                .arg(root.path())
                .env("TEE_ATTEST_TCTI", vtpm.tcti())
                .output()
                .unwrap(),
        )
    };
    // Defined but not an HCL report yet.
    assert_eq!(run()["tee"], serde_json::Value::Null);
    // An HCL header with report type 2 (SNP) in the IGVM request data.
    let mut blob = vec![0u8; 1300];
    blob[..4].copy_from_slice(b"HCLA");
    blob[1224..1228].copy_from_slice(&2u32.to_le_bytes());
    vtpm.open()
        .unwrap()
        .nv_write(HCL_REPORT_NV_INDEX, &blob)
        .unwrap();
    let v = run();
    assert_eq!(v["tee"], "azure-snp", "{v}");
    assert_eq!(v["detected"][0]["details"]["hcl_report"]["type"], "snp");
    assert_eq!(v["recommended_features"], serde_json::json!(["azure-snp"]));
    // A TDX CVM's report is claimed by the Azure TDX backend, not the SNP one.
    blob[1224..1228].copy_from_slice(&4u32.to_le_bytes());
    vtpm.open()
        .unwrap()
        .nv_write(HCL_REPORT_NV_INDEX, &blob)
        .unwrap();
    let v = run();
    assert_eq!(v["tee"], "azure-tdx", "{v}");
    assert_eq!(v["detected"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["detected"][0]["details"]["hcl_report"]["type"], "tdx");
    assert_eq!(v["recommended_features"], serde_json::json!(["azure-tdx"]));
}

#[test]
fn demo_verifies_on_the_mock_vtpm() {
    let v = json(&cli().args(["demo", "--json"]).output().unwrap());
    let s = &v["summary"];
    assert_eq!(s["tee"], "sevsnpvm");
    assert_eq!(s["attestation_type"], "azurevm");
    assert_eq!(s["mock_evidence"], true);
    assert_eq!(
        s["compliance"],
        serde_json::Value::Null,
        "mock evidence is never compliant"
    );
    assert_eq!(s["secure_boot"], true);
    assert_eq!(s["tpm_enabled"], true);
    assert_eq!(s["token_validated"], true);
    assert_eq!(s["decrypt_round_trip"], true);
    assert_eq!(s["nonce"].as_str().unwrap().len(), 32);
    let t = tee_attest_core::AttestationToken::parse(v["token"].as_str().unwrap()).unwrap();
    assert!(t.is_mock_evidence());
}

#[test]
fn unknown_subcommands_fail() {
    let out = cli().arg("frobnicate").output().unwrap();
    assert!(!out.status.success());
}

/// `mock up` → separate processes attest against it as on a real CVM →
/// `mock down` stops it (and its swtpm).
#[test]
fn mock_up_attest_down() {
    let dir = tempfile::tempdir().unwrap();
    let up = cli()
        .args(["mock", "up", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        up.status.success(),
        "{}",
        String::from_utf8_lossy(&up.stderr)
    );
    let exports = String::from_utf8(up.stdout).unwrap();
    let env: Vec<(String, String)> = exports
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('\'').to_string()))
        .collect();
    assert_eq!(env.len(), 5, "{exports}");
    let pid: u32 = std::fs::read_to_string(dir.path().join("pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();

    let run = |args: &[&str]| {
        let mut c = cli();
        c.args(args).arg("--data-dir").arg(dir.path().join("data"));
        for (k, v) in &env {
            c.env(k, v);
        }
        c.output().unwrap()
    };
    let out = run(&["attest", "--payload", r#"{"Nonce":"separate-process"}"#]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token =
        tee_attest_core::AttestationToken::parse(&String::from_utf8(out.stdout).unwrap()).unwrap();
    assert_eq!(token.nonce(), Some("separate-process"));
    assert!(token.is_mock_evidence());

    let down = cli()
        .args(["mock", "down", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(
        down.status.success(),
        "{}",
        String::from_utf8_lossy(&down.stderr)
    );
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "the mock CVM process is gone"
    );
    let again = cli()
        .args(["mock", "down", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(8), "nothing left to stop");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Serve(std::process::Child);
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `tee-attest serve --trust-mock` on 127.0.0.1:`port` with `data` as its
/// data directory (and a fixed KEK for the key store), once it listens.
fn start_serve(port: u16, data: &std::path::Path) -> Serve {
    let serve = Serve(
        cli()
            .args([
                "serve",
                "--trust-mock",
                "--addr",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(data)
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
    serve
}

/// `serve` and `attest --verifier maa=URL` as separate processes: the MAA
/// client posts AzureGuest evidence, the service seals the token to the
/// vTPM's key, the client unseals it in the vTPM and validates it by OpenID
/// discovery; `token verify` then checks it as a relying party.
#[test]
fn attest_through_the_maa_client_against_serve() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _serve = start_serve(port, &dir.path().join("srv"));
    let out = cli()
        .args([
            "attest",
            "--tee",
            "mock",
            "--trust-mock",
            "--verifier",
            &format!("maa={base}"),
        ])
        .args(["--payload", r#"{"Nonce":"via-maa"}"#])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let jwt = String::from_utf8(out.stdout).unwrap();
    let token = tee_attest_core::AttestationToken::parse(&jwt).unwrap();
    assert_eq!(token.issuer(), Some(base.as_str()));
    assert_eq!(token.nonce(), Some("via-maa"));
    assert_eq!(
        token.claim("x-ms-azurevm-ostype").and_then(|v| v.as_str()),
        Some("Linux")
    );

    let file = dir.path().join("t.jwt");
    std::fs::write(&file, &jwt).unwrap();
    let verify = |extra: &[&str]| {
        cli()
            .args(["token", "verify"])
            .arg(&file)
            .args(["--issuer", &base])
            .args(extra)
            .output()
            .unwrap()
    };
    assert!(verify(&["--nonce", "via-maa", "--allow-mock"])
        .status
        .success());
    assert_eq!(
        verify(&["--nonce", "other", "--allow-mock"]).status.code(),
        Some(6)
    );
    assert_eq!(
        verify(&[]).status.code(),
        Some(6),
        "mock evidence refused unless allowed"
    );
    // Without --trust-mock the client's validator refuses the token from mock evidence: code 6.
    let out = cli()
        .args([
            "attest",
            "--tee",
            "mock",
            "--verifier",
            &format!("maa={base}"),
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(6),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `serve` also releases keys (Key Vault SKR-compatible): a key created with
/// `keys create` in the service's data directory is released to a token
/// the service issued, and refused to anything else.
#[test]
fn serve_releases_keys_to_attested_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("srv");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let policy = dir.path().join("release.json");
    std::fs::write(
        &policy,
        serde_json::json!({"version": "1.0.0", "anyOf": [{"authority": base, "allOf": [
            {"claim": "x-ms-isolation-tee.x-ms-attestation-type", "equals": "sevsnpvm"}]}]})
        .to_string(),
    )
    .unwrap();
    let out = cli()
        .args(["keys", "create", "disk-key", "--kty", "oct", "--policy"])
        .arg(&policy)
        .arg("--data-dir")
        .arg(&data)
        .env("TEE_ATTEST_KEK", "00".repeat(32))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _serve = start_serve(port, &data);
    let out = cli()
        .args([
            "attest",
            "--tee",
            "mock",
            "--trust-mock",
            "--verifier",
            &format!("maa={base}"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap();

    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    let release = |target: &str| {
        let body = serde_json::json!({"target": target.trim(), "enc": "RSA_AES_KEY_WRAP_256"});
        let url = format!("{base}/keys/disk-key/release?api-version=7.4");
        rt.block_on(async {
            let r = http.post(url).json(&body).send().await.unwrap();
            (r.status().as_u16().to_string(), r.text().await.unwrap())
        })
    };
    let (code, body) = release(&token);
    assert_eq!(code, "200", "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["value"].as_str().unwrap().split('.').count(), 3, "a JWS");
    let mut forged = token.trim().to_string();
    forged.pop();
    forged.push(if token.trim().ends_with('A') {
        'B'
    } else {
        'A'
    });
    let (code, _) = release(&forged);
    assert_eq!(code, "400", "a token whose signature fails is refused");
}
