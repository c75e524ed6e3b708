//! The validator's keys: a JSON Web Key Set parsed once, each key for
//! exactly the algorithms its type (and its JWK `alg`) allows.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use aws_lc_rs::signature::{
    ParsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256,
    RSA_PSS_2048_8192_SHA256, RSA_PSS_2048_8192_SHA384,
};
use serde_json::Value;
use tee_attest_keys::RsaPublic;
use x509_cert::spki::ObjectIdentifier;

use super::MIN_RSA_BITS;
use crate::profile::Algorithm;
use crate::{b64, MaaError, TokenCheck};

/// The aws-lc-rs verification parameters of a JWS algorithm.
fn verification(alg: Algorithm) -> &'static dyn VerificationAlgorithm {
    match alg {
        Algorithm::Rs256 => &RSA_PKCS1_2048_8192_SHA256,
        Algorithm::Ps256 => &RSA_PSS_2048_8192_SHA256,
        Algorithm::Ps384 => &RSA_PSS_2048_8192_SHA384,
        Algorithm::Es256 => &ECDSA_P256_SHA256_FIXED,
    }
}

/// A JWK's public key, before it is parsed for its algorithms.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyMaterial {
    Rsa(RsaPublic),
    /// A P-256 point, SEC1 uncompressed (`04 || x || y`).
    EcP256(Vec<u8>),
}

impl KeyMaterial {
    /// The JWK `kty` of this key.
    fn key_type(&self) -> &'static str {
        match self {
            KeyMaterial::Rsa(_) => "RSA",
            KeyMaterial::EcP256(_) => "EC",
        }
    }

    /// The encoding aws-lc-rs parses: PKCS#1 `RSAPublicKey`, or the point.
    fn encoded(&self) -> Result<Cow<'_, [u8]>, String> {
        match self {
            KeyMaterial::Rsa(k) => {
                if rsa_bits(k) < MIN_RSA_BITS {
                    return Err(format!("{}-bit RSA is too small", rsa_bits(k)));
                }
                k.to_pkcs1_der()
                    .map(Cow::Owned)
                    .map_err(|e| format!("not a usable RSA key: {e}"))
            }
            KeyMaterial::EcP256(point) => Ok(Cow::Borrowed(point)),
        }
    }
}

/// A JWKS key parsed, once, for each algorithm it may verify: those of its
/// key type, or only the JWK's own `alg` when it names one.
#[derive(Debug, Clone)]
struct UsableKey {
    key_type: &'static str,
    /// The JWK's `alg`, which restricts the key to that algorithm.
    alg: Option<Algorithm>,
    /// By [`Algorithm::index`].
    parsed: [Option<Arc<ParsedPublicKey>>; Algorithm::ALL.len()],
}

impl UsableKey {
    /// Why this key cannot verify an `alg` token (the error path only).
    fn unfit_for(&self, alg: Algorithm) -> String {
        match self.alg {
            _ if alg.key_type() != self.key_type => format!(
                "an {} key cannot verify {alg} (an {} algorithm)",
                self.key_type,
                alg.key_type()
            ),
            Some(own) => format!("the JWK is for {own} only, not {alg}"),
            None => format!("it cannot verify {alg}"),
        }
    }
}

/// A JWKS key as trusted for verification: parsed once per algorithm it may
/// serve (aws-lc-rs), or why it cannot be used.
#[derive(Debug, Clone)]
enum TrustedKey {
    Usable(UsableKey),
    Unusable(String),
}

impl TrustedKey {
    fn new(material: &KeyMaterial, alg: Option<Algorithm>) -> Self {
        let encoded = match material.encoded() {
            Ok(e) => e,
            Err(reason) => return Self::Unusable(reason),
        };
        let mut parsed: [Option<Arc<ParsedPublicKey>>; Algorithm::ALL.len()] = Default::default();
        for a in Algorithm::ALL {
            if a.key_type() != material.key_type() || alg.is_some_and(|own| own != a) {
                continue;
            }
            match ParsedPublicKey::new(verification(a), &*encoded) {
                Ok(k) => parsed[a.index()] = Some(Arc::new(k)),
                Err(e) => {
                    return Self::Unusable(format!("not a usable {} key: {e}", material.key_type()))
                }
            }
        }
        Self::Usable(UsableKey {
            key_type: material.key_type(),
            alg,
            parsed,
        })
    }

    fn rsa(key: RsaPublic) -> Self {
        Self::new(&KeyMaterial::Rsa(key), None)
    }
}

/// A parsed JSON Web Key Set: keys by `kid`.
#[derive(Debug, Clone, Default)]
pub struct Jwks {
    keys: HashMap<String, TrustedKey>,
}

