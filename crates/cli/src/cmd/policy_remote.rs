//! `tee-attest policy get|set|reset|certificates …`: administer the
//! policies of an MAA-compatible service (ours, or Microsoft's) over its
//! REST API, with a bearer token and/or a policy-management signing key.
//!
//! Exit codes: 0 on success; 5 when the service refuses (401, 403, 400 —
//! its error message on stderr); 7 when it cannot be reached; 8 for bad
//! arguments or unreadable files; 9 for a policy that does not parse.

use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use tee_attest_core::{Error, ErrorCode, Result};
use tee_attest_maa::admin::AdminClient;
use tee_attest_maa::HttpConfig;
use tee_attest_policy::jws::{sign_jws, sign_policy, unsigned_policy_jws};
use tee_attest_policy::{certificate_jwk, Policy};
use zeroize::Zeroizing;

use super::common;

/// Where the service is and how to authenticate to it.
#[derive(Args, Debug)]
pub struct Remote {
    /// The service's base URL, e.g. `https://127.0.0.1:8443`.
    #[arg(long)]
    pub url: String,
    /// A file holding the bearer token sent as `Authorization: Bearer`
    /// (never printed).
    #[arg(long)]
    pub token_file: Option<PathBuf>,
    /// Extra trusted CA certificates (PEM) for the service's TLS certificate.
    #[arg(long)]
    pub ca: Option<PathBuf>,
}

/// A policy-management signing key and its certificate.
#[derive(Args, Debug)]
pub struct Signing {
    /// RSA private key (PEM) of a policy-management certificate: the
    /// document is sent signed (RS256, certificate in `x5c`).
    #[arg(long, requires = "signing_cert")]
    pub signing_key: Option<PathBuf>,
    /// The certificate (PEM) of --signing-key.
    #[arg(long, requires = "signing_key")]
    pub signing_cert: Option<PathBuf>,
}

/// The remote `policy` subcommands.
#[derive(Subcommand, Debug)]
pub enum CertificatesCmd {
    /// List the policy-management certificates (thumbprint and subject key).
    List {
        #[command(flatten)]
        remote: Remote,
    },
    /// Add a policy-management certificate (signed by a current one).
    Add {
        /// The certificate to add (PEM).
        cert: PathBuf,
        #[command(flatten)]
        remote: Remote,
        #[command(flatten)]
        signing: Signing,
    },
    /// Remove a policy-management certificate (signed by a current one).
    Remove {
        /// The certificate to remove (PEM).
        cert: PathBuf,
        #[command(flatten)]
        remote: Remote,
        #[command(flatten)]
        signing: Signing,
    },
}

fn read(path: &Path) -> Result<Zeroizing<String>> {
    common::read_text(
        path,
        common::FileKind::Credential,
        ErrorCode::InvalidInputParameter,
    )
    .map(Zeroizing::new)
}

fn client(remote: &Remote) -> Result<AdminClient> {
    let mut http = HttpConfig::default();
    http.max_attempts = 2;
    if let Some(ca) = &remote.ca {
        http.root_certificates = common::read_pem_certificates(ca)?;
    }
    let mut c = AdminClient::new(&remote.url, http)?;
    if let Some(f) = &remote.token_file {
        c = c.with_bearer(read(f)?.trim());
    }
    Ok(c)
}

fn signing_pair(signing: &Signing) -> Result<Option<(Zeroizing<String>, Zeroizing<String>)>> {
    match (&signing.signing_key, &signing.signing_cert) {
        (Some(k), Some(c)) => Ok(Some((read(k)?, read(c)?))),
        _ => Ok(None),
    }
}

fn print_json(v: &Value) {
    match serde_json::to_string_pretty(v) {
        Ok(s) => println!("{s}"),
        Err(_) => println!("{v}"),
    }
}

/// `policy get`: print the policy text in force.
pub fn get(remote: &Remote, attestation_type: &str) -> Result<()> {
    let c = client(remote)?;
    let p = common::runtime()?.block_on(c.get_policy(attestation_type))?;
    print!("{}", p.text);
    if !p.text.ends_with('\n') {
        println!();
    }
    if p.signer.is_some() {
        eprintln!("(signed by a policy-management certificate)");
    }
    Ok(())
}

/// `policy set`: send a policy (text, checked first, or a JWS as is).
pub fn set(remote: &Remote, signing: &Signing, attestation_type: &str, file: &Path) -> Result<()> {
    let input = read(file)?;
    let doc = if tee_attest_policy::jws::looks_like_jws(&input) {
        input.trim().to_string()
    } else {
        Policy::parse(&input).map_err(|e| Error::from(e).context(file.display()))?;
        match signing_pair(signing)? {
            Some((key, cert)) => sign_policy(&input, &key, &cert).map_err(Error::from)?,
            None => unsigned_policy_jws(&input),
        }
    };
    let c = client(remote)?;
    let r = common::runtime()?.block_on(c.set_policy(attestation_type, &doc))?;
    print_json(&json!({
        "x-ms-policy-result": r.result,
        "x-ms-policy-token-hash": r.token_hash,
        "x-ms-policy-signer": r.signer,
    }));
    Ok(())
}

/// `policy reset`: back to the service's default policy.
pub fn reset(remote: &Remote, signing: &Signing, attestation_type: &str) -> Result<()> {
    let doc = match signing_pair(signing)? {
        Some((key, cert)) => Some(sign_jws(None, &key, &cert).map_err(Error::from)?),
        None => None,
    };
    let c = client(remote)?;
    let r = common::runtime()?.block_on(c.reset_policy(attestation_type, doc.as_deref()))?;
    print_json(&json!({
        "x-ms-policy-result": r.result,
        "x-ms-policy-signer": r.signer,
    }));
    Ok(())
}

/// `policy certificates …`.
pub fn certificates(cmd: CertificatesCmd) -> Result<()> {
    match cmd {
        CertificatesCmd::List { remote } => {
            let c = client(&remote)?;
            let keys = common::runtime()?.block_on(c.certificates())?;
            print_json(&json!({ "keys": keys }));
            Ok(())
        }
        CertificatesCmd::Add {
            cert,
            remote,
            signing,
        } => change(true, &cert, &remote, &signing),
        CertificatesCmd::Remove {
            cert,
            remote,
            signing,
        } => change(false, &cert, &remote, &signing),
    }
}

fn change(add: bool, cert: &Path, remote: &Remote, signing: &Signing) -> Result<()> {
    let Some((key, signer_cert)) = signing_pair(signing)? else {
        return Err(Error::new(
            ErrorCode::InvalidInputParameter,
            "a certificate change must be signed: give --signing-key and --signing-cert \
             of a current policy-management certificate",
        ));
    };
    let der = common::read_pem_certificates(cert)?
        .into_iter()
        .next()
        .unwrap_or_default();
    let jwk = certificate_jwk(&der).map_err(|e| Error::from(e).context(cert.display()))?;
    let doc = sign_jws(
        Some(&json!({ "policyCertificate": jwk })),
        &key,
        &signer_cert,
    )
    .map_err(Error::from)?;
    let c = client(remote)?;
    let r = common::runtime()?.block_on(c.change_certificate(add, &doc))?;
    print_json(&json!({
        "x-ms-certificate-thumbprint": r.thumbprint,
        "x-ms-policycertificates-result": r.result,
    }));
    Ok(())
}
