//! Relying-party validation of tokens: attestation tokens (MAA's or our
//! verifier's) and, with another [`ValidationProfile`], bearer tokens of an
//! OpenID issuer such as Azure AD's access tokens.
//!
//! Keys come only from the configured JWKS — a static file, or the issuer's
//! OpenID metadata (`{issuer}/.well-known/openid-configuration` →
//! `jwks_uri`, which must be on the issuer's origin). Header members that
//! point elsewhere (`jku`, `x5u`, `x5c`, `jwk`) are ignored.
//!
//! **Profiles.** One validator, one [`ValidationProfile`]: which algorithms
//! it accepts, whether `kid` and `x-ms-ver` are required, whether the
//! mock-evidence check applies, and which audience and role it requires.
//! [`ValidationProfile::maa`] (the default) accepts RS256 only, requires
//! `x-ms-ver` and checks for mock evidence; [`ValidationProfile::admin`]
//! accepts RS256, PS256 and ES256, requires `kid`, an `aud` naming the
//! service and a granted role. Checks a profile does not ask for are
//! skipped; every other check is the same for all profiles.
//!
//! The checks, in order (each refusal names its [`TokenCheck`]; those in
//! brackets run only when the profile asks for them):
//!
//! ```text
//! size ─ format (3 non-empty base64url parts) ─ header (UTF-8 JSON object,
//! unique names) ─ alg ∈ profile's algorithms (never none/HS*) ─ typ ∈
//! {absent, JWT} ─ no crit ─ claims (UTF-8 JSON object, unique names) ─ iss
//! ─ [aud] ─ exp present ─ not expired ─ nbf/iat not in the future ─ [kid
//! present] ─ kid in JWKS (one rate-limited refresh) ─ key usable for the
//! alg (RSA ≥ 2048 for RS256/PS256/PS384, EC P-256 for ES256; the JWK's own
//! alg, if any, must be the token's) ─ signature ─ [x-ms-ver] ─ [mock
//! evidence] ─ nonce ─ [role]
//! ```
//!
//! Issuer, audience and time checks come before the key lookup so that
//! stale or foreign tokens never make the validator fetch keys. The role
//! check comes last: a refusal by [`TokenCheck::Role`] means that the token
//! is authentic and valid for this service but its identity lacks the role
//! (HTTP 403); every other refusal is a failed authentication (401), see
//! [`TokenCheck::http_status`].
//!
//! Algorithm confusion is impossible by construction: the algorithm is one
//! of the profile's (all asymmetric), each JWKS key is parsed when the set
//! is loaded for exactly the algorithms its type (and its JWK `alg`)
//! allows, and a token is verified with the key parsed for its algorithm or
//! not at all.
//!
//! Cost: the signature dominates. Header and payload are decoded (SIMD
//! base64url) and walked once each without building a tree — only the
//! members the checks read are decoded, and a profile without audience or
//! role reads no more than the MAA checks need — and JWKS keys are parsed
//! once per algorithm (aws-lc-rs) when the set is loaded. The token
//! returned holds the checked JSON texts; its `Value` trees are built on
//! first use. Figures in `docs/PERFORMANCE.md` (`benches/verify.rs`,
//! `validate/*`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::{
    ParsedPublicKey, VerificationAlgorithm, ECDSA_P256_SHA256_FIXED, RSA_PKCS1_2048_8192_SHA256,
    RSA_PSS_2048_8192_SHA256, RSA_PSS_2048_8192_SHA384,
};
use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::{Map, Value};
use tee_attest_core::{AttestationToken, MOCK_EVIDENCE_CLAIM};
use tee_attest_tpm::RsaPublic;
use x509_cert::spki::ObjectIdentifier;

pub use crate::profile::{Algorithm, ValidationProfile, DEFAULT_ROLE_CLAIM};
use crate::{b64, MaaError, TokenCheck};
use tee_attest_http::{Http, HttpConfig, Method};

/// The most leeway that can be configured for `exp`/`nbf`.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// The default leeway.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// The default maximum token size (bytes).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 256 * 1024;
/// The default minimum time between two JWKS refreshes.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// The smallest RSA modulus accepted for token signatures (bits).
pub const MIN_RSA_BITS: usize = 2048;

/// Where "now" comes from, so that tests can validate at a chosen time.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock stopped at a given time.
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_unix(&self) -> i64 {
        self.0
    }
}

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

/// A JSON value decoded into a [`Value`], refusing duplicate member names
/// at any depth (for the few members the validator reads).
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("not a finite number"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(de::Error::custom(format!("duplicate member {k:?}")));
            }
            let Strict(v) = map.next_value()?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

