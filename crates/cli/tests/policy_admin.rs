//! Policy administration end to end, as separate processes over HTTPS with
//! a test CA: `tee-attest serve` with MAA's bearer model (a loopback OpenID
//! issuer) and isolated model (policy-management certificates), driven by
//! `tee-attest policy get|set|reset|certificates` and by Microsoft's Python
//! attestation SDK (`azure-security-attestation`, installed by `cargo
//! xtask deps` into `target/sdk-venv`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tee_attest_testkit::oidc::TestIssuer;
use tee_attest_testkit::pki::{rsa_self_signed, Issued, TestCa};

const AUD: &str = "api://tee-attest-admin";
const ROLE: &str = "Attestation.Admin";

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_tee-attest"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

struct Serve(std::process::Child);
impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The files of one HTTPS service with an admin set-up.
struct Fixture {
    dir: tempfile::TempDir,
    ca: PathBuf,
    token: PathBuf,
    signer: Issued,
    signer_key: PathBuf,
    signer_cert: PathBuf,
    issuer: TestIssuer,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = TestCa::new("tee-attest test CA");
        let server = ca.issue_server();
        write(dir.path(), "server.pem", &server.cert_pem);
        write(dir.path(), "server.key", &server.key_pem);
        let ca_file = write(dir.path(), "ca.pem", &ca.cert_pem);
        let issuer = TestIssuer::start();
        let token = write(
            dir.path(),
            "admin.jwt",
            &issuer.token(&issuer.admin_claims(AUD, ROLE)),
        );
        let signer = rsa_self_signed("tee-attest test policy signer");
        let signer_key = write(dir.path(), "signer.key", &signer.key_pem);
        let signer_cert = write(dir.path(), "signer.pem", &signer.cert_pem);
        Self {
            dir,
            ca: ca_file,
            token,
            signer,
            signer_key,
            signer_cert,
            issuer,
        }
    }

    /// `serve` over HTTPS with the bearer model, and isolated mode when
    /// `isolated`, once it listens. Returns the process and the base URL.
    fn serve(&self, isolated: bool) -> (Serve, String) {
        // One start at a time in this test binary: two tests picking a free
        // port at once may pick the same one, and one `serve` would then answer
        // for both.
        static START: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = START.lock().unwrap_or_else(|e| e.into_inner());
        let port = free_port();
        let mut c = cli();
        c.args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .arg("--data-dir")
            .arg(self.dir.path().join(if isolated { "iso" } else { "aad" }))
            .arg("--tls-cert")
            .arg(self.dir.path().join("server.pem"))
            .arg("--tls-key")
            .arg(self.dir.path().join("server.key"))
            .args(["--admin-issuer", self.issuer.url()])
            .args(["--admin-audience", AUD, "--admin-role", ROLE])
            .env("TEE_ATTEST_KEK", "00".repeat(32))
            .stderr(std::process::Stdio::null());
        if isolated {
            c.arg("--policy-signers").arg(&self.signer_cert);
        }
        let serve = Serve(c.spawn().unwrap());
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        // A connection from the port to itself (TCP simultaneous open, when
        // the kernel picks the probed port as the source) is not a listener.
        while !std::net::TcpStream::connect(("127.0.0.1", port))
            .is_ok_and(|s| s.local_addr().is_ok_and(|a| a.port() != port))
        {
            assert!(std::time::Instant::now() < deadline, "serve did not start");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        (serve, format!("https://127.0.0.1:{port}"))
    }

    fn remote<'a>(&'a self, c: &'a mut Command, url: &str, with_token: bool) -> &'a mut Command {
        c.args(["--url", url]).arg("--ca").arg(&self.ca);
        if with_token {
            c.arg("--token-file").arg(&self.token);
        }
        c
    }
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn refused(out: &Output, status: &str) -> String {
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(err.contains(status), "expected HTTP {status}: {err}");
    err
}

#[test]
fn the_cli_administers_policies_with_a_bearer_token() {
    let f = Fixture::new();
    let (_serve, url) = f.serve(false);
    let policy = write(
        f.dir.path(),
        "deny.txt",
        "version=1.0; authorizationrules { => deny(); };",
    );
    // Without a token: refused (401), and the policy is unchanged.
    let mut c = cli();
    c.args(["policy", "set"]).arg(&policy);
    let err = refused(&f.remote(&mut c, &url, false).output().unwrap(), "401");
    assert!(err.contains("Unauthorized"), "{err}");
    let mut c = cli();
    c.args(["policy", "get", "--type", "SevSnpVm"]);
    assert!(ok(&f.remote(&mut c, &url, false).output().unwrap()).contains("permit"));
    // With the administrator's token: set, read back, reset.
    let mut c = cli();
    c.args(["policy", "set", "--type", "SevSnpVm"]).arg(&policy);
    let out = ok(&f.remote(&mut c, &url, true).output().unwrap());
    assert!(out.contains("\"Updated\""), "{out}");
    let mut c = cli();
    c.args(["policy", "get", "--type", "SevSnpVm"]);
    assert!(ok(&f.remote(&mut c, &url, false).output().unwrap()).contains("deny"));
    let mut c = cli();
    c.args(["policy", "reset", "--type", "SevSnpVm"]);
    assert!(ok(&f.remote(&mut c, &url, true).output().unwrap()).contains("\"Removed\""));
    // Every action is in the audit, read with `admin audit`.
    let out = cli()
        .args(["admin", "audit", "--json", "--data-dir"])
        .arg(f.dir.path().join("aad"))
        .output()
        .unwrap();
    let audit = ok(&out);
    assert!(
        audit.contains("policy.set") && audit.contains("policy.reset"),
        "{audit}"
    );
    assert!(audit.contains("sub=admin-1"), "{audit}");
    assert!(audit.contains("refused"), "{audit}");
}

#[test]
fn the_cli_administers_an_isolated_service_with_signed_documents() {
    let f = Fixture::new();
    let (_serve, url) = f.serve(true);
    let policy = write(
        f.dir.path(),
        "deny.txt",
        "version=1.0; authorizationrules { => deny(); };",
    );
    // Unsigned, with the token: 403.
    let mut c = cli();
    c.args(["policy", "set"]).arg(&policy);
    refused(&f.remote(&mut c, &url, true).output().unwrap(), "403");
    // Signed, with the token: done, and the signer is reported.
    let mut c = cli();
    c.args(["policy", "set"])
        .arg(&policy)
        .arg("--signing-key")
        .arg(&f.signer_key)
        .arg("--signing-cert")
        .arg(&f.signer_cert);
    let out = ok(&f.remote(&mut c, &url, true).output().unwrap());
    assert!(out.contains("x5c"), "{out}");
    // Certificates: list, add another, remove it; the last cannot go.
    let other = rsa_self_signed("another signer");
    let other_cert = write(f.dir.path(), "other.pem", &other.cert_pem);
    let cert_cmd = |op: &str, cert: &Path| {
        let mut c = cli();
        c.args(["policy", "certificates", op])
            .arg(cert)
            .arg("--signing-key")
            .arg(&f.signer_key)
            .arg("--signing-cert")
            .arg(&f.signer_cert);
        f.remote(&mut c, &url, true).output().unwrap()
    };
    assert!(ok(&cert_cmd("add", &other_cert)).contains("IsPresent"));
    let mut c = cli();
    c.args(["policy", "certificates", "list"]);
    let list: serde_json::Value =
        serde_json::from_str(&ok(&f.remote(&mut c, &url, false).output().unwrap())).unwrap();
    assert_eq!(list["keys"].as_array().unwrap().len(), 2);
    assert!(ok(&cert_cmd("remove", &other_cert)).contains("IsAbsent"));
    let err = refused(&cert_cmd("remove", &f.signer_cert), "400");
    assert!(err.contains("last"), "{err}");
    // Reset needs a signature too.
    let mut c = cli();
    c.args(["policy", "reset"]);
    refused(&f.remote(&mut c, &url, true).output().unwrap(), "403");
    let _ = &f.signer;
}

#[test]
fn insecure_admin_is_refused_off_loopback() {
    let out = cli()
        .args([
            "serve",
            "--insecure-admin",
            "--addr",
            "0.0.0.0:1",
            "--tls-cert",
            "/nonexistent.pem",
            "--tls-key",
            "/nonexistent.key",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--insecure-admin"), "{err}");
    assert!(err.contains("loopback"), "{err}");
}

/// The Python interpreter with Microsoft's SDK: `$TEE_ATTEST_PYTHON`, else
/// the venv `cargo xtask deps` makes. A machine without it fails the test
/// with the way to get it.
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
        "Microsoft's Python attestation SDK is missing at {}: run `cargo xtask deps` \
         (it creates the venv and installs azure-security-attestation), or set TEE_ATTEST_PYTHON",
        venv.display()
    );
    venv
}

fn run_sdk(f: &Fixture, url: &str, isolated: bool) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/maa_admin.py");
    let out = Command::new(sdk_python())
        .arg(script)
        .env("MAA_URL", url)
        .env("MAA_CA_FILE", &f.ca)
        .env("MAA_TOKEN_FILE", &f.token)
        .env("MAA_SIGNING_KEY", &f.signer_key)
        .env("MAA_SIGNING_CERT", &f.signer_cert)
        .env("MAA_ISOLATED", if isolated { "1" } else { "0" })
        .env_remove("REQUESTS_CA_BUNDLE")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the SDK script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" 0 failed"), "{stdout}");
    stdout
}

