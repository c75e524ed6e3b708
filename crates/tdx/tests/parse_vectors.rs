//! Every real TDX/SGX vector parses (quotes, the TDREPORTs, the PCK chains
//! inside the quotes and their SGX extensions).

use tee_attest_tdx::pki::parse_pem_chain;
use tee_attest_tdx::{Quote, QuoteBody, TdReport};
use tee_attest_testkit::vector;

/// (vector, version, TEE is TDX, body type).
const QUOTES: &[(&str, u16, bool, u16)] = &[
    ("tdx-dcap/quote.bin", 4, true, 2),
    ("tdx-dcap/quote-outdated.bin", 5, true, 3),
    ("sgx-dcap/quote.bin", 3, false, 1),
    ("tdx-go/tdx_prod_quote_SPR_E4.dat", 4, true, 2),
    ("tdx-go/quote_v5_sample.dat", 5, true, 3),
    ("tdx-go/ccel_cos-113-tdx-quote.dat", 4, true, 2),
    ("tdx-trustee/tdx_quote_4.dat", 4, true, 2),
    ("tdx-trustee/tdx_quote_5.dat", 5, true, 3),
    ("tdx-trustee/tdx_quote_6.dat", 4, true, 2),
];

#[test]
fn every_quote_vector_parses_with_its_pck_chain() {
    for &(name, version, tdx, body_type) in QUOTES {
        let bytes = vector(name);
        let q = Quote::parse(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(q.header.version, version, "{name}");
        assert_eq!(q.is_tdx(), tdx, "{name}");
        assert_eq!(q.body.body_type(), body_type, "{name}");
        assert!(q.declared_len() <= bytes.len(), "{name}");
        // Zero padding (or, in one vector, a text trailer) after the declared end.
        let qe = q
            .qe_certification()
            .unwrap_or_else(|| panic!("{name}: no QE report"));
        assert_eq!(qe.qe_auth_data.len(), 32, "{name}");
        let pem = q
            .pck_chain_pem()
            .unwrap_or_else(|| panic!("{name}: no PCK chain"));
        let chain = parse_pem_chain(pem, name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(chain.len(), 3, "{name}");
        assert_eq!(chain[0].subject_cn(), "Intel SGX PCK Certificate", "{name}");
        assert_eq!(chain[2].subject_cn(), "Intel SGX Root CA", "{name}");
        let ext = chain[0]
            .sgx_extensions()
            .unwrap_or_else(|| panic!("{name}: no SGX ext"));
        assert_eq!(ext.pce_id, [0, 0], "{name}");
        assert!(chain[0].verify_signed_by(&chain[1]).is_ok(), "{name}");
        assert!(chain[1].verify_signed_by(&chain[2]).is_ok(), "{name}");
        if let QuoteBody::Td15(t) = &q.body {
            assert_eq!(q.signed_bytes().len(), 48 + 6 + 648, "{name}");
            let _ = t.tee_tcb_svn2;
        }
    }
}

#[test]
fn fmspcs_are_those_the_collateral_names() {
    let fmspc = |name: &str| {
        let q = Quote::parse(&vector(name)).expect("parses");
        let chain = parse_pem_chain(q.pck_chain_pem().expect("chain"), name).expect("chain");
        hex::encode_upper(chain[0].sgx_extensions().expect("ext").fmspc)
    };
    assert_eq!(fmspc("tdx-dcap/quote.bin"), "B0C06F000000");
    assert_eq!(fmspc("tdx-go/tdx_prod_quote_SPR_E4.dat"), "50806F000000");
    assert_eq!(fmspc("tdx-trustee/tdx_quote_6.dat"), "00A06D080000");
}

#[test]
fn tdreports_parse() {
    // The Azure TDX HCL report carries a TDREPORT at offset 32 whose
    // hashes cover TEE_TCB_INFO and TDINFO.
    let hcl = vector("azure-tdx/hcl-report.bin");
    let r = TdReport::parse(&hcl[32..]).expect("Azure TDREPORT");
    assert!(r.is_tdx());
    r.check_hashes().expect("Azure TDREPORT hashes");
    // go-tdx-guest's report.dat is 1024 bytes and parses, but it is a
    // TDREPORT missing its first 48 bytes (its TDINFO hash, at offset 32,
    // covers bytes 464..976): the hash check refuses it.
    let raw = vector("tdx-go/report.dat");
    assert_eq!(raw.len(), 1024);
    let r = TdReport::parse(&raw).expect("parses");
    assert!(!r.is_tdx());
    assert!(r.check_hashes().is_err());
    let shifted = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA384, &raw[464..976]);
    assert_eq!(shifted.as_ref(), &raw[32..80]);
}
