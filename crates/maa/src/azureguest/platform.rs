//! MAA's platform protocols: `POST /attest/SevSnpVm` (an SNP proof and
//! its runtime data) and the quote routes `POST /attest/TdxVm` and
//! `POST /attest/SgxEnclave` (a quote and the runtime data it binds).

use super::*;

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
        let json = serde_json::to_vec(&proof).map_err(|source| MaaError::Encode {
            what: "the proof",
            source,
        })?;
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
