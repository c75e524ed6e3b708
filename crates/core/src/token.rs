//! `AttestationToken`: the JWT a verifier returns, with typed access to the
//! claims the guest attestation scenarios look at.
//!
//! Decoding here does **not** validate the signature: that is the relying
//! party's job (the `maa` crate's validator). It only gives structure.

use base64::Engine as _;
use serde_json::{Map, Value};

use crate::{Error, ErrorCode, Result};

/// The `kid` of the ephemeral encryption key in `x-ms-runtime.keys`.
pub const EPHEMERAL_KEY_KID: &str = "TpmEphemeralEncryptionKey";

/// The claim that marks a token whose evidence chained to mock roots
/// (`true`). Relying parties refuse such tokens unless told to trust mocks.
pub const MOCK_EVIDENCE_CLAIM: &str = "x-tee-attest-mock-evidence";

/// The largest token accepted, in bytes.
const MAX_TOKEN_BYTES: usize = 1024 * 1024;

/// A JWT from a verifier: the raw text and its decoded header and claims.
#[derive(Debug, Clone, PartialEq)]
pub struct AttestationToken {
    raw: String,
    header: Value,
    claims: Value,
}

fn jwt_error(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::JwtExtractionFailed, msg)
}

fn decode_part(part: &str, what: &str) -> Result<Value> {
    let trimmed = part.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .map_err(|e| jwt_error(format!("JWT {what} is not base64url: {e}")))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| jwt_error(format!("JWT {what} is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(jwt_error(format!("JWT {what} is not a JSON object")));
    }
    Ok(value)
}

impl AttestationToken {
    /// Decode a compact JWT (`header.payload.signature`). Code 22 if it is
    /// not three base64url parts whose first two are JSON objects.
    pub fn parse(raw: &str) -> Result<Self> {
        let raw = raw.trim();
        if raw.is_empty() {
            return Err(jwt_error("token is empty"));
        }
        if raw.len() > MAX_TOKEN_BYTES {
            return Err(jwt_error(format!(
                "token is {} bytes; at most {MAX_TOKEN_BYTES} are accepted",
                raw.len()
            )));
        }
        let mut parts = raw.split('.');
        let (Some(h), Some(p), Some(_s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(jwt_error(
                "token is not a compact JWT (three dot-separated parts)",
            ));
        };
        Ok(Self {
            header: decode_part(h, "header")?,
            claims: decode_part(p, "payload")?,
            raw: raw.to_string(),
        })
    }

    /// A token from parts a validator has already decoded and checked (the
    /// raw text, its header and its claims, both JSON objects), so that
    /// nothing is decoded twice. Nothing is checked here.
    pub fn from_decoded(raw: &str, header: Value, claims: Value) -> Self {
        Self {
            raw: raw.trim().to_string(),
            header,
            claims,
        }
    }

    /// The token as received.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The JOSE header.
    pub fn header(&self) -> &Value {
        &self.header
    }

    /// All claims.
    pub fn claims(&self) -> &Value {
        &self.claims
    }

    /// A claim by a dotted path of names, e.g.
    /// `x-ms-isolation-tee.x-ms-compliance-status`.
    pub fn claim(&self, path: &str) -> Option<&Value> {
        path.split('.')
            .try_fold(&self.claims, |v, name| v.as_object()?.get(name))
    }

    fn claim_str(&self, path: &str) -> Option<&str> {
        self.claim(path)?.as_str()
    }

    /// `iss`.
    pub fn issuer(&self) -> Option<&str> {
        self.claim_str("iss")
    }

    /// `exp`, in seconds since the epoch.
    pub fn expires_at(&self) -> Option<i64> {
        self.claim("exp")?.as_i64()
    }

    /// The top-level attestation type (`azurevm` for AzureGuest tokens,
    /// `sevsnpvm` or `tdxvm` for platform tokens).
    pub fn attestation_type(&self) -> Option<&str> {
        self.claim_str("x-ms-attestation-type")
    }

    /// The isolation TEE's type (`x-ms-isolation-tee.x-ms-attestation-type`),
    /// or the top-level type for platform tokens that have no isolation TEE.
    pub fn isolation_tee_type(&self) -> Option<&str> {
        self.claim_str("x-ms-isolation-tee.x-ms-attestation-type")
            .or_else(|| {
                self.claim("x-ms-isolation-tee")
                    .is_none()
                    .then(|| self.attestation_type())
                    .flatten()
            })
    }

    /// The compliance status (`azure-compliant-cvm` for a compliant CVM).
    pub fn compliance_status(&self) -> Option<&str> {
        self.claim_str("x-ms-isolation-tee.x-ms-compliance-status")
            .or_else(|| self.claim_str("x-ms-compliance-status"))
    }

    /// The HCL's VM configuration (`console-enabled`, `secure-boot`,
    /// `tpm-enabled`, `vmUniqueId`, …).
    pub fn vm_configuration(&self) -> Option<&Map<String, Value>> {
        self.claim("x-ms-isolation-tee.x-ms-runtime.vm-configuration")
            .or_else(|| self.claim("x-ms-runtime.vm-configuration"))?
            .as_object()
    }

    /// Whether secure boot was on, from the VM configuration or the
    /// top-level `secureboot` claim.
    pub fn secure_boot(&self) -> Option<bool> {
        self.vm_configuration()
            .and_then(|c| c.get("secure-boot"))
            .or_else(|| self.claim("secureboot"))?
            .as_bool()
    }

    /// A runtime key (JWK) by `kid`, from `x-ms-runtime.keys`, then from the
    /// isolation TEE's runtime keys.
    pub fn runtime_key(&self, kid: &str) -> Option<&Map<String, Value>> {
        ["x-ms-runtime.keys", "x-ms-isolation-tee.x-ms-runtime.keys"]
            .iter()
            .filter_map(|p| self.claim(p)?.as_array())
            .flatten()
            .filter_map(Value::as_object)
            .find(|k| k.get("kid").and_then(Value::as_str) == Some(kid))
    }

    /// The ephemeral encryption key (`TpmEphemeralEncryptionKey`) as a JWK.
    pub fn ephemeral_key(&self) -> Option<&Map<String, Value>> {
        self.runtime_key(EPHEMERAL_KEY_KID)
    }

    /// The client payload as returned in `x-ms-runtime.client-payload`. MAA
    /// returns the base64 of each value the client sent.
    pub fn client_payload(&self) -> Option<&Map<String, Value>> {
        self.claim("x-ms-runtime.client-payload")?.as_object()
    }

    /// Whether the token says its evidence chained to mock roots.
    pub fn is_mock_evidence(&self) -> bool {
        self.claim(MOCK_EVIDENCE_CLAIM).and_then(Value::as_bool) == Some(true)
    }

    /// The nonce: the `nonce` claim, else the client payload's `nonce`
    /// (any case of the key; base64 as MAA returns it).
    pub fn nonce(&self) -> Option<&str> {
        self.claim_str("nonce").or_else(|| {
            self.client_payload()?
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("nonce"))?
                .1
                .as_str()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn b64(v: &Value) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    }

    fn sample() -> AttestationToken {
        let header = serde_json::json!({"alg":"RS256","typ":"JWT","kid":"k"});
        let claims = serde_json::json!({
            "iss": "https://x.attest.azure.net",
            "exp": 1680202174,
            "secureboot": true,
            "x-ms-attestation-type": "azurevm",
            "x-ms-isolation-tee": {
                "x-ms-attestation-type": "sevsnpvm",
                "x-ms-compliance-status": "azure-compliant-cvm",
                "x-ms-runtime": {
                    "keys": [{"kid":"HCLAkPub","kty":"RSA","n":"AQ","e":"AQAB"}],
                    "vm-configuration": {"secure-boot": true, "tpm-enabled": true}
                }
            },
            "x-ms-runtime": {
                "client-payload": {"nonce": "QURFMDEwMQ=="},
                "keys": [{"kid":"TpmEphemeralEncryptionKey","kty":"RSA","n":"AQ","e":"AQAB"}]
            }
        });
        AttestationToken::parse(&format!("{}.{}.c2ln", b64(&header), b64(&claims))).unwrap()
    }

    #[test]
    fn typed_access_to_the_azureguest_claims() {
        let t = sample();
        assert_eq!(t.attestation_type(), Some("azurevm"));
        assert_eq!(t.isolation_tee_type(), Some("sevsnpvm"));
        assert_eq!(t.compliance_status(), Some("azure-compliant-cvm"));
        assert_eq!(t.secure_boot(), Some(true));
        assert_eq!(t.issuer(), Some("https://x.attest.azure.net"));
        assert_eq!(t.expires_at(), Some(1680202174));
        assert_eq!(t.nonce(), Some("QURFMDEwMQ=="));
        assert_eq!(t.ephemeral_key().unwrap()["kty"], "RSA");
        assert!(t.runtime_key("HCLAkPub").is_some());
        assert!(t.runtime_key("nope").is_none());
        assert_eq!(
            t.vm_configuration().unwrap()["tpm-enabled"],
            Value::Bool(true)
        );
        assert_eq!(t.header()["kid"], "k");
    }

    #[test]
    fn refuses_what_is_not_a_jwt() {
        for bad in [
            "",
            "a.b",
            "a.b.c.d",
            "!!.e30.x",
            "e30.!!.x",
            "W10.e30.x",
            "e30.bnVsbA.x",
        ] {
            let e = AttestationToken::parse(bad).unwrap_err();
            assert_eq!(e.code(), ErrorCode::JwtExtractionFailed, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,300}") {
            let _ = AttestationToken::parse(&s);
        }
    }
}
