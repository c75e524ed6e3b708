//! The release client: asks this crate's service or Azure Key Vault for a
//! key (same code), verifies the signed response when a JWKS is trusted,
//! and unwraps the key inside the vTPM.
//!
//! ```no_run
//! # async fn demo(token: &str, decryptor: &dyn tee_attest_core::Decryptor) -> tee_attest_keyrelease::Result<()> {
//! use tee_attest_keyrelease::client::{release_key, unwrap_released_key, ClientConfig};
//! use tee_attest_keyrelease::Enc;
//!
//! let response = release_key(
//!     "http://127.0.0.1:8700", "my-key", None, token,
//!     Enc::RsaAesKeyWrap256, Some("n-123"), &ClientConfig::default(),
//! ).await?;
//! let key = unwrap_released_key(&response, decryptor).await?; // Zeroizing<Vec<u8>>
//! # Ok(()) }
//! ```

use async_trait::async_trait;
use aws_lc_rs::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest_core::{AttestationToken, Decryptor, KeyBroker, KeyReleaseRequest, ReleasedKey};
use tee_attest_keys::RsaPublic;
use tee_attest_maa::HttpConfig;
use zeroize::Zeroizing;

use crate::error::{KeyReleaseError, Result};
use crate::store::check_name;
use crate::wrap::{unwrap_key_hsm, Enc, KeyHsm};

/// The `api-version` sent to Key Vault by default.
pub const DEFAULT_API_VERSION: &str = "7.4";

/// How the client talks to the broker.
#[derive(Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// Time-outs, proxy use and the response size cap (retries are not
    /// used: a release is not idempotent once its nonce is spent).
    pub http: HttpConfig,
    /// The `api-version` query parameter.
    pub api_version: String,
    /// A bearer token (Azure AD / Entra ID) for Key Vault; `None` for the
    /// local service.
    pub bearer_token: Option<Zeroizing<String>>,
    /// The JWKS whose keys sign release responses; when set, responses
    /// whose signature does not verify with the key of their `kid` are
    /// refused.
    pub trusted_jwks: Option<Value>,
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("http", &self.http)
            .field("api_version", &self.api_version)
            .field("bearer_token", &self.bearer_token.as_ref().map(|_| ".."))
            .field("trusted_jwks", &self.trusted_jwks.is_some())
            .finish()
    }
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            http: HttpConfig::default(),
            api_version: DEFAULT_API_VERSION.to_string(),
            bearer_token: None,
            trusted_jwks: None,
        }
    }
}

impl ClientConfig {
    /// Trust the signer keys of `jwks` (`{"keys": [...]}`, RSA `n`/`e`).
    #[must_use]
    pub fn with_trusted_jwks(mut self, jwks: Value) -> Self {
        self.trusted_jwks = Some(jwks);
        self
    }

    /// Send `token` as the bearer token (Key Vault).
    #[must_use]
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(Zeroizing::new(token.into()));
        self
    }

    /// Use `http` for time-outs and limits.
    #[must_use]
    pub fn with_http(mut self, http: HttpConfig) -> Self {
        self.http = http;
        self
    }
}

/// A release response: the signed JWS and what its payload says.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KeyReleaseResponse {
    /// The JWS (`value`).
    pub jws: String,
    /// Its JOSE header.
    pub header: Value,
    /// Its payload (`{"request", "response"}`).
    pub payload: Value,
    /// The released key's JWK (with `key_hsm`).
    pub key: Value,
    /// The key's `kid`, if given.
    pub kid: Option<String>,
    /// The `key_hsm` value.
    pub key_hsm: String,
    /// The wrapping algorithm (`key_hsm` header `enc`).
    pub enc: Enc,
}

fn malformed(m: impl Into<String>) -> KeyReleaseError {
    KeyReleaseError::Malformed(m.into())
}

fn b64json(part: &str, what: &str) -> Result<Value> {
    let bytes = URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|e| malformed(format!("the JWS {what} is not base64url: {e}")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| malformed(format!("the JWS {what} is not JSON: {e}")))
}

