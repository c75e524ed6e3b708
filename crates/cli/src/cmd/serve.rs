//! `tee-attest serve`: the local verifier as an MAA-compatible HTTP service,
//! and the Key Vault SKR-compatible key release next to it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use std::sync::Arc;
use tee_attest_core::{Error, ErrorCode, Result};

use tee_attest_keyrelease::service::{api as release_api, ReleaseState};
use tee_attest_keyrelease::store::KEK_FILE;
use tee_attest_keyrelease::{Kek, KeyStore};
use tee_attest_maa::{HttpConfig, Jwks, TokenValidator, ValidationProfile};
use tee_attest_store::{Pg, StoreChoice};
use tee_attest_verifier::audit::AuditConfig;
use tee_attest_verifier::service::limits::CLIENT_PAYLOAD_KEYS_CEILING;
use tee_attest_verifier::service::shared::{sync_signing_key, SigningKeySlot};
use tee_attest_verifier::service::{
    api, ita, serve_observed, serve_observed_tls, AdminConfig, Cidr, Limits, OpsConfig,
    ServiceState,
};
use tee_attest_verifier::KeySet;

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
    /// Trust the repository's mock AMD and Intel roots, and serve the mock
    /// Intel platform's collateral (development only).
    #[arg(long)]
    pub trust_mock: bool,
    /// Intel DCAP collateral for TdxVm/SgxEnclave: an offline directory of
    /// Intel PCS v4 responses and CRLs or dcap-qvl collateral JSON
    /// (default: $TEE_ATTEST_DCAP_OFFLINE_DIR).
    #[arg(long, value_name = "DIR")]
    pub intel_collateral: Option<PathBuf>,
    /// A PCCS or Intel PCS base URL for DCAP collateral (fetched when not
    /// cached, then remembered while current). No network without it.
    #[arg(long, value_name = "URL")]
    pub pccs_url: Option<String>,
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
    /// Serve Intel Trust Authority's API (`GET /appraisal/v2/nonce`,
    /// `POST /appraisal/v2/attest[/azure]`) to holders of these API keys:
    /// a file, one key per line (blank lines and `#` comments skipped).
    /// Without it those routes are not served.
    #[arg(long, value_name = "FILE")]
    pub ita_api_keys: Option<PathBuf>,
    /// Seconds an ITA nonce is accepted after it was issued (at most 3600).
    #[arg(long, default_value = "300", value_parser = seconds, value_name = "SECS",
        requires = "ita_api_keys")]
    pub ita_nonce_ttl: Duration,
    /// The longest validity of a token, in seconds (a policy's
    /// `report_validity_in_minutes` is capped to it): after a signing-key
    /// rotation the previous key stays in `/certs` this long.
    #[arg(long, default_value = "28800", value_parser = validity_seconds, value_name = "SECS")]
    pub max_token_validity: Duration,
    /// Keep admin audit rows this many days.
    #[arg(long, default_value_t = 90)]
    pub audit_max_age_days: u64,
    /// Keep at most this many admin audit rows.
    #[arg(long, default_value_t = 100_000)]
    pub audit_max_rows: u64,
    /// What a client can make the service spend (docs/SECURITY.md, "Limits").
    #[command(flatten)]
    pub limits: LimitArgs,
    /// Logs, client addresses, metrics (docs/DEPLOYMENT.md).
    #[command(flatten)]
    pub ops: OpsArgs,
    /// Where the fleet's shared state lives: `local` (the data directory,
    /// the default) or `postgres://USER:PASSWORD@HOST:PORT/DB?sslmode=verify-full`
    /// shared by every instance (default: $TEE_ATTEST_STORE, which keeps
    /// the password out of the process list; else local): policies and
    /// their history, signing keys, the admin audit, the key release's
    /// keys, nonces and audit, the ITA profile's spent nonces.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// CA certificates (PEM) the database's TLS certificate must chain to
    /// (with sslmode=require, verify-ca or verify-full).
    #[arg(long, value_name = "FILE")]
    pub store_ca: Option<PathBuf>,
}

/// How the log is written.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line (fields flattened; the request's span, with
    /// its `request_id`, in `span` and `spans`).
    Json,
}

