//! The local verifier as an HTTP service shaped like Microsoft Azure
//! Attestation's REST API:
//!
//! | route | what |
//! |---|---|
//! | `POST /attest/AzureGuest` | AzureGuest evidence → sealed token (MAA's client protocol) |
//! | `POST /attest/SevSnpVm` | SNP report + VCEK chain + runtime data → token |
//! | `GET /certs` | the JWKS (keys with `x5c`) |
//! | `GET /.well-known/openid-configuration` | OpenID metadata (`issuer`, `jwks_uri`) |
//! | `GET /policies/{type}` | the policy (`AzureGuest`, `SevSnpVm`), as a signed token carrying `x-ms-policy` |
//! | `PUT /policies/{type}` | set the policy (text or JWS body) → `x-ms-policy-result: Updated` |
//! | `POST /policies/{type}:reset` | back to the default → `x-ms-policy-result: Removed` |
//!
//! `api-version` is accepted and ignored. Errors are MAA's body
//! `{"error":{"code","message"}}`. The signing key and the policy live in
//! the data directory, so several instances sharing it behave as one: each
//! picks up a policy another changed before its next request.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest_core::{Error, ErrorCode, VerifyOptions};
use tee_attest_maa::azureguest::{parse_request_body, OsInfo, RuntimeDataType, SevSnpVmRequest};
use tee_attest_maa::seal::seal_token;
use tee_attest_policy::{load_policy, JwsOptions};
use tee_attest_tpm::verify::TpmPublic;

use crate::{AttestationType, LocalVerifier, DEFAULT_POLICY};

/// The largest request body accepted (evidence with a TCG log fits easily).
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;
/// How long one request may take.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The service's state: the verifier and where its policy is kept.
pub struct ServiceState {
    verifier: Arc<LocalVerifier>,
    policy_dir: PathBuf,
    /// The policy text last applied, per attestation type.
    policy_seen: Mutex<std::collections::HashMap<AttestationType, String>>,
}

impl std::fmt::Debug for ServiceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceState")
            .field("policy_dir", &self.policy_dir)
            .finish_non_exhaustive()
    }
}

impl ServiceState {
    /// State for `verifier`, keeping the policy under `data_dir`. A policy
    /// already stored there is loaded (code 9 if it no longer parses).
    pub fn new(verifier: Arc<LocalVerifier>, data_dir: &Path) -> Result<Arc<Self>, Error> {
        let state = Arc::new(Self {
            verifier,
            policy_dir: data_dir.join("policies"),
            policy_seen: Mutex::new(std::collections::HashMap::new()),
        });
        for kind in AttestationType::ALL {
            state.refresh_policy(*kind)?;
        }
        Ok(state)
    }

    /// The verifier.
    pub fn verifier(&self) -> &Arc<LocalVerifier> {
        &self.verifier
    }

    /// Apply the stored policy (or the default when none is stored) if it
    /// differs from the one applied last. Comparing the text, not the file's
    /// time, catches every change another instance makes.
    fn policy_file(&self, kind: AttestationType) -> PathBuf {
        self.policy_dir.join(format!("{}.txt", kind.as_str()))
    }

    fn refresh_policy(&self, kind: AttestationType) -> Result<(), Error> {
        let text = match std::fs::read_to_string(self.policy_file(kind)) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => DEFAULT_POLICY.to_string(),
            Err(e) => {
                return Err(Error::with_source(
                    ErrorCode::InitializationFailed,
                    "reading the stored policy",
                    e,
                ))
            }
        };
        let mut seen = self
            .policy_seen
            .lock()
            .map_err(|_| internal("policy lock poisoned"))?;
        if seen.get(&kind).map(String::as_str) == Some(text.as_str()) {
            return Ok(());
        }
        self.verifier.set_policy_for(kind, &text)?;
        seen.insert(kind, text);
        Ok(())
    }

    /// Install (and store) a policy: text or a policy JWS. Code 9 if it
    /// does not parse.
    pub fn install_policy(&self, kind: AttestationType, text_or_jws: &str) -> Result<(), Error> {
        let doc = load_policy(text_or_jws.trim(), &JwsOptions::default())?;
        tee_attest_policy::Policy::parse(&doc.text)?;
        self.store_policy(kind, Some(&doc.text))
    }

    fn store_policy(&self, kind: AttestationType, text: Option<&str>) -> Result<(), Error> {
        let file = self.policy_file(kind);
        let io = |e| Error::with_source(ErrorCode::InitializationFailed, "storing the policy", e);
        match text {
            Some(t) => {
                std::fs::create_dir_all(&self.policy_dir).map_err(io)?;
                let tmp = file.with_extension("tmp");
                std::fs::write(&tmp, t).map_err(io)?;
                std::fs::rename(&tmp, &file).map_err(io)?;
            }
            None => match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            },
        }
        self.refresh_policy(kind)
    }
}

