//! The release service, shaped like Azure Key Vault's Secure Key Release:
//!
//! | route | what |
//! |---|---|
//! | `POST /keys/{name}/release` | release the current version |
//! | `POST /keys/{name}/{version}/release` | release that version |
//! | `GET /keyrelease/certs` | the JWKS that verifies release responses |
//!
//! The routes and their OpenAPI description come from one table ([`api`];
//! `tee_attest_verifier::service::openapi`).
//!
//! The body is `{"target": TOKEN, "nonce": …, "enc": ENC}` (`enc` defaults
//! to `CKM_RSA_AES_KEY_WRAP`); `api-version` is accepted and echoed. The
//! answer is `{"value": JWS}` whose payload is
//! `{"request": {...}, "response": {"key": {"key": JWK with key_hsm,
//! "attributes", "release_policy"}}}`, signed RS256 with `x5c`.
//!
//! Checks, in order: `enc` (400) → the token validated: signature, issuer,
//! expiry, mock evidence only when trusted (400) → the key exists (404) →
//! its release policy holds on the token's claims (403, naming the failing
//! condition) → the token's ephemeral key is usable (400) → the nonce was
//! not used before for this key (403). Every decision is audited
//! ([`KeyStore::audit`]): each release is a row; refusals of one key with
//! the same issuer and reason share a row with a count within the store's
//! refusal window, and the table is bounded by age and rows
//! ([`KeyStore::with_audit_config`]), so that anonymous refused requests
//! cannot grow it without bound. Errors are `{"error": {"code",
//! "message"}}`; internal failures say nothing more than that.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use tee_attest_core::{AttestationToken, KeyBroker, KeyReleaseRequest, ReleasedKey};
use tee_attest_maa::TokenValidator;
use tee_attest_policy::ReleasePolicy;
use tee_attest_verifier::service::openapi::{
    ErrorBody, Jwks, PathParams, RequestBody, RETRY_AFTER_SECS,
};
use tee_attest_verifier::service::{Api, Metrics, ReleaseDecision, Routes, Store};
use tee_attest_verifier::{KeySet, TokenSigner};
use utoipa::ToSchema;

use crate::error::{KeyReleaseError, Result};
use crate::store::{AuditRecord, KeyInfo, KeySpec, KeyStore};
use crate::wrap::{wrap_key_hsm, wrap_key_of, Enc};

/// The largest request body accepted.
pub const BODY_LIMIT: usize = 1024 * 1024 + 4096;
/// The longest nonce accepted (characters).
pub const MAX_NONCE_LEN: usize = 1024;
/// The route of the JWKS that verifies release responses.
pub const CERTS_PATH: &str = "/keyrelease/certs";
/// The `api-version` echoed when the request gives none.
pub const DEFAULT_API_VERSION: &str = "7.4";

/// A release request, as parsed from the URL and body.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ReleaseRequest {
    /// The key's name.
    pub name: String,
    /// The version, `None` for the current one.
    pub version: Option<String>,
    /// The attestation token (`target`).
    pub target: String,
    /// The wrapping algorithm as sent (`None`: `CKM_RSA_AES_KEY_WRAP`).
    pub enc: Option<String>,
    /// The caller's nonce, echoed in the response; a nonce is accepted once
    /// per key.
    pub nonce: Option<String>,
    /// The `api-version` query parameter.
    pub api_version: Option<String>,
}

impl ReleaseRequest {
    /// A request for the current version of `name` with `target`.
    pub fn new(name: impl Into<String>, target: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            target: target.into(),
            ..Self::default()
        }
    }
}

/// The release service: store, token validator, response signer.
pub struct ReleaseState {
    store: Arc<KeyStore>,
    validator: Arc<TokenValidator>,
    keys: Arc<KeySet>,
    /// Whether `validator` follows `keys` (its key set replaced when the
    /// published keys change), and the generation it last took.
    follow_keys: bool,
    synced: AtomicU64,
    base_url: String,
    /// Where decisions and store failures are counted (the verifier
    /// service's `GET /metrics`), if anywhere.
    metrics: Option<Arc<Metrics>>,
}

impl std::fmt::Debug for ReleaseState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseState")
            .field("base_url", &self.base_url)
            .field("validator", &self.validator)
            .finish_non_exhaustive()
    }
}