/// A member name, borrowed from the JSON text unless it had escapes.
type Name<'de> = Cow<'de, str>;

struct NameSeed;

impl<'de> DeserializeSeed<'de> for NameSeed {
    type Value = Name<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Name<'de>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for NameSeed {
    type Value = Name<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a member name")
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Name<'de>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Name<'de>, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Name<'de>, E> {
        Ok(Cow::Owned(v))
    }
}

/// The member names of the objects being walked, innermost last: each
/// object pushes its names above its parent's and pops them when done, so
/// one buffer serves a whole document.
type NameStack<'de> = Vec<Name<'de>>;

/// Refuses a duplicate among the names of the object that starts at
/// `from` on the stack (compared decoded, so that an escaped spelling of a
/// name is the same name), then pops them.
fn close_object<'de, E: de::Error>(names: &mut NameStack<'de>, from: usize) -> Result<(), E> {
    let own = &mut names[from..];
    // By length first: cheap, and it separates most names (MAA's share
    // long prefixes such as `x-ms-`) without comparing their bytes.
    own.sort_unstable_by(|a, b| a.len().cmp(&b.len()).then_with(|| a.cmp(b)));
    if let Some(w) = own.windows(2).find(|w| w[0] == w[1]) {
        return Err(E::custom(format_args!("duplicate member {:?}", w[0])));
    }
    names.truncate(from);
    Ok(())
}

/// What a [`Walk`] keeps of the value it walks.
#[derive(Clone, Copy, PartialEq)]
enum Keep {
    /// Nothing.
    Nothing,
    /// `x-ms-runtime`: the nonces of its `client-payload`.
    RuntimeNonces,
    /// `client-payload`: the string values of its members named `nonce`
    /// (any case).
    PayloadNonces,
}

/// A JSON value walked without being built: numbers are parsed (so that
/// whatever later decodes the text into a [`Value`] accepts it), strings
/// are not copied, and duplicate member names are refused at any depth.
struct Walk<'a, 'de> {
    names: &'a mut NameStack<'de>,
    keep: Keep,
    nonces: &'a mut Vec<String>,
}

impl<'de> DeserializeSeed<'de> for Walk<'_, 'de> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Walk<'_, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        if v.is_finite() {
            Ok(())
        } else {
            Err(E::custom("not a finite number"))
        }
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Walk {
                names: &mut *self.names,
                keep: Keep::Nothing,
                nonces: &mut *self.nonces,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let from = self.names.len();
        while let Some(name) = map.next_key_seed(NameSeed)? {
            let is_nonce = self.keep == Keep::PayloadNonces && name.eq_ignore_ascii_case("nonce");
            let keep = if self.keep == Keep::RuntimeNonces && name == "client-payload" {
                Keep::PayloadNonces
            } else {
                Keep::Nothing
            };
            self.names.push(name);
            if is_nonce {
                if let Value::String(n) = map.next_value::<Strict>()?.0 {
                    self.nonces.push(n);
                }
            } else {
                map.next_value_seed(Walk {
                    names: &mut *self.names,
                    keep,
                    nonces: &mut *self.nonces,
                })?;
            }
        }
        close_object(self.names, from)
    }
}

/// The members of a JSON object the validator reads.
struct Picked<const N: usize> {
    /// The members named in [`Pick::wanted`], decoded, in its order.
    values: [Option<Value>; N],
    /// The nonces of `x-ms-runtime.client-payload`.
    payload_nonces: Vec<String>,
}

/// A JSON object walked as [`Walk`] does, with the members named in
/// `wanted` decoded ([`Strict`]) and the client payload's nonces kept.
/// `None` names nothing (a member the profile does not read); a name
/// listed twice is decoded into its first slot only.
struct Pick<'w, const N: usize> {
    wanted: [Option<&'w str>; N],
}

impl<'de, const N: usize> DeserializeSeed<'de> for Pick<'_, N> {
    type Value = Picked<N>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, const N: usize> Visitor<'de> for Pick<'_, N> {
    type Value = Picked<N>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut out = Picked {
            values: std::array::from_fn(|_| None),
            payload_nonces: Vec::new(),
        };
        let mut names = NameStack::with_capacity(64);
        while let Some(name) = map.next_key_seed(NameSeed)? {
            let wanted = self.wanted.iter().position(|w| *w == Some(&*name));
            let keep = if name == "x-ms-runtime" {
                Keep::RuntimeNonces
            } else {
                Keep::Nothing
            };
            // The top-level names stay below the nested objects'.
            names.push(name);
            match wanted {
                Some(i) => out.values[i] = Some(map.next_value::<Strict>()?.0),
                None => map.next_value_seed(Walk {
                    names: &mut names,
                    keep,
                    nonces: &mut out.payload_nonces,
                })?,
            }
        }
        close_object(&mut names, 0)?;
        Ok(out)
    }
}

