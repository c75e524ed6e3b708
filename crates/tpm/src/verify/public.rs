//! `TPM2B_PUBLIC` / `TPMT_PUBLIC` (TPM 2.0 Library Part 2 §12.2) for RSA
//! keys, their TPM Name, and RSA public keys as JWKs.

use aws_lc_rs::digest;
use base64::Engine as _;

use super::attest::{TPM_ALG_SHA1, TPM_ALG_SHA256, TPM_ALG_SHA384};
use super::reader::Reader;
use crate::TpmError;

/// `TPM_ALG_RSA`.
pub const TPM_ALG_RSA: u16 = 0x0001;
/// `TPM_ALG_NULL`.
pub const TPM_ALG_NULL: u16 = 0x0010;
/// `TPM_ALG_RSAES` (a scheme without details).
pub const TPM_ALG_RSAES: u16 = 0x0015;

/// Object attribute bits (`TPMA_OBJECT`).
pub mod attributes {
    /// `fixedTPM`.
    pub const FIXED_TPM: u32 = 1 << 1;
    /// `fixedParent`.
    pub const FIXED_PARENT: u32 = 1 << 4;
    /// `sensitiveDataOrigin`.
    pub const SENSITIVE_DATA_ORIGIN: u32 = 1 << 5;
    /// `userWithAuth`.
    pub const USER_WITH_AUTH: u32 = 1 << 6;
    /// `adminWithPolicy`.
    pub const ADMIN_WITH_POLICY: u32 = 1 << 7;
    /// `noDA`.
    pub const NO_DA: u32 = 1 << 10;
    /// `restricted`.
    pub const RESTRICTED: u32 = 1 << 16;
    /// `decrypt`.
    pub const DECRYPT: u32 = 1 << 17;
    /// `sign`.
    pub const SIGN: u32 = 1 << 18;
}

/// An RSA public key: modulus and exponent, big-endian, without leading zeros.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct RsaPublic {
    /// The modulus.
    pub n: Vec<u8>,
    /// The public exponent.
    pub e: Vec<u8>,
}

fn strip_zeros(bytes: &[u8]) -> Vec<u8> {
    let first = bytes.iter().position(|&b| b != 0).unwrap_or(bytes.len());
    bytes[first..].to_vec()
}

impl RsaPublic {
    /// A key from modulus and exponent bytes (leading zeros are dropped).
    pub fn new(n: &[u8], e: &[u8]) -> Self {
        Self {
            n: strip_zeros(n),
            e: strip_zeros(e),
        }
    }

    /// The modulus size in bytes.
    pub fn modulus_len(&self) -> usize {
        self.n.len()
    }

    /// The key as a DER PKCS#1 `RSAPublicKey` (what aws-lc-rs parses for
    /// RSA signature verification). Fails only for an empty modulus or
    /// exponent.
    pub fn to_pkcs1_der(&self) -> Result<Vec<u8>, TpmError> {
        use rsa::pkcs1::der::asn1::UintRef;
        use rsa::pkcs1::der::Encode;
        let malformed = |e: rsa::pkcs1::der::Error| TpmError::Malformed {
            structure: "RSA public key",
            field: "n/e",
            offset: 0,
            reason: e.to_string(),
        };
        rsa::pkcs1::RsaPublicKey {
            modulus: UintRef::new(&self.n).map_err(malformed)?,
            public_exponent: UintRef::new(&self.e).map_err(malformed)?,
        }
        .to_der()
        .map_err(malformed)
    }

    /// A key from a PEM `PUBLIC KEY` (SubjectPublicKeyInfo) or
    /// `RSA PUBLIC KEY` (PKCS#1).
    pub fn from_pem(pem: &str) -> Result<Self, TpmError> {
        use rsa::pkcs1::DecodeRsaPublicKey;
        use rsa::pkcs8::DecodePublicKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPublicKey::from_public_key_pem(pem.trim())
            .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(pem.trim()))
            .map_err(|e| TpmError::Malformed {
                structure: "PEM public key",
                field: "SubjectPublicKeyInfo",
                offset: 0,
                reason: e.to_string(),
            })?;
        Ok(Self::new(&key.n().to_bytes_be(), &key.e().to_bytes_be()))
    }

    /// A key from a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, TpmError> {
        use rsa::pkcs8::DecodePublicKey;
        use rsa::traits::PublicKeyParts;
        let key = rsa::RsaPublicKey::from_public_key_der(der).map_err(|e| TpmError::Malformed {
            structure: "SubjectPublicKeyInfo",
            field: "subjectPublicKey",
            offset: 0,
            reason: e.to_string(),
        })?;
        Ok(Self::new(&key.n().to_bytes_be(), &key.e().to_bytes_be()))
    }

    /// A key from a JWK (`kty` `RSA`, base64url `n` and `e`).
    pub fn from_jwk(jwk: &serde_json::Value) -> Result<Self, TpmError> {
        let field = |name: &'static str| -> Result<Vec<u8>, TpmError> {
            let text =
                jwk.get(name)
                    .and_then(|v| v.as_str())
                    .ok_or_else(|| TpmError::Malformed {
                        structure: "JWK",
                        field: name,
                        offset: 0,
                        reason: "missing or not a string".into(),
                    })?;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|e| TpmError::Malformed {
                    structure: "JWK",
                    field: name,
                    offset: 0,
                    reason: e.to_string(),
                })
        };
        if jwk.get("kty").and_then(|v| v.as_str()) != Some("RSA") {
            return Err(TpmError::Malformed {
                structure: "JWK",
                field: "kty",
                offset: 0,
                reason: "not RSA".into(),
            });
        }
        Ok(Self::new(&field("n")?, &field("e")?))
    }

    /// The key as an RSA JWK: `{"kty":"RSA","n":…,"e":…}`.
    pub fn to_jwk(&self) -> serde_json::Value {
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        serde_json::json!({"kty": "RSA", "n": b64(&self.n), "e": b64(&self.e)})
    }
}

