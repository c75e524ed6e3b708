//! How each attestation type's requests are read and answered: MAA's wire
//! formats. The service serves `/attest/{type}` for every type that has
//! both a format here and an appraiser in the verifier, so routes, policies
//! and appraisers come from one registry.

use std::sync::Arc;

use serde_json::{json, Value};
use tee_attest_core::{Error, ErrorCode, VerifyOptions};
use tee_attest_maa::azureguest::{parse_request_body_with, OsInfo, QuoteRequest, SevSnpVmRequest};
use tee_attest_maa::seal::seal_token;
use tee_attest_maa::RequestLimits;
use tee_attest_tpm::verify::TpmPublic;

use crate::LocalVerifier;

/// How one attestation type's requests are read and answered.
pub trait RequestFormat: Send + Sync {
    /// The attestation type (`/attest/{type}`).
    fn attestation_type(&self) -> &'static str;

    /// Appraise the request `body` with `verifier` and return the response
    /// body (JSON). Errors carry the spec's codes (19 empty, 16 not JSON, 6
    /// refused, …).
    fn handle(&self, verifier: &LocalVerifier, body: &[u8]) -> Result<String, Error>;

    /// [`RequestFormat::handle`] within the service's caps on what one
    /// request may make the parser allocate (code 8 past them). A format
    /// without caps of its own ignores them (the service has already
    /// bounded the body's size and JSON depth).
    fn handle_limited(
        &self,
        verifier: &LocalVerifier,
        body: &[u8],
        limits: &RequestLimits,
    ) -> Result<String, Error> {
        let _ = limits;
        self.handle(verifier, body)
    }
}

/// MAA's formats: `AzureGuest`, `SevSnpVm`, `TdxVm` and `SgxEnclave`.
pub fn maa_formats() -> Vec<Arc<dyn RequestFormat>> {
    vec![
        Arc::new(AzureGuest),
        Arc::new(SevSnpVm),
        Arc::new(QuoteFormat::TDX_VM),
        Arc::new(QuoteFormat::SGX_ENCLAVE),
    ]
}

fn not_empty(body: &[u8], what: &str) -> Result<(), Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::new(
            ErrorCode::EmptyRequestBody,
            format!("empty {what} request"),
        ));
    }
    Ok(())
}

/// The claims MAA derives from the AzureGuest OS fields.
fn os_claims(os: &OsInfo) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("x-ms-azurevm-ostype".into(), json!(os.os_type));
    m.insert("x-ms-azurevm-osdistro".into(), json!(os.distro));
    m.insert(
        "x-ms-azurevm-osversion-major".into(),
        json!(os.version_major),
    );
    m.insert(
        "x-ms-azurevm-osversion-minor".into(),
        json!(os.version_minor),
    );
    m.insert("x-ms-azurevm-osbuild".into(), json!(os.build));
    m.insert(
        "x-ms-azurevm-is-windows".into(),
        json!(os.os_type.eq_ignore_ascii_case("windows")),
    );
    m
}

/// `AzureGuest`: Microsoft's guest attestation request (any isolation
/// type the verifier appraises); the token is sealed to the request's
/// ephemeral key.
#[derive(Debug, Clone, Copy)]
pub struct AzureGuest;

impl RequestFormat for AzureGuest {
    fn attestation_type(&self) -> &'static str {
        "AzureGuest"
    }

    fn handle(&self, verifier: &LocalVerifier, body: &[u8]) -> Result<String, Error> {
        self.handle_limited(verifier, body, &RequestLimits::default())
    }

    fn handle_limited(
        &self,
        verifier: &LocalVerifier,
        body: &[u8],
        limits: &RequestLimits,
    ) -> Result<String, Error> {
        not_empty(body, "AzureGuest")?;
        let (mut evidence, os) = parse_request_body_with(body, limits)?;
        let tpm = evidence.tpm.as_ref().ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidInputParameter,
                "AzureGuest evidence without TpmInfo",
            )
        })?;
        let enc_key = TpmPublic::parse_tpm2b(&tpm.enc_key_pub)?;
        // The protocol has no nonce field: the nonce is what the quote binds
        // (empty for Microsoft's client, the caller's nonce for
        // az-cvm-tooling's); the appraisal checks it against the client
        // payload's nonce.
        evidence.nonce = tee_attest_tpm::verify::Attest::parse(&tpm.quote)?.extra_data;
        let token =
            verifier.attest_with_claims(&evidence, &VerifyOptions::default(), os_claims(&os))?;
        Ok(seal_token(token.raw(), &enc_key.key)?)
    }
}

/// `SevSnpVm`: a bare SEV-SNP report, its chain, runtime data, a nonce to
/// echo and a draft policy; the answer `{"token": JWT}`.
#[derive(Debug, Clone, Copy)]
pub struct SevSnpVm;

impl RequestFormat for SevSnpVm {
    fn attestation_type(&self) -> &'static str {
        "SevSnpVm"
    }

    fn handle(&self, verifier: &LocalVerifier, body: &[u8]) -> Result<String, Error> {
        self.handle_limited(verifier, body, &RequestLimits::default())
    }

    fn handle_limited(
        &self,
        verifier: &LocalVerifier,
        body: &[u8],
        limits: &RequestLimits,
    ) -> Result<String, Error> {
        not_empty(body, "SevSnpVm")?;
        let req = SevSnpVmRequest::from_body_with(body, limits)?;
        let evidence = req.to_evidence_with(limits)?;
        let mut options = VerifyOptions::default();
        options.draft_policy = req.draft_policy.clone();
        let token = verifier.attest(&evidence, &options)?;
        Ok(json!({ "token": token.raw() }).to_string())
    }
}

/// `TdxVm` and `SgxEnclave`: a quote, runtime data (bound by the quote's
/// report data), a nonce to echo and a draft policy; the answer
/// `{"token": JWT}`. Microsoft's SDKs send the same body from
/// `attest_sgx_enclave` (`initTimeData` is accepted and not appraised).
#[derive(Debug, Clone, Copy)]
pub struct QuoteFormat {
    attestation_type: &'static str,
    evidence_type: tee_attest_core::EvidenceType,
}

impl QuoteFormat {
    /// `POST /attest/TdxVm`.
    pub const TDX_VM: QuoteFormat = QuoteFormat {
        attestation_type: "TdxVm",
        evidence_type: tee_attest_maa::azureguest::TDX_VM,
    };
    /// `POST /attest/SgxEnclave`.
    pub const SGX_ENCLAVE: QuoteFormat = QuoteFormat {
        attestation_type: "SgxEnclave",
        evidence_type: tee_attest_maa::azureguest::SGX_ENCLAVE,
    };
}

impl RequestFormat for QuoteFormat {
    fn attestation_type(&self) -> &'static str {
        self.attestation_type
    }

    fn handle(&self, verifier: &LocalVerifier, body: &[u8]) -> Result<String, Error> {
        self.handle_limited(verifier, body, &RequestLimits::default())
    }

    fn handle_limited(
        &self,
        verifier: &LocalVerifier,
        body: &[u8],
        limits: &RequestLimits,
    ) -> Result<String, Error> {
        not_empty(body, self.attestation_type)?;
        let req = QuoteRequest::from_body_with(body, limits)?;
        let evidence = req.to_evidence_as(self.evidence_type, limits)?;
        let mut options = VerifyOptions::default();
        options.draft_policy = req.draft_policy.clone();
        let token = verifier.attest(&evidence, &options)?;
        Ok(json!({ "token": token.raw() }).to_string())
    }
}
