//! The real-hardware vectors of `../shared/testvectors` (see its
//! PROVENANCE.md), read in place.

use tee_attest_core::{CodedError, ErrorCode};
use tee_attest_snp::{
    parse_rfc3339, pem_blocks, AttestationReport, CertBundle, CertRole, Check, CrlStatus,
    Expectations, Product, RootOrigin, SigningKey, SnpError, SnpOptions, SnpVerifier, TrustAnchors,
    MAA_CLAIM_NAMES,
};
use tee_attest_testkit::{hex_vector, vector};

fn t(s: &str) -> u64 {
    parse_rfc3339(s).unwrap()
}

fn verifier() -> SnpVerifier {
    SnpVerifier::new(TrustAnchors::amd()).without_cache()
}

fn pem(rel: &str) -> Vec<Vec<u8>> {
    pem_blocks(&vector(rel), "CERTIFICATE")
}

const NOW_2025: &str = "2025-06-01T00:00:00Z";

#[test]
fn milan_report_verifies_with_vcek_and_builtin_ark() {
    let report = hex_vector("snp-milan/report.hex");
    let v = verifier()
        .verify(
            &report,
            &[vector("snp-milan/vcek.der")],
            &SnpOptions::at(t(NOW_2025)),
        )
        .unwrap();
    assert_eq!(v.product, Product::Milan);
    assert_eq!(v.signer, SigningKey::Vcek);
    assert_eq!(v.root, RootOrigin::Amd);
    assert_eq!(v.crl, CrlStatus::Absent);
    assert!(v.hwid_checked);
    assert_eq!(v.report.version, 2);
    let claims = v.maa_claims();
    assert_eq!(claims.len(), MAA_CLAIM_NAMES.len());
    assert_eq!(claims["x-ms-sevsnpvm-bootloader-svn"], 3);
    assert_eq!(claims["x-ms-sevsnpvm-snpfw-svn"], 8);
    assert_eq!(claims["x-ms-sevsnpvm-microcode-svn"], 0x73);
    assert_eq!(claims["x-ms-sevsnpvm-vmpl"], 0);
    assert_eq!(claims["x-ms-sevsnpvm-is-debuggable"], false);
    let all = v.claims();
    assert_eq!(all["x-tee-attest-snp-root"], "amd");
    assert_eq!(all["x-tee-attest-snp-crl"], "absent");
}

#[test]
fn builtin_milan_ark_equals_the_one_in_ask_ark_pem() {
    let certs = pem("snp-milan/ask-ark.pem");
    let mut bundle = CertBundle::new();
    for c in &certs {
        bundle.add_der(c).unwrap();
    }
    assert_eq!(bundle.roots.len(), 1);
    assert_eq!(bundle.intermediates.len(), 1);
    let anchors = TrustAnchors::amd();
    assert_eq!(
        anchors.amd_ark(Product::Milan).unwrap().der(),
        bundle.roots[0].der()
    );
    // And the full chain as carried verifies too.
    let mut all = vec![vector("snp-milan/vcek.der")];
    all.extend(certs);
    let v = verifier()
        .verify(
            &hex_vector("snp-milan/report.hex"),
            &all,
            &SnpOptions::at(t(NOW_2025)),
        )
        .unwrap();
    assert_eq!(v.root, RootOrigin::Amd);
}

#[test]
fn every_vector_agrees_with_the_sev_crate_parser() {
    use sev::firmware::guest::AttestationReport as SevReport;
    use sev::parser::ByteParser;
    let mut compared = 0;
    for report in [
        hex_vector("snp-milan/report.hex"),
        vector("snp-milan-2/report.bin"),
        vector("snp-milan-3/report.bin"),
        vector("snp-vlek/report.bin"),
    ] {
        let ours = AttestationReport::from_bytes(&report).unwrap();
        let Ok(theirs) = SevReport::from_bytes(&report) else {
            continue;
        };
        assert_eq!(ours.version, theirs.version);
        assert_eq!(ours.guest_svn, theirs.guest_svn);
        assert_eq!(ours.vmpl, theirs.vmpl);
        assert_eq!(ours.report_data, theirs.report_data);
        assert_eq!(ours.measurement, theirs.measurement);
        assert_eq!(ours.chip_id, theirs.chip_id);
        assert_eq!(ours.report_id, theirs.report_id);
        assert_eq!(ours.policy.0, u64::from(theirs.policy));
        let p = ours.product_hint().unwrap_or(Product::Milan);
        assert_eq!(
            ours.reported_tcb(p).microcode,
            theirs.reported_tcb.microcode
        );
        assert_eq!(ours.reported_tcb(p).snp, theirs.reported_tcb.snp);
        assert_eq!(
            ours.reported_tcb(p).bootloader,
            theirs.reported_tcb.bootloader
        );
        compared += 1;
    }
    // sev refuses the VLEK report (masked chip id in a v3 report is fine, but
    // a v2 with a masked chip id is not): at least the three Milan ones.
    assert!(compared >= 3, "sev parsed only {compared} reports");
}

