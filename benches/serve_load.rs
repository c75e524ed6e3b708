//! `cargo xtask bench-serve [--instances N --store postgres]`: a bounded
//! load run of the real `tee-attest serve` binary on 127.0.0.1, next to the
//! same request handling without HTTP, in one run (docs/PERFORMANCE.md,
//! section `bench-serve`).
//!
//! - **Services**: child processes of this bench, each `tee-attest serve
//!   --trust-mock` with its own data directory and the same
//!   `TEE_ATTEST_KEK`; standard error (its request log, at the default
//!   level `info`) goes to a file, as a deployment's would. Always one
//!   instance on SQLite (the data directory, the default store); with
//!   `--instances N --store postgres` also N instances on one throwaway
//!   PostgreSQL cluster (`tee_attest_testkit::postgres::PgCluster`:
//!   `initdb` in a temporary directory, loopback only), sharing one issuer
//!   (the first instance's URL) so that a token from one releases keys at
//!   every other. `--compare-bin PATH` adds one SQLite instance of another
//!   build of `tee-attest` (before/after a change, same run).
//! - **Load generator**: this process, on one thread (a current-thread
//!   tokio runtime, reqwest with keep-alive), `clients` closed-loop clients
//!   spreading requests round-robin over a configuration's instances. The
//!   request is `POST /attest/AzureGuest` with one body gathered once from
//!   the mock Azure CVM (the answer is the token sealed to the vTPM key).
//!   Levels 1, 16 and 64 clients, each bounded by `--seconds` (default 8)
//!   and [`MAX_REQUESTS_PER_LEVEL`], after a short warm-up; the
//!   configurations take turns at each level. An answer 429 or 503 with
//!   `Retry-After` is *shed*; any other failure is an *error*.
//! - **Key releases**: `POST /keys/bench-key/release` (a key created with
//!   `tee-attest keys create`, a token unsealed in the mock vTPM, a fresh
//!   nonce each time), [`RELEASE_CLIENTS`] clients, at most
//!   [`MAX_RELEASES`] per configuration.
//! - **Baseline**: the same request handling without HTTP — the AzureGuest
//!   format's `handle_limited` (parse, appraise, policy, sign, seal) on a
//!   local verifier built as `serve` builds it — on one thread and on two
//!   threads in this process, at the start and at the end of the run (the
//!   services idle meanwhile). The ratio is a configuration's rate over the
//!   mean of the two-thread baselines.
//! - Reported: requests per second, p50/p99 of the successful requests,
//!   errors, shed, the CPU the services and the load generator used (cores,
//!   from `/proc/PID/stat`), each instance's peak RSS (`VmHWM`), key
//!   releases per second.
//!
//! `cargo test --benches` runs this target without `--bench`: then a smoke
//! run — the baseline and the load generator against `serve` in process,
//! two requests per level, no PostgreSQL and no release binary — that
//! takes seconds.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use tee_attest::mock::MockProvider;
use tee_attest::{EvidenceProvider, EvidenceRequest};
use tee_attest_maa::azureguest::{build_request_body, OsInfo};
use tee_attest_testkit::postgres::PgCluster;
use tee_attest_verifier::service::formats::{AzureGuest, RequestFormat as _};
use tee_attest_verifier::service::{serve, RequestLimits, ServiceState};
use tee_attest_verifier::LocalVerifier;

/// Client counts of the attest levels.
const LEVELS: [usize; 3] = [1, 16, 64];
/// The most requests of one level of one configuration.
const MAX_REQUESTS_PER_LEVEL: usize = 50_000;
/// Seconds per level (and per baseline) unless `--seconds` says otherwise.
const DEFAULT_SECONDS: u64 = 8;
/// Warm-up of each configuration (16 clients) before its first level.
const WARM_UP: Duration = Duration::from_secs(2);
/// Concurrent clients of the key-release run.
const RELEASE_CLIENTS: usize = 16;
/// The most key releases per configuration.
const MAX_RELEASES: usize = 2_000;
/// Each HTTP request's time-out (the service's own is 30 s).
const HTTP_TIMEOUT: Duration = Duration::from_secs(40);
/// The KEK every instance gets (`TEE_ATTEST_KEK`, 64 hex digits).
const KEK: &str = "6265e6368d6b2d73657276652d6b656b2d6f6e6c792d666f722d62656e636821";
/// Variables the services must not inherit (a mock's exports, another
/// KEK, store or data directory, proxies: loopback only).
const CLEARED_ENV: &[&str] = &[
    "TEE_ATTEST_TCTI",
    "TEE_ATTEST_IMDS_URL",
    "TEE_ATTEST_EVENT_LOG",
    "TEE_ATTEST_TEE",
    "TEE_ATTEST_TRUST_MOCK",
    "TEE_ATTEST_KEK",
    "TEE_ATTEST_DATA_DIR",
    "TEE_ATTEST_STORE",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
];

