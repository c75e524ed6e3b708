//! Administration of an MAA-compatible service: policies and
//! policy-management certificates, as MAA's REST API (api-version
//! 2020-10-01) and Microsoft's attestation SDKs shape them.
//!
//! ```text
//! GET  {base}/policies/{type}            → x-ms-policy (a JWS), x-ms-policy-signer
//! PUT  {base}/policies/{type}            body: policy JWS (unsigned or RS256 + x5c)
//! POST {base}/policies/{type}:reset      body: JWS with an empty payload (signed in isolated mode)
//! GET  {base}/certificates               → x-ms-policy-certificates {"keys": [JWK]}
//! POST {base}/certificates:add|remove    body: JWS of {"policyCertificate": JWK}, signed
//! ```
//!
//! Every answer is a token signed by the service; the client checks its
//! signature against the service's `/certs` (fetched once) and its
//! expiry before reading it. A bearer token, when given, is sent as
//! `Authorization: Bearer` and never logged.

use serde_json::Value;
use tee_attest_core::AttestationToken;
use tee_attest_http::{Http, HttpConfig, Method};
use zeroize::Zeroizing;

use crate::validate::{Jwks, TokenValidator};
use crate::{MaaError, ValidationProfile};

/// The REST API version of the administration calls.
pub const ADMIN_API_VERSION: &str = "2020-10-01";

/// What a policy write or reset did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyResult {
    /// `Updated` or `Removed`.
    pub result: String,
    /// `x-ms-policy-token-hash`: base64url SHA-256 of the document sent.
    pub token_hash: Option<String>,
    /// `x-ms-policy-signer`: the signer's JWK, when the document was signed.
    pub signer: Option<Value>,
}

/// The policy a service has for an attestation type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPolicy {
    /// The policy document as the service holds it (`x-ms-policy`: a JWS).
    pub document: String,
    /// The policy text inside it.
    pub text: String,
    /// `x-ms-policy-signer`, when the policy was signed.
    pub signer: Option<Value>,
}

/// What a certificate change did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateResult {
    /// `x-ms-certificate-thumbprint` (SHA-1 of the DER, hex).
    pub thumbprint: String,
    /// `IsPresent` or `IsAbsent`.
    pub result: String,
}

/// A client for the administration endpoints of an MAA-compatible service.
pub struct AdminClient {
    base: String,
    http: Http,
    bearer: Option<Zeroizing<String>>,
    validator: tokio::sync::OnceCell<TokenValidator>,
}

impl std::fmt::Debug for AdminClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminClient")
            .field("base", &self.base)
            .field("bearer", &self.bearer.is_some())
            .finish_non_exhaustive()
    }
}

fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    base64_simd::URL_SAFE_NO_PAD
        .decode_to_vec(s.trim_end_matches('='))
        .ok()
}