/// Microsoft's Python SDK gets and sets policies with a valid bearer
/// credential, resets them, and is refused without one (bearer model).
#[test]
fn microsoft_python_sdk_administers_policies_with_a_bearer_token() {
    let f = Fixture::new();
    let (_serve, url) = f.serve(false);
    let out = run_sdk(&f, &url, false);
    for check in [
        "PASS get_policy",
        "PASS set_policy unsigned (bearer)",
        "PASS reset_policy unsigned",
        "PASS set_policy signed",
        "PASS set_policy without Authorization",
        "PASS set_policy with bogus bearer",
    ] {
        assert!(out.contains(check), "{check} missing:\n{out}");
    }
}

/// Isolated mode: the SDK's signed policies and certificate changes are
/// accepted, its unsigned ones refused.
#[test]
fn microsoft_python_sdk_administers_an_isolated_service() {
    let f = Fixture::new();
    let (_serve, url) = f.serve(true);
    let out = run_sdk(&f, &url, true);
    for check in [
        "PASS set_policy unsigned rejected (isolated)",
        "PASS set_policy signed",
        "PASS set_policy signed by a non-management cert rejected (isolated)",
        "PASS add_policy_management_certificate",
        "PASS remove_policy_management_certificate",
    ] {
        assert!(out.contains(check), "{check} missing:\n{out}");
    }
}
