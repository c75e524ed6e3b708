//! Attestation policies: kept as sent (policy text, or the JWS — signed or
//! not — that carried it) in the data directory or the fleet's store
//! ([`super::shared`]), and
//! `GET|PUT /policies/{type}`, `POST /policies/{type}:reset` shaped as
//! MAA's REST API.
//!
//! Writes need the authority of [`super::admin`]; in isolated mode the
//! document must be signed by a policy-management certificate. A stored
//! JWS is served back as sent, so that `GET` reports its signer
//! (`x-ms-policy-signer`) and the original signed document.

use std::sync::Arc;

use axum::extract::{FromRequest, Request, State};
use axum::http::{HeaderMap, Method};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::json;
use tee_attest_core::{Error, ErrorCode};
use tee_attest_policy::jws::{looks_like_jws, unsigned_policy_jws};
use tee_attest_policy::{load_policy, verify_jws, JwsOptions, PolicyError};

use super::admin::{Access, ClientAddr, Denied};
use super::certificates::thumbprint;
use super::openapi::{
    method_not_allowed, ApiVersion, ErrorBody, Jws, PathParams, PolicyDocument, RequestBody,
    TokenResponse,
};
use super::shared::{PolicyChange, SharedFailure};
use super::{body_text, service_token, ApiError, Kind, ServiceState};
use crate::audit::{AuditEvent, Outcome};

/// `SHA-256` of the document as sent, base64url: `x-ms-policy-token-hash`.
fn token_hash(doc: &str) -> String {
    URL_SAFE_NO_PAD.encode(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA256,
        doc.as_bytes(),
    ))
}

/// What a write must be signed by: the current policy-management
/// certificates in isolated mode (RS256 only), anything otherwise.
fn write_options(s: &ServiceState) -> Result<(JwsOptions, bool), Error> {
    let certs = s.certificates.load()?;
    let isolated = !certs.is_empty();
    let opts = if isolated {
        certs.into_iter().fold(
            JwsOptions::default().allow_only(&["RS256"]),
            JwsOptions::trust,
        )
    } else {
        JwsOptions::default()
    };
    Ok((opts, isolated))
}

/// A document refused for its signature is a 403 in isolated mode (the
/// authority is missing), a 400 otherwise (it is malformed).
fn signature_refusal(e: PolicyError, isolated: bool) -> Result<Denied, ApiError> {
    let signature_problem = matches!(
        e,
        PolicyError::UntrustedSigner(_)
            | PolicyError::BadSignature
            | PolicyError::AlgorithmNotAllowed(_)
    );
    if isolated && signature_problem {
        Ok(Denied::Forbidden(format!(
            "isolated mode: the document must be signed by a policy-management certificate: {e}"
        )))
    } else {
        Err(ApiError::from(e))
    }
}

/// `/policies/{type}` and `/policies/{type}:reset`, one axum route (its
/// router has no parameter with a suffix): `GET`/`PUT` without the suffix,
/// `POST` with it, 405 with the resource's `Allow` otherwise.
pub(crate) async fn policy_resource(
    State(s): State<Arc<ServiceState>>,
    method: Method,
    PathParams(spec): PathParams<String>,
    headers: HeaderMap,
    addr: ClientAddr,
    req: Request,
) -> Response {
    let body = |req: Request| async move { RequestBody::from_request(req, &()).await };
    let out = match (spec.strip_suffix(":reset"), method.clone()) {
        (None, Method::GET | Method::HEAD) => get_policy(s, &spec, &headers, addr).await,
        (None, Method::PUT) => match body(req).await {
            Ok(RequestBody(b)) => put_policy(s, &spec, &headers, addr, &b).await,
            Err(r) => return r,
        },
        (Some(kind), Method::POST) => match body(req).await {
            Ok(RequestBody(b)) => reset_policy(s, kind, &headers, addr, &b).await,
            Err(r) => return r,
        },
        (None, m) => return method_not_allowed(&m, "GET,HEAD,PUT"),
        (Some(_), m) => return method_not_allowed(&m, "POST"),
    };
    out.unwrap_or_else(IntoResponse::into_response)
}