impl KeyReleaseResponse {
    /// Parse the `value` JWS of a release response. The key is taken from
    /// `response.key.key` (Key Vault's SKR shape), or `key` for the flat
    /// shape of the REST reference. Code 2 when it is neither.
    pub fn parse(jws: &str) -> Result<Self> {
        let jws = jws.trim();
        let mut parts = jws.split('.');
        let (Some(h), Some(p), Some(_), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("`value` is not a compact JWS"));
        };
        let header = b64json(h, "header")?;
        let payload = b64json(p, "payload")?;
        let key = payload
            .pointer("/response/key/key")
            .or_else(|| payload.get("key"))
            .filter(|k| k.is_object())
            .cloned()
            .ok_or_else(|| malformed("the payload has no response.key.key"))?;
        let key_hsm = key
            .get("key_hsm")
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("the released key has no key_hsm"))?
            .to_string();
        let enc = KeyHsm::parse(&key_hsm)?.enc;
        Ok(Self {
            jws: jws.to_string(),
            kid: key.get("kid").and_then(Value::as_str).map(str::to_string),
            header,
            payload,
            key,
            key_hsm,
            enc,
        })
    }

    /// The nonce the broker echoed (`request.nonce`).
    pub fn nonce(&self) -> Option<&str> {
        self.payload
            .pointer("/request/nonce")
            .and_then(Value::as_str)
    }

    /// Verify the RS256 signature with the key of the header's `kid` in
    /// `jwks` (code 6 when it does not verify or no key matches).
    pub fn verify_signature(&self, jwks: &Value) -> Result<()> {
        let bad = |m: &str| KeyReleaseError::ResponseSignature(m.to_string());
        if self.header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(bad("alg is not RS256"));
        }
        let kid = self.header.get("kid").and_then(Value::as_str);
        let keys = jwks
            .get("keys")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("the trusted JWKS has no keys"))?;
        let candidates: Vec<&Value> = keys
            .iter()
            .filter(|k| kid.is_none() || k.get("kid").and_then(Value::as_str) == kid)
            .collect();
        let [jwk] = candidates.as_slice() else {
            return Err(bad("no single trusted key matches the response's kid"));
        };
        let public = RsaPublic::from_jwk(jwk).map_err(|e| bad(&e.to_string()))?;
        let (signed, sig) = self
            .jws
            .rsplit_once('.')
            .ok_or_else(|| bad("not a compact JWS"))?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| bad("the signature is not base64url"))?;
        RsaPublicKeyComponents {
            n: &public.n,
            e: &public.e,
        }
        .verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &sig)
        .map_err(|_| bad("the signature does not verify with the trusted key"))
    }
}

/// Unwrap a released key: RSA-OAEP of the transfer key inside the vTPM (the
/// `decryptor`), then AES-KWP, into a zeroizing buffer (PKCS#8 for RSA/EC
/// keys, raw bytes for `oct`). The OAEP hash is the one `enc` names
/// (SHA-1, SHA-256, SHA-384), all done by the TPM (see [`unwrap_key_hsm`]).
pub async fn unwrap_released_key(
    response: &KeyReleaseResponse,
    decryptor: &dyn Decryptor,
) -> Result<Zeroizing<Vec<u8>>> {
    unwrap_key_hsm(&response.key_hsm, decryptor).await
}

/// A client of one key broker (this crate's service or a Key Vault).
#[derive(Debug, Clone)]
pub struct KeyReleaseClient {
    base_url: String,
    http: reqwest::Client,
    config: ClientConfig,
}

fn check_version(v: &str) -> Result<()> {
    if v.is_empty() || v.len() > 64 || !v.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(KeyReleaseError::InvalidInput(
            "a key version is 1 to 64 letters and digits".into(),
        ));
    }
    Ok(())
}

