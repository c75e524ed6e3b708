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
/// The largest request body [`parse_request_body`] accepts (bytes).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// The operating-system facts the AzureGuest protocol carries.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OsInfo {
    /// `Linux` or `Windows` (Microsoft's client sends `Unknown` otherwise).
    pub os_type: String,
    /// The distribution's name (os-release `NAME`, e.g. `Ubuntu`).
    pub distro: String,
    /// Major version (os-release `VERSION_ID` before the first dot; 1 when
    /// absent, as Microsoft's client).
    pub version_major: u32,
    /// Minor version (after the first dot; 0 when absent).
    pub version_minor: u32,
    /// The build: the kernel release on Linux (`uname -r`; Microsoft's Linux
    /// client sends a constant the service ignores).
    pub build: String,
}

impl OsInfo {
    /// OS information from its parts.
    pub fn new(
        os_type: impl Into<String>,
        distro: impl Into<String>,
        version_major: u32,
        version_minor: u32,
        build: impl Into<String>,
    ) -> Self {
        Self {
            os_type: os_type.into(),
            distro: distro.into(),
            version_major,
            version_minor,
            build: build.into(),
        }
    }

    /// Linux OS information from the text of an os-release file and the
    /// kernel release (`uname -r`), if known. Code 11 when `NAME`/`ID` is
    /// missing.
    pub fn from_os_release(
        os_release: &str,
        kernel_release: Option<&str>,
    ) -> Result<Self, MaaError> {
        let mut fields = BTreeMap::new();
        for line in os_release.lines() {
            let line = line.trim();
            if line.starts_with('#') {
                continue;
            }
            if let Some((k, v)) = line.split_once('=') {
                let v = v.trim().trim_matches('"').trim_matches('\'');
                fields.insert(k.trim().to_string(), v.to_string());
            }
        }
        let distro = fields
            .get("NAME")
            .or_else(|| fields.get("ID"))
            .filter(|s| !s.is_empty())
            .ok_or_else(|| MaaError::OsInfo("os-release has neither NAME nor ID".into()))?
            .clone();
        // Like Microsoft's client: a missing or unreadable VERSION_ID is 1.0.
        let version = fields
            .get("VERSION_ID")
            .map(String::as_str)
            .unwrap_or("1.0");
        let mut parts = version.split('.');
        let mut num = || {
            parts.next().and_then(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                digits.parse::<u32>().ok()
            })
        };
        let (major, minor) = match num() {
            Some(major) => (major, num().unwrap_or(0)),
            None => (1, 0),
        };
        let build = kernel_release
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .unwrap_or("NotApplicable");
        Ok(Self::new("Linux", distro, major, minor, build))
    }

    /// Reads `/etc/os-release` (or `/usr/lib/os-release`) and
    /// `/proc/sys/kernel/osrelease`. Code 11 when neither os-release file is
    /// readable.
    pub fn detect() -> Result<Self, MaaError> {
        let text = std::fs::read_to_string("/etc/os-release")
            .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
            .map_err(|e| MaaError::OsInfo(format!("reading os-release: {e}")))?;
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").ok();
        Self::from_os_release(&text, kernel.as_deref())
    }
}

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
                let json = serde_json::to_vec(&proof)
                    .map_err(|e| MaaError::InvalidInput(e.to_string()))?;
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

    /// The evidence and OS information this document carries. Code 2 for a
    /// field that does not decode (naming it), 17/21 for an empty VCEK chain
    /// or report, 8 for trusted launch (no hardware evidence).
    pub fn to_evidence(&self) -> Result<(Evidence, OsInfo), MaaError> {
        self.to_evidence_with(&RequestLimits::default())
    }

    /// [`AttestationInfo::to_evidence`] within `limits`: code 8 for a
    /// client payload, a chain or a JSON document past them.
    pub fn to_evidence_with(&self, limits: &RequestLimits) -> Result<(Evidence, OsInfo), MaaError> {
        if let Some(p) = &self.client_payload {
            if p.len() > limits.max_client_payload_keys {
                return Err(MaaError::InvalidInput(format!(
                    "ClientPayload has {} members; at most {} are accepted",
                    p.len(),
                    limits.max_client_payload_keys
                )));
            }
            // Values are base64 of at least as many bytes as they decode to.
            let size: usize = p.iter().map(|(k, v)| k.len() + v.len() / 4 * 3).sum();
            if size > limits.max_client_payload_bytes {
                return Err(MaaError::InvalidInput(format!(
                    "ClientPayload is larger than {} bytes",
                    limits.max_client_payload_bytes
                )));
            }
        }
        let text = |field: &str, what: &str| -> Result<String, MaaError> {
            String::from_utf8(b64::decode_field(field, what)?)
                .map_err(|_| MaaError::malformed(what, "not UTF-8 text"))
        };
        if self.protocol_version.trim() != PROTOCOL_VERSION {
            return Err(MaaError::malformed(
                "AttestationProtocolVersion",
                format!(
                    "{:?} is not supported (expected {PROTOCOL_VERSION:?})",
                    self.protocol_version
                ),
            ));
        }
        let os = OsInfo::new(
            text(&self.os_type, "OSType")?,
            text(&self.os_distro, "OSDistro")?,
            self.os_version_major,
            self.os_version_minor,
            text(&self.os_build, "OSBuild")?,
        );
        let iso = &self.isolation_info;
        let ev = iso.evidence.as_ref();
        let (tee, hardware_report, certificates, runtime_data) = match (iso.isolation_type, ev) {
            (IsolationType::SevSnp, Some(ev)) => {
                let proof_json = b64::decode_field(&ev.proof, "IsolationInfo.Evidence.Proof")?;
                check_json_depth(
                    &proof_json,
                    limits.max_json_depth,
                    "IsolationInfo.Evidence.Proof",
                )?;
                let proof: SnpProof = serde_json::from_slice(&proof_json)
                    .map_err(|e| MaaError::json("IsolationInfo.Evidence.Proof", e))?;
                let (report, certs) = proof.decode_with(limits)?;
                let rt =
                    b64::decode_field(&ev.run_time_data, "IsolationInfo.Evidence.RunTimeData")?;
                check_json_depth(
                    &rt,
                    limits.max_json_depth,
                    "IsolationInfo.Evidence.RunTimeData",
                )?;
                (
                    (TeeId::new("azure-snp"), AZURE_GUEST_SNP),
                    report,
                    certs,
                    rt,
                )
            }
            (IsolationType::Tdx, Some(ev)) => {
                let quote = b64::decode_field(&ev.proof, "IsolationInfo.Evidence.Proof")?;
                if quote.is_empty() {
                    return Err(MaaError::EmptyReport);
                }
                let rt =
                    b64::decode_field(&ev.run_time_data, "IsolationInfo.Evidence.RunTimeData")?;
                check_json_depth(
                    &rt,
                    limits.max_json_depth,
                    "IsolationInfo.Evidence.RunTimeData",
                )?;
                (
                    (TeeId::new("azure-tdx"), AZURE_GUEST_TDX),
                    quote,
                    Vec::new(),
                    rt,
                )
            }
            (IsolationType::TrustedLaunch, _) => {
                return Err(MaaError::InvalidInput(
                    "trusted-launch evidence (no hardware isolation) is not supported".into(),
                ))
            }
            (_, None) => {
                return Err(MaaError::malformed(
                    "IsolationInfo.Evidence",
                    "missing for a hardware-isolated VM",
                ))
            }
        };
        let t = &self.tpm_info;
        let field = |v: &str, what: &str| b64::decode_field(v, what);
        let mut pcrs = Vec::with_capacity(t.pcrs.len());
        for (n, p) in t.pcrs.iter().enumerate() {
            pcrs.push((
                p.index,
                field(&p.digest, &format!("TpmInfo.PCRs[{n}].Digest"))?,
            ));
        }
        let indices: Vec<u32> = pcrs.iter().map(|(i, _)| *i).collect();
        if indices != t.pcr_set {
            return Err(MaaError::malformed(
                "TpmInfo.PcrSet",
                format!("{:?} does not list the PCRs sent ({indices:?})", t.pcr_set),
            ));
        }
        let ak_cert = field(&t.aik_cert, "TpmInfo.AikCert")?;
        let mut tpm = TpmEvidence::default();
        tpm.ak_pub = field(&t.aik_pub, "TpmInfo.AikPub")?;
        tpm.ak_cert = (!ak_cert.is_empty()).then_some(ak_cert);
        tpm.quote = field(&t.pcr_quote, "TpmInfo.PcrQuote")?;
        tpm.quote_signature = field(&t.pcr_signature, "TpmInfo.PcrSignature")?;
        tpm.pcrs = pcrs;
        tpm.enc_key_pub = field(&t.enc_key_pub, "TpmInfo.EncKeyPub")?;
        tpm.enc_key_certify_info = field(&t.enc_key_certify_info, "TpmInfo.EncKeyCertifyInfo")?;
        tpm.enc_key_certify_signature = field(
            &t.enc_key_certify_info_signature,
            "TpmInfo.EncKeyCertifyInfoSignature",
        )?;
        for (name, v) in [
            ("TpmInfo.AikPub", &tpm.ak_pub),
            ("TpmInfo.PcrQuote", &tpm.quote),
            ("TpmInfo.PcrSignature", &tpm.quote_signature),
            ("TpmInfo.EncKeyPub", &tpm.enc_key_pub),
            ("TpmInfo.EncKeyCertifyInfo", &tpm.enc_key_certify_info),
            (
                "TpmInfo.EncKeyCertifyInfoSignature",
                &tpm.enc_key_certify_signature,
            ),
        ] {
            if v.is_empty() {
                return Err(MaaError::malformed(name, "empty"));
            }
        }
        let log = field(&self.tcg_logs, "TcgLogs")?;
        let mut client_payload = BTreeMap::new();
        for (k, v) in self.client_payload.iter().flatten() {
            client_payload.insert(k.clone(), text(v, &format!("ClientPayload.{k}"))?);
        }
        let mut evidence = Evidence::new(tee.0, tee.1);
        evidence.hardware_report = hardware_report;
        evidence.certificates = certificates;
        evidence.runtime_data = runtime_data;
        evidence.tpm = Some(tpm);
        evidence.event_log = (!log.is_empty()).then_some(log);
        evidence.client_payload = client_payload;
        Ok((evidence, os))
    }

    /// The request body: `{"AttestationInfo": BASE64URL_NOPAD(JSON)}`.
    pub fn to_request_body(&self) -> Result<String, MaaError> {
        let json = serde_json::to_vec(self).map_err(|e| MaaError::InvalidInput(e.to_string()))?;
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

/// How `runtimeData.data` is to be read by the service.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum RuntimeDataType {
    /// Opaque bytes.
    Binary,
    /// UTF-8 JSON: its members become `x-ms-runtime` claims.
    #[serde(rename = "JSON")]
    Json,
}