/// Decodes a base64url part, checks that it is a UTF-8 JSON object with
/// unique member names at any depth, and returns its JSON text with the
/// members the validator reads.
fn checked_object<const N: usize>(
    part: &str,
    check: TokenCheck,
    what: &str,
    wanted: [Option<&str>; N],
) -> Result<(Vec<u8>, Picked<N>), MaaError> {
    let bytes = b64url_decode(part).ok_or_else(|| {
        MaaError::rejected(TokenCheck::Format, format!("the {what} is not base64url"))
    })?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| MaaError::rejected(check, format!("the {what} is not UTF-8")))?;
    let not_json = |e: serde_json::Error| {
        MaaError::rejected(check, format!("the {what} is not acceptable JSON: {e}"))
    };
    if !text.trim_start().starts_with('{') {
        return Err(MaaError::rejected(
            check,
            format!("the {what} is not a JSON object"),
        ));
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let picked = Pick { wanted }.deserialize(&mut de).map_err(not_json)?;
    de.end().map_err(not_json)?;
    Ok((bytes, picked))
}

/// Strict unpadded base64url (no padding, no other alphabet, canonical
/// trailing bits), SIMD-accelerated: decoding the header and payload is
/// the largest cost of validation after the signature.
fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    base64_simd::URL_SAFE_NO_PAD.decode_to_vec(s).ok()
}

fn normalize_issuer(s: &str) -> &str {
    s.trim_end_matches('/')
}

fn time_claim(claim: Option<&Value>, name: &str) -> Result<Option<i64>, MaaError> {
    match claim {
        None => Ok(None),
        Some(v) => {
            let t = v
                .as_i64()
                .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64));
            let check = if name == "exp" {
                TokenCheck::MissingExpiry
            } else {
                TokenCheck::NotYetValid
            };
            t.map(Some)
                .ok_or_else(|| MaaError::rejected(check, format!("`{name}` is not a number")))
        }
    }
}

/// Whether a nonce claim matches the expected nonce: equal to it, to its
/// base64 (MAA returns `client-payload` values base64-encoded), or its
/// base64 decodes to one of those.
fn nonce_matches(claim: &str, expected: &[u8]) -> bool {
    let std_b64 = b64::std(expected);
    let forms: [&[u8]; 2] = [expected, std_b64.as_bytes()];
    if forms.contains(&claim.as_bytes()) {
        return true;
    }
    b64::decode_any(claim).is_some_and(|d| forms.contains(&d.as_slice()))
}

/// Where the validator's keys come from.
enum KeySource {
    Static,
    Discovery { http: Http },
}

struct Cache {
    jwks: Jwks,
    fetched_at: Option<Instant>,
    /// Why the last refresh failed, if it did (reported while rate limited).
    last_error: Option<String>,
}

