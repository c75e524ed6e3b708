//! `cargo xtask`: the workspace's automation, in Rust, with no dependencies
//! so that it builds in seconds.
//!
//! ```text
//! cargo xtask deps      check (and, as root, install) what builds and tests need
//! cargo xtask test      deps, then every test of the workspace (real vectors included)
//! cargo xtask lint      rustfmt --check, clippy -D warnings, cargo deny check
//! cargo xtask demo      the main job on the embedded default (mock vTPM on swtpm)
//! cargo xtask detect    what this machine offers, and the features to build with
//! cargo xtask gen-vectors [--check]   the repository's own mock vectors
//! cargo xtask bench-serve     a bounded load run of `serve` on loopback
//! cargo xtask ci        lint, then test
//! ```
#![forbid(unsafe_code)]

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
];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match cmd {
        // Each task installs only what it needs, and says so first.
        "deps" => deps().and_then(|()| deny_tool()).and_then(|()| sdk_venv()),
        "test" => deps().and_then(|()| sdk_venv()).and_then(|()| test(rest)),
        "lint" => deps().and_then(|()| deny_tool()).and_then(|()| lint()),
        "demo" => deps().and_then(|()| demo(rest)),
        "detect" => run_cli(&["detect"]),
        "gen-vectors" => gen_vectors(rest),
        "ffi-header" => ffi_header(rest.iter().any(|a| a == "--check")),
        "bench-serve" => deps().and_then(|()| {
            let mut c = cargo();
            c.args(["bench", "-p", "tee-attest-benches", "--bench", "serve_load"]);
            run(c)
        }),
        "ci" => deps()
            .and_then(|()| deny_tool())
            .and_then(|()| sdk_venv())
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
  deps     check (and, as root, install) system packages, cargo-deny and the
           Python SDK venv of the interoperability tests (each task below
           installs only what it needs)
  test     deps, then every test of the workspace, real-hardware vectors included
  lint     cargo fmt --check, cargo clippy --all-targets -D warnings, cargo deny check
  demo     the main job on the embedded default: mock vTPM (swtpm) + verification
  detect   what this machine offers (TPM, HCL report, TDX/SNP devices) as JSON
  gen-vectors [--check]
           (re)generate the repository's own mock vectors in testvectors/mock,
           or check that the committed ones load and form a valid chain
  ffi-header [--check]
           regenerate the C header (crates/ffi/include/tee_attest.h), or check it
  bench-serve
           a bounded load run of `serve` on loopback (1, 16, 64 clients)
  ci       lint, then test
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
    relying_party_build()
}

/// A relying party builds the verification half without the TSS2 libraries:
/// `tee-attest-tpm` without default features must not depend on tss-esapi.
fn relying_party_build() -> Result {
    let out = cargo()
        .args([
            "tree",
            "-p",
            "tee-attest-tpm",
            "--no-default-features",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .output()
        .map_err(|e| format!("cargo tree: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo tree failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let tree = String::from_utf8_lossy(&out.stdout);
    if let Some(line) = tree.lines().find(|l| l.starts_with("tss-esapi")) {
        return Err(format!(
            "the relying-party build of tee-attest-tpm pulls {line}: it must not need libtss2"
        ));
    }
    let mut check = cargo();
    check.args(["check", "-p", "tee-attest-tpm", "--no-default-features"]);
    run(check)?;
    eprintln!("xtask: relying-party build of tee-attest-tpm needs no libtss2");
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
