//! The local verifier as an HTTP service shaped like Microsoft Azure
//! Attestation's REST API:
//!
//! | route | what | who may call |
//! |---|---|---|
//! | `POST /attest/AzureGuest` | AzureGuest evidence → sealed token (MAA's client protocol) | anyone (bearer with `attest_auth`) |
//! | `POST /attest/SevSnpVm` | SNP report + VCEK chain + runtime data → token | anyone (bearer with `attest_auth`) |
//! | `POST /attest/TdxVm`, `POST /attest/SgxEnclave` | TD / SGX quote + runtime data → token (Intel DCAP) | anyone (bearer with `attest_auth`) |
//! | `GET /certs` | the JWKS (keys with `x5c`) | anyone |
//! | `GET /.well-known/openid-configuration` | OpenID metadata (`issuer`, `jwks_uri`) | anyone |
//! | `GET /policies/{type}` | the policy (`AzureGuest`, `SevSnpVm`, `TdxVm`, `SgxEnclave`), as a signed token carrying `x-ms-policy` | anyone (bearer with `read_auth`) |
//! | `PUT /policies/{type}` | set the policy (text or JWS body) → `x-ms-policy-result: Updated` | an administrator ([`admin`]) |
//! | `POST /policies/{type}:reset` | back to the default → `x-ms-policy-result: Removed` | an administrator |
//! | `GET /certificates` | the policy-management certificates (isolated mode) | anyone (bearer with `read_auth`) |
//! | `POST /certificates:add`, `:remove` | change them: a JWS signed by a current one | an administrator |
//! | `GET /openapi.json` | this API's OpenAPI 3.1 document ([`openapi`]) | anyone |
//! | `GET /metrics` | the metrics, Prometheus text format ([`metrics`]) | the metrics networks ([`OpsConfig::metrics_allow`], loopback by default) |
//! | `GET /healthz`, `GET /readyz` | liveness; readiness (stores readable, key loaded) ([`ops`]) | anyone |
//! | `GET /appraisal/v2/nonce`, `POST /appraisal/v2/attest[/azure]` | Intel Trust Authority's API, when merged in ([`ita`]) | holders of a configured API key |
//!
//! `api-version` is accepted and ignored. Errors are MAA's body
//! `{"error":{"code","message"}}` (401 with `WWW-Authenticate: Bearer`
//! when a credential is missing or invalid, 403 when it lacks the
//! authority). Draft policies (`draftPolicyForAttestation`) yield unsigned
//! tokens. The signing key, the policies, the policy-management
//! certificates and the admin audit live in the data directory, so several
//! instances sharing it behave as one: each picks up a policy another
//! changed before its next request. Instances on several hosts share a
//! PostgreSQL database instead ([`ServiceState::attach_store`], [`shared`]):
//! policies and their history, signing keys, the admin audit and spent
//! nonces.
//!
//! What a client can make the service spend is bounded by [`Limits`]
//! (connections, time-outs, body sizes and memory, appraisals at once, JSON
//! depth, client-payload members, certificates per chain): see
//! [`limits`] and docs/SECURITY.md, "Limits". Request ids, client
//! addresses (`X-Forwarded-For` from trusted proxies only), request logs
//! and metrics: [`ops`] (docs/DEPLOYMENT.md).

mod admin;
mod certificates;
pub mod formats;
pub mod ita;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod ops;
mod policies;
mod server;
pub mod shared;

pub use admin::AdminConfig;
pub use limits::{Limits, RequestLimits};
pub use metrics::{Metrics, ReleaseDecision, Store};
pub use openapi::{Api, Routes};
pub use ops::{Cidr, Ops, OpsConfig};

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::{Json, Router};
use serde_json::{json, Value};
use tee_attest_core::{Error, ErrorCode};
use tee_attest_policy::{load_policy, JwsOptions};

use self::admin::{bearer_caller, Access, Caller, ClientAddr, Denied};
use self::certificates::CertificateStore;
use self::openapi::{
    ApiVersion, AttestRequest, Documented, ErrorBody, Jwks, OpenIdConfiguration, PathParams,
    RequestBody, TokenResponse,
};
use crate::audit::{AuditEvent, AuditLog, Outcome};
use crate::{LocalVerifier, DEFAULT_POLICY};

/// The largest request body accepted by default (evidence with a TCG log
/// fits easily): [`Limits::max_body_bytes`].
pub const BODY_LIMIT: usize = 4 * 1024 * 1024;
/// How long one request may take by default: [`Limits::request_timeout`].
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A stored policy file's inode, size and modification time (seconds,
/// nanoseconds); `None`: no file.
type PolicyStamp = Option<(u64, u64, i64, i64)>;

