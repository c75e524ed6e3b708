//! Scenario 2 — the workload attests at start-up and checks the token
//! itself before it sets itself up; it never starts its real work on a
//! platform that fails the check.
//!
//! usage: workload [VERIFIER_URL]

mod common;

async fn real_work() {
    println!("workload: started its real work");
}

fn main() -> std::process::ExitCode {
    let url = std::env::args().nth(1);
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    rt.block_on(async {
        let checked: Result<Vec<String>, String> = async {
            let (attester, validator) = common::attester(url.as_deref())?;
            let nonce = format!("workload-{}", std::process::id());
            let params = tee_attest::ClientParameters::new(url.clone().unwrap_or_default())
                .with_payload("Nonce", nonce.clone());
            let token = attester.attest(&params).await.map_err(|e| e.to_string())?;
            let token = validator
                .validate(token.raw(), Some(nonce.as_bytes()))
                .await
                .map_err(|e| e.to_string())?;
            Ok(common::platform_failures(&token))
        }
        .await;
        match checked {
            Ok(f) if f.is_empty() => {
                real_work().await;
                std::process::ExitCode::SUCCESS
            }
            Ok(f) => {
                println!("workload: refusing to start: {}", f.join("; "));
                std::process::ExitCode::from(1)
            }
            Err(e) => {
                eprintln!("workload: attestation failed, not starting: {e}");
                std::process::ExitCode::from(2)
            }
        }
    })
}