/// `GET /policies/{type}`: the policy in force as `x-ms-policy` (the
/// stored JWS as sent, or an unsigned JWS of the text), with
/// `x-ms-policy-signer` when it was signed.
#[utoipa::path(
    get,
    path = "/policies/{kind}",
    operation_id = "getPolicy",
    tag = "policies",
    summary = "The attestation policy in force for a type",
    params(Kind, ApiVersion),
    responses(
        (status = 200, description = "A token signed by this service whose claims carry \
            `x-ms-policy` (the stored JWS as sent, or an unsigned JWS of the policy text) and \
            `x-ms-policy-signer` when it was signed.", body = TokenResponse),
        (status = 400, description = "`InvalidParameter`: an attestation type this service \
            does not serve.", body = ErrorBody),
        (status = 401, description = "`--admin-read-auth` and no valid bearer token.",
            body = ErrorBody, headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "`--admin-read-auth` and a token without the role.",
            body = ErrorBody),
        (status = 500, description = "The stored policy cannot be read.", body = ErrorBody),
        (status = 503, description = "The bearer token cannot be checked now, or the request \
            took longer than 30 s.", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds."))),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn get_policy(
    s: Arc<ServiceState>,
    kind: &str,
    headers: &HeaderMap,
    addr: ClientAddr,
) -> Result<Response, ApiError> {
    let kind = s.kind_of(kind)?;
    if let Err(d) = s.authorize(Access::Read, headers).await {
        s.audit_refusal(headers, "policy.read", kind, &d, addr)
            .await;
        return Ok(d.into_response());
    }
    s.refresh_policy(kind)?;
    let mut claims = serde_json::Map::new();
    match s.stored_policy(kind)? {
        Some(doc) if looks_like_jws(&doc) => {
            let v = verify_jws(&doc, &JwsOptions::default())?;
            claims.insert("x-ms-policy".into(), json!(doc.trim()));
            if let Some(signer) = v.signer {
                claims.insert("x-ms-policy-signer".into(), signer.claim()["jwk"].clone());
            }
        }
        _ => {
            let text = s.verifier.policy_text_for(kind);
            claims.insert("x-ms-policy".into(), json!(unsigned_policy_jws(&text)));
        }
    }
    Ok(service_token(&s, claims)?.into_response())
}

/// `PUT /policies/{type}`: body the policy text or a policy JWS (as text,
/// or as a JSON string).
#[utoipa::path(
    put,
    path = "/policies/{kind}",
    operation_id = "setPolicy",
    tag = "policies",
    summary = "Set the attestation policy of a type (administrators)",
    params(Kind, ApiVersion),
    request_body(
        description = "The policy: its text, or a JWS carrying it (`AttestationPolicy`, \
            base64url) — signed by a policy-management certificate in isolated mode. As text, \
            or as a JSON string (Microsoft's SDK).",
        content(
            (PolicyDocument = "text/plain"),
            (PolicyDocument = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "Stored and in force: a token signed by this service \
            whose claims carry `x-ms-policy-result: Updated`, `x-ms-policy-token-hash` and \
            `x-ms-policy-signer` when signed.", body = TokenResponse),
        (status = 400, description = "`InvalidPolicy` (the policy does not parse, or the JWS \
            is malformed), `InvalidParameter` (empty or not UTF-8 body, unsupported type).",
            body = ErrorBody),
        (status = 401, description = "Bearer model: no valid bearer token.", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "No administration model (writes refused), a token \
            without the role, or (isolated mode) a document not signed by a policy-management \
            certificate.", body = ErrorBody),
        (status = 413, description = "The body is larger than 4 MiB.", body = ErrorBody),
        (status = 500, description = "The policy cannot be stored.", body = ErrorBody),
        (status = 503, description = "The bearer token cannot be checked now, or the request \
            took longer than 30 s.", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds."))),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn put_policy(
    s: Arc<ServiceState>,
    kind: &str,
    headers: &HeaderMap,
    addr: ClientAddr,
    body: &[u8],
) -> Result<Response, ApiError> {
    let kind = s.kind_of(kind)?;
    carry_out_write(&s, kind, headers, addr, body, WriteOp::Set).await
}

/// A policy write: a set or a reset.
#[derive(Clone, Copy)]
enum WriteOp {
    Set,
    Reset,
}

impl WriteOp {
    fn action(self) -> &'static str {
        match self {
            WriteOp::Set => "policy.set",
            WriteOp::Reset => "policy.reset",
        }
    }

    /// What MAA's `x-ms-policy-result` says when it is done.
    fn done(self) -> &'static str {
        match self {
            WriteOp::Set => "Updated",
            WriteOp::Reset => "Removed",
        }
    }
}

/// Authorize the caller, carry out `op`, audit it (done or refused), and
/// answer as MAA does (`x-ms-policy-result`, the token hash of the document
/// sent, its signer).
async fn carry_out_write(
    s: &Arc<ServiceState>,
    kind: &'static str,
    headers: &HeaderMap,
    addr: ClientAddr,
    body: &[u8],
    op: WriteOp,
) -> Result<Response, ApiError> {
    let caller = match s.authorize(Access::Write, headers).await {
        Ok(c) => c,
        Err(d) => {
            s.audit_refusal(headers, op.action(), kind, &d, addr).await;
            return Ok(d.into_response());
        }
    };
    let result = match op {
        WriteOp::Set => set_policy(s, kind, body, &caller.actor).await,
        WriteOp::Reset => reset_stored_policy(s, kind, body, &caller.actor).await,
    };
    let (outcome, reason, signer) = match &result {
        Ok(w) => (Outcome::Allowed, op.done().to_string(), w.signer.as_deref()),
        Err(WriteError::Denied(d)) => (Outcome::Refused, d.reason().to_string(), None),
        Err(WriteError::Api(e)) => (Outcome::Refused, e.message().to_string(), None),
    };
    let written = result.as_ref().ok();
    s.audit(AuditEvent {
        actor: &actor_with_signer(&caller.actor, signer),
        action: op.action(),
        target: kind,
        outcome,
        reason: &reason,
        old_hash: written.and_then(|w| w.old_hash.as_deref()),
        new_hash: written.map(|w| w.new_hash.as_str()),
        source: addr.describe().as_deref(),
    })
    .await;
    let w = match result {
        Ok(w) => w,
        Err(WriteError::Denied(d)) => return Ok(d.into_response()),
        Err(WriteError::Api(e)) => return Err(e),
    };
    let mut claims = serde_json::Map::new();
    claims.insert("x-ms-policy-result".into(), json!(op.done()));
    if !w.token_hash.is_empty() {
        claims.insert("x-ms-policy-token-hash".into(), json!(w.token_hash));
    }
    if let Some(jwk) = w.signer_jwk {
        claims.insert("x-ms-policy-signer".into(), jwk);
    }
    Ok(service_token(s, claims)?.into_response())
}

fn actor_with_signer(actor: &str, signer: Option<&str>) -> String {
    match signer {
        Some(tp) => format!("{actor} cert:{tp}"),
        None => actor.to_string(),
    }
}

/// A write that was carried out.
struct Written {
    /// Thumbprint of the signing certificate, when signed.
    signer: Option<String>,
    /// Its JWK (`x-ms-policy-signer`).
    signer_jwk: Option<serde_json::Value>,
    old_hash: Option<String>,
    new_hash: String,
    token_hash: String,
}

enum WriteError {
    Denied(Denied),
    Api(ApiError),
}

impl<E: Into<ApiError>> From<E> for WriteError {
    fn from(e: E) -> Self {
        WriteError::Api(e.into())
    }
}

/// A store that cannot be reached now refuses the write with 503 and
/// `Retry-After`; nothing was written.
fn store_refusal(f: SharedFailure) -> WriteError {
    match f {
        SharedFailure::Unavailable(m) => WriteError::Denied(Denied::Unavailable(m)),
        SharedFailure::Failed(e) => WriteError::Api(e.into()),
    }
}

async fn set_policy(
    s: &ServiceState,
    kind: &'static str,
    body: &[u8],
    actor: &str,
) -> Result<Written, WriteError> {
    let doc = body_text(body)?;
    if doc.is_empty() {
        return Err(Error::new(ErrorCode::EmptyRequestBody, "empty policy").into());
    }
    let (opts, isolated) = write_options(s)?;
    let loaded = match load_policy(&doc, &opts) {
        Ok(l) => l,
        Err(e) => {
            return Err(match signature_refusal(e, isolated) {
                Ok(d) => WriteError::Denied(d),
                Err(api) => WriteError::Api(api),
            })
        }
    };
    let parsed = tee_attest_policy::Policy::parse(&loaded.text)?;
    let old_hash = s.verifier.policy_hash_for(kind);
    let signer = loaded
        .signer
        .as_ref()
        .map(|x| thumbprint(&x.certificate_der));
    s.store_policy(
        kind,
        Some(&doc),
        PolicyChange {
            actor: &actor_with_signer(actor, signer.as_deref()),
            action: WriteOp::Set.action(),
            old_hash: old_hash.as_deref(),
            new_hash: Some(parsed.hash()),
        },
    )
    .await
    .map_err(store_refusal)?;
    Ok(Written {
        signer,
        signer_jwk: loaded.signer.map(|x| x.jwk),
        old_hash,
        new_hash: parsed.hash().to_string(),
        token_hash: token_hash(&doc),
    })
}

/// `POST /policies/{type}:reset`: back to the default policy. In isolated
/// mode the body must be a JWS (empty payload) signed by a
/// policy-management certificate; otherwise a body, if sent, must be a
/// well-formed JWS.
#[utoipa::path(
    post,
    path = "/policies/{kind}:reset",
    operation_id = "resetPolicy",
    tag = "policies",
    summary = "Reset the attestation policy of a type to the default (administrators)",
    params(Kind, ApiVersion),
    request_body(
        description = "Optional (required in isolated mode): a JWS with an empty payload, \
            signed by a policy-management certificate in isolated mode. As text, or as a JSON \
            string.",
        content(
            (Jws = "text/plain"),
            (Jws = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "Back to the default (permit-all): a token signed by \
            this service whose claims carry `x-ms-policy-result: Removed`.",
            body = TokenResponse),
        (status = 400, description = "`InvalidPolicy` (the body is not a well-formed JWS), \
            `InvalidParameter` (not UTF-8, unsupported type).", body = ErrorBody),
        (status = 401, description = "Bearer model: no valid bearer token.", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "No administration model, a token without the role, or \
            (isolated mode) a body not signed by a policy-management certificate.",
            body = ErrorBody),
        (status = 413, description = "The body is larger than 4 MiB.", body = ErrorBody),
        (status = 500, description = "The policy cannot be removed.", body = ErrorBody),
        (status = 503, description = "The bearer token cannot be checked now, or the request \
            took longer than 30 s.", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds."))),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn reset_policy(
    s: Arc<ServiceState>,
    kind: &str,
    headers: &HeaderMap,
    addr: ClientAddr,
    body: &[u8],
) -> Result<Response, ApiError> {
    let kind = s.kind_of(kind)?;
    carry_out_write(&s, kind, headers, addr, body, WriteOp::Reset).await
}

async fn reset_stored_policy(
    s: &ServiceState,
    kind: &'static str,
    body: &[u8],
    actor: &str,
) -> Result<Written, WriteError> {
    let doc = body_text(body)?;
    if doc.is_empty() && !body.iter().all(u8::is_ascii_whitespace) {
        // `""`: a body was sent, and it is not a JWS. (No body at all is a
        // reset without a document.)
        return Err(Error::new(
            ErrorCode::InvalidInputParameter,
            "the body is an empty string: send a JWS, or no body",
        )
        .into());
    }
    let (opts, isolated) = write_options(s)?;
    let verified = if doc.is_empty() {
        if isolated {
            return Err(WriteError::Denied(Denied::Forbidden(
                "isolated mode: a reset must be a JWS signed by a policy-management certificate"
                    .into(),
            )));
        }
        None
    } else {
        match verify_jws(&doc, &opts) {
            Ok(v) => Some(v),
            Err(e) => {
                return Err(match signature_refusal(e, isolated) {
                    Ok(d) => WriteError::Denied(d),
                    Err(api) => WriteError::Api(api),
                })
            }
        }
    };
    let signer = verified.and_then(|v| v.signer);
    let thumb = signer.as_ref().map(|x| thumbprint(&x.certificate_der));
    let old_hash = s.verifier.policy_hash_for(kind);
    s.store_policy(
        kind,
        None,
        PolicyChange {
            actor: &actor_with_signer(actor, thumb.as_deref()),
            action: WriteOp::Reset.action(),
            old_hash: old_hash.as_deref(),
            new_hash: None,
        },
    )
    .await
    .map_err(store_refusal)?;
    Ok(Written {
        signer: thumb,
        signer_jwk: signer.map(|x| x.jwk),
        old_hash,
        new_hash: s.verifier.policy_hash_for(kind).unwrap_or_default(),
        token_hash: if doc.is_empty() {
            String::new()
        } else {
            token_hash(&doc)
        },
    })
}