/// A readiness check an embedder adds ([`ServiceState::add_readiness_check`]):
/// `Err` says why the service is not ready (logged, not answered).
pub type ReadinessCheck = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// The service's state: the verifier, where its policies are kept, who
/// may administer it, and its audit log.
pub struct ServiceState {
    verifier: Arc<LocalVerifier>,
    data_dir: PathBuf,
    policy_dir: PathBuf,
    /// The policy document last applied, per attestation type, with the
    /// stamp of the file it was read from (data-directory store).
    policy_seen: Mutex<HashMap<&'static str, (Option<PolicyStamp>, String)>>,
    admin: AdminConfig,
    certificates: CertificateStore,
    audit: AuditLog,
    /// The request formats of the attestation types served.
    formats: Vec<Arc<dyn formats::RequestFormat>>,
    /// What a request may make the service spend.
    limits: Limits,
    /// How many appraisals run at once, and wait.
    appraisals: limits::AppraisalGate,
    /// Request ids, client addresses, metrics.
    ops: Ops,
    /// Readiness checks added by embedders (the key store…).
    readiness_checks: Mutex<Vec<(&'static str, ReadinessCheck)>>,
    /// Signing keys published in `/certs` next to the verifier's (the ITA
    /// profile's).
    published_keys: Mutex<Vec<Value>>,
    /// The fleet's store, when the state is shared ([`ServiceState::attach_store`]).
    shared: std::sync::OnceLock<Arc<shared::SharedPolicies>>,
}

impl std::fmt::Debug for ServiceState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceState")
            .field("policy_dir", &self.policy_dir)
            .field("admin", &self.admin)
            .finish_non_exhaustive()
    }
}

impl ServiceState {
    /// State for `verifier`, keeping its state under `data_dir`, with no
    /// administration model: every policy write is refused (see
    /// [`ServiceState::with_admin`]). A policy already stored there is
    /// loaded (code 9 if it no longer parses).
    pub fn new(verifier: Arc<LocalVerifier>, data_dir: &Path) -> Result<Arc<Self>, Error> {
        Self::with_admin(verifier, data_dir, AdminConfig::locked())
    }

    /// State for `verifier` under `data_dir`, administered as `admin` says,
    /// with the default [`Limits`].
    pub fn with_admin(
        verifier: Arc<LocalVerifier>,
        data_dir: &Path,
        admin: AdminConfig,
    ) -> Result<Arc<Self>, Error> {
        Self::with_limits(verifier, data_dir, admin, Limits::default())
    }

    /// State for `verifier` under `data_dir`, administered as `admin` says,
    /// its requests held to `limits` (body size, appraisals at once, what
    /// the parsers may allocate; serve with the same limits for the
    /// connection-level ones: [`serve_app_with`]).
    pub fn with_limits(
        verifier: Arc<LocalVerifier>,
        data_dir: &Path,
        admin: AdminConfig,
        limits: Limits,
    ) -> Result<Arc<Self>, Error> {
        Self::with_ops(verifier, data_dir, admin, limits, OpsConfig::default())
    }

    /// [`ServiceState::with_limits`], with `ops`: whose `X-Forwarded-For`
    /// is believed and who may read the metrics ([`ops`]). Serve it with
    /// [`serve`], [`serve_tls`] or [`serve_observed`] and [`ServiceState::ops`].
    pub fn with_ops(
        verifier: Arc<LocalVerifier>,
        data_dir: &Path,
        admin: AdminConfig,
        mut limits: Limits,
        ops: OpsConfig,
    ) -> Result<Arc<Self>, Error> {
        limits.request.max_body_bytes = limits.max_body_bytes;
        crate::fsutil::create_private_dir(data_dir).map_err(|e| {
            Error::with_source(
                ErrorCode::InitializationFailed,
                format!("creating the data directory {}", data_dir.display()),
                e,
            )
        })?;
        let certificates = CertificateStore::open(data_dir, &admin.policy_signers)?;
        let audit = AuditLog::open_in(data_dir, admin.audit.clone())?;
        let types = verifier.attestation_types();
        let formats = formats::maa_formats()
            .into_iter()
            .filter(|f| types.contains(&f.attestation_type()))
            .collect();
        let metrics = Arc::new(Metrics::new(&types, verifier.cache_counters()));
        let state = Arc::new(Self {
            verifier,
            data_dir: data_dir.to_path_buf(),
            policy_dir: data_dir.join("policies"),
            policy_seen: Mutex::new(HashMap::new()),
            admin,
            certificates,
            audit,
            formats,
            appraisals: limits::AppraisalGate::new(&limits),
            limits,
            ops: Ops::new(ops, metrics),
            readiness_checks: Mutex::new(Vec::new()),
            published_keys: Mutex::new(Vec::new()),
            shared: std::sync::OnceLock::new(),
        });
        for kind in state.verifier.attestation_types() {
            state.refresh_policy(kind)?;
        }
        Ok(state)
    }

    /// The verifier.
    pub fn verifier(&self) -> &Arc<LocalVerifier> {
        &self.verifier
    }

    /// The limits its requests are held to.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The admin audit log.
    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// What the request layer needs (configuration, metrics): serve with
    /// it ([`serve_observed`]) so that `/metrics` counts every request.
    pub fn ops(&self) -> &Ops {
        &self.ops
    }

    /// The metrics `GET /metrics` serves (share them with the key
    /// release: `ReleaseState::with_metrics`).
    pub fn metrics(&self) -> &Arc<Metrics> {
        self.ops.metrics()
    }

    /// Add a check to `GET /readyz` (e.g. `key-store`: the key release's
    /// store answers). It runs on a blocking thread at each probe.
    pub fn add_readiness_check(&self, name: &'static str, check: ReadinessCheck) {
        match self.readiness_checks.lock() {
            Ok(mut c) => c.push((name, check)),
            Err(poisoned) => poisoned.into_inner().push((name, check)),
        }
    }

