//! Scenario 1 — a separate "platform checker" run before the sensitive
//! workload starts: it attests, validates the token as a relying party
//! would, and exits non-zero unless the TEE, its compliance and secure boot
//! are as required.
//!
//! usage: platform_checker [VERIFIER_URL]   (no URL: the embedded verifier)
//! Environment: as `tee-attest mock up` exports on a development machine.

mod common;

fn main() -> std::process::ExitCode {
    let url = std::env::args().nth(1);
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    let result: Result<Vec<String>, String> = rt.block_on(async {
        let (attester, validator) = common::attester(url.as_deref())?;
        let nonce = format!("checker-{}", std::process::id());
        let params = tee_attest::ClientParameters::new(url.clone().unwrap_or_default())
            .with_payload("Nonce", nonce.clone());
        let token = attester.attest(&params).await.map_err(|e| e.to_string())?;
        let token = validator
            .validate(token.raw(), Some(nonce.as_bytes()))
            .await
            .map_err(|e| e.to_string())?;
        Ok(common::platform_failures(&token))
    });
    match result {
        Ok(failed) if failed.is_empty() => {
            println!(
                "platform check: PASS (SEV-SNP, compliant or trusted mock, secure boot, vTPM)"
            );
            std::process::ExitCode::SUCCESS
        }
        Ok(failed) => {
            println!("platform check: FAIL: {}", failed.join("; "));
            std::process::ExitCode::from(1)
        }
        Err(e) => {
            eprintln!("platform check: ERROR: {e}");
            std::process::ExitCode::from(2)
        }
    }
}
