//! HCL reports from real Azure CVMs (../shared/testvectors, PROVENANCE.md).

use tee_attest_azure::{
    verify_hcl_snp, AzureError, HashType, HclReport, Jwk, ReportType, VarData, AK_KID,
};
use tee_attest_core::{CodedError, ErrorCode};
use tee_attest_snp::{
    parse_rfc3339, pem_blocks, Check, RootOrigin, SnpOptions, SnpVerifier, TrustAnchors,
};
use tee_attest_testkit::vector;

fn at() -> SnpOptions {
    SnpOptions::at(parse_rfc3339("2025-06-01T00:00:00Z").unwrap())
}

fn verifier() -> SnpVerifier {
    SnpVerifier::new(TrustAnchors::amd())
}

#[test]
fn azure_hcl_report_parses_binds_and_yields_the_ak() {
    let bytes = vector("azure-snp/hcl-report.bin");
    let hcl = HclReport::from_bytes(&bytes).unwrap();
    assert_eq!(hcl.header.version, 1);
    assert_eq!(hcl.header.report_size, 0x71b);
    assert_eq!(hcl.header.request_type, 2);
    assert_eq!(hcl.igvm.data_size, 603);
    assert_eq!(hcl.igvm.version, 1);
    assert_eq!(hcl.report_type(), ReportType::Snp);
    assert_eq!(hcl.hash_type(), Some(HashType::Sha256));
    assert_eq!(hcl.igvm.var_data_size, 583);
    hcl.check_binding().unwrap();
    let vd = hcl.var_data().unwrap();
    let ak = vd.ak_pub().unwrap();
    assert_eq!(ak.n.len(), 256);
    assert_eq!(ak.e, vec![1, 0, 1]);
    assert!(vd.vm_configuration().is_some());
    let snp = hcl.snp_report().unwrap();
    assert_eq!(snp.version, 2);
    // Byte-exact: the builder reproduces the NV blob.
    assert_eq!(hcl.to_nv_bytes(bytes.len()), bytes);
}

#[test]
fn every_hcl_vector_round_trips_and_binds() {
    for f in [
        "azure-snp/hcl-report.bin",
        "azure-snp-2/hcl-report.bin",
        "azure-snp-full/hcl-report.bin",
        "azure-tdx/hcl-report.bin",
    ] {
        let bytes = vector(f);
        let hcl = HclReport::from_bytes(&bytes).unwrap_or_else(|e| panic!("{f}: {e}"));
        hcl.check_binding().unwrap_or_else(|e| panic!("{f}: {e}"));
        assert_eq!(hcl.to_nv_bytes(bytes.len()), bytes, "{f}");
        assert!(hcl.var_data().unwrap().ak_pub().is_ok(), "{f}");
        // Rebuilt from its parts with the builder: same bytes.
        let rebuilt = HclReport::new(
            hcl.report_type(),
            hcl.hash_type().unwrap(),
            &hcl.hw_report,
            hcl.var_data.clone(),
        )
        .unwrap();
        let mut expect = hcl.clone();
        expect.header.version = 1;
        let mut rebuilt_v = rebuilt.clone();
        rebuilt_v.header.version = 1;
        assert_eq!(rebuilt_v, expect, "{f}");
    }
}

#[test]
fn tdx_hcl_report_is_known_by_type() {
    let hcl = HclReport::from_bytes(&vector("azure-tdx/hcl-report.bin")).unwrap();
    assert_eq!(hcl.report_type(), ReportType::Tdx);
    assert_eq!(hcl.tdreport().unwrap().len(), 1024);
    let err = hcl.snp_report().unwrap_err();
    assert!(matches!(err, AzureError::ReportType { .. }));
}

#[test]
fn azure_vcek_chain_does_not_sign_the_azure_report() {
    let certs = pem_blocks(&vector("azure-snp/vcek-chain.pem"), "CERTIFICATE");
    let err = verify_hcl_snp(
        &vector("azure-snp/hcl-report.bin"),
        &verifier(),
        &certs,
        &at(),
    )
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::AttestationFailed);
    match &err {
        AzureError::Snp(e) => assert_eq!(e.check(), Some(Check::ReportSignature), "{e}"),
        other => panic!("{other}"),
    }
}

#[test]
fn azure_snp_2_verifies_end_to_end() {
    let certs = pem_blocks(&vector("azure-snp-2/vcek-chain.pem"), "CERTIFICATE");
    let v = verify_hcl_snp(
        &vector("azure-snp-2/hcl-report.bin"),
        &verifier(),
        &certs,
        &at(),
    )
    .unwrap();
    assert_eq!(v.snp.root, RootOrigin::Amd);
    assert_eq!(v.ak_pub.e, vec![1, 0, 1]);
    let claims = v.claims();
    assert_eq!(claims["x-ms-attestation-type"], "sevsnpvm");
    assert!(claims["x-ms-runtime"]["keys"].is_array());
    assert_eq!(claims["x-ms-sevsnpvm-vmpl"], 0);
}

#[test]
fn azure_snp_full_verifies_with_builtin_ask_ark() {
    let v = verify_hcl_snp(
        &vector("azure-snp-full/hcl-report.bin"),
        &verifier(),
        &[vector("azure-snp-full/vcek.der")],
        &SnpOptions::default(),
    )
    .unwrap();
    assert_eq!(v.snp.report.version, 3);
    assert_eq!(v.snp.root, RootOrigin::Amd);
    assert_eq!(v.ak_pub.n.len(), 256);
    // Without the VCEK: code 17.
    let err = verify_hcl_snp(
        &vector("azure-snp-full/hcl-report.bin"),
        &verifier(),
        &[],
        &SnpOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::EmptyVcekCert);
}

#[test]
fn tampered_var_data_breaks_the_binding() {
    let mut bytes = vector("azure-snp-2/hcl-report.bin");
    let hcl = HclReport::from_bytes(&bytes).unwrap();
    let pos = 1236 + hcl.var_data.len() / 2;
    bytes[pos] ^= 0x01;
    let certs = pem_blocks(&vector("azure-snp-2/vcek-chain.pem"), "CERTIFICATE");
    let err = verify_hcl_snp(&bytes, &verifier(), &certs, &at()).unwrap_err();
    assert!(matches!(err, AzureError::Binding(_)), "{err}");
    assert_eq!(err.code(), ErrorCode::AttestationFailed);
}

#[test]
fn var_data_encoding_matches_the_hcl_layout() {
    let vd = VarData::from_bytes(&vector("azure-snp/var-data-example.json")).unwrap();
    let ak = vd.key(AK_KID).unwrap().clone();
    let ek = vd.key("HCLEkPub").unwrap().clone();
    let ud = vd.user_data().unwrap();
    assert_eq!(ud.len(), 64);
    let enc = VarData::encode(&[ak.clone(), ek], vd.vm_configuration(), Some(&ud));
    let back = VarData::from_bytes(&enc).unwrap();
    assert_eq!(back.json(), vd.json());
    // Key fields come out in the HCL's order.
    let text = String::from_utf8(enc).unwrap();
    assert!(text.starts_with(
        r#"{"keys":[{"kid":"HCLAkPub","key_ops":["sign"],"kty":"RSA","e":"AQAB","n":""#
    ));
    let raw = ak.rsa_public().unwrap();
    assert_eq!(Jwk::rsa(AK_KID, &["sign"], &raw.n, &raw.e), ak);
}
