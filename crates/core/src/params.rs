//! `ClientParameters`: what a caller passes to `Attest`.

use std::collections::BTreeMap;

use crate::{Error, ErrorCode, Result};

/// The largest client payload accepted, in bytes of JSON text.
pub const MAX_CLIENT_PAYLOAD_BYTES: usize = 64 * 1024;

/// The parameters of `Attest` (SPEC.md §3): a version, the attestation
/// service endpoint ("tenant URI"), and the client payload — key/value pairs
/// of strings that come back in the token (`x-ms-runtime.client-payload`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientParameters {
    /// The version of this structure (1 today).
    pub version: u32,
    /// The attestation service endpoint, e.g. `https://sharedeus.eus.attest.azure.net`.
    /// Empty means the embedded local verifier.
    pub endpoint: String,
    /// The client payload: string keys to string values, e.g. `{"Nonce":"011510062022"}`.
    pub client_payload: BTreeMap<String, String>,
}

impl ClientParameters {
    /// The current version of the structure.
    pub const VERSION: u32 = 1;

    /// Parameters for an endpoint, with an empty payload.
    pub fn new(endpoint: impl Into<String>) -> Self {
        Self {
            version: Self::VERSION,
            endpoint: endpoint.into(),
            client_payload: BTreeMap::new(),
        }
    }

    /// Parameters for an endpoint with a payload given as JSON text, as the C
    /// API receives it. An empty string means no payload.
    pub fn from_json_payload(endpoint: impl Into<String>, payload: &str) -> Result<Self> {
        Ok(Self {
            client_payload: parse_client_payload(payload)?,
            ..Self::new(endpoint)
        })
    }

    /// The same parameters with one more payload entry.
    #[must_use]
    pub fn with_payload(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.client_payload.insert(key.into(), value.into());
        self
    }

    /// The payload's nonce: the value of the key `nonce`, matched without
    /// regard to case (`Nonce` in the seed's example), if present.
    pub fn nonce(&self) -> Option<&str> {
        self.client_payload
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("nonce"))
            .map(|(_, v)| v.as_str())
    }

    /// The payload as JSON text (`{}` when empty).
    pub fn payload_json(&self) -> String {
        // A map of strings always serialises.
        serde_json::to_string(&self.client_payload).unwrap_or_else(|_| "{}".into())
    }

    /// Check the parameters: a known version, and a payload within bounds.
    pub fn validate(&self) -> Result<()> {
        if self.version == 0 || self.version > Self::VERSION {
            return Err(Error::new(
                ErrorCode::InvalidInputParameter,
                format!(
                    "client parameters version {} is not supported (expected 1..={})",
                    self.version,
                    Self::VERSION
                ),
            ));
        }
        let size = self.payload_json().len();
        if size > MAX_CLIENT_PAYLOAD_BYTES {
            return Err(payload_too_large(size));
        }
        Ok(())
    }
}

fn payload_too_large(size: usize) -> Error {
    Error::new(
        ErrorCode::InvalidInputParameter,
        format!("client payload is {size} bytes; at most {MAX_CLIENT_PAYLOAD_BYTES} are accepted"),
    )
}

/// Parse a client payload: a JSON object whose values are all strings.
/// Anything else is code 8 with a message that says what was wrong.
pub(crate) fn parse_client_payload(text: &str) -> Result<BTreeMap<String, String>> {
    let invalid = |msg: String| Error::new(ErrorCode::InvalidInputParameter, msg);
    if text.trim().is_empty() {
        return Ok(BTreeMap::new());
    }
    if text.len() > MAX_CLIENT_PAYLOAD_BYTES {
        return Err(payload_too_large(text.len()));
    }
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        invalid(format!(
            "client payload is not JSON: {e} (expected an object of strings, e.g. {{\"Nonce\":\"123\"}})"
        ))
    })?;
    let serde_json::Value::Object(map) = value else {
        return Err(invalid(format!(
            "client payload must be a JSON object of strings, not {}",
            json_kind(&value)
        )));
    };
    map.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            other => Err(invalid(format!(
                "client payload value of key {k:?} must be a string, not {}",
                json_kind(&other)
            ))),
        })
        .collect()
}

fn json_kind(v: &serde_json::Value) -> &'static str {
    match v {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn code_and_msg(text: &str) -> (ErrorCode, String) {
        let e = ClientParameters::from_json_payload("", text).unwrap_err();
        (e.code(), e.message().to_string())
    }

    #[test]
    fn accepts_the_seed_example() {
        let p = ClientParameters::from_json_payload("https://x", r#"{"Nonce":"011510062022"}"#)
            .unwrap();
        assert_eq!(p.nonce(), Some("011510062022"));
        assert_eq!(p.version, 1);
        p.validate().unwrap();
        assert_eq!(p.payload_json(), r#"{"Nonce":"011510062022"}"#);
    }

    #[test]
    fn empty_payload_is_no_payload() {
        assert!(ClientParameters::from_json_payload("", "")
            .unwrap()
            .client_payload
            .is_empty());
        assert!(ClientParameters::from_json_payload("", "{}")
            .unwrap()
            .client_payload
            .is_empty());
    }

    #[test]
    fn refuses_what_is_not_an_object_of_strings() {
        let cases = [
            ("not json", "not JSON"),
            ("[1,2]", "not an array"),
            ("\"s\"", "not a string"),
            ("42", "not a number"),
            ("null", "not null"),
            (
                r#"{"Nonce": 5}"#,
                "key \"Nonce\" must be a string, not a number",
            ),
            (
                r#"{"a": {"b": "c"}}"#,
                "key \"a\" must be a string, not an object",
            ),
            (r#"{"a": true}"#, "not a boolean"),
            (r#"{"a": null}"#, "not null"),
        ];
        for (input, expected) in cases {
            let (code, msg) = code_and_msg(input);
            assert_eq!(code, ErrorCode::InvalidInputParameter, "{input}");
            assert!(msg.contains(expected), "{input}: {msg}");
        }
    }

    #[test]
    fn refuses_a_payload_over_64_kib() {
        let big = format!(r#"{{"k":"{}"}}"#, "a".repeat(MAX_CLIENT_PAYLOAD_BYTES));
        let (code, msg) = code_and_msg(&big);
        assert_eq!(code, ErrorCode::InvalidInputParameter);
        assert!(msg.contains("at most 65536"), "{msg}");

        let p = ClientParameters::new("").with_payload("k", "a".repeat(MAX_CLIENT_PAYLOAD_BYTES));
        assert_eq!(
            p.validate().unwrap_err().code(),
            ErrorCode::InvalidInputParameter
        );
    }

    #[test]
    fn refuses_unknown_versions() {
        let mut p = ClientParameters::new("");
        p.version = 0;
        assert_eq!(
            p.validate().unwrap_err().code(),
            ErrorCode::InvalidInputParameter
        );
        p.version = 2;
        assert!(p.validate().unwrap_err().message().contains("version 2"));
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_text(text in ".{0,200}") {
            let _ = ClientParameters::from_json_payload("", &text);
        }

        #[test]
        fn string_maps_round_trip(map in proptest::collection::btree_map(".{0,16}", ".{0,32}", 0..8)) {
            let text = serde_json::to_string(&map).unwrap();
            let p = ClientParameters::from_json_payload("", &text).unwrap();
            prop_assert_eq!(p.client_payload, map);
        }
    }
}
