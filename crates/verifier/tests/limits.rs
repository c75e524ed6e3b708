//! The connection and request limits of `serve_app_with`, in process on
//! 127.0.0.1 (the attacks against the `tee-attest serve` binary are in
//! `crates/cli/tests/serve_limits.rs`): every error answer in MAA's shape,
//! a shutdown that finishes within its grace even with an upload stalled
//! in flight, and a TLS handshake that never comes closed by the header
//! read time-out.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::Router;
use serde_json::Value;
use tee_attest_verifier::service::{serve_app_tls_with, serve_app_with, Limits};

/// The longest any wait of these tests may take (an upper bound that fails
/// the test, not a measurement).
const BOUND: Duration = Duration::from_secs(60);

/// A route that answers plain text, as some layers do, and one that reads
/// its body.
fn app() -> Router {
    Router::new()
        .route(
            "/plain",
            get(|| async { (StatusCode::BAD_REQUEST, "plain text refusal") }),
        )
        .route("/teapot", get(|| async { StatusCode::IM_A_TEAPOT }))
        .route(
            "/upload",
            post(|body: axum::body::Bytes| async move { body.len().to_string() }),
        )
}

struct Running {
    addr: SocketAddr,
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
}

async fn start(limits: Limits) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        serve_app_with(listener, app(), limits, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    Running { addr, stop, task }
}

/// Whether a read says the peer closed (end of stream or reset), not that
/// the read timed out.
fn closed(read: std::io::Result<usize>) -> bool {
    match read {
        Ok(n) => n == 0,
        Err(e) => !matches!(
            e.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ),
    }
}

/// One exchange with `Connection: close`, on a blocking thread.
async fn exchange(addr: SocketAddr, request: &'static str) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.set_read_timeout(Some(BOUND)).unwrap();
        s.write_all(request.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, serde_json::from_str(body).unwrap_or(Value::Null))
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn every_error_answer_is_maa_shaped() {
    let srv = start(Limits::default()).await;
    let (status, body) = exchange(
        srv.addr,
        "GET /plain HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(body["error"]["code"], "InvalidParameter");
    assert_eq!(body["error"]["message"], "plain text refusal");
    let (status, body) = exchange(
        srv.addr,
        "GET /teapot HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(status, 418);
    assert_eq!(body["error"]["code"], "BadRequest");
    // 413 on any route (this one has none of the service's extractors).
    let mut limits = Limits::default();
    limits.max_body_bytes = 10;
    let small = start(limits).await;
    let (status, body) = exchange(
        small.addr,
        "POST /upload HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 11\r\n\r\n01234567890",
    )
    .await;
    assert_eq!(status, 413);
    assert_eq!(body["error"]["code"], "RequestBodyTooLarge");
    for s in [srv, small] {
        let _ = s.stop.send(());
        s.task.await.unwrap();
    }
}

/// An upload stalled in flight (body read time-out an hour away) does not
/// keep the service from stopping: its connection is closed when the
/// grace ends.
#[tokio::test]
async fn shutdown_finishes_within_its_grace() {
    let mut limits = Limits::default();
    limits.body_read_timeout = Duration::from_secs(3600);
    limits.request_timeout = Duration::from_secs(3600);
    limits.shutdown_grace = Duration::from_millis(500);
    let srv = start(limits).await;
    let addr = srv.addr;
    let mut stalled = tokio::task::spawn_blocking(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n0123")
            .unwrap();
        s
    })
    .await
    .unwrap();
    // The request is being handled (its body read) before the signal.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let t = Instant::now();
    let _ = srv.stop.send(());
    tokio::time::timeout(BOUND, srv.task)
        .await
        .expect("the service stopped")
        .unwrap();
    println!(
        "stopped {:.2} s after the signal, grace 0.5 s",
        t.elapsed().as_secs_f64()
    );
    tokio::task::spawn_blocking(move || {
        stalled.set_read_timeout(Some(BOUND)).unwrap();
        let mut buf = [0u8; 64];
        assert!(
            closed(stalled.read(&mut buf)),
            "the stalled connection was closed"
        );
    })
    .await
    .unwrap();
}

/// A client that connects to the TLS port and never starts the handshake
/// is closed after the header read time-out.
#[tokio::test]
async fn a_tls_handshake_that_never_comes_is_closed() {
    let dir = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_pem, key_pem) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_pem, cert.pem()).unwrap();
    std::fs::write(&key_pem, key.serialize_pem()).unwrap();
    let addr: SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let mut limits = Limits::default();
    limits.header_read_timeout = Duration::from_millis(500);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        serve_app_tls_with(addr, app(), &cert_pem, &key_pem, limits, async {
            let _ = rx.await;
        })
        .await
        .unwrap();
    });
    let closed = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + BOUND;
        let mut s = loop {
            match TcpStream::connect(addr) {
                Ok(s) => break s,
                Err(_) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(20))
                }
                Err(e) => panic!("{e}"),
            }
        };
        s.set_read_timeout(Some(BOUND)).unwrap();
        let mut buf = [0u8; 64];
        closed(s.read(&mut buf))
    })
    .await
    .unwrap();
    assert!(closed, "the silent TLS client was closed");
    let _ = tx.send(());
    server.await.unwrap();
}