impl AdminClient {
    /// A client of the service at `base` (`https://host:port`).
    pub fn new(base: &str, http: HttpConfig) -> Result<Self, MaaError> {
        let base = base.trim().trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&base)
            .map_err(|e| MaaError::InvalidInput(format!("{base:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(MaaError::InvalidInput(format!(
                "{base:?} is not an http(s) URL"
            )));
        }
        Ok(Self {
            base,
            http: Http::new(http)?,
            bearer: None,
            validator: tokio::sync::OnceCell::new(),
        })
    }

    /// Sends `Authorization: Bearer <token>` with every request.
    #[must_use]
    pub fn with_bearer(mut self, token: &str) -> Self {
        self.bearer = Some(Zeroizing::new(token.trim().to_string()));
        self
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}?api-version={ADMIN_API_VERSION}", self.base)
    }

    /// Sends a request and returns the claims of the token it answers with.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<(&str, &[u8])>,
    ) -> Result<AttestationToken, MaaError> {
        let url = self.url(path);
        let auth = self
            .bearer
            .as_ref()
            .map(|t| Zeroizing::new(format!("Bearer {}", t.as_str())));
        let mut headers: Vec<(&str, &str)> = vec![("Accept", "application/json")];
        if let Some(a) = &auth {
            headers.push(("Authorization", a.as_str()));
        }
        if let Some((ct, _)) = body {
            headers.push(("Content-Type", ct));
        }
        let resp = self
            .http
            .request(method, &url, &headers, body.map(|(_, b)| b))
            .await?;
        if !resp.is_success() {
            let message = match crate::client::service_error(&resp.body) {
                Some((code, message)) => format!("{code}: {message}"),
                None => {
                    String::from_utf8_lossy(&resp.body[..resp.body.len().min(200)]).into_owned()
                }
            };
            return Err(MaaError::HttpStatus {
                url,
                status: resp.status,
                message,
            });
        }
        let doc: Value = serde_json::from_slice(&resp.body)
            .map_err(|e| MaaError::json("the administration response", e))?;
        let token = doc
            .get("token")
            .and_then(Value::as_str)
            .ok_or_else(|| MaaError::json("the administration response", "no `token` string"))?;
        self.validator().await?.validate(token, None).await
    }

    /// The validator of the service's answers: its `/certs`, fetched once.
    async fn validator(&self) -> Result<&TokenValidator, MaaError> {
        self.validator
            .get_or_try_init(|| async {
                let url = format!("{}/certs", self.base);
                let resp = self.http.get(&url, &[]).await?;
                if !resp.is_success() {
                    return Err(MaaError::HttpStatus {
                        url,
                        status: resp.status,
                        message: "fetching the service's signing keys".into(),
                    });
                }
                let jwks = Jwks::parse(&resp.body)?;
                Ok(TokenValidator::with_jwks(Some(&self.base), jwks)
                    .with_profile(ValidationProfile::maa().require_version(false)))
            })
            .await
    }

    /// The policy for `attestation_type` (`AzureGuest`, `SevSnpVm`, …).
    pub async fn get_policy(&self, attestation_type: &str) -> Result<StoredPolicy, MaaError> {
        let t = self
            .call(Method::GET, &format!("/policies/{attestation_type}"), None)
            .await?;
        let claims = t.claims();
        let document = claims
            .get("x-ms-policy")
            .and_then(Value::as_str)
            .ok_or_else(|| MaaError::json("the policy response", "no `x-ms-policy`"))?
            .to_string();
        let text = document
            .split('.')
            .nth(1)
            .and_then(b64url_decode)
            .and_then(|p| serde_json::from_slice::<Value>(&p).ok())
            .and_then(|p| {
                p.get("AttestationPolicy")
                    .and_then(Value::as_str)
                    .map(str::to_string)
            })
            .and_then(|b| b64url_decode(&b))
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| {
                MaaError::json("the policy response", "`x-ms-policy` carries no policy")
            })?;
        Ok(StoredPolicy {
            document,
            text,
            signer: claims.get("x-ms-policy-signer").cloned(),
        })
    }

    fn policy_result(t: &AttestationToken) -> Result<PolicyResult, MaaError> {
        let claims = t.claims();
        Ok(PolicyResult {
            result: claims
                .get("x-ms-policy-result")
                .and_then(Value::as_str)
                .ok_or_else(|| MaaError::json("the policy response", "no `x-ms-policy-result`"))?
                .to_string(),
            token_hash: claims
                .get("x-ms-policy-token-hash")
                .and_then(Value::as_str)
                .map(str::to_string),
            signer: claims.get("x-ms-policy-signer").cloned(),
        })
    }

    /// Sets the policy: `document` is a policy JWS (unsigned, or signed
    /// with `tee_attest_policy::jws::sign_policy`).
    pub async fn set_policy(
        &self,
        attestation_type: &str,
        document: &str,
    ) -> Result<PolicyResult, MaaError> {
        let t = self
            .call(
                Method::PUT,
                &format!("/policies/{attestation_type}"),
                Some(("text/plain", document.trim().as_bytes())),
            )
            .await?;
        Self::policy_result(&t)
    }

    /// Resets the policy to the default; `document` is a JWS with an empty
    /// payload (signed, in isolated mode), or `None`.
    pub async fn reset_policy(
        &self,
        attestation_type: &str,
        document: Option<&str>,
    ) -> Result<PolicyResult, MaaError> {
        let t = self
            .call(
                Method::POST,
                &format!("/policies/{attestation_type}:reset"),
                Some((
                    "text/plain",
                    document
                        .unwrap_or("eyJhbGciOiJub25lIn0..")
                        .trim()
                        .as_bytes(),
                )),
            )
            .await?;
        Self::policy_result(&t)
    }

    /// The policy-management certificates (JWKs with `x5c`).
    pub async fn certificates(&self) -> Result<Vec<Value>, MaaError> {
        let t = self.call(Method::GET, "/certificates", None).await?;
        t.claims()
            .get("x-ms-policy-certificates")
            .and_then(|c| c.get("keys"))
            .and_then(Value::as_array)
            .cloned()
            .ok_or_else(|| {
                MaaError::json("the certificates response", "no `x-ms-policy-certificates`")
            })
    }

    /// Adds (`add`) or removes a policy-management certificate: `document`
    /// is a JWS of `{"policyCertificate": JWK}` signed by a current one.
    pub async fn change_certificate(
        &self,
        add: bool,
        document: &str,
    ) -> Result<CertificateResult, MaaError> {
        let path = if add {
            "/certificates:add"
        } else {
            "/certificates:remove"
        };
        let body = Value::String(document.trim().to_string()).to_string();
        let t = self
            .call(
                Method::POST,
                path,
                Some(("application/json", body.as_bytes())),
            )
            .await?;
        let claims = t.claims();
        let s = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .map(str::to_string)
                .ok_or_else(|| MaaError::json("the certificates response", format!("no `{name}`")))
        };
        Ok(CertificateResult {
            thumbprint: s("x-ms-certificate-thumbprint")?,
            result: s("x-ms-policycertificates-result")?,
        })
    }
}
