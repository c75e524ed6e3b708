//! Signed policies: a policy wrapped in a JWS (RFC 7515) whose payload is
//! `{"AttestationPolicy": BASE64URL(policy text)}`, with `alg` `none`, or
//! `RS256` and the signer's certificate in `x5c`.
//!
//! The signer's key becomes the `x-ms-policy-signer` claim
//! ([`PolicySigner::claim`]). A signature that does not verify, an `alg`
//! outside the allow-list, and a signer outside the configured trusted
//! signers are refused.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self, KeyPair as _, RsaKeyPair, UnparsedPublicKey};
use base64::engine::general_purpose::{STANDARD, URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use der::{Decode as _, Encode as _, Reader as _};
use serde_json::{json, Value};
use x509_cert::Certificate;

use crate::error::PolicyError;

/// The OID of `rsaEncryption`.
const RSA_ENCRYPTION: &str = "1.2.840.113549.1.1.1";

/// Which policy JWS are acceptable.
#[derive(Debug, Clone)]
pub struct JwsOptions {
    /// Allowed `alg` values (default `none` and `RS256`).
    pub allowed_algs: Vec<String>,
    /// Trusted signer certificates (DER). When not empty, a policy must be
    /// signed by one of them; an unsigned policy is refused.
    pub trusted_signers: Vec<Vec<u8>>,
}

impl Default for JwsOptions {
    fn default() -> Self {
        Self {
            allowed_algs: vec!["none".to_string(), "RS256".to_string()],
            trusted_signers: Vec::new(),
        }
    }
}

impl JwsOptions {
    /// Adds a trusted signer certificate (DER).
    #[must_use]
    pub fn trust(mut self, certificate_der: Vec<u8>) -> Self {
        self.trusted_signers.push(certificate_der);
        self
    }

    /// Allows only these algorithms.
    #[must_use]
    pub fn allow_only(mut self, algs: &[&str]) -> Self {
        self.allowed_algs = algs.iter().map(|a| a.to_string()).collect();
        self
    }
}

/// Who signed a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicySigner {
    /// The signer's certificate, DER.
    pub certificate_der: Vec<u8>,
    /// The signer's public key as a JWK (`kty`, `n`, `e`, `x5c`).
    pub jwk: Value,
}

impl PolicySigner {
    /// The value of the `x-ms-policy-signer` claim: `{"jwk": …}`.
    pub fn claim(&self) -> Value {
        json!({ "jwk": self.jwk })
    }
}

/// A policy as uploaded: its text, and its signer if it was signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDocument {
    /// The policy text.
    pub text: String,
    /// The signer, for an `RS256` JWS.
    pub signer: Option<PolicySigner>,
    /// Whether the policy came wrapped in a JWS (signed or not).
    pub was_jws: bool,
}

/// Whether `input` looks like a compact JWS rather than policy text: three
/// base64url segments separated by dots, the first decoding to a JSON object.
pub fn looks_like_jws(input: &str) -> bool {
    let t = input.trim();
    let parts: Vec<&str> = t.split('.').collect();
    if parts.len() != 3 {
        return false;
    }
    let b64 = |s: &str| {
        s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '=')
    };
    if !parts.iter().all(|p| b64(p)) {
        return false;
    }
    parts
        .first()
        .and_then(|h| b64url_decode(h).ok())
        .and_then(|h| serde_json::from_slice::<Value>(&h).ok())
        .is_some_and(|v| v.is_object())
}

/// Reads a policy given as text or as a JWS (detected from the content).
pub fn load_policy(input: &str, opts: &JwsOptions) -> Result<PolicyDocument, PolicyError> {
    if looks_like_jws(input) {
        decode_policy_jws(input, opts)
    } else {
        if !opts.trusted_signers.is_empty() {
            return Err(PolicyError::UntrustedSigner(
                "the policy is not signed, but trusted signers are configured".to_string(),
            ));
        }
        Ok(PolicyDocument {
            text: input.to_string(),
            signer: None,
            was_jws: false,
        })
    }
}

