//! `tee-attest mock up|down [--tee mock|snp|tdx|azure-tdx]`: a persistent
//! mock TEE that separate processes (the CLI, the C library, the examples)
//! use as they would a real one:
//!
//! | `--tee` | what | for `attest --tee` | exported |
//! |---|---|---|---|
//! | `mock` (default) | a mock Azure SEV-SNP CVM: swtpm, the mock HCL, the mock IMDS (THIM) | `azure-snp` | `TEE_ATTEST_TCTI`, `TEE_ATTEST_VTPM_LOCK`, `TEE_ATTEST_IMDS_URL`, `TEE_ATTEST_EVENT_LOG` |
//! | `azure-tdx` | a mock Azure TDX CVM: swtpm, the mock HCL writing TDX HCL reports, the mock IMDS (`/acc/tdquote`) | `azure-tdx` | the same, and `TEE_ATTEST_TEE=azure-tdx` |
//! | `snp` | a mock bare-metal SEV-SNP guest: configfs-tsm emulated with FUSE, a fresh mock-VCEK-signed report for every `inblob` | `snp` | `TEE_ATTEST_TSM_ROOT`, `TEE_ATTEST_TEE=snp` |
//! | `tdx` | a mock bare-metal TDX guest: configfs-tsm emulated with FUSE, a fresh TD quote of the mock Intel platform for every `inblob`, and its CC event log (ACPI CCEL) | `tdx` | `TEE_ATTEST_TSM_ROOT`, `TEE_ATTEST_CCEL_ROOT`, `TEE_ATTEST_TEE=tdx` |
//!
//! Each also exports `TEE_ATTEST_TRUST_MOCK=1`: its evidence chains to the
//! repository's mock roots (AMD or Intel), which verifiers trust only when
//! told to.
//!
//! `up` starts `tee-attest mock run` in the background: it hosts the mock,
//! writes `DIR/env` with the `export` lines that point everything at it,
//! and `DIR/pid`; `up` waits for them and prints the lines. `down` stops
//! that process by its recorded pid, which stops everything it started.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Subcommand;
use tee_attest_core::{Error, ErrorCode, Result};
use tee_attest_mock::{MockAzureCvm, MockSnpGuest, MockTdxGuest};

use super::common;

/// The `mock` subcommands.
#[derive(Subcommand, Debug)]
pub enum MockCmd {
    /// Start a persistent mock TEE; print the `export` lines.
    Up {
        /// Which: `mock` (a mock Azure SEV-SNP CVM), `azure-tdx` (a mock
        /// Azure TDX CVM), `snp` or `tdx` (a mock bare-metal SEV-SNP or TDX
        /// guest over configfs-tsm).
        #[arg(long, default_value = "mock")]
        tee: String,
        /// Where to keep its state (default: DATA_DIR/mock-cvm).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Stop the mock TEE started by `mock up`.
    Down {
        /// Its directory (default: DATA_DIR/mock-cvm).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Host the mock in the foreground until SIGINT/SIGTERM (what `up`
    /// runs in the background).
    #[command(hide = true)]
    Run {
        /// Which mock.
        #[arg(long, default_value = "mock")]
        tee: String,
        /// Its directory.
        #[arg(long)]
        dir: PathBuf,
    },
}

fn dir_or_default(dir: Option<PathBuf>) -> PathBuf {
    dir.unwrap_or_else(|| common::data_dir(None).join("mock-cvm"))
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| Error::with_source(ErrorCode::InitializationFailed, what, e)
}

/// Creates `dir` and its missing parents (the data directory, by default)
/// with mode 0700.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        b.mode(0o700);
    }
    b.create(dir)
}

fn alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// One of the mock's own files, capped (`None` when unreadable).
fn state_file(path: &Path) -> Option<String> {
    super::common::read_text(
        path,
        super::common::FileKind::State,
        ErrorCode::InvalidInputParameter,
    )
    .ok()
}

fn read_pid(dir: &Path) -> Option<u32> {
    state_file(&dir.join("pid"))?.trim().parse().ok()
}

/// The `export` lines for a running mock Azure CVM (SEV-SNP or TDX): its
/// vTPM's TCTI and lock file (which serializes the processes sharing it),
/// its IMDS, its event log.
pub fn env_lines(cvm: &MockAzureCvm) -> String {
    format!(
        "export TEE_ATTEST_TCTI='{}'\nexport TEE_ATTEST_VTPM_LOCK='{}'\nexport TEE_ATTEST_IMDS_URL='{}'\nexport TEE_ATTEST_EVENT_LOG='{}'\nexport TEE_ATTEST_TRUST_MOCK=1\n",
        cvm.tcti(),
        cvm.vtpm_lock_path().display(),
        cvm.imds_url(),
        cvm.event_log_path().display()
    )
}

/// The mocks `up` can host, and what each is.
const MOCKS: &[(&str, &str)] = &[
    ("mock", "Azure SEV-SNP CVM"),
    ("azure-tdx", "Azure TDX CVM"),
    ("snp", "bare-metal SEV-SNP guest"),
    ("tdx", "bare-metal TDX guest"),
];

/// What the mock `tee` is (`tee` already checked).
fn describe(tee: &str) -> &'static str {
    MOCKS
        .iter()
        .find(|(t, _)| *t == tee)
        .map_or("mock TEE", |(_, d)| d)
}

fn check_mock(tee: &str) -> Result<()> {
    if MOCKS.iter().any(|(t, _)| *t == tee) {
        Ok(())
    } else {
        let names: Vec<&str> = MOCKS.iter().map(|(t, _)| *t).collect();
        Err(Error::new(
            ErrorCode::InvalidInputParameter,
            format!(
                "no mock for {tee:?}: `mock up --tee` takes {}",
                names.join(", ")
            ),
        ))
    }
}

