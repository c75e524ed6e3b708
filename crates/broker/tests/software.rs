//! Encrypt/Decrypt with a software decryptor over a fixed test key: round
//! trips for every scheme and size, known-answer interop with OpenSSL (what
//! Microsoft's library calls), and every failure with its code.

mod common;

use std::io::{Read, Write};

use common::*;
use rsa::{Oaep, Pkcs1v15Encrypt};
use serde_json::{json, Value};
use tee_attest_broker::{
    decrypt, decrypt_stream, encrypt, encrypt_stream, encrypt_to_key, BrokerError, EncryptionType,
    EnvelopeDecryptor, EnvelopeEncryptor, RecipientKey, RsaScheme,
};
use tee_attest_core::{CodedError, ErrorCode};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 + 7) as u8).collect()
}

fn code<T: std::fmt::Debug>(r: Result<T, BrokerError>) -> u32 {
    r.expect_err("must fail").code().number()
}

const DIRECT: [RsaScheme; 3] = [
    RsaScheme::Pkcs1v15,
    RsaScheme::OaepSha1,
    RsaScheme::OaepSha256,
];

#[test]
fn direct_schemes_round_trip_every_size_up_to_their_limit() {
    let key = private_key();
    let token = token_for(&key);
    let dec = SoftDecryptor(key);
    let rt = rt();
    for scheme in DIRECT {
        let max = scheme.max_plaintext_len(256);
        for len in [0, 1, 190, max] {
            let kind = EncryptionType::None(scheme);
            let msg = data(len);
            let (ct, meta) = encrypt(kind, &token, &msg).unwrap();
            assert_eq!(ct.len(), 256, "{scheme}");
            assert!(meta.is_empty(), "direct RSA has empty metadata");
            let pt = rt.block_on(decrypt(kind, &dec, &ct, &meta)).unwrap();
            assert_eq!(*pt, msg, "{scheme} {len}");
        }
        let err = encrypt(EncryptionType::None(scheme), &token, &data(max + 1)).unwrap_err();
        assert_eq!(
            err.code(),
            ErrorCode::InvalidInputParameter,
            "{scheme}: {err}"
        );
        assert!(err.to_string().contains("envelope"), "{err}");
    }
    // The figures of the issue: OAEP-SHA256 with RSA-2048 holds 190 bytes, not 191.
    let kind = EncryptionType::default();
    assert!(encrypt(kind, &token, &data(190)).is_ok());
    assert_eq!(code(encrypt(kind, &token, &data(191))), 8);
}

#[test]
fn raw_rsa_is_exactly_one_block_below_the_modulus() {
    let key = private_key();
    let token = token_for(&key);
    let dec = SoftDecryptor(key);
    let kind = EncryptionType::None(RsaScheme::Raw);
    let mut msg = data(256);
    msg[0] = 0; // leading zero: must survive the round trip
    let (ct, meta) = encrypt(kind, &token, &msg).unwrap();
    let pt = rt().block_on(decrypt(kind, &dec, &ct, &meta)).unwrap();
    assert_eq!(*pt, msg);
    assert_eq!(code(encrypt(kind, &token, &data(255))), 8);
    assert_eq!(code(encrypt(kind, &token, &[])), 8);
    assert_eq!(code(encrypt(kind, &token, &[0xff; 256])), 8, "not below n");
}

#[test]
fn envelope_round_trips_every_size() {
    let key = private_key();
    let token = token_for(&key);
    let dec = SoftDecryptor(key);
    let rt = rt();
    for len in [0, 1, 190, 191, 65535, 65536, 65537, 3 * 65536, 1 << 20] {
        let msg = data(len);
        let (ct, meta) = encrypt(EncryptionType::Envelope, &token, &msg).unwrap();
        assert_eq!(ct.len(), len + (len / 65536 + 1) * 16, "{len}");
        let m: Value = serde_json::from_slice(&meta).unwrap();
        assert_eq!(m["version"], 1);
        assert_eq!(m["scheme"], "envelope");
        assert_eq!(m["kid"], "TpmEphemeralEncryptionKey");
        assert_eq!(m["chunk_size"], 65536);
        let pt = rt
            .block_on(decrypt(EncryptionType::Envelope, &dec, &ct, &meta))
            .unwrap();
        assert!(*pt == msg, "{len}");
        // Streaming decryption of what memory encryption made.
        let mut out = Vec::new();
        let n = rt
            .block_on(decrypt_stream(&dec, &meta, &ct[..], &mut out))
            .unwrap();
        assert_eq!(n, len as u64);
        assert!(out == msg);
    }
}

