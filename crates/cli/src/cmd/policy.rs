//! `tee-attest policy …`: check, hash, evaluate and sign MAA attestation
//! policies; evaluate Azure Key Vault key-release policies.
//!
//! Every policy argument takes policy text or a policy JWS (signed or not),
//! told apart by content. Exit codes: 0 on success; 9 for an invalid policy
//! (with the located error on stderr); 6 when `eval` or `release-eval` runs
//! fine but the policy refuses; 8 when a file cannot be read.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use serde_json::{json, Value};
use tee_attest_core::{Error, ErrorCode, Result};
use tee_attest_policy::jws::{looks_like_jws, pem_to_der, sign_policy, unverified_payload};
use tee_attest_policy::{load_policy, ClaimSet, JwsOptions, Policy, PolicyDocument, ReleasePolicy};

/// The `policy` subcommands.
#[derive(Subcommand, Debug)]
pub enum PolicyCmd {
    /// Check a policy: exit 0 if valid, else code 9 with the located error.
    Check {
        /// Policy text or policy JWS.
        file: PathBuf,
        /// Trusted signer certificate (PEM); repeat for several. When given,
        /// the policy must be a JWS signed by one of them.
        #[arg(long = "trusted-signer")]
        trusted_signers: Vec<PathBuf>,
    },
    /// Print the policy hash (`x-ms-policy-hash`) alone.
    Hash {
        /// Policy text or policy JWS.
        file: PathBuf,
    },
    /// Evaluate a policy over incoming claims; print the decision, the
    /// deciding rule and the outgoing claims as JSON. Exit 0 when
    /// authorized, 6 when refused.
    Eval {
        /// Policy text or policy JWS.
        file: PathBuf,
        /// Incoming claims: a JSON object of claims (nested objects are also
        /// exposed by dotted path), an array of {"type","value","issuer"},
        /// or a JWT whose body is such an object.
        #[arg(long)]
        claims: PathBuf,
        /// Trusted signer certificate (PEM); repeat for several.
        #[arg(long = "trusted-signer")]
        trusted_signers: Vec<PathBuf>,
    },
    /// Sign a policy with an RSA key: prints an RS256 JWS with the
    /// certificate in `x5c`.
    Sign {
        /// Policy text (checked before signing).
        file: PathBuf,
        /// RSA private key, PEM (PKCS#8 or PKCS#1).
        #[arg(long)]
        key: PathBuf,
        /// The key's certificate, PEM.
        #[arg(long)]
        cert: PathBuf,
    },
    /// Print the policy an MAA-compatible service has for a type.
    Get {
        /// The attestation type (`AzureGuest`, `SevSnpVm`, …).
        #[arg(long = "type", default_value = "AzureGuest")]
        attestation_type: String,
        #[command(flatten)]
        remote: super::policy_remote::Remote,
    },
    /// Set a service's policy: text (checked, then sent as an unsigned JWS
    /// or signed with --signing-key) or a JWS sent as is.
    Set {
        /// Policy text or policy JWS.
        file: PathBuf,
        /// The attestation type (`AzureGuest`, `SevSnpVm`, …).
        #[arg(long = "type", default_value = "AzureGuest")]
        attestation_type: String,
        #[command(flatten)]
        remote: super::policy_remote::Remote,
        #[command(flatten)]
        signing: super::policy_remote::Signing,
    },
    /// Reset a service's policy to its default (signed with --signing-key
    /// in isolated mode).
    Reset {
        /// The attestation type (`AzureGuest`, `SevSnpVm`, …).
        #[arg(long = "type", default_value = "AzureGuest")]
        attestation_type: String,
        #[command(flatten)]
        remote: super::policy_remote::Remote,
        #[command(flatten)]
        signing: super::policy_remote::Signing,
    },
    /// A service's policy-management certificates (isolated mode).
    #[command(subcommand)]
    Certificates(super::policy_remote::CertificatesCmd),
    /// Evaluate an Azure Key Vault key-release policy against a token's
    /// claims; print the decision as JSON. Exit 0 when released, 6 when
    /// refused.
    ReleaseEval {
        /// Key-release policy (JSON).
        file: PathBuf,
        /// The token's claims: its JSON body, or the JWT itself.
        #[arg(long = "token-claims")]
        token_claims: PathBuf,
    },
}

