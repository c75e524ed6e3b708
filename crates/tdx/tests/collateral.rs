//! Collateral sources: the chain's order and cache, the offline directory
//! (dcap-qvl JSON, PCS raw responses), and a scripted PCS on 127.0.0.1 with
//! the issuer-chain headers, its faults mapped to the SNP collateral codes.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tee_attest_core::{CodedError, ErrorCode};
use tee_attest_tdx::collateral::{
    verify_with_collateral, CollateralCache, CollateralRequest, EvidenceCollateral, HttpConfig,
    OfflineDir, Pcs, PcsKind,
};
use tee_attest_tdx::{
    parse_rfc3339, Collateral, CollateralChain, DcapVerifier, FixedClock, Quote, TcbStatus,
    TdxError, VerifyOptions,
};
use tee_attest_testkit::vector;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn at(date: &str) -> u64 {
    parse_rfc3339(date).expect("date")
}

fn verifier() -> DcapVerifier {
    DcapVerifier::new()
        .expect("verifier")
        .with_clock(Arc::new(FixedClock(at("2025-06-20"))))
}

fn dcap() -> Collateral {
    Collateral::from_dcap_qvl_json(&vector("tdx-dcap/collateral.json")).expect("collateral")
}

fn quote() -> Vec<u8> {
    vector("tdx-dcap/quote.bin")
}

fn request() -> CollateralRequest {
    CollateralRequest::from_quote(&Quote::parse(&quote()).expect("quote")).expect("request")
}

fn fast() -> HttpConfig {
    HttpConfig::fast(
        Duration::from_secs(2),
        3,
        Duration::from_millis(10),
        Duration::from_millis(50),
    )
}

#[derive(Clone)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn ok(body: Vec<u8>, headers: Vec<(String, String)>) -> Reply {
    Reply {
        status: 200,
        headers,
        body,
    }
}

fn status(s: u16) -> Reply {
    Reply {
        status: s,
        headers: Vec::new(),
        body: Vec::new(),
    }
}

type Script = dyn Fn(usize, &str) -> Reply + Send + Sync;

struct Server {
    base: String,
    hits: Arc<AtomicUsize>,
    paths: Arc<Mutex<Vec<String>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A scripted HTTP/1.1 server on 127.0.0.1: `script(n, path)` answers the
/// n-th request.
async fn serve(script: Arc<Script>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let hits = Arc::new(AtomicUsize::new(0));
    let paths = Arc::new(Mutex::new(Vec::new()));
    let (h, p) = (hits.clone(), paths.clone());
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let (h, p, script) = (h.clone(), p.clone(), script.clone());
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
                let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
                let n = h.fetch_add(1, Ordering::SeqCst);
                if let Ok(mut v) = p.lock() {
                    v.push(path.clone());
                }
                let r = script(n, &path);
                let mut head = format!(
                    "HTTP/1.1 {} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    r.status,
                    r.body.len()
                );
                for (k, v) in &r.headers {
                    head.push_str(&format!("{k}: {v}\r\n"));
                }
                head.push_str("\r\n");
                let mut out = head.into_bytes();
                out.extend_from_slice(&r.body);
                let _ = sock.write_all(&out).await;
                let _ = sock.shutdown().await;
            });
        }
    });
    Server {
        base,
        hits,
        paths,
        task,
    }
}

fn url_encode(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if c.is_ascii_alphanumeric() || b"-_.~".contains(&c) {
                (c as char).to_string()
            } else {
                format!("%{c:02X}")
            }
        })
        .collect()
}

