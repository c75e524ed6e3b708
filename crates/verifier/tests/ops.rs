//! Operating the service, on a real loopback listener: `GET /metrics`
//! after attestations (counts, histograms, bounded labels, the SEV-SNP
//! chain and DCAP collateral caches' hits and misses), `/healthz` and
//! `/readyz` (503 when the data directory goes away), request ids echoed
//! and carried by every log line of their request, `X-Forwarded-For`
//! believed only from configured proxies, the metrics refused outside
//! their networks, and no bearer token or AzureGuest body in the JSON logs
//! at trace level.
//!
//! Every test here logs into one JSON subscriber (the process's), at trace
//! level; each finds its own lines by its request ids.

use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;
use tee_attest_maa::azureguest::SevSnpVmRequest;
use tee_attest_verifier::service::{serve, AdminConfig, Cidr, Limits, OpsConfig, ServiceState};
use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};

// ---------------------------------------------------------------------------
// The log, as `tee-attest serve --log-format json --log-level trace` writes it
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn sink() -> &'static Sink {
    static SINK: OnceLock<Sink> = OnceLock::new();
    SINK.get_or_init(|| {
        let sink = Sink(Arc::new(Mutex::new(Vec::new())));
        let writer = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
            .with_writer(move || writer.clone())
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(true)
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        sink
    })
}

/// Everything logged so far, as text.
fn log_text() -> String {
    String::from_utf8_lossy(&sink().0.lock().unwrap_or_else(|p| p.into_inner())).into_owned()
}

/// The log lines (JSON objects) of the request with this id.
fn lines_of(request_id: &str) -> Vec<Value> {
    log_text()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["span"]["request_id"] == request_id)
        .collect()
}

// ---------------------------------------------------------------------------
// The service
// ---------------------------------------------------------------------------

struct Server {
    base: String,
    state: Arc<ServiceState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.task.await.unwrap();
    }
}

async fn start(
    dir: &std::path::Path,
    admin: AdminConfig,
    ops: OpsConfig,
    extra_roots: &[Vec<u8>],
) -> Server {
    start_with(
        dir,
        admin,
        ops,
        vec![
            Arc::new(tee_attest_azure::AzureSnpAppraiser::with_extra_roots(extra_roots).unwrap()),
            Arc::new(tee_attest_snp::SevSnpVmAppraiser::with_extra_roots(extra_roots).unwrap()),
        ],
    )
    .await
}

