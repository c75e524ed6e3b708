//! What MAA-compatible verifiers (MAA itself, and our local verifier) ask
//! evidence to bind, before it is gathered ([`tee_attest_core::Verifier::challenge`]).
//!
//! - **vTPM evidence** (`AzureGuest`): the nonce goes into the TPM quote
//!   (and the certification of the ephemeral key); the client payload
//!   travels beside the evidence and comes back in the token. The HCL user
//!   data (64 bytes the HCL report carries, which proves the report fresh)
//!   is SHA-512(nonce).
//! - **Bare TEE evidence** (`SevSnpVm`, `TdxVm`, …): the runtime data is the
//!   client payload as a JSON object with the nonce in its `nonce` member
//!   (added when the payload has none, any case), and the report data is
//!   SHA-256(runtime data) followed by 32 zero bytes — as MAA checks
//!   `report_data[0..32]`. The nonce is bound because it is inside the
//!   hashed runtime data; the token echoes it.

use std::collections::BTreeMap;

use aws_lc_rs::digest;
use serde_json::{Map, Value};
use tee_attest_core::{Challenge, EvidenceType};

use crate::MaaError;

/// The challenge for `evidence_type`, the caller's `nonce` and client payload.
pub fn challenge(
    evidence_type: EvidenceType,
    nonce: &[u8],
    client_payload: &BTreeMap<String, String>,
) -> Result<Challenge, MaaError> {
    if evidence_type.has_vtpm() {
        let mut report_data = [0u8; 64];
        report_data.copy_from_slice(digest::digest(&digest::SHA512, nonce).as_ref());
        return Ok(Challenge::new(
            nonce.to_vec(),
            Vec::new(),
            false,
            report_data,
        ));
    }
    let mut runtime: Map<String, Value> = client_payload
        .iter()
        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
        .collect();
    let echoed = match client_payload
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("nonce"))
    {
        Some((_, v)) => v.clone(),
        None => {
            let n = std::str::from_utf8(nonce)
                .map_err(|_| {
                    MaaError::InvalidInput(
                        "the nonce of bare TEE evidence must be text (it goes into JSON runtime data)"
                            .into(),
                    )
                })?
                .to_string();
            runtime.insert("nonce".into(), Value::String(n.clone()));
            n
        }
    };
    let runtime = serde_json::to_vec(&runtime)
        .map_err(|e| MaaError::InvalidInput(format!("runtime data: {e}")))?;
    let mut report_data = [0u8; 64];
    report_data[..32].copy_from_slice(digest::digest(&digest::SHA256, &runtime).as_ref());
    Ok(Challenge::new(
        echoed.into_bytes(),
        runtime,
        true,
        report_data,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vtpm_and_bare_bindings() {
        let ag = EvidenceType::new("AzureGuest", Some("SevSnp"));
        let c = challenge(ag, b"n-1", &BTreeMap::new()).unwrap();
        assert_eq!(c.nonce, b"n-1");
        assert!(c.runtime_data.is_empty());
        assert_eq!(
            &c.report_data[..],
            digest::digest(&digest::SHA512, b"n-1").as_ref()
        );

        let bare = EvidenceType::new("SevSnpVm", None);
        let mut payload = BTreeMap::new();
        payload.insert("app".to_string(), "demo".to_string());
        let c = challenge(bare, b"n-2", &payload).unwrap();
        assert_eq!(c.nonce, b"n-2");
        assert!(c.runtime_data_json);
        let v: Value = serde_json::from_slice(&c.runtime_data).unwrap();
        assert_eq!(v["nonce"], "n-2");
        assert_eq!(v["app"], "demo");
        assert_eq!(
            &c.report_data[..32],
            digest::digest(&digest::SHA256, &c.runtime_data).as_ref()
        );
        assert_eq!(c.report_data[32..], [0u8; 32]);

        // The payload's own nonce (any case) is the one echoed.
        payload.insert("Nonce".to_string(), "mine".to_string());
        let c = challenge(bare, b"ignored", &payload).unwrap();
        assert_eq!(c.nonce, b"mine");
        let v: Value = serde_json::from_slice(&c.runtime_data).unwrap();
        assert!(v.get("nonce").is_none());
        // A binary nonce cannot go into JSON: refused, not mangled.
        assert!(challenge(bare, &[0xff, 0xfe], &BTreeMap::new()).is_err());
    }
}