/// Run a `policy` subcommand.
pub fn run(cmd: PolicyCmd) -> Result<()> {
    use super::policy_remote as remote_cmd;
    match cmd {
        PolicyCmd::Get {
            attestation_type,
            remote,
        } => remote_cmd::get(&remote, &attestation_type),
        PolicyCmd::Set {
            file,
            attestation_type,
            remote,
            signing,
        } => remote_cmd::set(&remote, &signing, &attestation_type, &file),
        PolicyCmd::Reset {
            attestation_type,
            remote,
            signing,
        } => remote_cmd::reset(&remote, &signing, &attestation_type),
        PolicyCmd::Certificates(c) => remote_cmd::certificates(c),
        PolicyCmd::Check {
            file,
            trusted_signers,
        } => {
            let (doc, policy) = load(&file, &trusted_signers)?;
            let rules: usize = policy.ast().sections.iter().map(|s| s.rules.len()).sum();
            println!(
                "ok: policy version {}, {} section(s), {rules} rule(s){}",
                policy.version(),
                policy.ast().sections.len(),
                match (&doc.signer, doc.was_jws) {
                    (Some(_), _) => ", signed",
                    (None, true) => ", unsigned JWS",
                    (None, false) => "",
                }
            );
            Ok(())
        }
        PolicyCmd::Hash { file } => {
            let (_, policy) = load(&file, &[])?;
            println!("{}", policy.hash());
            Ok(())
        }
        PolicyCmd::Eval {
            file,
            claims,
            trusted_signers,
        } => {
            let (doc, policy) = load(&file, &trusted_signers)?;
            let claims_json = read_json_or_jwt(&claims)?;
            let set = ClaimSet::from_json(&claims_json)
                .map_err(|e| Error::from(e).context(claims.display()))?;
            let outcome = policy
                .evaluate(&set)
                .map_err(|e| Error::from(e).context(file.display()))?;
            let mut out = json!({
                "authorized": outcome.authorized,
                "decision": outcome.summary(),
                "decided_by": outcome.decided_by.map(|r| json!({
                    "section": r.section.keyword(),
                    "rule": r.index,
                    "line": r.line,
                })),
                "outgoing_claims": outcome.outgoing_json(),
                "properties": {
                    "report_validity_in_minutes": outcome.properties.validity_minutes(),
                    "omit_x5c": outcome.properties.omit_x5c(),
                },
                "configuration": {
                    "require_valid_aik_cert": outcome.configuration.require_valid_aik_cert(),
                    "required_pcr_mask": outcome.configuration.required_pcr_mask(),
                },
                "x-ms-policy-hash": policy.hash(),
            });
            if let (Some(signer), Some(obj)) = (&doc.signer, out.as_object_mut()) {
                obj.insert("x-ms-policy-signer".to_string(), signer.claim());
            }
            print_json(&out);
            if outcome.authorized {
                Ok(())
            } else {
                Err(Error::new(
                    ErrorCode::AttestationFailed,
                    format!("{}: {}", file.display(), outcome.summary()),
                ))
            }
        }
        PolicyCmd::Sign { file, key, cert } => {
            let text = read(&file)?;
            Policy::parse(&text).map_err(|e| Error::from(e).context(file.display()))?;
            let key_pem = zeroize::Zeroizing::new(read(&key)?);
            let cert_pem = read(&cert)?;
            let jws = sign_policy(&text, &key_pem, &cert_pem).map_err(Error::from)?;
            println!("{jws}");
            Ok(())
        }
        PolicyCmd::ReleaseEval { file, token_claims } => {
            let text = read(&file)?;
            let policy =
                ReleasePolicy::parse(&text).map_err(|e| Error::from(e).context(file.display()))?;
            let claims = read_json_or_jwt(&token_claims)?;
            let d = policy.evaluate(&claims);
            print_json(&json!({
                "released": d.released,
                "rule": d.rule,
                "authority": d.rule.and_then(|i| policy.rules.get(i)).map(|r| r.authority.clone()),
                "reasons": d.reasons,
            }));
            if d.released {
                Ok(())
            } else {
                Err(Error::new(
                    ErrorCode::AttestationFailed,
                    format!("{}: key release {d}", file.display()),
                ))
            }
        }
    }
}

fn print_json(v: &Value) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(_) => println!("{v}"),
    }
}

fn read(path: &Path) -> Result<String> {
    super::common::read_text(
        path,
        super::common::FileKind::Policy,
        ErrorCode::InvalidInputParameter,
    )
}

/// A policy file (text or JWS), checked: the document and the parsed policy.
fn load(path: &Path, trusted: &[PathBuf]) -> Result<(PolicyDocument, Policy)> {
    let input = read(path)?;
    let mut opts = JwsOptions::default();
    for t in trusted {
        let der = pem_to_der(&read(t)?, &["CERTIFICATE"])
            .map_err(|e| Error::from(e).context(t.display()))?;
        opts = opts.trust(der);
    }
    let doc = load_policy(&input, &opts).map_err(|e| Error::from(e).context(path.display()))?;
    let policy = Policy::parse(&doc.text).map_err(|e| Error::from(e).context(path.display()))?;
    Ok((doc, policy))
}

/// JSON from a file, or the body of the JWT the file holds.
fn read_json_or_jwt(path: &Path) -> Result<Value> {
    let text = read(path)?;
    if let Ok(v) = serde_json::from_str::<Value>(&text) {
        return Ok(v);
    }
    if looks_like_jws(&text) {
        return unverified_payload(&text).map_err(|e| Error::from(e).context(path.display()));
    }
    Err(Error::new(
        ErrorCode::InvalidInputParameter,
        format!("{}: neither JSON nor a JWT", path.display()),
    ))
}