/// The PCS answers of the tdx-dcap collateral, as Intel's PCS gives them.
fn pcs_script(c: Collateral) -> Arc<Script> {
    Arc::new(move |_, path: &str| {
        let h = |name: &str, pem: &[u8]| vec![(name.to_string(), url_encode(pem))];
        if path.starts_with("/tdx/certification/v4/tcb?fmspc=B0C06F000000") {
            let t = c.tcb_info.as_ref().expect("tcb");
            ok(
                t.to_pcs_response(PcsKind::TcbInfo).into_bytes(),
                h("TCB-Info-Issuer-Chain", &c.tcb_info_issuer_chain),
            )
        } else if path.starts_with("/tdx/certification/v4/tcb") {
            status(404)
        } else if path == "/tdx/certification/v4/qe/identity" {
            let q = c.qe_identity.as_ref().expect("qe");
            ok(
                q.to_pcs_response(PcsKind::QeIdentity).into_bytes(),
                h(
                    "SGX-Enclave-Identity-Issuer-Chain",
                    &c.qe_identity_issuer_chain,
                ),
            )
        } else if path == "/sgx/certification/v4/pckcrl?ca=platform&encoding=der" {
            ok(
                c.pck_crl.clone().expect("crl"),
                h("SGX-PCK-CRL-Issuer-Chain", &c.pck_crl_issuer_chain),
            )
        } else if path == "/sgx/certification/v4/rootcacrl" {
            // PCCS answers the root CA CRL in hex.
            ok(
                hex::encode(c.root_ca_crl.clone().expect("root crl")).into_bytes(),
                Vec::new(),
            )
        } else {
            status(404)
        }
    })
}

#[tokio::test]
async fn a_scripted_pcs_gives_collateral_that_verifies() {
    let server = serve(pcs_script(dcap())).await;
    let pcs = Pcs::new(&server.base, fast()).expect("pcs");
    let chain = CollateralChain::new().with_source(Arc::new(pcs));
    let v = verify_with_collateral(&verifier(), &quote(), &chain, &VerifyOptions::default())
        .await
        .expect("verifies");
    assert_eq!(v.status, TcbStatus::UpToDate);
    assert_eq!(v.collateral_source, "pcs");
    let paths = server.paths.lock().expect("paths").clone();
    assert_eq!(
        paths,
        vec![
            "/tdx/certification/v4/tcb?fmspc=B0C06F000000",
            "/tdx/certification/v4/qe/identity",
            "/sgx/certification/v4/pckcrl?ca=platform&encoding=der",
            "/sgx/certification/v4/rootcacrl",
        ]
    );
    // The same bytes as the collateral file.
    let got = chain.resolve(&request()).await.expect("resolves");
    let want = dcap();
    assert_eq!(got.tcb_info, want.tcb_info);
    assert_eq!(got.qe_identity, want.qe_identity);
    assert_eq!(got.pck_crl, want.pck_crl);
    assert_eq!(got.root_ca_crl, want.root_ca_crl);
    assert_eq!(got.tcb_info_issuer_chain, want.tcb_info_issuer_chain);
}

#[tokio::test]
async fn the_cache_remembers_and_forgets_stale_collateral() {
    let server = serve(pcs_script(dcap())).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let cache = Arc::new(
        CollateralCache::with_dir(dir.path()).with_clock(Arc::new(FixedClock(at("2025-06-20")))),
    );
    let chain = CollateralChain::new()
        .with_cache(cache.clone())
        .with_source(Arc::new(Pcs::new(&server.base, fast()).expect("pcs")));
    assert_eq!(chain.source_names(), vec!["cache", "pcs"]);
    let first = chain.resolve(&request()).await.expect("from the PCS");
    assert_eq!(first.source, "pcs");
    let hits = server.hits.load(Ordering::SeqCst);
    let second = chain.resolve(&request()).await.expect("from the cache");
    assert_eq!(second.source, "cache");
    assert_eq!(server.hits.load(Ordering::SeqCst), hits, "no request");
    // On disk, as dcap-qvl JSON, read by a new cache.
    let file = dir.path().join(format!("{}.json", request().cache_key()));
    assert!(file.is_file());
    let reread =
        CollateralCache::with_dir(dir.path()).with_clock(Arc::new(FixedClock(at("2025-06-21"))));
    let c = tee_attest_tdx::CollateralSource::fetch(&reread, &request())
        .await
        .expect("fetch")
        .expect("hit");
    assert_eq!(c.tcb_info, first.tcb_info);
    verifier()
        .verify(&quote(), &c, &VerifyOptions::default())
        .expect("verifies");
    // Past nextUpdate, a miss.
    let later =
        CollateralCache::with_dir(dir.path()).with_clock(Arc::new(FixedClock(at("2025-08-01"))));
    assert!(tee_attest_tdx::CollateralSource::fetch(&later, &request())
        .await
        .expect("fetch")
        .is_none());
}

