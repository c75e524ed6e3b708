//! Test support: RSA keys generated in the test, JWT signing, an in-test
//! `Decryptor` (private-key operations are allowed in tests only), sample
//! evidence, and a scripted HTTP server on 127.0.0.1.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use async_trait::async_trait;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, KeyPair as _, RsaEncoding};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::Value;
use tee_attest_core::{
    Decryptor, Error, ErrorCode, Evidence, RsaDecryptScheme, TeeId, TpmEvidence,
};
use tee_attest_keys::RsaPublic;
use zeroize::Zeroizing;

pub struct TestKey {
    pub pkcs8: Vec<u8>,
    pub public: RsaPublic,
}

impl TestKey {
    pub fn generate(size: KeySize) -> Self {
        let kp = KeyPair::generate(size).unwrap();
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&kp)
            .unwrap()
            .as_ref()
            .to_vec();
        let comps = PublicKeyComponents::<Vec<u8>>::from(kp.public_key());
        Self {
            pkcs8,
            public: RsaPublic::new(&comps.n, &comps.e),
        }
    }

    pub fn sign(&self, alg: &'static dyn RsaEncoding, msg: &[u8]) -> Vec<u8> {
        let kp = signature::RsaKeyPair::from_pkcs8(&self.pkcs8).unwrap();
        let mut sig = vec![0; kp.public_modulus_len()];
        kp.sign(alg, &aws_lc_rs::rand::SystemRandom::new(), msg, &mut sig)
            .unwrap();
        sig
    }

    /// A self-signed certificate for this key (DER).
    pub fn certificate(&self) -> Vec<u8> {
        let kp = rcgen::KeyPair::try_from(self.pkcs8.as_slice()).unwrap();
        let params = rcgen::CertificateParams::new(vec!["test-signer".to_string()]).unwrap();
        params.self_signed(&kp).unwrap().der().to_vec()
    }
}

/// Keys shared by the tests of one binary (generation takes a moment).
pub fn signing_key() -> &'static TestKey {
    static K: OnceLock<TestKey> = OnceLock::new();
    K.get_or_init(|| TestKey::generate(KeySize::Rsa2048))
}

pub fn other_key() -> &'static TestKey {
    static K: OnceLock<TestKey> = OnceLock::new();
    K.get_or_init(|| TestKey::generate(KeySize::Rsa2048))
}

pub fn ephemeral_key() -> &'static TestKey {
    static K: OnceLock<TestKey> = OnceLock::new();
    K.get_or_init(|| TestKey::generate(KeySize::Rsa2048))
}

pub fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// `header.payload.signature` from raw JSON texts, signed with `alg`.
pub fn sign_raw(
    header: &[u8],
    claims: &[u8],
    key: &TestKey,
    alg: &'static dyn RsaEncoding,
) -> String {
    let msg = format!("{}.{}", b64u(header), b64u(claims));
    let sig = key.sign(alg, msg.as_bytes());
    format!("{msg}.{}", b64u(&sig))
}

pub fn sign_json(header: &Value, claims: &Value, key: &TestKey) -> String {
    sign_raw(
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
        key,
        &signature::RSA_PKCS1_SHA256,
    )
}

pub const ISSUER: &str = "https://tee-attest.test";
pub const KID: &str = "test-kid";
pub const NOW: i64 = 1_700_000_000;

pub fn header() -> Value {
    serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": KID, "jku": format!("{ISSUER}/certs")})
}

pub fn claims() -> Value {
    serde_json::json!({
        "iss": ISSUER,
        "iat": NOW - 10,
        "nbf": NOW - 10,
        "exp": NOW + 3600,
        "jti": "abc",
        "x-ms-ver": "1.0",
        "x-ms-attestation-type": "azurevm",
        "x-ms-runtime": {"client-payload": {"nonce": "QURFMDEwMQ=="}}
    })
}

/// A decryptor holding an RSA private key in the test process.
pub struct TestDecryptor {
    pub key: &'static TestKey,
    /// When set, every decryption fails with this code.
    pub fail_with: Option<ErrorCode>,
    pub calls: Mutex<u32>,
}