fn internal(msg: &str) -> Error {
    Error::new(ErrorCode::InitializationFailed, msg.to_string())
}

/// An error as MAA answers it.
struct ApiError(Error);

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = match self.0.code() {
            ErrorCode::AttestationFailed => (StatusCode::BAD_REQUEST, "AttestationFailed"),
            ErrorCode::AttestationParametersValidationFailed => {
                (StatusCode::BAD_REQUEST, "InvalidPolicy")
            }
            ErrorCode::InvalidInputParameter
            | ErrorCode::ReportParsingFailed
            | ErrorCode::EmptyReport
            | ErrorCode::InvalidJsonResponse
            | ErrorCode::EmptyRequestBody
            | ErrorCode::ParseResponseFailed => (StatusCode::BAD_REQUEST, "InvalidParameter"),
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        };
        (
            status,
            Json(json!({"error": {"code": code, "message": self.0.full_message()}})),
        )
            .into_response()
    }
}

fn kind_of(name: &str) -> Result<AttestationType, ApiError> {
    AttestationType::from_name(name).ok_or_else(|| not_found(name))
}

fn not_found(what: &str) -> ApiError {
    ApiError(Error::new(
        ErrorCode::InvalidInputParameter,
        format!(
            "unsupported attestation type {what:?}: this service appraises AzureGuest and SevSnpVm"
        ),
    ))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A token the service signs about itself (policy responses).
fn service_token(
    state: &ServiceState,
    mut claims: serde_json::Map<String, Value>,
) -> Result<Json<Value>, ApiError> {
    let v = &state.verifier;
    let t = now();
    claims.insert("iss".into(), json!(v.issuer()));
    claims.insert("iat".into(), json!(t));
    claims.insert("nbf".into(), json!(t));
    claims.insert("exp".into(), json!(t + 8 * 3600));
    let jwt = v
        .signer()
        .sign(
            &Value::Object(claims),
            &format!("{}/certs", v.issuer()),
            false,
        )
        .map_err(Error::from)?;
    Ok(Json(json!({ "token": jwt })))
}

/// An unsigned policy JWS, as MAA returns in `x-ms-policy`.
fn unsigned_policy_jws(text: &str) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
    let payload = URL_SAFE_NO_PAD
        .encode(json!({"AttestationPolicy": URL_SAFE_NO_PAD.encode(text)}).to_string());
    format!("{header}.{payload}.")
}

async fn certs(State(s): State<Arc<ServiceState>>) -> Json<Value> {
    Json(s.verifier.jwks())
}

