//! ITA's token signing keys: a JWKS (`{"keys": [...]}`, as served at the
//! portal's `/certs`), each key checked once when the set is loaded —
//! against pinned roots ([`KeyTrust::Pinned`]) or as served
//! ([`KeyTrust::AsServed`]) — and parsed once per algorithm it may verify.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;

use aws_lc_rs::signature::{
    ParsedPublicKey, VerificationAlgorithm, RSA_PKCS1_2048_8192_SHA256, RSA_PSS_2048_8192_SHA384,
};
use base64::Engine as _;
use serde_json::Value;

use crate::chain::{check_chain, tlv, Cert, ChainValidity};
use crate::{ItaError, TokenAlg};

/// The smallest RSA modulus accepted for token signatures (bits).
pub const MIN_RSA_BITS: usize = 2048;

/// The roots a JWKS key's `x5c` chain must reach: configured by the
/// relying party (Intel's Trust Authority root, a test root), never taken
/// from the JWKS or the token.
#[derive(Clone)]
pub struct PinnedRoots {
    roots: Vec<Cert>,
}

impl fmt::Debug for PinnedRoots {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PinnedRoots({} roots)", self.roots.len())
    }
}

impl PinnedRoots {
    /// Roots from DER certificates. Code 8 when none is given, one does not
    /// parse or is not a CA certificate.
    pub fn from_der<'a>(certs: impl IntoIterator<Item = &'a [u8]>) -> Result<Self, ItaError> {
        let mut roots = Vec::new();
        for (i, der) in certs.into_iter().enumerate() {
            let cert = Cert::from_der(der)
                .map_err(|e| ItaError::InvalidInput(format!("pinned root {i}: {e}")))?;
            if !cert.is_ca_cert() {
                return Err(ItaError::InvalidInput(format!(
                    "pinned root {i} is not a CA certificate"
                )));
            }
            roots.push(cert);
        }
        if roots.is_empty() {
            return Err(ItaError::InvalidInput("no pinned root certificate".into()));
        }
        Ok(Self { roots })
    }

    /// Roots from PEM text (every `CERTIFICATE` block) or, when it is not
    /// PEM, one DER certificate. Code 8 as [`PinnedRoots::from_der`].
    pub fn from_pem_or_der(bytes: &[u8]) -> Result<Self, ItaError> {
        match std::str::from_utf8(bytes) {
            Ok(text) if text.contains("-----BEGIN") => {
                let ders = pem_certificates(text)?;
                Self::from_der(ders.iter().map(Vec::as_slice))
            }
            _ => Self::from_der([bytes]),
        }
    }

    /// Roots from a PEM or DER file (code 8 when unreadable or unusable).
    pub fn from_file(path: &Path) -> Result<Self, ItaError> {
        let bytes = std::fs::read(path).map_err(|e| {
            ItaError::InvalidInput(format!("reading pinned roots {}: {e}", path.display()))
        })?;
        Self::from_pem_or_der(&bytes)
    }

    /// How many roots.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// Whether there are none (never, once built).
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }
}

/// The DER bodies of the `CERTIFICATE` blocks of a PEM text.
fn pem_certificates(text: &str) -> Result<Vec<Vec<u8>>, ItaError> {
    let mut out = Vec::new();
    let mut body: Option<String> = None;
    for line in text.lines().map(str::trim) {
        if line == "-----BEGIN CERTIFICATE-----" {
            body = Some(String::new());
        } else if line == "-----END CERTIFICATE-----" {
            let b = body.take().ok_or_else(|| {
                ItaError::InvalidInput("PEM: an END line without its BEGIN".into())
            })?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(b)
                .map_err(|e| ItaError::InvalidInput(format!("PEM: not base64: {e}")))?;
            out.push(der);
        } else if let Some(b) = body.as_mut() {
            b.push_str(line);
        }
    }
    if body.is_some() {
        return Err(ItaError::InvalidInput(
            "PEM: a BEGIN line without its END".into(),
        ));
    }
    Ok(out)
}

