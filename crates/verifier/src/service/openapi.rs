//! The service's contract: an OpenAPI 3.1 document generated from the
//! handlers' `#[utoipa::path]` annotations, and the router built from the
//! same annotations, so that the two cannot drift apart.
//!
//! A crate that serves routes builds an [`Api`] with [`Routes`]:
//! [`Routes::operation`] serves a handler at the method and path its
//! annotation names and documents it there; [`Routes::resource`] serves one
//! axum route for documented paths that axum's router cannot express
//! (MAA's `POST /policies/{type}:reset` next to `GET|PUT /policies/{type}`:
//! a path parameter with a suffix), its handler dispatching on the method
//! and the suffix itself. [`Api::merge`] joins the verifier's and the key
//! release's; [`Api::into_app`] adds `GET /openapi.json` (documented like
//! the others), the 503 every route may answer when a request outlives
//! [`super::REQUEST_TIMEOUT`], and MAA-shaped 404 and 405 answers for what
//! is not served.
//!
//! `crates/cli/tests/openapi.rs` checks, against `tee-attest serve`, that
//! every documented operation is served and nothing else is; `cargo xtask
//! test` runs Schemathesis against the document (`docs/VERIFIER.md`).

use std::collections::BTreeSet;
use std::sync::{Arc, OnceLock};

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Path as UrlPath, Request};
use axum::handler::Handler;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::Serialize;
use utoipa::openapi::path::{HttpMethod, Operation, PathItem};
use utoipa::openapi::{OpenApi, RefOr};
use utoipa::{IntoParams, ToSchema};

// ---------------------------------------------------------------------------
// Bodies the service sends and accepts
// ---------------------------------------------------------------------------

/// Every error body: MAA's (and Key Vault's) `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// The `error` member of an [`ErrorBody`].
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// `AttestationFailed`, `InvalidPolicy`, `InvalidParameter`,
    /// `Unauthorized`, `Forbidden`, `NotFound`, `MethodNotAllowed`,
    /// `RequestBodyTooLarge`, `ServiceUnavailable`, `InternalError`; the key
    /// release answers `BadParameter`, `KeyNotFound`, `Forbidden`,
    /// `InternalError`.
    pub code: String,
    /// What went wrong, in words.
    pub message: String,
}

impl ErrorBody {
    /// An error body.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        Self {
            error: ErrorDetail {
                code: code.to_string(),
                message: message.into(),
            },
        }
    }

    /// The response `status` with this body.
    pub fn response(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
        (status, Json(Self::new(code, message))).into_response()
    }
}

/// `{"token": …}`: a JWT the service signed (or, for AzureGuest, the
/// base64url envelope that seals it to the request's ephemeral key).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct TokenResponse {
    /// The token.
    pub token: String,
}

/// A JSON Web Key Set (`/certs`, `/keyrelease/certs`).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Jwks {
    /// The keys.
    pub keys: Vec<Jwk>,
}

/// One RSA signing key, with its certificate.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Jwk {
    /// `RSA`.
    pub kty: String,
    /// The key's id (the tokens' `kid`).
    pub kid: String,
    /// Modulus, base64url.
    pub n: String,
    /// Exponent, base64url.
    pub e: String,
    /// `sig`.
    #[serde(rename = "use")]
    #[schema(required = false)]
    pub use_: String,
    /// `RS256` (MAA-profile tokens), or `PS384` (the ITA profile's key).
    #[schema(required = false)]
    pub alg: String,
    /// The certificate chain, base64 DER.
    pub x5c: Vec<String>,
}

/// OpenID Provider metadata: where relying parties find the keys.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OpenIdConfiguration {
    /// The issuer tokens carry (`iss`).
    pub issuer: String,
    /// `{issuer}/certs`.
    pub jwks_uri: String,
    /// `["token", "none"]`.
    pub response_types_supported: Vec<String>,
    /// `["RS256"]`, and `PS384` when the ITA profile is served.
    pub id_token_signing_alg_values_supported: Vec<String>,
    /// `["none"]`.
    pub token_endpoint_auth_methods_supported: Vec<String>,
    /// The claims tokens carry.
    pub claims_supported: Vec<String>,
}

