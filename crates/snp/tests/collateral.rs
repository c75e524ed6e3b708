//! Collateral sources against loopback servers started here (127.0.0.1
//! only): each source, the cache, THIM down, and 500/429/slow/truncated
//! answers mapped to the right codes without hanging.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tee_attest_core::{CodedError, ErrorCode};
use tee_attest_snp::collateral::{
    verify_with_collateral, CollateralCache, CollateralChain, CollateralRequest, EvidenceCerts,
    HttpConfig, Kds, OfflineDir, Thim,
};
use tee_attest_snp::{
    parse_rfc3339, AttestationReport, CrlStatus, Product, SnpError, SnpOptions, SnpVerifier,
    TrustAnchors,
};
use tee_attest_testkit::{hex_vector, vector};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Clone)]
enum Reply {
    Ok(Vec<u8>),
    Status(u16, Vec<(&'static str, &'static str)>),
    Hang,
    Truncated(Vec<u8>, usize),
}

struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
    requests: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Script = dyn Fn(usize, &str) -> Reply + Send + Sync;

async fn serve(script: Arc<Script>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let requests = Arc::new(Mutex::new(Vec::new()));
    let (h, r) = (hits.clone(), requests.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (h, r, script) = (h.clone(), r.clone(), script.clone());
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16384 {
                    match sock.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&buf).to_string();
                let n = h.fetch_add(1, Ordering::SeqCst);
                r.lock().unwrap().push(text.clone());
                let reply = script(n, &text);
                let resp = match reply {
                    Reply::Ok(body) => {
                        let mut v = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        v.extend(body);
                        v
                    }
                    Reply::Status(code, headers) => {
                        let mut v = format!(
                            "HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n"
                        );
                        for (k, val) in headers {
                            v.push_str(&format!("{k}: {val}\r\n"));
                        }
                        v.push_str("\r\n");
                        v.into_bytes()
                    }
                    Reply::Hang => {
                        tokio::time::sleep(Duration::from_secs(3600)).await;
                        return;
                    }
                    Reply::Truncated(body, claimed) => {
                        let mut v = format!(
                            "HTTP/1.1 200 OK\r\nContent-Length: {claimed}\r\nConnection: close\r\n\r\n"
                        )
                        .into_bytes();
                        v.extend(body);
                        v
                    }
                };
                let _ = sock.write_all(&resp).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Server {
        base,
        hits,
        requests,
        task,
    }
}

fn pem(der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

fn thim_json() -> Vec<u8> {
    serde_json::json!({
        "vcekCert": pem(&vector("snp-milan/vcek.der")),
        "certificateChain": String::from_utf8(vector("snp-milan/ask-ark.pem")).unwrap(),
        "tcbm": "7308000000000003",
    })
    .to_string()
    .into_bytes()
}

fn fast(attempts: u32) -> HttpConfig {
    HttpConfig::fast(
        Duration::from_millis(500),
        attempts,
        Duration::from_millis(10),
        Duration::from_millis(50),
    )
}

fn report() -> Vec<u8> {
    hex_vector("snp-milan/report.hex")
}

fn request() -> CollateralRequest {
    CollateralRequest::from_report(&AttestationReport::from_bytes(&report()).unwrap())
}

fn opts() -> SnpOptions {
    SnpOptions::at(parse_rfc3339("2025-06-01T00:00:00Z").unwrap())
}

async fn within<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), f)
        .await
        .expect("collateral call hung")
}

fn thim_server() -> Arc<Script> {
    Arc::new(|_, req: &str| {
        if req.starts_with("GET /metadata/THIM/amd/certification ")
            && req.to_ascii_lowercase().contains("metadata: true")
        {
            Reply::Ok(thim_json())
        } else {
            Reply::Status(400, vec![])
        }
    })
}

/// A port on which nothing listens.
async fn dead_base() -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    format!("http://{addr}")
}

#[tokio::test]
async fn evidence_source_comes_first() {
    let chain =
        CollateralChain::standard(vec![vector("snp-milan/vcek.der")], None, None, None, None);
    let c = within(chain.resolve(&request())).await.unwrap();
    assert_eq!(c.source, "evidence");
    let v = SnpVerifier::new(TrustAnchors::amd());
    let out = within(verify_with_collateral(&v, &report(), &chain, &opts()))
        .await
        .unwrap();
    assert_eq!(out.crl, CrlStatus::Absent);
}

#[tokio::test]
async fn no_source_is_code_17() {
    let chain = CollateralChain::new().with_source(Arc::new(EvidenceCerts::new(vec![])));
    let err = within(chain.resolve(&request())).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::EmptyVcekCert);
}