/// `runtimeData` (and `initTimeData`) of the platform protocols.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeData {
    /// base64url of the data.
    pub data: String,
    /// How to read it.
    #[serde(rename = "dataType")]
    pub data_type: RuntimeDataType,
}

impl RuntimeData {
    /// Runtime data from bytes.
    pub fn new(data: &[u8], data_type: RuntimeDataType) -> Self {
        Self {
            data: b64::url(data),
            data_type,
        }
    }

    /// The bytes. Code 2 if not base64.
    pub fn bytes(&self) -> Result<Vec<u8>, MaaError> {
        b64::decode_field(&self.data, "runtimeData.data")
    }
}

/// A platform route's JSON body within `limits`: code 19 empty, 8 larger or
/// nested deeper than they allow, 16 not the JSON expected.
fn platform_body<T: serde::de::DeserializeOwned>(
    body: &[u8],
    limits: &RequestLimits,
) -> Result<T, MaaError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(MaaError::EmptyRequestBody);
    }
    if body.len() > limits.max_body_bytes {
        return Err(MaaError::InvalidInput(format!(
            "request body is {} bytes; at most {} are accepted",
            body.len(),
            limits.max_body_bytes
        )));
    }
    check_json_depth(body, limits.max_json_depth, "the request body")?;
    serde_json::from_slice(body).map_err(|e| MaaError::json("request body", e))
}