/// The `serve` flags for operating it: logs, proxies, metrics.
#[derive(Args, Debug)]
pub struct OpsArgs {
    /// The log's format on standard error.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Which log lines to write: a level (`error`, `warn`, `info`, `debug`,
    /// `trace`) or per-target directives (`info,tee_attest_verifier=debug`).
    #[arg(long, default_value = "info", value_name = "FILTER")]
    pub log_level: String,
    /// A reverse proxy or load balancer (address or CIDR network) whose
    /// X-Forwarded-For is believed for the client's address. Repeatable;
    /// none by default: the client is the socket peer.
    #[arg(long = "trusted-proxy", value_name = "CIDR")]
    pub trusted_proxies: Vec<Cidr>,
    /// Clients (address or CIDR network) that may read GET /metrics.
    /// Repeatable; default: loopback only (127.0.0.0/8, ::1).
    #[arg(long = "metrics-allow", value_name = "CIDR")]
    pub metrics_allow: Vec<Cidr>,
}

impl OpsArgs {
    /// The service's operations configuration these flags ask for.
    pub fn config(&self) -> OpsConfig {
        let mut c = OpsConfig::default().with_trusted_proxies(self.trusted_proxies.clone());
        if !self.metrics_allow.is_empty() {
            c = c.with_metrics_allow(self.metrics_allow.clone());
        }
        c
    }

    /// Install the log subscriber (standard error). Code 8 for a filter
    /// that does not parse.
    pub fn init_logging(&self) -> Result<()> {
        use std::io::IsTerminal as _;
        let filter = tracing_subscriber::EnvFilter::try_new(&self.log_level).map_err(|e| {
            Error::new(
                ErrorCode::InvalidInputParameter,
                format!("--log-level {:?}: {e}", self.log_level),
            )
        })?;
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        let installed = match self.log_format {
            LogFormat::Text => builder
                .with_ansi(std::io::stderr().is_terminal())
                .try_init(),
            LogFormat::Json => builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(true)
                .try_init(),
        };
        installed.map_err(|e| {
            Error::new(
                ErrorCode::InitializationFailed,
                format!("installing the log subscriber: {e}"),
            )
        })
    }
}

/// The `serve` flags that bound what a client can make the service spend;
/// the defaults are [`Limits::default`]'s.
#[derive(Args, Debug)]
pub struct LimitArgs {
    /// Connections served at once; past it new ones wait in the backlog and
    /// connections with no request being handled are closed to make room.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,
    /// Seconds from a connection's start (or its previous answer) to the end
    /// of a request's headers, TLS handshake included.
    #[arg(long, default_value = "10", value_parser = seconds, value_name = "SECS")]
    pub header_read_timeout: Duration,
    /// Seconds without a byte moving, while no request is being handled,
    /// after which a connection is closed.
    #[arg(long, default_value = "30", value_parser = seconds, value_name = "SECS")]
    pub idle_timeout: Duration,
    /// Seconds to receive a request body (else 408).
    #[arg(long, default_value = "20", value_parser = seconds, value_name = "SECS")]
    pub body_read_timeout: Duration,
    /// Seconds to handle a request once its body is read (else 503).
    #[arg(long, default_value = "30", value_parser = seconds, value_name = "SECS")]
    pub request_timeout: Duration,
    /// Seconds requests in flight get to finish after SIGTERM/SIGINT.
    #[arg(long, default_value = "10", value_parser = seconds, value_name = "SECS")]
    pub shutdown_grace: Duration,
    /// The largest request header section, bytes (at least 8192).
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(8192..))]
    pub max_header_bytes: u32,
    /// The largest request body, bytes (else 413).
    #[arg(long, default_value_t = 4 * 1024 * 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_body_bytes: u32,
    /// Bytes of request bodies held in memory at once, all requests
    /// together (else 503 with Retry-After).
    #[arg(long, default_value_t = 64 * 1024 * 1024, value_parser = clap::value_parser!(u64).range(1024..))]
    pub max_body_memory: u64,
    /// Appraisals running at once (default: twice the CPUs).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_concurrent_appraisals: Option<u32>,
    /// Appraisals waiting for a free slot; past it the answer is 429 with
    /// Retry-After.
    #[arg(long, default_value_t = 64)]
    pub max_queued_appraisals: u32,
    /// The deepest JSON nesting accepted in a request and the documents it
    /// carries.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_json_depth: u32,
    /// The most AzureGuest ClientPayload members (at most 1024).
    #[arg(long, default_value_t = 64,
        value_parser = clap::value_parser!(u32).range(0..=CLIENT_PAYLOAD_KEYS_CEILING as i64))]
    pub max_client_payload_keys: u32,
    /// The most bytes of ClientPayload names and values together.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_client_payload_bytes: u32,
    /// The most certificates in a request's VCEK chain.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_chain_certificates: u32,
    /// The largest VCEK chain in a request (PEM), bytes.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_chain_bytes: u32,
}