#[tokio::test]
async fn offline_directory_finds_the_matching_vcek_by_contents() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("zz-other.cert"),
        vector("snp-milan-3/vcek.der"),
    )
    .unwrap();
    std::fs::write(dir.path().join("a.bin"), vector("snp-milan/vcek.der")).unwrap();
    std::fs::write(
        dir.path().join("chain.txt"),
        vector("snp-milan/ask-ark.pem"),
    )
    .unwrap();
    std::fs::write(dir.path().join("notes.md"), b"not a certificate").unwrap();
    let chain = CollateralChain::new().with_source(Arc::new(OfflineDir::new(dir.path())));
    let c = within(chain.resolve(&request())).await.unwrap();
    assert_eq!(c.source, "offline");
    assert_eq!(
        c.leaf.as_deref(),
        Some(vector("snp-milan/vcek.der").as_slice())
    );
    assert_eq!(c.chain.len(), 2);
    let v = SnpVerifier::new(TrustAnchors::amd());
    within(verify_with_collateral(&v, &report(), &chain, &opts()))
        .await
        .unwrap();
}

#[tokio::test]
async fn thim_serves_the_vcek_chain() {
    let s = serve(thim_server()).await;
    let thim = Thim::new(&s.base, fast(3)).unwrap();
    let chain = CollateralChain::new().with_source(Arc::new(thim));
    let c = within(chain.resolve(&request())).await.unwrap();
    assert_eq!(c.source, "thim");
    assert_eq!(c.tcbm.as_deref(), Some("7308000000000003"));
    assert_eq!(c.chain.len(), 2);
    let v = SnpVerifier::new(TrustAnchors::amd());
    within(verify_with_collateral(&v, &report(), &chain, &opts()))
        .await
        .unwrap();
    assert!(s.requests.lock().unwrap()[0]
        .to_ascii_lowercase()
        .contains("metadata: true"));
}

#[tokio::test]
async fn cache_hit_and_thim_down_with_a_cached_vcek() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(thim_server()).await;
    let cache = Arc::new(CollateralCache::with_dir(dir.path()));
    let chain = CollateralChain::new()
        .with_cache(cache.clone())
        .with_source(Arc::new(Thim::new(&s.base, fast(3)).unwrap()));
    let first = within(chain.resolve(&request())).await.unwrap();
    assert_eq!(first.source, "thim");
    let second = within(chain.resolve(&request())).await.unwrap();
    assert_eq!(second.source, "cache");
    assert_eq!(s.hits.load(Ordering::SeqCst), 1);
    assert_eq!(second.certs(), first.certs());
    drop(s);

    // A new process: fresh memory, same directory, THIM unreachable.
    let chain = CollateralChain::new()
        .with_cache(Arc::new(CollateralCache::with_dir(dir.path())))
        .with_source(Arc::new(Thim::new(dead_base().await, fast(2)).unwrap()));
    let c = within(chain.resolve(&request())).await.unwrap();
    assert_eq!(c.source, "cache");
    let v = SnpVerifier::new(TrustAnchors::amd());
    within(verify_with_collateral(&v, &report(), &chain, &opts()))
        .await
        .unwrap();
}

#[tokio::test]
async fn thim_down_without_cache_is_code_7() {
    let thim = Thim::new(dead_base().await, fast(2)).unwrap();
    let chain = CollateralChain::new().with_source(Arc::new(thim));
    let err = within(chain.resolve(&request())).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::SendRequestFailed, "{err}");
}