    /// Publish another signing key (a JWK with its `kid`, `alg` and `x5c`)
    /// in `GET /certs`, after the verifier's own: the ITA profile's PS384
    /// key ([`ita`]). Validators select keys by `kid`.
    pub fn publish_signing_key(&self, jwk: Value) {
        match self.published_keys.lock() {
            Ok(mut k) => k.push(jwk),
            Err(poisoned) => poisoned.into_inner().push(jwk),
        }
    }

    /// The JWKS `GET /certs` serves: the verifier's key, then the keys
    /// published with [`ServiceState::publish_signing_key`].
    pub fn jwks(&self) -> Value {
        let mut jwks = self.verifier.jwks();
        let extra: Vec<Value> = match self.published_keys.lock() {
            Ok(k) => k.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        if let Some(keys) = jwks.get_mut("keys").and_then(Value::as_array_mut) {
            keys.extend(extra);
        }
        jwks
    }

    /// Run the readiness checks (blocking: file system): `data-dir` (the
    /// data directory can be listed), `policies` (each type's stored
    /// policy can be read and applied), `signing-key` (loaded; when the
    /// data directory stores one, it is readable and the loaded one), and
    /// those added. Each with `Err(why)` when it failed.
    pub fn readiness(&self) -> Vec<(&'static str, Result<(), String>)> {
        let mut out = Vec::new();
        let dir = std::fs::read_dir(&self.data_dir).map(|_| ()).map_err(|e| {
            format!(
                "listing the data directory {}: {e}",
                self.data_dir.display()
            )
        });
        if dir.is_err() {
            self.ops.metrics().store_error(Store::DataDir);
        }
        out.push(("data-dir", dir));
        let policies = self
            .verifier
            .attestation_types()
            .into_iter()
            .try_for_each(|kind| self.refresh_policy(kind))
            .map_err(|e| format!("reading the stored policies: {}", e.full_message()));
        out.push(("policies", policies));
        out.push(("signing-key", self.signing_key_ready()));
        let extra: Vec<(&'static str, ReadinessCheck)> = match self.readiness_checks.lock() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        };
        for (name, check) in extra {
            out.push((name, check()));
        }
        out
    }

    /// The signing key is loaded and, when the data directory stores one,
    /// the stored one can be read and is the one loaded (its certificate is
    /// the loaded certificate).
    fn signing_key_ready(&self) -> Result<(), String> {
        let signer = self.verifier.signer();
        if signer.kid().is_empty() {
            return Err("no signing key is loaded".into());
        }
        let key = self.data_dir.join("signing-key.pk8");
        match std::fs::File::open(&key) {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(format!("opening {}: {e}", key.display())),
        }
        let cert = self.data_dir.join("signing-cert.der");
        let stored =
            std::fs::read(&cert).map_err(|e| format!("reading {}: {e}", cert.display()))?;
        if stored != signer.cert_der() {
            return Err(format!(
                "the data directory's signing key ({}) is not the one this service loaded",
                key.display()
            ));
        }
        Ok(())
    }

    /// Whether the service is in isolated mode (policy-management
    /// certificates are configured).
    pub fn isolated(&self) -> Result<bool, Error> {
        self.certificates.isolated()
    }

    fn policy_file(&self, kind: &'static str) -> PathBuf {
        self.policy_dir.join(format!("{kind}.txt"))
    }

    /// The stored policy document as it was sent (text or JWS), if any.
    ///
    /// A data directory that is no longer there (unmounted, moved) is an
    /// error, not "no policy": the service does not fall back to the
    /// default policy because its store went away.
    fn stored_policy(&self, kind: &'static str) -> Result<Option<String>, Error> {
        if let Some(shared) = self.shared() {
            return Ok(shared.cached(kind));
        }
        self.policy_file_read(std::fs::read_to_string(self.policy_file(kind)))
    }

    /// What reading a policy file gave: `None` when there is no file and
    /// the data directory is there; an error (counted) otherwise.
    fn policy_file_read<T>(&self, read: std::io::Result<T>) -> Result<Option<T>, Error> {
        match read {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && self.data_dir.is_dir() => {
                Ok(None)
            }
            Err(e) => {
                self.ops.metrics().store_error(Store::Policies);
                Err(Error::with_source(
                    ErrorCode::InitializationFailed,
                    "reading the stored policy",
                    e,
                ))
            }
        }
    }

    /// Apply the stored policy (or the default when none is stored) if it
    /// differs from the one applied last. Comparing the document, not the
    /// file's time, catches every change another instance makes; the file
    /// is read only when its stamp (inode, size, modification time) moved —
    /// every write replaces it by a rename, so a write always moves it —
    /// which takes the read off the attest path (one `stat`).
    fn refresh_policy(&self, kind: &'static str) -> Result<(), Error> {
        let stamp = match self.shared() {
            Some(_) => None,
            None => {
                let stamp = self.policy_stamp(kind)?;
                let seen = self
                    .policy_seen
                    .lock()
                    .map_err(|_| internal("policy lock poisoned"))?;
                if seen.get(&kind).is_some_and(|(s, _)| *s == Some(stamp)) {
                    return Ok(());
                }
                Some(stamp)
            }
        };
        let doc = self
            .stored_policy(kind)?
            .unwrap_or_else(|| DEFAULT_POLICY.to_string());
        let mut seen = self
            .policy_seen
            .lock()
            .map_err(|_| internal("policy lock poisoned"))?;
        if let Some((s, d)) = seen.get_mut(&kind) {
            if *d == doc {
                *s = stamp;
                return Ok(());
            }
        }
        // Signatures were checked when the document was written.
        let text = load_policy(doc.trim(), &JwsOptions::default())?.text;
        self.verifier.set_policy_for(kind, &text)?;
        seen.insert(kind, (stamp, doc));
        Ok(())
    }

    /// The stored policy file's stamp (`None` inside: no file, and the
    /// data directory is there).
    fn policy_stamp(&self, kind: &'static str) -> Result<PolicyStamp, Error> {
        use std::os::unix::fs::MetadataExt as _;
        Ok(self
            .policy_file_read(std::fs::metadata(self.policy_file(kind)))?
            .map(|m| (m.ino(), m.len(), m.mtime(), m.mtime_nsec())))
    }

    /// Install (and store) a policy from the operator (`serve --policy`):
    /// text or a policy JWS. Code 9 if it does not parse. Not subject to
    /// the admin models — whoever starts the service is its operator — but
    /// audited as `operator`.
    pub async fn install_policy(&self, kind: &'static str, text_or_jws: &str) -> Result<(), Error> {
        let doc = load_policy(text_or_jws.trim(), &JwsOptions::default())?;
        let parsed = tee_attest_policy::Policy::parse(&doc.text)?;
        let old = self.verifier.policy_hash_for(kind);
        self.store_policy(
            kind,
            Some(text_or_jws.trim()),
            shared::PolicyChange {
                actor: "operator",
                action: "policy.set",
                old_hash: old.as_deref(),
                new_hash: Some(parsed.hash()),
            },
        )
        .await
        .map_err(|f| match f {
            shared::SharedFailure::Unavailable(m) => Error::new(ErrorCode::InitializationFailed, m),
            shared::SharedFailure::Failed(e) => e,
        })?;
        self.audit(AuditEvent {
            actor: "operator",
            action: "policy.set",
            target: kind,
            outcome: Outcome::Allowed,
            reason: "installed at start",
            old_hash: old.as_deref(),
            new_hash: Some(parsed.hash()),
            source: None,
        })
        .await;
        Ok(())
    }

    /// Store `kind`'s policy document (`None`: back to the default) and
    /// apply it: in the fleet's store when attached (with its history
    /// row, `change`), else in the data directory.
    async fn store_policy(
        &self,
        kind: &'static str,
        doc: Option<&str>,
        change: shared::PolicyChange<'_>,
    ) -> Result<(), shared::SharedFailure> {
        if let Some(shared) = self.shared() {
            if let Err(f) = shared.write(kind, doc, change).await {
                self.ops.metrics().store_error(Store::Policies);
                return Err(f);
            }
            return self
                .refresh_policy(kind)
                .map_err(shared::SharedFailure::Failed);
        }
        self.store_policy_file(kind, doc)
            .map_err(shared::SharedFailure::Failed)
    }

    fn store_policy_file(&self, kind: &'static str, doc: Option<&str>) -> Result<(), Error> {
        let file = self.policy_file(kind);
        let io = |e| {
            self.ops.metrics().store_error(Store::Policies);
            Error::with_source(ErrorCode::InitializationFailed, "storing the policy", e)
        };
        match doc {
            Some(t) => crate::fsutil::write_private_atomic_as(&file, t.as_bytes(), "policy.write")
                .map_err(io)?,
            None => match std::fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(e)),
            },
        }
        self.refresh_policy(kind)
    }

