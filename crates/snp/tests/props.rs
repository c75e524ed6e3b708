//! Property tests: tampering with the signed part of a real report is always
//! refused, and no parser panics on arbitrary bytes.

use proptest::prelude::*;
use tee_attest_snp::{
    parse_rfc3339, AmdCertificate, AmdCrl, AttestationReport, CertBundle, SnpOptions, SnpVerifier,
    TrustAnchors, SIGNED_LEN,
};
use tee_attest_testkit::{hex_vector, vector};

fn opts() -> SnpOptions {
    SnpOptions::at(parse_rfc3339("2025-06-01T00:00:00Z").unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Any single-byte change in bytes 0x000–0x29F is refused (with the
    /// chain cached, so that every case reaches the report checks).
    #[test]
    fn any_change_in_the_signed_part_is_refused(pos in 0..SIGNED_LEN, delta in 1u8..=255) {
        static VERIFIER: std::sync::OnceLock<SnpVerifier> = std::sync::OnceLock::new();
        let v = VERIFIER.get_or_init(|| SnpVerifier::new(TrustAnchors::amd()));
        let certs = [vector("snp-milan/vcek.der")];
        let mut report = hex_vector("snp-milan/report.hex");
        prop_assert!(v.verify(&report, &certs, &opts()).is_ok());
        report[pos] = report[pos].wrapping_add(delta);
        prop_assert!(v.verify(&report, &certs, &opts()).is_err());
    }

    #[test]
    fn report_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..1300)) {
        let _ = AttestationReport::from_bytes(&bytes);
    }

    #[test]
    fn report_parser_never_panics_on_full_length(bytes in proptest::collection::vec(any::<u8>(), 1184)) {
        let _ = AttestationReport::from_bytes(&bytes);
        let _ = SnpVerifier::new(TrustAnchors::empty()).verify(&bytes, &[], &opts());
    }

    #[test]
    fn certificate_parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = AmdCertificate::from_der(&bytes, "fuzz");
        let _ = AmdCrl::from_der(&bytes);
        let _ = CertBundle::new().add_any(&bytes, "fuzz");
    }

    /// Mutations of a real certificate: parse or fail, never panic.
    #[test]
    fn mutated_vcek_never_panics(pos in 0usize..1400, val in any::<u8>(), cut in 0usize..1400) {
        let mut der = vector("snp-milan/vcek.der");
        if pos < der.len() { der[pos] = val; }
        der.truncate(cut.max(1));
        let _ = AmdCertificate::from_der(&der, "fuzz");
        let report = hex_vector("snp-milan/report.hex");
        let _ = SnpVerifier::new(TrustAnchors::amd()).without_cache().verify(&report, &[der], &opts());
    }
}

/// Exhaustively: flipping the low or the high bit of any byte of the signed
/// part is refused.
#[test]
fn every_byte_of_the_signed_part_is_covered() {
    let v = SnpVerifier::new(TrustAnchors::amd());
    let certs = [vector("snp-milan/vcek.der")];
    let report = hex_vector("snp-milan/report.hex");
    v.verify(&report, &certs, &opts()).unwrap();
    for pos in 0..SIGNED_LEN {
        for bit in [0x01u8, 0x80] {
            let mut r = report.clone();
            r[pos] ^= bit;
            assert!(
                v.verify(&r, &certs, &opts()).is_err(),
                "flipping bit {bit:#x} of byte {pos:#x} was not refused"
            );
        }
    }
}
