//! The MAA client: AzureGuest evidence in, a validated token out.
//!
//! ```text
//! Evidence ─▶ AttestationInfo ─▶ POST {endpoint}/attest/AzureGuest?api-version=2020-10-01
//!                                   │  (Authorization: Bearer <managed identity>, optional)
//!          retries: connect errors, time-outs, 408, 429 (Retry-After), 5xx ─▶ code 4
//!          400 {"error":{code,message}} ─▶ code 6; other 4xx ─▶ code 5
//!   {"token": sealed} ─▶ unseal (inner key decrypted in the TPM) ─▶ JWT
//!   JWT ─▶ TokenValidator (iss = endpoint, JWKS by discovery, nonce) ─▶ AttestationToken
//!
//! bare SEV-SNP ─▶ POST {endpoint}/attest/SevSnpVm?api-version=2022-08-01 ─▶ {"token": JWT}
//! bare TDX     ─▶ POST {endpoint}/attest/TdxVm?api-version=2025-06-01    ─▶ {"token": JWT}
//! SGX enclave  ─▶ POST {endpoint}/attest/SgxEnclave?api-version=2022-08-01 ─▶ {"token": JWT}
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use tee_attest_core::{AttestationToken, Decryptor, Evidence, Verifier, VerifyOptions};

use crate::azureguest::{
    build_request_body, OsInfo, SevSnpVmRequest, SgxEnclaveRequest, TdxVmRequest, API_VERSION,
    AZURE_GUEST_PATH, SEV_SNP_VM_PATH, SGX_ENCLAVE, SGX_ENCLAVE_PATH, TDX_VM, TDX_VM_PATH,
};
use crate::validate::TokenValidator;
use crate::{b64, seal, MaaError};
use tee_attest_http::{Http, HttpConfig, Method, Response};

/// The resource a managed-identity token for MAA is requested for.
pub const MAA_RESOURCE: &str = "https://attest.azure.net";
/// The REST API version used for the platform (`SevSnpVm`) protocol.
pub const PLATFORM_API_VERSION: &str = "2022-08-01";
/// The REST API version used for `TdxVm` (the first that documents the
/// route: MAA REST reference, "Attestation - Attest Tdx Vm").
pub const TDX_VM_API_VERSION: &str = "2025-06-01";
/// The IMDS API version of the managed-identity token endpoint.
pub const IMDS_TOKEN_API_VERSION: &str = "2018-02-01";

/// An MAA (or MAA-compatible) client that implements [`Verifier`].
pub struct MaaClient {
    endpoint: String,
    http: Http,
    imds: Option<(String, Http)>,
    /// Unseals AzureGuest answers (the vTPM's ephemeral key); `None` on a
    /// TEE without a vTPM, whose evidence goes to a platform route.
    decryptor: Option<Arc<dyn Decryptor>>,
    os: OsInfo,
    validator: TokenValidator,
}

impl std::fmt::Debug for MaaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaaClient")
            .field("endpoint", &self.endpoint)
            .field("managed_identity", &self.imds.as_ref().map(|(u, _)| u))
            .field("os", &self.os)
            .finish_non_exhaustive()
    }
}

fn normalize_endpoint(endpoint: &str) -> Result<String, MaaError> {
    let e = endpoint.trim().trim_end_matches('/');
    let url = reqwest::Url::parse(e)
        .map_err(|err| MaaError::InvalidInput(format!("endpoint {e:?} is not a URL: {err}")))?;
    if !matches!(url.scheme(), "https" | "http") || url.host_str().is_none() {
        return Err(MaaError::InvalidInput(format!(
            "endpoint {e:?} is not an http(s) URL with a host"
        )));
    }
    Ok(e.to_string())
}

impl MaaClient {
    /// A client for `endpoint` (e.g. `https://sharedeus.eus.attest.azure.net`,
    /// or our own service). Tokens are unsealed with `decryptor` and
    /// validated with issuer = endpoint and keys from the endpoint's OpenID
    /// metadata. Code 8 for an endpoint that is not an http(s) URL.
    pub fn new(
        endpoint: &str,
        decryptor: Arc<dyn Decryptor>,
        os: OsInfo,
        http: HttpConfig,
    ) -> Result<Self, MaaError> {
        Self::build(endpoint, Some(decryptor), os, http)
    }

