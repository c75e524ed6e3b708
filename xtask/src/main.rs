//! `cargo xtask`: the workspace's automation, in Rust, with one small
//! dependency (`ureq` without TLS, for the soak's HTTP load) so that it
//! builds in seconds.
//!
//! ```text
//! cargo xtask deps      check (and, as root, install) what builds and tests need
//! cargo xtask test      deps, then every test of the workspace (real vectors included),
//!                       Schemathesis, a 30-second soak
//! cargo xtask lint      rustfmt --check, clippy -D warnings, cargo deny check
//! cargo xtask demo      the main job on the embedded default (mock vTPM on swtpm)
//! cargo xtask detect    what this machine offers, and the features to build with
//! cargo xtask build --target-hw T    the CLI and C library for one kind of hardware
//! cargo xtask gen-vectors [--check]   the repository's own mock vectors
//! cargo xtask bench-serve [--instances N --store postgres]
//!                       a bounded load run of the release `serve` on loopback
//! cargo xtask soak --minutes M [--seconds S] [--debug] [--no-build]
//!                       a paced, mixed soak of `serve` and the CLI on loopback
//!                       (errors, shed, p50/p99, RSS growth; xtask/src/soak.rs)
//! cargo xtask ci        lint, then test
//! cargo xtask contract  Schemathesis against `serve` on loopback (the end of `test`)
//! cargo xtask fuzz [--target T] [--secs N] [--replay] [--reseed]
//!                       the libFuzzer targets of fuzz/ (docs/FUZZING.md)
//! ```
#![forbid(unsafe_code)]

mod soak;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

type Result<T = ()> = std::result::Result<T, String>;

