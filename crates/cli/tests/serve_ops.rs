//! `tee-attest serve` as an operator runs it: `--log-format json` (one JSON
//! object per line on standard error, the request id in every line of its
//! request), `--trusted-proxy`, `--metrics-allow`, `/metrics`, `/healthz`,
//! `/readyz` — and, at `--log-level trace`, no bearer token, release target
//! or AzureGuest body in the log.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

struct Serve {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Serve {
    /// Stops the service (SIGKILL: the log is written line by line) and
    /// returns its log.
    fn stop(mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        std::fs::read_to_string(&self.log).unwrap()
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn serve(dir: &Path, extra: &[&str]) -> Serve {
    // One start at a time in this test binary: two tests picking a free
    // port at once may pick the same one, and one `serve` would then answer
    // for both.
    static START: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = START.lock().unwrap_or_else(|e| e.into_inner());
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let log = dir.join("serve.log");
    let child = Command::new(env!("CARGO_BIN_EXE_tee-attest"))
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .args(extra)
        .env("TEE_ATTEST_KEK", "00".repeat(32))
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    // A connection from the port to itself (TCP simultaneous open, when
    // the kernel picks the probed port as the source) is not a listener.
    while !std::net::TcpStream::connect(("127.0.0.1", port))
        .is_ok_and(|s| s.local_addr().is_ok_and(|a| a.port() != port))
    {
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Serve {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    }
}

/// The log's lines, each a JSON object.
fn json_lines(log: &str) -> Vec<Value> {
    log.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test]
async fn json_logs_request_ids_proxies_metrics_and_no_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let issuer = tee_attest_testkit::oidc::TestIssuer::start();
    let s = serve(
        dir.path(),
        &[
            "--log-format",
            "json",
            "--log-level",
            "trace",
            "--trusted-proxy",
            "127.0.0.1/32",
            "--admin-issuer",
            issuer.url(),
            "--admin-audience",
            "api://tee-attest-admin",
            "--admin-role",
            "Attestation.Admin",
        ],
    );
    let http = reqwest::Client::new();

    // Markers: a JWT-shaped bearer token and release target, an AzureGuest
    // body with one in its client payload.
    let bearer = format!(
        "{}.{}.c2lnbmF0dXJlLW1hcmtlci1iZWFyZXI",
        b64(&json!({"alg": "RS256", "typ": "JWT", "kid": "kid-marker-5e1"})),
        b64(&json!({"sub": "SUB-MARKER-BEARER-91d", "aud": "api://tee-attest-admin"})),
    );
    let target = format!(
        "{}.{}.c2lnbmF0dXJlLW1hcmtlci10YXJnZXQ",
        b64(&json!({"alg": "RS256", "typ": "JWT", "kid": "kid-marker-77a"})),
        b64(&json!({"sub": "SUB-MARKER-TARGET-0c4", "iss": "http://evil.example"})),
    );
    let info = json!({
        "AttestationProtocolVersion": "2.0",
        "OSType": URL_SAFE_NO_PAD.encode("Linux"),
        "OSDistro": URL_SAFE_NO_PAD.encode("Debian"),
        "OSVersionMajor": 12, "OSVersionMinor": 0, "OSBuild": URL_SAFE_NO_PAD.encode("6.1"),
        "ClientPayload": {"secret": URL_SAFE_NO_PAD.encode("CLIENT-PAYLOAD-MARKER-b77")},
        "TcgLogs": URL_SAFE_NO_PAD.encode("TCG-LOG-MARKER-2f8"),
        "IsolationInfo": {"Type": "SevSnp", "Evidence": {
            "Proof": URL_SAFE_NO_PAD.encode("PROOF-MARKER-e05"),
            "RunTimeData": URL_SAFE_NO_PAD.encode("RUNTIME-MARKER-a31")}},
        "TpmInfo": {"AikCert": URL_SAFE_NO_PAD.encode("AIK-MARKER-4b2"),
            "PcrQuote": URL_SAFE_NO_PAD.encode("QUOTE-MARKER-9ee")},
    });
    let info_b64 = b64(&info);
    let body = json!({ "AttestationInfo": info_b64 }).to_string();

    let r = http
        .post(format!(
            "{}/attest/AzureGuest?api-version=2020-10-01",
            s.base
        ))
        .bearer_auth(&bearer)
        .header("x-request-id", "ops-attest-1")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "{}", r.text().await.unwrap());
    let r = http
        .put(format!("{}/policies/AzureGuest", s.base))
        .bearer_auth(&bearer)
        .header("x-request-id", "ops-policy-1")
        .body("version=1.0; authorizationrules { => permit(); };")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "an unknown key: refused");
    assert_eq!(r.headers()["x-request-id"], "ops-policy-1");
    let r = http
        .post(format!("{}/keys/some-key/release", s.base))
        .bearer_auth(&bearer)
        .header("x-request-id", "ops-release-1")
        .json(&json!({ "target": target, "nonce": "NONCE-MARKER-c0ffee" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a target that does not validate");

    // Health.
    let r = http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = http.get(format!("{}/readyz", s.base)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let ready: Value = r.json().await.unwrap();
    assert_eq!(ready["checks"]["key-store"], "ok", "{ready}");

    // The trusted proxy (loopback) forwards a client that is not loopback's:
    // no metrics for it; the proxy's own scrape gets them.
    let r = http
        .get(format!("{}/metrics", s.base))
        .header("x-forwarded-for", "203.0.113.5")
        .header("x-request-id", "ops-metrics-forwarded")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let metrics = r.text().await.unwrap();
    for line in [
        r#"tee_attest_http_requests_total{route="/attest/{kind}",method="POST",type="AzureGuest",status="400"} 1"#,
        r#"tee_attest_http_requests_total{route="/policies/{kind}",method="PUT",type="AzureGuest",status="401"} 1"#,
        r#"tee_attest_http_requests_total{route="/keys/{name}/release",method="POST",status="400"} 1"#,
        r#"tee_attest_http_requests_total{route="/metrics",method="GET",status="403"} 1"#,
        r#"tee_attest_appraisal_duration_seconds_count{type="AzureGuest",outcome="refused"} 1"#,
        r#"tee_attest_key_releases_total{decision="invalid-token"} 1"#,
    ] {
        assert!(
            metrics.lines().any(|l| l == line),
            "{line} not in\n{metrics}"
        );
    }

    let log = s.stop();
    println!("{log}");
    let lines = json_lines(&log);
    // Every line of a request carries its id.
    let of = |id: &str| -> Vec<&Value> {
        lines
            .iter()
            .filter(|l| l["span"]["request_id"] == id)
            .collect()
    };
    for id in ["ops-attest-1", "ops-policy-1", "ops-release-1"] {
        let mine = of(id);
        assert!(
            mine.iter().any(|l| l["message"] == "request"),
            "{id}: {mine:?}"
        );
    }
    // The release's decision is logged inside its request.
    assert!(
        of("ops-release-1")
            .iter()
            .any(|l| l["message"] == "key release refused"),
        "{log}"
    );
    let forwarded = of("ops-metrics-forwarded");
    let client = forwarded[0]["span"]["client"].as_str().unwrap();
    assert!(client.starts_with("203.0.113.5 via 127.0.0.1:"), "{client}");

    // No secret, whole or in part.
    let mut secrets = vec![
        bearer.clone(),
        target.clone(),
        body.clone(),
        info_b64.clone(),
    ];
    for t in [&bearer, &target] {
        secrets.extend(t.split('.').map(str::to_string));
    }
    secrets.extend(
        info_b64
            .as_bytes()
            .chunks(40)
            .map(|c| String::from_utf8(c.to_vec()).unwrap()),
    );
    for m in [
        "SUB-MARKER-BEARER-91d",
        "SUB-MARKER-TARGET-0c4",
        "CLIENT-PAYLOAD-MARKER-b77",
        "TCG-LOG-MARKER-2f8",
        "PROOF-MARKER-e05",
        "RUNTIME-MARKER-a31",
        "AIK-MARKER-4b2",
        "QUOTE-MARKER-9ee",
        "NONCE-MARKER-c0ffee",
    ] {
        secrets.push(m.to_string());
        secrets.push(URL_SAFE_NO_PAD.encode(m));
    }
    for secret in secrets.iter().filter(|s| s.len() >= 12) {
        assert!(
            !log.contains(secret.as_str()),
            "{secret} is in the log:\n{log}"
        );
    }
    assert!(!log.to_ascii_lowercase().contains("bearer ey"), "{log}");
    assert!(!log.contains("ZXZpbC5leGFtcGxl"), "the target's claims");
}

#[tokio::test]
async fn metrics_networks_and_flags() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &["--metrics-allow", "10.0.0.0/8"]);
    let r = reqwest::get(format!("{}/metrics", s.base)).await.unwrap();
    assert_eq!(r.status(), 403, "loopback is not in 10.0.0.0/8");
    let r = reqwest::get(format!("{}/healthz", s.base)).await.unwrap();
    assert_eq!(r.status(), 200);
    let log = s.stop();
    // Text logs by default.
    assert!(log.contains(" INFO "), "{log}");
    assert!(log.contains("request_id="), "{log}");

    // Networks that do not parse are refused before anything starts.
    for args in [
        &["--trusted-proxy", "not-an-address"][..],
        &["--metrics-allow", "10.0.0.0/33"],
        &["--log-format", "xml"],
        &["--log-level", "tee_attest=loud"],
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_tee-attest"))
            .args(["serve", "--addr", "127.0.0.1:1", "--data-dir"])
            .arg(dir.path().join("unused"))
            .args(args)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?}");
        assert!(
            !dir.path().join("unused").exists(),
            "{args:?}: refused before the data directory is made"
        );
    }
}
