//! The C program `examples/c/attest.c`, compiled with `cc` against the
//! cdylib and run against a mock Azure SEV-SNP CVM (swtpm + mock IMDS on
//! loopback) with the embedded local verifier: once plainly, once under
//! valgrind with leak checking; and `tests/c/stalled_vtpm.c`, a long-lived
//! client across a vTPM that stops answering (issue 18).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tee_attest_mock::MockAzureCvm;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The directory holding `libtee_attest.so`, built from the current
/// sources: `cargo test --test c_program` does not rebuild the cdylib
/// (only rlib-linked targets), so build it here (a no-op when it is fresh),
/// then use the copy next to the test executable (`target/<profile>/deps`),
/// else `target/<profile>`.
fn lib_dir() -> PathBuf {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(build_lib).clone()
}

fn build_lib() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let deps = exe
        .parent()
        .expect("test executable directory")
        .to_path_buf();
    let profile_dir = deps.parent().expect("profile directory").to_path_buf();
    let mut build = Command::new(env!("CARGO"));
    build.args(["build", "-p", "tee-attest-ffi"]);
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        build.arg("--release");
    }
    let status = build
        .current_dir(repo_root())
        .status()
        .expect("running cargo build -p tee-attest-ffi");
    assert!(status.success(), "cargo build -p tee-attest-ffi failed");
    if deps.join("libtee_attest.so").is_file() {
        return deps;
    }
    assert!(
        profile_dir.join("libtee_attest.so").is_file(),
        "no libtee_attest.so in {} or {}",
        deps.display(),
        profile_dir.display()
    );
    profile_dir
}

/// Compile the C program into `dir`; returns its path.
fn compile(dir: &Path) -> PathBuf {
    compile_source(dir, &repo_root().join("examples/c/attest.c"), "attest")
}

