//! The release service, shaped like Azure Key Vault's Secure Key Release:
//!
//! | route | what |
//! |---|---|
//! | `POST /keys/{name}/release` | release the current version |
//! | `POST /keys/{name}/{version}/release` | release that version |
//! | `GET /keyrelease/certs` | the JWKS that verifies release responses |
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
use std::sync::Arc;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path as UrlPath, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Map, Value};
use tee_attest_core::{AttestationToken, KeyBroker, KeyReleaseRequest, ReleasedKey};
use tee_attest_maa::TokenValidator;
use tee_attest_policy::ReleasePolicy;
use tee_attest_verifier::TokenSigner;

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
    signer: TokenSigner,
    base_url: String,
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
            signer,
            base_url: base_url.into().trim_end_matches('/').to_string(),
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<KeyStore> {
        &self.store
    }

    /// The JWKS that verifies release responses.
    pub fn jwks(&self) -> Value {
        self.signer.jwks()
    }

    /// The `kid` URL of a key version.
    pub fn kid(&self, name: &str, version: u32) -> String {
        format!("{}/keys/{name}/{version}", self.base_url)
    }

    /// Decide a release and audit the decision: the signed response (the
    /// JWS of `{"value": …}`) or the refusal.
    pub async fn release(&self, req: &ReleaseRequest) -> Result<String> {
        let mut audit = AuditRecord::new(&req.name, "refused");
        audit.version = req.version.clone();
        let out = self.decide(req, &mut audit).await;
        match &out {
            Ok(_) => audit.decision = "released".into(),
            Err(e) => audit.reason = Some(e.to_string()),
        }
        match (self.store.audit(&audit), out) {
            (Ok(_), Ok(jws)) => {
                tracing::info!(key = %req.name, version = ?audit.version, jti = ?audit.jti, "key released");
                Ok(jws)
            }
            // A release that cannot be audited does not happen.
            (Err(e), Ok(_)) => Err(e),
            (audit_result, Err(e)) => {
                if let Err(ae) = audit_result {
                    tracing::warn!(error = %ae, "writing the audit row of a refusal failed");
                }
                tracing::info!(key = %req.name, reason = %e, "key release refused");
                Err(e)
            }
        }
    }

    async fn decide(&self, req: &ReleaseRequest, audit: &mut AuditRecord) -> Result<String> {
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
        let key = self.store.get(&req.name, version)?.ok_or_else(not_found)?;
        audit.version = Some(key.version.to_string());
        // 3. Its release policy, on the validated claims.
        let policy = ReleasePolicy::parse(&key.policy)?;
        let decision = policy.evaluate(token.claims());
        if !decision.released {
            return Err(KeyReleaseError::PolicyRefused(decision.reasons.join("; ")));
        }
        // 4. The wrap key, 5. the nonce.
        let wrap_key = wrap_key_of(&token)?;
        if let Some(n) = &req.nonce {
            if !self.store.use_nonce(&key.name, n)? {
                return Err(KeyReleaseError::NonceReplayed);
            }
        }
        // 6. Wrap and sign.
        let kid = self.kid(&key.name, key.version);
        let material = self.store.material(&key)?;
        let key_hsm = wrap_key_hsm(enc, &wrap_key, &kid, &material)?;
        drop(material);
        let payload = self.payload(req, enc, &kid, &key, key_hsm);
        let jws = self
            .signer
            .sign(&payload, &format!("{}{CERTS_PATH}", self.base_url), false)
            .map_err(|e| KeyReleaseError::Wrap(format!("signing the response: {e}")))?;
        Ok(jws)
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
            _ => (StatusCode::INTERNAL_SERVER_ERROR, "InternalError"),
        };
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            "the key could not be released (internal error; see the service log)".to_string()
        } else {
            self.0.to_string()
        };
        (
            status,
            Json(json!({"error": {"code": code, "message": message}})),
        )
            .into_response()
    }
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
    body: Bytes,
) -> Response {
    let mut req = ReleaseRequest::new(name, String::new());
    req.version = version;
    req.api_version = query
        .get("api-version")
        .map(|v| v.chars().take(32).collect());
    match parse_body(&body) {
        Ok((target, enc, nonce)) => {
            req.target = target;
            req.enc = enc;
            req.nonce = nonce;
        }
        Err(e) => {
            let mut audit = AuditRecord::new(&req.name, "refused");
            audit.version = req.version.clone();
            audit.reason = Some(e.to_string());
            if let Err(ae) = state.store.audit(&audit) {
                tracing::warn!(error = %ae, "writing the audit row of a refusal failed");
            }
            return ApiError(e).into_response();
        }
    }
    match state.release(&req).await {
        Ok(jws) => Json(json!({ "value": jws })).into_response(),
        Err(e) => ApiError(e).into_response(),
    }
}

async fn release_current(
    State(s): State<Arc<ReleaseState>>,
    UrlPath(name): UrlPath<String>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    handle(s, name, None, q, body).await
}

async fn release_version(
    State(s): State<Arc<ReleaseState>>,
    UrlPath((name, version)): UrlPath<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
    body: Bytes,
) -> Response {
    handle(s, name, Some(version), q, body).await
}

async fn certs(State(s): State<Arc<ReleaseState>>) -> Json<Value> {
    Json(s.jwks())
}

/// The release service's routes, with their state applied: merge them into
/// another router (`verifier_router.merge(router(state))`) or serve alone.
pub fn router(state: Arc<ReleaseState>) -> Router {
    Router::new()
        .route("/keys/{name}/release", post(release_current))
        .route("/keys/{name}/{version}/release", post(release_version))
        .route(CERTS_PATH, get(certs))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serve the release routes alone on `listener` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ReleaseState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
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
        let log = store.audit_log(100).unwrap();
        let rows: Vec<(Option<&str>, u64)> =
            log.iter().map(|r| (r.issuer.as_deref(), r.count)).collect();
        assert_eq!(rows, [(Some(ISS), 10_000), (None, 100)], "{log:#?}");
        assert!(log.iter().all(|r| r.decision == "refused"));
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
