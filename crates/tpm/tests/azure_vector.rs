//! The real Azure vTPM quote (../shared/testvectors/azure-snp/tpm-quote,
//! nonce "challenge") verifies with the verify module, and nothing else
//! does.

use proptest::prelude::*;
use tee_attest_core::{CodedError, ErrorCode};
use tee_attest_testkit::vector;
use tee_attest_tpm::verify::{verify_quote, Attest, Attested, RsaPublic, TPM_ALG_SHA256};

struct QuoteVector {
    attest: Vec<u8>,
    signature: Vec<u8>,
    ak: RsaPublic,
    pcrs: Vec<(u32, Vec<u8>)>,
}

fn load() -> QuoteVector {
    let dir = "azure-snp/tpm-quote";
    let attest = vector(&format!("{dir}/quote-attest.bin"));
    let all = vector(&format!("{dir}/pcrs-sha256.bin"));
    assert_eq!(all.len(), 24 * 32);
    let parsed = Attest::parse(&attest).expect("the real quote parses");
    let Attested::Quote { selection, .. } = parsed.attested else {
        panic!("not a quote")
    };
    assert_eq!(selection.len(), 1);
    assert_eq!(selection[0].hash, TPM_ALG_SHA256);
    let pcrs = selection[0]
        .pcrs
        .iter()
        .map(|&i| (i, all[i as usize * 32..(i as usize + 1) * 32].to_vec()))
        .collect();
    QuoteVector {
        attest,
        signature: vector(&format!("{dir}/quote-signature.bin")),
        ak: RsaPublic::from_pem(&String::from_utf8(vector(&format!("{dir}/ak-pub.pem"))).unwrap())
            .unwrap(),
        pcrs,
    }
}

#[test]
fn the_real_azure_quote_verifies() {
    let v = load();
    let ok = verify_quote(&v.attest, &v.signature, &v.ak, b"challenge", &v.pcrs).unwrap();
    assert!(!ok.pcrs.is_empty());
    assert_eq!(ok.attest.extra_data, b"challenge");
}

fn refused(
    v: &QuoteVector,
    attest: &[u8],
    sig: &[u8],
    nonce: &[u8],
    pcrs: &[(u32, Vec<u8>)],
) -> String {
    let err = verify_quote(attest, sig, &v.ak, nonce, pcrs).expect_err("must be refused");
    assert!(
        matches!(
            err.code(),
            ErrorCode::AttestationFailed | ErrorCode::ReportParsingFailed
        ),
        "{err}"
    );
    err.to_string()
}

#[test]
fn wrong_nonce_pcr_or_key_is_refused_naming_the_check() {
    let v = load();
    let msg = refused(&v, &v.attest, &v.signature, b"challengf", &v.pcrs);
    assert!(msg.contains("quote.nonce"), "{msg}");

    let mut pcrs = v.pcrs.clone();
    pcrs[0].1[0] ^= 1;
    let msg = refused(&v, &v.attest, &v.signature, b"challenge", &pcrs);
    assert!(msg.contains("quote.pcr-digest"), "{msg}");

    let msg = refused(&v, &v.attest, &v.signature, b"challenge", &v.pcrs[1..]);
    assert!(msg.contains("quote.pcr-selection"), "{msg}");

    let mut n = v.ak.n.clone();
    n[10] ^= 0x40;
    let other = RsaPublic::new(&n, &v.ak.e);
    let err = verify_quote(&v.attest, &v.signature, &other, b"challenge", &v.pcrs).unwrap_err();
    assert!(err.to_string().contains("quote.signature"), "{err}");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every single-byte change of the attest blob is refused.
    #[test]
    fn any_changed_attest_byte_is_refused(pos in 0usize..122, flip in 1u8..=255) {
        let v = load();
        prop_assume!(pos < v.attest.len());
        let mut attest = v.attest.clone();
        attest[pos] ^= flip;
        prop_assert!(verify_quote(&attest, &v.signature, &v.ak, b"challenge", &v.pcrs).is_err());
    }

    /// Every single-byte change of the signature is refused.
    #[test]
    fn any_changed_signature_byte_is_refused(pos in 0usize..256, flip in 1u8..=255) {
        let v = load();
        let mut sig = v.signature.clone();
        sig[pos] ^= flip;
        prop_assert!(verify_quote(&v.attest, &sig, &v.ak, b"challenge", &v.pcrs).is_err());
    }

    /// Arbitrary bytes never panic the parsers.
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
        let _ = Attest::parse(&bytes);
        let _ = tee_attest_tpm::verify::TpmPublic::parse_tpm2b(&bytes);
        let v = load();
        let _ = verify_quote(&bytes, &bytes, &v.ak, b"challenge", &v.pcrs);
    }

    /// Mutated real quotes never panic the parser.
    #[test]
    fn mutated_quotes_never_panic(cut in 0usize..122, pos in 0usize..122, byte in any::<u8>()) {
        let v = load();
        let mut attest = v.attest.clone();
        if pos < attest.len() { attest[pos] = byte; }
        attest.truncate(cut);
        let _ = Attest::parse(&attest);
    }
}

/// Exhaustive over positions: every byte of the attest blob and of the
/// signature, changed three ways, is refused.
#[test]
fn every_position_changed_is_refused() {
    let v = load();
    for flip in [0x01u8, 0x80, 0xff] {
        for pos in 0..v.attest.len() {
            let mut attest = v.attest.clone();
            attest[pos] ^= flip;
            assert!(
                verify_quote(&attest, &v.signature, &v.ak, b"challenge", &v.pcrs).is_err(),
                "attest byte {pos} ^ {flip:#x} accepted"
            );
        }
        for pos in 0..v.signature.len() {
            let mut sig = v.signature.clone();
            sig[pos] ^= flip;
            assert!(
                verify_quote(&v.attest, &sig, &v.ak, b"challenge", &v.pcrs).is_err(),
                "signature byte {pos} ^ {flip:#x} accepted"
            );
        }
    }
}