#[tokio::test]
async fn evidence_comes_first_and_offline_reads_dcap_qvl_json_and_pcs_responses() {
    // Evidence.
    let chain = CollateralChain::standard(Some(dcap()), None, None, None);
    assert_eq!(
        chain.resolve(&request()).await.expect("evidence").source,
        "evidence"
    );
    // dcap-qvl JSON in a directory, among other files.
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("collateral.json"),
        vector("tdx-dcap/collateral.json"),
    )
    .expect("w");
    std::fs::write(dir.path().join("notes.txt"), b"not collateral").expect("w");
    std::fs::write(
        dir.path().join("other.json"),
        vector("sgx-dcap/collateral.json"),
    )
    .expect("w");
    let c = OfflineDir::collateral_for(dir.path(), &request())
        .expect("reads")
        .expect("found");
    assert_eq!(c.source, "offline");
    verifier()
        .verify(&quote(), &c, &VerifyOptions::default())
        .expect("verifies");
    // PCS raw responses, issuer chains as the PCS headers give them
    // (URL-encoded), CRLs in DER and hex.
    let d = dcap();
    let dir = tempfile::tempdir().expect("tempdir");
    let files: Vec<(&str, Vec<u8>)> = vec![
        (
            "tcbinfo",
            d.tcb_info
                .as_ref()
                .expect("t")
                .to_pcs_response(PcsKind::TcbInfo)
                .into_bytes(),
        ),
        (
            "qeidentity",
            d.qe_identity
                .as_ref()
                .expect("q")
                .to_pcs_response(PcsKind::QeIdentity)
                .into_bytes(),
        ),
        (
            "tcb-info-issuer-chain.txt",
            url_encode(&d.tcb_info_issuer_chain).into_bytes(),
        ),
        ("pck-crl-issuer-chain.pem", d.pck_crl_issuer_chain.clone()),
        ("pckcrl.der", d.pck_crl.clone().expect("crl")),
        (
            "rootcacrl.hex",
            hex::encode(d.root_ca_crl.clone().expect("root")).into_bytes(),
        ),
    ];
    for (name, bytes) in files {
        std::fs::write(dir.path().join(name), bytes).expect("w");
    }
    let chain = CollateralChain::standard(None, None, Some(OfflineDir::new(dir.path())), None);
    let v = verify_with_collateral(&verifier(), &quote(), &chain, &VerifyOptions::default())
        .await
        .expect("verifies from PCS responses");
    assert_eq!(v.status, TcbStatus::UpToDate);
    assert_eq!(v.revocation, tee_attest_tdx::Revocation::Checked);
    // An SGX quote finds nothing there: code 17.
    let sgx =
        CollateralRequest::from_quote(&Quote::parse(&vector("sgx-dcap/quote.bin")).expect("q"))
            .expect("req");
    let e = chain.resolve(&sgx).await.expect_err("nothing for SGX");
    assert_eq!(e.code(), ErrorCode::EmptyVcekCert);
    // Evidence that is incomplete is skipped.
    let src = EvidenceCollateral::new(Collateral::default());
    assert!(tee_attest_tdx::CollateralSource::fetch(&src, &request())
        .await
        .expect("fetch")
        .is_none());
}

