//! The verifier's token-signing key: RSA-2048 (aws-lc-rs), a self-signed
//! certificate for `x5c`, the JWKS that publishes it, and RS256 signing.
//!
//! Tokens are signed here directly with the key held in memory: a JWS is
//! three base64url segments, and re-parsing the key for every token (as a
//! generic JWT library does) would cost more than the signature.

use aws_lc_rs::digest;
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest_core::AttestationToken;
use tee_attest_tpm::RsaPublic;

use crate::VerifierError;

/// The signing key's file in the data directory (PKCS#8).
pub(crate) const KEY_FILE: &str = "signing-key.pk8";
/// The signing certificate's file in the data directory (DER).
pub(crate) const CERT_FILE: &str = "signing-cert.der";

/// Signs tokens.
pub struct TokenSigner {
    key: KeyPair,
    pkcs8: zeroize::Zeroizing<Vec<u8>>,
    cert_der: Vec<u8>,
    kid: String,
    x5t: String,
    public: RsaPublic,
}

impl std::fmt::Debug for TokenSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenSigner")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn setup(what: &str) -> impl FnOnce(String) -> VerifierError + '_ {
    move |e| VerifierError::Setup(format!("{what}: {e}"))
}

/// Signs the self-signed certificate with the aws-lc key itself (RS256).
struct CertSigner<'a>(&'a KeyPair);

impl rcgen::PublicKeyData for CertSigner<'_> {
    fn der_bytes(&self) -> &[u8] {
        // PKCS#1 RSAPublicKey, as rcgen expects for RSA.
        self.0.public_key().as_ref()
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        &rcgen::PKCS_RSA_SHA256
    }
}

impl rcgen::SigningKey for CertSigner<'_> {
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        let mut sig = vec![0u8; self.0.public_modulus_len()];
        self.0
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
            .map_err(|_| rcgen::Error::RingUnspecified)?;
        Ok(sig)
    }
}