    /// A client for a TEE without a vTPM: its evidence goes to the platform
    /// route of its evidence type (`/attest/SevSnpVm`, `/attest/TdxVm`),
    /// whose answer is not sealed.
    pub fn without_vtpm(endpoint: &str, http: HttpConfig) -> Result<Self, MaaError> {
        Self::build(endpoint, None, OsInfo::new("", "", 0, 0, ""), http)
    }

    fn build(
        endpoint: &str,
        decryptor: Option<Arc<dyn Decryptor>>,
        os: OsInfo,
        http: HttpConfig,
    ) -> Result<Self, MaaError> {
        let endpoint = normalize_endpoint(endpoint)?;
        let validator = TokenValidator::with_discovery(&endpoint, http.clone())?;
        Ok(Self {
            endpoint,
            http: Http::new(http)?,
            imds: None,
            decryptor,
            os,
            validator,
        })
    }

    /// Sends a managed-identity bearer token, obtained from IMDS at
    /// `imds_base` (`http://169.254.169.254` in Azure), with each request.
    /// IMDS is never reached through a proxy.
    pub fn with_managed_identity(
        mut self,
        imds_base: &str,
        http: HttpConfig,
    ) -> Result<Self, MaaError> {
        let mut cfg = http;
        cfg.proxy_from_env = false;
        let base = imds_base.trim().trim_end_matches('/').to_string();
        self.imds = Some((base, Http::new(cfg)?));
        Ok(self)
    }

    /// Validates tokens with `validator` instead of the default (e.g. one
    /// with a static JWKS, a test clock, or mock evidence allowed).
    #[must_use]
    pub fn with_validator(mut self, validator: TokenValidator) -> Self {
        self.validator = validator;
        self
    }

    /// The endpoint, without a trailing slash.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    async fn managed_identity_token(&self) -> Result<Option<String>, MaaError> {
        let Some((base, http)) = &self.imds else {
            return Ok(None);
        };
        let url = format!(
            "{base}/metadata/identity/oauth2/token?api-version={IMDS_TOKEN_API_VERSION}&resource={MAA_RESOURCE}"
        );
        let resp = http
            .request(Method::GET, &url, &[("Metadata", "true")], None)
            .await
            .map_err(|e| {
                MaaError::MsiTokenNotFound(format!("IMDS unreachable: {}", MaaError::from(e)))
            })?;
        if !(200..300).contains(&resp.status) {
            return Err(MaaError::MsiTokenNotFound(format!(
                "IMDS answered HTTP {}",
                resp.status
            )));
        }
        let v: Value = serde_json::from_slice(&resp.body).map_err(|_| {
            MaaError::MsiTokenNotFound("IMDS answered something other than JSON".into())
        })?;
        v.get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .map(|t| Some(t.to_string()))
            .ok_or_else(|| MaaError::MsiTokenNotFound("no access_token in the IMDS answer".into()))
    }

    /// Attests `evidence` on the route of its evidence type: vTPM evidence
    /// as AzureGuest (the answer unsealed in the vTPM), bare SEV-SNP
    /// evidence as `SevSnpVm`, bare TDX evidence as `TdxVm`; then validates
    /// the token.
    pub async fn attest(
        &self,
        evidence: &Evidence,
        options: &VerifyOptions,
    ) -> Result<AttestationToken, MaaError> {
        if evidence.evidence_type == crate::azureguest::SEV_SNP_VM {
            let mut req = SevSnpVmRequest::from_evidence(evidence)?;
            req.draft_policy = options.draft_policy.clone();
            // The token's nonce is checked against the request's (the
            // evidence's, which the runtime data binds).
            return self.attest_sev_snp_vm(&req).await;
        }
        if evidence.evidence_type == TDX_VM {
            let mut req = TdxVmRequest::from_evidence(evidence)?;
            req.draft_policy = options.draft_policy.clone();
            return self.attest_tdx_vm(&req).await;
        }
        if evidence.evidence_type == SGX_ENCLAVE {
            let mut req = SgxEnclaveRequest::from_evidence(evidence)?;
            req.draft_policy = options.draft_policy.clone();
            return self.attest_sgx_enclave(&req).await;
        }
        if !evidence.evidence_type.has_vtpm() {
            return Err(MaaError::InvalidInput(format!(
                "the MAA client has no route for {} evidence",
                evidence.evidence_type
            )));
        }
        let decryptor = self.decryptor.as_ref().ok_or_else(|| {
            MaaError::InvalidInput(
                "AzureGuest answers are sealed to the vTPM's key: this client has no decryptor"
                    .into(),
            )
        })?;
        if options.draft_policy.is_some() {
            return Err(MaaError::InvalidInput(
                "the AzureGuest protocol takes no draft policy".into(),
            ));
        }
        let mut evidence = evidence.clone();
        if let Some(nonce) = &options.nonce {
            let has_nonce = evidence
                .client_payload
                .keys()
                .any(|k| k.eq_ignore_ascii_case("nonce"));
            if !has_nonce {
                let value = match std::str::from_utf8(nonce) {
                    Ok(s) => s.to_string(),
                    Err(_) => b64::std(nonce),
                };
                evidence.client_payload.insert("nonce".into(), value);
            }
        }
        let body = build_request_body(&evidence, &self.os)?;
        let mut headers = Vec::new();
        if let Some(t) = self.managed_identity_token().await? {
            headers.push(("Authorization", format!("Bearer {t}")));
        }
        let url = format!(
            "{}{AZURE_GUEST_PATH}?api-version={API_VERSION}",
            self.endpoint
        );
        let resp = post_json(&self.http, &url, &headers, &body).await?;
        if !(200..300).contains(&resp.status) {
            return Err(status_error(&url, resp.status, &resp.body));
        }
        let jwt = seal::unseal_token(&resp.body, decryptor.as_ref()).await?;
        self.validator
            .validate(&jwt, options.nonce.as_deref())
            .await
    }
}

