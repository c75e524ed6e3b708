//! The sealed AzureGuest response.

mod common;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use common::*;
use serde_json::{json, Value};
use tee_attest_core::{CodedError, ErrorCode};
use tee_attest_maa::seal::{response_token, SealedToken, TRANSPORT_KEY_AAD};
use tee_attest_maa::{seal_envelope, seal_token, unseal_envelope, unseal_token};

type Mutation = Box<dyn Fn(&mut Value)>;

const JWT: &str = "eyJhbGciOiJSUzI1NiJ9.eyJ4IjoxfQ.c2ln";

fn envelope(body: &str) -> Value {
    let token = response_token(body.as_bytes()).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(token.trim_end_matches('=')).unwrap()).unwrap()
}

fn reseal(env: &Value) -> String {
    json!({"token": URL_SAFE_NO_PAD.encode(env.to_string())}).to_string()
}

#[tokio::test]
async fn seal_then_unseal_round_trips() {
    let d = TestDecryptor::new(ephemeral_key());
    let body = seal_token(JWT, &ephemeral_key().public).unwrap();
    assert_eq!(
        unseal_token(body.as_bytes(), d.as_ref()).await.unwrap(),
        JWT
    );
    // Two seals of the same token differ (fresh key and IV).
    assert_ne!(body, seal_token(JWT, &ephemeral_key().public).unwrap());
    assert_eq!(*d.calls.lock().unwrap(), 1);
}

#[tokio::test]
async fn envelope_has_the_documented_fields() {
    let body = seal_token(JWT, &ephemeral_key().public).unwrap();
    let outer: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(outer.as_object().unwrap().len(), 1);
    let env = envelope(&body);
    let mut keys: Vec<_> = env.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "AuthenticationData",
            "EncryptedInnerKey",
            "EncryptionParams",
            "Jwt"
        ]
    );
    let p = &env["EncryptionParams"];
    assert_eq!(p["BlockMode"], "ChainingModeGCM");
    assert_eq!(p["BlockPadding"], "PKCS7");
    assert_eq!(p["Cipher"], "AES");
    assert_eq!(p["KeySizeInBits"], 256);
    let b = |v: &Value| STANDARD.decode(v.as_str().unwrap()).unwrap();
    assert_eq!(b(&p["Iv"]).len(), 12);
    assert_eq!(b(&env["AuthenticationData"]).len(), 16);
    assert_eq!(b(&env["EncryptedInnerKey"]).len(), 256);
    assert_eq!(b(&env["Jwt"]).len(), JWT.len());
    let _: SealedToken = serde_json::from_value(env).unwrap();
}

#[tokio::test]
async fn aad_is_transport_key_checked_independently() {
    // Decrypt by hand: the inner key with the private key, then AES-GCM with
    // the AAD "Transport Key" — and not with any other AAD.
    let body = seal_token(JWT, &ephemeral_key().public).unwrap();
    let env = envelope(&body);
    let b = |v: &Value| STANDARD.decode(v.as_str().unwrap()).unwrap();
    let k = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(&ephemeral_key().pkcs8).unwrap();
    let k = aws_lc_rs::rsa::Pkcs1PrivateDecryptingKey::new(k).unwrap();
    let mut out = vec![0; 256];
    let aes = k
        .decrypt(&b(&env["EncryptedInnerKey"]), &mut out)
        .unwrap()
        .to_vec();
    assert_eq!(aes.len(), 32);
    let iv: [u8; 12] = b(&env["EncryptionParams"]["Iv"]).try_into().unwrap();
    let open = |aad: &[u8]| {
        let key = LessSafeKey::new(UnboundKey::new(&AES_256_GCM, &aes).unwrap());
        let mut data = b(&env["Jwt"]);
        data.extend(b(&env["AuthenticationData"]));
        key.open_in_place(Nonce::assume_unique_for_key(iv), Aad::from(aad), &mut data)
            .map(|p| p.to_vec())
    };
    assert_eq!(TRANSPORT_KEY_AAD, b"Transport Key");
    assert_eq!(open(b"Transport Key").unwrap(), JWT.as_bytes());
    assert!(open(b"").is_err());
    assert!(open(b"transport key").is_err());
}

#[tokio::test]
async fn tpm_failure_is_15_other_decryption_failures_14() {
    let body = seal_token(JWT, &ephemeral_key().public).unwrap();
    for code in [
        ErrorCode::DecryptTpmError,
        ErrorCode::TpmOperationFailed,
        ErrorCode::TpmInternalFailure,
    ] {
        let d = TestDecryptor::failing(ephemeral_key(), code);
        let e = unseal_token(body.as_bytes(), d.as_ref()).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::JwtDecryptionTpmError, "{code:?}");
        assert!(std::error::Error::source(&e).is_some());
    }
    let d = TestDecryptor::failing(ephemeral_key(), ErrorCode::InvalidInputParameter);
    let e = unseal_token(body.as_bytes(), d.as_ref()).await.unwrap_err();
    assert_eq!(e.code(), ErrorCode::JwtDecryptionFailed);
}

