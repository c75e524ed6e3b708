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
    /// Validate a token as a relying party and print its claims. Profile
    /// `maa` (default): RS256 with a key of the issuer's JWKS (OpenID
    /// discovery) or of a JWKS file, `iss`, `exp`/`nbf`, `x-ms-ver`, the
    /// nonce. Profile `ita`: an Intel Trust Authority token — PS384 or
    /// RS256 with a key of the JWKS at a URL or in a file (its `x5c` chains
    /// to `--root` when given), `iss`, `exp`/`nbf`, `verifier_nonce.val`
    /// equal to `--nonce`, the `--policy-id`s matched.
    Verify {
        /// The token file, or `-` for standard input.
        file: String,
        /// `maa` or `ita`.
        #[arg(long, default_value = "maa", value_parser = ["maa", "ita"])]
        profile: String,
        /// The issuer: its OpenID metadata gives the JWKS (unless --jwks),
        /// and `iss` must equal it (`ita`: default "Intel Trust Authority").
        #[arg(long, required_unless_present = "jwks")]
        issuer: Option<String>,
        /// The JWKS: a file, or (`ita`) an http(s) URL.
        #[arg(long)]
        jwks: Option<String>,
        /// The nonce the token must carry (`ita`: `verifier_nonce.val`).
        #[arg(long)]
        nonce: Option<String>,
        /// `ita`: the root (PEM or DER) the JWKS keys' `x5c` chains must
        /// end in.
        #[arg(long)]
        root: Option<std::path::PathBuf>,
        /// `ita`: a policy the token must have matched (repeatable).
        #[arg(long = "policy-id", value_name = "ID")]
        policy_ids: Vec<String>,
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
            profile,
            issuer,
            jwks,
            nonce,
            root,
            policy_ids,
            allow_mock,
        } => {
            let text =
                String::from_utf8(read_input(&file, FileKind::Credential)?).map_err(|e| {
                    Error::with_source(ErrorCode::JwtExtractionFailed, "the token is not UTF-8", e)
                })?;
            if profile == "ita" {
                return verify_ita(
                    text.trim(),
                    jwks.as_deref(),
                    issuer.as_deref(),
                    nonce.as_deref(),
                    root.as_deref(),
                    &policy_ids,
                );
            }
            let validator = match (&jwks, &issuer) {
                (Some(path), iss) => {
                    TokenValidator::from_jwks_file(iss.as_deref(), std::path::Path::new(path))?
                }
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

/// `token verify --profile ita`.
fn verify_ita(
    token: &str,
    jwks: Option<&str>,
    issuer: Option<&str>,
    nonce: Option<&str>,
    root: Option<&std::path::Path>,
    policy_ids: &[String],
) -> Result<()> {
    use tee_attest_ita::{Expectations, ItaValidator, KeyTrust, PinnedRoots};
    let jwks = jwks.ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidInputParameter,
            "--profile ita needs --jwks URL|FILE",
        )
    })?;
    let trust = match root {
        Some(r) => KeyTrust::Pinned(PinnedRoots::from_file(r)?),
        None => KeyTrust::AsServed,
    };
    let mut validator = if jwks.starts_with("http://") || jwks.starts_with("https://") {
        ItaValidator::with_certs_url(jwks, trust, tee_attest_ita::HttpConfig::default())?
    } else {
        ItaValidator::from_jwks_file(std::path::Path::new(jwks), trust)?
    };
    if let Some(iss) = issuer {
        validator = validator.with_issuer(iss);
    }
    let rt = super::common::runtime()?;
    let token =
        rt.block_on(validator.validate(token, Expectations::none().with_policy_ids(policy_ids)))?;
    if let Some(n) = nonce {
        let c = token.claims()?;
        let found = c
            .verifier_nonce
            .as_ref()
            .or(token.tdx().and_then(|t| t.verifier_nonce.as_ref()))
            .map(|v| v.val.as_str());
        if found != Some(n) {
            return Err(Error::new(
                ErrorCode::AttestationFailed,
                "token check failed: verifier_nonce: the token's verifier_nonce.val is not the \
                 one given",
            ));
        }
    }
    println!(
        "{}",
        serde_json::to_string_pretty(token.token().claims()).unwrap_or_default()
    );
    Ok(())
}