    /// The attestation type named in a path, any case (as MAA takes it):
    /// one the verifier has an appraiser for.
    fn kind_of(&self, name: &str) -> Result<&'static str, ApiError> {
        self.verifier.attestation_type(name).ok_or_else(|| {
            ApiError::from(Error::new(
                ErrorCode::InvalidInputParameter,
                format!(
                    "unsupported attestation type {:?}: this service appraises {}",
                    name.chars().take(64).collect::<String>(),
                    self.verifier.attestation_types().join(", ")
                ),
            ))
        })
    }

    /// The request format of the attestation type named in a path (any
    /// case): 400, as for a type not appraised, when there is none.
    fn format_of(&self, name: &str) -> Result<Arc<dyn formats::RequestFormat>, ApiError> {
        self.formats
            .iter()
            .find(|f| f.attestation_type().eq_ignore_ascii_case(name))
            .cloned()
            .ok_or_else(|| {
                ApiError::from(Error::new(
                    ErrorCode::InvalidInputParameter,
                    format!(
                        "unsupported attestation type {:?}: this service attests {}",
                        name.chars().take(64).collect::<String>(),
                        self.attest_types().join(", ")
                    ),
                ))
            })
    }

    /// The attestation types `POST /attest/{type}` serves.
    fn attest_types(&self) -> Vec<&'static str> {
        self.formats.iter().map(|f| f.attestation_type()).collect()
    }

    /// Who is calling, for `access`; see [`admin`] for the rules.
    async fn authorize(&self, access: Access, headers: &HeaderMap) -> Result<Caller, Denied> {
        let anonymous = || {
            Ok(Caller {
                actor: "anonymous".into(),
            })
        };
        match access {
            Access::Write => {
                if let Some(v) = &self.admin.bearer {
                    return bearer_caller(v, headers).await;
                }
                if self.admin.insecure_admin {
                    return Ok(Caller {
                        actor: "insecure-admin".into(),
                    });
                }
                match self.certificates.isolated() {
                    // The document's signature decides.
                    Ok(true) => anonymous(),
                    Ok(false) => Err(Denied::Forbidden(
                        "administration is not enabled on this service: start it with \
                         --admin-issuer (bearer tokens) or --policy-signers (signed policies)"
                            .into(),
                    )),
                    Err(e) => {
                        self.ops.metrics().store_error(Store::Certificates);
                        Err(Denied::Unavailable(e.message().to_string()))
                    }
                }
            }
            Access::Read if self.admin.read_auth => match &self.admin.bearer {
                Some(v) => bearer_caller(v, headers).await,
                None => Err(Denied::Forbidden("reads need a bearer model".into())),
            },
            Access::Attest if self.admin.attest_auth => match &self.admin.bearer {
                Some(v) => bearer_caller(v, headers).await,
                None => Err(Denied::Forbidden("attestation needs a bearer model".into())),
            },
            Access::Read | Access::Attest => anonymous(),
        }
    }

    /// Record an admin event; a failure to record is logged, not fatal to
    /// the request (the action has happened or been refused already).
    /// In the fleet's store when attached, else the data directory's log.
    async fn audit(&self, event: AuditEvent<'_>) {
        let failed = match self.shared() {
            Some(shared) => shared::record_audit(shared.pg(), self.audit.config(), &event)
                .await
                .err()
                .map(|f| f.into_error()),
            None => self.audit.record(&event).err(),
        };
        if let Some(e) = failed {
            self.ops.metrics().store_error(Store::Audit);
            tracing::error!(
                action = event.action,
                "the admin audit could not be written: {}",
                e.full_message()
            );
        }
    }

    /// Record a refused admin attempt. The actor is `anonymous` without a
    /// credential and `unverified-bearer` with one that did not validate
    /// (its claims are not trusted, so they are not recorded).
    async fn audit_refusal(
        &self,
        headers: &HeaderMap,
        action: &str,
        target: &str,
        denied: &Denied,
        addr: ClientAddr,
    ) {
        let actor = if headers.contains_key(axum::http::header::AUTHORIZATION) {
            "unverified-bearer"
        } else {
            "anonymous"
        };
        self.audit(AuditEvent {
            actor,
            action,
            target,
            outcome: Outcome::Refused,
            reason: denied.reason(),
            old_hash: None,
            new_hash: None,
            source: addr.describe().as_deref(),
        })
        .await;
    }
}

