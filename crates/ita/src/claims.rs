//! [`ItaToken`]: a validated ITA token with typed access to its claims
//! ([`ItaClaims`], [`TdxClaims`]), in ITA's layout (intel/trustauthority-kbs
//! `model/attestation_token.go`; ITA's EAT profile): v2 tokens nest the
//! attester's claims under `"tdx"`, v1 tokens have them at the top level —
//! [`ItaClaims::tdx`] reads either.
//!
//! Claims are decoded on first use, once, from the checked JSON text.

use std::fmt;
use std::sync::OnceLock;

use serde::Deserialize;
use serde_json::Value;
use tee_attest_core::AttestationToken;

use crate::{ItaError, TokenAlg, TokenCheck};

/// A policy named in `policy_ids_matched` / `policy_ids_unmatched`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct PolicyRef {
    /// The policy's id (a UUID).
    pub id: String,
    /// The policy's version (`v1`, …).
    #[serde(default)]
    pub version: Option<String>,
    /// The policy's hash, when ITA reports it.
    #[serde(default)]
    pub hash: Option<String>,
}

/// The `verifier_nonce` claim: the nonce the evidence bound, as ITA
/// issued it (base64 texts).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct NonceClaim {
    /// `val`.
    pub val: String,
    /// `iat`.
    pub iat: String,
    /// `signature`.
    pub signature: String,
}

/// Hashes of the DCAP collateral ITA appraised the quote with
/// (`tdx_collateral`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[non_exhaustive]
pub struct TdxCollateral {
    /// `qeidcerthash`.
    pub qeidcerthash: Option<String>,
    /// `qeidcrlhash`.
    pub qeidcrlhash: Option<String>,
    /// `qeidhash`.
    pub qeidhash: Option<String>,
    /// `quotehash`.
    pub quotehash: Option<String>,
    /// `tcbinfocerthash`.
    pub tcbinfocerthash: Option<String>,
    /// `tcbinfocrlhash`.
    pub tcbinfocrlhash: Option<String>,
    /// `tcbinfohash`.
    pub tcbinfohash: Option<String>,
}

/// The attester's claims of a TDX token: the `"tdx"` object of a v2
/// token, or the top level of a v1 token. Hex fields are as ITA writes
/// them (lower-case hex); [`TdxClaims::mrtd`] and friends decode them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct TdxClaims {
    /// `attester_tcb_status`: `UpToDate`, `OutOfDate`, `SWHardeningNeeded`, …
    pub attester_tcb_status: Option<String>,
    /// `attester_tcb_date` (RFC 3339).
    pub attester_tcb_date: Option<String>,
    /// `attester_advisory_ids`: Intel security advisories (`INTEL-SA-…`).
    pub attester_advisory_ids: Option<Vec<String>>,
    /// `attester_type`: `TDX`.
    pub attester_type: Option<String>,
    /// `attester_held_data`: the user data (base64), when not JSON.
    pub attester_held_data: Option<String>,
    /// `attester_runtime_data`: the runtime data, when it is JSON.
    pub attester_runtime_data: Option<Value>,
    /// `verifier_nonce`, when the token carries it in the `tdx` object.
    pub verifier_nonce: Option<NonceClaim>,
    /// `dbgstat`.
    pub dbgstat: Option<String>,
    /// `eat_profile`.
    pub eat_profile: Option<String>,
    /// `intuse`.
    pub intuse: Option<String>,
    /// `tdx_mrtd` (48 bytes, hex).
    pub tdx_mrtd: Option<String>,
    /// `tdx_mrseam` (48 bytes, hex).
    pub tdx_mrseam: Option<String>,
    /// `tdx_mrsignerseam` (48 bytes, hex).
    pub tdx_mrsignerseam: Option<String>,
    /// `tdx_seam_attributes` (8 bytes, hex).
    pub tdx_seam_attributes: Option<String>,
    /// `tdx_td_attributes` (8 bytes, hex).
    pub tdx_td_attributes: Option<String>,
    /// `tdx_td_attributes_debug`.
    pub tdx_td_attributes_debug: Option<bool>,
    /// `tdx_td_attributes_septve_disable`.
    pub tdx_td_attributes_septve_disable: Option<bool>,
    /// `tdx_td_attributes_protection_keys`.
    pub tdx_td_attributes_protection_keys: Option<bool>,
    /// `tdx_td_attributes_key_locker`.
    pub tdx_td_attributes_key_locker: Option<bool>,
    /// `tdx_td_attributes_perfmon`.
    pub tdx_td_attributes_perfmon: Option<bool>,
    /// `tdx_xfam` (8 bytes, hex).
    pub tdx_xfam: Option<String>,
    /// `tdx_mrconfigid` (48 bytes, hex).
    pub tdx_mrconfigid: Option<String>,
    /// `tdx_mrowner` (48 bytes, hex).
    pub tdx_mrowner: Option<String>,
    /// `tdx_mrownerconfig` (48 bytes, hex).
    pub tdx_mrownerconfig: Option<String>,
    /// `tdx_rtmr0` (48 bytes, hex).
    pub tdx_rtmr0: Option<String>,
    /// `tdx_rtmr1`.
    pub tdx_rtmr1: Option<String>,
    /// `tdx_rtmr2`.
    pub tdx_rtmr2: Option<String>,
    /// `tdx_rtmr3`.
    pub tdx_rtmr3: Option<String>,
    /// `tdx_report_data` (64 bytes, hex).
    pub tdx_report_data: Option<String>,
    /// `tdx_tee_tcb_svn` (16 bytes, hex).
    pub tdx_tee_tcb_svn: Option<String>,
    /// `tdx_seamsvn`.
    pub tdx_seamsvn: Option<u64>,
    /// `tdx_is_debuggable`.
    pub tdx_is_debuggable: Option<bool>,
    /// `tdx_collateral`.
    pub tdx_collateral: Option<TdxCollateral>,
}

