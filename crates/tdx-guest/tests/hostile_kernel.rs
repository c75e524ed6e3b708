//! Whatever a hostile kernel (or quoting enclave) puts in `outblob`, and
//! whatever the CCEL files hold, the provider never panics and answers with
//! a coded error: the checking functions directly, for many cases; and the
//! whole provider through one FUSE emulator whose backend returns each
//! case's bytes.

use std::fs;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use tee_attest_core::{EvidenceProvider, EvidenceRequest};
use tee_attest_tdx::Quote;
use tee_attest_tdx_guest::{check_kernel_quote, read_ccel, TdxGuestConfig, TdxGuestProvider};
use tee_attest_testkit::vector;
use tee_attest_tsm::emulator::{Backend, ReportInput, TsmEmulator};
use tee_attest_tsm::PROVIDER_TDX_GUEST;

/// Codes a hostile kernel may cause: a kernel error, a race or a quote for
/// other report data (13), a malformed quote or CCEL (20), an empty quote
/// (21).
const HOSTILE_CODES: [u32; 3] = [13, 20, 21];

const INBLOB: [u8; 64] = [0x5a; 64];

/// A real v4 TD quote carrying `inblob`: the starting point of mutations.
fn genuine(inblob: [u8; 64]) -> Vec<u8> {
    let q = vector("tdx-dcap/quote.bin");
    let at =
        Quote::parse(&q).unwrap().body_offset() + tee_attest_tdx::quote::td_offsets::REPORT_DATA;
    let mut q = q;
    q[at..at + 64].copy_from_slice(&inblob);
    q
}

/// Bytes: arbitrary, or `base` with a few bytes changed, cut or extended.
fn mutated(base: Vec<u8>, max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    let len = base.len();
    prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..max_len),
        proptest::collection::vec((0..len.max(1), any::<u8>()), 0..8).prop_map({
            let base = base.clone();
            move |edits| {
                let mut b = base.clone();
                for (i, v) in edits {
                    if let Some(x) = b.get_mut(i) {
                        *x = v;
                    }
                }
                b
            }
        }),
        (0..len + 64).prop_map({
            let base = base.clone();
            move |n| {
                let mut b = base.clone();
                b.resize(n, 0);
                b
            }
        }),
        Just(base),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn checking_never_panics_on_hostile_quotes(outblob in mutated(genuine(INBLOB), 0x1800)) {
        match check_kernel_quote(&outblob, &INBLOB) {
            Ok(quote) => {
                // Only a TD quote carrying exactly the inblob passes.
                prop_assert!(quote.is_tdx());
                prop_assert_eq!(quote.body.report_data(), &INBLOB);
                prop_assert_eq!(quote.raw(), outblob.as_slice());
            }
            Err(e) => prop_assert!(
                HOSTILE_CODES.contains(&e.code().number()),
                "code {} ({})", e.code().number(), e.message()
            ),
        }
    }

    #[test]
    fn ccel_reading_never_panics_on_hostile_files(
        table in mutated(vector("tdx-go/ccel_ccel_table.dat"), 128),
        log in proptest::collection::vec(any::<u8>(), 0..512),
    ) {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("CCEL"), &table).unwrap();
        fs::create_dir(dir.path().join("data")).unwrap();
        fs::write(dir.path().join("data/CCEL"), &log).unwrap();
        match read_ccel(dir.path()) {
            Ok(Some(ccel)) => {
                prop_assert_eq!(ccel.table.cc_type, 2);
                prop_assert!(ccel.log.len() as u64 <= ccel.table.laml);
                prop_assert_eq!(&ccel.log[..], &log[..ccel.log.len()]);
            }
            Ok(None) => prop_assert!(log.is_empty()),
            Err(e) => prop_assert_eq!(
                tee_attest_core::CodedError::code(&e).number(), 20, "{}", e
            ),
        }
    }
}

#[test]
fn the_genuine_quote_passes_the_check() {
    let quote = genuine(INBLOB);
    let q = check_kernel_quote(&quote, &INBLOB).unwrap();
    assert_eq!(q.header.version, 4);
    // Another inblob: the kernel answered another request.
    let err = check_kernel_quote(&quote, &[0; 64]).unwrap_err();
    assert_eq!(err.code().number(), 13);
}

/// The whole provider, through configfs-tsm, against a kernel returning a
/// handful of hostile cases (one mount for all of them).
#[test]
fn the_provider_never_panics_on_a_hostile_kernel() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("report");
    fs::create_dir(&dir).unwrap();
    let current: Arc<Mutex<Vec<u8>>> = Arc::new(Mutex::new(Vec::new()));
    let served = current.clone();
    let backend: Backend =
        Arc::new(move |_: &ReportInput| Ok((served.lock().unwrap().clone(), None)));
    let emu = TsmEmulator::mount(&dir, PROVIDER_TDX_GUEST, backend).unwrap();
    let provider = TdxGuestProvider::new(
        TdxGuestConfig::default()
            .with_tsm_root(emu.path())
            .with_ccel_root(tmp.path().join("acpi")),
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut request = EvidenceRequest::with_nonce(*b"n");
    request.report_data = Some(INBLOB);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(24));
    runner
        .run(&mutated(genuine(INBLOB), 0x1800), |outblob| {
            *current.lock().unwrap() = outblob;
            match rt.block_on(provider.evidence(&request)) {
                Ok(e) => {
                    let q = Quote::parse(&e.hardware_report).unwrap();
                    prop_assert_eq!(q.body.report_data(), &INBLOB);
                }
                Err(e) => prop_assert!(
                    HOSTILE_CODES.contains(&e.code().number()),
                    "code {} ({})",
                    e.code().number(),
                    e.message()
                ),
            }
            Ok(())
        })
        .unwrap();
    drop(emu);
}