#[test]
fn turin_chain_validates_against_builtin_turin_ark() {
    let mut bundle = CertBundle::new();
    bundle.add_der(&vector("snp-turin/vcek.der")).unwrap();
    for c in pem("snp-turin/ask-ark.pem") {
        bundle.add_der(&c).unwrap();
    }
    let vcek = &bundle.leaves[0];
    assert_eq!(vcek.role(), CertRole::Vcek);
    assert_eq!(vcek.product(), Some(Product::Turin));
    assert_eq!(vcek.amd().hwid.as_ref().unwrap().len(), 8);
    assert!(vcek.amd().tcb.fmc.is_some());
    let anchors = TrustAnchors::amd();
    let ark = anchors.amd_ark(Product::Turin).unwrap();
    assert_eq!(ark.der(), bundle.roots[0].der());
    let ask = &bundle.intermediates[0];
    ark.verify_signed_by(ark).unwrap();
    ask.verify_signed_by(ark).unwrap();
    vcek.verify_signed_by(ask).unwrap();
    // Not by the Milan ARK.
    assert!(ask
        .verify_signed_by(anchors.amd_ark(Product::Milan).unwrap())
        .is_err());
}

#[test]
fn milan_2_and_3_verify() {
    for dir in ["snp-milan-2", "snp-milan-3"] {
        let v = verifier()
            .verify(
                &vector(&format!("{dir}/report.bin")),
                &[vector(&format!("{dir}/vcek.der"))],
                &SnpOptions::at(t(NOW_2025)),
            )
            .unwrap_or_else(|e| panic!("{dir}: {e}"));
        assert_eq!(v.product, Product::Milan);
        assert_eq!(v.root, RootOrigin::Amd);
    }
}

#[test]
fn milan_2_must_fail_vceks_are_refused() {
    for bad in ["vcek-invalid-legacy.der", "vcek-invalid-new.der"] {
        let err = verifier()
            .verify(
                &vector("snp-milan-2/report.bin"),
                &[vector(&format!("snp-milan-2/{bad}"))],
                &SnpOptions::at(t(NOW_2025)),
            )
            .expect_err(bad);
        assert_eq!(err.code(), ErrorCode::AttestationFailed, "{bad}: {err}");
        eprintln!("{bad}: {err}");
    }
}

#[test]
fn vlek_verifies_inside_its_validity_and_is_refused_today() {
    let mut certs = vec![vector("snp-vlek/vlek.der")];
    certs.extend(pem("snp-vlek/asvk-ark.pem"));
    let report = vector("snp-vlek/report.bin");
    let v = verifier()
        .verify(&report, &certs, &SnpOptions::at(t("2025-06-01T00:00:00Z")))
        .unwrap();
    assert_eq!(v.signer, SigningKey::Vlek);
    assert!(!v.hwid_checked);
    assert_eq!(v.report.vmpl, 1);
    assert_eq!(v.report.version, 3);

    let err = SnpVerifier::new(TrustAnchors::amd())
        .verify(&report, &certs, &SnpOptions::default())
        .unwrap_err();
    assert_eq!(err.check(), Some(Check::Expired), "{err}");
    assert!(err.to_string().contains("VLEK"), "{err}");

    // The VLEK alone, ASVK missing: the chain is incomplete.
    let err = verifier()
        .verify(
            &report,
            &certs[..1],
            &SnpOptions::at(t("2025-06-01T00:00:00Z")),
        )
        .unwrap_err();
    assert_eq!(err.check(), Some(Check::ChainIncomplete), "{err}");
}

#[test]
fn vlek_report_refuses_a_vcek() {
    let err = verifier()
        .verify(
            &vector("snp-vlek/report.bin"),
            &[vector("snp-milan/vcek.der")],
            &SnpOptions::at(t(NOW_2025)),
        )
        .unwrap_err();
    assert_eq!(err.check(), Some(Check::SignerKind), "{err}");
}

#[test]
fn no_vcek_is_code_17() {
    let err = verifier()
        .verify(
            &hex_vector("snp-milan/report.hex"),
            &[],
            &SnpOptions::at(t(NOW_2025)),
        )
        .unwrap_err();
    assert!(matches!(err, SnpError::EmptyVcek(_)));
    assert_eq!(err.code(), ErrorCode::EmptyVcekCert);
}

