//! `tee-attest serve`: the local verifier as an MAA-compatible HTTP service,
//! and the Key Vault SKR-compatible key release next to it.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;
use std::sync::Arc;
use tee_attest_core::{Error, ErrorCode, Result};

use tee_attest_keyrelease::service::{router as release_router, ReleaseState};
use tee_attest_keyrelease::KeyStore;
use tee_attest_maa::{Jwks, TokenValidator};
use tee_attest_verifier::service::{router, serve_app, serve_app_tls, ServiceState};
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
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { _ = ctrl_c => {}, _ = term => {} }
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
    let verifier = common::local_verifier(&dir, &issuer, None, args.trust_mock)?;
    let state = ServiceState::new(verifier.clone(), &dir)?;
    if let Some(p) = &args.policy {
        let text = std::fs::read_to_string(p).map_err(|e| {
            Error::with_source(
                ErrorCode::InvalidInputParameter,
                format!("reading {}", p.display()),
                e,
            )
        })?;
        state.install_policy(tee_attest_verifier::AttestationType::AzureGuest, &text)?;
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
    let app = router(state).merge(release_router(release));
    let rt = common::runtime()?;
    eprintln!("tee-attest serve: {issuer} (data {})", dir.display());
    rt.block_on(async move {
        match tls {
            Some((cert, key)) => serve_app_tls(args.addr, app, cert, key, shutdown_signal()).await,
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
                serve_app(listener, app, shutdown_signal()).await
            }
        }
    })
}