impl Cache {
    /// The key for `kid`, parsed for `alg`; a refusal if that key is
    /// unusable or cannot verify `alg` (another key type, or a JWK `alg`
    /// naming another algorithm); `None` if the set has no key for `kid`.
    fn lookup_key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Option<Result<Arc<ParsedPublicKey>, MaaError>> {
        Some(match self.jwks.lookup(kid)? {
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

/// Validates tokens as a relying party: attestation tokens (the default
/// [`ValidationProfile::maa`]) or, with another [`ValidationProfile`],
/// bearer tokens of an OpenID issuer ([`ValidationProfile::admin`]).
pub struct TokenValidator {
    issuer: Option<String>,
    profile: ValidationProfile,
    source: KeySource,
    /// Read on every validation; written only briefly around a refresh.
    cache: RwLock<Cache>,
    /// Held for the whole of a refresh, so that one happens at a time.
    refresh: tokio::sync::Mutex<()>,
    clock: Arc<dyn Clock>,
    leeway: Duration,
    allow_mock: bool,
    max_token_bytes: usize,
    refresh_interval: Duration,
}

impl fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenValidator")
            .field("issuer", &self.issuer)
            .field(
                "discovery",
                &matches!(self.source, KeySource::Discovery { .. }),
            )
            .field("leeway", &self.leeway)
            .field("allow_mock", &self.allow_mock)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl TokenValidator {
    fn with_source(issuer: Option<String>, source: KeySource, jwks: Jwks) -> Self {
        Self {
            issuer: issuer.map(|i| normalize_issuer(i.trim()).to_string()),
            profile: ValidationProfile::maa(),
            source,
            cache: RwLock::new(Cache {
                jwks,
                fetched_at: None,
                last_error: None,
            }),
            refresh: tokio::sync::Mutex::new(()),
            clock: Arc::new(SystemClock),
            leeway: DEFAULT_LEEWAY,
            allow_mock: false,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
        }
    }

    /// A validator with a fixed key set (`--jwks FILE`). With `issuer`,
    /// `iss` must equal it (modulo a trailing slash); without, `iss` is not
    /// checked.
    pub fn with_jwks(issuer: Option<&str>, jwks: Jwks) -> Self {
        Self::with_source(issuer.map(str::to_string), KeySource::Static, jwks)
    }

    /// A validator with the key set in a JWKS file (codes 8 unreadable, 16
    /// not a JWKS).
    pub fn from_jwks_file(issuer: Option<&str>, path: &std::path::Path) -> Result<Self, MaaError> {
        let bytes = std::fs::read(path)
            .map_err(|e| MaaError::InvalidInput(format!("reading {}: {e}", path.display())))?;
        Ok(Self::with_jwks(issuer, Jwks::parse(&bytes)?))
    }

    /// A validator for tokens of `issuer`, whose keys it discovers from the
    /// issuer's OpenID metadata, fetched on first use and refreshed when a
    /// token names an unknown `kid` (at most once per refresh interval).
    pub fn with_discovery(issuer: &str, http: HttpConfig) -> Result<Self, MaaError> {
        let issuer = issuer.trim();
        let url = reqwest::Url::parse(issuer)
            .map_err(|e| MaaError::InvalidInput(format!("issuer {issuer:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(MaaError::InvalidInput(format!(
                "issuer {issuer:?} is not an http(s) URL"
            )));
        }
        let http = Http::new(http)?;
        Ok(Self::with_source(
            Some(issuer.to_string()),
            KeySource::Discovery { http },
            Jwks::default(),
        ))
    }

    /// Validates with `profile` instead of the default
    /// [`ValidationProfile::maa`]: the algorithms accepted, whether `kid`
    /// and `x-ms-ver` are required, whether the mock-evidence check
    /// applies, and the audience and role required.
    #[must_use]
    pub fn with_profile(mut self, profile: ValidationProfile) -> Self {
        self.profile = profile;
        self
    }

    /// The profile tokens are validated with.
    pub fn profile(&self) -> &ValidationProfile {
        &self.profile
    }

    /// Uses `clock` for the time checks.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the leeway for `exp`/`nbf`/`iat` (capped at [`MAX_LEEWAY`]).
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// Whether tokens from mock evidence are accepted (default: no), where
    /// the profile applies the mock-evidence check.
    #[must_use]
    pub fn allow_mock(mut self, allow: bool) -> Self {
        self.allow_mock = allow;
        self
    }

    /// Sets the maximum token size (capped at 1 MiB).
    #[must_use]
    pub fn with_max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max.min(1024 * 1024);
        self
    }

    /// Sets the minimum time between two JWKS refreshes.
    #[must_use]
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// Replaces the key set (a fixed-keys validator following a signer's
    /// live key set across rotations).
    pub fn replace_jwks(&self, jwks: Jwks) {
        let mut cache = self.cache_mut();
        cache.jwks = jwks;
        cache.last_error = None;
    }

    /// The configured issuer, without a trailing slash.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// Validates `token` with the validator's profile; with
    /// `expected_nonce`, the token's nonce (the `nonce` claim, or
    /// `x-ms-runtime.client-payload.nonce`, raw or base64) must match.
    /// Returns the decoded token. A refusal names its [`TokenCheck`]; only
    /// [`TokenCheck::Role`] means "authenticated, but not authorized"
    /// ([`TokenCheck::http_status`]).
    pub async fn validate(
        &self,
        token: &str,
        expected_nonce: Option<&[u8]>,
    ) -> Result<AttestationToken, MaaError> {
        let parsed = self.precheck(token)?;
        let key = self.key_for(parsed.kid.as_deref(), parsed.alg).await?;
        self.finish(parsed, &key, expected_nonce)
    }

    /// Structure, header and time/issuer checks: everything that needs no key.
    fn precheck<'t>(&self, token: &'t str) -> Result<Parsed<'t>, MaaError> {
        let token = token.trim_matches(|c: char| c.is_ascii_whitespace());
        if token.len() > self.max_token_bytes {
            return Err(MaaError::rejected(
                TokenCheck::Size,
                format!(
                    "{} bytes; at most {} accepted",
                    token.len(),
                    self.max_token_bytes
                ),
            ));
        }
        let segments = || token.split('.').count();
        let Some((message, s)) = token.rsplit_once('.') else {
            return Err(MaaError::rejected(
                TokenCheck::Format,
                "1 segment instead of 3",
            ));
        };
        let too_many = || {
            MaaError::rejected(
                TokenCheck::Format,
                format!("{} segments instead of 3", segments()),
            )
        };
        let Some((h, p)) = message.split_once('.') else {
            return Err(too_many());
        };
        if h.is_empty() || p.is_empty() {
            return Err(MaaError::rejected(
                TokenCheck::Format,
                "header and payload must be non-empty unpadded base64url",
            ));
        }
        // Base64url decoding refuses padding and any other alphabet.
        let (header_json, header) = checked_object(
            h,
            TokenCheck::Header,
            "header",
            [Some("alg"), Some("typ"), Some("crit"), Some("kid")],
        )?;
        let [alg, typ, crit, kid] = header.values;
        // Only the profile's algorithms, all asymmetric: never `none`, never
        // HMAC; the key must then be of the algorithm's type.
        let alg = match alg.as_ref().and_then(Value::as_str) {
            Some(name) => match Algorithm::from_name(name) {
                Some(a) if self.profile.allows(a) => a,
                _ => {
                    return Err(MaaError::rejected(
                        TokenCheck::Algorithm,
                        format!(
                            "alg {name:?} is not allowed (allowed: {})",
                            self.profile.algorithm_list()
                        ),
                    ))
                }
            },
            None => {
                return Err(MaaError::rejected(
                    TokenCheck::Algorithm,
                    format!(
                        "alg {} is not allowed (allowed: {})",
                        alg.map_or_else(|| "(missing)".to_string(), |a| a.to_string()),
                        self.profile.algorithm_list()
                    ),
                ))
            }
        };
        if let Some(typ) = typ {
            if !typ.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JWT")) {
                return Err(MaaError::rejected(
                    TokenCheck::Type,
                    format!("typ {typ} is not JWT"),
                ));
            }
        }
        if crit.is_some() {
            return Err(MaaError::rejected(
                TokenCheck::Critical,
                "critical header extensions are not supported",
            ));
        }
        if s.is_empty() {
            return Err(MaaError::rejected(
                TokenCheck::Signature,
                "the token carries no signature",
            ));
        }
        let signature = b64url_decode(s).ok_or_else(|| {
            MaaError::rejected(TokenCheck::Format, "the signature is not base64url")
        })?;
        let kid = match kid {
            None => None,
            Some(Value::String(k)) => Some(k),
            Some(other) => {
                return Err(MaaError::rejected(
                    TokenCheck::Header,
                    format!("kid {other} is not a string"),
                ))
            }
        };
        // A dot in the payload (more than three segments) fails its
        // base64url decoding, and is reported as such.
        // The claims every profile reads, then those only some read: `aud`
        // with an audience, the role claim with a role (`None` reads
        // nothing, so the MAA profile decodes no more than it always did).
        let role_claim = self.profile.role().map(|_| self.profile.role_claim());
        let mut wanted = [
            Some("iss"),
            Some("exp"),
            Some("nbf"),
            Some("iat"),
            Some("x-ms-ver"),
            Some(MOCK_EVIDENCE_CLAIM),
            Some("nonce"),
            self.profile.audience().map(|_| "aud"),
            role_claim,
        ];
        // A role claim that is also one of the others is read from its slot.
        let role_shares = role_claim.and_then(|r| wanted[..8].iter().position(|w| *w == Some(r)));
        if role_shares.is_some() {
            wanted[8] = None;
        }
        let (claims_json, claims) = checked_object(p, TokenCheck::Claims, "payload", wanted)
            .map_err(|e| if p.contains('.') { too_many() } else { e })?;
        let mut values = claims.values;
        let role = match role_shares {
            Some(i) => values[i].clone(),
            None => values[8].take(),
        };
        let [iss, exp, nbf, iat, ver, mock, nonce, aud, _] = values;
        // The token's nonces: its `nonce` claim, and the members named
        // `nonce` (any case) of `x-ms-runtime.client-payload`.
        let mut nonces = claims.payload_nonces;
        if let Some(Value::String(n)) = nonce {
            nonces.push(n);
        }
        if let Some(want) = &self.issuer {
            match iss.as_ref().and_then(Value::as_str) {
                Some(iss) if normalize_issuer(iss) == want => {}
                Some(iss) => {
                    return Err(MaaError::rejected(
                        TokenCheck::Issuer,
                        format!("iss {iss:?} is not {want:?}"),
                    ))
                }
                None => return Err(MaaError::rejected(TokenCheck::Issuer, "no `iss` claim")),
            }
        }
        if let Some(want) = self.profile.audience() {
            check_audience(aud.as_ref(), want)?;
        }
        let now = self.clock.now_unix();
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(300);
        let exp = time_claim(exp.as_ref(), "exp")?
            .ok_or_else(|| MaaError::rejected(TokenCheck::MissingExpiry, "no `exp` claim"))?;
        if now >= exp.saturating_add(leeway) {
            return Err(MaaError::rejected(
                TokenCheck::Expired,
                format!("expired at {exp}; now is {now}"),
            ));
        }
        for (name, claim) in [("nbf", &nbf), ("iat", &iat)] {
            if let Some(t) = time_claim(claim.as_ref(), name)? {
                if now.saturating_add(leeway) < t {
                    return Err(MaaError::rejected(
                        TokenCheck::NotYetValid,
                        format!("`{name}` {t} is in the future; now is {now}"),
                    ));
                }
            }
        }
        if kid.is_none() && self.profile.requires_kid() {
            return Err(MaaError::rejected(
                TokenCheck::KeyId,
                "the token names no kid and the profile requires one",
            ));
        }
        Ok(Parsed {
            token,
            message,
            signature,
            alg,
            kid,
            header_json,
            claims_json,
            has_version: ver.as_ref().is_some_and(Value::is_string),
            mock: mock.as_ref().and_then(Value::as_bool) == Some(true),
            nonces,
            role,
        })
    }

    /// The cache, even if a thread panicked while holding it (every write
    /// leaves it consistent).
    fn cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn cache_mut(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key for `kid`, parsed for `alg`: from the cache when it has it
    /// (never waiting for a refresh in progress), else after at most one
    /// refresh per interval (refreshes are serialized; the cache lock is
    /// never held across one).
    async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<ParsedPublicKey>, MaaError> {
        if let Some(found) = self.cache().lookup_key(kid, alg) {
            return found;
        }
        if let KeySource::Discovery { http } = &self.source {
            let _one_refresh_at_a_time = self.refresh.lock().await;
            let may_refresh = {
                let cache = self.cache();
                // Another task may have refreshed while this one waited.
                if let Some(found) = cache.lookup_key(kid, alg) {
                    return found;
                }
                cache
                    .fetched_at
                    .is_none_or(|t| t.elapsed() >= self.refresh_interval)
            };
            if may_refresh {
                let issuer = self.issuer.as_deref().unwrap_or_default();
                // Record the attempt first, so that failures are rate limited too.
                self.cache_mut().fetched_at = Some(Instant::now());
                let fetched = fetch_jwks(http, issuer).await;
                let mut cache = self.cache_mut();
                match fetched {
                    Ok(jwks) => {
                        cache.jwks = jwks;
                        cache.last_error = None;
                    }
                    Err(e) => {
                        cache.last_error = Some(e.to_string());
                        return Err(e);
                    }
                }
            }
        }
        let cache = self.cache();
        cache.lookup_key(kid, alg).unwrap_or_else(|| {
            // While the last refresh failed (and is not retried before the
            // interval), an unknown kid says nothing about the token: the
            // keys could not be had. A transport error (code 7), not a
            // refusal, so that a service answers 503, not 401.
            if let Some(e) = &cache.last_error {
                return Err(MaaError::Send {
                    url: "the issuer's JWKS".into(),
                    reason: format!(
                        "the last JWKS refresh failed ({e}); it is retried after the refresh \
                         interval"
                    ),
                });
            }
            Err(MaaError::rejected(
                TokenCheck::KeyId,
                match kid {
                    Some(k) => format!("no key with kid {k:?} in the trusted JWKS"),
                    None => "the token names no kid and the JWKS has not exactly one key".into(),
                },
            ))
        })
    }

    fn finish(
        &self,
        parsed: Parsed<'_>,
        key: &ParsedPublicKey,
        expected_nonce: Option<&[u8]>,
    ) -> Result<AttestationToken, MaaError> {
        if key
            .verify_sig(parsed.message.as_bytes(), &parsed.signature)
            .is_err()
        {
            return Err(MaaError::rejected(
                TokenCheck::Signature,
                "the signature does not verify",
            ));
        }
        if !parsed.has_version && self.profile.requires_version() {
            return Err(MaaError::rejected(
                TokenCheck::Version,
                "no `x-ms-ver` claim",
            ));
        }
        if parsed.mock && !self.allow_mock && self.profile.checks_mock_evidence() {
            return Err(MaaError::rejected(
                TokenCheck::MockEvidence,
                "the token comes from mock evidence and mock roots are not trusted",
            ));
        }
        if let Some(expected) = expected_nonce {
            if parsed.nonces.is_empty() {
                return Err(MaaError::rejected(
                    TokenCheck::Nonce,
                    "the token carries no nonce",
                ));
            }
            if !parsed.nonces.iter().any(|n| nonce_matches(n, expected)) {
                return Err(MaaError::rejected(
                    TokenCheck::Nonce,
                    "the token's nonce is not the one expected",
                ));
            }
        }
        // Last, so that a refusal by it means an authentic token, valid
        // here, whose identity lacks the role (403, not 401).
        if let Some(role) = self.profile.role() {
            check_role(parsed.role.as_ref(), self.profile.role_claim(), role)?;
        }
        // Both parts were decoded and checked above (JSON objects, unique
        // names): hand their texts over, to be turned into values on use.
        Ok(AttestationToken::from_checked_parts(
            parsed.token,
            parsed.header_json,
            parsed.claims_json,
        ))
    }
}