/// The `runtimeData` (JSON or binary, as the evidence says) and the `nonce`
/// (text, code 8 otherwise) of a platform request for `evidence`.
fn runtime_and_nonce_of(
    evidence: &Evidence,
) -> Result<(Option<RuntimeData>, Option<String>), MaaError> {
    let runtime = (!evidence.runtime_data.is_empty()).then(|| {
        RuntimeData::new(
            &evidence.runtime_data,
            if evidence.runtime_data_json {
                RuntimeDataType::Json
            } else {
                RuntimeDataType::Binary
            },
        )
    });
    let nonce = if evidence.nonce.is_empty() {
        None
    } else {
        Some(
            String::from_utf8(evidence.nonce.clone())
                .map_err(|_| MaaError::InvalidInput("the nonce is not text".into()))?,
        )
    };
    Ok((runtime, nonce))
}

/// Puts a platform request's runtime data (its JSON no deeper than
/// `limits` allow) and nonce into evidence.
fn fill_runtime_and_nonce(
    e: &mut Evidence,
    runtime: Option<&RuntimeData>,
    nonce: Option<&str>,
    limits: &RequestLimits,
) -> Result<(), MaaError> {
    if let Some(rd) = runtime {
        e.runtime_data = rd.bytes()?;
        e.runtime_data_json = rd.data_type == RuntimeDataType::Json;
        if e.runtime_data_json {
            check_json_depth(&e.runtime_data, limits.max_json_depth, "runtimeData")?;
        }
    }
    if let Some(n) = nonce {
        e.nonce = n.as_bytes().to_vec();
    }
    Ok(())
}