/// Debian packages the workspace needs, and the command that shows each is there.
const SYSTEM_DEPS: &[(&str, &[&str])] = &[
    ("pkg-config", &["pkg-config", "--version"]),
    (
        "libtss2-dev",
        &[
            "pkg-config",
            "--exists",
            "tss2-esys",
            "tss2-tctildr",
            "tss2-mu",
        ],
    ),
    ("swtpm", &["swtpm", "--version"]),
    ("swtpm-tools", &["swtpm_setup", "--help"]),
    ("tpm2-tools", &["tpm2_checkquote", "--version"]),
    // The C ABI's test runs the C example under valgrind.
    ("valgrind", &["valgrind", "--version"]),
    // The configfs-tsm emulator's tests mount FUSE (tee-attest-tsm): as root
    // fuser calls mount(2) itself; without root it needs setuid fusermount3.
    ("fuse3", &["fusermount3", "--version"]),
    // The shared store's tests start throwaway PostgreSQL clusters
    // (tee_attest_testkit::postgres): Debian keeps initdb and pg_ctl in
    // /usr/lib/postgresql/<version>/bin, not on PATH.
    (
        "postgresql",
        &["sh", "-c", "ls /usr/lib/postgresql/*/bin/initdb"],
    ),
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match cmd {
        // Each task installs only what it needs, and says so first.
        "deps" => deps()
            .and_then(|()| deny_tool())
            .and_then(|()| sdk_venv())
            .and_then(|()| schemathesis_venv()),
        "test" => deps()
            .and_then(|()| sdk_venv())
            .and_then(|()| schemathesis_venv())
            .and_then(|()| test(rest)),
        "lint" => deps().and_then(|()| deny_tool()).and_then(|()| lint()),
        "demo" => deps().and_then(|()| demo(rest)),
        "detect" => run_cli(&["detect"]),
        "gen-vectors" => gen_vectors(rest),
        "ffi-header" => ffi_header(rest.iter().any(|a| a == "--check")),
        "soak" => deps().and_then(|()| soak::soak(rest)),
        "bench-serve" => deps().and_then(|()| {
            // The services are the real `serve`, as deployed: the release
            // binary of the CLI (only it is built in release).
            let mut build = cargo();
            build.args(["build", "--release", "-p", "tee-attest-cli"]);
            build.args(["--bin", "tee-attest"]);
            run(build)?;
            // The load generator and the in-process baseline (benches/
            // serve_load.rs), compiled as the release binary is (thin LTO,
            // 16 codegen units) so that the baseline runs the serve
            // binary's code, not a fat-LTO build of it.
            let mut c = cargo();
            c.env("CARGO_PROFILE_BENCH_LTO", "thin")
                .env("CARGO_PROFILE_BENCH_CODEGEN_UNITS", "16")
                .args(["bench", "-p", "tee-attest-benches", "--bench", "serve_load"])
                .args(["--", "--serve-bin"])
                .arg(root().join("target/release/tee-attest"))
                .args(rest);
            run(c)
        }),
        // The seed generator links the mock crate (libtss2) and runs swtpm.
        "fuzz" => deps().and_then(|()| fuzz(rest)),
        "contract" => schemathesis_venv().and_then(|()| {
            let mut build = cargo();
            build.args(["build", "-p", "tee-attest-cli", "--bin", "tee-attest"]);
            run(build)?;
            contract()
        }),
        "build" => deps().and_then(|()| build(rest)),
        "ci" => deps()
            .and_then(|()| deny_tool())
            .and_then(|()| sdk_venv())
            .and_then(|()| schemathesis_venv())
            .and_then(|()| lint())
            .and_then(|()| test(rest)),
        "help" | "--help" | "-h" => {
            print!("{}", HELP);
            Ok(())
        }
        other => Err(format!("unknown task {other:?}\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

const HELP: &str = "\
usage: cargo xtask <task>
  deps     check (and, as root, install) system packages, cargo-deny, the
           Python SDK venv of the interoperability tests and Schemathesis's
           venv (each task below installs only what it needs)
  test     deps, then every test of the workspace, real-hardware vectors
           included, then Schemathesis against `serve` on loopback, then a
           30-second soak (soak --seconds 30 --debug --no-build)
  lint     cargo fmt --check, cargo clippy --all-targets -D warnings, cargo deny check
  demo     the main job on the embedded default: mock vTPM (swtpm) + verification
  detect   which compiled-in TEE backends recognise this machine, as JSON
  build --target-hw azure-snp|azure-tdx|snp|tdx|verifier|all|auto [--release]
           build the CLI (and, for a target with a TEE, the C library) with
           exactly the features that hardware needs; says which, and where
           the artefacts are (`verifier`: no libtss2, no mock)
  gen-vectors [--check]
           (re)generate the repository's own mock vectors in testvectors/mock,
           or check that the committed ones load and form a valid chain
  ffi-header [--check]
           regenerate the C header (crates/ffi/include/tee_attest.h), or check it
  bench-serve [--instances N --store postgres] [--seconds S] [--compare-bin PATH]
           a bounded load run of the release `serve` binary on loopback:
           one instance on SQLite and, when asked, N instances on a
           throwaway PostgreSQL cluster, 1/16/64 clients round-robin, key
           releases, RSS per instance, against the same request handling
           without HTTP on two threads (docs/PERFORMANCE.md, bench-serve)
  soak --minutes M [--seconds S] [--debug] [--no-build]
           a bounded soak on loopback: mock CVM, `serve` with key release;
           attest (embedded and over HTTP), token validation, key release
           and policy reads mixed at 80 % of the saturation a short ramp
           measures; per minute (per 10 s under 2 min) requests, errors,
           shed, p50/p99 per kind, and `serve`'s RSS growth after warm-up;
           fails on any error or growth over 5 %. Release binary unless
           --debug; --no-build uses the binary as it is
  ci       lint, then test
  contract Schemathesis against `serve` on loopback, alone (the last step
           of `test`; docs/VERIFIER.md, section The contract)
  fuzz [--target T] [--secs N] [--replay] [--reseed]
           build the fuzz targets of fuzz/ (stable toolchain, sanitizer
           coverage, no ASan), write the seed corpora if missing (--reseed:
           again), then --replay: run every corpus input and crash
           reproducer once; --secs N: fuzz each target (or T) N seconds, one
           at a time, niced, and print execs/s, cov and ft (docs/FUZZING.md)
";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo() -> Command {
    let mut c = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    c.current_dir(root());
    c
}

fn run(mut cmd: Command) -> Result {
    let shown = format!("{cmd:?}");
    eprintln!("xtask: running {shown}");
    let status = cmd.status().map_err(|e| format!("{shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{shown} failed with {status}"))
    }
}

fn succeeds(argv: &[&str]) -> bool {
    Command::new(argv[0])
        .args(&argv[1..])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

fn deps() -> Result {
    let missing: Vec<&str> = SYSTEM_DEPS
        .iter()
        .filter(|(_, check)| !succeeds(check))
        .map(|(pkg, _)| *pkg)
        .collect();
    if !missing.is_empty() {
        let install = format!(
            "apt-get update && apt-get install -y --no-install-recommends {}",
            missing.join(" ")
        );
        if !is_root() {
            return Err(format!(
                "missing system packages: {}\nrun as root: {install}",
                missing.join(", ")
            ));
        }
        eprintln!("xtask: installing {}", missing.join(", "));
        let mut update = Command::new("apt-get");
        update.arg("update").arg("-qq");
        run(update)?;
        let mut apt = Command::new("apt-get");
        apt.env("DEBIAN_FRONTEND", "noninteractive")
            .args(["install", "-y", "-qq", "--no-install-recommends"])
            .args(&missing);
        run(apt)?;
        let still: Vec<&str> = SYSTEM_DEPS
            .iter()
            .filter(|(_, check)| !succeeds(check))
            .map(|(pkg, _)| *pkg)
            .collect();
        if !still.is_empty() {
            return Err(format!("still missing after install: {}", still.join(", ")));
        }
    }
    eprintln!("xtask: system packages present");
    Ok(())
}

/// `cargo deny`, which only `lint` uses: built from crates.io when absent
/// (a few minutes on 2 cores, said before it starts).
fn deny_tool() -> Result {
    if !succeeds(&["cargo", "deny", "--version"]) {
        eprintln!(
            "xtask: installing cargo-deny for `lint` (cargo install --locked cargo-deny: \
             a few minutes on a new machine)"
        );
        let mut install = cargo();
        install.args(["install", "--locked", "cargo-deny"]);
        run(install)
            .map_err(|e| format!("{e}\ninstall it with: cargo install --locked cargo-deny"))?;
    }
    Ok(())
}

/// The Python SDK version the interoperability tests drive.
const SDK_REQUIREMENTS: &[&str] = &["azure-security-attestation==1.0.0", "six"];

/// Microsoft's Python attestation SDK in `target/sdk-venv`, for the tests
/// that check our service against it (`crates/cli/tests/policy_admin.rs`).
fn sdk_venv() -> Result {
    let venv = root().join("target/sdk-venv");
    let python = venv.join("bin/python3");
    let python_s = python.display().to_string();
    if succeeds(&[&python_s, "-c", "import azure.security.attestation, six"]) {
        return Ok(());
    }
    eprintln!(
        "xtask: installing Microsoft's Python attestation SDK into {} for the interoperability tests",
        venv.display()
    );
    let mut mk = Command::new("python3");
    mk.args(["-m", "venv"]).arg(&venv);
    run(mk).map_err(|e| format!("{e}\n(python3 with the venv module is needed)"))?;
    let mut pip = Command::new(&python);
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ])
    .args(SDK_REQUIREMENTS);
    run(pip)
}

fn test(extra: &[String]) -> Result {
    // Everything, including the tests that need swtpm and the real vectors.
    let mut t = cargo();
    t.args(["test", "--workspace"]).args(extra);
    run(t)?;
    // Benches compile and run once each as tests (no timing).
    let mut b = cargo();
    b.args(["test", "--workspace", "--benches"]);
    run(b)?;
    gen_vectors(&["--check".to_string()])?;
    ffi_header(true)?;
    relying_party_build()?;
    // `serve` as `cargo test --workspace` just built it (target/debug).
    contract()?;
    // The soak, briefly, on the same binary (about a minute in all).
    soak::soak(&["--seconds", "30", "--debug", "--no-build"].map(String::from))
}

// ---------------------------------------------------------------------------
// contract: Schemathesis against `serve` (docs/VERIFIER.md, "The contract")
// ---------------------------------------------------------------------------

/// Schemathesis, pinned: the property-based client that checks `serve`
/// against its OpenAPI document (`GET /openapi.json`).
const SCHEMATHESIS_REQUIREMENTS: &[&str] = &["schemathesis==4.32.5"];

/// Schemathesis in `target/schemathesis-venv`: a venv of its own, so that
/// its dependencies and the SDK's (`target/sdk-venv`) never constrain
/// each other.
fn schemathesis_venv() -> Result {
    let venv = root().join("target/schemathesis-venv");
    let st = venv.join("bin/st");
    let st_s = st.display().to_string();
    let wanted = SCHEMATHESIS_REQUIREMENTS[0].trim_start_matches("schemathesis==");
    if Command::new(&st_s)
        .arg("--version")
        .output()
        .map(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains(wanted))
        .unwrap_or(false)
    {
        return Ok(());
    }
    eprintln!(
        "xtask: installing Schemathesis {wanted} into {} for the service contract",
        venv.display()
    );
    if !venv.join("bin/python3").exists() {
        let mut mk = Command::new("python3");
        mk.args(["-m", "venv"]).arg(&venv);
        run(mk).map_err(|e| format!("{e}\n(python3 with the venv module is needed)"))?;
    }
    let mut pip = Command::new(venv.join("bin/python3"));
    pip.args([
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
    ])
    .args(SCHEMATHESIS_REQUIREMENTS);
    run(pip)
}

/// Schemathesis's configuration for the runs: every check, and
/// - 503 is not a failure of `not_a_server_error`: the design answers 503
///   (with `Retry-After`, which the contract requires and
///   `response_headers_conformance` checks) when a bearer token cannot be
///   checked because the administrators' issuer is unreachable, and when a
///   request outlives 30 s. Any other 5xx fails.
/// - `positive_data_acceptance` is off for the seven operations whose
///   bodies are evidence (the ITA profile's two included), a policy, a JWS
///   or a token: what makes them
///   acceptable (a signature, a chain to AMD, a policy that parses) is not
///   something a schema can say, so schema-valid bodies are rightly
///   refused (400). Every other check runs on them.
const SCHEMATHESIS_CONFIG: &str = r#"# Written by `cargo xtask test` (xtask/src/main.rs, contract()).
[checks]
enabled = true

[checks.not_a_server_error]
expected-statuses = ["2xx", "3xx", "4xx", "503"]

[[operations]]
include-operation-id = ["attest", "setPolicy", "resetPolicy", "releaseKey", "releaseKeyVersion", "itaAttest", "itaAttestAzure"]
checks.positive_data_acceptance.enabled = false
"#;

/// Examples per operation and phase (`--max-examples`), unless
/// `TEE_ATTEST_SCHEMATHESIS_EXAMPLES` says otherwise.
const SCHEMATHESIS_EXAMPLES: u32 = 50;
/// The longest one Schemathesis run may take before it counts as failed.
const SCHEMATHESIS_DEADLINE: std::time::Duration = std::time::Duration::from_secs(300);

/// A free port on 127.0.0.1 (bound, then released).
fn free_loopback_port() -> Result<u16> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free loopback port: {e}"))
}

