//! Encrypt to the ephemeral key of a token from the real attest flow (mock
//! Azure CVM on swtpm, local verifier), decrypt inside the vTPM.

use std::sync::Arc;

use tee_attest::mock::MockProvider;
use tee_attest::{Attester, ClientParameters, Decryptor};
use tee_attest_broker::{
    decrypt, decrypt_stream, encrypt, encrypt_stream, EncryptionType, RsaScheme,
};
use tee_attest_core::{AttestationToken, CodedError, ErrorCode};
use tee_attest_tpm::{Tpm, TpmDecryptor};
use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};

async fn attest(provider: Arc<MockProvider>) -> (Attester, AttestationToken) {
    let mut cfg = LocalVerifierConfig::new("https://127.0.0.1:8443");
    // The mock roots: the repository's stored ones, which the mock CVM signs with.
    assert_eq!(
        tee_attest::mock::trust_roots().unwrap().amd_ark,
        provider.ark_der()
    );
    cfg.appraisers = tee_attest::verifiers::appraisers(true).unwrap();
    let verifier = LocalVerifier::new(cfg, TokenSigner::generate().unwrap()).unwrap();
    let attester = Attester::new(provider, Arc::new(verifier));
    let params = ClientParameters::new("https://127.0.0.1:8443").with_payload("Nonce", "0123");
    let token = attester.attest(&params).await.unwrap();
    (attester, token)
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 13 + 1) as u8).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_scheme_decrypts_inside_the_vtpm() {
    let provider =
        Arc::new(MockProvider::start().expect("swtpm must be installed (cargo xtask deps)"));
    let (attester, token) = attest(provider.clone()).await;
    let dec = attester.decryptor().expect("the mock CVM has a vTPM");
    assert_eq!(
        token.ephemeral_key().unwrap()["n"],
        dec.public_jwk()["n"],
        "the token carries the vTPM's key"
    );

    for scheme in [
        RsaScheme::Pkcs1v15,
        RsaScheme::OaepSha1,
        RsaScheme::OaepSha256,
    ] {
        let kind = EncryptionType::None(scheme);
        for len in [0, 1, scheme.max_plaintext_len(256)] {
            let msg = data(len);
            let (ct, meta) = encrypt(kind, &token, &msg).unwrap();
            let pt = decrypt(kind, dec.as_ref(), &ct, &meta).await.unwrap();
            assert_eq!(*pt, msg, "{scheme} {len}");
        }
    }
    // Raw RSA (Microsoft's RsaNull): the key's scheme is TPM_ALG_NULL, so
    // the TPM allows it; the whole block comes back, leading zeros included.
    let raw = EncryptionType::None(RsaScheme::Raw);
    let mut msg = data(256);
    msg[0] = 0;
    msg[1] = 0;
    let (ct, meta) = encrypt(raw, &token, &msg).unwrap();
    assert_eq!(*decrypt(raw, dec.as_ref(), &ct, &meta).await.unwrap(), msg);

    // The envelope, in memory and streamed; 1 MiB.
    let msg = data(1 << 20);
    let (ct, meta) = encrypt(EncryptionType::Envelope, &token, &msg).unwrap();
    let pt = decrypt(EncryptionType::Envelope, dec.as_ref(), &ct, &meta)
        .await
        .unwrap();
    assert!(*pt == msg);
    let mut sealed = Vec::new();
    let meta = encrypt_stream(&token, &msg[..], &mut sealed).unwrap();
    let mut out = Vec::new();
    decrypt_stream(dec.as_ref(), &meta, &sealed[..], &mut out)
        .await
        .unwrap();
    assert!(out == msg);

    // Another process of the same boot: a decryptor opened afresh on the
    // same vTPM re-creates the same key and decrypts.
    let tcti = provider.cvm().tcti();
    let later = TpmDecryptor::open(Some(&tcti)).unwrap();
    let (ct, meta) = encrypt(EncryptionType::Envelope, &token, b"for later").unwrap();
    assert_eq!(
        *decrypt(EncryptionType::Envelope, &later, &ct, &meta)
            .await
            .unwrap(),
        b"for later"
    );

    // A ciphertext the vTPM refuses is code 26.
    let (mut ct, meta) = encrypt(EncryptionType::default(), &token, b"x").unwrap();
    ct[10] ^= 1;
    let err = decrypt(EncryptionType::default(), dec.as_ref(), &ct, &meta)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DecryptTpmError, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_pcr_makes_decryption_fail_with_26() {
    let provider =
        Arc::new(MockProvider::start().expect("swtpm must be installed (cargo xtask deps)"));
    let (attester, token) = attest(provider.clone()).await;
    let dec: Arc<dyn Decryptor> = attester.decryptor().unwrap();
    let (ct, meta) = encrypt(EncryptionType::Envelope, &token, b"before").unwrap();
    let (dct, dmeta) = encrypt(EncryptionType::MICROSOFT_DEFAULT, &token, b"before").unwrap();
    assert_eq!(
        *decrypt(EncryptionType::Envelope, dec.as_ref(), &ct, &meta)
            .await
            .unwrap(),
        b"before"
    );
    let tcti = provider.cvm().tcti();
    tokio::task::spawn_blocking(move || {
        Tpm::open(Some(&tcti))
            .unwrap()
            .pcr_extend_sha256(7, [0x42; 32])
            .unwrap()
    })
    .await
    .unwrap();
    let err = decrypt(EncryptionType::Envelope, dec.as_ref(), &ct, &meta)
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DecryptTpmError, "{err}");
    let err = decrypt(
        EncryptionType::MICROSOFT_DEFAULT,
        dec.as_ref(),
        &dct,
        &dmeta,
    )
    .await
    .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DecryptTpmError, "{err}");
}