fn internal(msg: &str) -> Error {
    Error::new(ErrorCode::InitializationFailed, msg.to_string())
}

/// An error as MAA answers it.
struct ApiError(Error);

impl ApiError {
    /// The error's message (for the audit).
    fn message(&self) -> &str {
        self.0.message()
    }
}

impl<E: Into<Error>> From<E> for ApiError {
    fn from(e: E) -> Self {
        ApiError(e.into())
    }
}

impl ApiError {
    /// The status an error is answered with.
    fn status_of(e: &Error) -> StatusCode {
        Self::status_and_code(e).0
    }

    fn status_and_code(e: &Error) -> (StatusCode, &'static str) {
        match e.code() {
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
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = Self::status_and_code(&self.0);
        if status.is_server_error() {
            tracing::error!(error = %self.0.full_message(), "the request failed");
        }
        ErrorBody::response(status, code, self.0.full_message())
    }
}

/// Whether an attestation answer carries an unsigned token (`alg: none`:
/// the result of a draft policy). AzureGuest answers are sealed and never
/// drafts.
fn is_unsigned_answer(body: &str) -> bool {
    use base64::Engine as _;
    /// The answer's `token`, borrowed (no tree, no copy of the token).
    #[derive(serde::Deserialize)]
    struct Answer<'a> {
        #[serde(borrow)]
        token: std::borrow::Cow<'a, str>,
    }
    /// The JOSE header's `alg`.
    #[derive(serde::Deserialize)]
    struct Header<'a> {
        #[serde(borrow)]
        alg: Option<std::borrow::Cow<'a, str>>,
    }
    let Ok(answer) = serde_json::from_str::<Answer<'_>>(body) else {
        return false;
    };
    let Some((header, _)) = answer.token.split_once('.') else {
        return false;
    };
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|h| {
            serde_json::from_slice::<Header<'_>>(&h)
                .ok()?
                .alg
                .map(|a| a == "none")
        })
        .unwrap_or(false)
}