/// The body of `POST /attest/{type}`: the type's request format.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // a schema only: the formats parse the bytes themselves
pub enum AttestRequest {
    /// `AzureGuest`.
    AzureGuest(AzureGuestRequest),
    /// `SevSnpVm`.
    SevSnpVm(SevSnpVmRequest),
    /// `TdxVm` and `SgxEnclave`.
    Quote(QuoteRequest),
}

/// `POST /attest/AzureGuest`: Microsoft's guest attestation request.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct AzureGuestRequest {
    /// base64url of the JSON `AttestationInfo` document (TPM quote and
    /// certification, HCL report, TCG log, OS information, client payload).
    #[serde(rename = "AttestationInfo")]
    #[schema(min_length = 1)]
    pub attestation_info: String,
}

/// `POST /attest/SevSnpVm`: an SNP report, its chain, runtime data.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct SevSnpVmRequest {
    /// base64url of the JSON `{"SnpReport", "VcekCertChain"}` document.
    #[schema(min_length = 1)]
    pub report: String,
    /// Data the report binds (`report_data` begins with its SHA-256).
    #[serde(rename = "runtimeData")]
    pub runtime_data: Option<RuntimeData>,
    /// Data the launch bound (host data).
    #[serde(rename = "initTimeData")]
    pub init_time_data: Option<RuntimeData>,
    /// Echoed as the token's `nonce` when the JSON runtime data carries it.
    pub nonce: Option<String>,
    /// A policy to evaluate instead of the configured one: the token is
    /// then unsigned (`alg: none`).
    #[serde(rename = "draftPolicyForAttestation")]
    pub draft_policy_for_attestation: Option<String>,
}

/// `POST /attest/TdxVm`, `POST /attest/SgxEnclave`: a TD (SGX) quote and
/// the runtime data its report data binds.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct QuoteRequest {
    /// base64url of the quote (TDX v4/v5 for TdxVm, SGX v3 for SgxEnclave).
    #[schema(min_length = 1)]
    pub quote: String,
    /// Data the quote binds (`report_data` begins with its SHA-256).
    #[serde(rename = "runtimeData")]
    pub runtime_data: Option<RuntimeData>,
    /// Accepted, not appraised.
    #[serde(rename = "initTimeData")]
    pub init_time_data: Option<RuntimeData>,
    /// Echoed as the token's `nonce` when the JSON runtime data carries it.
    pub nonce: Option<String>,
    /// A policy to evaluate instead of the configured one: the token is
    /// then unsigned (`alg: none`).
    #[serde(rename = "draftPolicyForAttestation")]
    pub draft_policy_for_attestation: Option<String>,
}

/// `runtimeData` / `initTimeData`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[allow(dead_code)]
pub struct RuntimeData {
    /// base64url of the data.
    pub data: String,
    /// How the data is read.
    #[serde(rename = "dataType")]
    pub data_type: RuntimeDataType,
}

/// How runtime data is read.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[allow(dead_code)]
pub enum RuntimeDataType {
    /// Opaque bytes.
    Binary,
    /// UTF-8 JSON: its members become `x-ms-runtime` claims.
    #[serde(rename = "JSON")]
    Json,
}

/// A policy document (`PUT /policies/{type}`): the policy text, or a JWS
/// carrying it; not blank.
#[derive(Debug, Clone)]
pub struct PolicyDocument;

impl utoipa::PartialSchema for PolicyDocument {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"\S"))
            .description(Some(
                "The policy text (MAA policy language 1.0–1.2), or a JWS whose payload's \
                 `AttestationPolicy` is the text, base64url.",
            ))
            .examples([serde_json::json!(
                "version=1.0; authorizationrules { => permit(); };"
            )])
            .into()
    }
}

impl ToSchema for PolicyDocument {}

/// A JWS in compact form (`header.payload.signature`, base64url).
#[derive(Debug, Clone)]
pub struct Jws;

impl utoipa::PartialSchema for Jws {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        ObjectBuilder::new()
            .schema_type(Type::String)
            .pattern(Some(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*$"))
            .description(Some("A JWS in compact serialization."))
            .into()
    }
}

impl ToSchema for Jws {}

/// `api-version`: accepted and ignored (MAA's clients send it).
#[derive(Debug, Clone, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ApiVersion {
    /// MAA's API version, e.g. `2020-10-01` or `2022-08-01`.
    #[param(rename = "api-version")]
    pub api_version: Option<String>,
}

// ---------------------------------------------------------------------------
// Extractors whose refusals are MAA's error body
// ---------------------------------------------------------------------------