impl ReleaseState {
    /// A service releasing keys of `store` to holders of tokens that
    /// `validator` accepts, signing responses with `signer`; `base_url` is
    /// the service's public URL (the keys' `kid` is
    /// `{base_url}/keys/{name}/{version}`).
    pub fn new(
        store: Arc<KeyStore>,
        validator: Arc<TokenValidator>,
        signer: TokenSigner,
        base_url: impl Into<String>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            validator,
            keys: Arc::new(KeySet::fixed(signer)),
            follow_keys: false,
            synced: AtomicU64::new(u64::MAX),
            base_url: base_url.into().trim_end_matches('/').to_string(),
            metrics: None,
        })
    }

    /// [`ReleaseState::new`], counting each decision and each store failure
    /// in `metrics` (the verifier service's: `ServiceState::metrics`).
    pub fn with_metrics(
        store: Arc<KeyStore>,
        validator: Arc<TokenValidator>,
        signer: TokenSigner,
        base_url: impl Into<String>,
        metrics: Arc<Metrics>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            validator,
            keys: Arc::new(KeySet::fixed(signer)),
            follow_keys: false,
            synced: AtomicU64::new(u64::MAX),
            base_url: base_url.into().trim_end_matches('/').to_string(),
            metrics: Some(metrics),
        })
    }

    /// A service that validates tokens against the live key set `keys`
    /// (`validator` must be a fixed-keys one: its keys are replaced by the
    /// published ones whenever they change, so tokens of the previous key
    /// keep releasing until it retires) and signs its responses with the
    /// current key.
    pub fn with_key_set(
        store: Arc<KeyStore>,
        validator: Arc<TokenValidator>,
        keys: Arc<KeySet>,
        base_url: impl Into<String>,
        metrics: Option<Arc<Metrics>>,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            validator,
            keys,
            follow_keys: true,
            synced: AtomicU64::new(u64::MAX),
            base_url: base_url.into().trim_end_matches('/').to_string(),
            metrics,
        })
    }

    /// Brings the validator's keys up to the published set.
    fn sync_keys(&self) -> Result<()> {
        if !self.follow_keys {
            return Ok(());
        }
        let generation = self.keys.generation();
        if self.synced.load(Ordering::Acquire) == generation {
            return Ok(());
        }
        let jwks = tee_attest_maa::Jwks::parse(self.keys.jwks().to_string().as_bytes())
            .map_err(KeyReleaseError::Token)?;
        self.validator.replace_jwks(jwks);
        self.synced.store(generation, Ordering::Release);
        Ok(())
    }

    /// Count a decision (and a store failure behind it) when counting.
    fn count(&self, out: std::result::Result<(), &KeyReleaseError>) {
        let Some(m) = &self.metrics else {
            return;
        };
        let Err(e) = out else {
            m.key_release(ReleaseDecision::Released);
            return;
        };
        use KeyReleaseError as E;
        let decision = match e {
            E::PolicyRefused(_) => ReleaseDecision::Denied,
            E::NonceReplayed => ReleaseDecision::Replayed,
            E::KeyNotFound { .. } => ReleaseDecision::NotFound,
            E::Token(_) => ReleaseDecision::InvalidToken,
            E::InvalidInput(_)
            | E::UnsupportedEnc { .. }
            | E::NoEphemeralKey
            | E::BadEphemeralKey(_) => ReleaseDecision::BadRequest,
            _ => ReleaseDecision::Error,
        };
        m.key_release(decision);
        if matches!(e, E::Store(_) | E::Kek(_) | E::Unavailable(_)) {
            m.store_error(Store::Keys);
        }
    }

    /// Count a failure to write the audit.
    fn count_store_error(&self) {
        if let Some(m) = &self.metrics {
            m.store_error(Store::Keys);
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<KeyStore> {
        &self.store
    }

    /// The JWKS that verifies release responses.
    pub fn jwks(&self) -> Value {
        self.keys.jwks()
    }

    /// The `kid` URL of a key version.
    pub fn kid(&self, name: &str, version: u32) -> String {
        format!("{}/keys/{name}/{version}", self.base_url)
    }

    /// Decide a release and audit the decision: the signed response (the
    /// JWS of `{"value": …}`) or the refusal.
    ///
    /// A release spends its nonce and writes its audit row in one
    /// transaction ([`KeyStore::record_release`]), after the response is
    /// signed: the response is returned only if both were written, and a
    /// nonce is never spent without its release (nor a release made
    /// without its audit row).
    pub async fn release(&self, req: &ReleaseRequest) -> Result<String> {
        let mut audit = AuditRecord::new(&req.name, "refused");
        audit.version = req.version.clone();
        let e = match self.decide(req, &mut audit).await {
            Ok((jws, key_name)) => {
                audit.decision = "released".into();
                match self
                    .store
                    .record_release(&key_name, req.nonce.as_deref(), &audit)
                    .await
                {
                    Ok(_) => {
                        self.count(Ok(()));
                        tracing::info!(key = %req.name, version = ?audit.version, jti = ?audit.jti, "key released");
                        return Ok(jws);
                    }
                    // Nothing was written: audit the refusal below.
                    Err(e @ KeyReleaseError::NonceReplayed) => {
                        audit.decision = "refused".into();
                        e
                    }
                    // A release that cannot be recorded does not happen.
                    Err(e) => {
                        self.count_store_error();
                        if let Some(m) = &self.metrics {
                            m.key_release(ReleaseDecision::Error);
                        }
                        tracing::warn!(key = %req.name, error = %e, "recording a release failed: not released");
                        return Err(e);
                    }
                }
            }
            Err(e) => e,
        };
        audit.reason = Some(e.to_string());
        self.count(Err(&e));
        if let Err(ae) = self.store.audit(&audit).await {
            self.count_store_error();
            tracing::warn!(error = %ae, "writing the audit row of a refusal failed");
        }
        tracing::info!(key = %req.name, reason = %e, "key release refused");
        Err(e)
    }

    /// Every check and the signed response; the nonce is checked (and
    /// spent) by the caller, with the audit row. Returns the JWS and the
    /// key's name.
    async fn decide(
        &self,
        req: &ReleaseRequest,
        audit: &mut AuditRecord,
    ) -> Result<(String, String)> {
        let enc = match &req.enc {
            Some(e) => Enc::parse(e)?,
            None => Enc::CkmRsaAesKeyWrap,
        };
        if let Some(n) = &req.nonce {
            if n.is_empty() || n.chars().count() > MAX_NONCE_LEN {
                return Err(KeyReleaseError::InvalidInput(format!(
                    "the nonce must be 1 to {MAX_NONCE_LEN} characters"
                )));
            }
        }
        if req.target.trim().is_empty() {
            return Err(KeyReleaseError::InvalidInput(
                "`target` (the attestation token) is missing".into(),
            ));
        }
        // 1. The token.
        self.sync_keys()?;
        let token = self
            .validator
            .validate(&req.target, None)
            .await
            .map_err(KeyReleaseError::Token)?;
        audit.jti = token
            .claim("jti")
            .and_then(Value::as_str)
            .map(|s| s.chars().take(256).collect());
        audit.issuer = token.issuer().map(|s| s.chars().take(512).collect());
        // 2. The key.
        let not_found = || KeyReleaseError::KeyNotFound {
            name: req.name.chars().take(128).collect(),
            version: req.version.as_ref().map(|v| v.chars().take(64).collect()),
        };
        let version = match &req.version {
            None => None,
            Some(v) => Some(v.parse::<u32>().map_err(|_| not_found())?),
        };
        let key = self
            .store
            .get(&req.name, version)
            .await?
            .ok_or_else(not_found)?;
        audit.version = Some(key.version.to_string());
        // 3. Its release policy, on the validated claims.
        let policy = ReleasePolicy::parse(&key.policy)?;
        let decision = policy.evaluate(token.claims());
        if !decision.released {
            return Err(KeyReleaseError::PolicyRefused(decision.reasons.join("; ")));
        }
        // 4. The wrap key (5. the nonce: with the audit row, by the caller).
        let wrap_key = wrap_key_of(&token)?;
        // 6. Wrap and sign.
        let kid = self.kid(&key.name, key.version);
        let material = self.store.material(&key).await?;
        let key_hsm = wrap_key_hsm(enc, &wrap_key, &kid, &material)?;
        drop(material);
        let payload = self.payload(req, enc, &kid, &key, key_hsm);
        let jws = self
            .keys
            .current()
            .sign(&payload, &format!("{}{CERTS_PATH}", self.base_url), false)
            .map_err(|e| KeyReleaseError::Wrap(format!("signing the response: {e}")))?;
        Ok((jws, key.name))
    }

    fn payload(
        &self,
        req: &ReleaseRequest,
        enc: Enc,
        kid: &str,
        key: &KeyInfo,
        key_hsm: String,
    ) -> Value {
        let mut jwk: Map<String, Value> = key.public_jwk.as_object().cloned().unwrap_or_default();
        let (kty, ops): (&str, &[&str]) = match key.spec {
            KeySpec::Oct256 => ("oct-HSM", &["encrypt", "decrypt", "wrapKey", "unwrapKey"]),
            KeySpec::EcP256 | KeySpec::EcP384 => ("EC-HSM", &["sign", "verify"]),
            _ => (
                "RSA-HSM",
                &[
                    "encrypt",
                    "decrypt",
                    "sign",
                    "verify",
                    "wrapKey",
                    "unwrapKey",
                ],
            ),
        };
        jwk.insert("kid".into(), json!(kid));
        jwk.insert("kty".into(), json!(kty));
        jwk.insert("key_ops".into(), json!(ops));
        jwk.insert("key_hsm".into(), json!(key_hsm));
        let mut request = Map::new();
        request.insert(
            "api-version".into(),
            json!(req.api_version.as_deref().unwrap_or(DEFAULT_API_VERSION)),
        );
        request.insert("enc".into(), json!(enc.name()));
        request.insert("kid".into(), json!(kid));
        if let Some(n) = &req.nonce {
            request.insert("nonce".into(), json!(n));
        }
        json!({
            "request": request,
            "response": {
                "key": {
                    "key": jwk,
                    "attributes": {
                        "enabled": true,
                        "exportable": true,
                        "created": key.created,
                        "updated": key.created,
                        "recoveryLevel": "Purgeable",
                        "recoverableDays": 0,
                    },
                    "release_policy": {
                        "contentType": "application/json; charset=utf-8",
                        "data": URL_SAFE_NO_PAD.encode(&key.policy),
                        "immutable": false,
                    },
                }
            }
        })
    }
}

/// In-process release: the same decision as the HTTP route.
#[async_trait]
impl KeyBroker for ReleaseState {
    async fn release(
        &self,
        token: &AttestationToken,
        request: &KeyReleaseRequest,
    ) -> tee_attest_core::Result<ReleasedKey> {
        let mut req = ReleaseRequest::new(request.name.clone(), token.raw());
        req.version = request.version.clone();
        req.enc = Some(request.enc.clone());
        req.nonce = request.nonce.clone();
        let jws = ReleaseState::release(self, &req).await?;
        let kid = match &request.version {
            Some(v) => format!("{}/{v}", request.name),
            None => request.name.clone(),
        };
        Ok(ReleasedKey::new(kid, jws))
    }
}

/// An error as Key Vault answers it: `{"error": {"code", "message"}}`.
pub struct ApiError(pub KeyReleaseError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        use KeyReleaseError as E;
        let (status, code) = match &self.0 {
            E::KeyNotFound { .. } => (StatusCode::NOT_FOUND, "KeyNotFound"),
            E::PolicyRefused(_) | E::NonceReplayed => (StatusCode::FORBIDDEN, "Forbidden"),
            E::InvalidInput(_)
            | E::UnsupportedEnc { .. }
            | E::Token(_)
            | E::NoEphemeralKey
            | E::BadEphemeralKey(_) => (StatusCode::BAD_REQUEST, "BadParameter"),
            E::Unavailable(_) => {
                // As every 503 of the service: its error body, `Retry-After`.
                let body = Json(ErrorBody::new(
                    "ServiceUnavailable",
                    "the key store is unavailable; retry after the time in Retry-After",
                ));
                return (
                    StatusCode::SERVICE_UNAVAILABLE,
                    [(axum::http::header::RETRY_AFTER, RETRY_AFTER_SECS)],
                    body,
                )
                    .into_response();
            }
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "the key could not be released (internal error; see the service log)".to_string()
        } else {
            self.0.to_string()
        };
        ErrorBody::response(status, code, message)
    }
}

