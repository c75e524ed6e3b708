//! `tee-attest demo`: the main job on the embedded default.
//!
//! Today (the foundation): a mock Azure vTPM on swtpm; quote PCRs 0–7 over
//! a fresh nonce and verify the quote; create the ephemeral key, certify it
//! with the AK and verify that; seal a secret to it and open it inside the
//! TPM. Later issues put the HCL report, the local verifier and the token in
//! between.

use clap::Args;
use rand::RngCore;
use rsa::{BigUint, Oaep, RsaPublicKey};
use tee_attest_core::{Error, ErrorCode, Result, RsaDecryptScheme};
use tee_attest_mock::MockVtpm;
use tee_attest_tpm::handles::{AK_PERSISTENT_HANDLE, LINUX_QUOTE_PCRS};
use tee_attest_tpm::verify::{verify_certify, verify_quote};

/// Options of `demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Print the steps' data as JSON instead of a human summary.
    #[arg(long)]
    json: bool,
}

/// Run the demo.
pub fn run(args: DemoArgs) -> Result<()> {
    let vtpm = MockVtpm::start()?;
    let mut tpm = vtpm.open()?;
    let mut nonce = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut nonce);

    let quote = tpm.quote(AK_PERSISTENT_HANDLE, LINUX_QUOTE_PCRS, &nonce)?;
    let (_, ak) = tpm.read_public(AK_PERSISTENT_HANDLE)?;
    let verified = verify_quote(&quote.attest, &quote.signature, &ak, &nonce, &quote.pcrs)?;

    let key = tpm.ephemeral_key()?;
    let certified = tpm.certify(&key, AK_PERSISTENT_HANDLE, &nonce)?;
    verify_certify(
        &certified.certify_info,
        &certified.signature,
        &ak,
        &certified.public,
        &nonce,
    )?;

    let secret = b"a secret only this vTPM can open";
    let public = RsaPublicKey::new(
        BigUint::from_bytes_be(&key.key.n),
        BigUint::from_bytes_be(&key.key.e),
    )
    .map_err(|e| Error::with_source(ErrorCode::JwtToRsaKeyFailed, "ephemeral key", e))?;
    let sealed = public
        .encrypt(&mut rand::thread_rng(), Oaep::new::<sha2::Sha256>(), secret)
        .map_err(|e| {
            Error::with_source(ErrorCode::EncryptFailed, "sealing to the ephemeral key", e)
        })?;
    let opened = tpm.decrypt(&key, RsaDecryptScheme::OaepSha256, &sealed)?;
    if opened.as_slice() != secret {
        return Err(Error::new(
            ErrorCode::DecryptTpmError,
            "the TPM returned other bytes than were sealed",
        ));
    }

    let nonce_hex: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
    if args.json {
        let out = serde_json::json!({
            "tee": "mock",
            "tcti": vtpm.tcti(),
            "nonce": nonce_hex,
            "quote": {"verified": true, "pcrs": verified.pcrs, "clock_ms": verified.attest.clock_info.clock},
            "ephemeral_key": {"certified": true, "jwk": key.key.to_jwk()},
            "decrypt_round_trip": true,
        });
        println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
    } else {
        println!(
            "tee-attest demo — mock Azure vTPM on swtpm ({})",
            vtpm.tcti()
        );
        println!("  TEE            mock (swtpm; mock roots, never trusted by default)");
        println!("  nonce          {nonce_hex}");
        println!(
            "  TPM quote      verified: AK 0x81000003, SHA-256 PCRs {:?}",
            verified.pcrs
        );
        println!("  ephemeral key  RSA-2048 in the NULL hierarchy, PolicyPCR 0-7, certified by the AK: verified");
        println!("  decrypt        RSA-OAEP-SHA256 sealed outside, opened inside the TPM: ok");
        println!("result: verified");
    }
    Ok(())
}
