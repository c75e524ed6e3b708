//! Encryption types and direct RSA schemes.

use std::fmt;
use std::str::FromStr;

use tee_attest_core::RsaDecryptScheme;

use crate::BrokerError;

/// `TPM_ALG_NULL`: Microsoft's `RsaScheme::RsaNull`.
pub const TPM_ALG_NULL: u16 = 0x0010;
/// `TPM_ALG_RSAES`: Microsoft's `RsaScheme::RsaEs` (PKCS#1 v1.5).
pub const TPM_ALG_RSAES: u16 = 0x0015;
/// `TPM_ALG_OAEP`: Microsoft's `RsaScheme::RsaOaep`.
pub const TPM_ALG_OAEP: u16 = 0x0017;
/// `TPM_ALG_SHA1`: Microsoft's `RsaHashAlg::RsaSha1`.
pub const TPM_ALG_SHA1: u16 = 0x0004;
/// `TPM_ALG_SHA256`: Microsoft's `RsaHashAlg::RsaSha256`.
pub const TPM_ALG_SHA256: u16 = 0x000B;

/// A direct RSA encryption scheme: the data itself is RSA-encrypted, as
/// Microsoft's `EncryptionType::NONE` does.
///
/// The Rust default is [`RsaScheme::OaepSha256`]: OAEP is the scheme
/// PKCS#1 v2.2 recommends for new applications, and unlike PKCS#1 v1.5 it is
/// not exposed to padding-oracle (Bleichenbacher) attacks.
/// [`RsaScheme::MICROSOFT_DEFAULT`] is Microsoft's default, PKCS#1 v1.5
/// ("for compatibility with MAA/mHSM"), which the C ABI keeps for drop-in
/// use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum RsaScheme {
    /// RSAES-PKCS1-v1_5 (`RsaEs`): at most k − 11 bytes of data.
    Pkcs1v15,
    /// RSA-OAEP, SHA-1 and MGF1-SHA-1, empty label (`RsaOaep` + `RsaSha1`,
    /// Microsoft's OAEP default): at most k − 42 bytes.
    OaepSha1,
    /// RSA-OAEP, SHA-256 and MGF1-SHA-256, empty label (`RsaOaep` +
    /// `RsaSha256`): at most k − 66 bytes (190 with RSA-2048). The Rust
    /// default.
    #[default]
    OaepSha256,
    /// Raw RSA without padding (`RsaNull`, `TPM_ALG_NULL`): the data must be
    /// exactly k bytes and, read as a big-endian number, less than the
    /// modulus; decryption returns the whole k-byte block. Textbook RSA is
    /// deterministic and malleable: supported only so that data from
    /// Microsoft's library with `RsaNull` opens here and vice versa. Never
    /// use it for new designs.
    Raw,
}

impl RsaScheme {
    /// Microsoft's default for `EncryptionType::NONE`: PKCS#1 v1.5.
    pub const MICROSOFT_DEFAULT: RsaScheme = RsaScheme::Pkcs1v15;

    /// Every scheme.
    pub const ALL: &'static [RsaScheme] = &[
        RsaScheme::Pkcs1v15,
        RsaScheme::OaepSha1,
        RsaScheme::OaepSha256,
        RsaScheme::Raw,
    ];

    /// The scheme's name as the CLI and the docs write it.
    pub const fn name(self) -> &'static str {
        match self {
            RsaScheme::Pkcs1v15 => "rsa-pkcs1v15",
            RsaScheme::OaepSha1 => "rsa-oaep-sha1",
            RsaScheme::OaepSha256 => "rsa-oaep-sha256",
            RsaScheme::Raw => "rsa-raw",
        }
    }

    /// The decryption scheme the vTPM is asked for.
    pub const fn decrypt_scheme(self) -> RsaDecryptScheme {
        match self {
            RsaScheme::Pkcs1v15 => RsaDecryptScheme::Pkcs1v15,
            RsaScheme::OaepSha1 => RsaDecryptScheme::OaepSha1,
            RsaScheme::OaepSha256 => RsaDecryptScheme::OaepSha256,
            RsaScheme::Raw => RsaDecryptScheme::Raw,
        }
    }

    /// The largest plaintext for a key of `modulus_len` bytes (for
    /// [`RsaScheme::Raw`], the one length allowed).
    pub const fn max_plaintext_len(self, modulus_len: usize) -> usize {
        match self {
            RsaScheme::Pkcs1v15 => modulus_len.saturating_sub(11),
            RsaScheme::OaepSha1 => modulus_len.saturating_sub(2 * 20 + 2),
            RsaScheme::OaepSha256 => modulus_len.saturating_sub(2 * 32 + 2),
            RsaScheme::Raw => modulus_len,
        }
    }

    /// Microsoft's `(RsaScheme, RsaHashAlg)` pair for this scheme (TPM
    /// algorithm identifiers; the hash is `TPM_ALG_NULL` where unused).
    pub const fn to_tpm_alg(self) -> (u16, u16) {
        match self {
            RsaScheme::Pkcs1v15 => (TPM_ALG_RSAES, TPM_ALG_NULL),
            RsaScheme::OaepSha1 => (TPM_ALG_OAEP, TPM_ALG_SHA1),
            RsaScheme::OaepSha256 => (TPM_ALG_OAEP, TPM_ALG_SHA256),
            RsaScheme::Raw => (TPM_ALG_NULL, TPM_ALG_NULL),
        }
    }

    /// The scheme for Microsoft's `(RsaScheme, RsaHashAlg)` pair, as the C
    /// ABI receives them. The hash is ignored for `RsaEs` and `RsaNull`;
    /// OAEP supports SHA-1 and SHA-256 (the vTPM key's hashes).
    pub fn from_tpm_alg(scheme: u16, hash: u16) -> Result<Self, BrokerError> {
        match (scheme, hash) {
            (TPM_ALG_RSAES, _) => Ok(RsaScheme::Pkcs1v15),
            (TPM_ALG_NULL, _) => Ok(RsaScheme::Raw),
            (TPM_ALG_OAEP, TPM_ALG_SHA1) => Ok(RsaScheme::OaepSha1),
            (TPM_ALG_OAEP, TPM_ALG_SHA256) => Ok(RsaScheme::OaepSha256),
            (TPM_ALG_OAEP, h) => Err(BrokerError::InvalidInput(format!(
                "RSA-OAEP with hash {h:#06x} is not supported (SHA-1 0x0004 or SHA-256 0x000b)"
            ))),
            (s, _) => Err(BrokerError::InvalidInput(format!(
                "RSA scheme {s:#06x} is not supported (RsaEs 0x0015, RsaOaep 0x0017, RsaNull 0x0010)"
            ))),
        }
    }
}