/// A parsed RSA `TPMT_PUBLIC`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmPublic {
    /// The marshalled `TPMT_PUBLIC` (what the Name hashes).
    pub tpmt: Vec<u8>,
    /// The name algorithm.
    pub name_alg: u16,
    /// `TPMA_OBJECT` bits (see [`attributes`]).
    pub attributes: u32,
    /// The authorization policy digest.
    pub auth_policy: Vec<u8>,
    /// The key's scheme (`TPM_ALG_NULL` when the caller picks per operation).
    pub scheme: u16,
    /// The key size in bits.
    pub key_bits: u16,
    /// The public key.
    pub key: RsaPublic,
}

impl TpmPublic {
    /// Parse a marshalled `TPM2B_PUBLIC` (size-prefixed).
    pub fn parse_tpm2b(bytes: &[u8]) -> Result<Self, TpmError> {
        let mut r = Reader::new("TPM2B_PUBLIC", bytes);
        let inner = r.tpm2b("size")?;
        r.finish()?;
        Self::parse_tpmt(inner)
    }

    /// Parse a marshalled `TPMT_PUBLIC` of an RSA key.
    pub fn parse_tpmt(bytes: &[u8]) -> Result<Self, TpmError> {
        let mut r = Reader::new("TPMT_PUBLIC", bytes);
        let kind = r.u16("type")?;
        if kind != TPM_ALG_RSA {
            return Err(r.malformed("type", format!("{kind:#06x}: only RSA keys are supported")));
        }
        let name_alg = r.u16("nameAlg")?;
        let attributes = r.u32("objectAttributes")?;
        let auth_policy = r.tpm2b("authPolicy")?.to_vec();
        let sym = r.u16("parameters.symmetric.algorithm")?;
        if sym != TPM_ALG_NULL {
            r.u16("parameters.symmetric.keyBits")?;
            r.u16("parameters.symmetric.mode")?;
        }
        let scheme = r.u16("parameters.scheme.scheme")?;
        if scheme != TPM_ALG_NULL && scheme != TPM_ALG_RSAES {
            r.u16("parameters.scheme.details.hashAlg")?;
        }
        let key_bits = r.u16("parameters.keyBits")?;
        let exponent = match r.u32("parameters.exponent")? {
            0 => 65537,
            e => e,
        };
        let modulus = r.tpm2b("unique.rsa")?;
        if modulus.len() * 8 != usize::from(key_bits) {
            return Err(r.malformed(
                "unique.rsa",
                format!(
                    "modulus of {} bytes for a {key_bits}-bit key",
                    modulus.len()
                ),
            ));
        }
        r.finish()?;
        Ok(Self {
            tpmt: bytes.to_vec(),
            name_alg,
            attributes,
            auth_policy,
            scheme,
            key_bits,
            key: RsaPublic::new(modulus, &exponent.to_be_bytes()),
        })
    }

    /// The key's TPM Name: `nameAlg ‖ H_nameAlg(TPMT_PUBLIC)`.
    pub fn name(&self) -> Result<Vec<u8>, TpmError> {
        let alg = match self.name_alg {
            TPM_ALG_SHA256 => &digest::SHA256,
            TPM_ALG_SHA384 => &digest::SHA384,
            TPM_ALG_SHA1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            other => {
                return Err(TpmError::Malformed {
                    structure: "TPMT_PUBLIC",
                    field: "nameAlg",
                    offset: 2,
                    reason: format!("{other:#06x} is not a supported hash"),
                })
            }
        };
        let mut name = self.name_alg.to_be_bytes().to_vec();
        name.extend_from_slice(digest::digest(alg, &self.tpmt).as_ref());
        Ok(name)
    }

    /// Whether all of `bits` are set.
    pub fn has(&self, bits: u32) -> bool {
        self.attributes & bits == bits
    }
}