async fn openid(State(s): State<Arc<ServiceState>>) -> Json<Value> {
    let iss = s.verifier.issuer();
    Json(json!({
        "issuer": iss,
        "jwks_uri": format!("{iss}/certs"),
        "response_types_supported": ["token", "none"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_methods_supported": ["none"],
        "claims_supported": ["x-ms-ver", "x-ms-attestation-type", "x-ms-policy-hash", "x-ms-runtime", "x-ms-isolation-tee", "nonce", "iss", "iat", "exp", "nbf", "jti"],
    }))
}

async fn get_policy(
    State(s): State<Arc<ServiceState>>,
    UrlPath(kind): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let kind = kind_of(&kind)?;
    s.refresh_policy(kind)?;
    let text = s.verifier.policy_text_for(kind);
    let mut claims = serde_json::Map::new();
    claims.insert("x-ms-policy".into(), json!(unsigned_policy_jws(&text)));
    service_token(&s, claims)
}

async fn put_policy(
    State(s): State<Arc<ServiceState>>,
    UrlPath(kind): UrlPath<String>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let kind = kind_of(&kind)?;
    let body = std::str::from_utf8(&body)
        .map_err(|_| Error::new(ErrorCode::InvalidInputParameter, "the policy is not UTF-8"))?;
    if body.trim().is_empty() {
        return Err(Error::new(ErrorCode::EmptyRequestBody, "empty policy").into());
    }
    let doc = load_policy(body.trim(), &JwsOptions::default())?;
    // Check it parses before storing it.
    tee_attest_policy::Policy::parse(&doc.text)?;
    s.store_policy(kind, Some(&doc.text))?;
    let mut claims = serde_json::Map::new();
    claims.insert("x-ms-policy-result".into(), json!("Updated"));
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, body.trim().as_bytes());
    claims.insert(
        "x-ms-policy-token-hash".into(),
        json!(URL_SAFE_NO_PAD.encode(digest)),
    );
    if let Some(signer) = &doc.signer {
        claims.insert("x-ms-policy-signer".into(), signer.claim());
    }
    service_token(&s, claims)
}

async fn post_policy(
    State(s): State<Arc<ServiceState>>,
    UrlPath(spec): UrlPath<String>,
) -> Result<Json<Value>, ApiError> {
    let Some(kind) = spec.strip_suffix(":reset") else {
        return Err(ApiError(Error::new(
            ErrorCode::InvalidInputParameter,
            format!("unknown policy operation {spec:?}"),
        )));
    };
    let kind = kind_of(kind)?;
    s.store_policy(kind, None)?;
    let mut claims = serde_json::Map::new();
    claims.insert("x-ms-policy-result".into(), json!("Removed"));
    service_token(&s, claims)
}

/// The claims MAA derives from the AzureGuest OS fields.
fn os_claims(os: &OsInfo) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("x-ms-azurevm-ostype".into(), json!(os.os_type));
    m.insert("x-ms-azurevm-osdistro".into(), json!(os.distro));
    m.insert(
        "x-ms-azurevm-osversion-major".into(),
        json!(os.version_major),
    );
    m.insert(
        "x-ms-azurevm-osversion-minor".into(),
        json!(os.version_minor),
    );
    m.insert("x-ms-azurevm-osbuild".into(), json!(os.build));
    m.insert(
        "x-ms-azurevm-is-windows".into(),
        json!(os.os_type.eq_ignore_ascii_case("windows")),
    );
    m
}

/// Appraise an AzureGuest request body and answer as MAA does: the token
/// sealed to the request's ephemeral key.
pub fn attest_azure_guest_body(verifier: &LocalVerifier, body: &[u8]) -> Result<String, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::new(
            ErrorCode::EmptyRequestBody,
            "empty AzureGuest request",
        ));
    }
    let (mut evidence, os) = parse_request_body(body)?;
    let tpm = evidence.tpm.as_ref().ok_or_else(|| {
        Error::new(
            ErrorCode::InvalidInputParameter,
            "AzureGuest evidence without TpmInfo",
        )
    })?;
    let enc_key = TpmPublic::parse_tpm2b(&tpm.enc_key_pub)?;
    // The protocol has no nonce field: the nonce is what the quote binds
    // (empty for Microsoft's client, the caller's nonce for az-cvm-tooling's);
    // the appraisal checks it against the client payload's nonce.
    evidence.nonce = tee_attest_tpm::verify::Attest::parse(&tpm.quote)?.extra_data;
    let jwt = verifier.attest_with_claims(&evidence, &VerifyOptions::default(), os_claims(&os))?;
    Ok(seal_token(&jwt, &enc_key.key)?)
}

