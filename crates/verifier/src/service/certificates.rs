//! Policy-management certificates (MAA's isolated mode): the set kept in
//! the data directory, and `GET /certificates`, `POST /certificates:add`,
//! `POST /certificates:remove` shaped as MAA's REST API.
//!
//! The set is seeded from `--policy-signers` on the first start; after
//! that the stored set is authoritative. A change is a JWS signed by a
//! current certificate (`RS256`, certificate in `x5c` or `jwk.x5c`) whose
//! payload is `{"policyCertificate": JWK with x5c}`; removing the last
//! certificate is refused.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest_core::{Error, ErrorCode};
use tee_attest_policy::{certificate_jwk, verify_jws, JwsOptions};

use super::admin::{Access, ClientAddr, Denied};
use super::openapi::{ApiVersion, ErrorBody, Jws, RequestBody, TokenResponse};
use super::{body_text, service_token, ApiError, ServiceState};
use crate::audit::{AuditEvent, Outcome};

/// The certificate set in the data directory (`policy-certificates.json`,
/// mode 0600): DER certificates, base64.
#[derive(Debug)]
pub(crate) struct CertificateStore {
    file: PathBuf,
    /// Serializes this process's read-modify-write cycles.
    write: Mutex<()>,
}

/// SHA-1 of the DER, upper-case hex: MAA's `x-ms-certificate-thumbprint`.
pub(crate) fn thumbprint(der: &[u8]) -> String {
    hex::encode_upper(aws_lc_rs::digest::digest(
        &aws_lc_rs::digest::SHA1_FOR_LEGACY_USE_ONLY,
        der,
    ))
}

fn store_err(what: &str, e: impl std::error::Error + Send + Sync + 'static) -> Error {
    Error::with_source(ErrorCode::InitializationFailed, what.to_string(), e)
}

impl CertificateStore {
    /// The store under `data_dir`, seeded with `seed` if nothing is stored.
    pub(crate) fn open(data_dir: &Path, seed: &[Vec<u8>]) -> Result<Self, Error> {
        let store = Self {
            file: data_dir.join("policy-certificates.json"),
            write: Mutex::new(()),
        };
        for der in seed {
            certificate_jwk(der)?;
        }
        if !seed.is_empty() && store.load()?.is_empty() {
            store.save(seed)?;
        }
        Ok(store)
    }

    /// The current set (empty: not isolated).
    pub(crate) fn load(&self) -> Result<Vec<Vec<u8>>, Error> {
        let text = match std::fs::read_to_string(&self.file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(store_err("reading the policy-management certificates", e)),
        };
        let doc: Value = serde_json::from_str(&text)
            .map_err(|e| store_err("the stored policy-management certificates", e))?;
        doc.get("certificates")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .map(|c| {
                        c.as_str()
                            .and_then(|s| STANDARD.decode(s).ok())
                            .ok_or_else(|| {
                                Error::new(
                                    ErrorCode::InitializationFailed,
                                    "a stored policy-management certificate is not base64",
                                )
                            })
                    })
                    .collect()
            })
            .unwrap_or_else(|| Ok(Vec::new()))
    }

    /// Whether the service is in isolated mode.
    pub(crate) fn isolated(&self) -> Result<bool, Error> {
        Ok(!self.load()?.is_empty())
    }

    fn save(&self, certs: &[Vec<u8>]) -> Result<(), Error> {
        let doc = json!({
            "certificates": certs.iter().map(|c| STANDARD.encode(c)).collect::<Vec<_>>()
        });
        crate::fsutil::write_private_atomic(&self.file, doc.to_string().as_bytes())
            .map_err(|e| store_err("storing the policy-management certificates", e))
    }

    /// Apply `change` to the stored set under this process's write lock.
    fn update<T>(
        &self,
        change: impl FnOnce(&mut Vec<Vec<u8>>) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let _one_writer = self
            .write
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut certs = self.load()?;
        let out = change(&mut certs)?;
        self.save(&certs)?;
        Ok(out)
    }
}