/// The body of a release request (a schema: [`parse_body`] reads the
/// bytes).
#[derive(Debug, Clone, ToSchema)]
#[allow(dead_code)]
pub struct ReleaseRequestBody {
    /// The attestation token (a JWT this service's verifier issued).
    #[schema(min_length = 1)]
    pub target: String,
    /// The wrapping algorithm (default `CKM_RSA_AES_KEY_WRAP`).
    pub enc: Option<EncName>,
    /// A nonce echoed in the response; each is accepted once per key.
    #[schema(min_length = 1, max_length = 1024)]
    pub nonce: Option<String>,
}

/// The wrapping algorithms (`enc`), as [`Enc::name`] spells them.
#[derive(Debug, Clone, Copy, ToSchema)]
#[allow(dead_code, non_camel_case_types, clippy::upper_case_acronyms)]
pub enum EncName {
    /// RSA-OAEP-SHA1 + AES-KWP.
    CKM_RSA_AES_KEY_WRAP,
    /// RSA-OAEP-SHA256 + AES-KWP.
    RSA_AES_KEY_WRAP_256,
    /// RSA-OAEP-SHA384 + AES-KWP.
    RSA_AES_KEY_WRAP_384,
}

/// `{"value": JWS}`: the signed release response.
#[derive(Debug, Clone, ToSchema)]
pub struct ReleaseResponse {
    /// A JWS (RS256, `x5c`) of `{"request": {...}, "response": {"key":
    /// {"key": JWK with key_hsm, "attributes", "release_policy"}}}`.
    pub value: String,
}

