//! ITA's wire formats: the verifier nonce ([`VerifierNonce`]), the report
//! data that binds it ([`report_data`]), and the attestation request
//! ([`AttestRequest`], [`AttestOptions`]) with its route.
//!
//! Sources: intel/trustauthority-client-for-go (`go-connector/const.go`,
//! `nonce.go`, `evidence_builder.go`, `token.go`; `go-tdx/tdx_adapter.go`;
//! `go-aztdx/aztdx_adapter.go`). Byte fields are Go `[]byte` in JSON, i.e.
//! padded standard base64.
//!
//! ```text
//! GET  {base}/appraisal/v2/nonce        → {"val", "iat", "signature"}        (base64)
//! report data = SHA-512(val ‖ iat ‖ user data)                               (64 bytes)
//! POST {base}/appraisal/v2/attest       (bare TDX: report data in the quote)
//! POST {base}/appraisal/v2/attest/azure (Azure TDX: report data in the HCL user data)
//!   {"tdx": {"quote", "runtime_data", "user_data"?, "event_log"?, "verifier_nonce"},
//!    "policy_ids"?, "policy_must_match"?, "token_signing_alg"?}              → {"token"}
//! ```
//!
//! Bare TDX: `runtime_data` is the user data itself. Azure TDX:
//! `runtime_data` is the HCL report's variable data (whose `user-data` is
//! the report data) and `user_data` the user data.

use std::fmt;
use std::str::FromStr;

use aws_lc_rs::digest;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::ItaError;

/// The nonce route.
pub const NONCE_PATH: &str = "/appraisal/v2/nonce";
/// The attestation route of bare TDX evidence.
pub const ATTEST_PATH: &str = "/appraisal/v2/attest";
/// The attestation route of Azure TDX evidence (TD quote and HCL runtime
/// data).
pub const ATTEST_AZURE_PATH: &str = "/appraisal/v2/attest/azure";
/// The largest nonce answer accepted (bytes), as Intel's client.
pub const MAX_NONCE_BYTES: usize = 4096;

/// A base64 byte field: standard alphabet, padded or not.
fn decode_b64(text: &str) -> Option<Vec<u8>> {
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    LENIENT.decode(text).ok()
}

/// A nonce signed by ITA (`GET /appraisal/v2/nonce`): the value, its
/// issue time and ITA's signature over them, as ITA sent them (base64
/// texts, echoed back verbatim) and decoded.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifierNonce {
    val: String,
    iat: String,
    signature: String,
    val_bytes: Vec<u8>,
    iat_bytes: Vec<u8>,
    signature_bytes: Vec<u8>,
}

impl fmt::Debug for VerifierNonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifierNonce")
            .field("val", &self.val)
            .field("iat", &String::from_utf8_lossy(&self.iat_bytes))
            .finish_non_exhaustive()
    }
}

impl VerifierNonce {
    /// A nonce from its three base64 fields. Code 2 when one does not
    /// decode or `val` or `iat` is empty.
    pub fn new(val: &str, iat: &str, signature: &str) -> Result<Self, ItaError> {
        let field = |name: &str, text: &str| {
            decode_b64(text)
                .ok_or_else(|| ItaError::malformed(format!("the nonce's `{name}`"), "not base64"))
        };
        let val_bytes = field("val", val)?;
        let iat_bytes = field("iat", iat)?;
        let signature_bytes = field("signature", signature)?;
        if val_bytes.is_empty() || iat_bytes.is_empty() {
            return Err(ItaError::malformed("the nonce", "`val` or `iat` is empty"));
        }
        Ok(Self {
            val: val.to_string(),
            iat: iat.to_string(),
            signature: signature.to_string(),
            val_bytes,
            iat_bytes,
            signature_bytes,
        })
    }

    /// A nonce from the bytes of its three fields (encoded as padded
    /// standard base64).
    pub fn from_bytes(val: &[u8], iat: &[u8], signature: &[u8]) -> Self {
        Self {
            val: STANDARD.encode(val),
            iat: STANDARD.encode(iat),
            signature: STANDARD.encode(signature),
            val_bytes: val.to_vec(),
            iat_bytes: iat.to_vec(),
            signature_bytes: signature.to_vec(),
        }
    }

