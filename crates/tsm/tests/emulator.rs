//! The client against the FUSE emulator of configfs-tsm, and the emulator
//! against the kernel's behaviour. Each test mounts its own emulator in a
//! temporary directory (root: mount(2); otherwise fusermount3).

use std::fs::{self, OpenOptions};
use std::io::{ErrorKind, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};

use tee_attest_core::{Error, ErrorCode};
use tee_attest_tsm::emulator::{Backend, ReportInput, TsmEmulator};
use tee_attest_tsm::{
    build_cert_table, parse_cert_table, AfterReadHook, Guid, ReportRequest, Tsm,
    PROVIDER_SEV_GUEST, PROVIDER_TDX_GUEST,
};

/// errno values of Linux (x86-64 and aarch64 alike).
const EIO: i32 = 5;
const EACCES: i32 = 13;
const EPERM: i32 = 1;
const EFBIG: i32 = 27;
const EINVAL: i32 = 22;

struct Fixture {
    // Dropped first: unmounted before the directory is removed.
    emu: TsmEmulator,
    calls: Arc<AtomicUsize>,
    inputs: Arc<Mutex<Vec<ReportInput>>>,
    _tmp: tempfile::TempDir,
}

impl Fixture {
    fn root(&self) -> PathBuf {
        self.emu.path().to_path_buf()
    }

    fn tsm(&self) -> Tsm {
        Tsm::new(Some(self.root()))
    }

    fn entries(&self) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(self.root())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }
}

fn certs() -> Vec<u8> {
    build_cert_table(&[
        (Guid::VCEK, b"vcek-der".as_slice()),
        (Guid::ASK, b"ask-der"),
        (Guid::ARK, b"ark-der"),
    ])
}

/// A backend whose report is `report:` followed by the inblob, with an SEV-SNP
/// certificate table as auxblob.
fn report_backend(
    calls: Arc<AtomicUsize>,
    inputs: Arc<Mutex<Vec<ReportInput>>>,
    provider: &str,
) -> Backend {
    let with_certs = provider == PROVIDER_SEV_GUEST;
    Arc::new(move |input: &ReportInput| {
        calls.fetch_add(1, SeqCst);
        inputs.lock().unwrap().push(input.clone());
        let mut out = b"report:".to_vec();
        out.extend_from_slice(&input.inblob);
        Ok((out, with_certs.then(certs)))
    })
}

fn mount_with(provider: &str, floor: u32, backend: Option<Backend>) -> Fixture {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("report");
    fs::create_dir(&dir).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let inputs = Arc::new(Mutex::new(Vec::new()));
    let backend =
        backend.unwrap_or_else(|| report_backend(calls.clone(), inputs.clone(), provider));
    let emu = match TsmEmulator::mount_with_floor(&dir, provider, floor, backend) {
        Ok(emu) => emu,
        Err(e) => panic!("the configfs-tsm emulator needs FUSE: {}", e.full_message()),
    };
    Fixture {
        emu,
        calls,
        inputs,
        _tmp: tmp,
    }
}

fn mount(provider: &str) -> Fixture {
    mount_with(provider, 0, None)
}

fn inblob(byte: u8) -> [u8; 64] {
    let mut b = [byte; 64];
    b[0] = 0xa5;
    b[63] = byte.wrapping_add(1);
    b
}

fn expected_report(inblob: &[u8; 64]) -> Vec<u8> {
    let mut v = b"report:".to_vec();
    v.extend_from_slice(inblob);
    v
}

fn errno(e: &std::io::Error) -> Option<i32> {
    e.raw_os_error()
}

fn read_gen(dir: &Path) -> u64 {
    fs::read_to_string(dir.join("generation"))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// One write then close, as the client does.
fn write_attr(path: &Path, data: &[u8]) -> std::io::Result<()> {
    let mut f = OpenOptions::new().write(true).open(path)?;
    f.write_all(data)?;
    drop(f);
    Ok(())
}

fn is_mounted(path: &Path) -> bool {
    let path = path.to_string_lossy().into_owned();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.split(' ').nth(4) == Some(path.as_str()))
}

fn code(e: &Error) -> u32 {
    e.code().number()
}