impl KeyReleaseClient {
    /// A client for the broker at `base_url` (`https://NAME.vault.azure.net`
    /// or `http://127.0.0.1:8700`).
    pub fn new(base_url: &str, config: ClientConfig) -> Result<Self> {
        let url = reqwest::Url::parse(base_url.trim()).map_err(|e| {
            KeyReleaseError::InvalidInput(format!("{base_url:?} is not a URL: {e}"))
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(KeyReleaseError::InvalidInput(format!(
                "{base_url:?} is not an http(s) URL"
            )));
        }
        let mut b = reqwest::Client::builder()
            .timeout(config.http.timeout)
            .connect_timeout(config.http.connect_timeout);
        if !config.http.proxy_from_env {
            b = b.no_proxy();
        }
        let http = b
            .build()
            .map_err(|e| KeyReleaseError::InvalidInput(format!("HTTP client: {e}")))?;
        Ok(Self {
            base_url: base_url.trim().trim_end_matches('/').to_string(),
            http,
            config,
        })
    }

    /// Ask for key `name` (`version`, else the current one) for the holder
    /// of `token`, wrapped with `enc`. When a JWKS is trusted, the
    /// response's signature is verified; a nonce must come back as sent.
    pub async fn release(
        &self,
        name: &str,
        version: Option<&str>,
        token: &str,
        enc: Enc,
        nonce: Option<&str>,
    ) -> Result<KeyReleaseResponse> {
        check_name(name)?;
        if let Some(v) = version {
            check_version(v)?;
        }
        let api = &self.config.api_version;
        if api.is_empty()
            || !api
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        {
            return Err(KeyReleaseError::InvalidInput(
                "api-version is letters, digits, '.' and '-'".into(),
            ));
        }
        let url = match version {
            Some(v) => format!(
                "{}/keys/{name}/{v}/release?api-version={api}",
                self.base_url
            ),
            None => format!("{}/keys/{name}/release?api-version={api}", self.base_url),
        };
        let mut body = json!({"target": token, "enc": enc.name()});
        if let Some(n) = nonce {
            body["nonce"] = json!(n);
        }
        let mut req = self
            .http
            .post(&url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string());
        if let Some(t) = &self.config.bearer_token {
            req = req.bearer_auth(t.as_str());
        }
        let send = |e: reqwest::Error| KeyReleaseError::Send {
            url: url.clone(),
            reason: e.without_url().to_string(),
        };
        let mut resp = req.send().await.map_err(send)?;
        let status = resp.status();
        let mut bytes = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(send)? {
            if bytes.len() + chunk.len() > self.config.http.max_response_bytes {
                return Err(malformed(format!(
                    "the response is larger than {} bytes",
                    self.config.http.max_response_bytes
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        let doc: Option<Value> = serde_json::from_slice(&bytes).ok();
        if !status.is_success() {
            let err = doc.as_ref().and_then(|d| d.get("error"));
            let field = |k: &str| {
                err.and_then(|e| e.get(k))
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .chars()
                    .take(2048)
                    .collect::<String>()
            };
            return Err(KeyReleaseError::HttpStatus {
                url,
                status: status.as_u16(),
                code: field("code"),
                message: field("message"),
            });
        }
        let jws = doc
            .as_ref()
            .and_then(|d| d.get("value"))
            .and_then(Value::as_str)
            .ok_or_else(|| malformed("the response has no string `value`"))?;
        let parsed = KeyReleaseResponse::parse(jws)?;
        if let Some(jwks) = &self.config.trusted_jwks {
            parsed.verify_signature(jwks)?;
        }
        if let (Some(sent), Some(got)) = (nonce, parsed.nonce()) {
            if sent != got {
                return Err(malformed("the response echoes another nonce"));
            }
        }
        Ok(parsed)
    }
}

/// Ask the broker at `base_url` for key `name` (see
/// [`KeyReleaseClient::release`]).
pub async fn release_key(
    base_url: &str,
    name: &str,
    version: Option<&str>,
    token: &str,
    enc: Enc,
    nonce: Option<&str>,
    config: &ClientConfig,
) -> Result<KeyReleaseResponse> {
    KeyReleaseClient::new(base_url, config.clone())?
        .release(name, version, token, enc, nonce)
        .await
}

#[async_trait]
impl KeyBroker for KeyReleaseClient {
    async fn release(
        &self,
        token: &AttestationToken,
        request: &KeyReleaseRequest,
    ) -> tee_attest_core::Result<ReleasedKey> {
        let enc = Enc::parse(&request.enc)?;
        let resp = KeyReleaseClient::release(
            self,
            &request.name,
            request.version.as_deref(),
            token.raw(),
            enc,
            request.nonce.as_deref(),
        )
        .await?;
        let kid = resp.kid.clone().unwrap_or_else(|| request.name.clone());
        Ok(ReleasedKey::new(kid, resp.jws))
    }
}