    /// Parses ITA's answer `{"val", "iat", "signature"}` (unknown members
    /// and duplicates refused, as Intel's client refuses unknown fields).
    /// Code 18 when empty, 2 when larger than [`MAX_NONCE_BYTES`] or a field
    /// does not decode, 16 when not that JSON.
    pub fn parse(body: &[u8]) -> Result<Self, ItaError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(ItaError::EmptyResponse("the nonce answer".into()));
        }
        if body.len() > MAX_NONCE_BYTES {
            return Err(ItaError::malformed(
                "the nonce answer",
                format!("{} bytes; at most {MAX_NONCE_BYTES}", body.len()),
            ));
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Wire {
            val: String,
            iat: String,
            signature: String,
        }
        let w: Wire =
            serde_json::from_slice(body).map_err(|e| ItaError::json("the nonce answer", e))?;
        Self::new(&w.val, &w.iat, &w.signature)
    }

    /// `val`, decoded.
    pub fn val(&self) -> &[u8] {
        &self.val_bytes
    }

    /// `iat`, decoded (ITA's issue time, as text).
    pub fn iat(&self) -> &[u8] {
        &self.iat_bytes
    }

    /// `signature`, decoded.
    pub fn signature(&self) -> &[u8] {
        &self.signature_bytes
    }

    /// The wire form `{"val", "iat", "signature"}`, as received.
    pub fn to_json(&self) -> Value {
        json!({"val": self.val, "iat": self.iat, "signature": self.signature})
    }

    /// Whether a token's `verifier_nonce` members (base64 texts) decode to
    /// this nonce's three fields.
    pub fn matches(&self, val: &str, iat: &str, signature: &str) -> bool {
        // As issued, byte for byte (the usual case), else decoded.
        if val == self.val && iat == self.iat && signature == self.signature {
            return true;
        }
        decode_b64(val).is_some_and(|v| v == self.val_bytes)
            && decode_b64(iat).is_some_and(|v| v == self.iat_bytes)
            && decode_b64(signature).is_some_and(|v| v == self.signature_bytes)
    }
}

/// The report data that binds a verifier nonce and user data:
/// SHA-512(`nonce.val` ‖ `nonce.iat` ‖ `user_data`) — the TD quote's
/// REPORTDATA on bare TDX, the HCL user data on Azure TDX.
pub fn report_data(nonce: &VerifierNonce, user_data: &[u8]) -> [u8; 64] {
    let mut ctx = digest::Context::new(&digest::SHA512);
    ctx.update(nonce.val());
    ctx.update(nonce.iat());
    ctx.update(user_data);
    let mut out = [0u8; 64];
    out.copy_from_slice(ctx.finish().as_ref());
    out
}

/// The algorithm ITA signs the token with (`token_signing_alg`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TokenAlg {
    /// RSASSA-PSS with SHA-384 (ITA's default).
    Ps384,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
}

impl TokenAlg {
    /// Both, PS384 first.
    pub const ALL: [TokenAlg; 2] = [TokenAlg::Ps384, TokenAlg::Rs256];

    /// The JWS name.
    pub const fn as_str(self) -> &'static str {
        match self {
            TokenAlg::Ps384 => "PS384",
            TokenAlg::Rs256 => "RS256",
        }
    }

    /// The algorithm of this JWS name (exact case), if it is one of the two.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "PS384" => Some(TokenAlg::Ps384),
            "RS256" => Some(TokenAlg::Rs256),
            _ => None,
        }
    }
}

impl fmt::Display for TokenAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for TokenAlg {
    type Err = ItaError;

    fn from_str(s: &str) -> Result<Self, ItaError> {
        Self::from_name(s.trim()).ok_or_else(|| {
            ItaError::InvalidInput(format!("token signing algorithm {s:?}: PS384 or RS256"))
        })
    }
}

