//! `tee-attest serve`: the local verifier as an MAA-compatible HTTP service,
//! and the Key Vault SKR-compatible key release next to it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use std::sync::Arc;
use tee_attest_core::{Error, ErrorCode, Result};

use tee_attest_keyrelease::service::{api as release_api, ReleaseState};
use tee_attest_keyrelease::KeyStore;
use tee_attest_maa::{HttpConfig, Jwks, TokenValidator, ValidationProfile};
use tee_attest_verifier::audit::AuditConfig;
use tee_attest_verifier::service::{api, serve_app, serve_app_tls, AdminConfig, ServiceState};
use tee_attest_verifier::TokenSigner;

use super::common;

/// Options of `serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Where to listen. Plain HTTP only on a loopback address; elsewhere
    /// give --tls-cert and --tls-key.
    #[arg(long, default_value = "127.0.0.1:8700")]
    pub addr: SocketAddr,
    /// An attestation policy to install at start (else the stored one, or the default).
    #[arg(long)]
    pub policy: Option<PathBuf>,
    /// The data directory: signing key (0600) and policies.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The issuer URL tokens carry (default: http(s)://ADDR).
    #[arg(long)]
    pub issuer: Option<String>,
    /// Trust the repository's mock AMD roots (development only).
    #[arg(long)]
    pub trust_mock: bool,
    /// TLS certificate chain (PEM).
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Administrators' OpenID issuer: policy writes need
    /// `Authorization: Bearer <JWT>` from it (discovery, JWKS; RS256,
    /// PS256 or ES256), for --admin-audience, carrying --admin-role.
    #[arg(long, requires_all = ["admin_audience", "admin_role"])]
    pub admin_issuer: Option<String>,
    /// The audience (`aud`) administrators' tokens must name.
    #[arg(long, requires = "admin_issuer")]
    pub admin_audience: Option<String>,
    /// The role administrators' tokens must carry.
    #[arg(long, requires = "admin_issuer")]
    pub admin_role: Option<String>,
    /// The claim holding the roles (default `roles`).
    #[arg(long, requires = "admin_issuer")]
    pub admin_role_claim: Option<String>,
    /// A PEM file of trusted CA certificates for reaching the admin issuer
    /// (besides the system's).
    #[arg(long, requires = "admin_issuer")]
    pub admin_issuer_ca: Option<PathBuf>,
    /// Isolated mode: policy-management certificates (PEM). Policy writes,
    /// resets and certificate changes must then be JWS signed by one of
    /// them. Seeds the set on first start; the stored set rules afterwards.
    #[arg(long)]
    pub policy_signers: Option<PathBuf>,
    /// Let anyone write policies (development only; loopback addresses only).
    #[arg(long, conflicts_with = "admin_issuer")]
    pub insecure_admin: bool,
    /// Policy and certificate reads need an administrator's bearer token too.
    #[arg(long, requires = "admin_issuer")]
    pub admin_read_auth: bool,
    /// Attestation requests need a bearer token (`bearer`: validated as
    /// the administrators' are).
    #[arg(long, value_parser = ["bearer"], requires = "admin_issuer")]
    pub attest_auth: Option<String>,
    /// Keep admin audit rows this many days.
    #[arg(long, default_value_t = 90)]
    pub audit_max_age_days: u64,
    /// Keep at most this many admin audit rows.
    #[arg(long, default_value_t = 100_000)]
    pub audit_max_rows: u64,
}

