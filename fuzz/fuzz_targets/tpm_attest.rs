//! `TPMS_ATTEST` (quotes and certifications) and the signature beside it:
//! parse, and the quote/certify checks with an RSA attestation key.
//!
//! Input: first byte = mode, then `split(rest, 6)` = [attest, signature,
//! nonce, PCR values (32 bytes each, PCR i for the i-th), certified key
//! (`TPM2B_PUBLIC`), attestation key (PEM or `TPM2B_PUBLIC`)]. Mode bit 0
//! set: the attestation is signed here with the process's key (bit 1: PSS
//! in a `TPMT_SIGNATURE`), so the checks after the signature (type, nonce,
//! PCR selection and digest, certified Name) run on the fuzzer's bytes;
//! clear: the signature is the input's, checked with the input's AK (or a
//! fixed key when it does not parse).
#![no_main]

use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256};
use libfuzzer_sys::fuzz_target;
use tee_attest_fuzz::{rsa_signer, split, stand_in_public};
use tee_attest_tpm::verify::{
    pcr_digest, verify_certify, verify_quote, Attest, Attested, RsaPublic, TpmPublic, TpmSignature,
};

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let p = split(rest, 6);
    let (attest, sig, nonce, pcr_blob, certified, ak) = (p[0], p[1], p[2], p[3], p[4], p[5]);
    let pcrs: Vec<(u32, Vec<u8>)> = pcr_blob
        .chunks(32)
        .enumerate()
        .map(|(i, v)| (i as u32, v.to_vec()))
        .collect();
    if let Ok(a) = Attest::parse(attest) {
        if let Attested::Quote { selection, .. } = &a.attested {
            let _ = selection.iter().map(|s| s.pcrs.len()).sum::<usize>();
        }
    }
    let _ = pcr_digest(&pcrs);
    let (ak, sig) = if mode & 1 == 1 {
        let signer = rsa_signer();
        let alg: &'static dyn aws_lc_rs::signature::RsaEncoding = if mode & 2 == 2 {
            &RSA_PSS_SHA256
        } else {
            &RSA_PKCS1_SHA256
        };
        let raw = signer.sign(alg, attest);
        let sig = if mode & 2 == 2 {
            // A marshalled TPMT_SIGNATURE: RSAPSS, SHA-256, TPM2B.
            let mut t = vec![0x00, 0x16, 0x00, 0x0B];
            t.extend_from_slice(&(raw.len() as u16).to_be_bytes());
            t.extend_from_slice(&raw);
            t
        } else {
            raw
        };
        (signer.public.clone(), sig)
    } else {
        let ak = std::str::from_utf8(ak)
            .ok()
            .and_then(|s| RsaPublic::from_pem(s).ok())
            .or_else(|| TpmPublic::parse_tpm2b(ak).ok().map(|k| k.key))
            .unwrap_or_else(stand_in_public);
        (ak, sig.to_vec())
    };
    let _ = TpmSignature::parse(&sig, &ak);
    let _ = verify_quote(attest, &sig, &ak, nonce, &pcrs);
    let _ = verify_certify(attest, &sig, &ak, certified, nonce);
});