fn hex_n<const N: usize>(field: Option<&String>) -> Option<[u8; N]> {
    let s = field?.as_bytes();
    if s.len() != 2 * N {
        return None;
    }
    let nibble = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    let mut out = [0u8; N];
    for (i, pair) in s.chunks_exact(2).enumerate() {
        out[i] = (nibble(pair[0])? << 4) | nibble(pair[1])?;
    }
    Some(out)
}

impl TdxClaims {
    /// MRTD, decoded (`None` when absent or not 48 bytes of hex).
    pub fn mrtd(&self) -> Option<[u8; 48]> {
        hex_n(self.tdx_mrtd.as_ref())
    }

    /// RTMR `index` (0–3), decoded.
    pub fn rtmr(&self, index: usize) -> Option<[u8; 48]> {
        let field = match index {
            0 => &self.tdx_rtmr0,
            1 => &self.tdx_rtmr1,
            2 => &self.tdx_rtmr2,
            3 => &self.tdx_rtmr3,
            _ => return None,
        };
        hex_n(field.as_ref())
    }

    /// REPORTDATA, decoded (`None` when absent or not 64 bytes of hex).
    pub fn report_data(&self) -> Option<[u8; 64]> {
        hex_n(self.tdx_report_data.as_ref())
    }

    /// MRSEAM, decoded.
    pub fn mrseam(&self) -> Option<[u8; 48]> {
        hex_n(self.tdx_mrseam.as_ref())
    }

    /// MRCONFIGID, decoded.
    pub fn mrconfigid(&self) -> Option<[u8; 48]> {
        hex_n(self.tdx_mrconfigid.as_ref())
    }

    /// Whether the TD is debuggable (`tdx_is_debuggable`, else the debug
    /// attribute).
    pub fn is_debuggable(&self) -> Option<bool> {
        self.tdx_is_debuggable.or(self.tdx_td_attributes_debug)
    }
}