/// The request body, within the route's limit: a larger one is a 413
/// `RequestBodyTooLarge`, a body that cannot be read a 400, both with the
/// error body (axum's own refusals are plain text).
#[derive(Debug, Clone)]
pub struct RequestBody(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for RequestBody {
    type Rejection = Response;

    async fn from_request(req: Request, state: &S) -> Result<Self, Response> {
        Bytes::from_request(req, state)
            .await
            .map(Self)
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ErrorBody::response(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "RequestBodyTooLarge",
                        "the request body is larger than this route accepts",
                    )
                } else {
                    ErrorBody::response(
                        StatusCode::BAD_REQUEST,
                        "InvalidParameter",
                        format!("the request body could not be read: {}", e.body_text()),
                    )
                }
            })
    }
}

/// Path parameters; a path that does not decode (not UTF-8 once
/// percent-decoded) is a 400 with the error body.
#[derive(Debug, Clone)]
pub struct PathParams<T>(pub T);

impl<T, S> FromRequestParts<S> for PathParams<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Response> {
        UrlPath::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e| {
                ErrorBody::response(
                    StatusCode::BAD_REQUEST,
                    "InvalidParameter",
                    format!("the path does not decode: {}", e.body_text()),
                )
            })
    }
}

/// A 405 for a method the resource does not serve, with `Allow`.
pub fn method_not_allowed(method: &Method, allow: &str) -> Response {
    let mut r = ErrorBody::response(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("{method} is not served here (allowed: {allow})"),
    );
    if let Ok(v) = HeaderValue::from_str(allow) {
        r.headers_mut().insert(header::ALLOW, v);
    }
    r
}

async fn no_route(method: Method, uri: Uri) -> Response {
    ErrorBody::response(
        StatusCode::NOT_FOUND,
        "NotFound",
        format!(
            "no route for {method} {}",
            uri.path().chars().take(256).collect::<String>()
        ),
    )
}

async fn wrong_method(method: Method) -> Response {
    // axum adds the `Allow` header of the route.
    ErrorBody::response(
        StatusCode::METHOD_NOT_ALLOWED,
        "MethodNotAllowed",
        format!("{method} is not served on this path (see its Allow header)"),
    )
}

// ---------------------------------------------------------------------------
// The table: routes and document together
// ---------------------------------------------------------------------------

/// One documented operation: method, path as the document names it, and
/// its description — from a handler's `#[utoipa::path]`.
#[derive(Clone)]
pub struct Documented {
    method: HttpMethod,
    path: String,
    operation: Operation,
}

impl std::fmt::Debug for Documented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", method_name(&self.method), self.path)
    }
}

impl Documented {
    /// These operations with their request body optional: utoipa marks a
    /// body required unless its type is an `Option` (which would also make
    /// it nullable).
    pub fn body_optional(ops: Vec<Documented>) -> Vec<Documented> {
        ops.into_iter()
            .map(|mut d| {
                if let Some(RefOr::T(b)) = d.operation.request_body.as_mut() {
                    b.required = Some(utoipa::openapi::Required::False);
                }
                d
            })
            .collect()
    }

    /// The operations `P` (a `__path_<handler>` type that
    /// `#[utoipa::path]` generates) documents.
    pub fn of<P: utoipa::Path>() -> Vec<Documented> {
        P::methods()
            .into_iter()
            .map(|method| Documented {
                method,
                path: P::path(),
                operation: P::operation(),
            })
            .collect()
    }
}

/// The method's name, upper case.
pub fn method_name(m: &HttpMethod) -> &'static str {
    match m {
        HttpMethod::Get => "GET",
        HttpMethod::Post => "POST",
        HttpMethod::Put => "PUT",
        HttpMethod::Delete => "DELETE",
        HttpMethod::Options => "OPTIONS",
        HttpMethod::Head => "HEAD",
        HttpMethod::Patch => "PATCH",
        HttpMethod::Trace => "TRACE",
    }
}

fn method_filter(m: &HttpMethod) -> MethodFilter {
    match m {
        HttpMethod::Get => MethodFilter::GET,
        HttpMethod::Post => MethodFilter::POST,
        HttpMethod::Put => MethodFilter::PUT,
        HttpMethod::Delete => MethodFilter::DELETE,
        HttpMethod::Options => MethodFilter::OPTIONS,
        HttpMethod::Head => MethodFilter::HEAD,
        HttpMethod::Patch => MethodFilter::PATCH,
        HttpMethod::Trace => MethodFilter::TRACE,
    }
}