/// The body of `POST /attest/SevSnpVm`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SevSnpVmRequest {
    /// base64url of JSON [`SnpProof`] (`VcekCertChain` base64url here).
    pub report: String,
    /// Runtime data the report binds.
    #[serde(
        rename = "runtimeData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub runtime_data: Option<RuntimeData>,
    /// Init-time data (host data).
    #[serde(
        rename = "initTimeData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub init_time_data: Option<RuntimeData>,
    /// A nonce returned untransformed in the token's `nonce` claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// A policy to use instead of the configured one.
    #[serde(
        rename = "draftPolicyForAttestation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub draft_policy: Option<String>,
}

impl SevSnpVmRequest {
    /// A request for an SNP report and its chain (DER, VCEK first).
    pub fn new(report: &[u8], certificates: &[Vec<u8>]) -> Result<Self, MaaError> {
        let proof = SnpProof::from_parts(report, certificates, true)?;
        let json = serde_json::to_vec(&proof).map_err(|e| MaaError::InvalidInput(e.to_string()))?;
        Ok(Self {
            report: b64::url(&json),
            runtime_data: None,
            init_time_data: None,
            nonce: None,
            draft_policy: None,
        })
    }

    /// The report and chain (DER, leaf first).
    pub fn decode_report(&self) -> Result<(Vec<u8>, Vec<Vec<u8>>), MaaError> {
        self.decode_report_with(&RequestLimits::default())
    }

    /// [`SevSnpVmRequest::decode_report`] within `limits` (code 8 past them).
    pub fn decode_report_with(
        &self,
        limits: &RequestLimits,
    ) -> Result<(Vec<u8>, Vec<Vec<u8>>), MaaError> {
        let json = b64::decode_field(&self.report, "report")?;
        check_json_depth(&json, limits.max_json_depth, "report")?;
        let proof: SnpProof =
            serde_json::from_slice(&json).map_err(|e| MaaError::json("report", e))?;
        proof.decode_with(limits)
    }

    /// The request for bare SEV-SNP `evidence`: its report and chain, its
    /// runtime data (JSON or binary, as the evidence says), and its nonce
    /// (text) to be echoed.
    pub fn from_evidence(evidence: &Evidence) -> Result<Self, MaaError> {
        if evidence.evidence_type != SEV_SNP_VM {
            return Err(MaaError::InvalidInput(format!(
                "{} evidence is not SevSnpVm",
                evidence.evidence_type
            )));
        }
        let mut req = Self::new(&evidence.hardware_report, &evidence.certificates)?;
        (req.runtime_data, req.nonce) = runtime_and_nonce_of(evidence)?;
        Ok(req)
    }

    /// The evidence this request carries (the nonce to echo in `nonce`).
    /// Codes as [`SevSnpVmRequest::decode_report`] and [`RuntimeData::bytes`].
    pub fn to_evidence(&self) -> Result<Evidence, MaaError> {
        self.to_evidence_with(&RequestLimits::default())
    }

    /// [`SevSnpVmRequest::to_evidence`] within `limits` (code 8 past them).
    pub fn to_evidence_with(&self, limits: &RequestLimits) -> Result<Evidence, MaaError> {
        let (report, certs) = self.decode_report_with(limits)?;
        let mut e = Evidence::new(TeeId::new("snp"), SEV_SNP_VM);
        e.hardware_report = report;
        e.certificates = certs;
        fill_runtime_and_nonce(
            &mut e,
            self.runtime_data.as_ref(),
            self.nonce.as_deref(),
            limits,
        )?;
        Ok(e)
    }

    /// Parses a request body (19 empty, 16 not the JSON expected).
    pub fn from_body(body: &[u8]) -> Result<Self, MaaError> {
        Self::from_body_with(body, &RequestLimits::default())
    }

    /// [`SevSnpVmRequest::from_body`] within `limits`: code 8 for a body
    /// larger than they allow or JSON nested deeper.
    pub fn from_body_with(body: &[u8], limits: &RequestLimits) -> Result<Self, MaaError> {
        platform_body(body, limits)
    }
}

