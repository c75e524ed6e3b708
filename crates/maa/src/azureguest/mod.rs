//! The AzureGuest wire protocol (`POST /attest/AzureGuest`) and the
//! platform protocol (`POST /attest/SevSnpVm`), byte-compatible with
//! Microsoft's guest attestation client.
//!
//! ```text
//! body = {"AttestationInfo": BASE64URL_NOPAD(JSON(AttestationInfo))}
//! AttestationInfo = {
//!   AttestationProtocolVersion: "2.0",
//!   OSType / OSDistro / OSBuild: b64(string), OSVersionMajor / Minor: int,
//!   TcgLogs: b64(log), ClientPayload: {key: b64(value)} | null,
//!   TpmInfo: {AikCert, AikPub, PcrQuote, PcrSignature, EncKeyPub,
//!             EncKeyCertifyInfo, EncKeyCertifyInfoSignature: b64,
//!             PcrSet: [int], PCRs: [{Index: int, Digest: b64}]},
//!   IsolationInfo: {Type: "SevSnp" | "Tdx" | "TrustedLaunch",
//!                   Evidence: {Proof: b64(...), RunTimeData: b64(var data)}}
//! }
//! SNP Proof = b64(JSON {"SnpReport": b64url(report),
//!                       "VcekCertChain": b64(VCEK PEM ‖ ASK PEM ‖ ARK PEM)})
//! TDX Proof = b64(TD quote)
//!
//! POST /attest/SevSnpVm  {report: b64url(JSON SnpProof), runtimeData: {data, dataType},
//!                         initTimeData, nonce, draftPolicyForAttestation}
//! POST /attest/TdxVm     {quote: b64url(TD quote), runtimeData: {data, dataType},
//!                         initTimeData, nonce}
//! ```
//!
//! "b64" is padded standard base64 on output; on input both alphabets, with
//! or without padding, are accepted (the Python clients send base64url).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tee_attest_core::{Evidence, EvidenceType, TeeId, TpmEvidence};

/// AzureGuest evidence of an SEV-SNP CVM (as the `IsolationInfo` type `SevSnp` says).
pub const AZURE_GUEST_SNP: EvidenceType = EvidenceType::new("AzureGuest", Some("SevSnp"));
/// MAA's `SevSnpVm` evidence: a bare SEV-SNP report, its chain, runtime data.
pub const SEV_SNP_VM: EvidenceType = EvidenceType::new("SevSnpVm", None);
/// AzureGuest evidence of a TDX CVM (`IsolationInfo` type `Tdx`).
pub const AZURE_GUEST_TDX: EvidenceType = EvidenceType::new("AzureGuest", Some("Tdx"));
/// MAA's `TdxVm` evidence: a bare TD quote and the runtime data its
/// `report_data[0..32]` binds (SHA-256).
pub const TDX_VM: EvidenceType = EvidenceType::new("TdxVm", None);
/// MAA's `SgxEnclave` evidence: an SGX quote and the enclave held data.
pub const SGX_ENCLAVE: EvidenceType = EvidenceType::new("SgxEnclave", None);

use crate::limits::{check_json_depth, RequestLimits, CLIENT_PAYLOAD_KEYS_CEILING};
use crate::{b64, MaaError};

mod os;
mod platform;
mod read;

pub use os::OsInfo;

pub use platform::{
    QuoteRequest, RuntimeData, RuntimeDataType, SevSnpVmRequest, SgxEnclaveRequest, TdxVmRequest,
};

/// `AttestationProtocolVersion` that this crate speaks.
pub const PROTOCOL_VERSION: &str = "2.0";
/// The path of the AzureGuest attestation endpoint.
pub const AZURE_GUEST_PATH: &str = "/attest/AzureGuest";
/// The path of the SEV-SNP platform attestation endpoint.
pub const SEV_SNP_VM_PATH: &str = "/attest/SevSnpVm";
/// The path of the TDX platform attestation endpoint.
pub const TDX_VM_PATH: &str = "/attest/TdxVm";
/// The route of SGX enclave attestation.
pub const SGX_ENCLAVE_PATH: &str = "/attest/SgxEnclave";
/// The REST API version Microsoft's client sends.
pub const API_VERSION: &str = "2020-10-01";
pub use crate::limits::MAX_REQUEST_BYTES;