impl TestDecryptor {
    pub fn new(key: &'static TestKey) -> Arc<Self> {
        Arc::new(Self {
            key,
            fail_with: None,
            calls: Mutex::new(0),
        })
    }
    pub fn failing(key: &'static TestKey, code: ErrorCode) -> Arc<Self> {
        Arc::new(Self {
            key,
            fail_with: Some(code),
            calls: Mutex::new(0),
        })
    }
}

#[async_trait]
impl Decryptor for TestDecryptor {
    fn public_jwk(&self) -> Value {
        self.key.public.to_jwk()
    }

    async fn decrypt(
        &self,
        scheme: RsaDecryptScheme,
        ciphertext: &[u8],
    ) -> tee_attest_core::Result<Zeroizing<Vec<u8>>> {
        *self.calls.lock().unwrap() += 1;
        if let Some(code) = self.fail_with {
            return Err(Error::new(code, "simulated failure"));
        }
        assert_eq!(
            scheme,
            RsaDecryptScheme::Pkcs1v15,
            "MAA seals with PKCS#1 v1.5"
        );
        let k = aws_lc_rs::rsa::PrivateDecryptingKey::from_pkcs8(&self.key.pkcs8).unwrap();
        let k = aws_lc_rs::rsa::Pkcs1PrivateDecryptingKey::new(k).unwrap();
        let mut out = vec![0u8; k.min_output_size()];
        let plain = k
            .decrypt(ciphertext, &mut out)
            .map_err(|_| Error::new(ErrorCode::DecryptTpmError, "RSA decryption failed"))?;
        Ok(Zeroizing::new(plain.to_vec()))
    }
}

/// A DER "certificate" stand-in (the wire protocol does not parse them).
pub fn fake_cert(tag: u8, len: usize) -> Vec<u8> {
    let mut v = vec![0x30, 0x82, (len >> 8) as u8, len as u8];
    v.extend((0..len).map(|i| tag.wrapping_add(i as u8)));
    v
}

pub fn sample_evidence() -> Evidence {
    let mut tpm = TpmEvidence::default();
    tpm.ak_pub = vec![0, 1, 2, 3, 0xff];
    tpm.ak_cert = Some(fake_cert(7, 300));
    tpm.quote = b"\xffTCG\x80\x18quote".to_vec();
    tpm.quote_signature = vec![0xab; 256];
    tpm.pcrs = (0..8).map(|i| (i, vec![i as u8; 32])).collect();
    tpm.enc_key_pub = vec![9; 280];
    tpm.enc_key_certify_info = b"\xffTCG\x80\x17certify".to_vec();
    tpm.enc_key_certify_signature = vec![0xcd; 256];
    let mut e = Evidence::new(
        TeeId::new("azure-snp"),
        tee_attest_maa::azureguest::AZURE_GUEST_SNP,
    );
    e.hardware_report = (0..1184u32).map(|i| (i % 251) as u8).collect();
    e.runtime_data = br#"{"keys":[],"vm-configuration":{"secure-boot":true}}"#.to_vec();
    e.certificates = vec![fake_cert(1, 1300), fake_cert(2, 1600), fake_cert(3, 1500)];
    e.tpm = Some(tpm);
    e.event_log = Some(b"\x00\x00\x00\x00tcg log".to_vec());
    e.client_payload = BTreeMap::from([("nonce".to_string(), "ADE0101".to_string())]);
    e
}

/// Serves `app` on 127.0.0.1 (an ephemeral port); returns `http://127.0.0.1:PORT`.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

/// A JWKS document with the public key as `kid`/`kty`/`x5c` only, as MAA's.
pub fn x5c_jwks(kid: &str, key: &TestKey) -> Value {
    use base64::engine::general_purpose::STANDARD;
    serde_json::json!({"keys": [{"kid": kid, "kty": "RSA", "x5c": [STANDARD.encode(key.certificate())]}]})
}
