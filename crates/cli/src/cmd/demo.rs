//! `tee-attest demo`: the main job on the embedded default.
//!
//! A mock Azure SEV-SNP CVM (swtpm behind the mock HCL, mock IMDS) → the
//! real Azure provider gathers evidence → the embedded local verifier
//! appraises it (the demo, and only the demo, trusts the mock AMD root
//! without being asked) → a relying party validates the token → a secret
//! sealed to the token's ephemeral key opens only inside the vTPM.

use std::sync::Arc;

use clap::Args;
use serde_json::json;
use tee_attest::maa::{Jwks, TokenValidator};
use tee_attest::mock::MockProvider;
use tee_attest::{Attester, ClientParameters, EncryptionType, VerifierOptions};
use tee_attest_core::{Error, ErrorCode, Result};

use super::common;

/// Options of `demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Print the outcome as JSON instead of a human summary.
    #[arg(long)]
    json: bool,
}

/// Run the demo.
pub fn run(args: DemoArgs) -> Result<()> {
    let rt = common::runtime()?;
    let provider = Arc::new(MockProvider::start()?);
    // The demo, and only the demo, trusts the mock roots without being
    // asked; its signing key lives as long as the demo.
    let mut opts = VerifierOptions::default();
    opts.data_dir = None;
    opts.trust_mock = true;
    let verifier = tee_attest::verifiers::local_verifier(&opts)?;
    let attester = Attester::new(provider.clone(), verifier.clone());

    let mut nonce = [0u8; 16];
    aws_lc_rs::rand::fill(&mut nonce)
        .map_err(|_| Error::new(ErrorCode::InitializationFailed, "no randomness"))?;
    let nonce = hex::encode(nonce);
    let params = ClientParameters::new("").with_payload("Nonce", nonce.clone());
    let token = rt.block_on(attester.attest(&params))?;
    // The relying party validates it with the verifier's published keys
    // (signature, issuer, expiry, x-ms-ver, nonce); it accepts mock evidence
    // because this is the demo.
    let jwks = Jwks::parse(verifier.jwks().to_string().as_bytes())?;
    let validator = TokenValidator::with_jwks(Some(verifier.issuer()), jwks).allow_mock(true);
    let token = rt.block_on(validator.validate(token.raw(), Some(nonce.as_bytes())))?;

    // The relying party seals a secret to the token's ephemeral key
    // (Encrypt, envelope scheme); only the vTPM opens it (Decrypt).
    let secret = b"a secret only this CVM can open";
    let (sealed, metadata) = tee_attest::encrypt(EncryptionType::Envelope, &token, secret)?;
    let decryptor = attester.decryptor()?;
    let opened = rt.block_on(tee_attest::decrypt(
        EncryptionType::Envelope,
        decryptor.as_ref(),
        &sealed,
        &metadata,
    ))?;
    if opened.as_slice() != secret {
        return Err(Error::new(
            ErrorCode::DecryptTpmError,
            "the vTPM returned other bytes than were sealed",
        ));
    }

    let vm = token.vm_configuration();
    let flag = |k: &str| {
        vm.and_then(|c| c.get(k))
            .and_then(serde_json::Value::as_bool)
    };
    let summary = json!({
        "tee": token.isolation_tee_type(),
        "attestation_type": token.attestation_type(),
        "compliance": token.compliance_status(),
        "mock_evidence": token.is_mock_evidence(),
        "secure_boot": token.secure_boot(),
        "tpm_enabled": flag("tpm-enabled"),
        "nonce": token.nonce(),
        "issuer": token.issuer(),
        "token_validated": true,
        "decrypt_round_trip": true,
    });
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"summary": summary, "token": token.raw()}))
                .unwrap_or_default()
        );
    } else {
        let cvm = provider.cvm();
        println!(
            "tee-attest demo — mock Azure SEV-SNP CVM (vTPM {}, IMDS {})",
            cvm.tcti(),
            cvm.imds_url()
        );
        println!("  evidence     HCL report (SNP report signed by the mock VCEK), TPM quote PCRs 0-23, ephemeral key certified by the AK, TCG log");
        println!("  verifier     embedded local verifier (trusting the MOCK AMD root for this demo only)");
        println!(
            "  TEE          {} ({})",
            token.isolation_tee_type().unwrap_or("?"),
            token.attestation_type().unwrap_or("?")
        );
        println!(
            "  compliance   {}",
            token
                .compliance_status()
                .unwrap_or("none: mock evidence is never azure-compliant-cvm")
        );
        println!(
            "  secure boot  {}",
            match token.secure_boot() {
                Some(true) => "on",
                Some(false) => "off",
                None => "unknown",
            }
        );
        println!(
            "  vTPM         {}",
            match flag("tpm-enabled") {
                Some(true) => "enabled",
                _ => "not reported",
            }
        );
        println!(
            "  nonce        {} (returned in the token)",
            token.nonce().unwrap_or("?")
        );
        println!("  token        RS256 by {}, validated as a relying party would (signature, issuer, expiry, nonce)", token.issuer().unwrap_or("?"));
        println!("  encrypt      Encrypt(envelope): AES-256-GCM, key wrapped to the token's TpmEphemeralEncryptionKey");
        println!("  decrypt      Decrypt: key unwrapped inside the vTPM (PolicyPCR 0-7), secret opened: ok");
        println!("result: verified");
    }
    Ok(())
}
