//! The device half against a real TPM 2.0 simulator (swtpm), started by the
//! mock crate's fixture. These tests need `swtpm` installed (`cargo xtask
//! deps`); without it they fail, loudly.

use std::time::{Duration, Instant};

use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Oaep, Pkcs1v15Encrypt, RsaPublicKey};
use tee_attest_core::{CodedError, ErrorCode, RsaDecryptScheme};
use tee_attest_mock::{MockVtpm, MOCK_HCL_REPORT_NV_SIZE};
use tee_attest_tpm::handles::{AK_PERSISTENT_HANDLE, HCL_REPORT_NV_INDEX, HCL_USER_DATA_NV_INDEX};
use tee_attest_tpm::verify::{attributes, verify_certify, verify_quote, RsaPublic};

fn vtpm() -> MockVtpm {
    MockVtpm::start().expect("swtpm must be installed and start (cargo xtask deps)")
}

fn rsa_key(k: &RsaPublic) -> RsaPublicKey {
    RsaPublicKey::new(BigUint::from_bytes_be(&k.n), BigUint::from_bytes_be(&k.e)).unwrap()
}

#[test]
fn nv_round_trips_every_size_across_chunk_boundaries() {
    let v = vtpm();
    let mut tpm = v.open().unwrap();
    let chunk = tpm.nv_buffer_max().unwrap();
    assert!(chunk >= 512, "NV buffer max {chunk}");
    // Every size from 1 to 2048 (so every chunk boundary, and one byte
    // either side of each): write a distinct pattern, read it all back.
    for size in 1..=MOCK_HCL_REPORT_NV_SIZE {
        let data: Vec<u8> = (0..size).map(|i| (i * 31 + size * 7) as u8).collect();
        tpm.nv_write(HCL_REPORT_NV_INDEX, &data).unwrap();
        let back = tpm.nv_read(HCL_REPORT_NV_INDEX).unwrap();
        assert_eq!(back.len(), MOCK_HCL_REPORT_NV_SIZE);
        assert_eq!(&back[..size], &data[..], "size {size}");
    }
    // Every size from 1 to 64 on the user-data index.
    for size in 1..=64usize {
        let data = vec![size as u8; size];
        tpm.nv_write(HCL_USER_DATA_NV_INDEX, &data).unwrap();
        assert_eq!(
            &tpm.nv_read(HCL_USER_DATA_NV_INDEX).unwrap()[..size],
            &data[..]
        );
    }
    let err = tpm.nv_write(HCL_USER_DATA_NV_INDEX, &[0; 65]).unwrap_err();
    assert_eq!(err.code(), ErrorCode::InvalidInputParameter);
    assert_eq!(tpm.nv_size(0x0140_0003).unwrap(), None);
    let err = tpm.nv_read(0x0140_0003).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TpmOperationFailed);
    assert!(err.to_string().contains("TPM2_NV_ReadPublic"), "{err}");
}

#[test]
fn the_ak_reads_as_an_rsa_key_and_a_jwk() {
    let v = vtpm();
    let mut tpm = v.open().unwrap();
    let (tpm2b, key) = tpm.read_public(AK_PERSISTENT_HANDLE).unwrap();
    assert_eq!(&key, v.ak());
    assert_eq!(key.n.len(), 256);
    let parsed = tee_attest_tpm::verify::TpmPublic::parse_tpm2b(&tpm2b).unwrap();
    assert!(parsed.has(attributes::RESTRICTED | attributes::SIGN | attributes::FIXED_TPM));
    let jwk = key.to_jwk();
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["e"], "AQAB");
    assert_eq!(RsaPublic::from_jwk(&jwk).unwrap(), key);
}