/// Whether `id` is a UUID in its text form (8-4-4-4-12 hex digits), as
/// ITA's policy ids are.
pub fn is_uuid(id: &str) -> bool {
    let b = id.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// What an attestation asks of ITA besides the evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttestOptions {
    /// Policies (UUIDs) ITA appraises the evidence with.
    pub policy_ids: Vec<String>,
    /// Whether ITA must refuse to issue a token when a policy does not match.
    pub policy_must_match: bool,
    /// The token's signing algorithm (`None`: ITA's default, PS384).
    pub token_signing_alg: Option<TokenAlg>,
}

impl AttestOptions {
    /// Options with these policies (each must be a UUID: code 8 otherwise,
    /// duplicates dropped), `policy_must_match` and signing algorithm.
    pub fn new(
        policy_ids: impl IntoIterator<Item = String>,
        policy_must_match: bool,
        token_signing_alg: Option<TokenAlg>,
    ) -> Result<Self, ItaError> {
        let mut ids: Vec<String> = Vec::new();
        for id in policy_ids {
            let id = id.trim().to_ascii_lowercase();
            if !is_uuid(&id) {
                return Err(ItaError::InvalidInput(format!(
                    "policy id {id:?} is not a UUID"
                )));
            }
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
        Ok(Self {
            policy_ids: ids,
            policy_must_match,
            token_signing_alg,
        })
    }
}

/// Which route and body shape the evidence takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum EvidenceKind {
    /// A bare TD quote whose REPORTDATA binds the nonce and user data
    /// (`/appraisal/v2/attest`).
    Tdx,
    /// An Azure TDX CVM's TD quote with the HCL variable data whose
    /// `user-data` binds them (`/appraisal/v2/attest/azure`).
    AzureTdx,
}

impl EvidenceKind {
    /// The route, below the API base URL.
    pub const fn path(self) -> &'static str {
        match self {
            EvidenceKind::Tdx => ATTEST_PATH,
            EvidenceKind::AzureTdx => ATTEST_AZURE_PATH,
        }
    }
}

/// One attestation request: the evidence and the nonce it binds.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttestRequest {
    /// The route and body shape.
    pub kind: EvidenceKind,
    /// The TD quote.
    pub quote: Vec<u8>,
    /// Bare TDX: the user data the report data binds. Azure TDX: the HCL
    /// report's variable data.
    pub runtime_data: Vec<u8>,
    /// Azure TDX: the user data the HCL user data binds (`None` on bare
    /// TDX, whose user data is `runtime_data`).
    pub user_data: Option<Vec<u8>>,
    /// The CC event log (CCEL data), bare TDX only.
    pub event_log: Option<Vec<u8>>,
    /// The nonce the evidence binds.
    pub verifier_nonce: VerifierNonce,
}

impl AttestRequest {
    /// A bare TDX request: `quote` binds SHA-512(nonce ‖ `runtime_data`).
    pub fn tdx(quote: Vec<u8>, runtime_data: Vec<u8>, verifier_nonce: VerifierNonce) -> Self {
        Self {
            kind: EvidenceKind::Tdx,
            quote,
            runtime_data,
            user_data: None,
            event_log: None,
            verifier_nonce,
        }
    }

    /// An Azure TDX request: the TD quote, the HCL variable data (whose
    /// `user-data` is SHA-512(nonce ‖ `user_data`)) and the user data.
    pub fn azure_tdx(
        quote: Vec<u8>,
        var_data: Vec<u8>,
        user_data: Vec<u8>,
        verifier_nonce: VerifierNonce,
    ) -> Self {
        Self {
            kind: EvidenceKind::AzureTdx,
            quote,
            runtime_data: var_data,
            user_data: Some(user_data),
            event_log: None,
            verifier_nonce,
        }
    }