type Result<T = ()> = std::result::Result<T, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StoreKind {
    Sqlite,
    Postgres,
}

impl StoreKind {
    fn name(self) -> &'static str {
        match self {
            StoreKind::Sqlite => "sqlite",
            StoreKind::Postgres => "postgres",
        }
    }
}

#[derive(Debug)]
struct Opts {
    instances: usize,
    store: StoreKind,
    serve_bin: PathBuf,
    compare_bin: Option<PathBuf>,
    seconds: u64,
    smoke: bool,
}

fn parse_opts() -> Result<Opts> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let mut o = Opts {
        instances: 1,
        store: StoreKind::Sqlite,
        serve_bin: workspace.join("target/release/tee-attest"),
        compare_bin: None,
        seconds: DEFAULT_SECONDS,
        // `cargo bench` passes `--bench`; `cargo test --benches` does not.
        smoke: !args.iter().any(|a| a == "--bench"),
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{a} needs a value"))
        };
        match a.as_str() {
            "--instances" => {
                o.instances = value()?
                    .parse()
                    .ok()
                    .filter(|n| (1..=16).contains(n))
                    .ok_or("--instances: 1 to 16")?;
            }
            "--store" => {
                o.store = match value()?.as_str() {
                    "sqlite" | "local" => StoreKind::Sqlite,
                    "postgres" => StoreKind::Postgres,
                    other => return Err(format!("--store {other:?}: sqlite or postgres")),
                };
            }
            // Relative paths are the workspace's (cargo runs benches in
            // their package's directory).
            "--serve-bin" => o.serve_bin = workspace.join(value()?),
            "--compare-bin" => o.compare_bin = Some(workspace.join(value()?)),
            "--seconds" => {
                o.seconds = value()?
                    .parse()
                    .ok()
                    .filter(|s| (1..=600).contains(s))
                    .ok_or("--seconds: 1 to 600")?;
            }
            // cargo's and libtest's own flags.
            _ => {}
        }
    }
    Ok(o)
}

// ---------------------------------------------------------------------------
// /proc
// ---------------------------------------------------------------------------

/// `VmHWM` and `VmRSS` of `pid` (`self` for this process), KiB.
fn rss_kib(pid: &str) -> Option<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<u64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace().nth(1)?.parse().ok()
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

/// User + system CPU time of `pid`, in seconds (USER_HZ is 100 on Linux).
fn cpu_seconds(pid: &str) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    let Some((_, rest)) = stat.rsplit_once(") ") else {
        return 0.0;
    };
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    (ticks(11) + ticks(12)) as f64 / 100.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn free_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("a free loopback port: {e}"))
}

// ---------------------------------------------------------------------------
// Services
// ---------------------------------------------------------------------------

/// One `tee-attest serve` child process, killed (by its handle) on drop.
struct Instance {
    child: Option<Child>,
    base: String,
    pid: String,
    log: PathBuf,
}

