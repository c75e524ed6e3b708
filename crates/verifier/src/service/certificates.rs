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

use axum::body::Bytes;
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest_core::{Error, ErrorCode};
use tee_attest_policy::{certificate_jwk, verify_jws, JwsOptions};

use super::admin::{Access, ClientAddr, Denied};
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
pub(crate) async fn get_certificates(
    State(s): State<Arc<ServiceState>>,
    headers: HeaderMap,
    addr: ClientAddr,
) -> Result<Response, ApiError> {
    if let Err(d) = s.authorize(Access::Read, &headers).await {
        s.audit_refusal(&headers, "certificates.read", "-", &d, addr);
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

/// `POST /certificates:add` and `POST /certificates:remove`.
pub(crate) async fn post_certificates(
    State(s): State<Arc<ServiceState>>,
    UrlPath(op): UrlPath<String>,
    headers: HeaderMap,
    addr: ClientAddr,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (action, add) = match op.as_str() {
        "certificates:add" => ("certificates.add", true),
        "certificates:remove" => ("certificates.remove", false),
        _ => {
            return Err(ApiError::not_found(format!("no route POST /{op}")));
        }
    };
    let caller = match s.authorize(Access::Write, &headers).await {
        Ok(c) => c,
        Err(d) => {
            s.audit_refusal(&headers, action, "-", &d, addr);
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
        s.audit_refusal(&headers, action, "-", &d, addr);
        return Ok(d.into_response());
    }
    let text = body_text(&body)?;
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
            s.audit_refusal(&headers, action, "-", &d, addr);
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
    });
    let result = result?;
    let mut claims = serde_json::Map::new();
    claims.insert("x-ms-certificate-thumbprint".into(), json!(tp));
    claims.insert("x-ms-policycertificates-result".into(), json!(result));
    Ok(service_token(&s, claims)?.into_response())
}