/// base64url without padding (the bearer run's token).
fn b64url(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(char::from(A[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// `tee-attest serve` on loopback until dropped (killed by its pid).
struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The service's contract: Schemathesis against `tee-attest serve` on
/// 127.0.0.1, three runs — `--insecure-admin` (writes reachable), no
/// administration (writes refused: 403), and the bearer model with an
/// unreachable issuer (every guarded operation: 401 without a token, the
/// intended 503 with one) — each with a bounded number of examples per
/// operation and a deadline. Every response must match the document; no
/// 5xx but the intended 503s.
fn contract() -> Result {
    let started = std::time::Instant::now();
    let exe = root().join("target/debug/tee-attest");
    if !exe.exists() {
        return Err(format!("{} is not built", exe.display()));
    }
    let st = root().join("target/schemathesis-venv/bin/st");
    let examples = std::env::var("TEE_ATTEST_SCHEMATHESIS_EXAMPLES")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(SCHEMATHESIS_EXAMPLES);
    let work = root().join("target/tmp/schemathesis");
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let config = work.join("schemathesis.toml");
    std::fs::write(&config, SCHEMATHESIS_CONFIG)
        .map_err(|e| format!("{}: {e}", config.display()))?;

    // The ITA profile is served in every run: with its API key in the
    // first (its handlers reached), without one in the others (401).
    let ita_keys = work.join("ita-api-keys");
    const ITA_KEY: &str = "contract-ita-key-0123456789";
    std::fs::write(&ita_keys, format!("{ITA_KEY}\n"))
        .map_err(|e| format!("{}: {e}", ita_keys.display()))?;
    let ita_flags = || vec!["--ita-api-keys".to_string(), ita_keys.display().to_string()];

    let issuer_port = free_loopback_port()?;
    let issuer = format!("http://127.0.0.1:{issuer_port}");
    // A token shaped as the bearer model wants (RS256, a kid), for a key the
    // unreachable issuer cannot provide: the service answers 503.
    let token = format!(
        "{}.{}.AAAA",
        b64url(br#"{"alg":"RS256","kid":"unreachable","typ":"JWT"}"#),
        b64url(
            format!(
                r#"{{"iss":"{issuer}","aud":"api://tee-attest-contract","exp":4102444800,"roles":["Admin"]}}"#
            )
            .as_bytes()
        )
    );
    let runs: [(&str, Vec<String>, Vec<String>); 3] = [
        (
            "insecure-admin",
            [vec!["--insecure-admin".into()], ita_flags()].concat(),
            vec!["-H".into(), format!("x-api-key: {ITA_KEY}")],
        ),
        ("no-admin", ita_flags(), vec![]),
        (
            "bearer-unreachable-issuer",
            [
                "--admin-issuer",
                &issuer,
                "--admin-audience",
                "api://tee-attest-contract",
                "--admin-role",
                "Admin",
                "--admin-read-auth",
                "--attest-auth",
                "bearer",
            ]
            .map(String::from)
            .into_iter()
            .chain(ita_flags())
            .collect(),
            vec!["-H".into(), format!("Authorization: Bearer {token}")],
        ),
    ];
    let mut failures = Vec::new();
    let mut timings = Vec::new();
    for (name, serve_args, st_args) in runs {
        let t = std::time::Instant::now();
        let dir = work.join(name);
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let port = free_loopback_port()?;
        let log = std::fs::File::create(dir.join("serve.log"))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let served = Served(
            Command::new(&exe)
                .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
                .arg("--data-dir")
                .arg(dir.join("data"))
                .args(&serve_args)
                // The key release's KEK: a file in the run's data directory.
                .env_remove("TEE_ATTEST_KEK")
                .stdout(std::process::Stdio::null())
                .stderr(log)
                .spawn()
                .map_err(|e| format!("{}: {e}", exe.display()))?,
        );
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        // A connection from the port to itself (TCP simultaneous open, when
        // the kernel picks the probed port as the source) is not a listener.
        while !std::net::TcpStream::connect(("127.0.0.1", port))
            .is_ok_and(|s| s.local_addr().is_ok_and(|a| a.port() != port))
        {
            if std::time::Instant::now() > deadline {
                return Err(format!(
                    "contract {name}: serve did not listen on 127.0.0.1:{port} (see {})",
                    dir.join("serve.log").display()
                ));
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let mut c = Command::new(&st);
        c.current_dir(&dir)
            .arg("--no-color")
            .arg("--config-file")
            .arg(&config)
            .arg("run")
            .arg(format!("http://127.0.0.1:{port}/openapi.json"))
            .args(["--max-examples", &examples.to_string()])
            .args(["--max-failures", "50", "--request-timeout", "40"])
            .args(&st_args)
            .arg("--report")
            .arg("junit")
            .arg("--report-dir")
            .arg(dir.join("report"));
        if let Ok(seed) = std::env::var("TEE_ATTEST_SCHEMATHESIS_SEED") {
            c.args(["--seed", &seed]);
        }
        eprintln!(
            "xtask: contract {name}: schemathesis against serve on 127.0.0.1:{port} \
             ({examples} examples per operation)"
        );
        let mut child = c
            .spawn()
            .map_err(|e| format!("{}: {e} (run `cargo xtask deps`)", st.display()))?;
        let status = loop {
            if let Some(s) = child.try_wait().map_err(|e| format!("schemathesis: {e}"))? {
                break Some(s);
            }
            if t.elapsed() > SCHEMATHESIS_DEADLINE {
                let _ = child.kill();
                let _ = child.wait();
                break None;
            }
            std::thread::sleep(std::time::Duration::from_millis(200));
        };
        drop(served);
        let secs = t.elapsed().as_secs_f64();
        timings.push(format!("{name} {secs:.0} s"));
        match status {
            Some(s) if s.success() => {}
            Some(s) => failures.push(format!(
                "{name} ({s}; serve's log: {})",
                dir.join("serve.log").display()
            )),
            None => failures.push(format!(
                "{name} (still running after {} s)",
                SCHEMATHESIS_DEADLINE.as_secs()
            )),
        }
    }
    eprintln!(
        "xtask: contract: {} in {:.0} s ({})",
        if failures.is_empty() { "ok" } else { "FAILED" },
        started.elapsed().as_secs_f64(),
        timings.join(", ")
    );
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "the service does not keep its contract: {}",
            failures.join("; ")
        ))
    }
}

/// What each `--target-hw` builds: the CLI's features, and the C
/// library's (none for a verifier host, which runs no TEE).
const TARGETS: &[(&str, &str, Option<&str>)] = &[
    (
        "azure-snp",
        "azure-snp,local-verifier,maa",
        Some("azure-snp,local-verifier,maa"),
    ),
    (
        "azure-tdx",
        "azure-tdx,local-verifier,maa",
        Some("azure-tdx,local-verifier,maa"),
    ),
    (
        "snp",
        "snp,local-verifier,maa",
        Some("snp,local-verifier,maa"),
    ),
    (
        "tdx",
        "tdx,local-verifier,maa",
        Some("tdx,local-verifier,maa"),
    ),
    ("verifier", "local-verifier,maa,service", None),
    (
        "all",
        "azure-snp,azure-tdx,snp,tdx,mock,local-verifier,maa,service",
        Some("azure-snp,azure-tdx,snp,tdx,mock,local-verifier,maa"),
    ),
];

/// Crates a relying party or a verifier host builds (with their features):
/// none may link libtss2 or the mock.
const RELYING_PARTY_BUILDS: &[(&str, &str)] = &[
    ("tee-attest-tpm", ""),
    ("tee-attest-maa", ""),
    ("tee-attest-policy", ""),
    ("tee-attest-snp", ""),
    ("tee-attest-tdx", ""),
    ("tee-attest-azure", ""),
    ("tee-attest-verifier", ""),
    ("tee-attest", "local-verifier,maa"),
    ("tee-attest-cli", "local-verifier,maa,service"),
];

/// Relying-party crates that need no TPM code at all, not even
/// `tee-attest-tpm`'s verify half: their key types are `tee-attest-keys`'.
const NO_TPM_BUILDS: &[&str] = &[
    "tee-attest-keys",
    "tee-attest-maa",
    "tee-attest-broker",
    "tee-attest-policy",
    "tee-attest-snp",
    "tee-attest-tdx",
    "tee-attest-ita",
];

/// The normal dependencies of `package` built with only `features`.
fn normal_deps(package: &str, features: &str) -> Result<String> {
    let mut c = cargo();
    c.args(["tree", "-p", package, "--no-default-features"]);
    if !features.is_empty() {
        c.args(["--features", features]);
    }
    c.args(["-e", "normal", "--prefix", "none"]);
    let out = c.output().map_err(|e| format!("cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree -p {package} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A relying party or a verifier host builds without the TSS2 libraries
/// and without the mock, and the crates of [`NO_TPM_BUILDS`] without
/// `tee-attest-tpm`: checked with `cargo tree` for every such crate, and the
/// verifier host's CLI is type-checked in that configuration.
fn relying_party_build() -> Result {
    for (package, features) in RELYING_PARTY_BUILDS {
        let tree = normal_deps(package, features)?;
        if let Some(line) = tree
            .lines()
            .find(|l| l.starts_with("tss-esapi") || l.starts_with("tee-attest-mock "))
        {
            return Err(format!(
                "the relying-party build of {package} [{features}] pulls {line}: it must link \
                 neither libtss2 nor the mock"
            ));
        }
    }
    for package in NO_TPM_BUILDS {
        let tree = normal_deps(package, "")?;
        if let Some(line) = tree.lines().find(|l| {
            l.starts_with("tee-attest-tpm ")
                || l.starts_with("tss-esapi")
                || l.starts_with("tee-attest-mock ")
        }) {
            return Err(format!(
                "the relying-party build of {package} pulls {line}: it needs no TPM code \
                 (RSA public keys are tee-attest-keys')"
            ));
        }
    }
    let mut check = cargo();
    check.args([
        "check",
        "-p",
        "tee-attest-cli",
        "--no-default-features",
        "--features",
        "local-verifier,maa,service",
    ]);
    run(check)?;
    eprintln!(
        "xtask: relying-party and verifier-host builds ({}) link neither libtss2 nor the mock; \
         {} need no tee-attest-tpm",
        RELYING_PARTY_BUILDS
            .iter()
            .map(|(p, _)| *p)
            .collect::<Vec<_>>()
            .join(", "),
        NO_TPM_BUILDS.join(", ")
    );
    Ok(())
}

/// The TEE `tee-attest detect` finds here (`auto`).
fn detected_target() -> Result<String> {
    let out = cargo()
        .args(["run", "--quiet", "-p", "tee-attest-cli", "--", "detect"])
        .output()
        .map_err(|e| format!("running detect: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    // `"tee": "azure-snp"` or `"tee": null` (no JSON parser in xtask).
    let tee = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("\"tee\": "))
        .map(|v| v.trim_end_matches(',').trim_matches('"').to_string())
        .unwrap_or_else(|| "null".into());
    if tee == "null" {
        return Err(
            "no TEE detected on this machine: name the target (--target-hw azure-snp, azure-tdx, \
             snp, tdx, verifier or all)"
                .into(),
        );
    }
    Ok(tee)
}

/// `build --target-hw T [--release]`.
fn build(args: &[String]) -> Result {
    let mut target = None;
    let mut release = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--target-hw" => target = it.next().cloned(),
            "--release" => release = true,
            other => return Err(format!("build: unknown argument {other:?}\n{HELP}")),
        }
    }
    let names: Vec<&str> = TARGETS.iter().map(|t| t.0).collect();
    let Some(mut target) = target else {
        return Err(format!("build needs --target-hw {}|auto", names.join("|")));
    };
    if target == "auto" {
        target = detected_target()?;
        eprintln!("xtask: detected {target}");
    }
    let Some((_, cli_features, ffi_features)) = TARGETS.iter().find(|t| t.0 == target) else {
        return Err(format!(
            "unknown --target-hw {target:?}: expected {}|auto",
            names.join("|")
        ));
    };
    let profile = if release { "release" } else { "debug" };
    let mut packages = vec![("tee-attest-cli", *cli_features)];
    if let Some(f) = ffi_features {
        packages.push(("tee-attest-ffi", f));
    }
    for (package, features) in &packages {
        eprintln!("xtask: building {package} for {target} with features [{features}] ({profile})");
        let mut c = cargo();
        c.args([
            "build",
            "-p",
            package,
            "--no-default-features",
            "--features",
            features,
        ]);
        if release {
            c.arg("--release");
        }
        run(c)?;
        let tree = normal_deps(package, features)?;
        let links = |p: &str| tree.lines().any(|l| l.starts_with(p));
        eprintln!(
            "xtask: {package}: libtss2 {}, mock {}",
            if links("tss-esapi") {
                "linked"
            } else {
                "not linked"
            },
            if links("tee-attest-mock ") {
                "linked"
            } else {
                "not linked"
            },
        );
    }
    let dir = root().join("target").join(profile);
    println!("{}", dir.join("tee-attest").display());
    if ffi_features.is_some() {
        println!("{}", dir.join("libtee_attest.so").display());
        println!("{}", dir.join("libtee_attest.a").display());
    }
    Ok(())
}

/// The C header is generated with cbindgen and committed; `check` fails if
/// the committed one is not what the code generates.
fn ffi_header(check: bool) -> Result {
    let mut c = cargo();
    c.args([
        "run",
        "--quiet",
        "-p",
        "tee-attest-ffi",
        "--example",
        "gen-header",
    ]);
    if check {
        c.args(["--", "--check"]);
    }
    run(c)
}

/// Every crate but the C ABI forbids unsafe code at its root.
fn tidy_unsafe() -> Result {
    let mut roots = vec![
        root().join("xtask/src/main.rs"),
        root().join("benches/lib.rs"),
    ];
    let crates = std::fs::read_dir(root().join("crates")).map_err(|e| format!("crates/: {e}"))?;
    for entry in crates.flatten() {
        let name = entry.file_name().to_string_lossy().to_string();
        if name == "ffi" {
            continue;
        }
        for file in ["src/lib.rs", "src/main.rs"] {
            let p = entry.path().join(file);
            if p.exists() {
                roots.push(p);
            }
        }
    }
    let missing: Vec<String> = roots
        .iter()
        .filter(|p| {
            !std::fs::read_to_string(p)
                .unwrap_or_default()
                .contains("#![forbid(unsafe_code)]")
        })
        .map(|p| p.display().to_string())
        .collect();
    if missing.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "these crate roots do not forbid unsafe code: {}",
            missing.join(", ")
        ))
    }
}

fn lint() -> Result {
    tidy_unsafe()?;
    let mut fmt = cargo();
    fmt.args(["fmt", "--all", "--", "--check"]);
    run(fmt)?;
    let mut clippy = cargo();
    clippy.args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]);
    run(clippy)?;
    // The advisory database is a git repository on GitHub; where it cannot be
    // fetched (these machines reach only the package registries) the other
    // checks still run, and the skip is said out loud.
    let mut fetch = cargo();
    fetch.args(["deny", "fetch"]);
    let fetched = fetch.output().map(|o| o.status.success()).unwrap_or(false);
    let mut deny = cargo();
    if fetched {
        deny.args(["deny", "check"]);
    } else {
        eprintln!("xtask: WARNING: the RustSec advisory database cannot be fetched here; checking licenses, bans and sources only (advisories NOT checked)");
        deny.args(["deny", "check", "licenses", "bans", "sources"]);
    }
    run(deny)
}

fn run_cli(args: &[&str]) -> Result {
    let mut c = cargo();
    c.args(["run", "--quiet", "-p", "tee-attest-cli", "--"])
        .args(args);
    run(c)
}

fn demo(extra: &[String]) -> Result {
    let mut args = vec!["demo"];
    args.extend(extra.iter().map(String::as_str));
    run_cli(&args)
}

fn gen_vectors(extra: &[String]) -> Result {
    let dir = root().join("testvectors").join("mock");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut c = cargo();
    c.args([
        "run",
        "--quiet",
        "-p",
        "tee-attest-mock",
        "--example",
        "gen-vectors",
        "--",
    ])
    .arg(&dir)
    .args(extra);
    run(c)
}

// ---------------------------------------------------------------------------
// fuzz: libFuzzer targets on the stable toolchain (docs/FUZZING.md)
// ---------------------------------------------------------------------------

/// The flags cargo-fuzz passes for libFuzzer's coverage (no sanitizer).
const FUZZ_RUSTFLAGS: &str = "-Cpasses=sancov-module \
    -Cllvm-args=-sanitizer-coverage-level=4 \
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters \
    -Cllvm-args=-sanitizer-coverage-pc-table \
    -Cllvm-args=-sanitizer-coverage-trace-compares \
    --cfg fuzzing";

/// [`FUZZ_RUSTFLAGS`], plus `TEE_ATTEST_FUZZ_EXTRA_RUSTFLAGS` (for instance
/// `-Zsanitizer=address`, which the `RUSTC_BOOTSTRAP=1` of the build allows
/// on the stable toolchain).
fn fuzz_rustflags() -> String {
    match std::env::var("TEE_ATTEST_FUZZ_EXTRA_RUSTFLAGS") {
        Ok(extra) if !extra.trim().is_empty() => format!("{FUZZ_RUSTFLAGS} {}", extra.trim()),
        _ => FUZZ_RUSTFLAGS.to_string(),
    }
}

/// The dictionary of each target (fuzz/dict/), if any.
fn fuzz_dict(target: &str) -> Option<&'static str> {
    Some(match target {
        "policy_parse" | "policy_eval" => "policy",
        "jwt_maa" | "jwt_admin" | "jwks" | "broker_recipient" => "jwt",
        "maa_azureguest"
        | "maa_sevsnpvm"
        | "maa_sealed"
        | "azureguest_appraise"
        | "sevsnpvm_appraise" => "maa",
        "skr_release" | "keyrelease_request" | "keyrelease_response" => "skr",
        "broker_envelope" => "envelope",
        "snp_bundle" | "policy_jws" | "tpm_public" => "pem",
        "tdx_collateral" => "tdx",
        _ => return None,
    })
}