impl Drop for Instance {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The services of one configuration.
struct Config {
    label: String,
    bin: PathBuf,
    instances: Vec<Instance>,
    issuer: String,
    store: StoreKind,
    /// A token for the key releases (unsealed in the mock vTPM).
    token: Option<String>,
}

fn http_client(clients: usize) -> Result<reqwest::Client> {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(HTTP_TIMEOUT)
        .pool_max_idle_per_host(clients.max(1))
        .build()
        .map_err(|e| format!("HTTP client: {e}"))
}

/// A `tee-attest` command without the variables that would change its target.
fn cli(bin: &Path) -> Command {
    let mut c = Command::new(bin);
    for k in CLEARED_ENV {
        c.env_remove(k);
    }
    c.env("TEE_ATTEST_KEK", KEK).stdin(Stdio::null());
    c
}

/// Waits until `inst` answers `GET /readyz` with 200.
fn wait_ready(rt: &tokio::runtime::Runtime, inst: &mut Instance) -> Result {
    let client = http_client(1)?;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(c) = inst.child.as_mut() {
            if let Ok(Some(status)) = c.try_wait() {
                return Err(format!(
                    "serve exited at start ({status}): {}",
                    std::fs::read_to_string(&inst.log)
                        .unwrap_or_default()
                        .lines()
                        .rev()
                        .take(5)
                        .collect::<Vec<_>>()
                        .join(" / ")
                ));
            }
        }
        let ready = rt.block_on(async {
            client
                .get(format!("{}/readyz", inst.base))
                .send()
                .await
                .is_ok_and(|r| r.status().is_success())
        });
        if ready {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(format!("{} not ready within 60 s", inst.base));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts one `serve` on a free port (another port if that one was taken).
fn start_instance(
    rt: &tokio::runtime::Runtime,
    bin: &Path,
    dir: &Path,
    port: u16,
    issuer: &str,
    store_url: Option<&str>,
) -> Result<Instance> {
    let mut port = port;
    let mut last = String::new();
    for _ in 0..5 {
        let log = dir.with_extension("log");
        let file = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
        let mut c = cli(bin);
        c.args([
            "serve",
            "--addr",
            &format!("127.0.0.1:{port}"),
            "--trust-mock",
        ])
        .arg("--data-dir")
        .arg(dir)
        .args(["--issuer", issuer])
        .stdout(Stdio::null())
        .stderr(file);
        if let Some(u) = store_url {
            c.env("TEE_ATTEST_STORE", u);
        }
        let child = c.spawn().map_err(|e| format!("{}: {e}", bin.display()))?;
        let mut inst = Instance {
            pid: child.id().to_string(),
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        match wait_ready(rt, &mut inst) {
            Ok(()) => return Ok(inst),
            Err(e) => last = e,
        }
        drop(inst);
        port = free_port()?;
    }
    Err(format!("serve did not start: {last}"))
}

/// `keys create bench-key` whose release policy names `issuer`.
fn create_key(bin: &Path, dir: &Path, issuer: &str, store_url: Option<&str>) -> Result {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let policy = dir.join("release-policy.json");
    std::fs::write(
        &policy,
        format!(
            r#"{{"version":"1.0.0","anyOf":[{{"authority":"{issuer}","allOf":[{{"claim":"x-ms-isolation-tee.x-ms-attestation-type","equals":"sevsnpvm"}}]}}]}}"#
        ),
    )
    .map_err(|e| format!("{}: {e}", policy.display()))?;
    let mut c = cli(bin);
    c.args(["keys", "create", "bench-key", "--kty", "oct", "--policy"])
        .arg(&policy)
        .arg("--data-dir")
        .arg(dir);
    if let Some(u) = store_url {
        c.env("TEE_ATTEST_STORE", u);
    }
    let out = c.output().map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "keys create: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// Starts a configuration: its key, then its instances one after the
/// other (the first applies the migrations and uploads the signing key).
fn start_config(
    rt: &tokio::runtime::Runtime,
    label: &str,
    bin: &Path,
    n: usize,
    store: StoreKind,
    store_url: Option<&str>,
    work: &Path,
) -> Result<Config> {
    let dir = work.join(label.replace([' ', '(', ')'], ""));
    let port = free_port()?;
    let issuer = format!("http://127.0.0.1:{port}");
    create_key(bin, &dir.join("inst0"), &issuer, store_url)?;
    let mut instances = Vec::new();
    for i in 0..n {
        let p = if i == 0 { port } else { free_port()? };
        instances.push(start_instance(
            rt,
            bin,
            &dir.join(format!("inst{i}")),
            p,
            &issuer,
            store_url,
        )?);
    }
    Ok(Config {
        label: label.to_string(),
        bin: bin.to_path_buf(),
        instances,
        issuer,
        store,
        token: None,
    })
}

// ---------------------------------------------------------------------------
// Load
// ---------------------------------------------------------------------------

/// What one run of requests gave.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
    shed: u64,
    first_errors: Vec<String>,
    elapsed: Duration,
}

impl Tally {
    fn merge(&mut self, o: Tally) {
        self.latencies.extend(o.latencies);
        self.errors += o.errors;
        self.shed += o.shed;
        for e in o.first_errors {
            if self.first_errors.len() < 3 {
                self.first_errors.push(e);
            }
        }
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn percentile(&mut self, p: f64) -> Duration {
        self.latencies.sort_unstable();
        if self.latencies.is_empty() {
            return Duration::ZERO;
        }
        let i = ((self.latencies.len() as f64 - 1.0) * p).round() as usize;
        self.latencies[i.min(self.latencies.len() - 1)]
    }
}

/// The `k`-th request: URL and body.
type Make = Arc<dyn Fn(usize) -> (String, reqwest::Body) + Send + Sync>;

/// `clients` closed-loop clients until `max` requests or `time` have gone.
async fn closed_loop(
    client: &reqwest::Client,
    clients: usize,
    max: usize,
    time: Duration,
    make: Make,
    expect: &'static str,
) -> Tally {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + time;
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let (client, next, make) = (client.clone(), next.clone(), make.clone());
        tasks.push(tokio::spawn(async move {
            let mut t = Tally::default();
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= max || Instant::now() >= deadline {
                    break;
                }
                let (url, body) = make(k);
                let start = Instant::now();
                let sent = client
                    .post(&url)
                    .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                    .body(body)
                    .send()
                    .await;
                let resp = match sent {
                    Ok(r) => r,
                    Err(e) => {
                        t.errors += 1;
                        if t.first_errors.len() < 3 {
                            t.first_errors.push(format!("{url}: {e}"));
                        }
                        continue;
                    }
                };
                let status = resp.status().as_u16();
                let retry_after = resp.headers().contains_key(RETRY_AFTER);
                let text = match resp.bytes().await {
                    Ok(b) => b,
                    Err(e) => {
                        t.errors += 1;
                        if t.first_errors.len() < 3 {
                            t.first_errors
                                .push(format!("{url}: reading the answer: {e}"));
                        }
                        continue;
                    }
                };
                let took = start.elapsed();
                let found = text.windows(expect.len()).any(|w| w == expect.as_bytes());
                match status {
                    200 if found => t.latencies.push(took),
                    429 | 503 if retry_after => t.shed += 1,
                    _ => {
                        t.errors += 1;
                        if t.first_errors.len() < 3 {
                            let s = String::from_utf8_lossy(&text);
                            t.first_errors.push(format!(
                                "{url}: HTTP {status}: {}",
                                s.chars().take(200).collect::<String>()
                            ));
                        }
                    }
                }
            }
            t
        }));
    }
    let mut all = Tally::default();
    for task in tasks {
        if let Ok(t) = task.await {
            all.merge(t);
        }
    }
    all.elapsed = started.elapsed();
    all
}

/// The baseline: `threads` threads handling the request in process until
/// `time` has gone; requests per second.
fn baseline(verifier: &Arc<LocalVerifier>, body: &[u8], threads: usize, time: Duration) -> f64 {
    let limits = RequestLimits::default();
    for _ in 0..10 {
        AzureGuest
            .handle_limited(verifier, body, &limits)
            .expect("the baseline request");
    }
    let done = AtomicUsize::new(0);
    let started = Instant::now();
    let deadline = started + time;
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                while Instant::now() < deadline {
                    AzureGuest
                        .handle_limited(verifier, body, &limits)
                        .expect("the baseline request");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
    });
    done.load(Ordering::Relaxed) as f64 / started.elapsed().as_secs_f64()
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// One row of the attest table.
struct Row {
    label: String,
    clients: usize,
    tally: Tally,
    serve_cores: f64,
    gen_cores: f64,
}

/// Attest load on `urls` (round-robin) with `clients` clients; the CPU
/// used by `pids` and by this process meanwhile.
fn attest_level(
    rt: &tokio::runtime::Runtime,
    urls: &[String],
    pids: &[String],
    body: &'static [u8],
    clients: usize,
    max: usize,
    time: Duration,
) -> (Tally, f64, f64) {
    let client = http_client(clients).expect("HTTP client");
    let urls: Arc<Vec<String>> = Arc::new(
        urls.iter()
            .map(|b| format!("{b}/attest/AzureGuest?api-version=2020-10-01"))
            .collect(),
    );
    let body: &'static [u8] = body;
    let make: Make = Arc::new(move |k| (urls[k % urls.len()].clone(), body.into()));
    let cpu0: f64 = pids.iter().map(|p| cpu_seconds(p)).sum();
    let gen0 = cpu_seconds("self");
    let t = rt.block_on(closed_loop(&client, clients, max, time, make, "\"token\""));
    let secs = t.elapsed.as_secs_f64().max(1e-9);
    let cpu: f64 = pids.iter().map(|p| cpu_seconds(p)).sum::<f64>() - cpu0;
    let gen = cpu_seconds("self") - gen0;
    (t, cpu / secs, gen / secs)
}

fn main() {
    let opts = match parse_opts() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("serve_load: {e}");
            std::process::exit(2);
        }
    };
    if !opts.smoke && !opts.serve_bin.is_file() {
        eprintln!(
            "serve_load: skipped: {} is not built (`cargo xtask bench-serve` builds it: \
             cargo build --release -p tee-attest-cli --bin tee-attest)",
            opts.serve_bin.display()
        );
        return;
    }
    if let Err(e) = run(&opts) {
        eprintln!("serve_load: {e}");
        std::process::exit(1);
    }
}

fn run(opts: &Opts) -> Result {
    let load_start = load_average();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("runtime: {e}"))?;
    let provider = MockProvider::start()
        .map_err(|e| format!("the mock CVM (swtpm must be installed: cargo xtask deps): {e}"))?;
    let mut req = EvidenceRequest::with_nonce(b"load".to_vec());
    req.client_payload.insert("Nonce".into(), "load".into());
    let evidence = rt
        .block_on(provider.evidence(&req))
        .map_err(|e| format!("evidence: {e}"))?;
    let body = build_request_body(
        &evidence,
        &OsInfo::new("Linux", "Debian GNU/Linux", 12, 0, "6.1.0"),
    )
    .map_err(|e| format!("body: {e}"))?;
    // Replayed as is by every request: one buffer for the whole run.
    let body: &'static [u8] = Box::leak(body.into_bytes().into_boxed_slice());
    let work = tempfile::Builder::new()
        .prefix("tee-attest-bench-serve")
        .tempdir()
        .map_err(|e| format!("tempdir: {e}"))?;