    /// The JSON body, composite v2 form: `{"tdx": {quote, runtime_data,
    /// user_data?, event_log?, verifier_nonce}, policy_ids?,
    /// policy_must_match?, token_signing_alg?}` — optional members left out
    /// when empty, false or unset, as Intel's client does. Code 8 for an
    /// empty quote, or an event log with Azure evidence (the Azure route
    /// takes none).
    pub fn body(&self, options: &AttestOptions) -> Result<Value, ItaError> {
        if self.quote.is_empty() {
            return Err(ItaError::InvalidInput("the TD quote is empty".into()));
        }
        let mut tdx = Map::new();
        tdx.insert("quote".into(), json!(STANDARD.encode(&self.quote)));
        tdx.insert(
            "runtime_data".into(),
            json!(STANDARD.encode(&self.runtime_data)),
        );
        if let Some(u) = self.user_data.as_ref().filter(|u| !u.is_empty()) {
            tdx.insert("user_data".into(), json!(STANDARD.encode(u)));
        }
        if let Some(log) = self.event_log.as_ref().filter(|l| !l.is_empty()) {
            if self.kind == EvidenceKind::AzureTdx {
                return Err(ItaError::InvalidInput(
                    "the Azure TDX route takes no event log".into(),
                ));
            }
            tdx.insert("event_log".into(), json!(STANDARD.encode(log)));
        }
        tdx.insert("verifier_nonce".into(), self.verifier_nonce.to_json());
        let mut body = Map::new();
        body.insert("tdx".into(), Value::Object(tdx));
        if !options.policy_ids.is_empty() {
            body.insert("policy_ids".into(), json!(options.policy_ids));
        }
        if options.policy_must_match {
            body.insert("policy_must_match".into(), json!(true));
        }
        if let Some(alg) = options.token_signing_alg {
            body.insert("token_signing_alg".into(), json!(alg.as_str()));
        }
        Ok(Value::Object(body))
    }
}