struct FuzzArgs {
    target: Option<String>,
    secs: Option<u64>,
    replay: bool,
    reseed: bool,
}

fn parse_fuzz_args(args: &[String]) -> Result<FuzzArgs> {
    let mut a = FuzzArgs {
        target: None,
        secs: None,
        replay: false,
        reseed: false,
    };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--target" => a.target = Some(it.next().ok_or("--target needs a name")?.clone()),
            "--secs" => {
                let n = it.next().ok_or("--secs needs a number")?;
                a.secs = Some(
                    n.parse()
                        .map_err(|_| format!("--secs {n:?}: not a number"))?,
                );
            }
            "--replay" => a.replay = true,
            "--reseed" => a.reseed = true,
            other => return Err(format!("fuzz: unknown argument {other:?}\n{HELP}")),
        }
    }
    if !a.replay && a.secs.is_none() {
        // Nothing asked: a short run of each target.
        a.secs = Some(60);
    }
    Ok(a)
}

fn host_triple() -> Result<String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("rustc -vV: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| "rustc -vV names no host".to_string())
}

/// The fuzz targets: the `[[bin]]` names of fuzz/Cargo.toml.
fn fuzz_targets() -> Result<Vec<String>> {
    let path = root().join("fuzz/Cargo.toml");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut names = Vec::new();
    let mut in_bin = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_bin = line == "[[bin]]";
        } else if in_bin {
            if let Some(v) = line.strip_prefix("name = ") {
                names.push(v.trim_matches('"').to_string());
            }
        }
    }
    Ok(names)
}

