//! `AttestationToken`: the JWT a verifier returns, with typed access to the
//! claims the guest attestation scenarios look at.
//!
//! Decoding here does **not** validate the signature: that is the relying
//! party's job (the `maa` crate's validator). It only gives structure.

use std::fmt;
use std::sync::OnceLock;

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
///
/// The header and claims are kept as JSON text and turned into
/// [`Value`] trees on first access (once, then shared), so that a relying
/// party that only needs the validator's checks, or its own typed view
/// ([`AttestationToken::claims_as`]), does not pay for building them.
#[derive(Clone)]
pub struct AttestationToken {
    raw: String,
    header: LazyJson,
    claims: LazyJson,
}

/// JSON text known to be an object, decoded into a [`Value`] on first use.
#[derive(Clone)]
struct LazyJson {
    text: Box<[u8]>,
    value: OnceLock<Value>,
}

impl LazyJson {
    fn decoded(text: Vec<u8>, value: Value) -> Self {
        Self {
            text: text.into_boxed_slice(),
            value: OnceLock::from(value),
        }
    }

    fn lazy(text: Vec<u8>) -> Self {
        Self {
            text: text.into_boxed_slice(),
            value: OnceLock::new(),
        }
    }

    fn get(&self) -> &Value {
        self.value.get_or_init(|| {
            // The text was checked to be a JSON object by whoever built the
            // token; should it not be, fail closed with an empty object
            // (every typed accessor then answers `None`).
            serde_json::from_slice(&self.text)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| Value::Object(Map::new()))
        })
    }
}

impl fmt::Debug for AttestationToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AttestationToken")
            .field("header", self.header())
            .field("claims", self.claims())
            .finish_non_exhaustive()
    }
}

/// Two tokens are equal when their texts are: the decoded parts follow.
impl PartialEq for AttestationToken {
    fn eq(&self, other: &Self) -> bool {
        self.raw == other.raw
    }
}

impl Eq for AttestationToken {}

fn jwt_error(msg: impl Into<String>) -> Error {
    Error::new(ErrorCode::JwtExtractionFailed, msg)
}

fn decode_part(part: &str, what: &str) -> Result<LazyJson> {
    let trimmed = part.trim_end_matches('=');
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(trimmed)
        .map_err(|e| jwt_error(format!("JWT {what} is not base64url: {e}")))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|e| jwt_error(format!("JWT {what} is not JSON: {e}")))?;
    if !value.is_object() {
        return Err(jwt_error(format!("JWT {what} is not a JSON object")));
    }
    Ok(LazyJson::decoded(bytes, value))
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

    /// A token from parts a validator has already decoded and checked: the
    /// raw text and the JSON texts of its header and claims, both checked
    /// to be JSON objects. Nothing is checked here and nothing is decoded
    /// until first asked for (a text that is not a JSON object after all
    /// reads as an empty object).
    pub fn from_checked_parts(raw: &str, header_json: Vec<u8>, claims_json: Vec<u8>) -> Self {
        Self {
            raw: raw.trim().to_string(),
            header: LazyJson::lazy(header_json),
            claims: LazyJson::lazy(claims_json),
        }
    }

    /// The claims deserialized straight from their JSON text into the
    /// caller's type, without building the [`Value`] tree (code 22 when
    /// they do not fit `T`).
    pub fn claims_as<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.claims.text)
            .map_err(|e| jwt_error(format!("the claims do not have the expected shape: {e}")))
    }

    /// The token as received.
    pub fn raw(&self) -> &str {
        &self.raw
    }

    /// The JOSE header.
    pub fn header(&self) -> &Value {
        self.header.get()
    }

    /// All claims.
    pub fn claims(&self) -> &Value {
        self.claims.get()
    }

    /// A claim by a dotted path of names, e.g.
    /// `x-ms-isolation-tee.x-ms-compliance-status`.
    pub fn claim(&self, path: &str) -> Option<&Value> {
        path.split('.')
            .try_fold(self.claims(), |v, name| v.as_object()?.get(name))
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

    #[test]
    fn checked_parts_are_decoded_on_first_use() {
        let t = sample();
        let raw = t.raw().to_string();
        let (h, rest) = raw.split_once('.').unwrap();
        let p = rest.split_once('.').unwrap().0;
        let d = |s: &str| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(s)
                .unwrap()
        };
        let lazy = AttestationToken::from_checked_parts(&raw, d(h), d(p));
        assert_eq!(lazy, t);
        assert_eq!(lazy.claims(), t.claims());
        assert_eq!(lazy.header(), t.header());
        assert_eq!(lazy.compliance_status(), Some("azure-compliant-cvm"));
        let clone = lazy.clone();
        assert_eq!(clone.nonce(), Some("QURFMDEwMQ=="));
        assert!(format!("{lazy:?}").contains("azure-compliant-cvm"));
    }

    #[test]
    fn unchecked_text_reads_as_an_empty_object() {
        let t = AttestationToken::from_checked_parts("x.y.z", b"[1]".to_vec(), b"{".to_vec());
        assert_eq!(t.claims(), &Value::Object(Map::new()));
        assert_eq!(t.header(), &Value::Object(Map::new()));
        assert_eq!(t.issuer(), None);
        assert!(!t.is_mock_evidence());
        let e = t.claims_as::<Value>().unwrap_err();
        assert_eq!(e.code(), ErrorCode::JwtExtractionFailed);
    }

    #[test]
    fn claims_as_reads_a_typed_view() {
        #[derive(serde::Deserialize)]
        struct View {
            iss: String,
            secureboot: bool,
        }
        let v: View = sample().claims_as().unwrap();
        assert_eq!(v.iss, "https://x.attest.azure.net");
        assert!(v.secureboot);
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct Wrong {
            iss: u32,
        }
        let e = sample().claims_as::<Wrong>().unwrap_err();
        assert_eq!(e.code(), ErrorCode::JwtExtractionFailed);
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,300}") {
            let _ = AttestationToken::parse(&s);
        }
    }
}