/// How far a JWKS key is trusted.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum KeyTrust {
    /// A key is usable only if its `x5c` chain reaches one of these roots
    /// (checked once, when the JWKS is loaded) and `x5c[0]` holds the JWK's
    /// key.
    Pinned(PinnedRoots),
    /// Keys are trusted as the JWKS serves them (its source — a file the
    /// operator placed, ITA's portal over TLS — is the trust anchor); a key
    /// with `x5c` must still hold the key of `x5c[0]`. Weaker than
    /// [`KeyTrust::Pinned`]: use it only when no root can be configured.
    AsServed,
}

/// A JWKS key, parsed once for each algorithm it may verify (PS384,
/// RS256; or only its JWK `alg`), or why it cannot be used.
#[derive(Clone)]
pub(crate) enum JwkEntry {
    Usable {
        /// By [`alg_index`].
        parsed: [Option<Arc<ParsedPublicKey>>; 2],
        /// The JWK's `alg`, when it names one.
        alg: Option<TokenAlg>,
        /// The `x5c` chain's validity window, when a chain was checked.
        validity: Option<ChainValidity>,
    },
    Unusable(String),
}

pub(crate) fn alg_index(alg: TokenAlg) -> usize {
    match alg {
        TokenAlg::Ps384 => 0,
        TokenAlg::Rs256 => 1,
    }
}

fn verification(alg: TokenAlg) -> &'static dyn VerificationAlgorithm {
    match alg {
        TokenAlg::Ps384 => &RSA_PSS_2048_8192_SHA384,
        TokenAlg::Rs256 => &RSA_PKCS1_2048_8192_SHA256,
    }
}

/// A JSON Web Key Set of ITA token signing keys, by `kid`.
#[derive(Clone, Default)]
pub struct Jwks {
    keys: HashMap<String, JwkEntry>,
}

impl fmt::Debug for Jwks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut kids: Vec<&String> = self.keys.keys().collect();
        kids.sort();
        f.debug_struct("Jwks").field("kids", &kids).finish()
    }
}

impl Jwks {
    /// Parses a JWKS document and checks each key under `trust`. Keys that
    /// cannot be used (not RSA, under 2048 bits, `use` other than `sig`, an
    /// `alg` other than PS384/RS256, a chain that does not reach a pinned
    /// root, `x5c[0]` holding another key, a `kid` listed twice) are kept
    /// as unusable, so that a token naming them is refused by
    /// [`TokenCheck::Key`](crate::TokenCheck::Key); keys without a `kid`
    /// are dropped (no token can name them). Code 18 when the document is
    /// empty, 16 when it is not a JWKS.
    pub fn parse(json: &[u8], trust: &KeyTrust) -> Result<Self, ItaError> {
        if json.iter().all(u8::is_ascii_whitespace) {
            return Err(ItaError::EmptyResponse("the JWKS".into()));
        }
        let doc: Value = serde_json::from_slice(json).map_err(|e| ItaError::json("the JWKS", e))?;
        let list = doc
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| ItaError::json("the JWKS", "no `keys` array"))?;
        let mut keys = HashMap::new();
        for jwk in list {
            let Some(kid) = jwk
                .get("kid")
                .and_then(Value::as_str)
                .filter(|k| !k.is_empty())
            else {
                continue;
            };
            let entry = match usable(jwk, trust) {
                Ok(e) => e,
                Err(reason) => JwkEntry::Unusable(reason),
            };
            keys.entry(kid.to_string())
                .and_modify(|e| *e = JwkEntry::Unusable("the kid is listed twice".into()))
                .or_insert(entry);
        }
        Ok(Self { keys })
    }

    /// Parses a JWKS file (code 8 when unreadable, else as [`Jwks::parse`]).
    pub fn from_file(path: &Path, trust: &KeyTrust) -> Result<Self, ItaError> {
        let bytes = std::fs::read(path).map_err(|e| {
            ItaError::InvalidInput(format!("reading the JWKS {}: {e}", path.display()))
        })?;
        Self::parse(&bytes, trust)
    }

    /// How many keys (usable or not).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key has this `kid`.
    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    /// Whether the key with this `kid` is usable (`None` when absent).
    pub fn is_usable(&self, kid: &str) -> Option<bool> {
        self.keys
            .get(kid)
            .map(|e| matches!(e, JwkEntry::Usable { .. }))
    }

    /// Why the key with this `kid` is unusable, if it is.
    pub fn unusable_reason(&self, kid: &str) -> Option<&str> {
        match self.keys.get(kid)? {
            JwkEntry::Unusable(r) => Some(r),
            JwkEntry::Usable { .. } => None,
        }
    }

    pub(crate) fn entry(&self, kid: &str) -> Option<&JwkEntry> {
        self.keys.get(kid)
    }
}