#[test]
fn each_report_is_made_fresh_for_its_inblob() {
    let fx = mount(PROVIDER_SEV_GUEST);
    let tsm = fx.tsm();
    for byte in [1u8, 2, 3] {
        let data = inblob(byte);
        let report = tsm
            .report(&ReportRequest::new(data, PROVIDER_SEV_GUEST))
            .unwrap();
        assert_eq!(report.outblob, expected_report(&data));
        assert_eq!(report.provider, "sev_guest");
        assert_eq!(report.generation, 1, "one write: inblob");
        assert_eq!(report.auxblob, None, "not requested");
    }
    assert_eq!(fx.calls.load(SeqCst), 3);
    assert!(fx.entries().is_empty(), "left behind: {:?}", fx.entries());
}

#[test]
fn auxblob_carries_the_certificate_table() {
    let fx = mount(PROVIDER_SEV_GUEST);
    let mut req = ReportRequest::new(inblob(9), PROVIDER_SEV_GUEST);
    req.want_auxblob = true;
    let report = fx.tsm().report(&req).unwrap();
    let table = parse_cert_table(report.auxblob.as_deref().unwrap()).unwrap();
    let names: Vec<_> = table.iter().map(|(g, _)| g.known_name().unwrap()).collect();
    assert_eq!(names, ["VCEK", "ASK", "ARK"]);
    assert_eq!(table[0].1, b"vcek-der");
    assert_eq!(fx.calls.load(SeqCst), 1, "outblob and auxblob: one report");
}

#[test]
fn privlevel_reaches_the_backend_and_the_floor_holds() {
    let fx = mount_with(PROVIDER_SEV_GUEST, 1, None);
    let mut req = ReportRequest::new(inblob(4), PROVIDER_SEV_GUEST);
    req.privlevel = Some(2);
    let report = fx.tsm().report(&req).unwrap();
    assert_eq!(report.generation, 2, "two writes: privlevel, inblob");
    assert_eq!(fx.inputs.lock().unwrap().last().unwrap().privlevel, 2);
    // Below the floor: refused by the client before any write.
    req.privlevel = Some(0);
    let err = fx.tsm().report(&req).unwrap_err();
    assert_eq!(code(&err), 8, "{err}");
    assert!(err.message().contains("floor"), "{}", err.message());
    // And by the emulator, as the kernel does.
    let dir = fx.root().join("by-hand");
    fs::create_dir(&dir).unwrap();
    assert_eq!(
        fs::read_to_string(dir.join("privlevel_floor")).unwrap(),
        "1\n"
    );
    for bad in ["0", "4", "x", "-1", "1 2"] {
        let e = write_attr(&dir.join("privlevel"), bad.as_bytes()).unwrap_err();
        assert_eq!(errno(&e), Some(EINVAL), "privlevel {bad:?}: {e}");
    }
    write_attr(&dir.join("privlevel"), b"3\n").unwrap();
    assert_eq!(read_gen(&dir), 1);
    fs::remove_dir(&dir).unwrap();
    assert!(fx.entries().is_empty());
}

