//! One TPM shared by many users (issue 18, docs/RELIABILITY.md): commands
//! the TPM refuses for want of object or session slots are retried until a
//! slot frees; nothing an operation loads outlives it, whatever path it
//! took; the vTPM lock serializes operations; a stopped TPM gives code 13
//! within the time-out instead of a hang, and the next operation runs on a
//! fresh context. Against swtpm (`cargo xtask deps`).

use std::sync::mpsc;
use std::time::{Duration, Instant};

use tee_attest_core::{CodedError, ErrorCode};
use tee_attest_mock::MockVtpm;
use tee_attest_tpm::handles::{AK_PERSISTENT_HANDLE, HCL_USER_DATA_NV_INDEX};
use tee_attest_tpm::{RetryPolicy, Tpm, TpmAccess, TpmError};
use tss_esapi::constants::tss::{TPM2_LOADED_SESSION_FIRST, TPM2_TRANSIENT_FIRST};
use tss_esapi::constants::{CapabilityType, SessionType};
use tss_esapi::interface_types::algorithm::HashingAlgorithm;
use tss_esapi::structures::{CapabilityData, SymmetricDefinition};

fn vtpm() -> MockVtpm {
    MockVtpm::start().expect("swtpm must be installed and start (cargo xtask deps)")
}

/// An access to `v` with its own lock file in `dir`.
fn access(v: &MockVtpm, dir: &tempfile::TempDir) -> TpmAccess {
    TpmAccess::new(Some(&v.tcti())).with_lock(dir.path().join("vtpm.lock"))
}

/// How many transient objects and sessions the TPM holds loaded.
fn loaded(tcti: &str) -> (usize, usize) {
    let conf = tcti.parse().unwrap();
    let mut ctx = tss_esapi::Context::new(conf).unwrap();
    let count = |ctx: &mut tss_esapi::Context, first: u32| match ctx
        .get_capability(CapabilityType::Handles, first, 64)
        .unwrap()
        .0
    {
        CapabilityData::Handles(h) => h.len(),
        other => panic!("{other:?}"),
    };
    (
        count(&mut ctx, TPM2_TRANSIENT_FIRST),
        count(&mut ctx, TPM2_LOADED_SESSION_FIRST),
    )
}

/// Another TPM user that fills every slot of one kind and tells `full`;
/// told to go, it frees one slot `hold` later; told again, it frees the
/// rest.
fn hog(tcti: String, sessions: bool, hold: Duration) -> (mpsc::Receiver<u32>, mpsc::Sender<()>) {
    let (full_tx, full_rx) = mpsc::channel();
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    std::thread::spawn(move || {
        let mut ctx = tss_esapi::Context::new(tcti.parse().unwrap()).unwrap();
        let mut held = Vec::new();
        let rc = if sessions {
            loop {
                match ctx.start_auth_session(
                    None,
                    None,
                    None,
                    SessionType::Hmac,
                    SymmetricDefinition::AES_128_CFB,
                    HashingAlgorithm::Sha256,
                ) {
                    Ok(Some(s)) => held.push(tss_esapi::handles::ObjectHandle::from(
                        tss_esapi::handles::SessionHandle::from(s),
                    )),
                    Ok(None) => panic!("no session"),
                    Err(e) => break e,
                }
                assert!(held.len() < 100, "the TPM never ran out of sessions");
            }
        } else {
            // Our own Tpm, without retries, to make ephemeral keys until the
            // TPM is out of object slots.
            drop(ctx);
            let mut tpm = Tpm::open_tcti(&tcti)
                .unwrap()
                .with_retry(RetryPolicy::none());
            let mut keys = Vec::new();
            let err = loop {
                match tpm.ephemeral_key() {
                    Ok(k) => keys.push(k),
                    Err(e) => break e,
                }
                assert!(keys.len() < 100, "the TPM never ran out of objects");
            };
            let TpmError::Busy { rc, .. } = err else {
                panic!("expected out of objects: {err}")
            };
            full_tx.send(rc).unwrap();
            let _ = stop_rx.recv();
            std::thread::sleep(hold);
            let first = keys.remove(0);
            tpm.flush_ephemeral_key(first);
            let _ = stop_rx.recv();
            return;
        };
        let tss_esapi::Error::Tss2Error(_) = rc else {
            panic!("{rc}")
        };
        full_tx.send(0x903).unwrap();
        let _ = stop_rx.recv();
        std::thread::sleep(hold);
        ctx.flush_context(held.remove(0)).unwrap();
        let _ = stop_rx.recv();
        for h in held {
            let _ = ctx.flush_context(h);
        }
    });
    (full_rx, stop_tx)
}

