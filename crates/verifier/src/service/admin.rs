//! Who may change the service's state: MAA's two administration models.
//!
//! - **Bearer model** (MAA's AAD model): the caller presents
//!   `Authorization: Bearer <JWT>` issued by a configured OpenID issuer for
//!   a configured audience, carrying a configured role
//!   ([`tee_attest_maa::ValidationProfile::admin`]).
//! - **Isolated model**: policy-management certificates are configured at
//!   the first start; every policy write, reset and certificate change must
//!   then be a JWS signed by one of them. When the bearer model is also
//!   configured, both are needed.
//!
//! Without either, writes are refused — unless `--insecure-admin` (loopback
//! only) lets any caller write. Reads stay anonymous unless
//! [`AdminConfig::read_auth`]; attestation stays anonymous unless
//! [`AdminConfig::attest_auth`]. Every admin action and every refused admin
//! attempt goes to the [`crate::audit::AuditLog`].

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::Value;
use tee_attest_maa::{MaaError, TokenCheck, TokenValidator};

use super::openapi::{ErrorBody, RETRY_AFTER_SECS};
use super::ops::ClientIp;
use crate::audit::AuditConfig;

/// How the service authorizes administration (and, optionally, reads and
/// attestation).
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct AdminConfig {
    /// Validates administrators' bearer tokens (the admin profile: issuer,
    /// audience, role). `None`: no bearer model.
    pub bearer: Option<Arc<TokenValidator>>,
    /// Policy-management certificates (DER) that put the service in
    /// isolated mode on its first start. Afterwards the set stored in the
    /// data directory is authoritative (changed only through
    /// `/certificates:add|remove`), so that a restart cannot bring back a
    /// removed certificate.
    pub policy_signers: Vec<Vec<u8>>,
    /// Let any caller write (development only: the CLI refuses it on a
    /// non-loopback address). Isolated mode still wants signed documents.
    pub insecure_admin: bool,
    /// Policy and certificate reads need an authorized bearer token too.
    pub read_auth: bool,
    /// Attestation requests need an authorized bearer token.
    pub attest_auth: bool,
    /// Retention of the admin audit log.
    pub audit: AuditConfig,
}

impl std::fmt::Debug for AdminConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("bearer", &self.bearer.is_some())
            .field("policy_signers", &self.policy_signers.len())
            .field("insecure_admin", &self.insecure_admin)
            .field("read_auth", &self.read_auth)
            .field("attest_auth", &self.attest_auth)
            .finish_non_exhaustive()
    }
}

impl AdminConfig {
    /// No administration model: every write is refused.
    pub fn locked() -> Self {
        Self::default()
    }

    /// Any caller may write (tests and local development).
    pub fn insecure() -> Self {
        Self {
            insecure_admin: true,
            ..Self::default()
        }
    }

    /// The bearer model with `validator` (built with the admin profile).
    pub fn with_bearer(mut self, validator: Arc<TokenValidator>) -> Self {
        self.bearer = Some(validator);
        self
    }

    /// Isolated mode seeded with these certificates (DER).
    pub fn with_policy_signers(mut self, certs: Vec<Vec<u8>>) -> Self {
        self.policy_signers = certs;
        self
    }

    /// Reads need authorization too.
    pub fn with_read_auth(mut self, on: bool) -> Self {
        self.read_auth = on;
        self
    }

    /// Attestation needs authorization.
    pub fn with_attest_auth(mut self, on: bool) -> Self {
        self.attest_auth = on;
        self
    }

    /// Audit retention.
    pub fn with_audit(mut self, audit: AuditConfig) -> Self {
        self.audit = audit;
        self
    }
}

/// What a request asks to do, for authorization.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Change policies or certificates.
    Write,
    /// Read policies or certificates.
    Read,
    /// Attest.
    Attest,
}

/// An authenticated (or anonymous, where allowed) caller.
#[derive(Debug, Clone)]
pub(crate) struct Caller {
    /// For the audit: `sub=… iss=…`, `anonymous` or `insecure-admin`;
    /// a certificate thumbprint is added when a signed document decides.
    pub(crate) actor: String,
}