/// A request body as text: UTF-8, trimmed, and unquoted when it is a JSON
/// string (Microsoft's SDK sends certificate changes that way).
fn body_text(body: &[u8]) -> Result<String, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| Error::new(ErrorCode::InvalidInputParameter, "the body is not UTF-8"))?
        .trim();
    if text.starts_with('"') {
        let s: String = serde_json::from_str(text).map_err(|e| {
            Error::new(
                ErrorCode::InvalidInputParameter,
                format!("the body is not a JSON string: {e}"),
            )
        })?;
        return Ok(s.trim().to_string());
    }
    Ok(text.to_string())
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
) -> Result<Json<TokenResponse>, ApiError> {
    let v = &state.verifier;
    let t = now();
    claims.insert("iss".into(), json!(v.issuer()));
    claims.insert("iat".into(), json!(t));
    claims.insert("nbf".into(), json!(t));
    claims.insert(
        "exp".into(),
        json!(t + (8 * 3600u64).min(v.key_set().max_validity_secs())),
    );
    let jwt = v
        .signer()
        .sign(
            &Value::Object(claims),
            &format!("{}/certs", v.issuer()),
            false,
        )
        .map_err(Error::from)?;
    Ok(Json(TokenResponse { token: jwt }))
}

/// `GET /certs`.
#[utoipa::path(
    get,
    path = "/certs",
    operation_id = "getSigningCertificates",
    tag = "metadata",
    summary = "The keys that verify this service's tokens (JWKS)",
    responses(
        (status = 200, description = "The signing keys, each with `kid`, `n`, `e` and its \
            certificate in `x5c`.", body = Jwks),
    )
)]
async fn certs(State(s): State<Arc<ServiceState>>) -> Json<Value> {
    Json(s.jwks())
}

/// `GET /.well-known/openid-configuration`.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    operation_id = "getOpenIdMetadata",
    tag = "metadata",
    summary = "OpenID metadata: the issuer and where its keys are",
    responses(
        (status = 200, description = "`issuer` (the tokens' `iss`) and `jwks_uri`.",
            body = OpenIdConfiguration),
    )
)]
async fn openid(State(s): State<Arc<ServiceState>>) -> Json<OpenIdConfiguration> {
    let iss = s.verifier.issuer();
    let v = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    Json(OpenIdConfiguration {
        issuer: iss.to_string(),
        jwks_uri: format!("{iss}/certs"),
        response_types_supported: v(&["token", "none"]),
        id_token_signing_alg_values_supported: {
            let mut algs = v(&["RS256"]);
            for a in s.jwks()["keys"].as_array().into_iter().flatten() {
                if let Some(a) = a.get("alg").and_then(Value::as_str) {
                    if !algs.iter().any(|x| x == a) {
                        algs.push(a.to_string());
                    }
                }
            }
            algs
        },
        token_endpoint_auth_methods_supported: v(&["none"]),
        claims_supported: v(&[
            "x-ms-ver",
            "x-ms-attestation-type",
            "x-ms-policy-hash",
            "x-ms-runtime",
            "x-ms-isolation-tee",
            "nonce",
            "iss",
            "iat",
            "exp",
            "nbf",
            "jti",
        ]),
    })
}

/// `kind`, the attestation type in a path (its schema — the types this
/// service serves — is set at run time).
#[derive(Debug, utoipa::IntoParams)]
#[into_params(parameter_in = Path)]
#[allow(dead_code)]
pub(crate) struct Kind {
    /// The attestation type, in any case: `AzureGuest`, `SevSnpVm`, `TdxVm`
    /// or `SgxEnclave` (those this service has an appraiser for).
    kind: String,
}

