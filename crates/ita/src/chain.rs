//! X.509 chains of JWKS keys (`x5c`), checked once when a JWKS is loaded:
//! leaf first, each certificate issued (names) and signed by the next, the
//! issuers CAs (basic constraints, key usage, path length), ending at a
//! pinned root — given by the configuration, never taken from the chain.
//!
//! Signatures: RSA PKCS#1 v1.5 with SHA-256/384/512, RSASSA-PSS with
//! SHA-256/384/512 (MGF1 with the same hash, salt of the hash's length),
//! ECDSA P-256/SHA-256 and P-384/SHA-384 (aws-lc-rs). Validity periods are
//! kept as the chain's intersection and compared with "now" on each use.
//! Revocation (CRLs) is not checked.

use aws_lc_rs::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use der::asn1::ObjectIdentifier;
use der::{Decode, Encode};
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage};
use x509_cert::Certificate;

/// The most certificates in an `x5c` chain (as Intel's client).
pub(crate) const MAX_CHAIN: usize = 10;

const RSA_ENCRYPTION: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
const SHA384_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.12");
const SHA512_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.13");
const RSASSA_PSS: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const MGF1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.8");
const SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.1");
const SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.2");
const SHA512: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.2.3");
const EC_PUBLIC_KEY: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const P256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const P384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.132.0.34");
const ECDSA_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
const ECDSA_SHA384: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.3");
const BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
const KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
const EXT_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.37");

/// A certificate, parsed and checked for form once.
#[derive(Clone)]
pub(crate) struct Cert {
    der: Vec<u8>,
    tbs: Vec<u8>,
    subject: Vec<u8>,
    issuer: Vec<u8>,
    sig_alg: ObjectIdentifier,
    sig_params: Option<Vec<u8>>,
    signature: Vec<u8>,
    key_alg: ObjectIdentifier,
    key_curve: Option<ObjectIdentifier>,
    /// The subjectPublicKey bits: PKCS#1 `RSAPublicKey`, or an EC point.
    key: Vec<u8>,
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    /// Basic constraints: cA and the path length constraint.
    ca: Option<(bool, Option<u8>)>,
    key_usage: Option<KeyUsage>,
}

fn unix(t: x509_cert::time::Time) -> i64 {
    i64::try_from(t.to_unix_duration().as_secs()).unwrap_or(i64::MAX)
}

impl Cert {
    /// Parses strict DER (it must re-encode to the same bytes), refusing
    /// unknown critical extensions.
    pub(crate) fn from_der(der: &[u8]) -> Result<Self, String> {
        let cert =
            Certificate::from_der(der).map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let tbs = cert.tbs_certificate.to_der().map_err(|e| e.to_string())?;
        if cert.to_der().map_err(|e| e.to_string())? != der {
            return Err("the certificate is not in canonical DER".into());
        }
        let t = &cert.tbs_certificate;
        let mut ca = None;
        let mut key_usage = None;
        for ext in t.extensions.iter().flatten() {
            let value = ext.extn_value.as_bytes();
            if ext.extn_id == BASIC_CONSTRAINTS {
                let bc = BasicConstraints::from_der(value)
                    .map_err(|e| format!("bad basic constraints: {e}"))?;
                ca = Some((bc.ca, bc.path_len_constraint));
            } else if ext.extn_id == KEY_USAGE {
                key_usage =
                    Some(KeyUsage::from_der(value).map_err(|e| format!("bad key usage: {e}"))?);
            } else if ext.critical && ext.extn_id != EXT_KEY_USAGE {
                return Err(format!("unsupported critical extension {}", ext.extn_id));
            }
        }
        let spki = &t.subject_public_key_info;
        let key_curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        Ok(Self {
            der: der.to_vec(),
            tbs,
            subject: t.subject.to_der().map_err(|e| e.to_string())?,
            issuer: t.issuer.to_der().map_err(|e| e.to_string())?,
            sig_alg: cert.signature_algorithm.oid,
            sig_params: cert
                .signature_algorithm
                .parameters
                .as_ref()
                .map(|p| p.to_der())
                .transpose()
                .map_err(|e| e.to_string())?,
            signature: cert
                .signature
                .as_bytes()
                .ok_or("the signature is not a whole number of bytes")?
                .to_vec(),
            key_alg: spki.algorithm.oid,
            key_curve,
            key: spki
                .subject_public_key
                .as_bytes()
                .ok_or("the public key is not a whole number of bytes")?
                .to_vec(),
            not_before: unix(t.validity.not_before),
            not_after: unix(t.validity.not_after),
            ca,
            key_usage,
        })
    }

    /// The RSA key (`n`, `e`, big-endian, leading zeros stripped), if the
    /// certificate holds one.
    pub(crate) fn rsa_key(&self) -> Option<(Vec<u8>, Vec<u8>)> {
        if self.key_alg != RSA_ENCRYPTION {
            return None;
        }
        let (n, e) = rsa_public_key(&self.key)?;
        Some((strip(n).to_vec(), strip(e).to_vec()))
    }