fn niced(program: &Path) -> Command {
    // Fuzzing is background work: the machine's other builds win.
    let mut c = Command::new("nice");
    c.arg("-n").arg("19").arg(program);
    c
}

fn fuzz(args: &[String]) -> Result {
    let a = parse_fuzz_args(args)?;
    let all = fuzz_targets()?;
    let targets: Vec<String> = match &a.target {
        Some(t) if all.contains(t) => vec![t.clone()],
        Some(t) => {
            return Err(format!(
                "no fuzz target {t:?} (targets: {})",
                all.join(", ")
            ))
        }
        None => all,
    };
    let target_dir = std::env::var_os("TEE_ATTEST_FUZZ_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/fuzz"));
    let triple = host_triple()?;
    let cargo_bin = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());

    // 1. The targets: release, sanitizer coverage, stable toolchain.
    let mut build = niced(Path::new(&cargo_bin));
    build
        .current_dir(root().join("fuzz"))
        .env("CARGO_TARGET_DIR", &target_dir)
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTFLAGS", fuzz_rustflags())
        .args(["build", "--release", "--target", &triple])
        .args(["-p", "tee-attest-fuzz"]);
    match &a.target {
        Some(t) => build.args(["--bin", t]),
        None => build.arg("--bins"),
    };
    run(build)?;
    let bin_dir = target_dir.join(&triple).join("release");

    // 2. The seed corpora, written at run time (never committed).
    let corpus = root().join("fuzz/corpus");
    let missing = targets.iter().any(|t| !corpus.join(t).is_dir());
    if a.reseed || missing {
        let mut seeds = niced(Path::new(&cargo_bin));
        seeds
            .current_dir(root().join("fuzz"))
            .env("CARGO_TARGET_DIR", &target_dir)
            .env_remove("RUSTFLAGS")
            .args(["run", "--quiet", "-p", "tee-attest-fuzz-seeds", "--"])
            .arg(&corpus);
        run(seeds)?;
    }
    let artifacts = root().join("fuzz/artifacts");
    let mut failures = Vec::new();

    // 3. Replay: every corpus input and every crash reproducer, once.
    if a.replay {
        for t in &targets {
            let dirs: Vec<PathBuf> = [corpus.join(t), artifacts.join(t)]
                .into_iter()
                .filter(|d| d.is_dir())
                .collect();
            let mut c = niced(&bin_dir.join(t));
            c.args(["-runs=0", "-timeout=30", "-rss_limit_mb=4096"])
                .args(&dirs);
            let output = c.output().map_err(|e| format!("{t}: {e}"))?;
            let log = String::from_utf8_lossy(&output.stderr);
            let inited = log
                .lines()
                .find(|l| l.contains("INITED") || l.contains("DONE"))
                .unwrap_or("")
                .to_string();
            if output.status.success() {
                eprintln!("xtask: replay {t:<22} ok  {}", inited.trim());
            } else {
                eprintln!("{log}");
                eprintln!("xtask: replay {t}: FAILED ({})", output.status);
                failures.push(format!("replay {t}"));
            }
        }
    }

    // 4. Fuzzing: one target at a time, each for `secs`.
    if let Some(secs) = a.secs {
        let mut rows = Vec::new();
        for t in &targets {
            let dir = corpus.join(t);
            let art = artifacts.join(t);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            std::fs::create_dir_all(&art).map_err(|e| format!("{}: {e}", art.display()))?;
            let mut c = niced(&bin_dir.join(t));
            c.arg(format!("-max_total_time={secs}"))
                .args(["-timeout=10", "-rss_limit_mb=4096", "-max_len=65536"])
                .args(["-print_final_stats=1", "-close_fd_mask=1"])
                .arg(format!("-artifact_prefix={}/", art.display()));
            if let Some(d) = fuzz_dict(t) {
                c.arg(format!(
                    "-dict={}",
                    root().join("fuzz/dict").join(format!("{d}.dict")).display()
                ));
            }
            c.arg(&dir);
            if std::fs::read_dir(&art)
                .map(|mut d| d.next().is_some())
                .unwrap_or(false)
            {
                // Known reproducers run first: a regression stops the run.
                c.arg(&art);
            }
            eprintln!("xtask: fuzzing {t} for {secs} s");
            let output = c.output().map_err(|e| format!("{t}: {e}"))?;
            let log = String::from_utf8_lossy(&output.stderr).to_string();
            let row = FuzzRow::from_log(t, &log, output.status.success());
            eprintln!("xtask: {}", row.line());
            if !row.ok {
                let tail: Vec<&str> = log.lines().rev().take(60).collect();
                eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
                failures.push(format!("fuzz {t}"));
            }
            rows.push(row);
        }
        let table = FuzzRow::table(&rows);
        println!("{table}");
        let report = target_dir.join("fuzz-report.md");
        if std::fs::write(&report, &table).is_ok() {
            eprintln!("xtask: table written to {}", report.display());
        }
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "fuzzing found problems: {} (reproducers under fuzz/artifacts/)",
            failures.join(", ")
        ))
    }
}