#[tokio::test]
async fn server_errors_are_retried_then_code_4() {
    let s = serve(Arc::new(|_, _: &str| Reply::Status(500, vec![]))).await;
    let chain = CollateralChain::new().with_source(Arc::new(Thim::new(&s.base, fast(3)).unwrap()));
    let err = within(chain.resolve(&request())).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::RequestExceededRetries, "{err}");
    assert_eq!(s.hits.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn too_many_requests_honours_a_capped_retry_after() {
    let s = serve(Arc::new(|_, _: &str| {
        Reply::Status(429, vec![("Retry-After", "3600")])
    }))
    .await;
    let chain = CollateralChain::new().with_source(Arc::new(Thim::new(&s.base, fast(2)).unwrap()));
    let err = within(chain.resolve(&request())).await.unwrap_err();
    assert!(
        matches!(err, SnpError::RetriesExceeded { status: 429, .. }),
        "{err}"
    );
    assert_eq!(err.code(), ErrorCode::RequestExceededRetries);
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_429_then_success_recovers() {
    let s = serve(Arc::new(|n, req: &str| {
        if n == 0 {
            Reply::Status(429, vec![("Retry-After", "0")])
        } else {
            thim_server()(n, req)
        }
    }))
    .await;
    let chain = CollateralChain::new().with_source(Arc::new(Thim::new(&s.base, fast(3)).unwrap()));
    let c = within(chain.resolve(&request())).await.unwrap();
    assert_eq!(c.source, "thim");
    assert_eq!(s.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn a_slow_server_times_out_with_code_7() {
    let s = serve(Arc::new(|_, _: &str| Reply::Hang)).await;
    let chain = CollateralChain::new().with_source(Arc::new(Thim::new(&s.base, fast(2)).unwrap()));
    let err = within(chain.resolve(&request())).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::SendRequestFailed, "{err}");
    assert!(err.to_string().contains("timed out"), "{err}");
}

#[tokio::test]
async fn truncated_responses() {
    // The body is shorter than its Content-Length: a transport error.
    let body = thim_json();
    let s = serve(Arc::new(move |_, _: &str| {
        Reply::Truncated(body[..100].to_vec(), body.len())
    }))
    .await;
    let chain = CollateralChain::new().with_source(Arc::new(Thim::new(&s.base, fast(2)).unwrap()));
    let err = within(chain.resolve(&request())).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::SendRequestFailed, "{err}");

    // A complete HTTP answer whose JSON is cut off: code 16.
    let body = thim_json();
    let s = serve(Arc::new(move |_, _: &str| Reply::Ok(body[..100].to_vec()))).await;
    let chain = CollateralChain::new().with_source(Arc::new(Thim::new(&s.base, fast(2)).unwrap()));
    let err = within(chain.resolve(&request())).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidJsonResponse, "{err}");

    // An empty vcekCert: code 17.
    let s = serve(Arc::new(|_, _: &str| {
        Reply::Ok(br#"{"vcekCert":"","certificateChain":"","tcbm":""}"#.to_vec())
    }))
    .await;
    let chain = CollateralChain::new().with_source(Arc::new(Thim::new(&s.base, fast(2)).unwrap()));
    let err = within(chain.resolve(&request())).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::EmptyVcekCert, "{err}");
}

#[tokio::test]
async fn kds_urls_and_fetch() {
    let hwid = hex::encode(AttestationReport::from_bytes(&report()).unwrap().chip_id);
    let want = format!("GET /vcek/v1/Milan/{hwid}?blSPL=03&teeSPL=00&snpSPL=08&ucodeSPL=115 ");
    let s = serve(Arc::new(move |_, req: &str| {
        if req.starts_with(&want) {
            Reply::Ok(vector("snp-milan/vcek.der"))
        } else if req.starts_with("GET /vcek/v1/Milan/cert_chain ") {
            Reply::Ok(vector("snp-milan/ask-ark.pem"))
        } else {
            Reply::Status(404, vec![])
        }
    }))
    .await;
    let kds = Kds::new(&s.base, fast(2)).unwrap();
    assert_eq!(
        kds.crl_url(Product::Turin),
        format!("{}/vcek/v1/Turin/crl", s.base)
    );
    let chain = CollateralChain::new().with_source(Arc::new(kds));
    let v = SnpVerifier::new(TrustAnchors::amd());
    let out = within(verify_with_collateral(&v, &report(), &chain, &opts()))
        .await
        .unwrap();
    // The CRL answered 404: revocation not checked, and the claims say so.
    assert_eq!(out.crl, CrlStatus::Absent);
    assert_eq!(out.claims()["x-tee-attest-snp-crl"], "absent");

    // A chip KDS does not know: 404 is code 5.
    let mut req = request();
    req.chip_id[0] ^= 1;
    let err = within(chain.resolve(&req)).await.unwrap_err();
    assert_eq!(err.code(), ErrorCode::RequestFailed, "{err}");
}

#[test]
fn kds_turin_url_has_fmc_and_8_byte_hwid() {
    let kds = Kds::new("http://127.0.0.1:9", HttpConfig::default()).unwrap();
    let mut req = request().with_product(Product::Turin);
    req.chip_id = [0; 64];
    req.chip_id[..8].copy_from_slice(&[1, 2, 3, 4, 5, 6, 7, 8]);
    req.reported_tcb = u64::from_le_bytes([1, 2, 3, 4, 0, 0, 0, 9]);
    assert_eq!(
        kds.vcek_url(&req).unwrap(),
        "http://127.0.0.1:9/vcek/v1/Turin/0102030405060708?fmcSPL=01&blSPL=02&teeSPL=03&snpSPL=04&ucodeSPL=09"
    );
    req.chip_id = [0; 64];
    assert_eq!(kds.vcek_url(&req), None);
}