    pub(crate) fn is_ca_cert(&self) -> bool {
        self.ca.is_some_and(|(ca, _)| ca)
    }

    /// Checks that `self` was issued and signed by `issuer`, a CA allowed
    /// to sign certificates with `below` CA certificates under it.
    fn verify_issued_by(&self, issuer: &Cert, below: usize) -> Result<(), String> {
        if self.issuer != issuer.subject {
            return Err("its issuer is not the next certificate's subject".into());
        }
        match issuer.ca {
            Some((true, path_len)) => {
                if path_len.is_some_and(|p| usize::from(p) < below) {
                    return Err("the issuer's path length constraint is exceeded".into());
                }
            }
            _ => return Err("its issuer is not a CA (basic constraints)".into()),
        }
        if issuer.key_usage.is_some_and(|ku| !ku.key_cert_sign()) {
            return Err("its issuer's key usage does not allow signing certificates".into());
        }
        let alg = verification(&self.sig_alg, self.sig_params.as_deref(), issuer)?;
        UnparsedPublicKey::new(alg, &issuer.key)
            .verify(&self.tbs, &self.signature)
            .map_err(|_| "its signature does not verify with the issuer's key".to_string())
    }
}

fn strip(b: &[u8]) -> &[u8] {
    let first = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[first..]
}

/// `RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }`.
fn rsa_public_key(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (tag, body, rest) = tlv(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let (t1, n, rest) = tlv(body)?;
    let (t2, e, rest) = tlv(rest)?;
    (t1 == 0x02 && t2 == 0x02 && rest.is_empty()).then_some((n, e))
}

/// One DER TLV: (tag, contents, the bytes after it). Short and long
/// definite lengths only.
pub(crate) fn tlv(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *b.first()?;
    let first = *b.get(1)?;
    let (len, start) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(2 + i)?);
        }
        (len, 2 + n)
    };
    let end = start.checked_add(len)?;
    Some((tag, b.get(start..end)?, b.get(end..)?))
}

/// The RSASSA-PSS hash the parameters name, when they are the only form
/// accepted: hash H (explicit), MGF1 with H, salt of H's length.
fn pss_hash(params: &[u8]) -> Option<ObjectIdentifier> {
    let (tag, mut body, rest) = tlv(params)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let alg_oid = |ai: &[u8]| -> Option<ObjectIdentifier> {
        let (tag, body, rest) = tlv(ai)?;
        if tag != 0x30 || !rest.is_empty() {
            return None;
        }
        let (tag, oid, rest) = tlv(body)?;
        // Parameters absent or NULL.
        if tag != 0x06 || !(rest.is_empty() || rest == [0x05, 0x00]) {
            return None;
        }
        ObjectIdentifier::from_bytes(oid).ok()
    };
    let (mut hash, mut mgf_hash, mut salt) = (None, None, None);
    while !body.is_empty() {
        let (tag, inner, rest) = tlv(body)?;
        body = rest;
        match tag {
            0xa0 => hash = alg_oid(inner),
            0xa1 => {
                let (t, seq, r) = tlv(inner)?;
                if t != 0x30 || !r.is_empty() {
                    return None;
                }
                let (t, oid, params) = tlv(seq)?;
                if t != 0x06 || ObjectIdentifier::from_bytes(oid).ok()? != MGF1 {
                    return None;
                }
                mgf_hash = alg_oid(params);
            }
            0xa2 => {
                let (t, v, r) = tlv(inner)?;
                if t != 0x02 || !r.is_empty() || v.len() > 2 {
                    return None;
                }
                salt = Some(v.iter().fold(0usize, |a, b| (a << 8) | usize::from(*b)));
            }
            _ => return None,
        }
    }
    let hash = hash?;
    let want_salt = match hash {
        h if h == SHA256 => 32,
        h if h == SHA384 => 48,
        h if h == SHA512 => 64,
        _ => return None,
    };
    (mgf_hash == Some(hash) && salt == Some(want_salt)).then_some(hash)
}

/// The aws-lc-rs verification of a certificate signature algorithm with
/// the issuer's key.
fn verification(
    alg: &ObjectIdentifier,
    params: Option<&[u8]>,
    issuer: &Cert,
) -> Result<&'static dyn VerificationAlgorithm, String> {
    let rsa = issuer.key_alg == RSA_ENCRYPTION;
    let ec = issuer.key_alg == EC_PUBLIC_KEY;
    let found: Option<&'static dyn VerificationAlgorithm> = match *alg {
        a if a == SHA256_WITH_RSA && rsa => Some(&signature::RSA_PKCS1_2048_8192_SHA256),
        a if a == SHA384_WITH_RSA && rsa => Some(&signature::RSA_PKCS1_2048_8192_SHA384),
        a if a == SHA512_WITH_RSA && rsa => Some(&signature::RSA_PKCS1_2048_8192_SHA512),
        a if a == RSASSA_PSS && rsa => match params.and_then(pss_hash) {
            Some(h) if h == SHA256 => Some(&signature::RSA_PSS_2048_8192_SHA256),
            Some(h) if h == SHA384 => Some(&signature::RSA_PSS_2048_8192_SHA384),
            Some(h) if h == SHA512 => Some(&signature::RSA_PSS_2048_8192_SHA512),
            _ => None,
        },
        a if a == ECDSA_SHA256 && ec && issuer.key_curve == Some(P256) => {
            Some(&signature::ECDSA_P256_SHA256_ASN1)
        }
        a if a == ECDSA_SHA384 && ec && issuer.key_curve == Some(P384) => {
            Some(&signature::ECDSA_P384_SHA384_ASN1)
        }
        _ => None,
    };
    found.ok_or_else(|| format!("signature algorithm {alg} with the issuer's key is not supported"))
}