    // The baseline's verifier, built as `serve` builds its own.
    let mut vopts = tee_attest::VerifierOptions::default();
    vopts.data_dir = Some(work.path().join("baseline"));
    vopts.issuer = "http://127.0.0.1:8700".into();
    vopts.trust_mock = true;
    let verifier =
        tee_attest::verifiers::local_verifier(&vopts).map_err(|e| format!("verifier: {e}"))?;

    let secs = if opts.smoke { 1 } else { opts.seconds };
    let time = Duration::from_secs(secs);
    let per_level = if opts.smoke {
        2
    } else {
        MAX_REQUESTS_PER_LEVEL
    };
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!(
        "bench-serve: {cores} cores, load average at start {load_start}; {} s per level; \
         request body {} bytes",
        secs,
        body.len()
    );

    let base1 = baseline(&verifier, body, 1, time / 2);
    let base2_start = baseline(&verifier, body, 2, time);
    println!(
        "baseline at start: 1 thread {base1:.0} req/s ({:.3} ms each), 2 threads {base2_start:.0} req/s",
        1e3 / base1
    );

    // The services.
    let mut configs: Vec<Config> = Vec::new();
    let in_process; // smoke: `serve` in this process
    let mut pg = None;
    if opts.smoke {
        let dir = work.path().join("smoke");
        let listener = rt
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .map_err(|e| format!("bind: {e}"))?;
        let base = format!(
            "http://{}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        let state = ServiceState::new(verifier.clone(), &dir).map_err(|e| e.to_string())?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = rt.spawn(serve(listener, state, async {
            let _ = rx.await;
        }));
        in_process = Some((tx, server));
        configs.push(Config {
            label: "in-process (smoke)".into(),
            bin: PathBuf::new(),
            instances: vec![Instance {
                child: None,
                base: base.clone(),
                pid: "self".into(),
                log: PathBuf::new(),
            }],
            issuer: base,
            store: StoreKind::Sqlite,
            token: None,
        });
    } else {
        in_process = None;
        println!(
            "serve binary: {} (release build: cargo build --release -p tee-attest-cli)",
            opts.serve_bin.display()
        );
        configs.push(start_config(
            &rt,
            "sqlite-1",
            &opts.serve_bin,
            1,
            StoreKind::Sqlite,
            None,
            work.path(),
        )?);
        if let Some(other) = &opts.compare_bin {
            println!("compare binary: {}", other.display());
            configs.push(start_config(
                &rt,
                "sqlite-1 (compare)",
                other,
                1,
                StoreKind::Sqlite,
                None,
                work.path(),
            )?);
        }
        if (opts.instances, opts.store) != (1, StoreKind::Sqlite) {
            let url = if opts.store == StoreKind::Postgres {
                let cluster = PgCluster::start();
                let url = cluster.url();
                pg = Some(cluster);
                Some(url)
            } else {
                None
            };
            let label = format!("{}-{}", opts.store.name(), opts.instances);
            configs.push(start_config(
                &rt,
                &label,
                &opts.serve_bin,
                opts.instances,
                opts.store,
                url.as_deref(),
                work.path(),
            )?);
        }
    }
    let started: Vec<String> = configs
        .iter()
        .map(|c| {
            format!(
                "{}: {} ({}, issuer {})",
                c.label,
                c.instances
                    .iter()
                    .map(|i| i.base.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                c.store.name(),
                c.issuer
            )
        })
        .collect();
    println!("services: {}", started.join("; "));

    // Warm-up, then the levels, the configurations taking turns.
    for c in &configs {
        let urls: Vec<String> = c.instances.iter().map(|i| i.base.clone()).collect();
        let warm = if opts.smoke {
            Duration::from_millis(200)
        } else {
            WARM_UP
        };
        let (t, _, _) = attest_level(&rt, &urls, &[], body, 16, per_level, warm);
        if t.errors > 0 {
            return Err(format!(
                "{}: errors during the warm-up: {}",
                c.label,
                t.first_errors.join("; ")
            ));
        }
    }
    let mut rows: Vec<Row> = Vec::new();
    for clients in LEVELS {
        for c in &configs {
            let urls: Vec<String> = c.instances.iter().map(|i| i.base.clone()).collect();
            let pids: Vec<String> = if opts.smoke {
                Vec::new()
            } else {
                c.instances.iter().map(|i| i.pid.clone()).collect()
            };
            let (tally, serve_cores, gen_cores) =
                attest_level(&rt, &urls, &pids, body, clients, per_level, time);
            rows.push(Row {
                label: c.label.clone(),
                clients,
                tally,
                serve_cores,
                gen_cores,
            });
        }
    }

    // Key releases: a token from each configuration's first instance.
    let decryptor = provider
        .decryptor()
        .map_err(|e| format!("decryptor: {e}"))?;
    let mut releases: Vec<(String, Tally)> = Vec::new();
    for c in configs.iter_mut() {
        if opts.smoke {
            break; // the in-process service has no key release
        }
        let client = http_client(RELEASE_CLIENTS)?;
        let sealed = rt
            .block_on(async {
                let r = client
                    .post(format!(
                        "{}/attest/AzureGuest?api-version=2020-10-01",
                        c.instances[0].base
                    ))
                    .header(CONTENT_TYPE, "application/json")
                    .body(body)
                    .send()
                    .await?;
                r.bytes().await
            })
            .map_err(|e| format!("{}: attest for a token: {e}", c.label))?;
        let token = rt
            .block_on(tee_attest_maa::unseal_token(&sealed, decryptor.as_ref()))
            .map_err(|e| format!("{}: unsealing the token: {e}", c.label))?;
        c.token = Some(token.clone());
        let urls: Arc<Vec<String>> = Arc::new(
            c.instances
                .iter()
                .map(|i| format!("{}/keys/bench-key/release?api-version=7.4", i.base))
                .collect(),
        );
        let tag = format!("{}-{}", std::process::id(), c.label.replace(' ', "_"));
        let make: Make = Arc::new(move |k| {
            (
                urls[k % urls.len()].clone(),
                format!(
                    r#"{{"target":"{token}","nonce":"bench-{tag}-{k}","enc":"RSA_AES_KEY_WRAP_256"}}"#
                )
                .into(),
            )
        });
        let t = rt.block_on(closed_loop(
            &client,
            RELEASE_CLIENTS,
            MAX_RELEASES,
            time,
            make,
            "\"value\"",
        ));
        releases.push((c.label.clone(), t));
    }

    let base2_end = baseline(&verifier, body, 2, time);
    let base2 = (base2_start + base2_end) / 2.0;
    println!(
        "baseline at end: 2 threads {base2_end:.0} req/s; mean of the 2-thread baselines {base2:.0} req/s"
    );
    println!("load average at end {}", load_average());
    println!();

    // The tables.
    println!("| configuration | clients | requests | req/s | p50 | p99 | errors | shed | × baseline (2 threads) | × sqlite-1 | serve CPU (cores) | load generator CPU (cores) |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    let sqlite_rate = |clients: usize, rows: &[Row]| {
        rows.iter()
            .find(|r| r.clients == clients && r.label == configs[0].label)
            .map_or(0.0, |r| r.tally.rate())
    };
    let rates: Vec<f64> = rows.iter().map(|r| sqlite_rate(r.clients, &rows)).collect();
    let mut errors = 0;
    for (r, sqlite) in rows.iter_mut().zip(rates) {
        let rate = r.tally.rate();
        errors += r.tally.errors;
        let (p50, p99) = (r.tally.percentile(0.5), r.tally.percentile(0.99));
        println!(
            "| {} | {} | {} | {:.0} | {} | {} | {} | {} | {:.2}× | {} | {:.2} | {:.2} |",
            r.label,
            r.clients,
            r.tally.latencies.len(),
            rate,
            ms(p50),
            ms(p99),
            r.tally.errors,
            r.tally.shed,
            rate / base2,
            if r.label == configs[0].label {
                "—".to_string()
            } else {
                format!("{:.2}×", rate / sqlite.max(1e-9))
            },
            r.serve_cores,
            r.gen_cores,
        );
        for e in &r.tally.first_errors {
            println!("  error: {e}");
        }
    }
    if !releases.is_empty() {
        println!();
        println!("| configuration | key releases | per second | p50 | p99 | errors | shed |");
        println!("|---|---|---|---|---|---|---|");
        for (label, t) in releases.iter_mut() {
            errors += t.errors;
            let rate = t.rate();
            let (p50, p99) = (t.percentile(0.5), t.percentile(0.99));
            println!(
                "| {label} | {} | {rate:.0} | {} | {} | {} | {} |",
                t.latencies.len(),
                ms(p50),
                ms(p99),
                t.errors,
                t.shed
            );
            for e in &t.first_errors {
                println!("  error: {e}");
            }
        }
    }
    if !opts.smoke {
        println!();
        println!("| configuration | instance | peak RSS (VmHWM) | RSS at end |");
        println!("|---|---|---|---|");
        for c in &configs {
            for (i, inst) in c.instances.iter().enumerate() {
                let (hwm, rss) = rss_kib(&inst.pid).unwrap_or((0, 0));
                println!(
                    "| {} | {i} ({}) | {:.1} MiB | {:.1} MiB |",
                    c.label,
                    c.bin.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
                    hwm as f64 / 1024.0,
                    rss as f64 / 1024.0
                );
            }
        }
    }
    drop(configs);
    drop(pg);
    if let Some((tx, server)) = in_process {
        let _ = tx.send(());
        let _ = rt.block_on(server);
    }
    if errors > 0 {
        return Err(format!("{errors} errors"));
    }
    Ok(())
}
