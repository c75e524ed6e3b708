//! `Decrypt` of the envelope scheme: metadata parse and checks, the key
//! unwrap (by the stand-in for the vTPM, see `StandInDecryptor`), and
//! chunked AES-256-GCM opening, in memory, to a writer and streamed; the
//! three must agree. Also `Decrypt` with the direct RSA schemes.
//!
//! Input: `split(data, 2)` = [metadata JSON, ciphertext].
#![no_main]

use std::io::Cursor;

use libfuzzer_sys::fuzz_target;
use tee_attest_broker::{
    decrypt, decrypt_stream, EncryptionType, EnvelopeDecryptor, EnvelopeMetadata, RsaScheme,
};
use tee_attest_fuzz::{block_on, split, StandInDecryptor};

fuzz_target!(|data: &[u8]| {
    let p = split(data, 2);
    let (meta, ct) = (p[0], p[1]);
    if let Ok(m) = EnvelopeMetadata::parse(meta) {
        let again = EnvelopeMetadata::parse(&m.to_bytes()).expect("metadata re-parses");
        assert_eq!(again, m, "to_bytes/parse changed the metadata");
    }
    if let Ok(d) = block_on(EnvelopeDecryptor::open(&StandInDecryptor, meta)) {
        let whole = d.decrypt(ct).map(|p| p.to_vec());
        let mut to = Vec::new();
        let written = d.decrypt_to(ct, &mut to);
        let mut streamed = Vec::new();
        let stream = d.decrypt_stream(Cursor::new(ct), &mut streamed);
        match (&whole, &written, &stream) {
            (Ok(w), Ok(n), Ok(m)) => {
                assert_eq!(*n as usize, w.len());
                assert_eq!(*m as usize, w.len());
                assert_eq!(&to, w, "decrypt_to differs from decrypt");
                assert_eq!(&streamed, w, "decrypt_stream differs from decrypt");
            }
            (Err(_), Err(_), Err(_)) => {}
            _ => panic!(
                "decrypt {:?}, decrypt_to {:?}, decrypt_stream {:?} disagree",
                whole.as_ref().map(Vec::len).map_err(ToString::to_string),
                written.as_ref().map_err(ToString::to_string),
                stream.as_ref().map_err(ToString::to_string)
            ),
        }
    }
    let _ = block_on(decrypt(
        EncryptionType::Envelope,
        &StandInDecryptor,
        ct,
        meta,
    ));
    let mut sink = Vec::new();
    let _ = block_on(decrypt_stream(
        &StandInDecryptor,
        meta,
        Cursor::new(ct),
        &mut sink,
    ));
    let scheme = RsaScheme::ALL[ct.len() % RsaScheme::ALL.len()];
    let _ = block_on(decrypt(
        EncryptionType::None(scheme),
        &StandInDecryptor,
        ct,
        meta,
    ));
});