fn b64url_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    if s.ends_with('=') {
        URL_SAFE.decode(s)
    } else {
        URL_SAFE_NO_PAD.decode(s)
    }
}

fn jws_err(m: impl Into<String>) -> PolicyError {
    PolicyError::Jws(m.into())
}

/// A JWS whose signature (if any) was checked: its header, its payload
/// (`None` when empty, as in a signed policy reset), and its signer.
#[derive(Debug, Clone, PartialEq)]
pub struct VerifiedJws {
    /// The protected header.
    pub header: Value,
    /// The payload, `None` when the payload part is empty.
    pub payload: Option<Value>,
    /// The signer, for a signed JWS.
    pub signer: Option<PolicySigner>,
}

/// Decodes a compact JWS and checks it against `opts`: `alg` in the
/// allow-list (`RSA256`, which Microsoft's Python attestation SDK writes,
/// is read as `RS256`), an RS256 signature verified with the certificate in
/// `x5c[0]` or `jwk.x5c[0]`, and that certificate among the trusted signers
/// when some are configured (an unsigned JWS is then refused). The payload
/// must be empty or a JSON object.
pub fn verify_jws(jws: &str, opts: &JwsOptions) -> Result<VerifiedJws, PolicyError> {
    let jws = jws.trim();
    let mut parts = jws.split('.');
    let (Some(h64), Some(p64), Some(s64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(jws_err("expected three dot-separated parts"));
    };
    let header: Value = b64url_decode(h64)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .filter(Value::is_object)
        .ok_or_else(|| jws_err("the header is not base64url-encoded JSON"))?;
    let alg = match header.get("alg").and_then(Value::as_str) {
        Some("RSA256") => "RS256",
        Some(a) => a,
        None => return Err(jws_err("the header has no `alg`")),
    };
    if !opts.allowed_algs.iter().any(|a| a == alg) {
        return Err(PolicyError::AlgorithmNotAllowed(
            alg.chars().take(32).collect(),
        ));
    }
    let payload = if p64.is_empty() {
        None
    } else {
        Some(
            b64url_decode(p64)
                .ok()
                .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
                .filter(|v| v.is_object() || v.is_null())
                .ok_or_else(|| jws_err("the payload is not a base64url-encoded JSON object"))?,
        )
        .filter(|v| !v.is_null())
    };
    let signer = match alg {
        "none" => {
            if !s64.is_empty() {
                return Err(jws_err("an `alg: none` JWS must have an empty signature"));
            }
            if !opts.trusted_signers.is_empty() {
                return Err(PolicyError::UntrustedSigner(
                    "the document is not signed, but trusted signers are configured".to_string(),
                ));
            }
            None
        }
        "RS256" => {
            let x5c = header
                .get("x5c")
                .or_else(|| header.get("jwk").and_then(|j| j.get("x5c")))
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .ok_or_else(|| {
                    jws_err("an RS256 JWS needs the signer certificate in `x5c` or `jwk.x5c`")
                })?;
            let cert_der = STANDARD
                .decode(x5c)
                .map_err(|_| jws_err("`x5c[0]` is not base64"))?;
            let (pkcs1, jwk) = rsa_public_key(&cert_der)?;
            let sig = b64url_decode(s64).map_err(|_| jws_err("the signature is not base64url"))?;
            let signed = format!("{h64}.{p64}");
            UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, &pkcs1)
                .verify(signed.as_bytes(), &sig)
                .map_err(|_| PolicyError::BadSignature)?;
            if !opts.trusted_signers.is_empty()
                && !opts.trusted_signers.iter().any(|t| t == &cert_der)
            {
                return Err(PolicyError::UntrustedSigner(
                    "the signing certificate is not one of the trusted signers".to_string(),
                ));
            }
            Some(PolicySigner {
                certificate_der: cert_der,
                jwk,
            })
        }
        other => {
            // Allowed by configuration but not implemented: refuse.
            return Err(PolicyError::AlgorithmNotAllowed(
                other.chars().take(32).collect(),
            ));
        }
    };
    Ok(VerifiedJws {
        header,
        payload,
        signer,
    })
}