/// `POST /attest/{type}`: one appraisal (CPU-bound) off the async workers,
/// with the type's policy refreshed first; the answer is the format's.
#[utoipa::path(
    post,
    path = "/attest/{kind}",
    operation_id = "attest",
    tag = "attestation",
    summary = "Appraise evidence; answer a token",
    description = "`AzureGuest`: Microsoft's guest attestation request; the answer's `token` is \
        the base64url envelope sealing the JWT to the request's `TpmEphemeralEncryptionKey` \
        (docs/PROTOCOLS.md). `SevSnpVm`: an SNP report, its VCEK chain and runtime data; the \
        answer's `token` is the JWT. `TdxVm` / `SgxEnclave`: a TD / SGX quote and the runtime \
        data its report data binds (Intel DCAP collateral from the service's sources); the \
        answer's `token` is the JWT. With `draftPolicyForAttestation` the token is unsigned \
        (`alg: none`).",
    params(Kind, ApiVersion),
    request_body(content = AttestRequest, content_type = "application/json",
        description = "The attestation type's request: `{\"AttestationInfo\"}` for \
            AzureGuest, `{\"report\", \"runtimeData\", …}` for SevSnpVm, `{\"quote\", \
            \"runtimeData\", …}` for TdxVm and SgxEnclave. Evidence that \
            does not verify is refused (400), whatever its shape."),
    responses(
        (status = 200, description = "The evidence verified and the policy permitted it.",
            body = TokenResponse),
        (status = 400, description = "`AttestationFailed` (the evidence did not verify, or \
            the policy refused it), `InvalidPolicy` (the draft policy), `InvalidParameter` \
            (malformed request, unsupported attestation type).", body = ErrorBody),
        (status = 401, description = "`--attest-auth bearer` and no valid bearer token.",
            body = ErrorBody, headers(("WWW-Authenticate" = String, description = "`Bearer`"))),
        (status = 403, description = "`--attest-auth bearer` and a token without the role.",
            body = ErrorBody),
        (status = 408, description = "The body was not received within the body read \
            time-out (20 s by default).", body = ErrorBody),
        (status = 413, description = "The body is larger than the service accepts (4 MiB by \
            default).", body = ErrorBody),
        (status = 429, description = "Too many appraisals are running and waiting: try again \
            after `Retry-After` seconds.", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds."))),
        (status = 500, description = "An internal failure (e.g. the stored policy cannot \
            be read).", body = ErrorBody),
        (status = 503, description = "The bearer token cannot be checked now (the \
            administrators' issuer is unreachable), the request took longer than the request \
            time-out (30 s by default), or request bodies fill the memory set aside for them.",
            body = ErrorBody, headers(("Retry-After" = String, description = "Seconds."))),
    ),
    security((), ("bearer" = []))
)]
async fn attest(
    State(s): State<Arc<ServiceState>>,
    PathParams(kind): PathParams<String>,
    headers: HeaderMap,
    RequestBody(body): RequestBody,
) -> Result<Response, ApiError> {
    let format = s.format_of(&kind)?;
    let kind = format.attestation_type();
    if let Err(d) = s.authorize(Access::Attest, &headers).await {
        return Ok(d.into_response());
    }
    // JSON no deeper than the limit: every format served (`maa_formats`:
    // AzureGuest, SevSnpVm, TdxVm, SgxEnclave) checks the body's depth
    // first thing in its parser, within the same limits, before building
    // anything; a second pass here cost 2–3 % of the service's CPU
    // (docs/PERFORMANCE.md, bench-serve).
    let permit = match s.appraisals.enter().await {
        Ok(p) => p,
        Err(refusal) => return Ok(refusal),
    };
    s.refresh_policy(kind)?;
    // The permit goes with the work: an appraisal whose request timed out
    // still counts until it ends. So does the request's span (its id).
    let span = tracing::Span::current();
    let state = s.clone();
    let out = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let _span = span.enter();
        let start = std::time::Instant::now();
        let out = format.handle_limited(&state.verifier, &body, &state.limits.request);
        let outcome = match &out {
            Ok(_) => "ok",
            Err(e) if ApiError::status_of(e).is_client_error() => "refused",
            Err(_) => "error",
        };
        let metrics = state.ops.metrics();
        metrics.appraisal(kind, outcome, start.elapsed().as_secs_f64());
        if let Ok(body) = &out {
            metrics.token_issued(kind, is_unsigned_answer(body));
        }
        out
    })
    .await
    .map_err(|e| {
        ApiError::from(Error::with_source(
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

/// The components, security scheme and tags of the verifier's document.
#[derive(utoipa::OpenApi)]
#[openapi(
    components(schemas(
        openapi::ErrorBody,
        openapi::ErrorDetail,
        openapi::TokenResponse,
        openapi::Jwks,
        openapi::Jwk,
        openapi::OpenIdConfiguration,
        openapi::AttestRequest,
        openapi::AzureGuestRequest,
        openapi::SevSnpVmRequest,
        openapi::QuoteRequest,
        openapi::RuntimeData,
        openapi::RuntimeDataType,
        openapi::PolicyDocument,
        openapi::Jws,
        ops::Health,
    )),
    modifiers(&BearerScheme),
    tags(
        (name = "attestation", description = "Evidence in, token out (MAA's protocols)."),
        (name = "metadata", description = "What relying parties need to check tokens."),
        (name = "policies", description = "Attestation policies, one per type (MAA's policy API)."),
        (name = "certificates", description = "Policy-management certificates (MAA's isolated mode)."),
        (name = "service", description = "This document."),
        (name = "operations", description = "Metrics, liveness and readiness, for the operator's tools."),
    )
)]
struct VerifierDoc;

/// The `bearer` security scheme: an administrator's (or, with
/// `--attest-auth bearer`, a caller's) JWT.
struct BearerScheme;

impl utoipa::Modify for BearerScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(
                    HttpBuilder::new()
                        .scheme(HttpAuthScheme::Bearer)
                        .bearer_format("JWT")
                        .description(Some(
                            "A JWT from the administrators' OpenID issuer (--admin-issuer), for \
                             its audience, carrying its role. Needed only where the service was \
                             started so: policy and certificate writes with --admin-issuer, \
                             reads with --admin-read-auth, attestation with --attest-auth \
                             bearer.",
                        ))
                        .build(),
                ),
            );
    }
}