/// The claims of an ITA token.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[non_exhaustive]
pub struct ItaClaims {
    /// `iss`: `Intel Trust Authority`.
    pub iss: Option<String>,
    /// `exp` (Unix seconds).
    pub exp: Option<i64>,
    /// `iat`.
    pub iat: Option<i64>,
    /// `nbf`.
    pub nbf: Option<i64>,
    /// `jti`.
    pub jti: Option<String>,
    /// `ver`: the token version (`1.0.0`, `2.0.0`).
    pub ver: Option<String>,
    /// `verifier_nonce` at the top level.
    pub verifier_nonce: Option<NonceClaim>,
    /// `policy_ids_matched`.
    pub policy_ids_matched: Option<Vec<PolicyRef>>,
    /// `policy_ids_unmatched`.
    pub policy_ids_unmatched: Option<Vec<PolicyRef>>,
    /// `policy_defined_claims`.
    pub policy_defined_claims: Option<Value>,
    /// `verifier_instance_ids`.
    pub verifier_instance_ids: Option<Vec<String>>,
    /// `eat_profile`.
    pub eat_profile: Option<String>,
    /// `intuse`.
    pub intuse: Option<String>,
    /// `dbgstat`.
    pub dbgstat: Option<String>,
    /// `attester_tcb_status` at the top level (v1 tokens).
    pub attester_tcb_status: Option<String>,
    /// `attester_advisory_ids` at the top level (v1 tokens).
    pub attester_advisory_ids: Option<Vec<String>>,
    /// `attester_type` at the top level (v1 tokens).
    pub attester_type: Option<String>,
    /// The `tdx` object (v2 tokens).
    #[serde(rename = "tdx")]
    pub tdx_object: Option<TdxClaims>,
    /// The TDX claims of a v1 token (read from the top level).
    #[serde(skip)]
    flat_tdx: Option<TdxClaims>,
}

impl ItaClaims {
    /// Decodes claims from their JSON text (code 22 when they do not have
    /// ITA's shape: a known claim of another type).
    pub fn from_json(text: &[u8]) -> Result<Self, ItaError> {
        Self::decode(
            || serde_json::from_slice(text).map_err(|e| e.to_string()),
            || serde_json::from_slice(text).map_err(|e| e.to_string()),
        )
    }

    /// The claims, then (for a token without a `tdx` object) its top level
    /// as TDX claims, each decoded by the caller's closure.
    fn decode(
        claims: impl FnOnce() -> Result<ItaClaims, String>,
        flat: impl FnOnce() -> Result<TdxClaims, String>,
    ) -> Result<Self, ItaError> {
        let shape = |e: String| {
            ItaError::rejected(
                TokenCheck::Claims,
                format!("the claims do not have ITA's shape: {e}"),
            )
        };
        let mut c = claims().map_err(shape)?;
        if c.tdx_object.is_none() {
            let flat = flat().map_err(shape)?;
            if flat.tdx_mrtd.is_some() || flat.attester_type.as_deref() == Some("TDX") {
                c.flat_tdx = Some(flat);
            }
        }
        Ok(c)
    }

    /// The TDX claims: the `tdx` object (v2), or the top level (v1).
    pub fn tdx(&self) -> Option<&TdxClaims> {
        self.tdx_object.as_ref().or(self.flat_tdx.as_ref())
    }

    /// `attester_tcb_status`, from the `tdx` object or the top level.
    pub fn attester_tcb_status(&self) -> Option<&str> {
        self.tdx()
            .and_then(|t| t.attester_tcb_status.as_deref())
            .or(self.attester_tcb_status.as_deref())
    }

    /// `attester_advisory_ids`, from the `tdx` object or the top level
    /// (empty when absent).
    pub fn attester_advisory_ids(&self) -> &[String] {
        self.tdx()
            .and_then(|t| t.attester_advisory_ids.as_deref())
            .or(self.attester_advisory_ids.as_deref())
            .unwrap_or_default()
    }

    /// `attester_type`, from the `tdx` object or the top level.
    pub fn attester_type(&self) -> Option<&str> {
        self.tdx()
            .and_then(|t| t.attester_type.as_deref())
            .or(self.attester_type.as_deref())
    }

    /// The `verifier_nonce` claim: top level, else in the `tdx` object.
    pub fn verifier_nonce(&self) -> Option<&NonceClaim> {
        self.verifier_nonce
            .as_ref()
            .or_else(|| self.tdx().and_then(|t| t.verifier_nonce.as_ref()))
    }

    /// The ids of `policy_ids_matched`.
    pub fn matched_policy_ids(&self) -> impl Iterator<Item = &str> {
        self.policy_ids_matched
            .iter()
            .flatten()
            .map(|p| p.id.as_str())
    }
}

/// A token that passed [`ItaValidator`](crate::ItaValidator): the JWT, its
/// signing algorithm and key id, and typed claims.
#[derive(Clone)]
pub struct ItaToken {
    token: AttestationToken,
    alg: TokenAlg,
    kid: String,
    claims: OnceLock<Result<ItaClaims, String>>,
}

