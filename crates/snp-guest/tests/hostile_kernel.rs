//! Whatever a hostile kernel (or host) puts in `outblob` and `auxblob`, the
//! provider never panics and answers with a coded error: the checking
//! function directly, for many cases; and the whole provider through one
//! FUSE emulator whose backend returns each case's bytes.

use std::fs;
use std::sync::{Arc, Mutex};

use proptest::prelude::*;
use tee_attest_core::{EvidenceProvider, EvidenceRequest};
use tee_attest_mock::amd::{MockAmdRoots, MockSnpReport, MockTcb};
use tee_attest_snp::SigningKey;
use tee_attest_snp_guest::{check_kernel_report, SnpGuestConfig, SnpGuestProvider};
use tee_attest_tsm::emulator::{Backend, ReportInput, TsmEmulator};
use tee_attest_tsm::{build_cert_table, Guid, PROVIDER_SEV_GUEST};

/// Codes a hostile kernel may cause: a kernel error or race (13), no
/// certificate (17), a malformed report or table (20), an empty report (21).
const HOSTILE_CODES: [u32; 4] = [13, 17, 20, 21];

/// A genuine mock report over `inblob` (signed by a mock VCEK) and its
/// full certificate table: the starting point of mutations.
fn genuine(inblob: [u8; 64]) -> (Vec<u8>, Vec<u8>) {
    let roots = MockAmdRoots::stored_milan().unwrap();
    let vcek = roots.issue_vcek([7u8; 64], MockTcb::default()).unwrap();
    let report = MockSnpReport {
        report_data: inblob,
        ..MockSnpReport::default()
    }
    .sign(&vcek)
    .unwrap()
    .to_vec();
    let table = build_cert_table(&[
        (Guid::VCEK, vcek.der()),
        (Guid::ASK, roots.ask_der()),
        (Guid::ARK, roots.ark_der()),
    ]);
    (report, table)
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

/// A certificate table with arbitrary entries (GUIDs, offsets, lengths).
fn hostile_table() -> impl Strategy<Value = Vec<u8>> {
    let guid = prop_oneof![
        Just(Guid::VCEK),
        Just(Guid::VLEK),
        Just(Guid::ASK),
        Just(Guid::ARK),
        Just(Guid::ZERO),
        any::<[u8; 16]>().prop_map(Guid),
    ];
    proptest::collection::vec((guid, any::<u32>(), any::<u32>()), 0..5).prop_flat_map(|entries| {
        proptest::collection::vec(any::<u8>(), 0..256).prop_map(move |tail| {
            let mut t = Vec::new();
            for (g, off, len) in &entries {
                t.extend_from_slice(&g.0);
                t.extend_from_slice(&(off % 512).to_le_bytes());
                t.extend_from_slice(&(len % 512).to_le_bytes());
            }
            t.extend_from_slice(&tail);
            t
        })
    })
}

const INBLOB: [u8; 64] = [0x5a; 64];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn checking_never_panics_on_hostile_blobs(
        (outblob, auxblob) in {
            let (report, table) = genuine(INBLOB);
            (
                mutated(report, 0x600),
                prop_oneof![
                    Just(None),
                    mutated(table, 2048).prop_map(Some),
                    hostile_table().prop_map(Some),
                ],
            )
        },
        vmpl in proptest::option::of(0u32..4),
    ) {
        match check_kernel_report(&outblob, auxblob.as_deref(), &INBLOB, vmpl) {
            Ok(checked) => {
                // Only a report carrying exactly the inblob passes.
                prop_assert_eq!(checked.report.report_data, INBLOB);
                prop_assert_eq!(checked.report.as_bytes().as_slice(), outblob.as_slice());
                if let Some(v) = vmpl {
                    prop_assert_eq!(checked.report.vmpl, v);
                }
                if let Some(certs) = checked.certificates {
                    prop_assert!(!certs.is_empty() && certs.len() <= 3);
                    prop_assert!(!certs[0].is_empty());
                }
            }
            Err(e) => prop_assert!(
                HOSTILE_CODES.contains(&e.code().number()),
                "code {} ({})", e.code().number(), e.message()
            ),
        }
    }
}

#[test]
fn the_genuine_blobs_pass_the_check() {
    let (report, table) = genuine(INBLOB);
    let checked = check_kernel_report(&report, Some(&table), &INBLOB, Some(0)).unwrap();
    assert_eq!(checked.report.signing_key(), SigningKey::Vcek);
    assert_eq!(checked.certificates.map(|c| c.len()), Some(3));
    // Another inblob: the kernel answered another request.
    let err = check_kernel_report(&report, Some(&table), &[0; 64], None).unwrap_err();
    assert_eq!(err.code().number(), 13);
}

/// The whole provider, through configfs-tsm, against a kernel returning a
/// handful of hostile cases (one mount for all of them).
#[test]
fn the_provider_never_panics_on_a_hostile_kernel() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("report");
    fs::create_dir(&dir).unwrap();
    type Blobs = (Vec<u8>, Option<Vec<u8>>);
    let current: Arc<Mutex<Blobs>> = Arc::new(Mutex::new((Vec::new(), None)));
    let served = current.clone();
    let backend: Backend = Arc::new(move |_: &ReportInput| Ok(served.lock().unwrap().clone()));
    let emu = TsmEmulator::mount(&dir, PROVIDER_SEV_GUEST, backend).unwrap();
    let provider = SnpGuestProvider::new(SnpGuestConfig::default().with_tsm_root(emu.path()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let mut request = EvidenceRequest::with_nonce(*b"n");
    request.report_data = Some(INBLOB);
    let (report, table) = genuine(INBLOB);
    let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(24));
    let strategy = (
        mutated(report, 0x600),
        prop_oneof![
            Just(None),
            mutated(table, 2048).prop_map(Some),
            hostile_table().prop_map(Some),
        ],
    );
    runner
        .run(&strategy, |(outblob, auxblob)| {
            *current.lock().unwrap() = (outblob, auxblob);
            match rt.block_on(provider.evidence(&request)) {
                Ok(e) => {
                    prop_assert!(!e.certificates.is_empty());
                    prop_assert_eq!(&e.hardware_report[0x50..0x90], &INBLOB[..]);
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