/// `api-version`: echoed in the response (default 7.4).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct KeyVaultApiVersion {
    /// Key Vault's API version, e.g. `7.4`.
    #[param(rename = "api-version")]
    pub api_version: Option<String>,
}

/// The query, as a map; one that does not decode is a 400.
fn query_map(
    q: std::result::Result<
        Query<HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
) -> Result<HashMap<String, String>> {
    q.map(|Query(q)| q).map_err(|e| {
        KeyReleaseError::InvalidInput(format!("the query does not decode: {}", e.body_text()))
    })
}

fn parse_body(body: &[u8]) -> Result<(String, Option<String>, Option<String>)> {
    let bad = |m: &str| KeyReleaseError::InvalidInput(m.to_string());
    let v: Value = serde_json::from_slice(body).map_err(|_| bad("the request body is not JSON"))?;
    let obj = v
        .as_object()
        .ok_or_else(|| bad("the request body is not a JSON object"))?;
    let text = |k: &str| -> Result<Option<String>> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(KeyReleaseError::InvalidInput(format!(
                "`{k}` must be a string"
            ))),
        }
    };
    let target = text("target")?.unwrap_or_default();
    Ok((target, text("enc")?, text("nonce")?))
}

async fn handle(
    state: Arc<ReleaseState>,
    name: String,
    version: Option<String>,
    query: HashMap<String, String>,
    body: &[u8],
) -> Response {
    let mut req = ReleaseRequest::new(name, String::new());
    req.version = version;
    req.api_version = query
        .get("api-version")
        .map(|v| v.chars().take(32).collect());
    match parse_body(body) {
        Ok((target, enc, nonce)) => {
            req.target = target;
            req.enc = enc;
            req.nonce = nonce;
        }
        Err(e) => {
            let mut audit = AuditRecord::new(&req.name, "refused");
            audit.version = req.version.clone();
            audit.reason = Some(e.to_string());
            if let Err(ae) = state.store.audit(&audit).await {
                state.count_store_error();
                tracing::warn!(error = %ae, "writing the audit row of a refusal failed");
            }
            state.count(Err(&e));
            return ApiError(e).into_response();
        }
    }
    match state.release(&req).await {
        Ok(jws) => Json(json!({ "value": jws })).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

/// `POST /keys/{name}/release`.
#[utoipa::path(
    post,
    path = "/keys/{name}/release",
    operation_id = "releaseKey",
    tag = "keys",
    summary = "Release the current version of a key to an attested holder",
    params(
        ("name" = String, Path, min_length = 1, description = "The key's name."),
        KeyVaultApiVersion,
    ),
    request_body(content = ReleaseRequestBody, content_type = "application/json",
        description = "The attestation token, and optionally the wrapping algorithm and a \
            nonce."),
    responses(
        (status = 200, description = "The key, wrapped to the token's \
            `TpmEphemeralEncryptionKey`, in a signed response.", body = ReleaseResponse),
        (status = 400, description = "`BadParameter`: a malformed body, an unknown `enc`, a \
            nonce out of bounds, or a token that does not validate (signature, issuer, \
            expiry, mock evidence) or carries no usable ephemeral key.", body = ErrorBody),
        (status = 403, description = "`Forbidden`: the key's release policy does not hold \
            for the token's claims, or the nonce was used before for this key.",
            body = ErrorBody),
        (status = 404, description = "`KeyNotFound`: no such key (checked after the token).",
            body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB + 4 KiB.",
            body = ErrorBody),
        (status = 500, description = "`InternalError` (the store, the audit or the wrapping \
            failed; the log says which).", body = ErrorBody),
        (status = 503, description = "`ServiceUnavailable`: the shared key store (PostgreSQL) \
            cannot be reached; nothing was released or spent. Retry after `Retry-After` \
            seconds.", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds."))),
    )
)]
async fn release_current(
    State(s): State<Arc<ReleaseState>>,
    PathParams(name): PathParams<String>,
    q: std::result::Result<
        Query<HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
    RequestBody(body): RequestBody,
) -> Response {
    match query_map(q) {
        Ok(q) => handle(s, name, None, q, &body).await,
        Err(e) => ApiError(e).into_response(),
    }
}

/// `POST /keys/{name}/{version}/release`.
#[utoipa::path(
    post,
    path = "/keys/{name}/{version}/release",
    operation_id = "releaseKeyVersion",
    tag = "keys",
    summary = "Release one version of a key to an attested holder",
    params(
        ("name" = String, Path, min_length = 1, description = "The key's name."),
        ("version" = String, Path, min_length = 1,
            description = "The version (a number; any other is not found)."),
        KeyVaultApiVersion,
    ),
    request_body(content = ReleaseRequestBody, content_type = "application/json",
        description = "The attestation token, and optionally the wrapping algorithm and a \
            nonce."),
    responses(
        (status = 200, description = "That version of the key, wrapped to the token's \
            `TpmEphemeralEncryptionKey`, in a signed response.", body = ReleaseResponse),
        (status = 400, description = "`BadParameter`: a malformed body, an unknown `enc`, a \
            nonce out of bounds, or a token that does not validate or carries no usable \
            ephemeral key.", body = ErrorBody),
        (status = 403, description = "`Forbidden`: the release policy does not hold, or the \
            nonce was used before for this key.", body = ErrorBody),
        (status = 404, description = "`KeyNotFound`: no such key or version (checked after \
            the token).", body = ErrorBody),
        (status = 413, description = "The body is larger than 1 MiB + 4 KiB.",
            body = ErrorBody),
        (status = 500, description = "`InternalError` (the store, the audit or the wrapping \
            failed; the log says which).", body = ErrorBody),
        (status = 503, description = "`ServiceUnavailable`: the shared key store (PostgreSQL) \
            cannot be reached; nothing was released or spent. Retry after `Retry-After` \
            seconds.", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds."))),
    )
)]
async fn release_version(
    State(s): State<Arc<ReleaseState>>,
    PathParams((name, version)): PathParams<(String, String)>,
    q: std::result::Result<
        Query<HashMap<String, String>>,
        axum::extract::rejection::QueryRejection,
    >,
    RequestBody(body): RequestBody,
) -> Response {
    match query_map(q) {
        Ok(q) => handle(s, name, Some(version), q, &body).await,
        Err(e) => ApiError(e).into_response(),
    }
}