#[test]
fn stream_and_memory_encryption_agree_and_each_message_has_a_fresh_key() {
    let key = private_key();
    let recipient = RecipientKey::from_jwk(&jwk_of(&key)).unwrap();
    let dec = SoftDecryptor(key);
    let rt = rt();
    for len in [0, 255, 256, 257, 5000] {
        let msg = data(len);
        let enc = EnvelopeEncryptor::with_chunk_size(&recipient, 256).unwrap();
        let meta = enc.metadata().to_bytes();
        let expected_len = enc.ciphertext_len(len as u64);
        let mut ct = Vec::new();
        assert_eq!(enc.encrypt_stream(&msg[..], &mut ct).unwrap(), len as u64);
        assert_eq!(ct.len() as u64, expected_len);
        let opened = rt.block_on(EnvelopeDecryptor::open(&dec, &meta)).unwrap();
        assert!(*opened.decrypt(&ct).unwrap() == msg, "{len}");
    }
    // The slice → writer paths make and open the same format.
    for len in [0, 1, 255, 256, 257, 512, 5000] {
        let msg = data(len);
        let enc = EnvelopeEncryptor::with_chunk_size(&recipient, 256).unwrap();
        let meta = enc.metadata().to_bytes();
        let expected_len = enc.ciphertext_len(len as u64);
        let mut ct = Vec::new();
        assert_eq!(enc.encrypt_to(&msg, &mut ct).unwrap(), len as u64);
        assert_eq!(ct.len() as u64, expected_len, "{len}");
        let opened = rt.block_on(EnvelopeDecryptor::open(&dec, &meta)).unwrap();
        assert!(*opened.decrypt(&ct).unwrap() == msg, "{len}");
        let mut out = Vec::new();
        assert_eq!(opened.decrypt_to(&ct, &mut out).unwrap(), len as u64);
        assert!(out == msg, "{len}");
        let mut out = Vec::new();
        opened.decrypt_stream(&ct[..], &mut out).unwrap();
        assert!(out == msg, "{len}");
    }
    let (a, ma) = encrypt_to_key(EncryptionType::Envelope, &recipient, b"same").unwrap();
    let (b, mb) = encrypt_to_key(EncryptionType::Envelope, &recipient, b"same").unwrap();
    assert_ne!(a, b);
    assert_ne!(ma, mb);
}