impl MaaClient {
    /// Platform attestation of a bare SEV-SNP report: `POST
    /// {endpoint}/attest/SevSnpVm?api-version=2022-08-01` with `request`; the
    /// answer `{"token": JWT}` is not sealed. The token is validated like an
    /// AzureGuest token, with `request.nonce` (when set) as the expected
    /// nonce. Codes as for [`MaaClient::attest`].
    pub async fn attest_sev_snp_vm(
        &self,
        request: &SevSnpVmRequest,
    ) -> Result<AttestationToken, MaaError> {
        self.attest_platform(
            SEV_SNP_VM_PATH,
            PLATFORM_API_VERSION,
            request,
            request.nonce.as_deref(),
        )
        .await
    }

    /// Platform attestation of a bare TD quote: `POST
    /// {endpoint}/attest/TdxVm?api-version=2025-06-01` with `request`; the
    /// answer `{"token": JWT}` is not sealed. Validated like
    /// [`MaaClient::attest_sev_snp_vm`], with the same codes.
    pub async fn attest_tdx_vm(
        &self,
        request: &TdxVmRequest,
    ) -> Result<AttestationToken, MaaError> {
        self.attest_platform(
            TDX_VM_PATH,
            TDX_VM_API_VERSION,
            request,
            request.nonce.as_deref(),
        )
        .await
    }

    /// Enclave attestation of an SGX quote: `POST
    /// {endpoint}/attest/SgxEnclave?api-version=2022-08-01` with `request`;
    /// the answer `{"token": JWT}` is not sealed. Validated like
    /// [`MaaClient::attest_sev_snp_vm`], with the same codes.
    pub async fn attest_sgx_enclave(
        &self,
        request: &SgxEnclaveRequest,
    ) -> Result<AttestationToken, MaaError> {
        self.attest_platform(
            SGX_ENCLAVE_PATH,
            PLATFORM_API_VERSION,
            request,
            request.nonce.as_deref(),
        )
        .await
    }