/// The isolation type of AzureGuest evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum IsolationType {
    /// AMD SEV-SNP.
    SevSnp,
    /// Intel TDX.
    Tdx,
    /// Trusted launch (no hardware isolation evidence).
    TrustedLaunch,
}

/// One PCR value in `TpmInfo.PCRs`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PcrEntry {
    /// The PCR index.
    #[serde(rename = "Index")]
    pub index: u32,
    /// b64 of the digest (SHA-256 bank).
    #[serde(rename = "Digest")]
    pub digest: String,
}

/// `TpmInfo`, as on the wire (base64 strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TpmInfo {
    /// b64 of the AK certificate (DER); may be empty.
    #[serde(rename = "AikCert", default)]
    pub aik_cert: String,
    /// b64 of the AK's marshalled `TPM2B_PUBLIC`.
    #[serde(rename = "AikPub")]
    pub aik_pub: String,
    /// b64 of the quote (`TPMS_ATTEST`).
    #[serde(rename = "PcrQuote")]
    pub pcr_quote: String,
    /// b64 of the quote's raw signature.
    #[serde(rename = "PcrSignature")]
    pub pcr_signature: String,
    /// b64 of the ephemeral key's `TPM2B_PUBLIC`.
    #[serde(rename = "EncKeyPub")]
    pub enc_key_pub: String,
    /// b64 of `TPM2_Certify` of the ephemeral key (`TPMS_ATTEST`).
    #[serde(rename = "EncKeyCertifyInfo")]
    pub enc_key_certify_info: String,
    /// b64 of the raw signature over `EncKeyCertifyInfo`.
    #[serde(rename = "EncKeyCertifyInfoSignature")]
    pub enc_key_certify_info_signature: String,
    /// The quoted PCR indices.
    #[serde(rename = "PcrSet")]
    pub pcr_set: Vec<u32>,
    /// The quoted PCR values.
    #[serde(rename = "PCRs")]
    pub pcrs: Vec<PcrEntry>,
}

/// `IsolationInfo.Evidence`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationEvidence {
    /// SNP: b64(JSON [`SnpProof`]); TDX: b64(TD quote).
    #[serde(rename = "Proof")]
    pub proof: String,
    /// b64 of the HCL variable data (runtime data JSON).
    #[serde(rename = "RunTimeData")]
    pub run_time_data: String,
}

/// `IsolationInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IsolationInfo {
    /// The isolation type.
    #[serde(rename = "Type")]
    pub isolation_type: IsolationType,
    /// The hardware evidence (absent for trusted launch).
    #[serde(rename = "Evidence", default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<IsolationEvidence>,
}

/// The SNP proof: the report and its VCEK chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnpProof {
    /// base64url of the SNP attestation report.
    #[serde(rename = "SnpReport")]
    pub snp_report: String,
    /// base64 (AzureGuest) or base64url (SevSnpVm) of the VCEK PEM followed
    /// by the chain PEM (ASK, ARK).
    #[serde(rename = "VcekCertChain")]
    pub vcek_cert_chain: String,
}

impl SnpProof {
    /// The report and the chain as DER certificates, leaf first. Code 21 for
    /// an empty report, 17 for an empty chain, 2 for bad base64 or PEM.
    pub fn decode(&self) -> Result<(Vec<u8>, Vec<Vec<u8>>), MaaError> {
        self.decode_with(&RequestLimits::default())
    }

    /// [`SnpProof::decode`] within `limits`: code 8 for a chain of more
    /// certificates or bytes than they allow.
    pub fn decode_with(&self, limits: &RequestLimits) -> Result<(Vec<u8>, Vec<Vec<u8>>), MaaError> {
        let report = b64::decode_field(&self.snp_report, "SnpReport")?;
        if report.is_empty() {
            return Err(MaaError::EmptyReport);
        }
        // base64 is 4/3 of the text: refuse before decoding.
        if self.vcek_cert_chain.len() / 4 * 3 > limits.max_chain_bytes {
            return Err(chain_too_large(limits));
        }
        let chain = b64::decode_field(&self.vcek_cert_chain, "VcekCertChain")?;
        if chain.len() > limits.max_chain_bytes {
            return Err(chain_too_large(limits));
        }
        let text = String::from_utf8(chain)
            .map_err(|_| MaaError::malformed("VcekCertChain", "the PEM text is not UTF-8"))?;
        let certs = pem_certificates_capped(&text, limits.max_chain_certificates)?;
        if certs.is_empty() {
            return Err(MaaError::EmptyVcek);
        }
        Ok((report, certs))
    }