#[test]
fn out_of_object_slots_is_retried_until_one_frees() {
    let v = vtpm();
    let (full, stop) = hog(v.tcti(), false, Duration::from_millis(700));
    let rc = full.recv_timeout(Duration::from_secs(60)).unwrap();
    assert_eq!(rc & 0xfff, 0x902, "TPM_RC_OBJECT_MEMORY");
    // Sent once, the command fails at once, naming the return code.
    let mut once = v.open().unwrap().with_retry(RetryPolicy::none());
    let err = once.ephemeral_key().unwrap_err();
    assert_eq!(err.code(), ErrorCode::TpmOperationFailed, "{err}");
    let msg = err.to_string();
    assert!(
        msg.contains("TPM_RC_OBJECT_MEMORY") && msg.contains("0x902"),
        "{msg}"
    );
    drop(once);
    // With the default retries it waits for the slot and succeeds.
    let mut tpm = v.open().unwrap();
    let start = Instant::now();
    stop.send(()).unwrap();
    let key = tpm.ephemeral_key().expect("retried until a slot freed");
    assert!(
        start.elapsed() >= Duration::from_millis(600),
        "{:?}",
        start.elapsed()
    );
    tpm.flush_ephemeral_key(key);
    drop(tpm);
    let _ = stop.send(());
}

#[test]
fn out_of_session_slots_is_retried_until_one_frees() {
    let v = vtpm();
    let (full, stop) = hog(v.tcti(), true, Duration::from_millis(700));
    full.recv_timeout(Duration::from_secs(60)).unwrap();
    // The ephemeral key's policy needs a session slot.
    let mut once = v.open().unwrap().with_retry(RetryPolicy::none());
    let err = once.ephemeral_key().unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("TPM_RC_SESSION_MEMORY") && msg.contains("0x903"),
        "{msg}"
    );
    drop(once);
    let dir = tempfile::tempdir().unwrap();
    let start = Instant::now();
    stop.send(()).unwrap();
    let key = access(&v, &dir)
        .run(|tpm| {
            let key = tpm.ephemeral_key()?;
            Ok(key.key.clone())
        })
        .expect("retried until a session slot freed");
    assert_eq!(key.n.len(), 256);
    assert!(start.elapsed() >= Duration::from_millis(600));
    let _ = stop.send(());
}

#[test]
fn nothing_an_operation_loads_outlives_it_on_any_path() {
    let v = vtpm();
    let dir = tempfile::tempdir().unwrap();
    let a = access(&v, &dir);
    assert_eq!(loaded(&v.tcti()), (0, 0));
    // Success, with the key left loaded by the operation.
    a.run(|tpm| tpm.ephemeral_key().map(|k| k.public.clone()))
        .unwrap();
    assert_eq!(loaded(&v.tcti()), (0, 0), "after success");
    // An error after the key was made.
    let err = a
        .run(|tpm| {
            let _key = tpm.ephemeral_key()?;
            tpm.quote(AK_PERSISTENT_HANDLE, &[99], b"n")
        })
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInputParameter, "{err}");
    assert_eq!(loaded(&v.tcti()), (0, 0), "after an error");
    // A failing decryption (its policy session, the key).
    let err = a
        .run(|tpm| {
            let key = tpm.ephemeral_key()?;
            tpm.decrypt(
                &key,
                tee_attest_core::RsaDecryptScheme::OaepSha256,
                &[1; 256],
            )
        })
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DecryptTpmError, "{err}");
    assert_eq!(loaded(&v.tcti()), (0, 0), "after a failed decryption");
    // A panic in the middle is an error, not a panic, and leaks nothing.
    let err = a
        .run(|tpm| -> Result<(), TpmError> {
            let _key = tpm.ephemeral_key()?;
            panic!("a bug in the middle of an operation")
        })
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::TpmOperationFailed, "{err}");
    assert_eq!(loaded(&v.tcti()), (0, 0), "after a panic");
}