/// A reader of `len` deterministic bytes, without holding them.
struct Pattern {
    left: u64,
    state: u32,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        for b in &mut buf[..n] {
            self.state = self
                .state
                .wrapping_mul(1_664_525)
                .wrapping_add(1_013_904_223);
            *b = (self.state >> 24) as u8;
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// A writer that keeps only a SHA-256 of what it got.
struct Hasher(aws_lc_rs::digest::Context, u64);

impl Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        self.1 += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn hash_of(mut r: impl Read) -> Vec<u8> {
    let mut h = Hasher(
        aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
        0,
    );
    std::io::copy(&mut r, &mut h).unwrap();
    h.0.finish().as_ref().to_vec()
}

#[test]
fn sixty_four_mib_streamed() {
    const LEN: u64 = 64 << 20;
    let key = private_key();
    let token = token_for(&key);
    let dec = SoftDecryptor(key);
    let mut ct = Vec::new();
    let meta = encrypt_stream(
        &token,
        Pattern {
            left: LEN,
            state: 1,
        },
        &mut ct,
    )
    .unwrap();
    assert_eq!(ct.len() as u64, LEN + (LEN / 65536 + 1) * 16);
    let mut out = Hasher(
        aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256),
        0,
    );
    let n = rt()
        .block_on(decrypt_stream(&dec, &meta, &ct[..], &mut out))
        .unwrap();
    assert_eq!(n, LEN);
    assert_eq!(out.1, LEN);
    assert_eq!(
        out.0.finish().as_ref(),
        &hash_of(Pattern {
            left: LEN,
            state: 1
        })[..]
    );
}

fn kat(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/tests/data/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn openssl_ciphertexts_as_microsofts_library_makes_them_open_here() {
    let dec = SoftDecryptor(private_key());
    let plain = kat("kat-plain.txt");
    let rt = rt();
    for (file, scheme) in [
        ("kat-openssl-pkcs1v15.bin", RsaScheme::Pkcs1v15),
        ("kat-openssl-oaep-sha1.bin", RsaScheme::OaepSha1),
        ("kat-openssl-oaep-sha256.bin", RsaScheme::OaepSha256),
    ] {
        let pt = rt
            .block_on(decrypt(EncryptionType::None(scheme), &dec, &kat(file), &[]))
            .unwrap();
        assert_eq!(*pt, plain, "{file}");
    }
    let pt = rt
        .block_on(decrypt(
            EncryptionType::None(RsaScheme::Raw),
            &dec,
            &kat("kat-openssl-raw.bin"),
            &[],
        ))
        .unwrap();
    assert_eq!(*pt, kat("kat-raw-plain.bin"));
    // A PKCS#1 v1.5 ciphertext is not an OAEP one.
    let err = rt
        .block_on(decrypt(
            EncryptionType::None(RsaScheme::OaepSha256),
            &dec,
            &kat("kat-openssl-pkcs1v15.bin"),
            &[],
        ))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DecryptTpmError);
}

#[test]
fn raw_encryption_equals_openssls_byte_for_byte() {
    let token = token_for(&private_key());
    let (ct, _) = encrypt(
        EncryptionType::None(RsaScheme::Raw),
        &token,
        &kat("kat-raw-plain.bin"),
    )
    .unwrap();
    assert_eq!(ct, kat("kat-openssl-raw.bin"));
}

#[test]
fn our_ciphertexts_open_with_an_independent_private_key_implementation() {
    let key = private_key();
    let token = token_for(&key);
    let msg = b"to be opened by Microsoft's Decrypt";
    for scheme in DIRECT {
        let (ct, _) = encrypt(EncryptionType::None(scheme), &token, msg).unwrap();
        let pt = match scheme {
            RsaScheme::Pkcs1v15 => key.decrypt(Pkcs1v15Encrypt, &ct),
            RsaScheme::OaepSha1 => key.decrypt(Oaep::new::<sha1::Sha1>(), &ct),
            _ => key.decrypt(Oaep::new::<sha2::Sha256>(), &ct),
        }
        .unwrap();
        assert_eq!(pt, msg, "{scheme}");
    }
}

#[test]
fn the_ephemeral_key_is_found_by_kid_not_position() {
    let key = private_key();
    let other = RsaPrivateKeyExt::other();
    let mut first = jwk_of(&other);
    first["kid"] = json!("HCLAkPub");
    let token = token_with_keys(json!([first, jwk_of(&key)]));
    let (ct, _) = encrypt(EncryptionType::default(), &token, b"x").unwrap();
    let pt = rt()
        .block_on(decrypt(
            EncryptionType::default(),
            &SoftDecryptor(key),
            &ct,
            &[],
        ))
        .unwrap();
    assert_eq!(*pt, b"x");
}

struct RsaPrivateKeyExt;
impl RsaPrivateKeyExt {
    fn other() -> rsa::RsaPrivateKey {
        // The 1024-bit key's modulus padded into a 2048-bit-looking JWK is not
        // needed: any other key will do for "another key".
        use rsa::pkcs8::DecodePrivateKey;
        rsa::RsaPrivateKey::from_pkcs8_pem(KEY_1024).unwrap()
    }
}

#[test]
fn token_structure_failures_are_22_and_23() {
    let key = private_key();
    let good = jwk_of(&key);
    let kind = EncryptionType::default();
    // No runtime keys at all, or none with the ephemeral kid.
    assert_eq!(code(encrypt(kind, &token_with_keys(json!([])), b"x")), 22);
    let mut renamed = good.clone();
    renamed["kid"] = json!("HCLAkPub");
    assert_eq!(
        code(encrypt(kind, &token_with_keys(json!([renamed])), b"x")),
        22
    );
    // Present but unusable.
    let bad = |f: &dyn Fn(&mut Value)| {
        let mut k = good.clone();
        f(&mut k);
        code(encrypt(kind, &token_with_keys(json!([k])), b"x"))
    };
    assert_eq!(bad(&|k| k["kty"] = json!("EC")), 23);
    assert_eq!(bad(&|k| k["n"] = json!("not base64!")), 23);
    assert_eq!(bad(&|k| k["n"] = json!(42)), 23);
    assert_eq!(
        bad(&|k| {
            k.as_object_mut().unwrap().remove("e");
        }),
        23
    );
    assert_eq!(bad(&|k| k["e"] = json!("Ag")), 23, "even exponent");
    assert_eq!(bad(&|k| k["key_ops"] = json!(["verify"])), 23);
    assert_eq!(bad(&|k| k["use"] = json!("sig")), 23);
    assert_eq!(
        bad(&|k| k["n"] = jwk_of(&RsaPrivateKeyExt::other())["n"].clone()),
        23,
        "1024-bit keys are refused"
    );
    // The same for the envelope.
    assert_eq!(
        code(encrypt(
            EncryptionType::Envelope,
            &token_with_keys(json!([])),
            b"x"
        )),
        22
    );
}

fn envelope(msg: &[u8], chunk: u32) -> (SoftDecryptor, Vec<u8>, Vec<u8>) {
    let key = private_key();
    let recipient = RecipientKey::from_jwk(&jwk_of(&key)).unwrap();
    let enc = EnvelopeEncryptor::with_chunk_size(&recipient, chunk).unwrap();
    let meta = enc.metadata().to_bytes();
    (SoftDecryptor(key), enc.encrypt(msg).unwrap(), meta)
}

fn open(dec: &SoftDecryptor, ct: &[u8], meta: &[u8]) -> Result<Vec<u8>, BrokerError> {
    rt().block_on(decrypt(EncryptionType::Envelope, dec, ct, meta))
        .map(|p| p.to_vec())
}

#[test]
fn tampered_truncated_reordered_or_extended_ciphertext_is_26_and_returns_nothing() {
    let msg = data(1000);
    let (dec, ct, meta) = envelope(&msg, 256); // 3 full chunks + 1 of 232 bytes
    let full = 256 + 16;
    assert_eq!(ct.len(), 3 * full + 232 + 16);
    assert_eq!(open(&dec, &ct, &meta).unwrap(), msg);
    let mut cases: Vec<(&str, Vec<u8>)> = Vec::new();
    for i in [0, 100, full, ct.len() - 1] {
        let mut t = ct.clone();
        t[i] ^= 1;
        cases.push(("flipped bit", t));
    }
    cases.push(("cut at a chunk boundary", ct[..3 * full].to_vec()));
    cases.push(("cut inside a chunk", ct[..ct.len() - 5].to_vec()));
    cases.push(("last chunk dropped", ct[..2 * full].to_vec()));
    cases.push(("empty", Vec::new()));
    let mut swapped = ct.clone();
    swapped[..full].copy_from_slice(&ct[full..2 * full]);
    swapped[full..2 * full].copy_from_slice(&ct[..full]);
    cases.push(("reordered", swapped));
    let mut longer = ct.clone();
    longer.extend_from_slice(&[0; 16]);
    cases.push(("extended", longer));
    // A chunk from another message under another key.
    let (_, other, _) = envelope(&msg, 256);
    let mut spliced = ct.clone();
    spliced[full..2 * full].copy_from_slice(&other[full..2 * full]);
    cases.push(("spliced", spliced));
    let opened = rt().block_on(EnvelopeDecryptor::open(&dec, &meta)).unwrap();
    for (what, bad) in cases {
        let err = open(&dec, &bad, &meta).expect_err(what);
        assert_eq!(err.code(), ErrorCode::DecryptTpmError, "{what}");
        assert!(
            matches!(err, BrokerError::DecryptionFailed),
            "{what}: {err}"
        );
        // The slice → writer path refuses it too, having written at most
        // a prefix of the plaintext.
        let mut out = Vec::new();
        let err = opened.decrypt_to(&bad, &mut out).expect_err(what);
        assert_eq!(err.code(), ErrorCode::DecryptTpmError, "{what}");
        assert!(msg.starts_with(&out), "{what}");
    }
}

#[test]
fn streaming_decryption_writes_only_authenticated_chunks() {
    let msg = data(1000);
    let (dec, ct, meta) = envelope(&msg, 256);
    let opened = rt().block_on(EnvelopeDecryptor::open(&dec, &meta)).unwrap();
    // A bad first chunk: nothing written.
    let mut t = ct.clone();
    t[3] ^= 0x80;
    let mut out = Vec::new();
    assert!(opened.decrypt_stream(&t[..], &mut out).is_err());
    assert!(out.is_empty());
    // A bad third chunk: only the two authenticated chunks were written, and
    // the error tells the caller to discard them.
    let mut t = ct.clone();
    t[2 * 272 + 5] ^= 0x80;
    let mut out = Vec::new();
    let err = opened.decrypt_stream(&t[..], &mut out).unwrap_err();
    assert_eq!(err.code(), ErrorCode::DecryptTpmError);
    assert_eq!(out, msg[..512]);
    // Truncated at a chunk boundary: every chunk written authenticated, and
    // still an error.
    let mut out = Vec::new();
    let err = opened.decrypt_stream(&ct[..3 * 272], &mut out).unwrap_err();
    assert_eq!(err.code(), ErrorCode::DecryptTpmError);
}

fn with_meta(meta: &[u8], f: impl FnOnce(&mut Value)) -> Vec<u8> {
    let mut v: Value = serde_json::from_slice(meta).unwrap();
    f(&mut v);
    serde_json::to_vec(&v).unwrap()
}

#[test]
fn metadata_problems_are_8_and_metadata_tampering_26() {
    let msg = data(600);
    let (dec, ct, meta) = envelope(&msg, 256);
    let malformed: Vec<(&str, Vec<u8>)> = vec![
        ("empty", Vec::new()),
        ("not json", b"{nope".to_vec()),
        ("array", b"[]".to_vec()),
        ("huge", vec![b' '; 20_000]),
        ("version 2", with_meta(&meta, |m| m["version"] = json!(2))),
        (
            "other scheme",
            with_meta(&meta, |m| m["scheme"] = json!("aes-cbc")),
        ),
        (
            "cipher",
            with_meta(&meta, |m| m["cipher"] = json!("AES-128-GCM")),
        ),
        (
            "key wrap",
            with_meta(&meta, |m| m["key_wrap"] = json!("RSA1_5")),
        ),
        ("chunk 0", with_meta(&meta, |m| m["chunk_size"] = json!(0))),
        (
            "chunk huge",
            with_meta(&meta, |m| m["chunk_size"] = json!(1u64 << 31)),
        ),
        (
            "chunk neg",
            with_meta(&meta, |m| m["chunk_size"] = json!(-1)),
        ),
        (
            "prefix len",
            with_meta(&meta, |m| m["nonce_prefix"] = json!("AAAA")),
        ),
        (
            "prefix b64",
            with_meta(&meta, |m| m["nonce_prefix"] = json!("!!!!!!!!!!")),
        ),
        (
            "wrapped b64",
            with_meta(&meta, |m| m["wrapped_key"] = json!("*")),
        ),
        (
            "wrapped empty",
            with_meta(&meta, |m| m["wrapped_key"] = json!("")),
        ),
        (
            "missing field",
            with_meta(&meta, |m| {
                m.as_object_mut().unwrap().remove("kid");
            }),
        ),
        ("unknown field", with_meta(&meta, |m| m["extra"] = json!(1))),
    ];
    for (what, bad) in malformed {
        let err = open(&dec, &ct, &bad).expect_err(what);
        assert_eq!(
            err.code(),
            ErrorCode::InvalidInputParameter,
            "{what}: {err}"
        );
    }
    // Well-formed but altered: authentication fails.
    let altered: Vec<(&str, Vec<u8>)> = vec![
        (
            "prefix",
            with_meta(&meta, |m| m["nonce_prefix"] = json!("AAAAAAAAAA")),
        ),
        (
            "chunk size",
            with_meta(&meta, |m| m["chunk_size"] = json!(512)),
        ),
        ("kid", with_meta(&meta, |m| m["kid"] = json!("Other"))),
    ];
    for (what, bad) in altered {
        let err = open(&dec, &ct, &bad).expect_err(what);
        assert_eq!(err.code(), ErrorCode::DecryptTpmError, "{what}: {err}");
    }
    // The wrapped key of another message: a wrong AES key.
    let (_, _, other_meta) = envelope(&msg, 256);
    let other: Value = serde_json::from_slice(&other_meta).unwrap();
    let swapped = with_meta(&meta, |m| m["wrapped_key"] = other["wrapped_key"].clone());
    assert_eq!(
        open(&dec, &ct, &swapped).unwrap_err().code(),
        ErrorCode::DecryptTpmError
    );
}

#[test]
fn metadata_and_encryption_type_must_agree() {
    let key = private_key();
    let token = token_for(&key);
    let dec = SoftDecryptor(key);
    let rt = rt();
    let (ct, meta) = encrypt(EncryptionType::Envelope, &token, b"hello").unwrap();
    // Envelope data opened as direct RSA: its metadata is not empty.
    for s in RsaScheme::ALL {
        let err = rt
            .block_on(decrypt(EncryptionType::None(*s), &dec, &ct, &meta))
            .unwrap_err();
        assert!(matches!(err, BrokerError::SchemeMismatch { .. }), "{err}");
        assert_eq!(err.code(), ErrorCode::InvalidInputParameter);
    }
    // Direct RSA data opened as an envelope: it has no metadata.
    let (ct, meta) = encrypt(EncryptionType::default(), &token, b"hello").unwrap();
    let err = rt
        .block_on(decrypt(EncryptionType::Envelope, &dec, &ct, &meta))
        .unwrap_err();
    assert!(matches!(err, BrokerError::SchemeMismatch { .. }), "{err}");
    // Direct RSA with the wrong scheme: the decryption fails.
    let err = rt
        .block_on(decrypt(
            EncryptionType::None(RsaScheme::OaepSha1),
            &dec,
            &ct,
            &meta,
        ))
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DecryptTpmError);
    // Direct RSA ciphertext of the wrong size.
    for bad in [&[][..], &ct[..255], &[1u8; 257][..]] {
        let err = rt
            .block_on(decrypt(EncryptionType::default(), &dec, bad, &[]))
            .unwrap_err();
        assert_eq!(
            err.code(),
            ErrorCode::InvalidInputParameter,
            "{}",
            bad.len()
        );
    }
}