/// Decodes and checks a policy JWS: [`verify_jws`], then the policy text
/// of its `AttestationPolicy` member.
pub fn decode_policy_jws(jws: &str, opts: &JwsOptions) -> Result<PolicyDocument, PolicyError> {
    let v = verify_jws(jws, opts)?;
    let payload = v
        .payload
        .ok_or_else(|| jws_err("the payload is empty: no `AttestationPolicy`"))?;
    let text = policy_text_of(&payload)?;
    Ok(PolicyDocument {
        text,
        signer: v.signer,
        was_jws: true,
    })
}

/// The policy text in a JWS payload: `AttestationPolicy` is BASE64URL of the
/// text, or (accepted too) the text itself.
fn policy_text_of(payload: &Value) -> Result<String, PolicyError> {
    let v = payload
        .get("AttestationPolicy")
        .and_then(Value::as_str)
        .ok_or_else(|| jws_err("the payload has no string `AttestationPolicy`"))?;
    let decoded = b64url_decode(v.trim())
        .ok()
        .and_then(|b| String::from_utf8(b).ok());
    Ok(match decoded {
        Some(text) if !v.trim().is_empty() => text,
        _ => v.to_string(),
    })
}

/// The JWK of a certificate's RSA key (`kty`, `n`, `e`, `x5c`), as MAA
/// lists policy-management certificates; code 9 when it is not an X.509
/// certificate with an RSA key.
pub fn certificate_jwk(cert_der: &[u8]) -> Result<Value, PolicyError> {
    rsa_public_key(cert_der).map(|(_, jwk)| jwk)
}

/// The RSA public key of a certificate: PKCS#1 DER and JWK.
fn rsa_public_key(cert_der: &[u8]) -> Result<(Vec<u8>, Value), PolicyError> {
    let cert = Certificate::from_der(cert_der).map_err(|e| {
        PolicyError::Certificate(format!("x5c[0] is not an X.509 certificate: {e}"))
    })?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid.to_string() != RSA_ENCRYPTION {
        return Err(PolicyError::Certificate(
            "the signer key is not an RSA key".to_string(),
        ));
    }
    let pkcs1 = spki
        .subject_public_key
        .as_bytes()
        .ok_or_else(|| PolicyError::Certificate("malformed public key".to_string()))?
        .to_vec();
    let (n, e) = rsa_n_e(&pkcs1)?;
    let jwk = json!({
        "kty": "RSA",
        "n": URL_SAFE_NO_PAD.encode(n),
        "e": URL_SAFE_NO_PAD.encode(e),
        "x5c": [STANDARD.encode(cert_der)],
    });
    Ok((pkcs1, jwk))
}

fn rsa_n_e(pkcs1: &[u8]) -> Result<(Vec<u8>, Vec<u8>), PolicyError> {
    let bad = |_| PolicyError::Certificate("malformed RSA public key".to_string());
    let mut r = der::SliceReader::new(pkcs1).map_err(bad)?;
    let (n, e) = r
        .sequence(|r| {
            let n = der::asn1::UintRef::decode(r)?;
            let e = der::asn1::UintRef::decode(r)?;
            Ok((n.as_bytes().to_vec(), e.as_bytes().to_vec()))
        })
        .map_err(bad)?;
    Ok((n, e))
}

