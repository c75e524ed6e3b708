//! `TPM2B_PUBLIC` / `TPMT_PUBLIC` (TPM 2.0 Library Part 2 §12.2) for RSA
//! keys and their TPM Name. The RSA key itself ([`RsaPublic`], with its JWK,
//! PEM and DER forms) is `tee-attest-keys`'s.

use aws_lc_rs::digest;
pub use tee_attest_keys::RsaPublic;

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