/// `GET /certificates`: the set as `x-ms-policy-certificates` (a JWKS).
#[utoipa::path(
    get,
    path = "/certificates",
    operation_id = "getPolicyManagementCertificates",
    tag = "certificates",
    summary = "The policy-management certificates (isolated mode)",
    params(ApiVersion),
    responses(
        (status = 200, description = "A token signed by this service whose claims carry \
            `x-ms-policy-certificates`: a JWKS of the certificates (empty outside isolated \
            mode).", body = TokenResponse),
        (status = 401, description = "`--admin-read-auth` and no valid bearer token.",
            body = ErrorBody, headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "`--admin-read-auth` and a token without the role.",
            body = ErrorBody),
        (status = 500, description = "The stored certificates cannot be read.",
            body = ErrorBody),
        (status = 503, description = "The bearer token cannot be checked now, or the request \
            took longer than 30 s.", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds."))),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn get_certificates(
    State(s): State<Arc<ServiceState>>,
    headers: HeaderMap,
    addr: ClientAddr,
) -> Result<Response, ApiError> {
    if let Err(d) = s.authorize(Access::Read, &headers).await {
        s.audit_refusal(&headers, "certificates.read", "-", &d, addr)
            .await;
        return Ok(d.into_response());
    }
    let keys = s
        .certificates
        .load()?
        .iter()
        .map(|der| {
            let mut jwk = certificate_jwk(der)?;
            if let Some(m) = jwk.as_object_mut() {
                m.insert("kid".into(), json!(thumbprint(der)));
            }
            Ok(jwk)
        })
        .collect::<Result<Vec<_>, Error>>()?;
    let mut claims = serde_json::Map::new();
    claims.insert("x-ms-policy-certificates".into(), json!({ "keys": keys }));
    Ok(service_token(&s, claims)?.into_response())
}

/// `POST /certificates:add`.
#[utoipa::path(
    post,
    path = "/certificates:add",
    operation_id = "addPolicyManagementCertificate",
    tag = "certificates",
    summary = "Add a policy-management certificate (isolated mode)",
    params(ApiVersion),
    request_body(
        description = "A JWS of `{\"policyCertificate\": JWK with x5c}` signed (RS256) by a \
            current policy-management certificate. As text, or as a JSON string (Microsoft's \
            SDK).",
        content(
            (Jws = "text/plain"),
            (Jws = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "A token signed by this service whose claims carry \
            `x-ms-certificate-thumbprint` and `x-ms-policycertificates-result: IsPresent`.",
            body = TokenResponse),
        (status = 400, description = "`InvalidParameter`: the payload carries no \
            `policyCertificate` with a usable certificate, or the body is not UTF-8.",
            body = ErrorBody),
        (status = 401, description = "Bearer model: no valid bearer token.", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "Not in isolated mode, a token without the role, or a \
            body not signed by a current policy-management certificate.", body = ErrorBody),
        (status = 413, description = "The body is larger than 4 MiB.", body = ErrorBody),
        (status = 500, description = "The certificates cannot be stored.", body = ErrorBody),
        (status = 503, description = "The bearer token cannot be checked now, or the request \
            took longer than 30 s.", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds."))),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn add_certificate(
    State(s): State<Arc<ServiceState>>,
    headers: HeaderMap,
    addr: ClientAddr,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    change_certificates(s, true, headers, addr, &body).await
}

/// `POST /certificates:remove`.
#[utoipa::path(
    post,
    path = "/certificates:remove",
    operation_id = "removePolicyManagementCertificate",
    tag = "certificates",
    summary = "Remove a policy-management certificate (isolated mode)",
    params(ApiVersion),
    request_body(
        description = "A JWS of `{\"policyCertificate\": JWK with x5c}` signed (RS256) by a \
            current policy-management certificate. As text, or as a JSON string.",
        content(
            (Jws = "text/plain"),
            (Jws = "application/json"),
        )
    ),
    responses(
        (status = 200, description = "A token signed by this service whose claims carry \
            `x-ms-certificate-thumbprint` and `x-ms-policycertificates-result: IsAbsent`.",
            body = TokenResponse),
        (status = 400, description = "`InvalidParameter`: no usable `policyCertificate`, the \
            last certificate, or a body that is not UTF-8.", body = ErrorBody),
        (status = 401, description = "Bearer model: no valid bearer token.", body = ErrorBody,
            headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "Not in isolated mode, a token without the role, or a \
            body not signed by a current policy-management certificate.", body = ErrorBody),
        (status = 413, description = "The body is larger than 4 MiB.", body = ErrorBody),
        (status = 500, description = "The certificates cannot be stored.", body = ErrorBody),
        (status = 503, description = "The bearer token cannot be checked now, or the request \
            took longer than 30 s.", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds."))),
    ),
    security((), ("bearer" = []))
)]
pub(crate) async fn remove_certificate(
    State(s): State<Arc<ServiceState>>,
    headers: HeaderMap,
    addr: ClientAddr,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    change_certificates(s, false, headers, addr, &body).await
}

/// `POST /certificates:add` and `POST /certificates:remove`.
async fn change_certificates(
    s: Arc<ServiceState>,
    add: bool,
    headers: HeaderMap,
    addr: ClientAddr,
    body: &[u8],
) -> Result<Response, ApiError> {
    let action = if add {
        "certificates.add"
    } else {
        "certificates.remove"
    };
    let caller = match s.authorize(Access::Write, &headers).await {
        Ok(c) => c,
        Err(d) => {
            s.audit_refusal(&headers, action, "-", &d, addr).await;
            return Ok(d.into_response());
        }
    };
    let current = s.certificates.load()?;
    if current.is_empty() {
        let d = Denied::Forbidden(
            "policy-management certificates are managed only in isolated mode \
             (start the service with --policy-signers)"
                .into(),
        );
        s.audit_refusal(&headers, action, "-", &d, addr).await;
        return Ok(d.into_response());
    }
    let text = body_text(body)?;
    let opts = current
        .iter()
        .fold(JwsOptions::default().allow_only(&["RS256"]), |o, c| {
            o.trust(c.clone())
        });
    let verified = match verify_jws(&text, &opts) {
        Ok(v) => v,
        Err(e) => {
            let d = Denied::Forbidden(format!(
                "the request must be a JWS signed by a policy-management certificate: {e}"
            ));
            s.audit_refusal(&headers, action, "-", &d, addr).await;
            return Ok(d.into_response());
        }
    };
    let signer = verified
        .signer
        .as_ref()
        .map(|x| thumbprint(&x.certificate_der))
        .unwrap_or_default();
    let target = verified
        .payload
        .as_ref()
        .and_then(|p| p.get("policyCertificate"))
        .and_then(|j| j.get("x5c"))
        .and_then(Value::as_array)
        .and_then(|a| a.first())
        .and_then(Value::as_str)
        .and_then(|c| STANDARD.decode(c).ok())
        .ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidInputParameter,
                "the payload has no `policyCertificate` JWK with an `x5c` certificate",
            )
        })?;
    certificate_jwk(&target)?;
    let tp = thumbprint(&target);
    let result = s.certificates.update(|certs| {
        let present = certs.iter().position(|c| c == &target);
        if add {
            if present.is_none() {
                certs.push(target.clone());
            }
            Ok("IsPresent")
        } else {
            if let Some(i) = present {
                if certs.len() == 1 {
                    return Err(ApiError::from(Error::new(
                        ErrorCode::InvalidInputParameter,
                        "the last policy-management certificate cannot be removed",
                    )));
                }
                certs.remove(i);
            }
            Ok("IsAbsent")
        }
    });
    let outcome = match &result {
        Ok(_) => Outcome::Allowed,
        Err(_) => Outcome::Refused,
    };
    s.audit(AuditEvent {
        actor: &format!("{} cert:{signer}", caller.actor),
        action,
        target: &tp,
        outcome,
        reason: match &result {
            Ok(r) => r,
            Err(e) => e.message(),
        },
        old_hash: None,
        new_hash: None,
        source: addr.describe().as_deref(),
    })
    .await;
    let result = result?;
    let mut claims = serde_json::Map::new();
    claims.insert("x-ms-certificate-thumbprint".into(), json!(tp));
    claims.insert("x-ms-policycertificates-result".into(), json!(result));
    Ok(service_token(&s, claims)?.into_response())
}