#[test]
fn validity_is_checked_at_the_given_time() {
    let report = hex_vector("snp-milan/report.hex");
    let certs = [vector("snp-milan/vcek.der")];
    let err = verifier()
        .verify(&report, &certs, &SnpOptions::at(t("2031-01-01T00:00:00Z")))
        .unwrap_err();
    assert_eq!(err.check(), Some(Check::Expired));
    let err = verifier()
        .verify(&report, &certs, &SnpOptions::at(t("2020-01-01T00:00:00Z")))
        .unwrap_err();
    assert_eq!(err.check(), Some(Check::NotYetValid));
}

#[test]
fn wrong_vcek_is_refused_by_signature() {
    let err = verifier()
        .verify(
            &hex_vector("snp-milan/report.hex"),
            &[vector("snp-milan-3/vcek.der")],
            &SnpOptions::at(t(NOW_2025)),
        )
        .unwrap_err();
    assert_eq!(err.check(), Some(Check::ReportSignature), "{err}");
}

#[test]
fn expectations_are_checked() {
    let report = hex_vector("snp-milan/report.hex");
    let certs = [vector("snp-milan/vcek.der")];
    let mut opts = SnpOptions::at(t(NOW_2025));
    opts.expect = Expectations::default();
    opts.expect.vmpl = Some(1);
    let err = verifier().verify(&report, &certs, &opts).unwrap_err();
    assert_eq!(err.check(), Some(Check::Vmpl));
    let mut opts = SnpOptions::at(t(NOW_2025));
    opts.expect.vmpl = Some(0);
    opts.expect.debug_allowed = Some(false);
    opts.expect.migration_allowed = Some(false);
    opts.expect.report_data_prefix = Some(vec![0xff; 4]);
    let err = verifier().verify(&report, &certs, &opts).unwrap_err();
    assert_eq!(err.check(), Some(Check::ReportData));
    opts.expect.report_data_prefix = None;
    verifier().verify(&report, &certs, &opts).unwrap();
    opts.require_crl = true;
    let err = verifier().verify(&report, &certs, &opts).unwrap_err();
    assert_eq!(err.check(), Some(Check::CrlMissing));
}

#[test]
fn extra_roots_are_not_trusted_by_default_and_are_reported() {
    // Trust anchors with no genuine roots: the Milan chain is refused.
    let anchors = TrustAnchors::empty();
    let err = SnpVerifier::new(anchors)
        .verify(
            &hex_vector("snp-milan/report.hex"),
            &[vector("snp-milan/vcek.der")],
            &SnpOptions::at(t(NOW_2025)),
        )
        .unwrap_err();
    assert_eq!(err.check(), Some(Check::ChainIncomplete), "{err}");
    // An "extra" root (here AMD's own Milan ARK added as extra) is reported as extra.
    let certs = pem("snp-milan/ask-ark.pem");
    let ark = certs
        .iter()
        .find(|c| {
            tee_attest_snp::AmdCertificate::from_der(c, "x")
                .unwrap()
                .role()
                == CertRole::Ark
        })
        .unwrap();
    let anchors = TrustAnchors::empty().with_extra_root(ark).unwrap();
    let mut all = vec![vector("snp-milan/vcek.der")];
    all.extend(certs.clone());
    let v = SnpVerifier::new(anchors)
        .verify(
            &hex_vector("snp-milan/report.hex"),
            &all,
            &SnpOptions::at(t(NOW_2025)),
        )
        .unwrap();
    assert_eq!(v.root, RootOrigin::Extra);
    assert_eq!(v.claims()["x-tee-attest-snp-root"], "extra");
}

#[test]
fn warm_cache_gives_the_same_answer() {
    let v = SnpVerifier::new(TrustAnchors::amd());
    let report = hex_vector("snp-milan/report.hex");
    let certs = [vector("snp-milan/vcek.der")];
    let opts = SnpOptions::at(t(NOW_2025));
    let a = v.verify(&report, &certs, &opts).unwrap();
    assert!(!a.chain_cached);
    let b = v.verify(&report, &certs, &opts).unwrap();
    assert!(b.chain_cached);
    assert_eq!(a.claims(), b.claims());
    // A tampered report is still refused with the cached chain.
    let mut bad = report.clone();
    bad[0x90] ^= 1;
    let err = v.verify(&bad, &certs, &opts).unwrap_err();
    assert_eq!(err.check(), Some(Check::ReportSignature));
    // And the cached chain does not outlive its validity.
    let err = v
        .verify(&report, &certs, &SnpOptions::at(t("2031-01-01T00:00:00Z")))
        .unwrap_err();
    assert_eq!(err.check(), Some(Check::Expired));
}