/// `GET /keyrelease/certs`.
#[utoipa::path(
    get,
    path = "/keyrelease/certs",
    operation_id = "getKeyReleaseSigningCertificates",
    tag = "keys",
    summary = "The keys that verify release responses (JWKS)",
    responses(
        (status = 200, description = "The keys that sign release responses, with `x5c`.",
            body = Jwks),
    )
)]
async fn certs(State(s): State<Arc<ReleaseState>>) -> Json<Value> {
    Json(s.jwks())
}

/// The components and tags of the key release's document.
#[derive(utoipa::OpenApi)]
#[openapi(
    components(schemas(ReleaseRequestBody, EncName, ReleaseResponse)),
    tags((name = "keys", description = "Secure Key Release, shaped like Azure Key Vault's."))
)]
struct ReleaseDoc;

/// The release service's routes and their OpenAPI description, built from
/// one table (each handler at the method and path its `#[utoipa::path]`
/// names): merge into the verifier's ([`Api::merge`]).
pub fn api(state: Arc<ReleaseState>) -> Api {
    Routes::new(<ReleaseDoc as utoipa::OpenApi>::openapi())
        .operation::<__path_release_current, _, _>(release_current)
        .operation::<__path_release_version, _, _>(release_version)
        .operation::<__path_certs, _, _>(certs)
        .body_limit(BODY_LIMIT)
        .with_state(state)
}

