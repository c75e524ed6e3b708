//! What the fuzz targets share: input splitting ([`format`]), a runtime for
//! the async entry points, the stand-in for the vTPM's decryption, and the
//! fixed keys and verifiers the targets check against (made once per
//! process).

pub mod format;
pub mod shared;

use std::future::Future;
use std::sync::OnceLock;

use async_trait::async_trait;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{self, EcdsaKeyPair, KeyPair as _, RsaKeyPair};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest_core::{Decryptor, Error, ErrorCode, RsaDecryptScheme};
use tee_attest_tpm::RsaPublic;
use zeroize::Zeroizing;

pub use format::{join, join_text, split, split_text};
pub use shared::{stand_in_modulus, ADMIN_AUDIENCE, ADMIN_ROLE, FIXED_NOW, ISSUER};

/// Runs a future to completion on a current-thread runtime (one per
/// process; the entry points fuzzed here never wait on I/O).
pub fn block_on<F: Future>(f: F) -> F::Output {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread tokio runtime")
    })
    .block_on(f)
}

/// The public key of [`StandInDecryptor`].
pub fn stand_in_public() -> RsaPublic {
    RsaPublic::new(&stand_in_modulus(), &[1, 0, 1])
}

/// Stands in for the vTPM's RSA decryption, so that the fuzzer can build
/// ciphertexts it can open: the "plaintext" of a ciphertext is its first
/// 32 bytes (all of it when shorter). A ciphertext starting with 0xFF fails
/// as a TPM command would (code 26). The RSA step itself belongs to the
/// TPM (or aws-lc-rs), not to the code fuzzed here; what follows it (key
/// sizes, AES-GCM, AES-KWP, chunking) is.
#[derive(Debug, Clone, Copy, Default)]
pub struct StandInDecryptor;

#[async_trait]
impl Decryptor for StandInDecryptor {
    fn public_jwk(&self) -> Value {
        let mut jwk = stand_in_public().to_jwk();
        if let Some(o) = jwk.as_object_mut() {
            o.insert("kid".into(), json!("TpmEphemeralEncryptionKey"));
        }
        jwk
    }

    async fn decrypt(
        &self,
        _scheme: RsaDecryptScheme,
        ciphertext: &[u8],
    ) -> tee_attest_core::Result<Zeroizing<Vec<u8>>> {
        if ciphertext.first() == Some(&0xFF) {
            return Err(Error::new(
                ErrorCode::DecryptTpmError,
                "stand-in TPM refuses this ciphertext",
            ));
        }
        Ok(Zeroizing::new(
            ciphertext[..ciphertext.len().min(32)].to_vec(),
        ))
    }
}

/// An RSA-2048 signing key made once per process, with its public key.
pub struct RsaSigner {
    key: RsaKeyPair,
    /// The public key.
    pub public: RsaPublic,
    /// The PKCS#8 encoding.
    pub pkcs8: Vec<u8>,
}

impl RsaSigner {
    fn generate() -> Self {
        let key = RsaKeyPair::generate(KeySize::Rsa2048).expect("RSA-2048 key generation");
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der<'_>>::as_der(&key)
            .expect("PKCS#8")
            .as_ref()
            .to_vec();
        let comps = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(key.public_key());
        Self {
            public: RsaPublic::new(&comps.n, &comps.e),
            key,
            pkcs8,
        }
    }

    /// Signs `msg` with `alg` (PKCS#1 v1.5 or PSS, SHA-256).
    pub fn sign(&self, alg: &'static dyn signature::RsaEncoding, msg: &[u8]) -> Vec<u8> {
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(alg, &aws_lc_rs::rand::SystemRandom::new(), msg, &mut sig)
            .expect("RSA signing");
        sig
    }
}

/// The process's RSA key (JWT signing, quote signing).
pub fn rsa_signer() -> &'static RsaSigner {
    static K: OnceLock<RsaSigner> = OnceLock::new();
    K.get_or_init(RsaSigner::generate)
}

/// The process's EC P-256 key (ES256 tokens), as PKCS#8.
pub fn ec_signer() -> &'static EcdsaKeyPair {
    static K: OnceLock<EcdsaKeyPair> = OnceLock::new();
    K.get_or_init(|| {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .expect("P-256 key generation");
        EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, doc.as_ref())
            .expect("P-256 key")
    })
}

/// The JWKS of the process's keys: `rsa-1` (RSA) and `ec-1` (P-256).
pub fn jwks_json() -> Value {
    let mut rsa = rsa_signer().public.to_jwk();
    if let Some(o) = rsa.as_object_mut() {
        o.insert("kid".into(), json!("rsa-1"));
        o.insert("use".into(), json!("sig"));
    }
    let point = ec_signer().public_key().as_ref().to_vec();
    let ec = json!({
        "kty": "EC", "crv": "P-256", "kid": "ec-1", "use": "sig",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
        "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
    });
    json!({ "keys": [rsa, ec] })
}

/// A JWS algorithm the JWT targets sign with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignAlg {
    /// RS256 with `rsa-1`.
    Rs256,
    /// PS256 with `rsa-1`.
    Ps256,
    /// ES256 with `ec-1`.
    Es256,
}

impl SignAlg {
    /// The algorithm picked by a byte.
    pub fn from_byte(b: u8) -> Self {
        match b % 3 {
            0 => SignAlg::Rs256,
            1 => SignAlg::Ps256,
            _ => SignAlg::Es256,
        }
    }
}

/// `b64url(header).b64url(claims).signature` over raw JSON texts (which may
/// be anything: the fuzzer writes them), signed with the process's key for
/// `alg`.
pub fn sign_compact(header: &[u8], claims: &[u8], alg: SignAlg) -> String {
    let mut msg = URL_SAFE_NO_PAD.encode(header);
    msg.push('.');
    msg.push_str(&URL_SAFE_NO_PAD.encode(claims));
    let sig = match alg {
        SignAlg::Rs256 => rsa_signer().sign(&signature::RSA_PKCS1_SHA256, msg.as_bytes()),
        SignAlg::Ps256 => rsa_signer().sign(&signature::RSA_PSS_SHA256, msg.as_bytes()),
        SignAlg::Es256 => ec_signer()
            .sign(&aws_lc_rs::rand::SystemRandom::new(), msg.as_bytes())
            .expect("ES256 signing")
            .as_ref()
            .to_vec(),
    };
    msg.push('.');
    msg.push_str(&URL_SAFE_NO_PAD.encode(sig));
    msg
}

/// The mock AMD ARK (DER) of the repository's stored mock Milan roots
/// (`testvectors/mock/amd-milan.pem`), which the mock CVM's VCEKs chain to.
pub fn mock_ark_der() -> Vec<u8> {
    let pem = include_str!("../../testvectors/mock/amd-milan.pem");
    tee_attest_snp::pem_blocks(pem.as_bytes(), "CERTIFICATE")
        .into_iter()
        .next()
        .expect("the stored mock roots hold the ARK certificate")
}

/// The mock ASK (DER), second certificate of the stored mock roots.
pub fn mock_ask_der() -> Vec<u8> {
    let pem = include_str!("../../testvectors/mock/amd-milan.pem");
    tee_attest_snp::pem_blocks(pem.as_bytes(), "CERTIFICATE")
        .into_iter()
        .nth(1)
        .expect("the stored mock roots hold the ASK certificate")
}

/// UTF-8 text of `b`, or `None` (targets whose entry point takes `&str`).
pub fn text(b: &[u8]) -> Option<&str> {
    std::str::from_utf8(b).ok()
}