fn up(tee: &str, dir: PathBuf) -> Result<()> {
    check_mock(tee)?;
    if let Some(pid) = read_pid(&dir).filter(|&p| alive(p)) {
        let env = state_file(&dir.join("env")).unwrap_or_default();
        eprintln!("a mock TEE already runs (pid {pid}); `tee-attest mock down` stops it");
        print!("{env}");
        return Ok(());
    }
    create_private_dir(&dir).map_err(io(format!("creating {}", dir.display())))?;
    for f in ["env", "pid"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    let log =
        std::fs::File::create(dir.join("mock.log")).map_err(io("creating mock.log".into()))?;
    let exe = std::env::current_exe().map_err(io("locating tee-attest".into()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["mock", "run", "--tee", tee, "--dir"])
        .arg(&dir)
        .stdin(std::process::Stdio::null())
        .stdout(log.try_clone().map_err(io("mock.log".into()))?)
        .stderr(log);
    #[cfg(unix)]
    {
        // Its own process group: it outlives this command and the terminal's ^C.
        use std::os::unix::process::CommandExt as _;
        cmd.process_group(0);
    }
    let mut child = cmd.spawn().map_err(io("starting the mock TEE".into()))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(env) = state_file(&dir.join("env")) {
            if env.ends_with('\n') && env.contains("TEE_ATTEST_TRUST_MOCK") {
                print!("{env}");
                eprintln!(
                    "# mock {} up (pid {}); `tee-attest mock down` stops it",
                    describe(tee),
                    child.id()
                );
                return Ok(());
            }
        }
        if let Ok(Some(status)) = child.try_wait() {
            let log = state_file(&dir.join("mock.log")).unwrap_or_default();
            return Err(Error::new(
                ErrorCode::InitializationFailed,
                format!("the mock TEE exited ({status}): {}", log.trim()),
            ));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(Error::new(
                ErrorCode::InitializationFailed,
                "the mock TEE did not start within 30 s",
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn down(dir: PathBuf) -> Result<()> {
    let Some(pid) = read_pid(&dir) else {
        return Err(Error::new(
            ErrorCode::InvalidInputParameter,
            format!("no mock TEE recorded in {}", dir.display()),
        ));
    };
    if alive(pid) {
        // The shell's builtin `kill`: present wherever `sh` is (the
        // procps binary may not be installed).
        let status = std::process::Command::new("sh")
            .args(["-c", &format!("kill -TERM {pid}")])
            .status()
            .map_err(io("running kill".into()))?;
        if !status.success() {
            return Err(Error::new(
                ErrorCode::InitializationFailed,
                format!("could not signal pid {pid}"),
            ));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if alive(pid) {
            return Err(Error::new(
                ErrorCode::InitializationFailed,
                format!("pid {pid} did not stop within 10 s"),
            ));
        }
    }
    for f in ["env", "pid"] {
        let _ = std::fs::remove_file(dir.join(f));
    }
    eprintln!("mock TEE (pid {pid}) stopped");
    Ok(())
}

fn run_foreground(tee: &str, dir: PathBuf) -> Result<()> {
    check_mock(tee)?;
    // What is hosted lives until the signal; dropping it stops it.
    let tsm_dir = || -> Result<PathBuf> {
        let tsm = dir.join("tsm");
        std::fs::create_dir_all(&tsm).map_err(io(format!("creating {}", tsm.display())))?;
        Ok(tsm)
    };
    let (hosted, env): (Box<dyn std::any::Any>, String) = match tee {
        "snp" => {
            let guest = MockSnpGuest::mount(&tsm_dir()?)?;
            let env = format!(
                "export TEE_ATTEST_TSM_ROOT='{}'\nexport TEE_ATTEST_TEE=snp\nexport TEE_ATTEST_TRUST_MOCK=1\n",
                guest.root().display()
            );
            (Box::new(guest), env)
        }
        "tdx" => {
            let guest = MockTdxGuest::mount(&tsm_dir()?, &dir.join("acpi"))?;
            let env = format!(
                "export TEE_ATTEST_TSM_ROOT='{}'\nexport TEE_ATTEST_CCEL_ROOT='{}'\nexport TEE_ATTEST_TEE=tdx\nexport TEE_ATTEST_TRUST_MOCK=1\n",
                guest.root().display(),
                guest.ccel_root().display()
            );
            (Box::new(guest), env)
        }
        "azure-tdx" => {
            let cvm = MockAzureCvm::start_tdx()?;
            let env = format!("{}export TEE_ATTEST_TEE=azure-tdx\n", env_lines(&cvm));
            (Box::new(cvm), env)
        }
        _ => {
            let cvm = MockAzureCvm::start()?;
            let env = env_lines(&cvm);
            (Box::new(cvm), env)
        }
    };
    let rt = common::runtime()?;
    std::fs::write(dir.join("pid"), format!("{}\n", std::process::id()))
        .map_err(io("writing pid".into()))?;
    // Written last, in one go: `up` waits for it.
    let tmp = dir.join("env.tmp");
    std::fs::write(&tmp, env).map_err(io("writing env".into()))?;
    std::fs::rename(&tmp, dir.join("env")).map_err(io("writing env".into()))?;
    rt.block_on(common::shutdown_signal());
    drop(hosted);
    Ok(())
}

/// Run a `mock` subcommand.
pub fn run(cmd: MockCmd) -> Result<()> {
    match cmd {
        MockCmd::Up { tee, dir } => up(&tee, dir_or_default(dir)),
        MockCmd::Down { dir } => down(dir_or_default(dir)),
        MockCmd::Run { tee, dir } => run_foreground(&tee, dir),
    }
}