/// What the key-less checks found.
struct Parsed<'t> {
    /// The token without surrounding whitespace.
    token: &'t str,
    /// `header.payload`, the signed bytes.
    message: &'t str,
    signature: Vec<u8>,
    /// The header's `alg`, one the profile allows.
    alg: Algorithm,
    kid: Option<String>,
    header_json: Vec<u8>,
    claims_json: Vec<u8>,
    has_version: bool,
    mock: bool,
    /// The `nonce` claim and the client payload's nonces.
    nonces: Vec<String>,
    /// The role claim, when the profile requires a role.
    role: Option<Value>,
}

/// `aud` must be `want`, or an array with `want` among its strings.
fn check_audience(aud: Option<&Value>, want: &str) -> Result<(), MaaError> {
    let refused = |detail: String| Err(MaaError::rejected(TokenCheck::Audience, detail));
    match aud {
        None => refused("no `aud` claim".into()),
        Some(Value::String(a)) if a == want => Ok(()),
        Some(Value::Array(all)) if all.iter().any(|a| a.as_str() == Some(want)) => Ok(()),
        Some(Value::String(a)) => refused(format!("aud {a:?} is not {want:?}")),
        Some(Value::Array(_)) => refused(format!("aud does not contain {want:?}")),
        Some(_) => refused("aud is neither a string nor an array".into()),
    }
}

