//! Caps on what one request of the AzureGuest and SevSnpVm protocols may
//! make a parser allocate: JSON nesting, client-payload members,
//! certificates in a chain and the chain's size. A service passes its own
//! [`RequestLimits`] (`tee-attest serve` flags); the parse functions without
//! limits use [`RequestLimits::default`].

use crate::MaaError;

/// The largest request body `parse_request_body` accepts by default
/// (bytes).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// The most `ClientPayload` members any parse accepts, whatever the
/// configured limit: the parser stops there, before building more.
pub const CLIENT_PAYLOAD_KEYS_CEILING: usize = 1024;

/// Caps on one request (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RequestLimits {
    /// The largest request body (bytes).
    pub max_body_bytes: usize,
    /// The deepest JSON nesting (objects and arrays) accepted in the body
    /// and in every JSON document it carries (AttestationInfo, the SNP
    /// proof, JSON runtime data).
    pub max_json_depth: usize,
    /// The most `ClientPayload` members (at most
    /// [`CLIENT_PAYLOAD_KEYS_CEILING`]).
    pub max_client_payload_keys: usize,
    /// The most bytes of `ClientPayload` names and decoded values together.
    pub max_client_payload_bytes: usize,
    /// The most certificates in a VCEK chain.
    pub max_chain_certificates: usize,
    /// The largest VCEK chain (PEM text, bytes).
    pub max_chain_bytes: usize,
}

impl Default for RequestLimits {
    /// 4 MiB bodies, JSON 64 deep, 64 client-payload members of 64 KiB in
    /// all, chains of 8 certificates in 64 KiB of PEM.
    fn default() -> Self {
        Self {
            max_body_bytes: MAX_REQUEST_BYTES,
            max_json_depth: 64,
            max_client_payload_keys: 64,
            max_client_payload_bytes: 64 * 1024,
            max_chain_certificates: 8,
            max_chain_bytes: 64 * 1024,
        }
    }
}

/// The deepest nesting of objects and arrays in `json` (a JSON text, or
/// anything: brackets inside strings do not count), without parsing it:
/// one pass, no allocation. Stops counting once past `limit`.
pub fn json_depth(json: &[u8], limit: usize) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for &b in json {
        if in_string {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > max {
                    max = depth;
                    if max > limit {
                        return max;
                    }
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// Refuses `json` (named `what`) when it nests deeper than `limit`: code 8.
pub fn check_json_depth(json: &[u8], limit: usize, what: &str) -> Result<(), MaaError> {
    if json_depth(json, limit) > limit {
        return Err(MaaError::InvalidInput(format!(
            "{what} nests JSON deeper than {limit} levels"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::azureguest::{AttestationInfo, SnpProof};

    /// An AttestationInfo document whose client payload has `keys` members.
    fn info_with_payload(keys: usize) -> Vec<u8> {
        let payload: serde_json::Map<String, serde_json::Value> = (0..keys)
            .map(|i| (format!("k{i}"), serde_json::json!("dg==")))
            .collect();
        serde_json::json!({
            "ClientPayload": payload,
            "AttestationProtocolVersion": "2.0", "OSType": "TGludXg=", "OSDistro": "VWJ1bnR1",
            "OSVersionMajor": 22, "OSVersionMinor": 4, "OSBuild": "NQ==", "TcgLogs": "",
            "TpmInfo": {"AikCert": "", "AikPub": "AQ==", "PcrQuote": "AQ==",
                "PcrSignature": "AQ==", "EncKeyPub": "AQ==", "EncKeyCertifyInfo": "AQ==",
                "EncKeyCertifyInfoSignature": "AQ==", "PcrSet": [], "PCRs": []},
            "IsolationInfo": {"Type": "SevSnp", "Evidence": {"Proof": "e30=", "RunTimeData": "e30="}},
        })
        .to_string()
        .into_bytes()
    }

    fn body(info: &[u8]) -> Vec<u8> {
        serde_json::json!({ "AttestationInfo": crate::b64::url(info) })
            .to_string()
            .into_bytes()
    }

    #[test]
    fn client_payload_members_are_capped_while_parsing_and_after() {
        let limits = RequestLimits::default();
        let e = AttestationInfo::from_request_body_with(
            &body(&info_with_payload(CLIENT_PAYLOAD_KEYS_CEILING + 1)),
            &limits,
        )
        .unwrap_err();
        assert!(e.to_string().contains("more than 1024 members"), "{e}");
        let info = AttestationInfo::from_request_body_with(
            &body(&info_with_payload(CLIENT_PAYLOAD_KEYS_CEILING)),
            &limits,
        )
        .unwrap();
        let e = info.to_evidence_with(&limits).unwrap_err();
        assert!(e.to_string().contains("at most 64"), "{e}");
        let mut wide = limits;
        wide.max_client_payload_keys = CLIENT_PAYLOAD_KEYS_CEILING;
        wide.max_client_payload_bytes = 3;
        let e = info.to_evidence_with(&wide).unwrap_err();
        assert!(e.to_string().contains("larger than 3 bytes"), "{e}");
    }

    #[test]
    fn chains_are_capped_in_certificates_and_bytes() {
        let one = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        let proof = |n: usize| SnpProof {
            snp_report: crate::b64::url(&[1]),
            vcek_cert_chain: crate::b64::std(one.repeat(n).as_bytes()),
        };
        let limits = RequestLimits::default();
        assert_eq!(proof(8).decode_with(&limits).unwrap().1.len(), 8);
        let e = proof(9).decode_with(&limits).unwrap_err();
        assert!(e.to_string().contains("more than 8 certificates"), "{e}");
        let mut small = limits;
        small.max_chain_bytes = 100;
        let e = proof(2).decode_with(&small).unwrap_err();
        assert!(e.to_string().contains("larger than 100 bytes"), "{e}");
    }

    #[test]
    fn nested_documents_are_held_to_the_depth() {
        let deep = [b"[".repeat(100), b"]".repeat(100)].concat();
        let e = AttestationInfo::from_request_body_with(&body(&deep), &RequestLimits::default())
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("AttestationInfo nests JSON deeper than 64"),
            "{e}"
        );
        let e =
            AttestationInfo::from_request_body_with(&deep, &RequestLimits::default()).unwrap_err();
        assert!(e.to_string().contains("request body nests JSON"), "{e}");
    }

    #[test]
    fn depth_counts_brackets_outside_strings() {
        assert_eq!(json_depth(b"{}", 10), 1);
        assert_eq!(json_depth(br#"{"a":[1,{"b":[]}]}"#, 10), 4);
        assert_eq!(json_depth(br#"{"a":"[[[[\"[["}"#, 10), 1);
        assert_eq!(json_depth(b"plain", 10), 0);
        let deep = [b"[".repeat(10_000), b"]".repeat(10_000)].concat();
        assert_eq!(json_depth(&deep, 64), 65, "stops past the limit");
        assert!(check_json_depth(&deep, 64, "body").is_err());
        assert!(check_json_depth(b"[[1]]", 2, "body").is_ok());
    }
}