/// Why a request is refused before it is carried out.
#[derive(Debug)]
pub(crate) enum Denied {
    /// No credential, or one that does not validate (401).
    Unauthenticated(String),
    /// A valid credential without the authority (403).
    Forbidden(String),
    /// The credential could not be checked now (503).
    Unavailable(String),
}

impl Denied {
    /// The reason, for the audit and the response.
    pub(crate) fn reason(&self) -> &str {
        match self {
            Denied::Unauthenticated(r) | Denied::Forbidden(r) | Denied::Unavailable(r) => r,
        }
    }
}

impl IntoResponse for Denied {
    fn into_response(self) -> Response {
        let (status, code) = match &self {
            Denied::Unauthenticated(_) => (StatusCode::UNAUTHORIZED, "Unauthorized"),
            Denied::Forbidden(_) => (StatusCode::FORBIDDEN, "Forbidden"),
            Denied::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable"),
        };
        let body = Json(ErrorBody::new(code, self.reason()));
        match self {
            Denied::Unauthenticated(_) => {
                (status, [(header::WWW_AUTHENTICATE, "Bearer")], body).into_response()
            }
            Denied::Unavailable(_) => {
                (status, [(header::RETRY_AFTER, RETRY_AFTER_SECS)], body).into_response()
            }
            Denied::Forbidden(_) => (status, body).into_response(),
        }
    }
}

/// The bearer token of `Authorization: Bearer …` (scheme any case).
fn bearer_token(headers: &HeaderMap) -> Result<Option<&str>, Denied> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v
        .to_str()
        .map_err(|_| Denied::Unauthenticated("the Authorization header is not text".into()))?;
    match v.split_once(' ') {
        Some((scheme, token))
            if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() =>
        {
            Ok(Some(token.trim()))
        }
        _ => Err(Denied::Unauthenticated(
            "the Authorization header is not `Bearer <token>`".into(),
        )),
    }
}

/// Validates the caller's bearer token with `validator`: 401 when absent
/// or invalid, 403 when valid without the role, 503 when the issuer's keys
/// cannot be fetched.
pub(crate) async fn bearer_caller(
    validator: &TokenValidator,
    headers: &HeaderMap,
) -> Result<Caller, Denied> {
    let Some(token) = bearer_token(headers)? else {
        return Err(Denied::Unauthenticated(
            "this operation needs `Authorization: Bearer <token>`".into(),
        ));
    };
    match validator.validate(token, None).await {
        Ok(t) => {
            let claims = t.claims();
            let s = |name: &str| {
                claims
                    .get(name)
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .chars()
                    .take(128)
                    .collect::<String>()
            };
            Ok(Caller {
                actor: format!("sub={} iss={}", s("sub"), s("iss")),
            })
        }
        Err(MaaError::TokenRejected { check, detail }) => {
            let reason = format!("the bearer token was refused by the {check} check: {detail}");
            Err(if check == TokenCheck::Role {
                Denied::Forbidden(reason)
            } else {
                Denied::Unauthenticated(reason)
            })
        }
        Err(e) => Err(Denied::Unavailable(format!(
            "the bearer token could not be checked: {e}"
        ))),
    }
}

/// The client's address, when the server recorded it: the one the request
/// layer found (`X-Forwarded-For` believed from trusted proxies only,
/// [`super::ops::client_address`]), else the socket peer.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ClientAddr(pub(crate) Option<ClientIp>, Option<SocketAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts.extensions.get::<ClientIp>().copied(),
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
        ))
    }
}

impl ClientAddr {
    /// For the audit: `ip:port` of the peer, or `ip via proxy:port` when a
    /// trusted proxy forwarded the request.
    pub(crate) fn describe(&self) -> Option<String> {
        match (self.0, self.1) {
            (Some(c), _) => Some(c.to_string()),
            (None, Some(a)) => Some(a.to_string()),
            (None, None) => None,
        }
    }
}