/// One target's run, from libFuzzer's output.
struct FuzzRow {
    target: String,
    execs: u64,
    per_sec: u64,
    cov: u64,
    ft: u64,
    corpus: u64,
    ok: bool,
}

impl FuzzRow {
    fn from_log(target: &str, log: &str, ok: bool) -> Self {
        let field = |line: &str, key: &str| -> Option<u64> {
            let rest = line.split(key).nth(1)?;
            rest.split_whitespace()
                .next()?
                .trim_end_matches('b')
                .parse()
                .ok()
        };
        let mut row = FuzzRow {
            target: target.to_string(),
            execs: 0,
            per_sec: 0,
            cov: 0,
            ft: 0,
            corpus: 0,
            ok,
        };
        for line in log.lines() {
            if line.starts_with('#') {
                row.cov = field(line, "cov: ").unwrap_or(row.cov);
                row.ft = field(line, "ft: ").unwrap_or(row.ft);
                row.corpus = line
                    .split("corp: ")
                    .nth(1)
                    .and_then(|r| r.split('/').next())
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(row.corpus);
            }
            if let Some(v) = line.strip_prefix("stat::number_of_executed_units: ") {
                row.execs = v.trim().parse().unwrap_or(0);
            }
            if let Some(v) = line.strip_prefix("stat::average_exec_per_sec: ") {
                row.per_sec = v.trim().parse().unwrap_or(0);
            }
        }
        row
    }

    fn line(&self) -> String {
        format!(
            "{:<22} {:>10} execs {:>7}/s  cov {:>6}  ft {:>7}  corpus {:>5}  {}",
            self.target,
            self.execs,
            self.per_sec,
            self.cov,
            self.ft,
            self.corpus,
            if self.ok { "ok" } else { "CRASH" }
        )
    }

    fn table(rows: &[FuzzRow]) -> String {
        let mut t = String::from(
            "| target | execs | execs/s | cov | ft | corpus | result |\n|---|---:|---:|---:|---:|---:|---|\n",
        );
        for r in rows {
            t.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                r.target,
                r.execs,
                r.per_sec,
                r.cov,
                r.ft,
                r.corpus,
                if r.ok { "ok" } else { "crash" }
            ));
        }
        t
    }
}