/// Appraise a `SevSnpVm` request body: the report, its chain, runtime data.
pub fn attest_sev_snp_vm_body(verifier: &LocalVerifier, body: &[u8]) -> Result<String, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::new(
            ErrorCode::EmptyRequestBody,
            "empty SevSnpVm request",
        ));
    }
    let req = SevSnpVmRequest::from_body(body)?;
    let (report, certs) = req.decode_report()?;
    let runtime = req
        .runtime_data
        .as_ref()
        .map(|r| r.bytes().map(|b| (b, r.data_type == RuntimeDataType::Json)))
        .transpose()?;
    let jwt = verifier.attest_sev_snp_vm(
        &report,
        &certs,
        runtime.as_ref().map(|(b, j)| (b.as_slice(), *j)),
        req.nonce.as_deref(),
        req.draft_policy.as_deref(),
    )?;
    Ok(json!({ "token": jwt }).to_string())
}

/// Run one appraisal (CPU-bound) off the async workers, with the type's
/// policy refreshed first, and answer with its JSON body.
async fn attest_with(
    s: Arc<ServiceState>,
    kind: AttestationType,
    body: Bytes,
    appraise: fn(&LocalVerifier, &[u8]) -> Result<String, Error>,
) -> Result<Response, ApiError> {
    s.refresh_policy(kind)?;
    let out = tokio::task::spawn_blocking(move || appraise(&s.verifier, &body))
        .await
        .map_err(|e| {
            ApiError(Error::with_source(
                ErrorCode::InitializationFailed,
                "attestation task failed",
                e,
            ))
        })??;
    Ok((
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        out,
    )
        .into_response())
}

async fn attest_sev_snp_vm(
    State(s): State<Arc<ServiceState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    attest_with(s, AttestationType::SevSnpVm, body, attest_sev_snp_vm_body).await
}

async fn attest_azure_guest(
    State(s): State<Arc<ServiceState>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    attest_with(
        s,
        AttestationType::AzureGuest,
        body,
        attest_azure_guest_body,
    )
    .await
}

/// The service's routes.
pub fn router(state: Arc<ServiceState>) -> Router {
    Router::new()
        .route("/attest/AzureGuest", post(attest_azure_guest))
        .route("/attest/SevSnpVm", post(attest_sev_snp_vm))
        .route("/certs", get(certs))
        .route("/.well-known/openid-configuration", get(openid))
        .route(
            "/policies/{kind}",
            get(get_policy).put(put_policy).post(post_policy),
        )
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

fn with_timeout(router: Router) -> Router {
    router.layer(axum::middleware::from_fn(
        |req, next: axum::middleware::Next| async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
                Ok(resp) => resp,
                Err(_) => ApiError(Error::new(
                    ErrorCode::SendRequestFailed,
                    "the request took too long",
                ))
                .into_response(),
            }
        },
    ))
}

/// Serve HTTPS (rustls) on `addr` with a PEM certificate chain and key
/// until `shutdown` completes; requests in flight get 10 s to finish.
pub async fn serve_tls(
    addr: std::net::SocketAddr,
    state: Arc<ServiceState>,
    cert_pem: &Path,
    key_pem: &Path,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve_app_tls(addr, router(state), cert_pem, key_pem, shutdown).await
}

/// Serve on `listener` until `shutdown` completes (then finish the requests
/// in flight). Each request may take at most [`REQUEST_TIMEOUT`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ServiceState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve_app(listener, router(state), shutdown).await
}

/// [`serve`] for any router built on [`router`] (e.g. merged with the key
/// release routes): the same time-out and graceful shutdown.
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    axum::serve(listener, with_timeout(app))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|e| Error::with_source(ErrorCode::InitializationFailed, "serving", e))
}

/// [`serve_tls`] for any router built on [`router`].
pub async fn serve_app_tls(
    addr: std::net::SocketAddr,
    app: Router,
    cert_pem: &Path,
    key_pem: &Path,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let tls = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert_pem, key_pem)
        .await
        .map_err(|e| {
            Error::with_source(
                ErrorCode::InitializationFailed,
                "loading the TLS certificate and key",
                e,
            )
        })?;
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(Duration::from_secs(10)));
    });
    axum_server::bind_rustls(addr, tls)
        .handle(handle)
        .serve(with_timeout(app).into_make_service())
        .await
        .map_err(|e| Error::with_source(ErrorCode::InitializationFailed, "serving HTTPS", e))
}