#[test]
fn generation_counts_writes_and_a_generation_reads_one_report() {
    let fx = mount(PROVIDER_SEV_GUEST);
    let dir = fx.root().join("mine");
    fs::create_dir(&dir).unwrap();
    assert_eq!(
        fs::read_to_string(dir.join("provider")).unwrap(),
        "sev_guest\n"
    );
    assert_eq!(read_gen(&dir), 0);
    // No inblob yet: no report.
    let e = fs::read(dir.join("outblob")).unwrap_err();
    assert_eq!(errno(&e), Some(EINVAL), "{e}");

    write_attr(&dir.join("inblob"), &inblob(1)).unwrap();
    assert_eq!(read_gen(&dir), 1);
    let first = fs::read(dir.join("outblob")).unwrap();
    assert_eq!(first, expected_report(&inblob(1)));
    let again = fs::read(dir.join("outblob")).unwrap();
    assert_eq!(again, first);
    let aux = fs::read(dir.join("auxblob")).unwrap();
    assert_eq!(aux, certs());
    assert_eq!(fx.calls.load(SeqCst), 1, "one generation, one report");

    // Writes committed on close, in pieces: one generation step.
    let mut f = OpenOptions::new()
        .write(true)
        .open(dir.join("inblob"))
        .unwrap();
    f.write_all(&inblob(2)[..32]).unwrap();
    f.write_all(&inblob(2)[32..]).unwrap();
    assert_eq!(read_gen(&dir), 1, "not committed before close");
    drop(f);
    assert_eq!(read_gen(&dir), 2);
    assert_eq!(
        fs::read(dir.join("outblob")).unwrap(),
        expected_report(&inblob(2))
    );
    assert_eq!(fx.calls.load(SeqCst), 2);

    // The same bytes again are a new generation, and a new report.
    write_attr(&dir.join("inblob"), &inblob(2)).unwrap();
    write_attr(&dir.join("privlevel"), b"0").unwrap();
    assert_eq!(read_gen(&dir), 4);
    fs::read(dir.join("outblob")).unwrap();
    assert_eq!(fx.calls.load(SeqCst), 3);

    // A short inblob is zero-padded.
    write_attr(&dir.join("inblob"), b"abc").unwrap();
    let mut want = [0u8; 64];
    want[..3].copy_from_slice(b"abc");
    assert_eq!(
        fs::read(dir.join("outblob")).unwrap(),
        expected_report(&want)
    );
    fs::remove_dir(&dir).unwrap();
}

#[test]
fn an_open_outblob_reads_one_snapshot() {
    let fx = mount(PROVIDER_SEV_GUEST);
    let dir = fx.root().join("snap");
    fs::create_dir(&dir).unwrap();
    write_attr(&dir.join("inblob"), &inblob(1)).unwrap();
    let mut f = fs::File::open(dir.join("outblob")).unwrap();
    let mut head = [0u8; 7];
    f.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"report:");
    // Another writer changes the inputs mid-read.
    write_attr(&dir.join("inblob"), &inblob(2)).unwrap();
    let mut rest = Vec::new();
    f.read_to_end(&mut rest).unwrap();
    assert_eq!(rest, inblob(1), "the open file keeps its report");
    drop(f);
    assert_eq!(
        fs::read(dir.join("outblob")).unwrap(),
        expected_report(&inblob(2))
    );
    fs::remove_dir(&dir).unwrap();
}

#[test]
fn a_racing_writer_is_detected_and_the_request_retried() {
    let fx = mount(PROVIDER_SEV_GUEST);
    let hook_calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::<PathBuf>::new()));
    let hook: AfterReadHook = {
        let hook_calls = hook_calls.clone();
        let seen = seen.clone();
        Arc::new(move |dir: &Path| {
            seen.lock().unwrap().push(dir.to_path_buf());
            if hook_calls.fetch_add(1, SeqCst) == 0 {
                // A second thread writes the same directory's inblob between
                // the client's reads.
                let target = dir.join("inblob");
                std::thread::spawn(move || fs::write(target, [0xee; 64]).unwrap())
                    .join()
                    .unwrap();
            }
        })
    };
    let tsm = fx.tsm().with_after_read_hook(hook);
    let data = inblob(5);
    let report = tsm
        .report(&ReportRequest::new(data, PROVIDER_SEV_GUEST))
        .unwrap();
    assert_eq!(hook_calls.load(SeqCst), 2, "raced once, then clean");
    assert_eq!(report.outblob, expected_report(&data), "its own inblob");
    assert_eq!(report.generation, 1);
    let seen = seen.lock().unwrap();
    assert_ne!(seen[0], seen[1], "each try in a fresh directory");
    assert!(seen.iter().all(|d| !d.exists()), "every directory removed");
    assert!(fx.entries().is_empty());
}