/// The release service's routes, with their state applied: merge them into
/// another router (`verifier_router.merge(router(state))`) or serve alone.
pub fn router(state: Arc<ReleaseState>) -> Router {
    api(state).into_router()
}

/// Serve the release routes alone (with `GET /openapi.json`) on `listener`
/// until `shutdown` completes, within the verifier service's default
/// limits (connections, time-outs, body sizes: `serve_app_with`).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ReleaseState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    tee_attest_verifier::service::serve_app(listener, api(state).into_app(), shutdown)
        .await
        .map_err(|e| KeyReleaseError::Store(format!("serving: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn bodies_parse_or_say_why() {
        let (t, e, n) =
            parse_body(br#"{"target":"a.b.c","enc":"RSA_AES_KEY_WRAP_256","nonce":"x"}"#).unwrap();
        assert_eq!(
            (t.as_str(), e.as_deref(), n.as_deref()),
            ("a.b.c", Some("RSA_AES_KEY_WRAP_256"), Some("x"))
        );
        assert_eq!(parse_body(b"{}").unwrap().0, "");
        for bad in [
            &b"[]"[..],
            b"",
            b"{",
            br#"{"target":1}"#,
            br#"{"nonce":[]}"#,
        ] {
            assert!(matches!(
                parse_body(bad),
                Err(KeyReleaseError::InvalidInput(_))
            ));
        }
    }

    #[tokio::test]
    async fn repeated_refusals_are_one_audit_row_per_issuer_and_reason() {
        const ISS: &str = "http://127.0.0.1:8700";
        let signer = TokenSigner::generate().unwrap();
        let jwks = tee_attest_maa::Jwks::parse(signer.jwks().to_string().as_bytes()).unwrap();
        let now = crate::store::now();
        let token = signer
            .sign(
                &json!({"iss": ISS, "iat": now, "nbf": now, "exp": now + 3600, "jti": "t-1", "x-ms-ver": "1.0"}),
                &format!("{ISS}/certs"),
                false,
            )
            .unwrap();
        let store = Arc::new(KeyStore::in_memory(crate::Kek::generate().unwrap()).unwrap());
        let state = ReleaseState::new(
            store.clone(),
            Arc::new(TokenValidator::with_jwks(Some(ISS), jwks)),
            TokenSigner::generate().unwrap(),
            ISS,
        );
        // 10 000 requests for a key that does not exist, with a valid token.
        for _ in 0..10_000 {
            let e = state
                .release(&ReleaseRequest::new("missing", token.as_str()))
                .await
                .unwrap_err();
            assert!(matches!(e, KeyReleaseError::KeyNotFound { .. }), "{e}");
        }
        // Anonymous junk: no token at all.
        for _ in 0..100 {
            state
                .release(&ReleaseRequest::new("missing", ""))
                .await
                .unwrap_err();
        }
        let log = store.audit_log(100).await.unwrap();
        let rows: Vec<(Option<&str>, u64)> =
            log.iter().map(|r| (r.issuer.as_deref(), r.count)).collect();
        assert_eq!(rows, [(Some(ISS), 10_000), (None, 100)], "{log:#?}");
        assert!(log.iter().all(|r| r.decision == "refused"));
    }

    #[test]
    fn the_documented_enc_names_are_the_served_ones() {
        let schema = serde_json::to_value(<EncName as utoipa::PartialSchema>::schema()).unwrap();
        let names: Vec<&str> = schema["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert_eq!(names, Enc::ALL.map(Enc::name));
    }

    proptest! {
        #[test]
        fn arbitrary_bodies_and_responses_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..400), s in ".{0,300}") {
            let _ = parse_body(&bytes);
            let _ = crate::client::KeyReleaseResponse::parse(&s);
            let _ = crate::wrap::KeyHsm::parse(&s);
        }
    }
}