#[test]
fn quotes_verify_and_tampering_is_refused() {
    let v = vtpm();
    let mut tpm = v.open().unwrap();
    let pcrs: Vec<u32> = (0..24).collect();
    let q = tpm
        .quote(AK_PERSISTENT_HANDLE, &pcrs, b"nonce-123")
        .unwrap();
    assert_eq!(q.pcrs.len(), 24);
    let ak = v.ak();
    verify_quote(&q.attest, &q.signature, ak, b"nonce-123", &q.pcrs).unwrap();

    let check =
        |attest: &[u8], sig: &[u8], key: &RsaPublic, nonce: &[u8], pcrs: &[(u32, Vec<u8>)]| {
            verify_quote(attest, sig, key, nonce, pcrs)
                .unwrap_err()
                .to_string()
        };
    assert!(check(&q.attest, &q.signature, ak, b"nonce-124", &q.pcrs).contains("quote.nonce"));
    let mut attest = q.attest.clone();
    let last = attest.len() - 1;
    attest[last] ^= 1;
    assert!(check(&attest, &q.signature, ak, b"nonce-123", &q.pcrs).contains("quote.signature"));
    let mut values = q.pcrs.clone();
    values[5].1[3] ^= 0x10;
    assert!(check(&q.attest, &q.signature, ak, b"nonce-123", &values).contains("quote.pcr-digest"));

    // Another TPM's AK does not verify this quote.
    let other = vtpm();
    assert!(
        check(&q.attest, &q.signature, other.ak(), b"nonce-123", &q.pcrs)
            .contains("quote.signature")
    );
}

