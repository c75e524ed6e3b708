//! The HCL report's variable data: a JSON object with `keys` (JWKs named
//! `HCLAkPub` and `HCLEkPub`), `vm-configuration` and `user-data`.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use crate::error::AzureError;
use crate::hcl::VAR_DATA_OFFSET;

/// The kid of the vTPM attestation key.
pub const AK_KID: &str = "HCLAkPub";
/// The kid of the vTPM endorsement key.
pub const EK_KID: &str = "HCLEkPub";

/// One JSON Web Key as the HCL writes it (field order as on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key id (`HCLAkPub`, `HCLEkPub`).
    pub kid: String,
    /// Key operations (`sign`, `encrypt`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub key_ops: Vec<String>,
    /// Key type (`RSA`).
    pub kty: String,
    /// RSA public exponent, base64url without padding.
    #[serde(default)]
    pub e: String,
    /// RSA modulus, base64url without padding.
    #[serde(default)]
    pub n: String,
}

/// An RSA public key as raw big-endian modulus and exponent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RsaPublicJwk {
    /// Modulus, big-endian.
    pub n: Vec<u8>,
    /// Public exponent, big-endian.
    pub e: Vec<u8>,
}

impl Jwk {
    /// An RSA JWK from raw modulus and exponent.
    pub fn rsa(kid: &str, key_ops: &[&str], n: &[u8], e: &[u8]) -> Self {
        Self {
            kid: kid.to_string(),
            key_ops: key_ops.iter().map(|s| s.to_string()).collect(),
            kty: "RSA".into(),
            e: URL_SAFE_NO_PAD.encode(e),
            n: URL_SAFE_NO_PAD.encode(n),
        }
    }

    /// The RSA modulus and exponent.
    pub fn rsa_public(&self) -> Result<RsaPublicJwk, AzureError> {
        if self.kty != "RSA" {
            return Err(AzureError::parse(
                "var_data.keys.kty",
                VAR_DATA_OFFSET,
                format!("key {} is {}, not RSA", self.kid, self.kty),
            ));
        }
        let dec = |field: &'static str, s: &str| {
            let s = s.trim_end_matches('=');
            URL_SAFE_NO_PAD
                .decode(s)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| {
                    AzureError::parse(
                        field,
                        VAR_DATA_OFFSET,
                        format!("key {}: not base64url", self.kid),
                    )
                })
        };
        Ok(RsaPublicJwk {
            n: dec("var_data.keys.n", &self.n)?,
            e: dec("var_data.keys.e", &self.e)?,
        })
    }
}

#[derive(Serialize)]
struct VarDataOut<'a> {
    keys: &'a [Jwk],
    #[serde(rename = "vm-configuration", skip_serializing_if = "Option::is_none")]
    vm_configuration: Option<&'a serde_json::Value>,
    #[serde(rename = "user-data", skip_serializing_if = "Option::is_none")]
    user_data: Option<String>,
}

/// The parsed variable data.
#[derive(Debug, Clone, PartialEq)]
pub struct VarData {
    json: serde_json::Map<String, serde_json::Value>,
    keys: Vec<Jwk>,
}

impl VarData {
    /// Parses the JSON.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, AzureError> {
        let json: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
            .map_err(|e| {
                AzureError::parse(
                    "var_data",
                    VAR_DATA_OFFSET,
                    format!("not a JSON object: {e}"),
                )
            })?;
        let keys = match json.get("keys") {
            None => Vec::new(),
            Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
                AzureError::parse(
                    "var_data.keys",
                    VAR_DATA_OFFSET,
                    format!("not a list of JWKs: {e}"),
                )
            })?,
        };
        Ok(Self { json, keys })
    }

    /// Encodes variable data as the HCL does: compact JSON with `keys`,
    /// then `vm-configuration`, then `user-data` (upper-case hex).
    pub fn encode(
        keys: &[Jwk],
        vm_configuration: Option<&serde_json::Value>,
        user_data: Option<&[u8]>,
    ) -> Vec<u8> {
        let out = VarDataOut {
            keys,
            vm_configuration,
            user_data: user_data.map(|u| u.iter().map(|b| format!("{b:02X}")).collect::<String>()),
        };
        serde_json::to_vec(&out).unwrap_or_default()
    }

    /// The whole JSON object.
    pub fn json(&self) -> &serde_json::Map<String, serde_json::Value> {
        &self.json
    }

    /// The JWKs.
    pub fn keys(&self) -> &[Jwk] {
        &self.keys
    }

    /// The JWK with this kid.
    pub fn key(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// The vTPM attestation key (`HCLAkPub`) as modulus and exponent.
    pub fn ak_pub(&self) -> Result<RsaPublicJwk, AzureError> {
        self.key(AK_KID)
            .ok_or_else(|| AzureError::parse("var_data.keys", VAR_DATA_OFFSET, "no HCLAkPub key"))?
            .rsa_public()
    }

    /// The vTPM endorsement key (`HCLEkPub`), when present.
    pub fn ek_pub(&self) -> Option<Result<RsaPublicJwk, AzureError>> {
        self.key(EK_KID).map(Jwk::rsa_public)
    }

    /// `vm-configuration`.
    pub fn vm_configuration(&self) -> Option<&serde_json::Value> {
        self.json.get("vm-configuration")
    }

    /// `user-data`, hex-decoded.
    pub fn user_data(&self) -> Option<Vec<u8>> {
        let s = self.json.get("user-data")?.as_str()?;
        if s.len() % 2 != 0 {
            return None;
        }
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
            .collect()
    }
}