/// Seconds, possibly fractional (`0.5`), more than zero.
fn seconds(s: &str) -> std::result::Result<Duration, String> {
    let v: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(v.is_finite() && v > 0.0 && v <= 86_400.0) {
        return Err(format!("{s:?}: give more than 0 and at most 86400 seconds"));
    }
    Ok(Duration::from_secs_f64(v))
}

/// Whole seconds of token validity: at least 60, at most a year.
fn validity_seconds(s: &str) -> std::result::Result<Duration, String> {
    let v: u64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number of seconds"))?;
    if !(60..=365 * 24 * 3600).contains(&v) {
        return Err(format!("{s:?}: give 60 to 31536000 seconds"));
    }
    Ok(Duration::from_secs(v))
}

impl LimitArgs {
    /// The service's limits these flags ask for.
    pub fn limits(&self) -> Limits {
        let mut l = Limits::default();
        let n = |v: u32| usize::try_from(v).unwrap_or(usize::MAX);
        l.max_connections = n(self.max_connections);
        l.header_read_timeout = self.header_read_timeout;
        l.idle_timeout = self.idle_timeout;
        l.body_read_timeout = self.body_read_timeout;
        l.request_timeout = self.request_timeout;
        l.shutdown_grace = self.shutdown_grace;
        l.max_header_bytes = n(self.max_header_bytes);
        l.max_body_bytes = n(self.max_body_bytes);
        l.max_body_memory = usize::try_from(self.max_body_memory).unwrap_or(usize::MAX);
        if let Some(c) = self.max_concurrent_appraisals {
            l.max_concurrent_appraisals = n(c);
        }
        l.max_queued_appraisals = n(self.max_queued_appraisals);
        l.request.max_body_bytes = l.max_body_bytes;
        l.request.max_json_depth = n(self.max_json_depth);
        l.request.max_client_payload_keys = n(self.max_client_payload_keys);
        l.request.max_client_payload_bytes = n(self.max_client_payload_bytes);
        l.request.max_chain_certificates = n(self.max_chain_certificates);
        l.request.max_chain_bytes = n(self.max_chain_bytes);
        l
    }
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

/// The ITA profile's routes when `--ita-api-keys` names the keys (read
/// once, never logged), else `None`: the routes are not served.
fn ita_api(
    args: &ServeArgs,
    state: &Arc<ServiceState>,
) -> Result<Option<tee_attest_verifier::service::Api>> {
    let Some(path) = &args.ita_api_keys else {
        return Ok(None);
    };
    if args.ita_nonce_ttl > ita::MAX_NONCE_TTL {
        return Err(Error::new(
            ErrorCode::InvalidInputParameter,
            format!(
                "--ita-nonce-ttl: at most {} seconds",
                ita::MAX_NONCE_TTL.as_secs()
            ),
        ));
    }
    let text = zeroize::Zeroizing::new(common::read_text(
        path,
        common::FileKind::Credential,
        ErrorCode::InvalidInputParameter,
    )?);
    let keys = ita::ApiKeys::parse(&text).map_err(|e| {
        Error::new(
            e.code(),
            format!("--ita-api-keys {}: {}", path.display(), e.message()),
        )
    })?;
    let n = keys.len();
    let profile = ita::ItaProfile::new(keys).with_nonce_ttl(args.ita_nonce_ttl);
    let api = ita::api(state.clone(), profile)?;
    tracing::info!(
        api_keys = n,
        nonce_ttl_secs = args.ita_nonce_ttl.as_secs(),
        "Intel Trust Authority's API is served (/appraisal/v2/nonce, /appraisal/v2/attest, \
         /appraisal/v2/attest/azure)"
    );
    Ok(Some(api))
}

/// The fleet's database, when `--store` (or `$TEE_ATTEST_STORE`) names
/// one: connected and migrated, and the signing keys every instance shares
/// taken from it into the data directory (the first instance uploads its
/// own, sealed under the KEK), before anything loads them.
fn open_shared_store(
    rt: &tokio::runtime::Runtime,
    choice: &StoreChoice,
    dir: &std::path::Path,
    ita: bool,
) -> Result<Option<(Pg, Kek)>> {
    let Some(opts) = choice.postgres() else {
        return Ok(None);
    };
    let kek = Kek::from_env_or_file(&dir.join(KEK_FILE))?;
    let pg = rt.block_on(async {
        let pg = Pg::connect(opts).await?;
        let seal = |aad: &[u8], data: &[u8]| kek.seal(aad, data).map_err(Error::from);
        let open = |aad: &[u8], sealed: &[u8]| kek.open(aad, sealed).map_err(Error::from);
        let mut slots = vec![SigningKeySlot::Verifier];
        if ita {
            slots.push(SigningKeySlot::Ita);
        }
        for slot in slots {
            let kid = sync_signing_key(&pg, slot, dir, &seal, &open).await?;
            tracing::info!(?slot, kid, "signing key shared through the store");
        }
        Ok::<_, Error>(pg)
    })?;
    tracing::info!(store = %choice, "state shared through the database");
    Ok(Some((pg, kek)))
}

/// Run `serve` until SIGINT or SIGTERM.
pub fn run(args: ServeArgs) -> Result<()> {
    args.ops.init_logging()?;
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
    opts.intel_collateral = args.intel_collateral.clone();
    opts.pccs_url = args.pccs_url.clone();
    let rt = common::runtime()?;
    let store_choice = StoreChoice::from_args(args.store.as_deref(), args.store_ca.clone())?;
    let shared = open_shared_store(&rt, &store_choice, &dir, args.ita_api_keys.is_some())?;
    let keys = Arc::new(KeySet::open(&dir, args.max_token_validity.as_secs())?);
    let verifier = tee_attest::verifiers::local_verifier_with_keys(&opts, keys.clone())?;
    let admin = admin_config(&args)?;
    let limits = args.limits.limits();
    let state = ServiceState::with_ops(
        verifier.clone(),
        &dir,
        admin,
        limits.clone(),
        args.ops.config(),
    )?;
    if args.insecure_admin {
        tracing::warn!(
            "--insecure-admin: anyone who reaches {} can change the attestation policy \
             (development only)",
            args.addr
        );
    }
    if let Some((pg, _)) = &shared {
        rt.block_on(state.attach_store(pg.clone()))?;
    }
    if state.isolated()? {
        tracing::info!("isolated mode: policies must be signed by a policy-management certificate");
    }
    if let Some(p) = &args.policy {
        let text = common::read_text(
            p,
            common::FileKind::Policy,
            ErrorCode::InvalidInputParameter,
        )?;
        rt.block_on(state.install_policy("AzureGuest", &text))?;
    }
    // Key release (Azure Key Vault SKR-compatible) next to the verifier:
    // it releases keys to holders of tokens this verifier issued, and signs
    // its responses with the verifier's key.
    let store = Arc::new(match shared {
        Some((pg, kek)) => rt.block_on(KeyStore::open_postgres(&pg, kek))?,
        None => KeyStore::open_in(&dir)?,
    });
    // It validates against the live key set (the previous key's tokens
    // keep releasing until it retires) and signs with the current key.
    let jwks = Jwks::parse(verifier.jwks().to_string().as_bytes())?;
    let validator =
        Arc::new(TokenValidator::with_jwks(Some(&issuer), jwks).allow_mock(args.trust_mock));
    let probe = store.clone();
    let handle = rt.handle().clone();
    state.add_readiness_check(
        "key-store",
        // Run on a blocking thread at each probe: block on the async ping.
        Arc::new(move || {
            handle
                .block_on(probe.ping())
                .map_err(|e| format!("the key store does not answer: {e}"))
        }),
    );
    let release = ReleaseState::with_key_set(
        store,
        validator,
        keys,
        &issuer,
        Some(state.metrics().clone()),
    );
    let ops = state.ops().clone();
    let ita_api = ita_api(&args, &state)?;
    // One application, one OpenAPI document (`GET /openapi.json`): the
    // verifier's routes, the ITA profile's when configured, and the key
    // release's, each from its handlers.
    let mut service_api = api(state);
    if let Some(i) = ita_api {
        service_api = service_api.merge(i);
    }
    let app = service_api.merge(release_api(release)).into_app();
    tracing::info!(
        issuer = %issuer,
        data_dir = %dir.display(),
        trusted_proxies = ?args.ops.trusted_proxies.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "tee-attest serve: serving"
    );
    rt.block_on(async move {
        match tls {
            Some((cert, key)) => {
                serve_observed_tls(
                    args.addr,
                    app,
                    cert,
                    key,
                    limits,
                    ops,
                    common::shutdown_signal(),
                )
                .await
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
                serve_observed(listener, app, limits, ops, common::shutdown_signal()).await
            }
        }
    })
}