    fn from_parts(report: &[u8], certs: &[Vec<u8>], url_chain: bool) -> Result<Self, MaaError> {
        if report.is_empty() {
            return Err(MaaError::EmptyReport);
        }
        if certs.is_empty() || certs.iter().any(Vec::is_empty) {
            return Err(MaaError::EmptyVcek);
        }
        let pem = certs_to_pem(certs);
        Ok(Self {
            snp_report: b64::url(report),
            vcek_cert_chain: if url_chain {
                b64::url(pem.as_bytes())
            } else {
                b64::std(pem.as_bytes())
            },
        })
    }
}

fn chain_too_large(limits: &RequestLimits) -> MaaError {
    MaaError::InvalidInput(format!(
        "VcekCertChain is larger than {} bytes",
        limits.max_chain_bytes
    ))
}

/// The AzureGuest `AttestationInfo` document, as on the wire.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttestationInfo {
    /// `2.0`.
    #[serde(rename = "AttestationProtocolVersion")]
    pub protocol_version: String,
    /// b64 of `Linux`/`Windows`.
    #[serde(rename = "OSType")]
    pub os_type: String,
    /// b64 of the distribution name.
    #[serde(rename = "OSDistro")]
    pub os_distro: String,
    /// Major OS version.
    #[serde(rename = "OSVersionMajor")]
    pub os_version_major: u32,
    /// Minor OS version.
    #[serde(rename = "OSVersionMinor")]
    pub os_version_minor: u32,
    /// b64 of the build string.
    #[serde(rename = "OSBuild")]
    pub os_build: String,
    /// b64 of the TCG event log (empty when none).
    #[serde(rename = "TcgLogs", default, deserialize_with = "null_as_default")]
    pub tcg_logs: String,
    /// The client payload, each value b64 of the client's string. Microsoft's
    /// client sends `null` when there is none; so does this crate.
    /// At most [`CLIENT_PAYLOAD_KEYS_CEILING`] members are read: the parse
    /// stops there (code 16).
    #[serde(
        rename = "ClientPayload",
        default,
        deserialize_with = "capped_client_payload"
    )]
    pub client_payload: Option<BTreeMap<String, String>>,
    /// The vTPM evidence.
    #[serde(rename = "TpmInfo")]
    pub tpm_info: TpmInfo,
    /// The hardware isolation evidence.
    #[serde(rename = "IsolationInfo")]
    pub isolation_info: IsolationInfo,
}

/// `ClientPayload`: `null` or an object of at most
/// [`CLIENT_PAYLOAD_KEYS_CEILING`] string members, refused at the first
/// member past it (nothing more is built).
fn capped_client_payload<'de, D>(d: D) -> Result<Option<BTreeMap<String, String>>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct Capped;
    impl<'de> serde::de::Visitor<'de> for Capped {
        type Value = Option<BTreeMap<String, String>>;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("null or an object of strings")
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_map(self)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(
            self,
            mut map: A,
        ) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some((k, v)) = map.next_entry::<String, String>()? {
                if out.len() >= CLIENT_PAYLOAD_KEYS_CEILING {
                    return Err(serde::de::Error::custom(format_args!(
                        "ClientPayload has more than {CLIENT_PAYLOAD_KEYS_CEILING} members"
                    )));
                }
                out.insert(k, v);
            }
            Ok(Some(out))
        }
    }
    d.deserialize_option(Capped)
}

fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