/// The operations of a path item, mutable.
fn operations_mut(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

/// `(METHOD, path)` of every operation `doc` describes, sorted.
pub fn documented_operations(doc: &OpenApi) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            ("GET", item.get.is_some()),
            ("PUT", item.put.is_some()),
            ("POST", item.post.is_some()),
            ("DELETE", item.delete.is_some()),
            ("OPTIONS", item.options.is_some()),
            ("HEAD", item.head.is_some()),
            ("PATCH", item.patch.is_some()),
            ("TRACE", item.trace.is_some()),
            ("QUERY", item.query.is_some()),
        ];
        for (m, present) in methods {
            if present {
                out.insert((m.to_string(), path.clone()));
            }
        }
        for m in item.additional_operations.keys() {
            out.insert((m.to_uppercase(), path.clone()));
        }
    }
    out
}

/// Routes being built, with state `S` still to give.
pub struct Routes<S> {
    router: Router<S>,
    doc: OpenApi,
    served: BTreeSet<(String, String)>,
}

impl<S: Clone + Send + Sync + 'static> Routes<S> {
    /// No routes yet; `doc` brings the info, components and tags.
    pub fn new(doc: OpenApi) -> Self {
        Self {
            router: Router::new(),
            doc,
            served: BTreeSet::new(),
        }
    }

    /// Serve `handler` at the method(s) and path its `#[utoipa::path]`
    /// (`P`, the generated `__path_<handler>`) names, and document it there.
    pub fn operation<P, H, T>(self, handler: H) -> Self
    where
        P: utoipa::Path,
        H: Handler<T, S>,
        T: 'static,
    {
        let ops = Documented::of::<P>();
        let filter = ops
            .iter()
            .map(|d| method_filter(&d.method))
            .reduce(MethodFilter::or)
            .expect("#[utoipa::path] names a method");
        self.resource(&P::path(), on(filter, handler), ops)
    }

    /// Serve `methods` at the axum path `path` and document `ops` there.
    /// For documented paths axum cannot route (a parameter followed by a
    /// suffix, `/policies/{kind}:reset`), `path` is the documented path
    /// without the suffix and the handler dispatches itself (answering 405
    /// with the right `Allow` for what the document does not list).
    ///
    /// # Panics
    ///
    /// When a documented path is neither `path` nor `path` plus a suffix
    /// after its last parameter (a programming error, caught by the tests).
    pub fn resource(mut self, path: &str, methods: MethodRouter<S>, ops: Vec<Documented>) -> Self {
        for d in ops {
            let suffix = d.path.strip_prefix(path);
            assert!(
                suffix == Some("")
                    || (path.ends_with('}')
                        && suffix.is_some_and(|s| !s.contains(['/', '{', '}']))),
                "documented path {} is not served by route {path}",
                d.path
            );
            self.served
                .insert((method_name(&d.method).to_string(), d.path.clone()));
            self.doc
                .paths
                .add_path_operation(&d.path, vec![d.method], d.operation);
        }
        self.router = self.router.route(path, methods);
        self
    }

    /// Requests bodies of these routes are limited to `limit` bytes.
    pub fn body_limit(mut self, limit: usize) -> Self {
        self.router = self
            .router
            .layer(axum::extract::DefaultBodyLimit::max(limit));
        self
    }

    /// The routes, with their state.
    pub fn with_state(self, state: S) -> Api {
        Api {
            router: self.router.with_state(state),
            doc: self.doc,
            served: self.served,
        }
    }
}

/// Routes with their state and their description.
pub struct Api {
    router: Router,
    doc: OpenApi,
    served: BTreeSet<(String, String)>,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Api")
            .field("served", &self.served)
            .finish_non_exhaustive()
    }
}

/// The document's title and description.
const TITLE: &str = "tee-attest";
const DESCRIPTION: &str = "The tee-attest verifier service (`tee-attest serve`), shaped like \
Microsoft Azure Attestation's REST API, and the key release next to it, shaped like Azure Key \
Vault's Secure Key Release. Errors are `{\"error\": {\"code\", \"message\"}}`. Bearer tokens are \
needed only where the service was started with an administrators' issuer (`--admin-issuer`, \
`--admin-read-auth`, `--attest-auth bearer`); see docs/SECURITY.md.";

