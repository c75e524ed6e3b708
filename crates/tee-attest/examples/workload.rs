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
        let checked = common::attest_and_check(url.as_deref(), "workload").await;
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
