//! Microsoft's Python attestation SDK (`attest_sgx_enclave`) against
//! `tee-attest serve --trust-mock` over HTTPS with a test CA: Intel's real
//! SGX sample is understood and refused for its expired collateral (MAA's
//! error body); a quote of the mock Intel platform gets a token that the
//! SDK validates against `/certs` itself.

use std::path::{Path, PathBuf};
use std::process::Command;

use tee_attest_mock::intel::MockIntelPlatform;
use tee_attest_testkit::pki::TestCa;
use tee_attest_testkit::vector;

struct Serve(std::process::Child);
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The Python interpreter with Microsoft's SDK (as in policy_admin.rs).
fn sdk_python() -> PathBuf {
    if let Some(p) = std::env::var_os("TEE_ATTEST_PYTHON") {
        return PathBuf::from(p);
    }
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/sdk-venv/bin/python3");
    let has_sdk = Command::new(&venv)
        .args(["-c", "import azure.security.attestation, six"])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        has_sdk,
        "Microsoft's Python attestation SDK is missing at {}: run `cargo xtask deps`, or set \
         TEE_ATTEST_PYTHON",
        venv.display()
    );
    venv
}

#[test]
fn microsoft_python_sdk_attests_sgx_enclaves() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ca = TestCa::new("tee-attest test CA");
    let server = ca.issue_server();
    write(d, "server.pem", server.cert_pem.as_bytes());
    write(d, "server.key", server.key_pem.as_bytes());
    let ca_file = write(d, "ca.pem", ca.cert_pem.as_bytes());
    // The real sample's collateral, for the service to find (and refuse as
    // expired).
    let intel = d.join("intel");
    std::fs::create_dir(&intel).unwrap();
    write(&intel, "sgx.json", &vector("sgx-dcap/collateral.json"));
    // A mock SGX quote binding its enclave held data.
    let platform = MockIntelPlatform::stored().unwrap();
    let ehd = b"tee-attest enclave held data";
    let mut enclave = platform.enclave();
    let h = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, ehd);
    enclave.report_data[..32].copy_from_slice(h.as_ref());
    let mock_quote = write(d, "mock.quote", &platform.sgx_quote_v3(&enclave).unwrap());
    let ehd_file = write(d, "mock.ehd", ehd);
    let real_quote = write(d, "real.quote", &vector("sgx-dcap/quote.bin"));

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let _serve = Serve(
        Command::new(env!("CARGO_BIN_EXE_tee-attest"))
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(d.join("data"))
            .arg("--tls-cert")
            .arg(d.join("server.pem"))
            .arg("--tls-key")
            .arg(d.join("server.key"))
            .arg("--intel-collateral")
            .arg(&intel)
            .args(["--trust-mock", "--insecure-admin"])
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
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/maa_sgx.py");
    let out = Command::new(sdk_python())
        .arg(script)
        .env("MAA_URL", format!("https://127.0.0.1:{port}"))
        .env("MAA_CA_FILE", &ca_file)
        .env("REAL_QUOTE", &real_quote)
        .env("MOCK_QUOTE", &mock_quote)
        .env("MOCK_EHD", &ehd_file)
        .env("MOCK_MRENCLAVE", hex::encode(enclave.mr_enclave))
        .env_remove("REQUESTS_CA_BUNDLE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the SDK script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for check in [
        "PASS attest_sgx_enclave real sample refused (expired collateral)",
        "PASS attest_sgx_enclave mock quote, token validated by the SDK",
        "PASS forged token refused by the SDK's validation",
        "3 passed, 0 failed",
    ] {
        assert!(stdout.contains(check), "{check} missing:\n{stdout}");
    }
}
