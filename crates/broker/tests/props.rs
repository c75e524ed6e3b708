//! Arbitrary metadata and ciphertext never panic and never yield plaintext.

mod common;

use std::sync::OnceLock;

use common::*;
use proptest::prelude::*;
use serde_json::Value;
use tee_attest_broker::{decrypt, EncryptionType, EnvelopeDecryptor, RsaScheme};
use tee_attest_core::ErrorCode;

struct Fixture {
    dec: SoftDecryptor,
    msg: Vec<u8>,
    ct: Vec<u8>,
    meta: Vec<u8>,
    direct: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let key = private_key();
        let token = token_for(&key);
        let msg: Vec<u8> = (0..700u32).map(|i| i as u8).collect();
        let recipient = tee_attest_broker::RecipientKey::from_token(&token).unwrap();
        let enc = tee_attest_broker::EnvelopeEncryptor::with_chunk_size(&recipient, 256).unwrap();
        let meta = enc.metadata().to_bytes();
        let ct = enc.encrypt(&msg).unwrap();
        let (direct, _) =
            tee_attest_broker::encrypt(EncryptionType::default(), &token, b"direct").unwrap();
        Fixture {
            dec: SoftDecryptor(key),
            msg,
            ct,
            meta,
            direct,
        }
    })
}

fn run<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

fn kinds() -> impl Strategy<Value = EncryptionType> {
    prop_oneof![
        Just(EncryptionType::Envelope),
        Just(EncryptionType::None(RsaScheme::Pkcs1v15)),
        Just(EncryptionType::None(RsaScheme::OaepSha1)),
        Just(EncryptionType::None(RsaScheme::OaepSha256)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn arbitrary_input_never_decrypts(
        kind in kinds(),
        ct in proptest::collection::vec(any::<u8>(), 0..2000),
        meta in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let f = fixture();
        let r = run(decrypt(kind, &f.dec, &ct, &meta));
        prop_assert!(r.is_err());
        // Arbitrary ciphertext with the real metadata.
        let r = run(decrypt(EncryptionType::Envelope, &f.dec, &ct, &f.meta));
        prop_assert!(r.is_err());
    }

    #[test]
    fn any_change_to_a_real_ciphertext_is_refused(
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
        cut in any::<prop::sample::Index>(),
    ) {
        let f = fixture();
        let opened = run(EnvelopeDecryptor::open(&f.dec, &f.meta)).unwrap();
        let mut t = f.ct.clone();
        let i = pos.index(t.len());
        t[i] ^= 1 << bit;
        let err = opened.decrypt(&t).unwrap_err();
        prop_assert_eq!(tee_attest_core::CodedError::code(&err), ErrorCode::DecryptTpmError);
        let mut out = Vec::new();
        prop_assert!(opened.decrypt_stream(&t[..], &mut out).is_err());
        // What streaming wrote is a prefix of the plaintext: never a forgery.
        prop_assert!(f.msg.starts_with(&out));
        let mut out = Vec::new();
        prop_assert!(opened.decrypt_to(&t, &mut out).is_err());
        prop_assert!(f.msg.starts_with(&out));
        let short = &f.ct[..cut.index(f.ct.len())];
        prop_assert!(opened.decrypt(short).is_err());
        prop_assert!(opened.decrypt_to(short, std::io::sink()).is_err());
        let mut d = f.direct.clone();
        let i = pos.index(d.len());
        d[i] ^= 1 << bit;
        prop_assert!(run(decrypt(EncryptionType::default(), &f.dec, &d, &[])).is_err());
    }

    #[test]
    fn mutated_metadata_json_never_panics_nor_decrypts(
        field in prop::sample::select(vec![
            "version", "scheme", "cipher", "key_wrap", "kid", "key_thumbprint",
            "wrapped_key", "nonce_prefix", "chunk_size",
        ]),
        value in prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<u32>().prop_map(Value::from),
            "[A-Za-z0-9_-]{0,40}".prop_map(Value::from),
            Just(Value::Null),
            Just(serde_json::json!([])),
        ],
    ) {
        let f = fixture();
        let mut m: Value = serde_json::from_slice(&f.meta).unwrap();
        if m[field] == value {
            return Ok(());
        }
        m[field] = value;
        let meta = serde_json::to_vec(&m).unwrap();
        let r = run(decrypt(EncryptionType::Envelope, &f.dec, &f.ct, &meta));
        prop_assert!(r.is_err());
    }
}

#[test]
fn the_fixture_itself_decrypts() {
    let f = fixture();
    let pt = run(decrypt(EncryptionType::Envelope, &f.dec, &f.ct, &f.meta)).unwrap();
    assert_eq!(*pt, f.msg);
}