/// ITA's error message in an error answer: `{"error": "..."}` (as trustee's
/// ITA client reads it), else a `message` member (top level or inside an
/// `error` object), else the start of the answer as text.
#[cfg(feature = "client")]
pub(crate) fn service_message(body: &[u8]) -> String {
    let from_json = serde_json::from_slice::<Value>(body).ok().and_then(|v| {
        let pick = |v: &Value| v.as_str().map(str::to_string);
        match v.get("error") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(e @ Value::Object(_)) => e.get("message").and_then(pick),
            _ => v.get("message").and_then(pick),
        }
    });
    let text = from_json.unwrap_or_else(|| {
        let head = &body[..body.len().min(300)];
        String::from_utf8_lossy(head).trim().to_string()
    });
    // One line, bounded, printable.
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(300)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nonce() -> VerifierNonce {
        VerifierNonce::from_bytes(b"value-bytes", b"2025-05-07 18:26:33 +0000 UTC", b"sig")
    }

    #[test]
    fn nonce_answers() {
        let n = VerifierNonce::parse(
            br#"{"val":"dmFs","iat":"MjAyNS0wNS0wNyAxODoyNjozMyArMDAwMCBVVEM=","signature":"c2ln"}"#,
        )
        .unwrap();
        assert_eq!(n.val(), b"val");
        assert_eq!(n.iat(), b"2025-05-07 18:26:33 +0000 UTC");
        assert_eq!(n.signature(), b"sig");
        assert_eq!(
            n.to_json()["iat"],
            "MjAyNS0wNS0wNyAxODoyNjozMyArMDAwMCBVVEM="
        );
        assert!(n.matches("dmFs", "MjAyNS0wNS0wNyAxODoyNjozMyArMDAwMCBVVEM", "c2ln"));
        assert!(!n.matches("dmFt", "MjAyNS0wNS0wNyAxODoyNjozMyArMDAwMCBVVEM", "c2ln"));
        use tee_attest_core::CodedError;
        let code = |b: &[u8]| VerifierNonce::parse(b).unwrap_err().code().number();
        assert_eq!(code(b""), 18);
        assert_eq!(code(b"  "), 18);
        assert_eq!(code(b"<html>"), 16);
        assert_eq!(code(br#"{"val":"dmFs","iat":"aQ=="}"#), 16);
        assert_eq!(
            code(br#"{"val":"dmFs","iat":"aQ==","signature":"","extra":1}"#),
            16
        );
        assert_eq!(code(br#"{"val":"!!","iat":"aQ==","signature":""}"#), 2);
        assert_eq!(code(br#"{"val":"","iat":"aQ==","signature":""}"#), 2);
        let big = format!(
            r#"{{"val":"{}","iat":"aQ==","signature":""}}"#,
            "A".repeat(MAX_NONCE_BYTES)
        );
        assert_eq!(code(big.as_bytes()), 2);
    }

    #[test]
    fn report_data_is_sha512_of_val_iat_user_data() {
        let n = nonce();
        let mut all = b"value-bytes".to_vec();
        all.extend_from_slice(b"2025-05-07 18:26:33 +0000 UTC");
        all.extend_from_slice(b"{\"nonce\":\"n\"}");
        let want = digest::digest(&digest::SHA512, &all);
        assert_eq!(&report_data(&n, b"{\"nonce\":\"n\"}")[..], want.as_ref());
    }

    #[test]
    fn bodies_and_routes() {
        let opts = AttestOptions::new(
            ["C7C49DD2-A96A-43BD-8CEE-F2AA99503458".to_string()],
            true,
            Some(TokenAlg::Rs256),
        )
        .unwrap();
        let mut r = AttestRequest::tdx(vec![1, 2, 3], b"rt".to_vec(), nonce());
        r.event_log = Some(vec![9; 4]);
        let b = r.body(&opts).unwrap();
        assert_eq!(r.kind.path(), "/appraisal/v2/attest");
        assert_eq!(b["tdx"]["quote"], "AQID");
        assert_eq!(b["tdx"]["runtime_data"], "cnQ=");
        assert_eq!(b["tdx"]["event_log"], "CQkJCQ==");
        assert!(b["tdx"].get("user_data").is_none());
        assert_eq!(b["tdx"]["verifier_nonce"], nonce().to_json());
        assert_eq!(
            b["policy_ids"],
            json!(["c7c49dd2-a96a-43bd-8cee-f2aa99503458"])
        );
        assert_eq!(b["policy_must_match"], true);
        assert_eq!(b["token_signing_alg"], "RS256");

        let a = AttestRequest::azure_tdx(vec![1], b"{}".to_vec(), b"u".to_vec(), nonce());
        let b = a.body(&AttestOptions::default()).unwrap();
        assert_eq!(a.kind.path(), "/appraisal/v2/attest/azure");
        assert_eq!(b["tdx"]["user_data"], "dQ==");
        assert_eq!(b["tdx"]["runtime_data"], "e30=");
        for absent in ["policy_ids", "policy_must_match", "token_signing_alg"] {
            assert!(b.get(absent).is_none(), "{absent}");
        }
        let mut a = a;
        a.event_log = Some(vec![1]);
        assert!(a.body(&AttestOptions::default()).is_err());
        let empty = AttestRequest::tdx(Vec::new(), Vec::new(), nonce());
        assert!(empty.body(&AttestOptions::default()).is_err());
        assert!(AttestOptions::new(["not-a-uuid".to_string()], false, None).is_err());
        assert_eq!("PS384".parse::<TokenAlg>().unwrap(), TokenAlg::Ps384);
        assert!("HS256".parse::<TokenAlg>().is_err());
    }

    #[cfg(feature = "client")]
    #[test]
    fn service_messages() {
        assert_eq!(
            service_message(br#"{"error":"invalid quote"}"#),
            "invalid quote"
        );
        assert_eq!(
            service_message(br#"{"error":{"code":"x","message":"m"}}"#),
            "m"
        );
        assert_eq!(service_message(br#"{"message":"top"}"#), "top");
        assert_eq!(service_message(b"plain\ntext"), "plain text");
        assert_eq!(service_message(&[b'x'; 1000]).len(), 300);
    }
}
