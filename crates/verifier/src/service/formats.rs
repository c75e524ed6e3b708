//! How each attestation type's requests are read and answered: MAA's wire
//! formats. The service serves `/attest/{type}` for every type that has
//! both a format here and an appraiser in the verifier, so routes, policies
//! and appraisers come from one registry.

use std::sync::Arc;

use serde_json::{json, Value};
use tee_attest_core::{Error, ErrorCode, VerifyOptions};
use tee_attest_maa::azureguest::{parse_request_body, OsInfo, SevSnpVmRequest};
use tee_attest_maa::seal::seal_token;
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
}

/// MAA's formats: `AzureGuest` and `SevSnpVm`.
pub fn maa_formats() -> Vec<Arc<dyn RequestFormat>> {
    vec![Arc::new(AzureGuest), Arc::new(SevSnpVm)]
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
        not_empty(body, "AzureGuest")?;
        let (mut evidence, os) = parse_request_body(body)?;
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
        not_empty(body, "SevSnpVm")?;
        let req = SevSnpVmRequest::from_body(body)?;
        let evidence = req.to_evidence()?;
        let mut options = VerifyOptions::default();
        options.draft_policy = req.draft_policy.clone();
        let token = verifier.attest(&evidence, &options)?;
        Ok(json!({ "token": token.raw() }).to_string())
    }
}
