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
    let result = rt.block_on(common::attest_and_check(url.as_deref(), "checker"));
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