/// The administration set-up the flags ask for.
fn admin_config(args: &ServeArgs) -> Result<AdminConfig> {
    if args.insecure_admin && !args.addr.ip().is_loopback() {
        return Err(Error::new(
            ErrorCode::InvalidInputParameter,
            format!(
                "--insecure-admin is refused on {}: it lets anyone change the policy, \
                 so it is allowed on a loopback address only",
                args.addr
            ),
        ));
    }
    let audit = AuditConfig {
        max_age: std::time::Duration::from_secs(args.audit_max_age_days.saturating_mul(86_400)),
        max_rows: args.audit_max_rows,
        ..AuditConfig::default()
    };
    let mut admin = if args.insecure_admin {
        AdminConfig::insecure()
    } else {
        AdminConfig::locked()
    }
    .with_audit(audit)
    .with_read_auth(args.admin_read_auth)
    .with_attest_auth(args.attest_auth.is_some());
    if let (Some(issuer), Some(aud), Some(role)) =
        (&args.admin_issuer, &args.admin_audience, &args.admin_role)
    {
        let mut http = HttpConfig::default();
        if let Some(ca) = &args.admin_issuer_ca {
            http.root_certificates = common::read_pem_certificates(ca)?;
        }
        let mut profile = ValidationProfile::admin(aud.clone(), role.clone());
        if let Some(c) = &args.admin_role_claim {
            profile = profile.with_role_claim(c);
        }
        let validator = TokenValidator::with_discovery(issuer, http)?.with_profile(profile);
        admin = admin.with_bearer(Arc::new(validator));
    }
    if let Some(p) = &args.policy_signers {
        admin = admin.with_policy_signers(common::read_pem_certificates(p)?);
    }
    Ok(admin)
}

/// Run `serve` until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> Result<()> {
    let tls = args.tls_cert.as_ref().zip(args.tls_key.as_ref());
    if tls.is_none() && !args.addr.ip().is_loopback() {
        return Err(Error::new(
            ErrorCode::InvalidInputParameter,
            format!(
                "{} is not a loopback address: give --tls-cert and --tls-key to serve HTTPS there",
                args.addr
            ),
        ));
    }
    let scheme = if tls.is_some() { "https" } else { "http" };
    let issuer = args
        .issuer
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{}", args.addr));
    let dir = common::data_dir(args.data_dir.as_deref());
    let mut opts = tee_attest::VerifierOptions::default();
    opts.data_dir = Some(dir.clone());
    opts.issuer = issuer.clone();
    opts.trust_mock = args.trust_mock;
    let verifier = tee_attest::verifiers::local_verifier(&opts)?;
    let admin = admin_config(&args)?;
    let state = ServiceState::with_admin(verifier.clone(), &dir, admin)?;
    if args.insecure_admin {
        eprintln!(
            "tee-attest serve: WARNING: --insecure-admin: anyone who reaches {} can change the \
             attestation policy (development only)",
            args.addr
        );
    }
    if state.isolated()? {
        eprintln!("tee-attest serve: isolated mode: policies must be signed by a policy-management certificate");
    }
    if let Some(p) = &args.policy {
        let text = std::fs::read_to_string(p).map_err(|e| {
            Error::with_source(
                ErrorCode::InvalidInputParameter,
                format!("reading {}", p.display()),
                e,
            )
        })?;
        state.install_policy("AzureGuest", &text)?;
    }
    // Key release (Azure Key Vault SKR-compatible) next to the verifier:
    // it releases keys to holders of tokens this verifier issued, and signs
    // its responses with the verifier's key.
    let store = Arc::new(KeyStore::open_in(&dir)?);
    let jwks = Jwks::parse(verifier.jwks().to_string().as_bytes())?;
    let validator =
        Arc::new(TokenValidator::with_jwks(Some(&issuer), jwks).allow_mock(args.trust_mock));
    let signer = TokenSigner::from_parts(
        verifier.signer().pkcs8(),
        verifier.signer().cert_der().to_vec(),
    )?;
    let release = ReleaseState::new(store, validator, signer, &issuer);
    // One application, one OpenAPI document (`GET /openapi.json`): the
    // verifier's routes and the key release's, each from its handlers.
    let app = api(state).merge(release_api(release)).into_app();
    let rt = common::runtime()?;
    eprintln!("tee-attest serve: {issuer} (data {})", dir.display());
    rt.block_on(async move {
        match tls {
            Some((cert, key)) => {
                serve_app_tls(args.addr, app, cert, key, common::shutdown_signal()).await
            }
            None => {
                let listener = tokio::net::TcpListener::bind(args.addr)
                    .await
                    .map_err(|e| {
                        Error::with_source(
                            ErrorCode::InitializationFailed,
                            format!("binding {}", args.addr),
                            e,
                        )
                    })?;
                serve_app(listener, app, common::shutdown_signal()).await
            }
        }
    })
}