/// The DER inside the first PEM block with one of these labels.
pub fn pem_to_der(pem: &str, labels: &[&str]) -> Result<Vec<u8>, PolicyError> {
    for label in labels {
        let begin = format!("-----BEGIN {label}-----");
        let end = format!("-----END {label}-----");
        if let Some(start) = pem.find(&begin) {
            let rest = pem.get(start + begin.len()..).unwrap_or("");
            let Some(stop) = rest.find(&end) else {
                return Err(PolicyError::Certificate(format!(
                    "unterminated PEM block {label}"
                )));
            };
            // The body may be a private key's: collected into a zeroizing
            // buffer sized up front (no reallocation leaves a copy).
            let text = rest.get(..stop).unwrap_or("");
            let mut body = zeroize::Zeroizing::new(String::with_capacity(text.len()));
            body.extend(text.chars().filter(|c| !c.is_whitespace()));
            return STANDARD
                .decode(body.as_bytes())
                .map_err(|_| PolicyError::Certificate(format!("PEM block {label} is not base64")));
        }
    }
    Err(PolicyError::Certificate(format!(
        "no PEM block labelled {}",
        labels.join(" or ")
    )))
}

/// An unsigned policy JWS (`alg: none`) carrying `text`.
pub fn unsigned_policy_jws(text: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    let payload = URL_SAFE_NO_PAD.encode(
        json!({ "AttestationPolicy": URL_SAFE_NO_PAD.encode(text.as_bytes()) }).to_string(),
    );
    format!("{header}.{payload}.")
}

/// Signs policy text with an RSA key (PEM, PKCS#8 or PKCS#1) and its
/// certificate (PEM): an `RS256` JWS with the certificate in `x5c`.
pub fn sign_policy(text: &str, key_pem: &str, cert_pem: &str) -> Result<String, PolicyError> {
    sign_jws(
        Some(&json!({ "AttestationPolicy": URL_SAFE_NO_PAD.encode(text.as_bytes()) })),
        key_pem,
        cert_pem,
    )
}

/// Signs `payload` (or an empty payload, as a signed policy reset has) with
/// an RSA key (PEM, PKCS#8 or PKCS#1) and its certificate (PEM): an `RS256`
/// JWS with the certificate in `x5c`.
pub fn sign_jws(
    payload: Option<&Value>,
    key_pem: &str,
    cert_pem: &str,
) -> Result<String, PolicyError> {
    let cert_der = pem_to_der(cert_pem, &["CERTIFICATE"])?;
    let (cert_pkcs1, _) = rsa_public_key(&cert_der)?;
    let key = if let Ok(der) = pem_to_der(key_pem, &["PRIVATE KEY"]).map(zeroize::Zeroizing::new) {
        RsaKeyPair::from_pkcs8(&der)
    } else {
        let der = zeroize::Zeroizing::new(pem_to_der(key_pem, &["RSA PRIVATE KEY"])?);
        RsaKeyPair::from_der(&der)
    }
    .map_err(|_| PolicyError::Certificate("the key is not an RSA private key".to_string()))?;
    if key.public_key().as_ref() != cert_pkcs1.as_slice() {
        return Err(PolicyError::Certificate(
            "the key does not belong to the certificate".to_string(),
        ));
    }
    // Re-encode to be sure the x5c entry is canonical DER.
    let cert_der = Certificate::from_der(&cert_der)
        .and_then(|c| c.to_der())
        .map_err(|e| PolicyError::Certificate(e.to_string()))?;
    let header = URL_SAFE_NO_PAD
        .encode(json!({ "alg": "RS256", "x5c": [STANDARD.encode(&cert_der)] }).to_string());
    let payload = payload
        .map(|p| URL_SAFE_NO_PAD.encode(p.to_string()))
        .unwrap_or_default();
    let signed = format!("{header}.{payload}");
    let mut sig = vec![0u8; key.public_modulus_len()];
    key.sign(
        &signature::RSA_PKCS1_SHA256,
        &SystemRandom::new(),
        signed.as_bytes(),
        &mut sig,
    )
    .map_err(|_| PolicyError::Signing)?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// The JSON body of a compact JWT/JWS (its middle part), without checking
/// any signature: for reading a token's claims that were verified elsewhere.
pub fn unverified_payload(compact: &str) -> Result<Value, PolicyError> {
    let payload = compact
        .trim()
        .split('.')
        .nth(1)
        .ok_or_else(|| jws_err("expected three dot-separated parts"))?;
    b64url_decode(payload)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| jws_err("the payload is not base64url-encoded JSON"))
}
