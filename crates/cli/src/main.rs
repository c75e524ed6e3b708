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
    /// Write MAA attestation policies: check, hash, evaluate, sign; get, set
    /// and reset a service's policies and certificates; evaluate
    /// key-release policies.
    #[command(subcommand)]
    Policy(cmd::policy::PolicyCmd),
    /// Verify hardware evidence offline and print its claims.
    #[command(subcommand)]
    Evidence(cmd::evidence::EvidenceCmd),
    /// Show which of the TEE backends compiled in recognise this machine,
    /// and the cargo features to build with, as JSON. Never uses the network.
    Detect(cmd::detect::DetectArgs),
    /// Gather evidence in this TEE and get a token from a verifier (printed).
    Attest(cmd::attest::AttestArgs),
    #[cfg(feature = "service")]
    /// Serve the local verifier over HTTP(S), shaped like MAA's REST API.
    Serve(Box<cmd::serve::ServeArgs>),
    #[cfg(feature = "mock")]
    /// A persistent mock TEE to develop against: an Azure SEV-SNP or TDX
    /// CVM, a bare-metal SEV-SNP or TDX guest.
    #[command(subcommand)]
    Mock(cmd::mock::MockCmd),
    /// Inspect attestation tokens.
    #[command(subcommand)]
    Token(cmd::token::TokenCmd),
    #[cfg(feature = "mock")]
    /// Run the main job on the embedded default: a mock vTPM on swtpm.
    Demo(cmd::demo::DemoArgs),
    /// Encrypt a file to a token's ephemeral key (writes OUT and OUT.meta).
    Encrypt(cmd::encrypt::EncryptArgs),
    /// Decrypt a file with this machine's vTPM ephemeral key (reads IN.meta).
    Decrypt(cmd::encrypt::DecryptArgs),
    #[cfg(feature = "service")]
    /// The key broker's keys: create, list, rotate, delete; audit releases.
    #[command(subcommand)]
    Keys(cmd::keys::KeysCmd),
    #[cfg(feature = "service")]
    /// The verifier service's administration: `admin audit` prints its
    /// admin audit log.
    #[command(subcommand)]
    Admin(cmd::admin::AdminCmd),
}

fn main() -> ExitCode {
    // libtss2 logs TPM errors to stderr on its own; this tool reports them
    // as typed errors instead. `TSS2_LOG=all+warning` brings them back.
    if std::env::var_os("TSS2_LOG").is_none() {
        std::env::set_var("TSS2_LOG", "all+none");
    }
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Policy(c) => cmd::policy::run(c),
        Command::Evidence(c) => cmd::evidence::run(c),
        Command::Detect(a) => cmd::detect::run(a),
        Command::Attest(a) => cmd::attest::run(a),
        Command::Token(c) => cmd::token::run(c),
        #[cfg(feature = "service")]
        Command::Serve(a) => cmd::serve::run(*a),
        #[cfg(feature = "mock")]
        Command::Mock(c) => cmd::mock::run(c),
        #[cfg(feature = "mock")]
        Command::Demo(a) => cmd::demo::run(a),
        Command::Encrypt(a) => cmd::encrypt::run_encrypt(a),
        Command::Decrypt(a) => cmd::encrypt::run_decrypt(a),
        #[cfg(feature = "service")]
        Command::Keys(c) => cmd::keys::run(c),
        #[cfg(feature = "service")]
        Command::Admin(c) => cmd::admin::run(c),
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
