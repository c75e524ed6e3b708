//! `tee-attest token show`: a token's header and claims, as pretty JSON.

use clap::Subcommand;
use tee_attest_core::{AttestationToken, Error, ErrorCode, Result};
use tee_attest_maa::{HttpConfig, TokenValidator};

use super::common::{read_input, FileKind};

/// The `token` subcommands.
#[derive(Subcommand, Debug)]
pub enum TokenCmd {
    /// Print a token's header and claims (no signature check).
    Show {
        /// The token file, or `-` for standard input.
        file: String,
    },
    /// Validate a token as a relying party: RS256 signature with a key of
    /// the issuer's JWKS (OpenID discovery) or of a JWKS file, `iss`,
    /// `exp`/`nbf`, `x-ms-ver`, the nonce; prints the claims.
    Verify {
        /// The token file, or `-` for standard input.
        file: String,
        /// The issuer: its OpenID metadata gives the JWKS (unless --jwks),
        /// and `iss` must equal it.
        #[arg(long, required_unless_present = "jwks")]
        issuer: Option<String>,
        /// A JWKS file to take the keys from.
        #[arg(long)]
        jwks: Option<std::path::PathBuf>,
        /// The nonce the token must carry.
        #[arg(long)]
        nonce: Option<String>,
        /// Accept tokens from mock evidence (development only).
        #[arg(long)]
        allow_mock: bool,
    },
}

/// Run a `token` subcommand.
pub fn run(cmd: TokenCmd) -> Result<()> {
    match cmd {
        TokenCmd::Show { file } => {
            let text =
                String::from_utf8(read_input(&file, FileKind::Credential)?).map_err(|e| {
                    Error::with_source(ErrorCode::JwtExtractionFailed, "the token is not UTF-8", e)
                })?;
            let t = AttestationToken::parse(&text)?;
            let out = serde_json::json!({"header": t.header(), "claims": t.claims()});
            println!("{}", serde_json::to_string_pretty(&out).unwrap_or_default());
            Ok(())
        }
        TokenCmd::Verify {
            file,
            issuer,
            jwks,
            nonce,
            allow_mock,
        } => {
            let text =
                String::from_utf8(read_input(&file, FileKind::Credential)?).map_err(|e| {
                    Error::with_source(ErrorCode::JwtExtractionFailed, "the token is not UTF-8", e)
                })?;
            let validator = match (&jwks, &issuer) {
                (Some(path), iss) => TokenValidator::from_jwks_file(iss.as_deref(), path)?,
                (None, Some(iss)) => TokenValidator::with_discovery(iss, HttpConfig::default())?,
                (None, None) => {
                    return Err(Error::new(
                        ErrorCode::InvalidInputParameter,
                        "give --issuer or --jwks",
                    ))
                }
            }
            .allow_mock(allow_mock);
            let rt = super::common::runtime()?;
            let token =
                rt.block_on(validator.validate(text.trim(), nonce.as_deref().map(str::as_bytes)))?;
            println!(
                "{}",
                serde_json::to_string_pretty(token.claims()).unwrap_or_default()
            );
            eprintln!("token valid");
            Ok(())
        }
    }
}