#[test]
fn the_lock_serializes_operations_across_threads() {
    let v = vtpm();
    let dir = tempfile::tempdir().unwrap();
    let a = access(&v, &dir);
    // Each writes its own user data, lets time pass, and must read back
    // its own: nobody writes in between.
    let handles: Vec<_> = (0u8..8)
        .map(|i| {
            let a = a.clone();
            std::thread::spawn(move || {
                a.run(move |tpm| {
                    let mine = [i; 64];
                    tpm.nv_write(HCL_USER_DATA_NV_INDEX, &mine)?;
                    std::thread::sleep(Duration::from_millis(30));
                    let back = tpm.nv_read(HCL_USER_DATA_NV_INDEX)?;
                    Ok(back == mine)
                })
            })
        })
        .collect();
    for h in handles {
        assert!(
            h.join().unwrap().unwrap(),
            "another thread wrote in between"
        );
    }
}

/// `kill -SIG pid` through the shell's builtin (procps may be missing).
fn signal(sig: &str, pid: u32) {
    let status = std::process::Command::new("sh")
        .args(["-c", &format!("kill -{sig} {pid}")])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{sig} {pid}");
}

#[test]
fn a_stopped_tpm_times_out_with_code_13_and_the_next_operation_gets_a_fresh_context() {
    let v = vtpm();
    let pid = v.swtpm().pid().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = access(&v, &dir).with_timeout(Duration::from_secs(1));
    a.run(|tpm| tpm.read_public(AK_PERSISTENT_HANDLE)).unwrap();

    signal("STOP", pid);
    let start = Instant::now();
    let err = a
        .run(|tpm| tpm.read_public(AK_PERSISTENT_HANDLE))
        .unwrap_err();
    let took = start.elapsed();
    signal("CONT", pid);
    assert!(matches!(err, TpmError::Timeout { .. }), "{err}");
    assert_eq!(err.code(), ErrorCode::TpmOperationFailed);
    assert!(
        took >= Duration::from_secs(1) && took < Duration::from_secs(5),
        "gave up after {took:?}"
    );
    assert!(
        err.to_string().contains("did not answer within 1 s"),
        "{err}"
    );

    // The TPM answers again: the abandoned context finishes, releases the
    // lock, and the next operation runs on a fresh one.
    let again = a.clone().with_timeout(Duration::from_secs(10));
    let back = again
        .run(|tpm| tpm.read_public(AK_PERSISTENT_HANDLE))
        .expect("a fresh context after the TPM came back");
    assert_eq!(back.1.n.len(), 256);
}

#[test]
fn a_stopped_tpm_holding_the_lock_bounds_the_wait_of_the_next_caller() {
    let v = vtpm();
    let pid = v.swtpm().pid().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let a = access(&v, &dir).with_timeout(Duration::from_millis(800));
    signal("STOP", pid);
    // The first caller's command is stuck; its worker keeps the lock.
    let first = a.run(|tpm| tpm.read_public(AK_PERSISTENT_HANDLE));
    // The second waits for the lock at most the time-out.
    let start = Instant::now();
    let second = a.run(|tpm| tpm.read_public(AK_PERSISTENT_HANDLE));
    let took = start.elapsed();
    signal("CONT", pid);
    assert!(matches!(first, Err(TpmError::Timeout { .. })), "{first:?}");
    let err = second.unwrap_err();
    assert!(matches!(err, TpmError::LockTimeout { .. }), "{err}");
    assert_eq!(err.code(), ErrorCode::TpmOperationFailed);
    assert!(took < Duration::from_secs(5), "{took:?}");
}