/// What a checked chain vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChainValidity {
    /// The latest `notBefore` of the chain (Unix seconds).
    pub(crate) not_before: i64,
    /// The earliest `notAfter` of the chain.
    pub(crate) not_after: i64,
}

/// Checks an `x5c` chain (DER, leaf first) up to one of `roots`: each
/// certificate issued and signed by the next until one is a pinned root
/// (byte for byte), or the last is signed by a pinned root. A root the
/// chain brings is never trusted for being there. The leaf must not be a
/// CA and, if it has a key usage, allow digital signatures. Returns the
/// leaf and the chain's validity window.
pub(crate) fn check_chain(
    x5c: &[Vec<u8>],
    roots: &[Cert],
) -> Result<(Cert, ChainValidity), String> {
    if x5c.is_empty() {
        return Err("no x5c chain".into());
    }
    if x5c.len() > MAX_CHAIN {
        return Err(format!(
            "an x5c chain of {} certificates (at most {MAX_CHAIN})",
            x5c.len()
        ));
    }
    let certs = x5c
        .iter()
        .enumerate()
        .map(|(i, der)| Cert::from_der(der).map_err(|e| format!("x5c[{i}]: {e}")))
        .collect::<Result<Vec<_>, _>>()?;
    let leaf = &certs[0];
    if leaf.is_ca_cert() {
        return Err("x5c[0] is a CA certificate, not a signing certificate".into());
    }
    if leaf.key_usage.is_some_and(|ku| !ku.digital_signature()) {
        return Err("x5c[0]'s key usage does not allow digital signatures".into());
    }
    let mut validity = ChainValidity {
        not_before: i64::MIN,
        not_after: i64::MAX,
    };
    let mut widen = |c: &Cert| {
        validity.not_before = validity.not_before.max(c.not_before);
        validity.not_after = validity.not_after.min(c.not_after);
    };
    for (i, cert) in certs.iter().enumerate() {
        widen(cert);
        if i > 0 && roots.iter().any(|r| r.der == cert.der) {
            return Ok((leaf.clone(), validity));
        }
        // The issuer of certificate i has the i CA certificates x5c[1..=i]
        // under it (the leaf does not count for path lengths).
        let below = i;
        match certs.get(i + 1) {
            Some(next) => cert
                .verify_issued_by(next, below)
                .map_err(|e| format!("x5c[{i}]: {e}"))?,
            None => {
                let mut why = "no pinned root issued it".to_string();
                for root in roots {
                    match cert.verify_issued_by(root, below) {
                        Ok(()) => {
                            widen(root);
                            return Ok((leaf.clone(), validity));
                        }
                        Err(e) if root.subject == cert.issuer => why = e,
                        Err(_) => {}
                    }
                }
                return Err(format!("x5c[{i}] does not chain to a pinned root: {why}"));
            }
        }
    }
    Err("the chain does not reach a pinned root".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pss_parameters() {
        // SHA-384, MGF1-SHA-384, salt 48 (with NULL hash parameters).
        let p384 = [
            0x30, 0x34, 0xa0, 0x0f, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03,
            0x04, 0x02, 0x02, 0x05, 0x00, 0xa1, 0x1c, 0x30, 0x1a, 0x06, 0x09, 0x2a, 0x86, 0x48,
            0x86, 0xf7, 0x0d, 0x01, 0x01, 0x08, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
            0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0xa2, 0x03, 0x02, 0x01, 0x30,
        ];
        assert_eq!(pss_hash(&p384), Some(SHA384));
        let mut wrong_salt = p384;
        wrong_salt[p384.len() - 1] = 0x20;
        assert_eq!(pss_hash(&wrong_salt), None);
        assert_eq!(pss_hash(&[0x30, 0x00]), None, "SHA-1 defaults are refused");
        assert_eq!(pss_hash(&p384[..10]), None);
    }

    #[test]
    fn tlv_reader() {
        assert_eq!(
            tlv(&[0x02, 0x01, 0x05, 0xff]),
            Some((0x02, &[5u8][..], &[0xffu8][..]))
        );
        assert_eq!(
            tlv(&[0x04, 0x81, 0x01, 0x07]),
            Some((0x04, &[7u8][..], &[][..]))
        );
        assert!(tlv(&[0x04, 0x85, 1, 1, 1, 1, 1]).is_none());
        assert!(tlv(&[0x04, 0x05, 1]).is_none());
        assert!(tlv(&[]).is_none());
    }
}
