//! `cargo xtask bench-serve`: a bounded load run of `tee-attest serve`'s
//! `POST /attest/AzureGuest` on loopback.
//!
//! One AzureGuest request is gathered from the mock Azure CVM and replayed
//! by 1, 16 and 64 concurrent clients (`REQUESTS_PER_LEVEL` requests per
//! level, stopping early after `MAX_SECONDS_PER_LEVEL`); it reports
//! requests per second, p50/p99 latency and the process's peak RSS. The
//! server and the clients share this process (2 cores), so the figures are a
//! floor for the service alone. Loopback only; bounded in count and time.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tee_attest::mock::MockProvider;
use tee_attest::{EvidenceProvider, EvidenceRequest};
use tee_attest_maa::azureguest::{build_request_body, OsInfo};
use tee_attest_verifier::service::{serve, ServiceState};
use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};

const REQUESTS_PER_LEVEL: usize = 400;
const MAX_SECONDS_PER_LEVEL: u64 = 60;

fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    // `cargo test --benches` runs bench targets once as tests: keep that quick.
    let smoke = std::env::args().any(|a| a == "--test" || a == "--list");
    let per_level = if smoke { 4 } else { REQUESTS_PER_LEVEL };
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let provider = MockProvider::start().expect("swtpm must be installed (cargo xtask deps)");
    let mut req = EvidenceRequest::with_nonce(b"load".to_vec());
    req.client_payload.insert("Nonce".into(), "load".into());
    let evidence = rt.block_on(provider.evidence(&req)).expect("evidence");
    let body = build_request_body(
        &evidence,
        &OsInfo::new("Linux", "Debian GNU/Linux", 12, 0, "6.1.0"),
    )
    .expect("body");

    let dir = tempfile::tempdir().expect("tempdir");
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let mut cfg = LocalVerifierConfig::new(&base);
    cfg.appraisers = tee_attest::verifiers::appraisers(true).expect("appraisers");
    let verifier = Arc::new(
        LocalVerifier::new(
            cfg,
            TokenSigner::load_or_generate(dir.path()).expect("signer"),
        )
        .expect("verifier"),
    );
    let state = ServiceState::new(verifier, dir.path()).expect("state");
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = rt.spawn(serve(listener, state, async {
        let _ = rx.await;
    }));

    let url = format!("{base}/attest/AzureGuest?api-version=2020-10-01");
    let client = reqwest::Client::new();
    println!("| clients | requests | req/s | p50 | p99 |");
    println!("|---|---|---|---|---|");
    for clients in [1usize, 16, 64] {
        let deadline = Instant::now() + Duration::from_secs(MAX_SECONDS_PER_LEVEL);
        let started = Instant::now();
        let latencies = rt.block_on(async {
            let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
            let mut tasks = Vec::new();
            for _ in 0..clients {
                let (client, url, body, next) =
                    (client.clone(), url.clone(), body.clone(), next.clone());
                tasks.push(tokio::spawn(async move {
                    let mut mine = Vec::new();
                    while next.fetch_add(1, std::sync::atomic::Ordering::SeqCst) < per_level
                        && Instant::now() < deadline
                    {
                        let t = Instant::now();
                        let resp = client
                            .post(&url)
                            .body(body.clone())
                            .send()
                            .await
                            .expect("request");
                        assert!(resp.status().is_success(), "status {}", resp.status());
                        resp.bytes().await.expect("body");
                        mine.push(t.elapsed());
                    }
                    mine
                }));
            }
            let mut all = Vec::new();
            for t in tasks {
                all.extend(t.await.expect("client task"));
            }
            all
        });
        let elapsed = started.elapsed();
        let mut sorted = latencies;
        sorted.sort();
        println!(
            "| {clients} | {} | {:.0} | {:.1} ms | {:.1} ms |",
            sorted.len(),
            sorted.len() as f64 / elapsed.as_secs_f64(),
            percentile(&sorted, 0.5).as_secs_f64() * 1e3,
            percentile(&sorted, 0.99).as_secs_f64() * 1e3
        );
    }
    if let Some(kib) = peak_rss_kib() {
        println!(
            "peak RSS (server + clients + mock CVM threads): {:.1} MiB",
            kib as f64 / 1024.0
        );
    }
    let _ = tx.send(());
    let _ = rt.block_on(server);
}