impl Api {
    /// `(METHOD, path)` of every operation the routes serve, as documented
    /// paths.
    pub fn served(&self) -> &BTreeSet<(String, String)> {
        &self.served
    }

    /// The description.
    pub fn openapi(&self) -> &OpenApi {
        &self.doc
    }

    /// Set the schema of path parameter `name` on the operations of
    /// `path` (every method): for values only known at run time (the
    /// attestation types a verifier serves).
    pub fn set_path_parameter(
        &mut self,
        path: &str,
        name: &str,
        schema: utoipa::openapi::schema::Schema,
    ) {
        let Some(item) = self.doc.paths.paths.get_mut(path) else {
            return;
        };
        for op in operations_mut(item) {
            for p in op.parameters.iter_mut().flatten() {
                if let RefOr::T(p) = p {
                    if p.name == name {
                        p.schema = Some(RefOr::T(schema.clone()));
                    }
                }
            }
        }
    }

    /// These routes and `other`'s (which must not overlap).
    pub fn merge(mut self, other: Api) -> Api {
        self.router = self.router.merge(other.router);
        self.doc.merge(other.doc);
        self.served.extend(other.served);
        self
    }

    /// The routes alone, to merge into another router.
    pub fn into_router(self) -> Router {
        self.router
    }

    /// The whole application: these routes, `GET /openapi.json` (itself
    /// documented), the 503 of a request that outlives
    /// [`super::REQUEST_TIMEOUT`] on every operation, and the error body for
    /// paths not served (404) and methods a path does not serve (405, with
    /// `Allow`).
    pub fn into_app(self) -> Router {
        let (router, _) = self.into_app_and_document();
        router
    }

    /// [`Api::into_app`], and the document it serves.
    pub fn into_app_and_document(self) -> (Router, Arc<serde_json::Value>) {
        let cell: Arc<OnceLock<Arc<serde_json::Value>>> = Arc::new(OnceLock::new());
        let mut api = self.merge(
            Routes::new(OpenApi::default())
                .operation::<__path_openapi_json, _, _>(openapi_json)
                .with_state(cell.clone()),
        );
        api.doc.info.title = TITLE.into();
        api.doc.info.version = env!("CARGO_PKG_VERSION").into();
        api.doc.info.description = Some(DESCRIPTION.into());
        api.doc.info.license = Some(
            utoipa::openapi::LicenseBuilder::new()
                .name("MIT OR Apache-2.0")
                .identifier(Some("MIT OR Apache-2.0"))
                .build(),
        );
        debug_assert_eq!(api.served, documented_operations(&api.doc));
        let doc = Arc::new(finish_document(&api.doc));
        let _ = cell.set(doc.clone());
        let router = api
            .router
            .fallback(no_route)
            .method_not_allowed_fallback(wrong_method);
        (router, doc)
    }
}

/// The document as served: utoipa's, plus what its model cannot say
/// (`required` on the `WWW-Authenticate` and `Retry-After` response
/// headers), and the timeout's 503 on every operation.
fn finish_document(doc: &OpenApi) -> serde_json::Value {
    let mut v = serde_json::to_value(doc).unwrap_or_default();
    let unavailable = serde_json::json!({
        "description": "The request took longer than the service allows (30 s by default), \
            a credential could not be checked now, or request bodies fill the memory set aside \
            for them: try again after `Retry-After` seconds.",
        "headers": {"Retry-After": {
            "description": "Seconds to wait before trying again.",
            "required": true,
            "schema": {"type": "string"}
        }},
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    });
    if let Some(paths) = v.get_mut("paths").and_then(|p| p.as_object_mut()) {
        for item in paths.values_mut().filter_map(|i| i.as_object_mut()) {
            for op in item.values_mut().filter_map(|o| o.as_object_mut()) {
                let Some(responses) = op.get_mut("responses").and_then(|r| r.as_object_mut())
                else {
                    continue;
                };
                responses
                    .entry("503")
                    .or_insert_with(|| unavailable.clone());
                for response in responses.values_mut() {
                    let Some(headers) = response.get_mut("headers").and_then(|h| h.as_object_mut())
                    else {
                        continue;
                    };
                    for (name, h) in headers.iter_mut() {
                        if name.eq_ignore_ascii_case("www-authenticate")
                            || name.eq_ignore_ascii_case("retry-after")
                        {
                            h["required"] = serde_json::Value::Bool(true);
                        }
                    }
                }
            }
        }
    }
    v
}