/// The role claim must grant `role`: an array with `role` among its
/// strings, or a string that is `role` or lists it (space-separated, as
/// OAuth scopes).
fn check_role(claim: Option<&Value>, name: &str, role: &str) -> Result<(), MaaError> {
    let refused = |detail: String| Err(MaaError::rejected(TokenCheck::Role, detail));
    match claim {
        None => refused(format!("no `{name}` claim")),
        Some(Value::String(s)) if s.split_ascii_whitespace().any(|r| r == role) => Ok(()),
        Some(Value::Array(all)) if all.iter().any(|r| r.as_str() == Some(role)) => Ok(()),
        Some(Value::String(_) | Value::Array(_)) => {
            refused(format!("`{name}` does not grant the role {role:?}"))
        }
        Some(_) => refused(format!("`{name}` is neither a string nor an array")),
    }
}

fn origin(u: &reqwest::Url) -> (String, Option<String>, Option<u16>) {
    (
        u.scheme().to_string(),
        u.host_str().map(str::to_ascii_lowercase),
        u.port_or_known_default(),
    )
}

async fn get_json(http: &Http, url: &str, what: &str) -> Result<Vec<u8>, MaaError> {
    let resp = http.request(Method::GET, url, &[], None).await?;
    if !(200..300).contains(&resp.status) {
        return Err(MaaError::HttpStatus {
            url: url.to_string(),
            status: resp.status,
            message: format!("fetching {what}"),
        });
    }
    if resp.body.iter().all(u8::is_ascii_whitespace) {
        return Err(MaaError::EmptyResponse(what.to_string()));
    }
    Ok(resp.body)
}

