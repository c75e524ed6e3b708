//! `tee-attest`: the command line of the tee-attest workspace.
//!
//! Exit codes: 0 on success, otherwise the spec's error code (1–27) of the
//! failure, with the message on stderr.
#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod cmd;

/// Attestation for confidential VMs: gather evidence, verify it, and use the
/// token's ephemeral key.
#[derive(Parser, Debug)]
#[command(name = "tee-attest", version, about, long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Write MAA attestation policies: check, hash, evaluate, sign; evaluate
    /// key-release policies.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCmd),
    /// Verify hardware evidence offline and print its claims.
    #[command(subcommand)]
    Evidence(cmd::evidence::EvidenceCmd),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Policy(c) => cmd::policy::run(c),
        Command::Evidence(c) => cmd::evidence::run(c),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.full_message());
            // Codes are 1..=27, so they always fit.
            ExitCode::from(u8::try_from(e.code().number()).unwrap_or(1))
        }
    }
}