impl TokenSigner {
    /// A fresh RSA-2048 key and a self-signed certificate for it.
    pub fn generate() -> Result<Self, VerifierError> {
        let key = KeyPair::generate(KeySize::Rsa2048)
            .map_err(|e| setup("generating the signing key")(e.to_string()))?;
        let pkcs8: Pkcs8V1Der<'_> = key
            .as_der()
            .map_err(|e| setup("encoding the signing key")(e.to_string()))?;
        // `Pkcs8V1Der` zeroizes itself when dropped; no other copy of the
        // private key is made here (rcgen signs through `CertSigner`, not
        // an `rcgen::KeyPair`, which would keep an unzeroized copy).
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new())
            .map_err(|e| setup("certificate parameters")(e.to_string()))?;
        params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "tee-attest local verifier token signing",
        );
        let cert = params
            .self_signed(&CertSigner(&key))
            .map_err(|e| setup("signing certificate")(e.to_string()))?;
        Self::from_parts(pkcs8.as_ref(), cert.der().to_vec())
    }

    /// A signer from a stored PKCS#8 key and its certificate (DER). The
    /// certificate must certify that key (else `/certs` would publish a key
    /// that verifies none of the tokens).
    pub fn from_parts(pkcs8: &[u8], cert_der: Vec<u8>) -> Result<Self, VerifierError> {
        let key = KeyPair::from_pkcs8(pkcs8)
            .map_err(|e| setup("loading the signing key")(e.to_string()))?;
        let spki = key
            .public_key()
            .as_der()
            .map_err(|e| setup("public key")(e.to_string()))?;
        {
            use x509_cert::der::{Decode as _, Encode as _};
            let cert = x509_cert::Certificate::from_der(&cert_der)
                .map_err(|e| setup("the signing certificate")(e.to_string()))?;
            let certified = cert
                .tbs_certificate
                .subject_public_key_info
                .to_der()
                .map_err(|e| setup("the signing certificate")(e.to_string()))?;
            if certified != spki.as_ref() {
                return Err(VerifierError::Setup(
                    "the signing certificate does not certify the signing key: a stored \
                     certificate and key of different pairs (restore both from one backup)"
                        .into(),
                ));
            }
        }
        let public = RsaPublic::from_spki_der(spki.as_ref())
            .map_err(|e| setup("signing key")(e.to_string()))?;
        let kid = kid_of(&cert_der);
        let x5t =
            URL_SAFE_NO_PAD.encode(digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &cert_der));
        Ok(Self {
            key,
            pkcs8: zeroize::Zeroizing::new(pkcs8.to_vec()),
            cert_der,
            kid,
            x5t,
            public,
        })
    }

    /// The signer stored in `dir` (`signing-key.pk8` and
    /// `signing-cert.der`, mode 0600, the directory 0700), created there on
    /// first use. Several verifier instances sharing the directory share
    /// the key, and several processes using a fresh directory at once all
    /// get the same one: it is made under the directory's
    /// [`FirstUseLock`](crate::fsutil::FirstUseLock) by the first of them,
    /// written atomically (the certificate, then the key, whose presence
    /// means both are whole), and loaded by the others.
    pub fn load_or_generate(dir: &std::path::Path) -> Result<Self, VerifierError> {
        if let Some(signer) = Self::load(dir)? {
            return Ok(signer);
        }
        let _first_use = crate::fsutil::FirstUseLock::acquire(dir)
            .map_err(|e| setup("locking the data directory")(e.to_string()))?;
        // Another process may have made it while this one waited.
        if let Some(signer) = Self::load(dir)? {
            return Ok(signer);
        }
        let signer = Self::generate()?;
        crate::fsutil::write_private_atomic(&dir.join(CERT_FILE), signer.cert_der())
            .map_err(|e| setup("writing the signing certificate")(e.to_string()))?;
        crate::fsutil::write_private_atomic(&dir.join(KEY_FILE), signer.pkcs8())
            .map_err(|e| setup("writing the signing key")(e.to_string()))?;
        Ok(signer)
    }

    /// The signer stored in `dir`, if its key file exists. A key file that
    /// others than its owner may read is refused, as the KEK's is.
    fn load(dir: &std::path::Path) -> Result<Option<Self>, VerifierError> {
        let path = dir.join(KEY_FILE);
        let key = match std::fs::read(&path) {
            Ok(k) => zeroize::Zeroizing::new(k),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(setup("reading the signing key")(e.to_string())),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&path)
                .map_err(|e| setup("the signing key")(e.to_string()))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(VerifierError::Setup(format!(
                    "the signing key {} is readable by others (mode {:o}); chmod 600 it",
                    path.display(),
                    mode & 0o777
                )));
            }
        }
        let cert = std::fs::read(dir.join(CERT_FILE))
            .map_err(|e| setup("reading the signing certificate")(e.to_string()))?;
        Self::from_parts(&key, cert).map(Some)
    }

    /// The PKCS#8 key (to store; zeroized on drop).
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The certificate (DER).
    pub fn cert_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The key id tokens carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The JWKS publishing the key, as MAA's `/certs` does (with `x5c`).
    pub fn jwks(&self) -> Value {
        let mut jwk = self.public.to_jwk();
        if let Some(o) = jwk.as_object_mut() {
            o.insert("kid".into(), json!(self.kid));
            o.insert("use".into(), json!("sig"));
            o.insert("alg".into(), json!("RS256"));
            o.insert("x5c".into(), json!([STANDARD.encode(&self.cert_der)]));
        }
        json!({ "keys": [jwk] })
    }

    /// Sign `claims` as an RS256 JWT with header `jku`, `kid`, `typ` and
    /// `x5c` (or `x5t` when `omit_x5c`).
    pub fn sign(&self, claims: &Value, jku: &str, omit_x5c: bool) -> Result<String, VerifierError> {
        self.sign_parts(claims, jku, omit_x5c)
            .map(|(jwt, _, _)| jwt)
    }

    /// [`TokenSigner::sign`], handing back the token as checked parts: the
    /// signer made its header and claims, so nothing parses them again.
    pub fn sign_token(
        &self,
        claims: &Value,
        jku: &str,
        omit_x5c: bool,
    ) -> Result<AttestationToken, VerifierError> {
        let (jwt, header, claims) = self.sign_parts(claims, jku, omit_x5c)?;
        Ok(AttestationToken::from_checked_parts(&jwt, header, claims))
    }

    fn sign_parts(
        &self,
        claims: &Value,
        jku: &str,
        omit_x5c: bool,
    ) -> Result<(String, Vec<u8>, Vec<u8>), VerifierError> {
        let mut header = json!({"alg": "RS256", "jku": jku, "kid": self.kid, "typ": "JWT"});
        if let Some(h) = header.as_object_mut() {
            if omit_x5c {
                h.insert("x5t".into(), json!(self.x5t));
            } else {
                h.insert("x5c".into(), json!([STANDARD.encode(&self.cert_der)]));
            }
        }
        let header_json = header.to_string().into_bytes();
        let claims_json = claims.to_string().into_bytes();
        let mut out = URL_SAFE_NO_PAD.encode(&header_json);
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(&claims_json));
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &RSA_PKCS1_SHA256,
                &SystemRandom::new(),
                out.as_bytes(),
                &mut sig,
            )
            .map_err(|e| VerifierError::Setup(format!("signing the token: {e}")))?;
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(sig));
        Ok((out, header_json, claims_json))
    }

    /// An RSASSA-PSS signature with SHA-384 (PS384) over `message`: the
    /// service's ITA profile signs its tokens and nonces with it, using a
    /// key of its own (`<data-dir>/ita/`), never the RS256 key of
    /// MAA-profile tokens.
    pub fn sign_ps384(&self, message: &[u8]) -> Result<Vec<u8>, VerifierError> {
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(
                &aws_lc_rs::signature::RSA_PSS_SHA384,
                &SystemRandom::new(),
                message,
                &mut sig,
            )
            .map_err(|e| VerifierError::Setup(format!("signing with PS384: {e}")))?;
        Ok(sig)
    }
}