fn b64url_field(jwk: &Value, name: &str) -> Result<Option<Vec<u8>>, String> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map(Some)
            .map_err(|_| format!("`{name}` is not base64url")),
        Some(_) => Err(format!("`{name}` is not a string")),
    }
}

fn strip(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}

fn bits(n: &[u8]) -> usize {
    let n = strip(n);
    n.first()
        .map_or(0, |b| (n.len() - 1) * 8 + (8 - b.leading_zeros() as usize))
}

/// DER `RSAPublicKey` from big-endian `n` and `e`.
fn rsa_public_key_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn integer(out: &mut Vec<u8>, v: &[u8]) {
        let v = strip(v);
        let pad = v.first().is_none_or(|b| b & 0x80 != 0);
        let len = v.len() + usize::from(pad);
        out.push(0x02);
        length(out, len);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    fn length(out: &mut Vec<u8>, len: usize) {
        if len < 0x80 {
            out.push(len as u8);
        } else {
            let bytes: Vec<u8> = len
                .to_be_bytes()
                .iter()
                .copied()
                .skip_while(|b| *b == 0)
                .collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend_from_slice(&bytes);
        }
    }
    let mut body = Vec::with_capacity(n.len() + e.len() + 16);
    integer(&mut body, n);
    integer(&mut body, e);
    let mut out = Vec::with_capacity(body.len() + 6);
    out.push(0x30);
    length(&mut out, body.len());
    out.extend_from_slice(&body);
    debug_assert!(tlv(&out).is_some());
    out
}

