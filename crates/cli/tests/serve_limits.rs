//! `tee-attest serve` under a hostile client (issue 18, item 1), against
//! the binary on 127.0.0.1: slow-loris clients, more connections than the
//! limit (with few descriptors), 10 000-deep JSON, 100 000 client-payload
//! members × 32 at once, a stalled body, appraisals past the queue, SIGTERM
//! with a slow-loris client connected — and the CLI's file caps. During
//! each attack a probe client keeps asking `GET /certs`: its requests must
//! succeed; their latency is printed, not asserted. The serve process's
//! resident memory (VmRSS, VmHWM of /proc/PID/status) is printed around the
//! payload attack and bounded well below what it cost before the caps.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tee-attest");

/// The longest any single wait of these tests may take (an upper bound
/// that fails the test, not a measurement).
const BOUND: Duration = Duration::from_secs(60);

struct Serve {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Serve {
    fn pid(&self) -> u32 {
        self.child.id()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `serve --trust-mock` on a free loopback port with `extra` flags; with
/// `fd_limit`, under that many descriptors (`ulimit -n`).
fn serve_limited(fd_limit: Option<u32>, extra: &[&str]) -> Serve {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut cmd = match fd_limit {
        Some(n) => {
            let mut c = Command::new("sh");
            c.arg("-c")
                .arg(format!("ulimit -n {n} && exec \"$0\" \"$@\""))
                .arg(BIN);
            c
        }
        None => Command::new(BIN),
    };
    cmd.args(["serve", "--trust-mock", "--addr", &addr.to_string()])
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .args(extra)
        .env("TEE_ATTEST_KEK", "00".repeat(32))
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = cmd.spawn().unwrap();
    let serve = Serve {
        child,
        addr,
        _dir: dir,
    };
    let deadline = Instant::now() + BOUND;
    loop {
        if let Ok((200, _, _)) = exchange(addr, "GET", "/certs", &[], b"") {
            break;
        }
        assert!(Instant::now() < deadline, "serve did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    serve
}

fn serve(extra: &[&str]) -> Serve {
    serve_limited(None, extra)
}

/// One HTTP/1.1 exchange on a new connection: status, head, body.
fn exchange(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut s = TcpStream::connect_timeout(&addr, BOUND)?;
    s.set_read_timeout(Some(BOUND))?;
    s.set_write_timeout(Some(BOUND))?;
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    s.write_all(head.as_bytes())?;
    // The service may answer (413, 400…) before reading all of the body.
    let _ = s.write_all(body);
    read_response(&mut s)
}

fn read_response(s: &mut TcpStream) -> std::io::Result<(u16, String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            // A reset after a complete answer (the rest of a refused body
            // unread) still leaves the answer.
            Err(e) if !out.is_empty() && e.kind() != std::io::ErrorKind::WouldBlock => break,
            Err(e) => return Err(e),
        }
    }
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| std::io::Error::other("no complete answer"))?;
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    Ok((status, head, out[split + 4..].to_vec()))
}

/// The MAA error body's `(code, message)`.
fn maa_error(body: &[u8]) -> (String, String) {
    let v: Value = serde_json::from_slice(body)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(body)));
    (
        v["error"]["code"].as_str().expect("error.code").to_string(),
        v["error"]["message"]
            .as_str()
            .expect("error.message")
            .to_string(),
    )
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

/// A client asking `GET /certs` in a loop until stopped.
struct Probe {
    stop: Arc<AtomicBool>,
    handle: JoinHandle<Vec<Result<Duration, String>>>,
}

fn probe(addr: SocketAddr) -> Probe {
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let handle = std::thread::spawn(move || {
        let mut out = Vec::new();
        while !s.load(Ordering::Relaxed) {
            let t = Instant::now();
            out.push(match exchange(addr, "GET", "/certs", &[], b"") {
                Ok((200, _, _)) => Ok(t.elapsed()),
                Ok((status, head, _)) => Err(format!("status {status}: {head}")),
                Err(e) => Err(e.to_string()),
            });
            std::thread::sleep(Duration::from_millis(20));
        }
        out
    });
    Probe { stop, handle }
}

impl Probe {
    /// Stops the probe, prints its latencies, and checks every request
    /// succeeded.
    fn finish(self, during: &str) {
        self.stop.store(true, Ordering::Relaxed);
        let results = self.handle.join().unwrap();
        let failed: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
        let mut ms: Vec<f64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        let pick = |q: f64| ms.get(((ms.len() as f64 - 1.0) * q) as usize).copied();
        println!(
            "probe during {during}: {} requests, {} failed; latency ms min {:.1} median {:.1} p95 {:.1} max {:.1}",
            results.len(),
            failed.len(),
            pick(0.0).unwrap_or(f64::NAN),
            pick(0.5).unwrap_or(f64::NAN),
            pick(0.95).unwrap_or(f64::NAN),
            pick(1.0).unwrap_or(f64::NAN),
        );
        assert!(!ms.is_empty(), "the probe got no answer during {during}");
        assert!(
            failed.is_empty(),
            "probe requests failed during {during}: {failed:?}"
        );
    }
}

/// A line of `/proc/PID/status` in KiB.
fn status_kib(pid: u32, key: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"))
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Waits (at most [`BOUND`]) until `stream` is closed by the service.
fn closed_by_service(stream: &mut TcpStream) -> bool {
    stream.set_read_timeout(Some(BOUND)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue, // an answer (408…) before closing
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => return false,
            Err(_) => return true, // reset
        }
    }
}

/// Slow-loris clients (a header byte every 100 ms, never finishing) are
/// cut off by the header read time-out; the probe keeps being served.
#[test]
fn slow_loris_clients_are_cut_off() {
    let srv = serve(&["--header-read-timeout", "1"]);
    let p = probe(srv.addr);
    let stop = Arc::new(AtomicBool::new(false));
    let mut lorises = Vec::new();
    for _ in 0..20 {
        let stream = TcpStream::connect(srv.addr).unwrap();
        let mut writer = stream.try_clone().unwrap();
        let s = stop.clone();
        std::thread::spawn(move || {
            let _ = writer.write_all(b"GET /certs HTTP/1.1\r\nHost: x\r\n");
            while !s.load(Ordering::Relaxed) {
                if writer.write_all(b"X-a: b\r\n").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        });
        lorises.push(stream);
    }
    let started = Instant::now();
    for s in &mut lorises {
        assert!(closed_by_service(s), "a slow-loris connection was kept");
    }
    println!(
        "20 slow-loris connections closed after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    stop.store(true, Ordering::Relaxed);
    p.finish("20 slow-loris clients");
}

/// An idle connection (nothing sent) is closed too.
#[test]
fn idle_connections_are_closed() {
    let srv = serve(&["--header-read-timeout", "1", "--idle-timeout", "1"]);
    let mut idle = TcpStream::connect(srv.addr).unwrap();
    // A keep-alive connection after one answer, idle since.
    let mut kept = TcpStream::connect(srv.addr).unwrap();
    kept.write_all(b"GET /certs HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    assert!(closed_by_service(&mut idle));
    assert!(closed_by_service(&mut kept));
}

/// SIGTERM with slow-loris and idle clients connected: the service exits
/// at once, not after its (here long) grace or header time-out.
#[test]
fn sigterm_is_not_held_by_a_slow_loris_client() {
    let mut srv = serve(&[
        "--header-read-timeout",
        "3600",
        "--idle-timeout",
        "3600",
        "--shutdown-grace",
        "3600",
    ]);
    let stop = Arc::new(AtomicBool::new(false));
    let mut held = Vec::new();
    for i in 0..6 {
        let stream = TcpStream::connect(srv.addr).unwrap();
        if i % 2 == 0 {
            let mut w = stream.try_clone().unwrap();
            let s = stop.clone();
            std::thread::spawn(move || {
                let _ = w.write_all(b"POST /attest/SevSnpVm HTTP/1.1\r\nHost: x\r\n");
                while !s.load(Ordering::Relaxed) && w.write_all(b"X-a: b\r\n").is_ok() {
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
        }
        held.push(stream);
    }
    std::thread::sleep(Duration::from_millis(300));
    let status = Command::new("kill")
        .args(["-TERM", &srv.pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let t = Instant::now();
    let exit = loop {
        if let Some(s) = srv.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            t.elapsed() < BOUND,
            "serve did not exit after SIGTERM with slow-loris clients connected"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    println!(
        "serve exited {:.2} s after SIGTERM with 3 slow-loris and 3 idle clients",
        t.elapsed().as_secs_f64()
    );
    assert!(exit.success(), "{exit}");
    stop.store(true, Ordering::Relaxed);
}

/// 600 connections held open against a service allowed 256 descriptors
/// and 128 connections: it never holds more than its limit (it would run
/// out of descriptors otherwise), and the probe is still served.
#[test]
fn many_connections_do_not_exhaust_descriptors() {
    let srv = serve_limited(
        Some(256),
        &[
            "--max-connections",
            "128",
            "--header-read-timeout",
            "3600",
            "--idle-timeout",
            "3600",
        ],
    );
    let baseline = open_fds(srv.pid());
    let mut held = Vec::new();
    for _ in 0..600 {
        match TcpStream::connect_timeout(&srv.addr, Duration::from_secs(5)) {
            Ok(s) => held.push(s),
            Err(e) => panic!("connect: {e}"),
        }
    }
    let p = probe(srv.addr);
    let mut most = 0;
    for _ in 0..40 {
        most = most.max(open_fds(srv.pid()));
        std::thread::sleep(Duration::from_millis(25));
    }
    // …and more attempts while the probe runs.
    for _ in 0..400 {
        if let Ok(s) = TcpStream::connect_timeout(&srv.addr, Duration::from_secs(5)) {
            held.push(s);
        }
        most = most.max(open_fds(srv.pid()));
    }
    std::thread::sleep(Duration::from_millis(500));
    p.finish("1000 connections against a limit of 128");
    println!("serve held at most {most} descriptors ({baseline} before the connections)");
    assert!(
        most <= baseline + 128 + 8,
        "serve held {most} descriptors: more connections than its limit"
    );
}

fn deep(n: usize) -> Vec<u8> {
    [b"[".repeat(n), b"]".repeat(n)].concat()
}

/// 10 000-deep JSON in the body and in the documents it carries, 32 at
/// once: each refused (400) naming the depth limit; the probe is served.
#[test]
fn deep_json_is_refused() {
    let srv = serve(&[]);
    let p = probe(srv.addr);
    let inner = URL_SAFE_NO_PAD.encode(deep(10_000));
    let runtime = URL_SAFE_NO_PAD.encode([b"{\"a\":".to_vec(), deep(100), b"}".to_vec()].concat());
    // A report and a chain that decode (they need not verify).
    let proof = URL_SAFE_NO_PAD.encode(
        serde_json::json!({
            "SnpReport": "AA",
            "VcekCertChain": URL_SAFE_NO_PAD.encode(
                "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"),
        })
        .to_string(),
    );
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("/attest/SevSnpVm", deep(10_000)),
        ("/attest/AzureGuest", deep(10_000)),
        (
            "/attest/AzureGuest",
            format!(r#"{{"AttestationInfo":"{inner}"}}"#).into_bytes(),
        ),
        (
            "/attest/SevSnpVm",
            format!(r#"{{"report":"{inner}"}}"#).into_bytes(),
        ),
        // 100 deep: within serde's own limit (128), past the service's (64).
        (
            "/attest/SevSnpVm",
            format!(
                r#"{{"report":"{proof}","runtimeData":{{"data":"{runtime}","dataType":"JSON"}}}}"#
            )
            .into_bytes(),
        ),
    ];
    let bodies = Arc::new(bodies);
    // 32 at once, 128 in all.
    let threads: Vec<_> = (0..128)
        .map(|i| {
            let (addr, bodies) = (srv.addr, bodies.clone());
            std::thread::spawn(move || {
                // Four waves of 32.
                std::thread::sleep(Duration::from_millis(50 * (i / 32) as u64));
                let (path, body) = &bodies[i % bodies.len()];
                let (status, head, resp) = exchange(
                    addr,
                    "POST",
                    path,
                    &[("Content-Type", "application/json")],
                    body,
                )
                .unwrap();
                (i % bodies.len(), status, head, resp)
            })
        })
        .collect();
    for t in threads {
        let (which, status, head, body) = t.join().unwrap();
        let (code, message) = maa_error(&body);
        assert_eq!(status, 400, "body {which}: {head}\n{message}");
        assert_eq!(code, "InvalidParameter");
        assert!(
            message.contains("deeper than 64 levels"),
            "body {which}: {message}"
        );
    }
    p.finish("4 waves of 32 × 10 000-deep JSON");
}

/// An AzureGuest request whose `AttestationInfo` carries `keys` client
/// payload members (first, as an attacker would put them).
fn payload_body(keys: usize) -> Vec<u8> {
    let mut doc = String::from("{\"ClientPayload\":{");
    for i in 0..keys {
        if i > 0 {
            doc.push(',');
        }
        doc.push_str(&format!("\"k{i:06}\":\"dmFsdWU=\""));
    }
    doc.push_str(
        "},\"AttestationProtocolVersion\":\"2.0\",\"OSType\":\"TGludXg=\",\
         \"OSDistro\":\"VWJ1bnR1\",\"OSVersionMajor\":22,\"OSVersionMinor\":4,\
         \"OSBuild\":\"NQ==\",\"TcgLogs\":\"\",\
         \"TpmInfo\":{\"AikCert\":\"\",\"AikPub\":\"AQ==\",\"PcrQuote\":\"AQ==\",\
         \"PcrSignature\":\"AQ==\",\"EncKeyPub\":\"AQ==\",\"EncKeyCertifyInfo\":\"AQ==\",\
         \"EncKeyCertifyInfoSignature\":\"AQ==\",\"PcrSet\":[],\"PCRs\":[]},\
         \"IsolationInfo\":{\"Type\":\"SevSnp\",\"Evidence\":{\"Proof\":\"e30=\",\"RunTimeData\":\"e30=\"}}}",
    );
    format!(
        "{{\"AttestationInfo\":\"{}\"}}",
        URL_SAFE_NO_PAD.encode(doc.as_bytes())
    )
    .into_bytes()
}

/// 100 000 client-payload members (a 2.4 MB body), 32 at once, twice:
/// every request refused (400 naming the cap, or back-pressure with
/// Retry-After), the probe served, and the memory comes back.
#[test]
fn client_payload_keys_are_capped_and_memory_comes_back() {
    let srv = serve(&[]);
    let pid = srv.pid();
    // The configured cap, on a small body.
    let (status, _, body) = exchange(
        srv.addr,
        "POST",
        "/attest/AzureGuest",
        &[],
        &payload_body(65),
    )
    .unwrap();
    let (_, message) = maa_error(&body);
    assert_eq!(status, 400, "{message}");
    assert!(
        message.contains("ClientPayload has 65 members; at most 64"),
        "{message}"
    );
    let body = Arc::new(payload_body(100_000));
    println!("payload body: {} bytes", body.len());
    let before = status_kib(pid, "VmRSS:");
    let p = probe(srv.addr);
    let (mut refused, mut busy) = (0, 0);
    for _round in 0..2 {
        let threads: Vec<_> = (0..32)
            .map(|_| {
                let (addr, body) = (srv.addr, body.clone());
                std::thread::spawn(move || {
                    exchange(addr, "POST", "/attest/AzureGuest", &[], &body).unwrap()
                })
            })
            .collect();
        for t in threads {
            let (status, head, body) = t.join().unwrap();
            let (code, message) = maa_error(&body);
            match status {
                400 => {
                    assert!(message.contains("ClientPayload"), "{message}");
                    refused += 1;
                }
                429 | 503 => {
                    assert!(header(&head, "retry-after").is_some(), "{head}");
                    assert!(matches!(
                        code.as_str(),
                        "TooManyRequests" | "ServiceUnavailable"
                    ));
                    busy += 1;
                }
                other => panic!("unexpected {other}: {head}\n{message}"),
            }
        }
    }
    p.finish("32 × 100 000 client-payload members, twice");
    std::thread::sleep(Duration::from_millis(500));
    let (after, peak) = (status_kib(pid, "VmRSS:"), status_kib(pid, "VmHWM:"));
    println!(
        "serve VmRSS before {} MiB, peak (VmHWM) {} MiB, after {} MiB; {refused} refused (400), {busy} back-pressure",
        before / 1024,
        peak / 1024,
        after / 1024
    );
    // Before the caps: ~70 MB per request, 2.1 GB after 32 at once.
    assert!(
        after < before + 256 * 1024,
        "serve kept {} MiB after the load",
        (after - before) / 1024
    );
    assert!(peak < before + 512 * 1024, "peak {} MiB", peak / 1024);
}

/// A body that stops coming: 408 in MAA's shape, after the body read
/// time-out; a body over `--max-body-bytes`: 413 in MAA's shape.
#[test]
fn stalled_and_oversized_bodies() {
    let srv = serve(&["--body-read-timeout", "1", "--max-body-bytes", "100000"]);
    let p = probe(srv.addr);
    let mut s = TcpStream::connect(srv.addr).unwrap();
    s.set_read_timeout(Some(BOUND)).unwrap();
    s.write_all(
        b"POST /attest/SevSnpVm HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 1000\r\n\r\n{\"report\":",
    )
    .unwrap();
    let (status, head, body) = read_response(&mut s).unwrap();
    assert_eq!(status, 408, "{head}");
    assert_eq!(maa_error(&body).0, "RequestTimeout");
    // Larger than the cap, on an attestation route and on the key release.
    let big = vec![b' '; 200_000];
    for (path, method) in [("/attest/SevSnpVm", "POST"), ("/keys/k/release", "POST")] {
        let (status, head, body) = exchange(srv.addr, method, path, &[], &big).unwrap();
        assert_eq!(status, 413, "{head}");
        assert_eq!(maa_error(&body).0, "RequestBodyTooLarge");
    }
    p.finish("a stalled body and oversized ones");
}

/// One appraisal at a time and none waiting: of 32 heavy requests at once,
/// each is answered (400: the evidence is junk) or refused at once with
/// 429 and `Retry-After` — never queued without bound.
#[test]
fn appraisals_past_the_queue_are_refused_with_retry_after() {
    let srv = serve(&[
        "--max-concurrent-appraisals",
        "1",
        "--max-queued-appraisals",
        "0",
    ]);
    let p = probe(srv.addr);
    // A large (3 MB) chain to decode before the refusal.
    let report = URL_SAFE_NO_PAD.encode(
        serde_json::json!({"SnpReport": "AA", "VcekCertChain": "A".repeat(3_000_000)}).to_string(),
    );
    let body = Arc::new(format!(r#"{{"report":"{report}"}}"#).into_bytes());
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let (addr, body) = (srv.addr, body.clone());
            std::thread::spawn(move || {
                exchange(addr, "POST", "/attest/SevSnpVm", &[], &body).unwrap()
            })
        })
        .collect();
    let mut counts = std::collections::BTreeMap::new();
    for t in threads {
        let (status, head, body) = t.join().unwrap();
        let (code, _) = maa_error(&body);
        match status {
            400 => assert_eq!(code, "InvalidParameter"),
            // No appraisal slot, or (32 × 4 MB) no room for the body.
            429 | 503 => {
                assert!(matches!(
                    code.as_str(),
                    "TooManyRequests" | "ServiceUnavailable"
                ));
                assert!(header(&head, "retry-after").is_some(), "{head}");
            }
            other => panic!("unexpected {other}: {head}"),
        }
        *counts.entry(status).or_insert(0) += 1;
    }
    println!("answers by status: {counts:?}");
    p.finish("32 appraisals against one slot");
}

/// Every file the CLI reads has a cap: `/dev/zero` as a report, a
/// certificate file, a token or a policy is refused at once with the
/// command's input error (code 8), not read until memory runs out.
#[test]
fn file_inputs_are_capped() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let out = out.to_str().unwrap();
    let cases: &[&[&str]] = &[
        &["evidence", "snp", "--report", "/dev/zero"],
        &["evidence", "hcl", "--report", "/dev/zero"],
        &["token", "show", "/dev/zero"],
        // `-`: standard input, here /dev/zero too.
        &["token", "show", "-"],
        &["policy", "check", "/dev/zero"],
        &[
            "encrypt",
            "--token",
            "/dev/zero",
            "--in",
            "/dev/zero",
            "--out",
            out,
        ],
        &["encrypt", "--token", "-", "--in", "/dev/zero", "--out", out],
    ];
    for args in cases {
        let t = Instant::now();
        let mut child = Command::new(BIN)
            .args(*args)
            .stdin(std::fs::File::open("/dev/zero").unwrap())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            if t.elapsed() > BOUND {
                let _ = child.kill();
                panic!("{args:?} still reading /dev/zero");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut err = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        println!(
            "{args:?}: exit {:?} after {:.2} s: {}",
            status.code(),
            t.elapsed().as_secs_f64(),
            err.trim()
        );
        assert_eq!(status.code(), Some(8), "{args:?}: {err}");
        assert!(err.contains("larger than"), "{args:?}: {err}");
    }
}