#[test]
fn a_writer_racing_every_try_is_code_13() {
    let fx = mount(PROVIDER_SEV_GUEST);
    let hook_calls = Arc::new(AtomicUsize::new(0));
    let hook: AfterReadHook = {
        let hook_calls = hook_calls.clone();
        Arc::new(move |dir: &Path| {
            hook_calls.fetch_add(1, SeqCst);
            let target = dir.join("inblob");
            std::thread::spawn(move || fs::write(target, [0xee; 64]).unwrap())
                .join()
                .unwrap();
        })
    };
    let err = fx
        .tsm()
        .with_after_read_hook(hook)
        .report(&ReportRequest::new(inblob(1), PROVIDER_SEV_GUEST))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::TpmOperationFailed, "{err}");
    assert!(err.message().contains("race"), "{}", err.message());
    assert!(err.message().contains("3 tries"), "{}", err.message());
    assert_eq!(hook_calls.load(SeqCst), 3);
    assert!(fx.entries().is_empty(), "left behind: {:?}", fx.entries());
}

#[test]
fn the_wrong_provider_is_code_12_naming_both() {
    let fx = mount(PROVIDER_TDX_GUEST);
    let err = fx
        .tsm()
        .report(&ReportRequest::new(inblob(1), PROVIDER_SEV_GUEST))
        .unwrap_err();
    assert_eq!(code(&err), 12, "{err}");
    assert!(err.message().contains("tdx_guest"), "{}", err.message());
    assert!(err.message().contains("sev_guest"), "{}", err.message());
    assert_eq!(fx.calls.load(SeqCst), 0, "nothing written, no report");
    assert!(fx.entries().is_empty());
}

#[test]
fn an_absent_root_is_code_12() {
    let fx = mount(PROVIDER_SEV_GUEST);
    let tmp = tempfile::tempdir().unwrap();
    let tsm = Tsm::new(Some(fx.root().join("nope"))).with_dev_root(tmp.path());
    let err = tsm
        .report(&ReportRequest::new(inblob(1), PROVIDER_SEV_GUEST))
        .unwrap_err();
    assert_eq!(code(&err), 12, "{err}");
    assert_eq!(tsm.probe().unwrap(), None);
}

#[test]
fn probe_names_the_provider_and_cleans_up() {
    for provider in [PROVIDER_SEV_GUEST, PROVIDER_TDX_GUEST] {
        let fx = mount(provider);
        assert_eq!(fx.tsm().probe().unwrap().as_deref(), Some(provider));
        assert!(fx.entries().is_empty());
    }
}

#[test]
fn tdx_shows_no_auxblob_and_takes_no_privlevel() {
    let fx = mount(PROVIDER_TDX_GUEST);
    let dir = fx.root().join("td");
    fs::create_dir(&dir).unwrap();
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["generation", "inblob", "outblob", "provider"]);
    fs::remove_dir(&dir).unwrap();

    let mut req = ReportRequest::new(inblob(3), PROVIDER_TDX_GUEST);
    req.want_auxblob = true;
    let report = fx.tsm().report(&req).unwrap();
    assert_eq!(report.outblob, expected_report(&inblob(3)));
    assert_eq!(report.auxblob, None);
    req.privlevel = Some(0);
    let err = fx.tsm().report(&req).unwrap_err();
    assert_eq!(code(&err), 8, "{err}");
    assert!(fx.entries().is_empty());
}

#[test]
fn a_failing_backend_is_a_kernel_error_code_13_with_the_errno() {
    let backend: Backend = Arc::new(|_: &ReportInput| {
        Err(Error::new(
            ErrorCode::TpmOperationFailed,
            "firmware said no",
        ))
    });
    let fx = mount_with(PROVIDER_SEV_GUEST, 0, Some(backend));
    let err = fx
        .tsm()
        .report(&ReportRequest::new(inblob(1), PROVIDER_SEV_GUEST))
        .unwrap_err();
    assert_eq!(code(&err), 13, "{err}");
    assert!(
        err.message().contains(&format!("errno {EIO}")),
        "{}",
        err.message()
    );
    assert!(err.message().contains("outblob"), "{}", err.message());
    assert!(fx.entries().is_empty(), "removed on error too");
}

#[test]
fn a_panicking_backend_is_eio_not_a_dead_mount() {
    let backend: Backend = Arc::new(|_: &ReportInput| panic!("backend bug"));
    let fx = mount_with(PROVIDER_SEV_GUEST, 0, Some(backend));
    let err = fx
        .tsm()
        .report(&ReportRequest::new(inblob(1), PROVIDER_SEV_GUEST))
        .unwrap_err();
    assert_eq!(code(&err), 13, "{err}");
    assert_eq!(fx.tsm().probe().unwrap().as_deref(), Some("sev_guest"));
}

