//! What the scenario programs share: connecting to the CVM's TEE (as `tee-attest
//! mock up` or a real CVM configures it), a verifier, and the checks a
//! relying party makes on a token.
#![allow(dead_code)]

use tee_attest::maa::{HttpConfig, Jwks, TokenValidator};
use tee_attest::{AttestationToken, Attester, ProviderConfig, VerifierOptions, VerifierSpec};

/// Whether to trust the mock AMD roots (`TEE_ATTEST_TRUST_MOCK=1`, as `mock up` exports).
pub fn trust_mock() -> bool {
    tee_attest::verifiers::trust_mock_env()
}

/// The TEE: `$TEE_ATTEST_TEE`, default `auto` (a mock CVM from `mock up`
/// is recognised as the Azure SNP CVM it imitates).
pub fn tee() -> String {
    std::env::var("TEE_ATTEST_TEE").unwrap_or_else(|_| "auto".into())
}

/// An attester and a validator for its tokens, both from the facade: the
/// MAA-compatible verifier at `url` when given (the validator discovers
/// its keys), else the embedded local verifier (the validator takes its
/// JWKS directly).
pub fn attester(url: Option<&str>) -> Result<(Attester, TokenValidator), String> {
    let provider =
        tee_attest::provider(&tee(), &ProviderConfig::default()).map_err(|e| e.to_string())?;
    let mut opts = VerifierOptions::default();
    opts.data_dir = None;
    opts.trust_mock = trust_mock();
    match url {
        Some(url) => {
            let spec = VerifierSpec::Maa(url.to_string());
            let verifier =
                tee_attest::verifier(&spec, &opts, provider.as_ref()).map_err(|e| e.to_string())?;
            let validator = TokenValidator::with_discovery(url, HttpConfig::default())
                .map(|v| v.allow_mock(trust_mock()))
                .map_err(|e| e.to_string())?;
            Ok((Attester::new(provider, verifier), validator))
        }
        None => {
            let verifier =
                tee_attest::verifiers::local_verifier(&opts).map_err(|e| e.to_string())?;
            let jwks =
                Jwks::parse(verifier.jwks().to_string().as_bytes()).map_err(|e| e.to_string())?;
            let validator =
                TokenValidator::with_jwks(Some(verifier.issuer()), jwks).allow_mock(trust_mock());
            Ok((Attester::new(provider, verifier), validator))
        }
    }
}

/// Attest with a fresh nonce, validate the token as a relying party would,
/// and return what the platform requirements found wrong (scenarios 1, 2).
pub async fn attest_and_check(url: Option<&str>, who: &str) -> Result<Vec<String>, String> {
    let (attester, validator) = attester(url)?;
    let nonce = format!("{who}-{}", std::process::id());
    let params = tee_attest::ClientParameters::new(url.unwrap_or_default())
        .with_payload("Nonce", nonce.clone());
    let token = attester.attest(&params).await.map_err(|e| e.to_string())?;
    let token = validator
        .validate(token.raw(), Some(nonce.as_bytes()))
        .await
        .map_err(|e| e.to_string())?;
    Ok(platform_failures(&token))
}

/// The platform requirements of scenarios 1 and 2: an SEV-SNP isolated VM,
/// compliant with the Azure CVM baseline (or, where mock roots are
/// explicitly trusted, evidence marked as mock), with secure boot and the
/// vTPM on. Returns what failed.
pub fn platform_failures(token: &AttestationToken) -> Vec<String> {
    let mut failed = Vec::new();
    if token.isolation_tee_type() != Some("sevsnpvm") {
        failed.push(format!(
            "TEE is {:?}, not sevsnpvm",
            token.isolation_tee_type()
        ));
    }
    let compliant = token.compliance_status() == Some("azure-compliant-cvm");
    let trusted_mock = trust_mock() && token.is_mock_evidence();
    if !(compliant || trusted_mock) {
        failed.push(format!(
            "compliance is {:?}, not azure-compliant-cvm",
            token.compliance_status()
        ));
    }
    if token.secure_boot() != Some(true) {
        failed.push("secure boot is not on".into());
    }
    let tpm = token
        .vm_configuration()
        .and_then(|c| c.get("tpm-enabled"))
        .and_then(|v| v.as_bool());
    if tpm != Some(true) {
        failed.push("the vTPM is not enabled".into());
    }
    failed
}