impl Jwks {
    /// Parses a JWKS document (`{"keys": [...]}`). RSA keys are taken from
    /// `n`/`e` and EC P-256 keys from `crv`/`x`/`y` or, when the JWK carries
    /// only `x5c` (as MAA's does), from the certificate `x5c[0]`; each is
    /// parsed once, here, for every algorithm it may verify (RSA: RS256,
    /// PS256, PS384; EC P-256: ES256), or only for the JWK's `alg` when it
    /// names one. Keys that cannot be used (another `kty` or curve, RSA
    /// under 2048 bits, `use` other than `sig`, an `alg` we do not support
    /// or for another key type, a bad certificate, `n`/`e` or `x`/`y`
    /// differing from `x5c[0]`) are kept as unusable, so that a token
    /// naming them is refused by the `key` check. Code 16 when the document
    /// is not a JWKS, 18 when empty.
    pub fn parse(json: &[u8]) -> Result<Self, MaaError> {
        if json.iter().all(u8::is_ascii_whitespace) {
            return Err(MaaError::EmptyResponse("the JWKS".into()));
        }
        let doc: Value = serde_json::from_slice(json).map_err(|e| MaaError::json("the JWKS", e))?;
        let keys = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| MaaError::json("the JWKS", "no `keys` array"))?;
        let mut out = HashMap::new();
        for jwk in keys {
            let kid = jwk
                .get("kid")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let key = match trusted_key(jwk) {
                Ok((material, alg)) => TrustedKey::new(&material, alg),
                Err(reason) => TrustedKey::Unusable(reason),
            };
            // A kid listed twice is ambiguous: keep it unusable.
            match out.entry(kid) {
                std::collections::hash_map::Entry::Occupied(mut e) => {
                    e.insert(TrustedKey::Unusable("the kid is listed twice".into()));
                }
                std::collections::hash_map::Entry::Vacant(e) => {
                    e.insert(key);
                }
            }
        }
        Ok(Self { keys: out })
    }

    /// A JWKS of RSA keys by kid (for tests and embedded verifiers); each
    /// may verify RS256, PS256 and PS384 (the profile decides which
    /// algorithms are accepted).
    pub fn from_rsa_keys(keys: impl IntoIterator<Item = (String, RsaPublic)>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|(k, v)| (k, TrustedKey::rsa(v)))
                .collect(),
        }
    }

    /// Number of keys (usable or not).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether the set has a key with this `kid`.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    fn lookup(&self, kid: Option<&str>) -> Option<&TrustedKey> {
        match kid {
            Some(k) => self.keys.get(k),
            // Without a kid, only an unambiguous single-key set will do.
            None if self.keys.len() == 1 => self.keys.values().next(),
            None => None,
        }
    }

    /// The key for `kid`, parsed for `alg`; a refusal if that key is
    /// unusable or cannot verify `alg` (another key type, or a JWK `alg`
    /// naming another algorithm); `None` if the set has no key for `kid`.
    pub(super) fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Option<Result<Arc<ParsedPublicKey>, MaaError>> {
        Some(match self.lookup(kid)? {
            TrustedKey::Usable(key) => match &key.parsed[alg.index()] {
                Some(k) => Ok(Arc::clone(k)),
                None => Err(MaaError::rejected(
                    TokenCheck::Key,
                    format!(
                        "the JWKS key {kid:?} cannot verify this token: {}",
                        key.unfit_for(alg)
                    ),
                )),
            },
            TrustedKey::Unusable(reason) => Err(MaaError::rejected(
                TokenCheck::Key,
                format!("the JWKS key {kid:?} is unusable: {reason}"),
            )),
        })
    }
}

fn rsa_bits(k: &RsaPublic) -> usize {
    let lead = k.n.first().map_or(0, |b| 8 - b.leading_zeros() as usize);
    k.n.len().saturating_sub(1) * 8 + lead
}

/// `rsaEncryption`.
const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// `id-ecPublicKey`.
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// `prime256v1` (P-256).
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// The public key of the certificate `x5c[0]`: RSA, or EC on P-256.
fn key_from_x5c(cert_b64: &str) -> Result<KeyMaterial, String> {
    use der::{Decode, Encode};
    let der_bytes = b64::decode_any(cert_b64).ok_or("x5c[0] is not base64")?;
    let cert = x509_cert::Certificate::from_der(&der_bytes)
        .map_err(|e| format!("x5c[0] is not an X.509 certificate: {e}"))?;
    let spki = &cert.tbs_certificate.subject_public_key_info;
    if spki.algorithm.oid == EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        if curve != Some(P256) {
            return Err("x5c[0] holds an EC key that is not on P-256".into());
        }
        let point = spki
            .subject_public_key
            .as_bytes()
            .ok_or("x5c[0]'s EC point is not a whole number of bytes")?;
        return ec_point(point).map(KeyMaterial::EcP256);
    }
    if spki.algorithm.oid != RSA_ENCRYPTION {
        return Err(format!(
            "x5c[0] holds a key of algorithm {} (neither RSA nor EC)",
            spki.algorithm.oid
        ));
    }
    let spki = spki.to_der().map_err(|e| e.to_string())?;
    RsaPublic::from_spki_der(&spki)
        .map(KeyMaterial::Rsa)
        .map_err(|e| format!("x5c[0] does not hold an RSA key: {e}"))
}

