//! `tee-attest token show`: a token's header and claims, as pretty JSON.

use clap::Subcommand;
use tee_attest_core::{AttestationToken, Error, ErrorCode, Result};

use super::common::read_input;

/// The `token` subcommands.
#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Print a token's header and claims (no signature check).
    Show {
        /// The token file, or `-` for standard input.
        file: String,
    },
}

/// Run a `token` subcommand.
pub fn run(cmd: TokenCmd) -> Result<()> {
    match cmd {
        TokenCmd::Show { file } => {
            let text = String::from_utf8(read_input(&file)?).map_err(|e| {
                Error::with_source(ErrorCode::JwtExtractionFailed, "the token is not UTF-8", e)
            })?;
            let t = AttestationToken::parse(&text)?;
            let out = serde_json::json!({"header": t.header(), "claims": t.claims()});
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            Ok(())
        }
    }
}