#[tokio::test]
async fn pcs_faults_map_to_the_collateral_codes() {
    // 503 twice, then the real answers: retried, verifies.
    let inner = pcs_script(dcap());
    let server = serve(Arc::new(
        move |n, p: &str| if n < 2 { status(503) } else { inner(n, p) },
    ))
    .await;
    let chain =
        CollateralChain::new().with_source(Arc::new(Pcs::new(&server.base, fast()).expect("pcs")));
    verify_with_collateral(&verifier(), &quote(), &chain, &VerifyOptions::default())
        .await
        .expect("verifies after retries");
    // 503 for ever: retries exceeded, code 4.
    let server = serve(Arc::new(|_, _: &str| status(503))).await;
    let pcs = Pcs::new(&server.base, fast()).expect("pcs");
    let e = tee_attest_tdx::CollateralSource::fetch(&pcs, &request())
        .await
        .expect_err("503");
    assert!(
        matches!(
            e,
            TdxError::RetriesExceeded {
                attempts: 3,
                status: 503,
                ..
            }
        ),
        "{e}"
    );
    assert_eq!(e.code(), ErrorCode::RequestExceededRetries);
    assert_eq!(server.hits.load(Ordering::SeqCst), 3);
    // 400: not retried, code 5.
    let server = serve(Arc::new(|_, _: &str| status(400))).await;
    let pcs = Pcs::new(&server.base, fast()).expect("pcs");
    let e = tee_attest_tdx::CollateralSource::fetch(&pcs, &request())
        .await
        .expect_err("400");
    assert_eq!(e.code(), ErrorCode::RequestFailed, "{e}");
    assert_eq!(server.hits.load(Ordering::SeqCst), 1);
    // An FMSPC the service does not know: nothing for it, code 17.
    let server = serve(pcs_script(dcap())).await;
    let mut other = request();
    other.fmspc = [1, 2, 3, 4, 5, 6];
    let chain =
        CollateralChain::new().with_source(Arc::new(Pcs::new(&server.base, fast()).expect("pcs")));
    let e = chain.resolve(&other).await.expect_err("404");
    assert_eq!(e.code(), ErrorCode::EmptyVcekCert, "{e}");
    // The issuer-chain header missing: code 16.
    let d = dcap();
    let server = serve(Arc::new(move |_, _: &str| {
        ok(
            d.tcb_info
                .as_ref()
                .expect("t")
                .to_pcs_response(PcsKind::TcbInfo)
                .into_bytes(),
            Vec::new(),
        )
    }))
    .await;
    let pcs = Pcs::new(&server.base, fast()).expect("pcs");
    let e = tee_attest_tdx::CollateralSource::fetch(&pcs, &request())
        .await
        .expect_err("no header");
    assert_eq!(e.code(), ErrorCode::InvalidJsonResponse, "{e}");
    assert!(e.to_string().contains("TCB-Info-Issuer-Chain"), "{e}");
    // Not JSON: code 16.
    let server = serve(Arc::new(|_, _: &str| ok(b"<html>".to_vec(), Vec::new()))).await;
    let pcs = Pcs::new(&server.base, fast()).expect("pcs");
    let e = tee_attest_tdx::CollateralSource::fetch(&pcs, &request())
        .await
        .expect_err("html");
    assert_eq!(e.code(), ErrorCode::InvalidJsonResponse, "{e}");
    // Nobody listening: code 7 (one attempt) after a bounded time.
    let closed = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let one = HttpConfig::fast(
        Duration::from_secs(2),
        1,
        Duration::from_millis(10),
        Duration::from_millis(50),
    );
    let pcs = Pcs::new(&base, one).expect("pcs");
    let started = std::time::Instant::now();
    let e = tee_attest_tdx::CollateralSource::fetch(&pcs, &request())
        .await
        .expect_err("refused");
    assert_eq!(e.code(), ErrorCode::SendRequestFailed, "{e}");
    assert!(started.elapsed() < Duration::from_secs(5));
    // A base URL that is not http(s): code 8.
    assert_eq!(
        Pcs::new("ftp://x", fast()).expect_err("ftp").code(),
        ErrorCode::InvalidInputParameter
    );
    // A chain of a failing PCS after an empty offline directory reports the
    // PCS's failure.
    let server = serve(Arc::new(|_, _: &str| status(503))).await;
    let empty = tempfile::tempdir().expect("tempdir");
    let chain = CollateralChain::standard(
        None,
        Some(Arc::new(CollateralCache::in_memory())),
        Some(OfflineDir::new(empty.path())),
        Some(Pcs::new(&server.base, fast()).expect("pcs")),
    );
    assert_eq!(chain.source_names(), vec!["cache", "offline", "pcs"]);
    let e = chain.resolve(&request()).await.expect_err("503");
    assert_eq!(e.code(), ErrorCode::RequestExceededRetries);
}