#[tokio::test]
async fn wrong_key_is_14() {
    // Sealed to another key: the TPM's PKCS#1 decryption "succeeds" or fails;
    // either way the result is code 14, never the plaintext.
    let body = seal_token(JWT, &other_key().public).unwrap();
    let d = TestDecryptor::new(ephemeral_key());
    let e = unseal_token(body.as_bytes(), d.as_ref()).await.unwrap_err();
    assert!(
        matches!(
            e.code(),
            ErrorCode::JwtDecryptionFailed | ErrorCode::JwtDecryptionTpmError
        ),
        "{e}"
    );
}

#[tokio::test]
async fn tampering_and_bad_parameters_are_14() {
    let body = seal_token(JWT, &ephemeral_key().public).unwrap();
    let good = envelope(&body);
    let flip = |s: &Value| {
        let mut b = STANDARD.decode(s.as_str().unwrap()).unwrap();
        b[0] ^= 1;
        json!(STANDARD.encode(b))
    };
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "ciphertext bit",
            Box::new(move |v| v["Jwt"] = flip(&v["Jwt"])),
        ),
        (
            "tag bit",
            Box::new(move |v| v["AuthenticationData"] = flip(&v["AuthenticationData"])),
        ),
        (
            "iv bit",
            Box::new(move |v| v["EncryptionParams"]["Iv"] = flip(&v["EncryptionParams"]["Iv"])),
        ),
        (
            "short iv",
            Box::new(|v| v["EncryptionParams"]["Iv"] = json!("AAAA")),
        ),
        (
            "short tag",
            Box::new(|v| v["AuthenticationData"] = json!("AAAA")),
        ),
        (
            "cbc",
            Box::new(|v| v["EncryptionParams"]["BlockMode"] = json!("ChainingModeCBC")),
        ),
        (
            "des",
            Box::new(|v| v["EncryptionParams"]["Cipher"] = json!("DES")),
        ),
        (
            "192 bits",
            Box::new(|v| v["EncryptionParams"]["KeySizeInBits"] = json!(192)),
        ),
        (
            "128 bits announced",
            Box::new(|v| v["EncryptionParams"]["KeySizeInBits"] = json!(128)),
        ),
        (
            "padding",
            Box::new(|v| v["EncryptionParams"]["BlockPadding"] = json!("ISO10126")),
        ),
        (
            "no key",
            Box::new(|v| {
                v.as_object_mut().unwrap().remove("EncryptedInnerKey");
            }),
        ),
        (
            "empty key",
            Box::new(|v| v["EncryptedInnerKey"] = json!("")),
        ),
        ("empty jwt", Box::new(|v| v["Jwt"] = json!(""))),
        ("not base64", Box::new(|v| v["Jwt"] = json!("%%%"))),
    ];
    let d = TestDecryptor::new(ephemeral_key());
    for (name, mutate) in cases {
        let mut v = good.clone();
        mutate(&mut v);
        let e = unseal_token(reseal(&v).as_bytes(), d.as_ref())
            .await
            .unwrap_err();
        assert_eq!(e.code(), ErrorCode::JwtDecryptionFailed, "{name}: {e}");
        assert!(!e.to_string().contains(JWT), "no plaintext in errors");
    }
    // "None" padding (the documented vestigial value) is accepted as well.
    let mut v = good.clone();
    v["EncryptionParams"]["BlockPadding"] = json!("None");
    assert_eq!(
        unseal_token(reseal(&v).as_bytes(), d.as_ref())
            .await
            .unwrap(),
        JWT
    );
    // A sealed envelope that is not base64 / not the JSON expected.
    for token in ["%%%", "e30", "W10"] {
        let e = unseal_envelope(token, d.as_ref()).await.unwrap_err();
        assert_eq!(e.code(), ErrorCode::JwtDecryptionFailed, "{token}");
    }
}

#[tokio::test]
async fn response_body_errors() {
    let d = TestDecryptor::new(ephemeral_key());
    let code = |b: &'static [u8]| {
        let d = d.clone();
        async move {
            unseal_token(b, d.as_ref())
                .await
                .unwrap_err()
                .code()
                .number()
        }
    };
    assert_eq!(code(b"").await, 18);
    assert_eq!(code(b"{\"tok").await, 16);
    assert_eq!(code(b"{}").await, 2);
    assert_eq!(code(b"{\"token\": 3}").await, 2);
    assert_eq!(code(b"{\"token\": \"\"}").await, 18);
    // The envelope alone works too.
    let env = seal_envelope(JWT, &ephemeral_key().public).unwrap();
    assert_eq!(unseal_envelope(&env, d.as_ref()).await.unwrap(), JWT);
}

#[test]
fn sealing_to_an_unusable_key_is_25() {
    let bad = tee_attest_keys::RsaPublic::new(&[0x01, 0x00], &[0x01, 0x00, 0x01]);
    assert_eq!(seal_token(JWT, &bad).unwrap_err().code().number(), 25);
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn unsealing_arbitrary_bodies_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let d = TestDecryptor::new(ephemeral_key());
            let r = rt.block_on(unseal_token(&bytes, d.as_ref()));
            prop_assert!(r.is_err());
            let body = json!({"token": URL_SAFE_NO_PAD.encode(&bytes)}).to_string();
            prop_assert!(rt.block_on(unseal_token(body.as_bytes(), d.as_ref())).is_err());
        }
    }
}
