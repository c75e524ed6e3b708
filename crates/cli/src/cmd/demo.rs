//! `tee-attest demo`: the main job on the embedded default.
//!
//! A mock Azure SEV-SNP CVM (swtpm behind the mock HCL, mock IMDS) → the
//! real Azure provider gathers evidence → the embedded local verifier
//! appraises it (the demo, and only the demo, trusts the mock AMD root
//! without being asked) → a relying party validates the token → a secret
//! sealed to the token's ephemeral key opens only inside the vTPM.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use clap::Args;
use rsa::{BigUint, Oaep, RsaPublicKey};
use serde_json::json;
use tee_attest::{Attester, ClientParameters, MockProvider};
use tee_attest_core::{AttestationToken, Error, ErrorCode, Result, RsaDecryptScheme};
use tee_attest_tpm::RsaPublic;
use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};

use super::common;

/// Options of `demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Print the outcome as JSON instead of a human summary.
    #[arg(long)]
    json: bool,
}

/// What a relying party checks, with the verifier's published keys: the
/// signature (RS256, key by `kid` from the JWKS), the issuer, the nonce.
fn relying_party_checks(
    token: &AttestationToken,
    jwks: &serde_json::Value,
    issuer: &str,
    nonce: &str,
) -> Result<()> {
    let fail = |m: &str| {
        Error::new(
            ErrorCode::AttestationFailed,
            format!("token validation: {m}"),
        )
    };
    let kid = token.header()["kid"]
        .as_str()
        .ok_or_else(|| fail("no kid"))?;
    if token.header()["alg"] != "RS256" {
        return Err(fail("alg is not RS256"));
    }
    let jwk = jwks["keys"]
        .as_array()
        .and_then(|ks| ks.iter().find(|k| k["kid"] == kid))
        .ok_or_else(|| fail("unknown kid"))?;
    let key = RsaPublic::from_jwk(jwk)?;
    let (signed, sig) = token
        .raw()
        .rsplit_once('.')
        .ok_or_else(|| fail("not a JWS"))?;
    let sig = URL_SAFE_NO_PAD
        .decode(sig)
        .map_err(|_| fail("signature is not base64url"))?;
    aws_lc_rs::signature::RsaPublicKeyComponents {
        n: &key.n,
        e: &key.e,
    }
    .verify(
        &aws_lc_rs::signature::RSA_PKCS1_2048_8192_SHA256,
        signed.as_bytes(),
        &sig,
    )
    .map_err(|_| fail("bad signature"))?;
    if token.issuer() != Some(issuer) {
        return Err(fail("wrong issuer"));
    }
    if token.nonce() != Some(nonce) {
        return Err(fail("nonce mismatch"));
    }
    Ok(())
}

/// Run the demo.
pub fn run(args: DemoArgs) -> Result<()> {
    let rt = common::runtime()?;
    let provider = Arc::new(MockProvider::start()?);
    let mut cfg = LocalVerifierConfig::new(common::DEFAULT_ISSUER);
    cfg.extra_snp_roots.push(provider.ark_der().to_vec());
    let verifier = Arc::new(LocalVerifier::new(cfg, TokenSigner::generate()?)?);
    let attester = Attester::new(provider.clone(), verifier.clone());

    let mut nonce = [0u8; 16];
    aws_lc_rs::rand::fill(&mut nonce)
        .map_err(|_| Error::new(ErrorCode::InitializationFailed, "no randomness"))?;
    let nonce = hex::encode(nonce);
    let params = ClientParameters::new("").with_payload("Nonce", nonce.clone());
    let token = rt.block_on(attester.attest(&params))?;
    relying_party_checks(&token, &verifier.jwks(), verifier.issuer(), &nonce)?;

    // The relying party seals a secret to the token's ephemeral key; only the vTPM opens it.
    let jwk = token.ephemeral_key().ok_or_else(|| {
        Error::new(
            ErrorCode::JwtExtractionFailed,
            "the token has no TpmEphemeralEncryptionKey",
        )
    })?;
    let key = RsaPublic::from_jwk(&serde_json::Value::Object(jwk.clone()))?;
    let public = RsaPublicKey::new(
        BigUint::from_bytes_be(&key.n),
        BigUint::from_bytes_be(&key.e),
    )
    .map_err(|e| Error::with_source(ErrorCode::JwtToRsaKeyFailed, "ephemeral key", e))?;
    let secret = b"a secret only this CVM can open";
    let sealed = public
        .encrypt(&mut rand::thread_rng(), Oaep::new::<sha2::Sha256>(), secret)
        .map_err(|e| {
            Error::with_source(ErrorCode::EncryptFailed, "sealing to the ephemeral key", e)
        })?;
    let decryptor = attester
        .decryptor()
        .ok_or_else(|| Error::new(ErrorCode::InitializationFailed, "no vTPM decryptor"))?;
    let opened = rt.block_on(decryptor.decrypt(RsaDecryptScheme::OaepSha256, &sealed))?;
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
        println!("  token        RS256 by {}, validated as a relying party would (signature, issuer, nonce)", token.issuer().unwrap_or("?"));
        println!(
            "  decrypt      secret sealed to TpmEphemeralEncryptionKey, opened inside the vTPM: ok"
        );
        println!("result: verified");
    }
    Ok(())
}