#[test]
fn an_empty_report_is_code_21() {
    let backend: Backend = Arc::new(|_: &ReportInput| Ok((Vec::new(), None)));
    let fx = mount_with(PROVIDER_SEV_GUEST, 0, Some(backend));
    let err = fx
        .tsm()
        .report(&ReportRequest::new(inblob(1), PROVIDER_SEV_GUEST))
        .unwrap_err();
    assert_eq!(code(&err), 21, "{err}");
    assert!(fx.entries().is_empty());
}

#[test]
fn a_report_over_32_kib_is_efbig_as_configfs_says() {
    let backend: Backend = Arc::new(|_: &ReportInput| Ok((vec![1u8; 32 * 1024 + 1], None)));
    let fx = mount_with(PROVIDER_SEV_GUEST, 0, Some(backend));
    let err = fx
        .tsm()
        .report(&ReportRequest::new(inblob(1), PROVIDER_SEV_GUEST))
        .unwrap_err();
    assert_eq!(code(&err), 13, "{err}");
    assert!(
        err.message().contains(&format!("errno {EFBIG}")),
        "{}",
        err.message()
    );
}

#[test]
fn file_rules_follow_configfs() {
    let fx = mount(PROVIDER_SEV_GUEST);
    let dir = fx.root().join("rules");
    fs::create_dir(&dir).unwrap();
    // Taken names, and nothing made inside a report.
    assert_eq!(
        fs::create_dir(&dir).unwrap_err().kind(),
        ErrorKind::AlreadyExists
    );
    assert_eq!(
        errno(&fs::create_dir(dir.join("sub")).unwrap_err()),
        Some(EPERM)
    );
    // inblob takes at most 64 bytes.
    let e = write_attr(&dir.join("inblob"), &[1u8; 65]).unwrap_err();
    assert_eq!(errno(&e), Some(EFBIG), "{e}");
    assert_eq!(read_gen(&dir), 0, "a refused write changes nothing");
    // Unknown names.
    for name in ["nonsense", "outblob2", "report"] {
        let e = fs::read(dir.join(name)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{name}: {e}");
    }
    assert_eq!(
        fs::read(fx.root().join("nope/outblob")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    // Modes: inblob is write-only, outblob read-only; no new files; no unlink.
    assert_eq!(
        errno(&fs::read(dir.join("inblob")).unwrap_err()),
        Some(EACCES)
    );
    assert_eq!(
        errno(&write_attr(&dir.join("outblob"), b"x").unwrap_err()),
        Some(EACCES)
    );
    assert_eq!(
        errno(&fs::write(dir.join("newfile"), b"x").unwrap_err()),
        Some(EACCES)
    );
    assert_eq!(
        errno(&fs::remove_file(dir.join("inblob")).unwrap_err()),
        Some(EPERM)
    );
    // fs::write (O_CREAT | O_TRUNC) on an existing attribute works.
    fs::write(dir.join("inblob"), inblob(1)).unwrap();
    assert_eq!(read_gen(&dir), 1);
    // rmdir takes the files with it.
    fs::remove_dir(&dir).unwrap();
    assert!(!dir.exists());
    assert_eq!(
        fs::read(dir.join("generation")).unwrap_err().kind(),
        ErrorKind::NotFound
    );
    assert_eq!(
        fs::remove_dir(&dir).unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn unmount_and_drop_leave_no_mount() {
    let fx = mount(PROVIDER_SEV_GUEST);
    let root = fx.root();
    assert!(is_mounted(&root));
    let Fixture { emu, _tmp, .. } = fx;
    emu.unmount().unwrap();
    assert!(!is_mounted(&root));
    assert_eq!(
        fs::read_dir(&root).unwrap().count(),
        0,
        "a plain empty dir again"
    );

    let fx = mount(PROVIDER_SEV_GUEST);
    let root = fx.root();
    assert!(is_mounted(&root));
    drop(fx);
    assert!(!is_mounted(&root));
}