/// An independent implementation agrees: tpm2-tools' `tpm2_checkquote`.
#[test]
fn tpm2_checkquote_accepts_our_quote() {
    use rsa::pkcs8::EncodePublicKey;
    let v = vtpm();
    let mut tpm = v.open().unwrap();
    let q = tpm
        .quote(AK_PERSISTENT_HANDLE, &[0, 1, 2, 3, 4, 5, 6, 7], b"abc")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let pem = rsa_key(v.ak())
        .to_public_key_pem(rsa::pkcs8::LineEnding::LF)
        .unwrap();
    std::fs::write(dir.path().join("ak.pem"), pem).unwrap();
    std::fs::write(dir.path().join("quote.msg"), &q.attest).unwrap();
    // TPMT_SIGNATURE: RSASSA, SHA-256, TPM2B signature.
    let mut sig = vec![0x00, 0x14, 0x00, 0x0B];
    sig.extend((q.signature.len() as u16).to_be_bytes());
    sig.extend(&q.signature);
    std::fs::write(dir.path().join("quote.sig"), &sig).unwrap();
    let run = |nonce_hex: &str| {
        std::process::Command::new("tpm2_checkquote")
            .current_dir(dir.path())
            .args([
                "-u",
                "ak.pem",
                "-m",
                "quote.msg",
                "-s",
                "quote.sig",
                "-g",
                "sha256",
                "-q",
                nonce_hex,
            ])
            .output()
            .expect("tpm2_checkquote must be installed (cargo xtask deps)")
    };
    let ok = run(&hex("abc"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = run(&hex("abd"));
    assert!(
        !bad.status.success(),
        "tpm2_checkquote accepted a wrong nonce"
    );
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn ephemeral_key_is_certified_and_decrypts_inside_the_tpm() {
    let v = vtpm();
    let mut tpm = v.open().unwrap();
    let key = tpm.ephemeral_key().unwrap();
    let certified = tpm.certify(&key, AK_PERSISTENT_HANDLE, b"nonce").unwrap();
    let public = verify_certify(
        &certified.certify_info,
        &certified.signature,
        v.ak(),
        &certified.public,
        b"nonce",
    )
    .unwrap();
    assert_eq!(public.key, key.key);
    assert!(public.has(
        attributes::DECRYPT | attributes::FIXED_TPM | attributes::FIXED_PARENT | attributes::NO_DA
    ));
    assert!(
        !public.has(attributes::USER_WITH_AUTH),
        "only the PCR policy authorises use"
    );
    assert_eq!(public.auth_policy.len(), 32);
    assert!(verify_certify(
        &certified.certify_info,
        &certified.signature,
        v.ak(),
        &certified.public,
        b"nonce2"
    )
    .is_err());

    let pubkey = rsa_key(&key.key);
    let mut rng = rand::thread_rng();
    let secret = b"the secret a relying party sends";
    for (scheme, ct) in [
        (
            RsaDecryptScheme::OaepSha256,
            pubkey
                .encrypt(&mut rng, Oaep::new::<sha2::Sha256>(), secret)
                .unwrap(),
        ),
        (
            RsaDecryptScheme::OaepSha1,
            pubkey
                .encrypt(&mut rng, Oaep::new::<sha1::Sha1>(), secret)
                .unwrap(),
        ),
        (
            RsaDecryptScheme::Pkcs1v15,
            pubkey.encrypt(&mut rng, Pkcs1v15Encrypt, secret).unwrap(),
        ),
    ] {
        let plain = tpm.decrypt(&key, scheme, &ct).unwrap();
        assert_eq!(plain.as_slice(), secret, "{scheme:?}");
        // A changed ciphertext is a TPM decryption error, code 26.
        let mut bad = ct.clone();
        bad[100] ^= 1;
        let err = tpm.decrypt(&key, scheme, &bad).unwrap_err();
        assert_eq!(err.code(), ErrorCode::DecryptTpmError, "{scheme:?}: {err}");
    }
    assert_eq!(pubkey.size(), 256);
}

#[test]
fn the_ephemeral_key_is_the_same_in_a_later_session_until_a_pcr_changes() {
    let v = vtpm();
    let first = {
        let mut tpm = v.open().unwrap();
        let key = tpm.ephemeral_key().unwrap();
        key.key.clone()
    };
    // A new context (as a later process would open) re-creates the same key.
    let mut tpm = v.open().unwrap();
    let key = tpm.ephemeral_key().unwrap();
    assert_eq!(key.key, first);
    let ct = rsa_key(&key.key)
        .encrypt(&mut rand::thread_rng(), Oaep::new::<sha2::Sha256>(), b"s")
        .unwrap();
    assert_eq!(
        tpm.decrypt(&key, RsaDecryptScheme::OaepSha256, &ct)
            .unwrap()
            .as_slice(),
        b"s"
    );

    // PCR 7 changes: the policy no longer holds, decryption fails (26).
    tpm.pcr_extend_sha256(7, [0xAB; 32]).unwrap();
    let err = tpm
        .decrypt(&key, RsaDecryptScheme::OaepSha256, &ct)
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::DecryptTpmError, "{err}");
    // And the key created now is another one.
    let later = tpm.ephemeral_key().unwrap();
    assert_ne!(later.key, first);
}

#[test]
fn a_killed_tpm_fails_fast_with_a_tpm_code() {
    let mut v = vtpm();
    let mut tpm = v.open().unwrap();
    tpm.quote(AK_PERSISTENT_HANDLE, &[0], b"n").unwrap();
    v.swtpm_mut().kill();
    let start = Instant::now();
    let err = tpm.quote(AK_PERSISTENT_HANDLE, &[0], b"n").unwrap_err();
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "took {:?}",
        start.elapsed()
    );
    assert!(
        matches!(
            err.code(),
            ErrorCode::TpmInternalFailure | ErrorCode::TpmOperationFailed
        ),
        "{err}"
    );
    // Opening it again is "unreachable", code 12.
    let err = tee_attest_tpm::Tpm::open_tcti(&v.tcti()).unwrap_err();
    assert_eq!(err.code(), ErrorCode::TpmInternalFailure, "{err}");
    assert!(err.to_string().contains("unreachable"), "{err}");
}

#[test]
fn a_missing_device_is_unreachable() {
    let err = tee_attest_tpm::Tpm::open_tcti("device:/dev/definitely-not-a-tpm").unwrap_err();
    assert_eq!(err.code(), ErrorCode::TpmInternalFailure);
    let err = tee_attest_tpm::Tpm::open_tcti("nonsense-tcti:x").unwrap_err();
    assert_eq!(err.code(), ErrorCode::TpmInternalFailure);
}