/// An uncompressed P-256 point (`04 || x || y`), checked for its form only
/// (aws-lc-rs checks that it is on the curve).
fn ec_point(point: &[u8]) -> Result<Vec<u8>, String> {
    if point.len() != 65 || point.first() != Some(&0x04) {
        return Err("the EC point is not an uncompressed P-256 point".into());
    }
    Ok(point.to_vec())
}

/// The P-256 point of an EC JWK's `x` and `y` (base64url, 32 bytes each).
fn ec_point_from_jwk(jwk: &Value) -> Result<Vec<u8>, String> {
    let coordinate = |name: &str| -> Result<Vec<u8>, String> {
        let text = jwk
            .get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("`{name}` is missing or not a string"))?;
        let bytes = b64::decode_any(text).ok_or_else(|| format!("`{name}` is not base64url"))?;
        if bytes.len() != 32 {
            return Err(format!(
                "`{name}` is {} bytes, not the 32 of a P-256 coordinate",
                bytes.len()
            ));
        }
        Ok(bytes)
    };
    let mut point = Vec::with_capacity(65);
    point.push(0x04);
    point.extend(coordinate("x")?);
    point.extend(coordinate("y")?);
    Ok(point)
}

/// A JWK's key and the algorithm its `alg` restricts it to, or why it
/// cannot be used.
fn trusted_key(jwk: &Value) -> Result<(KeyMaterial, Option<Algorithm>), String> {
    let kty = jwk.get("kty").and_then(Value::as_str).unwrap_or("");
    if kty != "RSA" && kty != "EC" {
        return Err(format!("kty {kty:?} is neither RSA nor EC"));
    }
    if let Some(u) = jwk.get("use") {
        if u.as_str() != Some("sig") {
            return Err(format!("use {u} is not sig"));
        }
    }
    let alg = match jwk.get("alg") {
        None => None,
        Some(a) => match a.as_str().and_then(Algorithm::from_name) {
            Some(alg) if alg.key_type() == kty => Some(alg),
            Some(alg) => {
                return Err(format!(
                    "alg {alg} is for {} keys, not {kty}",
                    alg.key_type()
                ))
            }
            None => return Err(format!("alg {a} is not supported")),
        },
    };
    let x5c0 = jwk
        .get("x5c")
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str);
    let from_x5c = |cert: &str| -> Result<KeyMaterial, String> {
        let key = key_from_x5c(cert)?;
        if key.key_type() != kty {
            return Err(format!(
                "x5c[0] holds an {} key, the JWK says kty {kty}",
                key.key_type()
            ));
        }
        Ok(key)
    };
    let inline = if kty == "RSA" {
        (jwk.get("n").is_some() || jwk.get("e").is_some())
            .then(|| RsaPublic::from_jwk(jwk).map(KeyMaterial::Rsa))
            .transpose()
            .map_err(|e| e.to_string())?
    } else {
        if jwk.get("crv").is_some_and(|c| c.as_str() != Some("P-256")) {
            return Err(format!("crv {} is not P-256", jwk["crv"]));
        }
        if jwk.get("x").is_some() || jwk.get("y").is_some() {
            if jwk.get("crv").is_none() {
                return Err("an EC JWK with x/y must name its crv".into());
            }
            Some(KeyMaterial::EcP256(ec_point_from_jwk(jwk)?))
        } else {
            None
        }
    };
    let key = match (inline, x5c0) {
        (Some(k), Some(c)) => {
            if from_x5c(c)? != k {
                return Err(match k {
                    KeyMaterial::Rsa(_) => "n/e and x5c[0] hold different keys".into(),
                    KeyMaterial::EcP256(_) => "x/y and x5c[0] hold different keys".into(),
                });
            }
            k
        }
        (Some(k), None) => k,
        (None, Some(c)) => from_x5c(c)?,
        (None, None) if kty == "RSA" => return Err("neither n/e nor x5c".into()),
        (None, None) => return Err("neither x/y nor x5c".into()),
    };
    if let KeyMaterial::Rsa(k) = &key {
        if rsa_bits(k) < MIN_RSA_BITS {
            return Err(format!("{}-bit RSA is too small", rsa_bits(k)));
        }
    }
    Ok((key, alg))
}