/// Compile the C program `source` into `dir/name`; returns its path.
fn compile_source(dir: &Path, source: &Path, name: &str) -> PathBuf {
    let lib = lib_dir();
    let root = repo_root();
    let exe = dir.join(name);
    let out = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-g", "-o"])
        .arg(&exe)
        .arg(source)
        .arg("-I")
        .arg(root.join("crates/ffi/include"))
        .arg("-L")
        .arg(&lib)
        .arg("-ltee_attest")
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .output()
        .expect("running cc");
    assert!(
        out.status.success(),
        "cc failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    exe
}

/// Run `program args…` with the environment that points the library at
/// the mock CVM.
fn run(cvm: &MockAzureCvm, data_dir: &Path, program: &str, args: &[&Path]) -> Output {
    Command::new(program)
        .args(args)
        .env("TEE_ATTEST_TEE", "azure-snp")
        .env("TEE_ATTEST_TCTI", cvm.tcti())
        .env("TEE_ATTEST_IMDS_URL", cvm.imds_url())
        .env("TEE_ATTEST_EVENT_LOG", cvm.event_log_path())
        .env("TEE_ATTEST_DATA_DIR", data_dir)
        .env("TEE_ATTEST_TRUST_MOCK", "1")
        .output()
        .unwrap_or_else(|e| panic!("running {program}: {e}"))
}

fn check_output(out: &Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    let token_len: usize = stdout
        .lines()
        .find_map(|l| {
            l.strip_prefix("token: ")?
                .strip_suffix(" bytes")?
                .parse()
                .ok()
        })
        .unwrap_or_else(|| panic!("no token length in:\n{stdout}"));
    assert!(token_len > 500, "token of {token_len} bytes");
    for expected in [
        "none: encrypted 25 bytes into 256 (metadata 0 bytes)",
        "none: decrypted 25 bytes: match",
        "none: tampered data refused (code 26)",
        "envelope: decrypted 72 bytes: match",
        "envelope: tampered data refused (code 26)",
        "ok",
    ] {
        assert!(
            stdout.lines().any(|l| l == expected),
            "missing {expected:?} in:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    assert!(
        stderr.contains("[tee-attest info] tee-attest client ready: TEE azure-snp"),
        "the log callback was not called:\n{stderr}"
    );
}

/// The header stands alone, as strict C and as C++ (Microsoft's library is
/// C++: drop-in callers include it from C++).
#[test]
fn header_compiles_as_c_and_cpp() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let include = repo_root().join("crates/ffi/include");
    let tu = tmp.path().join("tu.c");
    std::fs::write(
        &tu,
        "#include \"tee_attest.h\"\nint main(void) { TeeAttestResult r = {0, 0}; return (int)r.code; }\n",
    )
    .expect("writing a translation unit");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "c++".into());
    for (compiler, lang, std) in [
        (cc.as_str(), "c", "-std=c99"),
        (cxx.as_str(), "c++", "-std=c++11"),
    ] {
        let out = Command::new(compiler)
            .args([
                "-fsyntax-only",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-pedantic",
                std,
                "-x",
                lang,
                "-I",
            ])
            .arg(&include)
            .arg(&tu)
            .output()
            .unwrap_or_else(|e| panic!("running {compiler}: {e}"));
        assert!(
            out.status.success(),
            "{compiler} ({lang}) rejects the header:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[test]
fn c_program_attests_encrypts_and_decrypts() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let exe = compile(tmp.path());
    let cvm = MockAzureCvm::start().expect("starting the mock Azure CVM (needs swtpm)");
    let data_dir = tmp.path().join("data");
    let out = run(&cvm, &data_dir, exe.to_str().expect("UTF-8 path"), &[]);
    check_output(&out);
}

#[test]
fn c_program_runs_clean_under_valgrind() {
    let tmp = tempfile::tempdir().expect("temp dir");
    let exe = compile(tmp.path());
    let cvm = MockAzureCvm::start().expect("starting the mock Azure CVM (needs swtpm)");
    let data_dir = tmp.path().join("data");
    let supp = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/valgrind.supp");
    let supp_arg = format!("--suppressions={}", supp.display());
    let args = [
        Path::new("--error-exitcode=1"),
        Path::new("--leak-check=full"),
        Path::new("--errors-for-leak-kinds=definite"),
        Path::new(&supp_arg),
        &exe,
    ];
    let out = run(&cvm, &data_dir, "valgrind", &args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The summary, for the record (`--nocapture` shows it).
    for line in stderr.lines().filter(|l| {
        [
            "definitely lost",
            "indirectly lost",
            "possibly lost",
            "still reachable",
            "ERROR SUMMARY",
        ]
        .iter()
        .any(|k| l.contains(k))
    }) {
        eprintln!("{line}");
    }
    assert!(
        stderr.contains("ERROR SUMMARY: 0 errors"),
        "valgrind found errors:\n{stderr}"
    );
    check_output(&out);
}

/// `kill -SIG pid` through the shell's builtin (procps may be missing).
fn signal(sig: &str, pid: u32) {
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{sig} {pid}")])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill -{sig} {pid}");
}

/// A long-lived C client whose vTPM stops answering: its call returns
/// code 13 within the time-out (its TPM context abandoned, not reused), and
/// once the vTPM answers again the same client's next call succeeds on a
/// fresh context.
#[test]
fn a_long_lived_client_gets_13_from_a_stopped_vtpm_then_recovers() {
    use std::io::{BufRead as _, Write as _};
    use std::time::{Duration, Instant};

    let tmp = tempfile::tempdir().expect("temp dir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/stalled_vtpm.c");
    let exe = compile_source(tmp.path(), &source, "stalled_vtpm");
    let cvm = MockAzureCvm::start().expect("starting the mock Azure CVM (needs swtpm)");
    let pid = cvm.vtpm().swtpm().pid().expect("swtpm runs");
    signal("STOP", pid);
    let start = Instant::now();
    let mut child = Command::new(&exe)
        .env("TEE_ATTEST_TEE", "azure-snp")
        .env("TEE_ATTEST_TCTI", cvm.tcti())
        .env("TEE_ATTEST_VTPM_LOCK", cvm.vtpm_lock_path())
        .env("TEE_ATTEST_TPM_TIMEOUT", "3")
        .env("TEE_ATTEST_IMDS_URL", cvm.imds_url())
        .env("TEE_ATTEST_EVENT_LOG", cvm.event_log_path())
        .env("TEE_ATTEST_DATA_DIR", tmp.path().join("data"))
        .env("TEE_ATTEST_TRUST_MOCK", "1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("running the C program");
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = child.stdout.take().expect("stdout");
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(60));
    let took = start.elapsed();
    signal("CONT", pid);
    let first = first.unwrap_or_else(|_| {
        let _ = child.kill();
        panic!("the call on a stopped vTPM did not return within 60 s")
    });
    assert_eq!(first, "first: code 13");
    assert!(took < Duration::from_secs(12), "returned after {took:?}");
    eprintln!("stopped vTPM: code 13 after {took:?} (time-out 3 s)");

    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("resuming the C program");
    let second = rx
        .recv_timeout(Duration::from_secs(120))
        .expect("the second call returns");
    assert_eq!(second, "second: code 0");
    let status = child.wait().expect("the C program exits");
    assert!(status.success(), "{status}");
}

/// Standard base64 and base64url of `data`, without padding.
fn base64_forms(data: &[u8]) -> [String; 2] {
    const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut std = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..=chunk.len() {
            std.push(STD[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    let url = std.replace('+', "-").replace('/', "_");
    [std, url]
}

/// Every form of `secret` in a log: raw, hex, base64/base64url at the
/// three alignments it can take inside a longer encoded value.
fn secret_forms(secret: &[u8]) -> Vec<String> {
    let hex: String = secret.iter().map(|b| format!("{b:02x}")).collect();
    let mut out = vec![
        String::from_utf8_lossy(secret).into_owned(),
        hex.to_uppercase(),
        hex,
    ];
    for k in 0..3usize {
        let mut data = vec![0u8; k];
        data.extend_from_slice(secret);
        for enc in base64_forms(&data) {
            out.push(enc[(4 * k).div_ceil(3)..data.len() * 8 / 6].to_string());
        }
    }
    out
}

/// Issue 18, item 4: a known plaintext sealed by `tee_attest_encrypt` and
/// returned by `tee_attest_decrypt` (both encryption types), with the log
/// callback at TRACE and `RUST_LOG=trace`, on success and on the failure
/// paths (tampered data, metadata of the other type, data for another
/// key): the plaintext is in no log line, description or output, and no
/// panic is printed.
#[test]
fn no_plaintext_in_c_abi_logs_or_descriptions() {
    const SECRET: &str = "C-ABI-PLAINTEXT-SECRET-1f6b3e9a-sealed";
    let tmp = tempfile::tempdir().expect("temp dir");
    let source = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/secrets.c");
    let exe = compile_source(tmp.path(), &source, "secrets");
    let cvm = MockAzureCvm::start().expect("starting the mock Azure CVM (needs swtpm)");
    let foreign = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/c/foreign_key.jwt");
    let out = Command::new(&exe)
        .arg(SECRET)
        .arg(&foreign)
        .env("RUST_LOG", "trace")
        .env("TEE_ATTEST_TEE", "azure-snp")
        .env("TEE_ATTEST_TCTI", cvm.tcti())
        .env("TEE_ATTEST_VTPM_LOCK", cvm.vtpm_lock_path())
        .env("TEE_ATTEST_IMDS_URL", cvm.imds_url())
        .env("TEE_ATTEST_EVENT_LOG", cvm.event_log_path())
        .env("TEE_ATTEST_DATA_DIR", tmp.path().join("data"))
        .env("TEE_ATTEST_TRUST_MOCK", "1")
        .output()
        .expect("running the C program");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "exit {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    for expected in [
        "none: match",
        "none: other type: code 8",
        "none: tampered: code 26",
        "envelope: match",
        "envelope: other type: code 8",
        "envelope: tampered: code 26",
        "another key: code 26",
        "ok",
    ] {
        assert!(
            stdout.lines().any(|l| l == expected),
            "missing {expected:?} in:\n{stdout}\nstderr:\n{stderr}"
        );
    }
    // The log callback was called at the detailed levels.
    assert!(
        stderr.contains("[tee-attest 4]"),
        "no debug line:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    for (i, form) in secret_forms(SECRET.as_bytes()).iter().enumerate() {
        assert!(
            !stdout.contains(form.as_str()) && !stderr.contains(form.as_str()),
            "the plaintext (form {i}) was printed:\nstdout:\n{stdout}\nstderr:\n{stderr}"
        );
    }
}