    /// POSTs `request` as JSON to `{endpoint}{path}?api-version=…` (with the managed
    /// identity's token, if configured) and validates the unsealed token
    /// with `nonce` (when set) as the expected nonce.
    async fn attest_platform(
        &self,
        path: &str,
        api_version: &str,
        request: &(impl serde::Serialize + Sync),
        nonce: Option<&str>,
    ) -> Result<AttestationToken, MaaError> {
        let body = serde_json::to_string(request).map_err(|source| MaaError::Encode {
            what: "the attestation request",
            source,
        })?;
        let url = format!("{}{path}?api-version={api_version}", self.endpoint);
        let (url, body) = (url.as_str(), body.as_str());
        let mut headers = Vec::new();
        if let Some(t) = self.managed_identity_token().await? {
            headers.push(("Authorization", format!("Bearer {t}")));
        }
        let resp = post_json(&self.http, url, &headers, body).await?;
        if !(200..300).contains(&resp.status) {
            return Err(status_error(url, resp.status, &resp.body));
        }
        let jwt = seal::response_token(&resp.body)?;
        self.validator
            .validate(&jwt, nonce.map(str::as_bytes))
            .await
    }
}

/// POSTs the JSON `body` with `headers` (name, value) to `url`.
async fn post_json(
    http: &Http,
    url: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Result<Response, MaaError> {
    let mut h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    h.push(("Content-Type", "application/json"));
    Ok(http
        .request(Method::POST, url, &h, Some(body.as_bytes()))
        .await?)
}

/// `{"error":{"code","message"}}` (or `Error`/`Code`/`Message`, as
/// Microsoft's client also reads).
pub(crate) fn service_error(body: &[u8]) -> Option<(String, String)> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let err = v.get("error").or_else(|| v.get("Error"))?;
    let field = |a: &str, b: &str| {
        err.get(a)
            .or_else(|| err.get(b))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    let message = field("message", "Message")?;
    Some((field("code", "Code").unwrap_or_default(), message))
}

fn status_error(url: &str, status: u16, body: &[u8]) -> MaaError {
    match (status, service_error(body)) {
        (400, Some((code, message))) => MaaError::AttestationRefused { code, message },
        (_, Some((code, message))) => MaaError::HttpStatus {
            url: url.to_string(),
            status,
            message: format!("{code}: {message}"),
        },
        (_, None) => MaaError::HttpStatus {
            url: url.to_string(),
            status,
            message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        },
    }
}

#[async_trait]
impl Verifier for MaaClient {
    fn name(&self) -> &str {
        "maa"
    }

    async fn challenge(
        &self,
        evidence_type: tee_attest_core::EvidenceType,
        nonce: &[u8],
        client_payload: &std::collections::BTreeMap<String, String>,
    ) -> tee_attest_core::Result<tee_attest_core::Challenge> {
        Ok(crate::challenge(evidence_type, nonce, client_payload)?)
    }

    async fn verify(
        &self,
        evidence: &Evidence,
        options: &VerifyOptions,
    ) -> tee_attest_core::Result<AttestationToken> {
        Ok(self.attest(evidence, options).await?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_errors() {
        let (c, m) =
            service_error(br#"{"error":{"code":"InvalidParameter","message":"bad quote"}}"#)
                .unwrap();
        assert_eq!((c.as_str(), m.as_str()), ("InvalidParameter", "bad quote"));
        let (c, m) = service_error(br#"{"Error":{"Code":"X","Message":"Y"}}"#).unwrap();
        assert_eq!((c.as_str(), m.as_str()), ("X", "Y"));
        assert!(service_error(b"nope").is_none());
        assert!(matches!(
            status_error("u", 400, br#"{"error":{"code":"a","message":"b"}}"#),
            MaaError::AttestationRefused { .. }
        ));
        assert!(matches!(
            status_error("u", 404, b""),
            MaaError::HttpStatus { status: 404, .. }
        ));
    }

    #[test]
    fn endpoints() {
        assert_eq!(
            normalize_endpoint("https://x.attest.azure.net/").unwrap(),
            "https://x.attest.azure.net"
        );
        assert!(normalize_endpoint("ftp://x").is_err());
        assert!(normalize_endpoint("not a url").is_err());
    }
}