impl fmt::Debug for ItaToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ItaToken")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .field("token", &self.token)
            .finish()
    }
}

impl ItaToken {
    pub(crate) fn new(token: AttestationToken, alg: TokenAlg, kid: String) -> Self {
        Self {
            token,
            alg,
            kid,
            claims: OnceLock::new(),
        }
    }

    /// The token as core's [`AttestationToken`] (header and claims as
    /// JSON values).
    pub fn token(&self) -> &AttestationToken {
        &self.token
    }

    /// The token as core's [`AttestationToken`].
    pub fn into_token(self) -> AttestationToken {
        self.token
    }

    /// The JWT as received.
    pub fn raw(&self) -> &str {
        self.token.raw()
    }

    /// The algorithm it was signed with.
    pub fn alg(&self) -> TokenAlg {
        self.alg
    }

    /// The `kid` of the key that signed it.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The typed claims, decoded once on first use (code 22 when a known
    /// claim has another type than ITA gives it).
    pub fn claims(&self) -> Result<&ItaClaims, ItaError> {
        self.claims
            .get_or_init(|| {
                // Straight from the checked JSON text, no `Value` tree.
                let t = &self.token;
                ItaClaims::decode(
                    || t.claims_as().map_err(|e| e.message().to_string()),
                    || t.claims_as().map_err(|e| e.message().to_string()),
                )
                .map_err(|e| match e {
                    ItaError::TokenRejected { detail, .. } => detail,
                    other => other.to_string(),
                })
            })
            .as_ref()
            .map_err(|e| ItaError::rejected(TokenCheck::Claims, e.clone()))
    }

    /// `attester_tcb_status` (`None` when absent or the claims are not in
    /// ITA's shape).
    pub fn attester_tcb_status(&self) -> Option<&str> {
        self.claims().ok()?.attester_tcb_status()
    }

    /// `attester_advisory_ids` (empty when absent).
    pub fn attester_advisory_ids(&self) -> &[String] {
        self.claims()
            .map(ItaClaims::attester_advisory_ids)
            .unwrap_or_default()
    }

    /// `attester_type`.
    pub fn attester_type(&self) -> Option<&str> {
        self.claims().ok()?.attester_type()
    }

    /// The TDX claims (v2 `tdx` object or v1 top level).
    pub fn tdx(&self) -> Option<&TdxClaims> {
        self.claims().ok()?.tdx()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_fields() {
        let t = TdxClaims {
            tdx_mrtd: Some("ab".repeat(48)),
            tdx_rtmr2: Some("0".repeat(96)),
            tdx_report_data: Some("zz".repeat(64)),
            ..TdxClaims::default()
        };
        assert_eq!(t.mrtd(), Some([0xab; 48]));
        assert_eq!(t.rtmr(2), Some([0; 48]));
        assert_eq!(t.rtmr(4), None);
        assert_eq!(t.rtmr(1), None);
        assert_eq!(t.report_data(), None);
    }

    #[test]
    fn v1_and_v2_layouts() {
        let v1 = br#"{"attester_type":"TDX","attester_tcb_status":"OutOfDate","tdx_mrtd":"00",
            "attester_advisory_ids":["INTEL-SA-00837"],"policy_ids_matched":null}"#;
        let c = ItaClaims::from_json(v1).unwrap();
        assert_eq!(c.tdx().unwrap().tdx_mrtd.as_deref(), Some("00"));
        assert_eq!(c.attester_tcb_status(), Some("OutOfDate"));
        assert_eq!(c.attester_advisory_ids(), ["INTEL-SA-00837"]);
        assert_eq!(c.matched_policy_ids().count(), 0);
        let v2 = br#"{"tdx":{"attester_type":"TDX","attester_tcb_status":"UpToDate",
            "verifier_nonce":{"val":"a","iat":"b","signature":"c"}},"ver":"2.0.0"}"#;
        let c = ItaClaims::from_json(v2).unwrap();
        assert_eq!(c.attester_type(), Some("TDX"));
        assert_eq!(c.verifier_nonce().unwrap().iat, "b");
        assert!(c.attester_advisory_ids().is_empty());
        assert!(ItaClaims::from_json(br#"{"tdx":{"tdx_seamsvn":"x"}}"#).is_err());
    }
}