/// The service's routes and their OpenAPI description, built from one
/// table: each handler is served at the method and path its
/// `#[utoipa::path]` names ([`openapi`]).
pub fn api(state: Arc<ServiceState>) -> Api {
    let attest_types = state.attest_types();
    let policy_types = state.verifier.attestation_types();
    let mut api = Routes::new(<VerifierDoc as utoipa::OpenApi>::openapi())
        .operation::<__path_attest, _, _>(attest)
        .operation::<__path_certs, _, _>(certs)
        .operation::<__path_openid, _, _>(openid)
        // GET|PUT /policies/{kind} and POST /policies/{kind}:reset: one
        // axum route (no parameter with a suffix in axum's router).
        .resource(
            "/policies/{kind}",
            any(policies::policy_resource),
            [
                Documented::of::<policies::__path_get_policy>(),
                Documented::of::<policies::__path_put_policy>(),
                // A reset without a body is a reset (outside isolated mode).
                Documented::body_optional(Documented::of::<policies::__path_reset_policy>()),
            ]
            .concat(),
        )
        .operation::<certificates::__path_get_certificates, _, _>(certificates::get_certificates)
        .operation::<certificates::__path_add_certificate, _, _>(certificates::add_certificate)
        .operation::<certificates::__path_remove_certificate, _, _>(
            certificates::remove_certificate,
        )
        .operation::<ops::__path_metrics, _, _>(ops::metrics)
        .operation::<ops::__path_healthz, _, _>(ops::healthz)
        .operation::<ops::__path_readyz, _, _>(ops::readyz)
        .body_limit(state.limits.max_body_bytes)
        .with_state(state);
    api.set_path_parameter(
        "/attest/{kind}",
        "kind",
        openapi::attestation_type_schema(&attest_types),
    );
    for path in ["/policies/{kind}", "/policies/{kind}:reset"] {
        api.set_path_parameter(
            path,
            "kind",
            openapi::attestation_type_schema(&policy_types),
        );
    }
    api
}

/// The service's routes, to merge into another router (see [`api`] for
/// them with their description, and [`Api::into_app`] for the whole
/// application).
pub fn router(state: Arc<ServiceState>) -> Router {
    api(state).into_router()
}

/// Serve HTTPS (rustls, HTTP/1.1) on `addr` with a PEM certificate chain
/// and key until `shutdown` completes, within the state's [`Limits`]
/// (requests in flight get [`Limits::shutdown_grace`] to finish).
pub async fn serve_tls(
    addr: std::net::SocketAddr,
    state: Arc<ServiceState>,
    cert_pem: &Path,
    key_pem: &Path,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let limits = state.limits.clone();
    let ops = state.ops.clone();
    serve_observed_tls(
        addr,
        api(state).into_app(),
        cert_pem,
        key_pem,
        limits,
        ops,
        shutdown,
    )
    .await
}

/// Serve on `listener` until `shutdown` completes (then finish the requests
/// in flight), within the state's [`Limits`].
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<ServiceState>,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let limits = state.limits.clone();
    let ops = state.ops.clone();
    serve_observed(listener, api(state).into_app(), limits, ops, shutdown).await
}

/// [`serve`] for any application built on [`api`] (e.g. merged with the
/// key release's, then [`Api::into_app`]), within the default [`Limits`].
pub async fn serve_app(
    listener: tokio::net::TcpListener,
    app: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve_app_with(listener, app, Limits::default(), shutdown).await
}

/// [`serve_app`] within `limits`: connections, header, idle, body and
/// request time-outs, body sizes and memory ([`limits`]), and a shutdown
/// that finishes within [`Limits::shutdown_grace`] whatever the clients do.
pub async fn serve_app_with(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve_observed(listener, app, limits, Ops::default(), shutdown).await
}

/// [`serve_app_with`], every request going through the request layer with
/// `ops` ([`ops::observe`]: request id, client address, metrics, one log
/// line): give the [`ServiceState::ops`] of the state the app was built
/// on, so that its `/metrics` counts these requests.
pub async fn serve_observed(
    listener: tokio::net::TcpListener,
    app: Router,
    limits: Limits,
    ops: Ops,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let app = observed(limits::limit(app, &limits), ops);
    server::run(listener, app, limits, None, shutdown).await
}

/// `app` behind the request layer (outermost, so that it sees every
/// answer, the limits' refusals included).
fn observed(app: Router, ops: Ops) -> Router {
    app.layer(axum::middleware::from_fn(move |req, next| {
        ops::observe(ops.clone(), req, next)
    }))
}

/// [`serve_tls`] for any application built on [`api`], within the default
/// [`Limits`].
pub async fn serve_app_tls(
    addr: std::net::SocketAddr,
    app: Router,
    cert_pem: &Path,
    key_pem: &Path,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve_app_tls_with(addr, app, cert_pem, key_pem, Limits::default(), shutdown).await
}

/// [`serve_observed`] over TLS (as [`serve_app_tls_with`]).
pub async fn serve_observed_tls(
    addr: std::net::SocketAddr,
    app: Router,
    cert_pem: &Path,
    key_pem: &Path,
    limits: Limits,
    ops: Ops,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    let acceptor = server::tls_acceptor(cert_pem, key_pem).await?;
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
        Error::with_source(
            ErrorCode::InitializationFailed,
            format!("binding {addr}"),
            e,
        )
    })?;
    let app = observed(limits::limit(app, &limits), ops);
    server::run(listener, app, limits, Some(acceptor), shutdown).await
}

/// [`serve_app_tls`] within `limits` (as [`serve_app_with`]; the TLS
/// handshake counts against the header read time-out).
pub async fn serve_app_tls_with(
    addr: std::net::SocketAddr,
    app: Router,
    cert_pem: &Path,
    key_pem: &Path,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), Error> {
    serve_observed_tls(
        addr,
        app,
        cert_pem,
        key_pem,
        limits,
        Ops::default(),
        shutdown,
    )
    .await
}