impl AttestationInfo {
    /// The document for `evidence` as Microsoft's client builds it. Code 8
    /// without the vTPM part (or for a bare TEE), 21 without a hardware
    /// report, 17 without a VCEK chain (SNP).
    pub fn from_evidence(evidence: &Evidence, os: &OsInfo) -> Result<Self, MaaError> {
        let tpm = evidence.tpm.as_ref().ok_or_else(|| {
            MaaError::InvalidInput("AzureGuest evidence needs the vTPM part".into())
        })?;
        let isolation = match evidence.evidence_type {
            t if t == AZURE_GUEST_SNP => {
                let proof =
                    SnpProof::from_parts(&evidence.hardware_report, &evidence.certificates, false)?;
                let json = serde_json::to_vec(&proof).map_err(|source| MaaError::Encode {
                    what: "the SNP proof",
                    source,
                })?;
                IsolationInfo {
                    isolation_type: IsolationType::SevSnp,
                    evidence: Some(IsolationEvidence {
                        proof: b64::std(&json),
                        run_time_data: b64::std(&evidence.runtime_data),
                    }),
                }
            }
            t if t == AZURE_GUEST_TDX => {
                if evidence.hardware_report.is_empty() {
                    return Err(MaaError::EmptyReport);
                }
                IsolationInfo {
                    isolation_type: IsolationType::Tdx,
                    evidence: Some(IsolationEvidence {
                        proof: b64::std(&evidence.hardware_report),
                        run_time_data: b64::std(&evidence.runtime_data),
                    }),
                }
            }
            other => {
                return Err(MaaError::InvalidInput(format!(
                    "AzureGuest carries Azure CVM evidence, not {other}"
                )))
            }
        };
        let client_payload = (!evidence.client_payload.is_empty()).then(|| {
            evidence
                .client_payload
                .iter()
                .map(|(k, v)| (k.clone(), b64::std(v.as_bytes())))
                .collect()
        });
        Ok(Self {
            protocol_version: PROTOCOL_VERSION.to_string(),
            os_type: b64::std(os.os_type.as_bytes()),
            os_distro: b64::std(os.distro.as_bytes()),
            os_version_major: os.version_major,
            os_version_minor: os.version_minor,
            os_build: b64::std(os.build.as_bytes()),
            tcg_logs: b64::std(evidence.event_log.as_deref().unwrap_or_default()),
            client_payload,
            tpm_info: TpmInfo {
                aik_cert: b64::std(tpm.ak_cert.as_deref().unwrap_or_default()),
                aik_pub: b64::std(&tpm.ak_pub),
                pcr_quote: b64::std(&tpm.quote),
                pcr_signature: b64::std(&tpm.quote_signature),
                enc_key_pub: b64::std(&tpm.enc_key_pub),
                enc_key_certify_info: b64::std(&tpm.enc_key_certify_info),
                enc_key_certify_info_signature: b64::std(&tpm.enc_key_certify_signature),
                pcr_set: tpm.pcrs.iter().map(|(i, _)| *i).collect(),
                pcrs: tpm
                    .pcrs
                    .iter()
                    .map(|(i, d)| PcrEntry {
                        index: *i,
                        digest: b64::std(d),
                    })
                    .collect(),
            },
            isolation_info: isolation,
        })
    }

    /// The request body: `{"AttestationInfo": BASE64URL_NOPAD(JSON)}`.
    pub fn to_request_body(&self) -> Result<String, MaaError> {
        let json = serde_json::to_vec(self).map_err(|source| MaaError::Encode {
            what: "the AzureGuest request",
            source,
        })?;
        let body = serde_json::json!({ "AttestationInfo": b64::url(&json) });
        Ok(body.to_string())
    }

    /// Parses a request body. Code 19 when empty, 16 when it (or the decoded
    /// document) is not the JSON expected, 2 when `AttestationInfo` is
    /// missing or not base64url.
    pub fn from_request_body(body: &[u8]) -> Result<Self, MaaError> {
        Self::from_request_body_with(body, &RequestLimits::default())
    }