#[test]
fn azure_vcek_chain_parses_and_validates() {
    let mut bundle = CertBundle::new();
    for c in pem("azure-snp/vcek-chain.pem") {
        bundle.add_der(&c).unwrap();
    }
    assert_eq!(bundle.leaves.len(), 1);
    assert_eq!(bundle.intermediates.len(), 1);
    assert_eq!(bundle.roots.len(), 1);
    let ark = TrustAnchors::amd();
    let ark = ark.amd_ark(Product::Milan).unwrap();
    assert_eq!(ark.der(), bundle.roots[0].der());
    bundle.intermediates[0].verify_signed_by(ark).unwrap();
    bundle.leaves[0]
        .verify_signed_by(&bundle.intermediates[0])
        .unwrap();
}

/// A CRL that names the Milan ARK as issuer but is not signed by it.
fn forged_crl(issuer_product: Product) -> Vec<u8> {
    use der::{Decode, Encode};
    use x509_cert::crl::{CertificateList, RevokedCert, TbsCertList};
    let anchors = TrustAnchors::amd();
    let ark =
        x509_cert::Certificate::from_der(anchors.amd_ark(issuer_product).unwrap().der()).unwrap();
    let vcek = x509_cert::Certificate::from_der(&vector("snp-milan/vcek.der")).unwrap();
    let validity = vcek.tbs_certificate.validity;
    let tbs = TbsCertList {
        version: x509_cert::Version::V2,
        signature: ark.signature_algorithm.clone(),
        issuer: ark.tbs_certificate.subject.clone(),
        this_update: validity.not_before,
        next_update: Some(validity.not_after),
        revoked_certificates: Some(vec![RevokedCert {
            serial_number: vcek.tbs_certificate.serial_number.clone(),
            revocation_date: validity.not_before,
            crl_entry_extensions: None,
        }]),
        crl_extensions: None,
    };
    CertificateList {
        tbs_cert_list: tbs,
        signature_algorithm: ark.signature_algorithm.clone(),
        signature: der::asn1::BitString::from_bytes(&[0x5a; 512]).unwrap(),
    }
    .to_der()
    .unwrap()
}

#[test]
fn a_crl_at_hand_is_checked_and_a_forged_one_refused() {
    let report = hex_vector("snp-milan/report.hex");
    let certs = [vector("snp-milan/vcek.der")];
    let mut opts = SnpOptions::at(t(NOW_2025));
    opts.crls = vec![forged_crl(Product::Milan)];
    let err = verifier().verify(&report, &certs, &opts).unwrap_err();
    assert_eq!(err.check(), Some(Check::Crl), "{err}");
    // A CRL of another ARK does not apply: revocation stays unchecked.
    opts.crls = vec![forged_crl(Product::Turin)];
    let v = verifier().verify(&report, &certs, &opts).unwrap();
    assert_eq!(v.crl, CrlStatus::Absent);
    // The CRL can also come inside the certificate list (DER).
    let err = verifier()
        .verify(
            &report,
            &[certs[0].clone(), forged_crl(Product::Milan)],
            &SnpOptions::at(t(NOW_2025)),
        )
        .unwrap_err();
    assert_eq!(err.check(), Some(Check::Crl), "{err}");
}

/// A verifier whose cache already holds a VCEK's validated chain decides
/// as a fresh one would when other certificates come with the report: a
/// damaged ASK or ARK is refused, not skipped because the VCEK is known
/// (found by the conformance suite).
#[test]
fn a_warm_cache_does_not_skip_damaged_certificates_sent_with_the_report() {
    let report = hex_vector("snp-milan/report.hex");
    let vcek = vector("snp-milan/vcek.der");
    let ask_ark = pem("snp-milan/ask-ark.pem");
    let opts = SnpOptions::at(t(NOW_2025));
    let warm = SnpVerifier::new(TrustAnchors::amd());
    let mut chain = vec![vcek.clone()];
    chain.extend(ask_ark.iter().cloned());
    warm.verify(&report, &chain, &opts).unwrap();
    // The same chain again, and the VCEK alone: the warm path.
    warm.verify(&report, &chain, &opts).unwrap();
    warm.verify(&report, std::slice::from_ref(&vcek), &opts)
        .unwrap();
    for (which, pos) in [(1usize, 15usize), (1, 400), (2, 15), (2, 900)] {
        let mut damaged = chain.clone();
        let cert = &mut damaged[which];
        let p = pos.min(cert.len() - 1);
        cert[p] ^= 0x01;
        let fresh = verifier().verify(&report, &damaged, &opts);
        let cached = warm.verify(&report, &damaged, &opts);
        assert!(
            fresh.is_err(),
            "a fresh verifier refuses cert {which} flipped at {p}"
        );
        assert!(
            cached.is_err(),
            "a warm verifier must refuse cert {which} flipped at {p} as a fresh one does"
        );
    }
}