async fn start_with(
    dir: &std::path::Path,
    admin: AdminConfig,
    ops: OpsConfig,
    appraisers: Vec<Arc<dyn tee_attest_core::Appraiser>>,
) -> Server {
    let _ = sink();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let mut cfg = LocalVerifierConfig::new(&base);
    cfg.appraisers = appraisers;
    let verifier =
        Arc::new(LocalVerifier::new(cfg, TokenSigner::load_or_generate(dir).unwrap()).unwrap());
    let state = ServiceState::with_ops(verifier, dir, admin, Limits::default(), ops).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let st = state.clone();
    let task = tokio::spawn(async move {
        serve(listener, st, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Server {
        base,
        state,
        stop: Some(tx),
        task,
    }
}

fn nets(list: &[&str]) -> Vec<Cidr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

/// The Milan report and VCEK (real hardware; AMD's roots).
fn milan_request() -> SevSnpVmRequest {
    let report = tee_attest_testkit::hex_vector("snp-milan/report.hex");
    let vcek = tee_attest_testkit::vector("snp-milan/vcek.der");
    SevSnpVmRequest::new(&report, &[vcek]).unwrap()
}

/// The value of the sample `name` (labels included, as written) in a
/// Prometheus text exposition.
fn sample(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_attestations_with_bounded_labels() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), AdminConfig::locked(), OpsConfig::default(), &[]).await;
    let http = reqwest::Client::new();
    let attest = |body: String, id: &'static str| {
        http.post(format!("{}/attest/SevSnpVm", s.base))
            .header("x-request-id", id)
            .body(body)
            .send()
    };

    // Twice the same chain: a miss, then a hit of the validated-chain cache.
    let mut req = milan_request();
    for id in ["m-attest-1", "m-attest-2"] {
        let r = attest(serde_json::to_string(&req).unwrap(), id)
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.headers()["x-request-id"], id);
    }
    // A draft policy: an unsigned token, and a policy-issued reserved claim
    // dropped — logged (debug) on the appraisal's blocking thread, in the
    // request's span.
    req.draft_policy = Some(
        "version=1.0; authorizationrules { => permit(); }; issuancerules { => \
         issue(type=\"x-ms-compliance-status\", value=\"forged\"); };"
            .into(),
    );
    let r = attest(serde_json::to_string(&req).unwrap(), "m-draft")
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let dropped = lines_of("m-draft").into_iter().any(|l| {
        l["message"]
            .as_str()
            .unwrap_or("")
            .contains("reserved name")
    });
    assert!(dropped, "the appraisal's log line carries the request id");
    // Refused: a report that does not parse.
    let r = attest(r#"{"report":"AAAA"}"#.into(), "m-refused")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Hostile paths and types: each a fresh string, none a fresh series.
    for i in 0..40 {
        let _ = http
            .post(format!("{}/attest/Type{i}x", s.base))
            .body("{}")
            .send()
            .await
            .unwrap();
        let _ = http
            .get(format!("{}/no/such/route/{i}zz", s.base))
            .send()
            .await
            .unwrap();
    }

    let r = http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = r.text().await.unwrap();
    println!("{text}");
    let req_total = |labels: &str| {
        sample(
            &text,
            &format!("tee_attest_http_requests_total{{{labels}}}"),
        )
    };
    assert_eq!(
        req_total(r#"route="/attest/{kind}",method="POST",type="SevSnpVm",status="200""#),
        Some(3.0)
    );
    assert_eq!(
        req_total(r#"route="/attest/{kind}",method="POST",type="SevSnpVm",status="400""#),
        Some(1.0)
    );
    assert_eq!(
        req_total(r#"route="/attest/{kind}",method="POST",type="other",status="400""#),
        Some(40.0)
    );
    assert_eq!(
        req_total(r#"route="unmatched",method="GET",status="404""#),
        Some(40.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"tee_attest_appraisal_duration_seconds_count{type="SevSnpVm",outcome="ok"}"#
        ),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"tee_attest_appraisal_duration_seconds_count{type="SevSnpVm",outcome="refused"}"#
        ),
        Some(1.0)
    );
    assert!(text.contains(
        r#"tee_attest_appraisal_duration_seconds_bucket{type="SevSnpVm",outcome="ok",le="+Inf"} 3"#
    ));
    assert_eq!(
        sample(
            &text,
            r#"tee_attest_tokens_issued_total{type="SevSnpVm",kind="signed"}"#
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"tee_attest_tokens_issued_total{type="SevSnpVm",kind="draft"}"#
        ),
        Some(1.0)
    );
    // The cache: a miss the first time, hits after (the draft reused it).
    assert_eq!(
        sample(
            &text,
            r#"tee_attest_collateral_cache_requests_total{cache="snp-chain",result="miss"}"#
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &text,
            r#"tee_attest_collateral_cache_requests_total{cache="snp-chain",result="hit"}"#
        ),
        Some(2.0)
    );
    // Bounded: no client string became a label value.
    assert!(!text.contains("Type1x") && !text.contains("zz"), "{text}");
    let series = text
        .lines()
        .filter(|l| l.starts_with("tee_attest_http_requests_total{"))
        .count();
    assert!(series <= 5, "{series} request series");
    s.stop().await;
}

/// DCAP collateral: the first TdxVm quote of a platform asks the sources (a
/// miss), the next ones find it remembered (hits); the TdxVm and SgxEnclave
/// appraisers share the cache, which is one series.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dcap_collateral_cache_is_counted() {
    use base64::Engine as _;
    use tee_attest_mock::intel::{MockCollateralSource, MockIntelPlatform};
    use tee_attest_tdx::{CollateralChain, DcapAppraiser, DcapTrust, VerifyOptions};

    let platform = MockIntelPlatform::stored().unwrap();
    let chain =
        CollateralChain::new().with_source(Arc::new(MockCollateralSource::new(platform.clone())));
    let trust = Arc::new(
        DcapTrust::new(
            &[platform.root_der().to_vec()],
            chain,
            VerifyOptions::default(),
        )
        .unwrap(),
    );
    let dir = tempfile::tempdir().unwrap();
    let s = start_with(
        dir.path(),
        AdminConfig::locked(),
        OpsConfig::default(),
        vec![
            Arc::new(DcapAppraiser::tdx_vm(trust.clone())),
            Arc::new(DcapAppraiser::sgx_enclave(trust)),
        ],
    )
    .await;
    let runtime = br#"{"app":"ops"}"#;
    let mut td = platform.td();
    td.report_data[..32]
        .copy_from_slice(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, runtime).as_ref());
    let quote = platform.tdx_quote_v4(&td).unwrap();
    let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
    let body = serde_json::json!({
        "quote": b64(&quote),
        "runtimeData": {"data": b64(runtime), "dataType": "JSON"},
    });
    let http = reqwest::Client::new();
    for _ in 0..3 {
        let r = http
            .post(format!("{}/attest/TdxVm", s.base))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    }
    let text = http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let cache = |result: &str| {
        sample(
            &text,
            &format!(
                r#"tee_attest_collateral_cache_requests_total{{cache="dcap-collateral",result="{result}"}}"#
            ),
        )
    };
    assert_eq!(
        (cache("miss"), cache("hit")),
        (Some(1.0), Some(2.0)),
        "{text}"
    );
    assert_eq!(
        text.matches(r#"cache="dcap-collateral",result="hit""#)
            .count(),
        1
    );
    assert_eq!(
        sample(
            &text,
            r#"tee_attest_tokens_issued_total{type="TdxVm",kind="signed"}"#
        ),
        Some(3.0)
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liveness_and_readiness() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("data");
    let s = start(&dir, AdminConfig::locked(), OpsConfig::default(), &[]).await;
    let http = reqwest::Client::new();
    let get = |path: &'static str, id: &'static str| {
        http.get(format!("{}{path}", s.base))
            .header("x-request-id", id)
            .send()
    };

    let r = get("/healthz", "h-1").await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ok");
    let r = get("/readyz", "r-1").await.unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    for check in ["data-dir", "policies", "signing-key"] {
        assert_eq!(body["checks"][check], "ok", "{body}");
    }

    // The data directory goes away (an unmounted volume; renaming works as
    // root too, where permissions would not stop a read).
    let away = root.path().join("gone");
    std::fs::rename(&dir, &away).unwrap();
    let r = get("/readyz", "r-2").await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["retry-after"], "5");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "ServiceUnavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("data-dir"), "{message}");
    assert!(
        !message.contains(root.path().to_str().unwrap()),
        "paths stay in the log: {message}"
    );
    // Why, in the log, in the request's span.
    let why = lines_of("r-2");
    assert!(
        why.iter()
            .any(|l| l["level"] == "WARN" && l["check"] == "data-dir"),
        "{why:?}"
    );
    // Still alive.
    assert_eq!(get("/healthz", "h-2").await.unwrap().status(), 200);
    // And no attestation falls back to the default policy meanwhile.
    let r = http
        .post(format!("{}/attest/SevSnpVm", s.base))
        .body(serde_json::to_string(&milan_request()).unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 500, "fails closed without its policy store");

    std::fs::rename(&away, &dir).unwrap();
    assert_eq!(get("/readyz", "r-3").await.unwrap().status(), 200);

    // An embedder's check (the key store, in `serve`).
    s.state.add_readiness_check(
        "key-store",
        Arc::new(|| Err("the key store does not answer".into())),
    );
    let r = get("/readyz", "r-4").await.unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("key-store"),
        "{body}"
    );
    s.stop().await;
}

#[tokio::test]
async fn request_ids_are_echoed_and_in_every_log_line() {
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), AdminConfig::locked(), OpsConfig::default(), &[]).await;
    let http = reqwest::Client::new();

    // A caller's id, short and safe: kept.
    let r = http
        .put(format!("{}/policies/SevSnpVm", s.base))
        .header("x-request-id", "rid-kept-42")
        .body("version=1.0; authorizationrules { => permit(); };")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "no administration model");
    assert_eq!(r.headers()["x-request-id"], "rid-kept-42");
    let lines = lines_of("rid-kept-42");
    let last = lines
        .iter()
        .find(|l| l["message"] == "request")
        .expect("the request's line");
    assert_eq!(last["status"], 403);
    assert_eq!(last["span"]["route"], "/policies/{kind}");
    assert_eq!(last["span"]["method"], "PUT");
    assert!(last["span"]["client"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    // Every line of the request carries it (each in the span list too).
    assert!(lines
        .iter()
        .all(|l| l["spans"][0]["request_id"] == "rid-kept-42"));

    // Unacceptable ones are replaced (never echoed, never logged).
    for bad in [
        "x".repeat(65),
        "two words".to_string(),
        "a\"b<c>".to_string(),
    ] {
        let r = http
            .get(format!("{}/certs", s.base))
            .header("x-request-id", bad.as_str())
            .send()
            .await
            .unwrap();
        let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
        assert_ne!(id, bad);
        assert_eq!(id.len(), 32);
        assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        assert!(!lines_of(&id).is_empty());
        assert!(!log_text().contains(&bad), "{bad}");
    }
    // None given: one is made.
    let r = http
        .get(format!("{}/healthz", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"].len(), 32);
    s.stop().await;
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let http = reqwest::Client::new();
    // Refused policy writes are audited with the client's address.
    let audited_source = |s: &Server| {
        s.state
            .audit_log()
            .list(10)
            .unwrap()
            .last()
            .and_then(|r| r.source.clone())
            .unwrap_or_default()
    };

    // A proxy on loopback is trusted: its X-Forwarded-For names the client.
    let dir = tempfile::tempdir().unwrap();
    let ops = OpsConfig::default().with_trusted_proxies(nets(&["127.0.0.1/32"]));
    let s = start(dir.path(), AdminConfig::locked(), ops, &[]).await;
    let r = http
        .put(format!("{}/policies/SevSnpVm", s.base))
        .header("x-forwarded-for", "198.51.100.9, 203.0.113.5")
        .header("x-request-id", "xff-trusted")
        .body("version=1.0; authorizationrules { => permit(); };")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let source = audited_source(&s);
    assert!(source.starts_with("203.0.113.5 via 127.0.0.1:"), "{source}");
    let line = lines_of("xff-trusted")
        .into_iter()
        .find(|l| l["message"] == "request")
        .unwrap();
    assert!(line["span"]["client"]
        .as_str()
        .unwrap()
        .starts_with("203.0.113.5 via 127.0.0.1:"));
    // The metrics go to loopback clients: the forwarded client is not one.
    let r = http
        .get(format!("{}/metrics", s.base))
        .header("x-forwarded-for", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    // The proxy's own request (no header) is loopback's.
    let r = http
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;

    // No trusted proxy: the header is ignored, the peer is the client.
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), AdminConfig::locked(), OpsConfig::default(), &[]).await;
    let r = http
        .put(format!("{}/policies/SevSnpVm", s.base))
        .header("x-forwarded-for", "203.0.113.5")
        .header("x-request-id", "xff-ignored")
        .body("version=1.0; authorizationrules { => permit(); };")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let source = audited_source(&s);
    assert!(source.starts_with("127.0.0.1:"), "{source}");
    let line = lines_of("xff-ignored")
        .into_iter()
        .find(|l| l["message"] == "request")
        .unwrap();
    assert!(line["span"]["client"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    // A client cannot talk its way out of loopback, nor into it.
    let r = http
        .get(format!("{}/metrics", s.base))
        .header("x-forwarded-for", "203.0.113.5")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    s.stop().await;
}

#[tokio::test]
async fn metrics_are_refused_outside_their_networks() {
    let dir = tempfile::tempdir().unwrap();
    let ops = OpsConfig::default().with_metrics_allow(nets(&["10.0.0.0/8"]));
    let s = start(dir.path(), AdminConfig::locked(), ops, &[]).await;
    let r = reqwest::get(format!("{}/metrics", s.base)).await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "Forbidden");
    // OpenMetrics on request, for those allowed.
    s.stop().await;
    let dir = tempfile::tempdir().unwrap();
    let s = start(dir.path(), AdminConfig::locked(), OpsConfig::default(), &[]).await;
    let r = reqwest::Client::new()
        .get(format!("{}/metrics", s.base))
        .header("accept", "application/openmetrics-text; version=1.0.0")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/openmetrics-text"));
    assert!(r.text().await.unwrap().trim_end().ends_with("# EOF"));
    s.stop().await;
}

/// A bearer token (valid, and not) and an AzureGuest body — the mock CVM's
/// real evidence, with a marker in its client payload — go through the
/// service with every log line at trace level; none of them appears in the
/// log, whole or in part.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_bearer_token_or_azure_guest_body_in_trace_logs() {
    use base64::Engine as _;
    use tee_attest_core::EvidenceProvider;
    use tee_attest_maa::azureguest::{build_request_body, OsInfo};
    use tee_attest_maa::{HttpConfig, TokenValidator, ValidationProfile};
    use tee_attest_testkit::oidc::TestIssuer;

    const MARKER: &str = "CLIENT-PAYLOAD-MARKER-7f3a9c";
    let cvm =
        tee_attest_mock::MockAzureCvm::start().expect("swtpm must be installed (cargo xtask deps)");
    let mut cfg = tee_attest_azure::provider::AzureSnpConfig::default();
    cfg.tcti = Some(cvm.tcti());
    cfg.imds_url = cvm.imds_url();
    cfg.event_log = cvm.event_log_path();
    let provider = tee_attest_azure::provider::AzureSnpProvider::new(cfg).unwrap();
    let mut req = tee_attest_core::EvidenceRequest::with_nonce(b"n-logs".to_vec());
    req.client_payload.insert("Nonce".into(), "n-logs".into());
    req.client_payload.insert("secret".into(), MARKER.into());
    let evidence = provider.evidence(&req).await.unwrap();
    let body = build_request_body(
        &evidence,
        &OsInfo::new("Linux", "Debian GNU/Linux", 12, 0, "6.1.0"),
    )
    .unwrap();
    let info_b64 = serde_json::from_str::<Value>(&body).unwrap()["AttestationInfo"]
        .as_str()
        .unwrap()
        .to_string();
    let trimmed = info_b64.trim_end_matches('=');
    let info = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap();

    let issuer = TestIssuer::start();
    const AUD: &str = "api://tee-attest-admin";
    const ROLE: &str = "Attestation.Admin";
    let validator = Arc::new(
        TokenValidator::with_discovery(
            issuer.url(),
            HttpConfig::fast(
                std::time::Duration::from_secs(5),
                1,
                std::time::Duration::from_millis(10),
                std::time::Duration::from_millis(10),
            ),
        )
        .unwrap()
        .with_profile(ValidationProfile::admin(AUD, ROLE)),
    );
    let admin = AdminConfig::locked()
        .with_bearer(validator)
        .with_attest_auth(true);
    let dir = tempfile::tempdir().unwrap();
    let s = start(
        dir.path(),
        admin,
        OpsConfig::default(),
        &[cvm.ark_der().to_vec()],
    )
    .await;
    let good = issuer.token(&issuer.admin_claims(AUD, ROLE));
    let wrong_audience = issuer.token(&issuer.admin_claims("api://someone-else", ROLE));
    let http = reqwest::Client::new();

    let r = http
        .post(format!(
            "{}/attest/AzureGuest?api-version=2020-10-01",
            s.base
        ))
        .bearer_auth(&good)
        .header("x-request-id", "secrets-attest")
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    let status = r.status();
    let sealed = r.text().await.unwrap();
    assert_eq!(status, 200, "{sealed}");
    let r = http
        .put(format!("{}/policies/AzureGuest", s.base))
        .bearer_auth(&wrong_audience)
        .header("x-request-id", "secrets-policy")
        .body("version=1.0; authorizationrules { => permit(); };")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    s.stop().await;

    let log = log_text();
    assert!(
        !lines_of("secrets-attest").is_empty(),
        "the requests were logged"
    );
    assert!(!lines_of("secrets-policy").is_empty());
    let mut secrets: Vec<(&str, String)> = vec![
        ("the bearer token", good.clone()),
        ("the refused bearer token", wrong_audience.clone()),
        ("the client payload", MARKER.to_string()),
        ("the sealed answer", sealed.chars().take(64).collect()),
    ];
    // Any part of a token (header, claims, signature) or of the body.
    for t in [&good, &wrong_audience] {
        for part in t.split('.') {
            secrets.push(("a part of a bearer token", part.to_string()));
        }
    }
    for chunk in info_b64.as_bytes().chunks(48) {
        secrets.push((
            "the AttestationInfo (base64url)",
            String::from_utf8(chunk.to_vec()).unwrap(),
        ));
    }
    for key in ["TpmInfo", "AikCert", "PcrQuote", "EncKeyCertifyInfo"] {
        if let Some(at) = info.find(key) {
            secrets.push((
                "the AttestationInfo",
                info[at..(at + 60).min(info.len())].to_string(),
            ));
        }
    }
    for (what, secret) in &secrets {
        if secret.len() >= 16 {
            assert!(!log.contains(secret.as_str()), "{what} is in the log");
        }
    }
    assert!(
        !log.to_ascii_lowercase().contains("bearer ey"),
        "an Authorization header is in the log"
    );
}