    /// [`AttestationInfo::from_request_body`] within `limits`: code 8 for a
    /// body larger than they allow or JSON nested deeper.
    pub fn from_request_body_with(body: &[u8], limits: &RequestLimits) -> Result<Self, MaaError> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(MaaError::EmptyRequestBody);
        }
        let max = limits.max_body_bytes;
        if body.len() > max {
            return Err(MaaError::InvalidInput(format!(
                "request body is {} bytes; at most {max} are accepted",
                body.len()
            )));
        }
        check_json_depth(body, limits.max_json_depth, "the request body")?;
        /// The outer document, borrowing `AttestationInfo` from the body
        /// (no copy of the largest string).
        #[derive(Deserialize)]
        struct Outer<'a> {
            #[serde(rename = "AttestationInfo", borrow, default)]
            info: Option<std::borrow::Cow<'a, str>>,
        }
        let outer = match serde_json::from_slice::<Outer<'_>>(body) {
            Ok(o) => o,
            // Not that shape: say why as the general parse does.
            Err(_) => {
                let _: Value =
                    serde_json::from_slice(body).map_err(|e| MaaError::json("request body", e))?;
                return Err(MaaError::malformed(
                    "AttestationInfo",
                    "missing or not a string",
                ));
            }
        };
        let encoded = outer
            .info
            .ok_or_else(|| MaaError::malformed("AttestationInfo", "missing or not a string"))?;
        let json = b64::decode_field(&encoded, "AttestationInfo")?;
        drop(encoded);
        check_json_depth(&json, limits.max_json_depth, "AttestationInfo")?;
        serde_json::from_slice(&json).map_err(|e| MaaError::json("AttestationInfo", e))
    }
}

/// Builds the AzureGuest request body for `evidence`.
pub fn build_request_body(evidence: &Evidence, os: &OsInfo) -> Result<String, MaaError> {
    AttestationInfo::from_evidence(evidence, os)?.to_request_body()
}

/// Parses an AzureGuest request body into the evidence and OS information
/// it carries (see [`AttestationInfo::from_request_body`] and
/// [`AttestationInfo::to_evidence`] for the error codes).
pub fn parse_request_body(body: &[u8]) -> Result<(Evidence, OsInfo), MaaError> {
    parse_request_body_with(body, &RequestLimits::default())
}

/// [`parse_request_body`] within `limits` (code 8 past them).
pub fn parse_request_body_with(
    body: &[u8],
    limits: &RequestLimits,
) -> Result<(Evidence, OsInfo), MaaError> {
    AttestationInfo::from_request_body_with(body, limits)?.to_evidence_with(limits)
}

/// PEM-encodes DER certificates, one `CERTIFICATE` block each.
pub fn certs_to_pem(certs: &[Vec<u8>]) -> String {
    let mut out = String::new();
    for der in certs {
        out.push_str("-----BEGIN CERTIFICATE-----\n");
        let text = b64::std(der);
        let bytes = text.as_bytes();
        for line in bytes.chunks(64) {
            out.push_str(&String::from_utf8_lossy(line));
            out.push('\n');
        }
        out.push_str("-----END CERTIFICATE-----\n");
    }
    out
}

/// The DER certificates of every `CERTIFICATE` block in `pem`, in order.
/// Code 2 for an unterminated block or bad base64.
pub fn pem_certificates(pem: &str) -> Result<Vec<Vec<u8>>, MaaError> {
    pem_certificates_capped(pem, usize::MAX)
}

/// [`pem_certificates`], refusing (code 8) a text of more than `max`
/// certificates before decoding the one past it.
pub fn pem_certificates_capped(pem: &str, max: usize) -> Result<Vec<Vec<u8>>, MaaError> {
    const BEGIN: &str = "-----BEGIN CERTIFICATE-----";
    const END: &str = "-----END CERTIFICATE-----";
    let mut out = Vec::new();
    let mut rest = pem;
    while let Some(start) = rest.find(BEGIN) {
        if out.len() >= max {
            return Err(MaaError::InvalidInput(format!(
                "the chain has more than {max} certificates"
            )));
        }
        let after = &rest[start + BEGIN.len()..];
        let end = after.find(END).ok_or_else(|| {
            MaaError::malformed("certificate PEM", "unterminated CERTIFICATE block")
        })?;
        let der = b64::decode_field(&after[..end], "certificate PEM")?;
        if der.is_empty() {
            return Err(MaaError::malformed(
                "certificate PEM",
                "empty CERTIFICATE block",
            ));
        }
        out.push(der);
        rest = &after[end + END.len()..];
    }
    Ok(out)
}