/// `GET /openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "service",
    summary = "This service's OpenAPI 3.1 document",
    responses(
        (status = 200, description = "The OpenAPI document: every route this service serves, \
            with its request and response bodies.", body = Object, content_type = "application/json"),
    )
)]
async fn openapi_json(
    axum::extract::State(doc): axum::extract::State<Arc<OnceLock<Arc<serde_json::Value>>>>,
) -> Response {
    match doc.get() {
        Some(d) => Json(d.as_ref().clone()).into_response(),
        None => ErrorBody::response(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the document is not ready",
        ),
    }
}

/// A JSON Schema pattern matching `names` in any case (as the service
/// takes attestation types), anchored.
pub fn any_case_pattern(names: &[&str]) -> String {
    let alternatives: Vec<String> = names
        .iter()
        .map(|n| {
            n.chars()
                .map(|c| {
                    if c.is_ascii_alphabetic() {
                        format!("[{}{}]", c.to_ascii_uppercase(), c.to_ascii_lowercase())
                    } else if c.is_ascii_alphanumeric() {
                        c.to_string()
                    } else {
                        format!("\\{c}")
                    }
                })
                .collect()
        })
        .collect();
    format!("^(?:{})$", alternatives.join("|"))
}

/// A string path parameter schema: one of `names`, in any case.
pub fn attestation_type_schema(names: &[&str]) -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(any_case_pattern(names)))
        .examples(names.iter().map(|n| serde_json::json!(n)))
        .description(Some(format!(
            "An attestation type this service serves, in any case: {}.",
            names.join(", ")
        )))
        .into()
}

/// The `Retry-After` value of the service's 503s (seconds).
pub const RETRY_AFTER_SECS: &str = "5";

#[cfg(test)]
mod tests {
    use super::*;

    /// `GET /a/{x}`.
    #[utoipa::path(get, path = "/a/{x}", responses((status = 200, description = "ok")))]
    async fn a() {}

    /// `POST /a/{x}:go`.
    #[utoipa::path(post, path = "/a/{x}:go", responses((status = 200, description = "ok")))]
    #[allow(dead_code)] // documented only: `a` dispatches
    async fn a_go() {}

    /// `POST /b`.
    #[utoipa::path(post, path = "/b", responses((status = 200, description = "ok")))]
    async fn b() {}

    #[test]
    fn the_table_serves_what_it_documents() {
        let api = Routes::<()>::new(OpenApi::default())
            .operation::<__path_b, _, _>(b)
            .resource(
                "/a/{x}",
                axum::routing::any(a),
                [
                    Documented::of::<__path_a>(),
                    Documented::of::<__path_a_go>(),
                ]
                .concat(),
            )
            .with_state(());
        let expected: BTreeSet<(String, String)> =
            [("GET", "/a/{x}"), ("POST", "/a/{x}:go"), ("POST", "/b")]
                .iter()
                .map(|(m, p)| (m.to_string(), p.to_string()))
                .collect();
        assert_eq!(api.served(), &expected);
        assert_eq!(documented_operations(api.openapi()), expected);
        let (_, doc) = api.into_app_and_document();
        // /openapi.json documents itself, and every operation may time out.
        assert!(doc["paths"]["/openapi.json"]["get"].is_object());
        for p in ["/a/{x}", "/b", "/openapi.json"] {
            for (_, op) in doc["paths"][p].as_object().unwrap() {
                assert_eq!(
                    op["responses"]["503"]["headers"]["Retry-After"]["required"],
                    true
                );
            }
        }
    }

    #[test]
    #[should_panic(expected = "is not served by route")]
    fn a_documented_path_the_route_does_not_serve_is_refused() {
        let _ = Routes::<()>::new(OpenApi::default()).resource(
            "/b",
            axum::routing::any(b),
            Documented::of::<__path_a>(),
        );
    }

    #[test]
    fn attestation_types_match_in_any_case_only() {
        let p = any_case_pattern(&["AzureGuest", "SevSnpVm"]);
        assert_eq!(
            p,
            "^(?:[Aa][Zz][Uu][Rr][Ee][Gg][Uu][Ee][Ss][Tt]|[Ss][Ee][Vv][Ss][Nn][Pp][Vv][Mm])$"
        );
    }
}