/// Fetches the issuer's JWKS through its OpenID metadata. The `jwks_uri`
/// must be on the issuer's origin (scheme, host, port).
pub(crate) async fn fetch_jwks(http: &Http, issuer: &str) -> Result<Jwks, MaaError> {
    let issuer = normalize_issuer(issuer);
    let meta_url = format!("{issuer}/.well-known/openid-configuration");
    let meta = get_json(http, &meta_url, "the OpenID metadata").await?;
    let meta: Value =
        serde_json::from_slice(&meta).map_err(|e| MaaError::json("the OpenID metadata", e))?;
    let jwks_uri = meta
        .get("jwks_uri")
        .and_then(Value::as_str)
        .ok_or_else(|| MaaError::json("the OpenID metadata", "no `jwks_uri` string"))?;
    let iss_url = reqwest::Url::parse(issuer)
        .map_err(|e| MaaError::InvalidInput(format!("issuer {issuer:?}: {e}")))?;
    let jwks_url = reqwest::Url::parse(jwks_uri)
        .map_err(|e| MaaError::malformed("the OpenID metadata's jwks_uri", e))?;
    if origin(&iss_url) != origin(&jwks_url) {
        return Err(MaaError::malformed(
            "the OpenID metadata's jwks_uri",
            format!("{jwks_uri:?} is not on the issuer's origin"),
        ));
    }
    let body = get_json(http, jwks_url.as_str(), "the JWKS").await?;
    Jwks::parse(&body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_json_refuses_duplicates_at_any_depth() {
        let ok: Strict = serde_json::from_str(r#"{"a":{"b":[1,2.5,null,true,"x"]}}"#).unwrap();
        assert_eq!(ok.0["a"]["b"][1], 2.5);
        assert!(serde_json::from_str::<Strict>(r#"{"a":1,"a":2}"#).is_err());
        assert!(serde_json::from_str::<Strict>(r#"{"a":{"b":1,"b":1}}"#).is_err());
        assert!(serde_json::from_str::<Strict>(r#"[{"c":1,"c":1}]"#).is_err());
    }

    #[test]
    fn nonce_forms() {
        assert!(nonce_matches("ADE0101", b"ADE0101"));
        assert!(nonce_matches("QURFMDEwMQ==", b"ADE0101"));
        assert!(nonce_matches("QURFMDEwMQ", b"ADE0101"));
        assert!(!nonce_matches("ADE0102", b"ADE0101"));
        assert!(!nonce_matches("QURFMDEwMg==", b"ADE0101"));
        // A binary nonce sent base64 and base64-encoded again by MAA.
        let bin = [0xffu8, 0x00, 0x10];
        let once = b64::std(&bin);
        let twice = b64::std(once.as_bytes());
        assert!(nonce_matches(&once, &bin));
        assert!(nonce_matches(&twice, &bin));
    }

    /// A JWS signed with a fresh RSA-2048 key, and a JWKS with that key.
    fn rs256(header: &Value, claims: &Value) -> (String, Jwks) {
        use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
        use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
        let kp = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let comps = PublicKeyComponents::<Vec<u8>>::from(kp.public_key());
        let msg = format!(
            "{}.{}",
            b64::url(header.to_string().as_bytes()),
            b64::url(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; kp.public_modulus_len()];
        kp.sign(
            &RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            msg.as_bytes(),
            &mut sig,
        )
        .unwrap();
        let jwks = Jwks::from_rsa_keys([("k".to_string(), RsaPublic::new(&comps.n, &comps.e))]);
        (format!("{msg}.{}", b64::url(&sig)), jwks)
    }

    #[tokio::test]
    async fn x_ms_ver_is_required_by_the_maa_profile_only() {
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "k"});
        let claims = serde_json::json!({"iss": "https://login.test/t/v2.0", "aud": "api://svc",
            "roles": ["Admin"], "exp": 1_700_003_600, "iat": 1_699_999_990});
        let (token, jwks) = rs256(&header, &claims);
        let validator = |profile: ValidationProfile| {
            TokenValidator::with_jwks(Some("https://login.test/t/v2.0"), jwks.clone())
                .with_clock(Arc::new(FixedClock(1_700_000_000)))
                .with_profile(profile)
        };
        let admin = validator(ValidationProfile::admin("api://svc", "Admin"));
        let t = admin.validate(&token, None).await.unwrap();
        assert_eq!(t.claim("roles"), Some(&serde_json::json!(["Admin"])));
        let maa = validator(ValidationProfile::maa());
        let e = maa.validate(&token, None).await.unwrap_err();
        assert_eq!(e.token_check(), Some(TokenCheck::Version), "{e}");
        // The default profile is maa().
        let e = TokenValidator::with_jwks(None, jwks.clone())
            .with_clock(Arc::new(FixedClock(1_700_000_000)))
            .validate(&token, None)
            .await
            .unwrap_err();
        assert_eq!(e.token_check(), Some(TokenCheck::Version), "{e}");
        assert_eq!(maa.profile(), &ValidationProfile::default());
    }

    #[test]
    fn issuer_normalisation() {
        assert_eq!(normalize_issuer("https://x/"), "https://x");
        assert_eq!(normalize_issuer("https://x"), "https://x");
    }
}