#[test]
fn another_key_is_26() {
    let token = token_for(&private_key());
    let other = SoftDecryptor(RsaPrivateKeyExt::other());
    let rt = rt();
    let (ct, meta) = encrypt(EncryptionType::Envelope, &token, b"hello").unwrap();
    let err = rt
        .block_on(decrypt(EncryptionType::Envelope, &other, &ct, &meta))
        .unwrap_err();
    assert!(matches!(err, BrokerError::KeyMismatch { .. }), "{err}");
    assert_eq!(err.code(), ErrorCode::DecryptTpmError);
}

#[test]
fn errors_never_carry_the_plaintext() {
    let key = private_key();
    let token = token_for(&key);
    let secret = b"TOP-SECRET-PLAINTEXT-0123456789";
    let (mut ct, meta) = encrypt(EncryptionType::Envelope, &token, secret).unwrap();
    ct[0] ^= 1;
    let err = open(&SoftDecryptor(key), &ct, &meta).unwrap_err();
    let text = format!("{err} {err:?}");
    let text = format!(
        "{text} {}",
        tee_attest_core::Error::from(err).full_message()
    );
    assert!(!text.contains("TOP-SECRET"), "{text}");
}

struct Broken;

impl Write for Broken {
    fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("disk full"))
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Read for Broken {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(std::io::Error::other("device gone"))
    }
}

#[test]
fn io_failures_are_25_when_encrypting_and_26_when_decrypting() {
    let key = private_key();
    let token = token_for(&key);
    let dec = SoftDecryptor(key);
    assert_eq!(code(encrypt_stream(&token, &b"abc"[..], Broken)), 25);
    assert_eq!(code(encrypt_stream(&token, Broken, Vec::new())), 25);
    let (ct, meta) = encrypt(EncryptionType::Envelope, &token, b"abc").unwrap();
    let rt = rt();
    assert_eq!(
        code(rt.block_on(decrypt_stream(&dec, &meta, &ct[..], Broken))),
        26
    );
    assert_eq!(
        code(rt.block_on(decrypt_stream(&dec, &meta, Broken, Vec::new()))),
        26
    );
    // Chunk sizes outside 256 B – 4 MiB are refused up front.
    let recipient = RecipientKey::from_token(&token).unwrap();
    for cs in [0, 255, 4 * 1024 * 1024 + 1] {
        assert_eq!(code(EnvelopeEncryptor::with_chunk_size(&recipient, cs)), 8);
    }
}