/// The usable key a JWK describes under `trust`, or why it is unusable.
fn usable(jwk: &Value, trust: &KeyTrust) -> Result<JwkEntry, String> {
    match jwk.get("kty").and_then(Value::as_str) {
        Some("RSA") => {}
        Some(other) => return Err(format!("kty {other:?} is not RSA")),
        None => return Err("no kty".into()),
    }
    if let Some(u) = jwk.get("use") {
        if u.as_str() != Some("sig") {
            return Err(format!("use {u} is not sig"));
        }
    }
    let alg = match jwk.get("alg") {
        None => None,
        Some(a) => Some(
            a.as_str()
                .and_then(TokenAlg::from_name)
                .ok_or_else(|| format!("alg {a} is neither PS384 nor RS256"))?,
        ),
    };
    let n = b64url_field(jwk, "n")?;
    let e = b64url_field(jwk, "e")?;
    let x5c: Option<Vec<Vec<u8>>> = match jwk.get("x5c") {
        None => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    c.as_str()
                        .and_then(|s| base64::engine::general_purpose::STANDARD.decode(s).ok())
                        .ok_or_else(|| format!("x5c[{i}] is not a base64 string"))
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => return Err("x5c is not an array".into()),
    };
    let (leaf, validity) = match (trust, &x5c) {
        (KeyTrust::Pinned(roots), Some(chain)) => {
            let (leaf, validity) = check_chain(chain, &roots.roots)?;
            (Some(leaf), Some(validity))
        }
        (KeyTrust::Pinned(_), None) => {
            return Err("no x5c chain, and the roots are pinned".into());
        }
        (KeyTrust::AsServed, Some(chain)) => {
            let first = chain.first().ok_or("x5c is empty")?;
            (
                Some(Cert::from_der(first).map_err(|e| format!("x5c[0]: {e}"))?),
                None,
            )
        }
        (KeyTrust::AsServed, None) => (None, None),
    };
    let cert_key = match &leaf {
        Some(c) => Some(c.rsa_key().ok_or("x5c[0] does not hold an RSA key")?),
        None => None,
    };
    let (n, e) = match (n, e, cert_key) {
        (Some(n), Some(e), Some((cn, ce))) => {
            if strip(&n) != cn.as_slice() || strip(&e) != ce.as_slice() {
                return Err("n/e and x5c[0] hold different keys".into());
            }
            (n, e)
        }
        (Some(n), Some(e), None) => (n, e),
        (None, None, Some((cn, ce))) => (cn, ce),
        (None, None, None) => return Err("neither n/e nor x5c".into()),
        _ => return Err("only one of n and e".into()),
    };
    if bits(&n) < MIN_RSA_BITS {
        return Err(format!("{}-bit RSA is too small", bits(&n)));
    }
    let der = rsa_public_key_der(&n, &e);
    let mut parsed: [Option<Arc<ParsedPublicKey>>; 2] = Default::default();
    for a in TokenAlg::ALL {
        if alg.is_some_and(|own| own != a) {
            continue;
        }
        let key = ParsedPublicKey::new(verification(a), der.as_slice())
            .map_err(|e| format!("not a usable RSA key: {e}"))?;
        parsed[alg_index(a)] = Some(Arc::new(key));
    }
    Ok(JwkEntry::Usable {
        parsed,
        alg,
        validity,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rsa_key_encoding() {
        let der = rsa_public_key_der(&[0x00, 0x80, 0x01], &[0x01, 0x00, 0x01]);
        assert_eq!(
            der,
            [0x30, 0x0a, 0x02, 0x03, 0x00, 0x80, 0x01, 0x02, 0x03, 0x01, 0x00, 0x01]
        );
        let big = vec![0xc5u8; 384];
        let der = rsa_public_key_der(&big, &[1, 0, 1]);
        let (tag, body, rest) = tlv(&der).unwrap();
        assert_eq!((tag, rest.len()), (0x30, 0));
        assert_eq!(body.len(), 4 + 385 + 5);
        assert_eq!(bits(&big), 3072);
        assert_eq!(bits(&[0, 0, 1]), 1);
    }

    #[test]
    fn documents() {
        use tee_attest_core::CodedError;
        let code = |b: &[u8]| {
            Jwks::parse(b, &KeyTrust::AsServed)
                .unwrap_err()
                .code()
                .number()
        };
        assert_eq!(code(b" "), 18);
        assert_eq!(code(b"nope"), 16);
        assert_eq!(code(br#"{"keys":{}}"#), 16);
        let set = Jwks::parse(
            br#"{"keys":[{"kid":"a","kty":"EC"},{"kty":"RSA"},{"kid":"b","kty":"RSA","n":"AQAB","e":"AQAB"},
                {"kid":"c","kty":"RSA","alg":"HS256","n":"AQAB","e":"AQAB"},{"kid":"d","kty":"RSA","use":"enc"}]}"#,
            &KeyTrust::AsServed,
        )
        .unwrap();
        assert_eq!(set.len(), 4);
        assert!(set.unusable_reason("a").unwrap().contains("not RSA"));
        assert!(set.unusable_reason("b").unwrap().contains("too small"));
        assert!(set.unusable_reason("c").unwrap().contains("neither PS384"));
        assert!(set.unusable_reason("d").unwrap().contains("use"));
        assert_eq!(set.is_usable("zz"), None);
        assert!(PinnedRoots::from_der([&b"junk"[..]]).is_err());
        assert!(PinnedRoots::from_der(std::iter::empty()).is_err());
        assert!(PinnedRoots::from_pem_or_der(b"-----BEGIN CERTIFICATE-----\nAAAA\n").is_err());
    }
}