impl fmt::Display for RsaScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How `encrypt` protects the data, and what `decrypt` expects.
///
/// - [`EncryptionType::None`] is Microsoft's `EncryptionType::NONE`: the
///   data itself RSA-encrypted to the token's `TpmEphemeralEncryptionKey`
///   with the given [`RsaScheme`], and empty metadata, so that data
///   encrypted by either library opens with the other. It is limited to
///   what one RSA block holds (190 bytes with RSA-OAEP-SHA256 and RSA-2048).
/// - [`EncryptionType::Envelope`] takes data of any size: AES-256-GCM in
///   64 KiB chunks under a fresh key wrapped with RSA-OAEP-SHA256, the
///   metadata a versioned JSON object (see `docs/ENCRYPTION.md`).
///
/// `EncryptionType::default()` is `None(RsaScheme::OaepSha256)`: "None"
/// keeps meaning the direct scheme, as in the specification, but with OAEP
/// rather than PKCS#1 v1.5 (see [`RsaScheme`] for why). The C ABI maps
/// Microsoft's `NONE` to [`EncryptionType::MICROSOFT_DEFAULT`]
/// (PKCS#1 v1.5) unless the caller names a scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EncryptionType {
    /// Microsoft's `NONE`: direct RSA with this scheme, empty metadata.
    None(RsaScheme),
    /// AES-256-GCM envelope, streamed in chunks, key wrapped with
    /// RSA-OAEP-SHA256; metadata is versioned JSON.
    Envelope,
}

impl Default for EncryptionType {
    fn default() -> Self {
        EncryptionType::None(RsaScheme::default())
    }
}

impl EncryptionType {
    /// Microsoft's `EncryptionType::NONE` with its default scheme
    /// (PKCS#1 v1.5): what the C ABI uses for drop-in compatibility.
    pub const MICROSOFT_DEFAULT: EncryptionType =
        EncryptionType::None(RsaScheme::MICROSOFT_DEFAULT);

    /// The type's name: `envelope` or the RSA scheme's name.
    pub const fn name(self) -> &'static str {
        match self {
            EncryptionType::None(s) => s.name(),
            EncryptionType::Envelope => "envelope",
        }
    }
}

impl fmt::Display for EncryptionType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for EncryptionType {
    type Err = BrokerError;

    /// `envelope`, `rsa-oaep-sha256` (also `none`: the Rust default),
    /// `rsa-oaep-sha1`, `rsa-pkcs1v15` (also `none-microsoft`: Microsoft's
    /// default), `rsa-raw`. Case-insensitive.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Ok(match lower.as_str() {
            "envelope" => EncryptionType::Envelope,
            "none" | "rsa-oaep-sha256" => EncryptionType::None(RsaScheme::OaepSha256),
            "rsa-oaep-sha1" => EncryptionType::None(RsaScheme::OaepSha1),
            "none-microsoft" | "rsa-pkcs1v15" => EncryptionType::None(RsaScheme::Pkcs1v15),
            "rsa-raw" => EncryptionType::None(RsaScheme::Raw),
            _ => {
                return Err(BrokerError::InvalidInput(format!(
                    "unknown encryption type {:?} (envelope, none, rsa-oaep-sha256, rsa-oaep-sha1, rsa-pkcs1v15, none-microsoft, rsa-raw)",
                    s.chars().take(40).collect::<String>()
                )))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_names() {
        assert_eq!(
            EncryptionType::default(),
            EncryptionType::None(RsaScheme::OaepSha256)
        );
        assert_eq!(
            EncryptionType::MICROSOFT_DEFAULT,
            EncryptionType::None(RsaScheme::Pkcs1v15)
        );
        for s in RsaScheme::ALL {
            let t = EncryptionType::None(*s);
            assert_eq!(t.name().parse::<EncryptionType>().unwrap(), t);
            let (a, h) = s.to_tpm_alg();
            assert_eq!(RsaScheme::from_tpm_alg(a, h).unwrap(), *s);
        }
        assert_eq!(
            "ENVELOPE".parse::<EncryptionType>().unwrap(),
            EncryptionType::Envelope
        );
        assert!("rot13".parse::<EncryptionType>().is_err());
        assert!(RsaScheme::from_tpm_alg(TPM_ALG_OAEP, 0x000C).is_err());
        assert!(RsaScheme::from_tpm_alg(0x0014, 0).is_err());
        assert_eq!(RsaScheme::OaepSha256.max_plaintext_len(256), 190);
        assert_eq!(RsaScheme::OaepSha1.max_plaintext_len(256), 214);
        assert_eq!(RsaScheme::Pkcs1v15.max_plaintext_len(256), 245);
    }
}
