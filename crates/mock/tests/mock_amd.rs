//! Mock AMD roots sign reports that the real SEV-SNP verifier accepts —
//! only when told to trust the mock ARK.

use std::sync::OnceLock;

use tee_attest_mock::amd::{MockAmdRoots, MockSnpReport, MockTcb, SNP_REPORT_LEN};
use tee_attest_snp::{RootOrigin, SnpOptions, SnpVerifier, TrustAnchors};

fn roots() -> &'static MockAmdRoots {
    static ROOTS: OnceLock<MockAmdRoots> = OnceLock::new();
    ROOTS.get_or_init(|| MockAmdRoots::generate("Milan").unwrap())
}

#[test]
fn a_mock_report_verifies_only_under_the_explicitly_trusted_mock_root() {
    let vcek = roots().issue_vcek([7; 64], MockTcb::default()).unwrap();
    let report = MockSnpReport {
        report_data: [0xAB; 64],
        ..Default::default()
    }
    .sign(&vcek)
    .unwrap();
    assert_eq!(report.len(), SNP_REPORT_LEN);
    let certs = vec![vcek.der().to_vec(), roots().ask_der().to_vec()];

    let genuine_only = SnpVerifier::new(TrustAnchors::amd());
    let err = genuine_only
        .verify(&report, &certs, &SnpOptions::default())
        .unwrap_err();
    assert_eq!(
        tee_attest_core::CodedError::code(&err),
        tee_attest_core::ErrorCode::AttestationFailed,
        "{err}"
    );

    let trusting = SnpVerifier::new(
        TrustAnchors::amd()
            .with_extra_root(roots().ark_der())
            .unwrap(),
    );
    let ok = trusting
        .verify(&report, &certs, &SnpOptions::default())
        .unwrap();
    assert_eq!(ok.root, RootOrigin::Extra);
    assert_eq!(ok.report.report_data[..], [0xAB; 64][..]);
    let claims = ok.maa_claims();
    assert_eq!(claims["x-ms-sevsnpvm-bootloader-svn"], 3);
    assert_eq!(claims["x-ms-sevsnpvm-microcode-svn"], 115);
    assert_eq!(claims["x-ms-sevsnpvm-is-debuggable"], false);
    assert_eq!(claims["x-ms-sevsnpvm-vmpl"], 0);

    // One changed byte in the signed part is refused.
    let mut bad = report;
    bad[0x90] ^= 1;
    assert!(trusting
        .verify(&bad, &certs, &SnpOptions::default())
        .is_err());
}

#[test]
fn stored_roots_load_back_and_keep_signing() {
    let stored = roots().to_der().unwrap();
    let again = MockAmdRoots::from_der(&stored).unwrap();
    assert_eq!(again.ark_der(), roots().ark_der());
    let vcek = again.issue_vcek([9; 64], MockTcb::default()).unwrap();
    let report = MockSnpReport::default().sign(&vcek).unwrap();
    let v = SnpVerifier::new(
        TrustAnchors::empty()
            .with_extra_root(again.ark_der())
            .unwrap(),
    );
    v.verify(
        &report,
        &[vcek.der().to_vec(), again.ask_der().to_vec()],
        &SnpOptions::default(),
    )
    .unwrap();
}

#[test]
fn a_vcek_with_another_tcb_than_the_report_is_refused() {
    let vcek = roots().issue_vcek([7; 64], MockTcb::default()).unwrap();
    let other = roots()
        .issue_vcek(
            [7; 64],
            MockTcb {
                microcode: 116,
                ..MockTcb::default()
            },
        )
        .unwrap();
    let report = MockSnpReport::default().sign(&vcek).unwrap();
    // Re-sign with the other VCEK's key but keep the first TCB: the TCB check must catch it.
    let mut forged = report;
    other.sign_report(&mut forged).unwrap();
    let v = SnpVerifier::new(
        TrustAnchors::empty()
            .with_extra_root(roots().ark_der())
            .unwrap(),
    );
    let err = v
        .verify(
            &forged,
            &[other.der().to_vec(), roots().ask_der().to_vec()],
            &SnpOptions::default(),
        )
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("tcb") || err.to_string().contains("microcode"),
        "{err}"
    );
}
