//! The envelope scheme end to end with a real key: `Encrypt` to an RSA key
//! (OAEP-SHA256 wrap, AES-256-GCM chunks), then a tamper chosen by the
//! fuzzer (bit flip, truncation, chunk drop/swap/duplication, extension,
//! metadata change), then `Decrypt` by a software decryptor holding the
//! private key. Untampered: the plaintext comes back exactly. Tampered (the
//! bytes differ): decryption fails, whichever way it is read.
//!
//! Input: [chunk-size byte, tamper op, position (2 bytes LE), mask] then
//! the plaintext.
#![no_main]

use std::io::Cursor;
use std::sync::OnceLock;

use async_trait::async_trait;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    KeySize, OaepPrivateDecryptingKey, PrivateDecryptingKey, OAEP_SHA256_MGF1SHA256,
};
use libfuzzer_sys::fuzz_target;
use serde_json::{json, Value};
use tee_attest_broker::{EnvelopeDecryptor, EnvelopeEncryptor, RecipientKey};
use tee_attest_core::{Decryptor, Error, ErrorCode, RsaDecryptScheme};
use tee_attest_fuzz::block_on;
use tee_attest_tpm::RsaPublic;
use zeroize::Zeroizing;

/// A software decryptor (the private key never leaves this process; the
/// vTPM does this in production).
struct SoftKey {
    key: OaepPrivateDecryptingKey,
    jwk: Value,
}

#[async_trait]
impl Decryptor for SoftKey {
    fn public_jwk(&self) -> Value {
        self.jwk.clone()
    }
    async fn decrypt(
        &self,
        scheme: RsaDecryptScheme,
        ct: &[u8],
    ) -> tee_attest_core::Result<Zeroizing<Vec<u8>>> {
        if scheme != RsaDecryptScheme::OaepSha256 {
            return Err(Error::new(ErrorCode::DecryptTpmError, "unexpected scheme"));
        }
        let mut out = Zeroizing::new(vec![0u8; self.key.min_output_size()]);
        let n = self
            .key
            .decrypt(&OAEP_SHA256_MGF1SHA256, ct, &mut out, None)
            .map_err(|_| Error::new(ErrorCode::DecryptTpmError, "RSA-OAEP decryption failed"))?
            .len();
        out.truncate(n);
        Ok(out)
    }
}

fn key() -> &'static (SoftKey, RecipientKey) {
    static K: OnceLock<(SoftKey, RecipientKey)> = OnceLock::new();
    K.get_or_init(|| {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).expect("RSA key");
        let spki = private.public_key().as_der().expect("SPKI");
        let public = RsaPublic::from_spki_der(spki.as_ref()).expect("RSA public key");
        let mut jwk = public.to_jwk();
        jwk["kid"] = json!("TpmEphemeralEncryptionKey");
        let recipient = RecipientKey::from_jwk(&jwk).expect("a usable recipient key");
        let key = OaepPrivateDecryptingKey::new(private).expect("OAEP key");
        (SoftKey { key, jwk }, recipient)
    })
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 5 {
        return;
    }
    let (h, plain) = data.split_at(5);
    let chunk_size = 256 + u32::from(h[0]) * 4;
    let (op, pos, mask) = (
        h[1] % 8,
        usize::from(u16::from_le_bytes([h[2], h[3]])),
        h[4] | 1,
    );
    let (soft, recipient) = key();
    let enc = EnvelopeEncryptor::with_chunk_size(recipient, chunk_size).expect("encryptor");
    let meta0 = enc.metadata().to_bytes();
    let ct0 = enc.encrypt(plain).expect("encryption");
    let (mut meta, mut ct) = (meta0.clone(), ct0.clone());
    let full = chunk_size as usize + 16;
    let chunks = ct.len().div_ceil(full);
    match op {
        0 => {}
        1 => {
            let i = pos % ct.len();
            ct[i] ^= mask;
        }
        2 => ct.truncate(pos % ct.len()),
        3 if chunks > 1 => {
            let i = pos % chunks;
            let end = ((i + 1) * full).min(ct.len());
            ct.drain(i * full..end);
        }
        4 if chunks > 1 => {
            // Swap chunk i with the next.
            let i = pos % (chunks - 1);
            let a = ct[i * full..(i + 1) * full].to_vec();
            let b_end = ((i + 2) * full).min(ct.len());
            let b = ct[(i + 1) * full..b_end].to_vec();
            ct.splice(i * full..b_end, b.into_iter().chain(a));
        }
        5 => {
            let i = pos % chunks;
            let dup = ct[i * full..((i + 1) * full).min(ct.len())].to_vec();
            ct.extend(dup);
        }
        6 => ct.push(mask),
        _ => {
            let i = pos % meta.len();
            meta[i] ^= mask;
        }
    }
    let untouched = meta == meta0 && ct == ct0;
    let opened = block_on(EnvelopeDecryptor::open(soft, &meta));
    let whole = opened.as_ref().ok().map(|d| d.decrypt(&ct));
    let mut streamed = Vec::new();
    let stream = opened
        .as_ref()
        .ok()
        .map(|d| d.decrypt_stream(Cursor::new(&ct), &mut streamed));
    if untouched {
        let w = whole
            .expect("untampered metadata opens")
            .expect("untampered data decrypts");
        assert_eq!(&w[..], plain, "decrypt did not return the plaintext");
        stream.expect("opened").expect("untampered data streams");
        assert_eq!(
            streamed, plain,
            "decrypt_stream did not return the plaintext"
        );
    } else {
        assert!(
            !matches!(whole, Some(Ok(_))),
            "tampered envelope (op {op}) decrypted"
        );
        assert!(
            !matches!(stream, Some(Ok(_))),
            "tampered envelope (op {op}) streamed"
        );
    }
});
