//! The real Azure TDX HCL report (`azure-tdx/hcl-report.bin`, PROVENANCE.md)
//! binds its TDREPORT; and a TD quote is matched against a TDREPORT field
//! by field.

mod common;

use aws_lc_rs::digest;
use tee_attest_azure::{
    check_quote_matches, AzureError, HashType, HclReport, ReportType, AK_KID, EK_KID,
    HW_REPORT_OFFSET, TDREPORT_REPORTDATA_OFFSET, VAR_DATA_OFFSET,
};
use tee_attest_core::CodedError;
use tee_attest_tdx::{Quote, TdReport};
use tee_attest_testkit::vector;

fn hcl_bytes() -> Vec<u8> {
    vector("azure-tdx/hcl-report.bin")
}

#[test]
fn the_real_azure_tdx_hcl_report_binds_its_tdreport() {
    let hcl = HclReport::from_bytes(&hcl_bytes()).unwrap();
    assert!(hcl.is_tdx());
    assert_eq!(hcl.report_type(), ReportType::Tdx);
    assert_eq!(
        hcl.header.version, 2,
        "TDX HCL reports carry header version 2"
    );
    assert_eq!(hcl.hash_type(), Some(HashType::Sha256));
    assert_eq!(hcl.igvm.var_data_size, 1202);

    // The TDREPORT: the first 1024 bytes of the slot, zeros after it.
    let td = hcl.td_report().unwrap();
    assert!(td.is_tdx());
    assert_eq!(td.raw(), &hcl.hw_report[..1024]);
    assert!(hcl.hw_report[1024..].iter().all(|&b| b == 0));
    // Its REPORTMACSTRUCT hashes cover its TEE_TCB_INFO and TDINFO.
    td.check_hashes().unwrap();

    // What it binds, exactly: REPORTDATA[0..32] = SHA-256(var data), and
    // REPORTDATA[32..64] is zero (not the SHA-512 some descriptions say).
    let sha256 = digest::digest(&digest::SHA256, &hcl.var_data);
    assert_eq!(&td.report_data[..32], sha256.as_ref());
    assert_eq!(td.report_data[32..], [0u8; 32]);
    let sha512 = digest::digest(&digest::SHA512, &hcl.var_data);
    assert_ne!(&td.report_data[..], sha512.as_ref());
    assert_eq!(hcl.report_data(), Some(&td.report_data[..]));
    hcl.check_binding().unwrap();

    // The variable data: the vTPM's AK and EK, the VM configuration, and
    // the user data the report was refreshed with (64 zero bytes here).
    let vd = hcl.var_data().unwrap();
    assert_eq!(vd.ak_pub().unwrap().e, vec![1, 0, 1]);
    assert_eq!(vd.ak_pub().unwrap().n.len(), 256);
    assert!(vd.key(AK_KID).is_some() && vd.key(EK_KID).is_some());
    assert_eq!(vd.user_data(), Some(vec![0u8; 64]));
    assert_eq!(
        vd.vm_configuration().unwrap()["vmUniqueId"],
        "D270E56B-F668-4990-A5BC-9B624576841D"
    );
}

#[test]
fn a_changed_byte_breaks_the_binding_or_the_tdreport() {
    // The variable data.
    let mut b = hcl_bytes();
    b[VAR_DATA_OFFSET + 100] ^= 0x01;
    let hcl = HclReport::from_bytes(&b).unwrap();
    let err = hcl.check_binding().unwrap_err();
    assert!(matches!(err, AzureError::Binding(_)), "{err}");
    assert_eq!(err.code().number(), 6);
    // REPORTDATA.
    let mut b = hcl_bytes();
    b[HW_REPORT_OFFSET + TDREPORT_REPORTDATA_OFFSET] ^= 0x80;
    let hcl = HclReport::from_bytes(&b).unwrap();
    assert!(hcl.check_binding().is_err());
    assert!(
        hcl.td_report().is_ok(),
        "REPORTDATA is not under the two hashes"
    );
    // TDINFO (MRTD): its hash in REPORTMACSTRUCT no longer covers it.
    let mut b = hcl_bytes();
    b[HW_REPORT_OFFSET + 512 + 16] ^= 0x01;
    let err = HclReport::from_bytes(&b).unwrap().td_report().unwrap_err();
    assert_eq!(err.code().number(), 20, "{err}");
    assert!(err.to_string().contains("tee_info_hash"), "{err}");
    // Not a TDX report type.
    let mut b = hcl_bytes();
    b[HW_REPORT_OFFSET] = 0x00;
    let err = HclReport::from_bytes(&b).unwrap().td_report().unwrap_err();
    assert_eq!(err.code().number(), 20, "{err}");
    assert!(err.to_string().contains("not TDX"), "{err}");
    // An SNP HCL report has no TDREPORT: code 8.
    let snp = HclReport::from_bytes(&vector("azure-snp/hcl-report.bin")).unwrap();
    assert!(!snp.is_tdx());
    assert_eq!(snp.td_report().unwrap_err().code().number(), 8);
}

#[test]
fn a_quote_is_matched_to_its_tdreport_field_by_field() {
    let hcl = HclReport::from_bytes(&hcl_bytes()).unwrap();
    let td = hcl.td_report().unwrap();
    let quote = Quote::parse(&common::quote_for(td.raw())).unwrap();
    check_quote_matches(&quote, &td).unwrap();

    // The unpatched vector quote is of another TD.
    let other = Quote::parse(&vector("tdx-dcap/quote.bin")).unwrap();
    let err = check_quote_matches(&other, &td).unwrap_err();
    assert_eq!(err.code().number(), 6);
    assert!(err.to_string().contains("tdquote.report_data"), "{err}");

    // Each compared field, changed in the quote, is named.
    let base = common::quote_for(td.raw());
    for (offset, check) in [
        (520, "tdquote.report_data"),
        (583, "tdquote.report_data"),
        (136, "tdquote.mr_td"),
        (328, "tdquote.rtmr0"),
        (328 + 3 * 48, "tdquote.rtmr3"),
        (120, "tdquote.td_attributes"),
        (128, "tdquote.xfam"),
        (184, "tdquote.mr_config_id"),
        (232, "tdquote.mr_owner"),
        (280, "tdquote.mr_owner_config"),
        (0, "tdquote.tee_tcb_svn"),
        (16, "tdquote.mr_seam"),
        (64, "tdquote.mr_signer_seam"),
        (112, "tdquote.seam_attributes"),
    ] {
        let mut q = base.clone();
        q[48 + offset] ^= 0x01;
        let err = check_quote_matches(&Quote::parse(&q).unwrap(), &td).unwrap_err();
        assert_eq!(err.code().number(), 6);
        assert!(err.to_string().contains(check), "{check}: {err}");
    }

    // An SGX quote is no TD's.
    let sgx = Quote::parse(&vector("sgx-dcap/quote.bin")).unwrap();
    let err = check_quote_matches(&sgx, &td).unwrap_err();
    assert!(err.to_string().contains("tdquote.tee_type"), "{err}");
}

#[test]
fn tdreports_parse_by_the_tdx_crate_alone() {
    // The same bytes, without the HCL around them.
    let hcl = HclReport::from_bytes(&hcl_bytes()).unwrap();
    let td = TdReport::parse(hcl.tdreport().unwrap()).unwrap();
    assert_eq!(td, hcl.td_report().unwrap());
}