/// The body of `POST /attest/TdxVm` (MAA REST API, "Attest Tdx Vm").
pub type TdxVmRequest = QuoteRequest;

/// The body of `POST /attest/SgxEnclave` (MAA REST API, "Attest Sgx
/// Enclave"; what Microsoft's SDKs send from `attest_sgx_enclave`).
pub type SgxEnclaveRequest = QuoteRequest;

/// The body of MAA's quote routes, `POST /attest/TdxVm` and `POST
/// /attest/SgxEnclave`: the quote, and the runtime data whose SHA-256 the
/// quote's `report_data[0..32]` carries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuoteRequest {
    /// base64url of the TD quote (SGX quote).
    pub quote: String,
    /// Runtime data the quote binds.
    #[serde(
        rename = "runtimeData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub runtime_data: Option<RuntimeData>,
    /// Init-time data (MRCONFIGID).
    #[serde(
        rename = "initTimeData",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub init_time_data: Option<RuntimeData>,
    /// A nonce returned untransformed in the token's `nonce` claim.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    /// A policy to use instead of the configured one. MAA documents no
    /// such member for `TdxVm`; only services that take draft policies on
    /// every route (`tee-attest serve`) read it. Absent unless set.
    #[serde(
        rename = "draftPolicyForAttestation",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub draft_policy: Option<String>,
}

impl QuoteRequest {
    /// A request for a quote. Code 21 for an empty quote.
    pub fn new(quote: &[u8]) -> Result<Self, MaaError> {
        if quote.is_empty() {
            return Err(MaaError::EmptyReport);
        }
        Ok(Self {
            quote: b64::url(quote),
            runtime_data: None,
            init_time_data: None,
            nonce: None,
            draft_policy: None,
        })
    }

    /// The quote's bytes. Code 2 if not base64, 21 if empty.
    pub fn decode_quote(&self) -> Result<Vec<u8>, MaaError> {
        let quote = b64::decode_field(&self.quote, "quote")?;
        if quote.is_empty() {
            return Err(MaaError::EmptyReport);
        }
        Ok(quote)
    }

    /// The request for bare TDX (or SGX) `evidence`: its quote, its
    /// runtime data (JSON or binary, as the evidence says), and its nonce
    /// (text) to be echoed. Code 8 for evidence of another type or a nonce
    /// that is not text, 21 without a quote.
    pub fn from_evidence(evidence: &Evidence) -> Result<Self, MaaError> {
        if evidence.evidence_type != TDX_VM && evidence.evidence_type != SGX_ENCLAVE {
            return Err(MaaError::InvalidInput(format!(
                "{} evidence is neither TdxVm nor SgxEnclave",
                evidence.evidence_type
            )));
        }
        let mut req = Self::new(&evidence.hardware_report)?;
        (req.runtime_data, req.nonce) = runtime_and_nonce_of(evidence)?;
        Ok(req)
    }

    /// The `TdxVm` evidence this request carries (the nonce to echo in
    /// `nonce`). Codes as [`QuoteRequest::decode_quote`] and
    /// [`RuntimeData::bytes`].
    pub fn to_evidence(&self) -> Result<Evidence, MaaError> {
        self.to_evidence_as(TDX_VM, &RequestLimits::default())
    }

    /// The evidence of type `evidence_type` (`TdxVm` or `SgxEnclave`) this
    /// request carries, within `limits` (code 8 past them).
    pub fn to_evidence_as(
        &self,
        evidence_type: EvidenceType,
        limits: &RequestLimits,
    ) -> Result<Evidence, MaaError> {
        let tee = if evidence_type == SGX_ENCLAVE {
            "sgx"
        } else {
            "tdx"
        };
        let mut e = Evidence::new(TeeId::new(tee), evidence_type);
        e.hardware_report = self.decode_quote()?;
        fill_runtime_and_nonce(
            &mut e,
            self.runtime_data.as_ref(),
            self.nonce.as_deref(),
            limits,
        )?;
        Ok(e)
    }

    /// Parses a request body (19 empty, 16 not the JSON expected).
    pub fn from_body(body: &[u8]) -> Result<Self, MaaError> {
        Self::from_body_with(body, &RequestLimits::default())
    }

    /// [`QuoteRequest::from_body`] within `limits`: code 8 for a body
    /// larger than they allow or JSON nested deeper.
    pub fn from_body_with(body: &[u8], limits: &RequestLimits) -> Result<Self, MaaError> {
        platform_body(body, limits)
    }
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