/// The key id of a signing certificate: base64 of its SHA-256.
pub(crate) fn kid_of(cert_der: &[u8]) -> String {
    STANDARD.encode(digest::digest(&digest::SHA256, cert_der))
}

/// An unsecured JWT (RFC 7519 §6: `alg: none`, empty signature) carrying
/// `claims`: what a draft policy yields. It names no key (`kid`, `jku`,
/// `x5c`), so nothing can mistake it for a token this verifier vouches for.
pub(crate) fn unsecured_jwt(claims: &Value) -> AttestationToken {
    const HEADER: &[u8] = br#"{"alg":"none","typ":"JWT"}"#;
    let claims_json = claims.to_string().into_bytes();
    let raw = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(&claims_json)
    );
    AttestationToken::from_checked_parts(&raw, HEADER.to_vec(), claims_json)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};

    /// At start a stored key readable by others is refused, and so is a
    /// certificate of another key; the intact pair loads.
    #[test]
    fn a_key_readable_by_others_or_a_foreign_certificate_is_refused() {
        use std::os::unix::fs::PermissionsExt as _;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let first = TokenSigner::load_or_generate(&dir).unwrap();
        assert_eq!(
            TokenSigner::load_or_generate(&dir).unwrap().kid(),
            first.kid()
        );

        let key = dir.join(KEY_FILE);
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = TokenSigner::load_or_generate(&dir).unwrap_err().to_string();
        assert!(e.contains("readable by others") && e.contains("644"), "{e}");
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();

        let other = TokenSigner::generate().unwrap();
        std::fs::write(dir.join(CERT_FILE), other.cert_der()).unwrap();
        let e = TokenSigner::load_or_generate(&dir).unwrap_err().to_string();
        assert!(e.contains("does not certify the signing key"), "{e}");
        assert!(TokenSigner::from_parts(first.pkcs8(), b"not a certificate".to_vec()).is_err());
        assert!(TokenSigner::from_parts(first.pkcs8(), first.cert_der().to_vec()).is_ok());
    }

    /// Eight first uses of one fresh directory at once (issue 18): every
    /// one succeeds and they all get the same key; the directory is 0700
    /// and both files 0600.
    #[test]
    fn parallel_first_uses_of_a_fresh_directory_agree_on_one_key() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("fresh/data");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (dir, barrier) = (dir.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    TokenSigner::load_or_generate(&dir).map(|s| s.kid().to_string())
                })
            })
            .collect();
        let kids: Vec<String> = handles
            .into_iter()
            .map(|h| h.join().unwrap().expect("every first use succeeds"))
            .collect();
        assert!(kids.iter().all(|k| *k == kids[0]), "{kids:?}");
        assert_eq!(TokenSigner::load_or_generate(&dir).unwrap().kid(), kids[0]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode =
                |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&dir), 0o700);
            assert_eq!(mode(&tmp.path().join("fresh")), 0o700);
            assert_eq!(mode(&dir.join(KEY_FILE)), 0o600);
            assert_eq!(mode(&dir.join(CERT_FILE)), 0o600);
        }
        // Nothing half-written left behind.
        let stray: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(stray.is_empty(), "{stray:?}");
    }

    #[test]
    fn signs_tokens_that_verify_with_the_published_key() {
        let s = TokenSigner::generate().unwrap();
        let t = s.sign(&json!({"x": 1}), "https://v/certs", false).unwrap();
        let parts: Vec<_> = t.split('.').collect();
        assert_eq!(parts.len(), 3);
        let jwks = s.jwks();
        let jwk = &jwks["keys"][0];
        let key = RsaPublic::from_jwk(jwk).unwrap();
        let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        RsaPublicKeyComponents {
            n: &key.n,
            e: &key.e,
        }
        .verify(
            &RSA_PKCS1_2048_8192_SHA256,
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &sig,
        )
        .unwrap();
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[0]).unwrap()).unwrap();
        assert_eq!(header["kid"], jwk["kid"]);
        assert_eq!(header["x5c"][0], jwk["x5c"][0]);
        let t2 = s.sign(&json!({}), "j", true).unwrap();
        let h2: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(t2.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert!(h2.get("x5c").is_none());
        assert!(h2["x5t"].is_string());
        // Stored in a directory (0600) and loaded again.
        let dir = std::env::temp_dir().join(format!("tee-attest-signer-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = TokenSigner::load_or_generate(&dir).unwrap();
        let second = TokenSigner::load_or_generate(&dir).unwrap();
        assert_eq!(first.kid(), second.kid());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(dir.join("signing-key.pk8"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let _ = std::fs::remove_dir_all(&dir);
        // Stored and loaded again: the same key and kid.
        let again = TokenSigner::from_parts(s.pkcs8(), s.cert_der().to_vec()).unwrap();
        assert_eq!(again.kid(), s.kid());
        assert_eq!(again.jwks(), jwks);
    }
}
