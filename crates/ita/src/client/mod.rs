//! [`ItaClient`]: Intel Trust Authority as a [`Verifier`].
//!
//! ```text
//! challenge(TdxVm | AzureGuest/Tdx, nonce, payload)
//!   GET {base}/appraisal/v2/nonce  (x-api-key, Accept, request-id) ─▶ {val, iat, signature}
//!   user data   = the client payload as JSON, with the caller's nonce
//!   report data = SHA-512(val ‖ iat ‖ user data)  ─▶ Challenge (remembered by report data)
//! verify(evidence)
//!   report data read back (TD quote REPORTDATA, or the HCL variable data's user-data)
//!   ─▶ the nonce issued for it ─▶ POST {base}/appraisal/v2/attest[/azure]
//!   retries: transport errors, time-outs, 408, 429 (Retry-After), 5xx ─▶ code 4 (7 if never answered)
//!   401/403 ─▶ code 3; other 4xx ─▶ code 6 with ITA's message; not JSON ─▶ 16; empty ─▶ 18
//!   {"token": JWT} ─▶ ItaValidator (JWKS from the certs URL, verifier_nonce, policies)
//! ```
//!
//! Every request carries a fresh random `request-id` (a UUID), which
//! errors report. The API key goes only into `x-api-key`: never in logs,
//! `Debug` output or errors, and redirects are not followed (a redirect
//! would carry the header to another host).

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Map, Value};
use tee_attest_core::{
    AttestationToken, Challenge, CodedError, Evidence, EvidenceType, Verifier, VerifyOptions,
};
use tee_attest_http::{Http, HttpConfig, Method, Response};

mod messages;

pub(crate) use messages::quote_report_data;
use messages::{kind_of, token_from_answer, user_data, var_data_user_data};

use crate::error::from_http;
use crate::request::{report_data, service_message, NONCE_PATH};
use crate::{
    ApiKey, AttestOptions, AttestRequest, EvidenceKind, Expectations, ItaError, ItaToken,
    ItaValidator, KeyTrust, PinnedRoots, TokenAlg, VerifierNonce,
};

/// ITA's API in the US region.
pub const US_API_URL: &str = "https://api.trustauthority.intel.com";
/// ITA's API in the EU region.
pub const EU_API_URL: &str = "https://api.eu.trustauthority.intel.com";
/// The token signing keys of the US region (the portal's `/certs`).
pub const US_CERTS_URL: &str = "https://portal.trustauthority.intel.com/certs";
/// The token signing keys of the EU region.
pub const EU_CERTS_URL: &str = "https://portal.eu.trustauthority.intel.com/certs";
/// The evidence type of bare-metal TDX guests (a TD quote).
pub const TDX_VM: EvidenceType = EvidenceType::new("TdxVm", None);
/// The evidence type of Azure TDX CVMs (TD quote and HCL report).
pub const AZURE_GUEST_TDX: EvidenceType = EvidenceType::new("AzureGuest", Some("Tdx"));
/// How long an issued challenge is remembered.
pub const CHALLENGE_TTL: Duration = Duration::from_secs(600);
/// How many issued challenges are remembered at most.
pub const MAX_PENDING_CHALLENGES: usize = 256;
/// The largest answer read from ITA (bytes).
pub const MAX_ANSWER_BYTES: usize = 1024 * 1024;

/// `url` trimmed, without a trailing slash, checked to be http(s) with a
/// host (code 8 otherwise).
pub(crate) fn check_url(url: &str, what: &str) -> Result<String, ItaError> {
    let u = url.trim().trim_end_matches('/');
    let rest = u
        .strip_prefix("https://")
        .or_else(|| u.strip_prefix("http://"))
        .ok_or_else(|| ItaError::InvalidInput(format!("{what} {u:?} is not an http(s) URL")))?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty()
        || host.starts_with(':')
        || u.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(ItaError::InvalidInput(format!(
            "{what} {u:?} is not an http(s) URL with a host"
        )));
    }
    Ok(u.to_string())
}

/// The certs (JWKS) URL for an API base URL: for Intel's hosts
/// (`api.<region.>trustauthority.intel.com`), the portal's `/certs`
/// (`https://portal.<region.>trustauthority.intel.com/certs`); otherwise
/// `/certs` on the same origin. Code 8 for a URL that is not http(s).
pub fn certs_url_for(api_base: &str) -> Result<String, ItaError> {
    let base = check_url(api_base, "the ITA base URL")?;
    let (scheme, rest) = base.split_once("://").unwrap_or(("https", &base));
    let authority = rest.split('/').next().unwrap_or_default();
    let host = authority
        .rsplit_once(':')
        .filter(|(_, port)| port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(authority, |(h, _)| h)
        .to_ascii_lowercase();
    if let Some(region) = host.strip_prefix("api.") {
        if region == "trustauthority.intel.com" || region.ends_with(".trustauthority.intel.com") {
            return Ok(format!("https://portal.{region}/certs"));
        }
    }
    Ok(format!("{scheme}://{authority}/certs"))
}

/// A random `request-id`: a version-4 UUID.
fn request_id() -> String {
    let mut b = [0u8; 16];
    if aws_lc_rs::rand::fill(&mut b).is_err() {
        // The id only correlates logs: a clock-derived one will do.
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        b = t.to_le_bytes();
    }
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// How an [`ItaClient`] is set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ItaConfig {
    /// The API base URL ([`US_API_URL`], [`EU_API_URL`], or another).
    pub base_url: String,
    /// The JWKS URL; `None`: [`certs_url_for`] the base URL.
    pub certs_url: Option<String>,
    /// The API key.
    pub api_key: ApiKey,
    /// Policies, `policy_must_match`, the signing algorithm.
    pub options: AttestOptions,
    /// How far the JWKS keys are trusted: pinned roots (recommended), or
    /// as served by the certs URL (the default, as no Intel root ships
    /// with this crate).
    pub trust: KeyTrust,
    /// HTTP time-outs, retries and size cap (redirects are never followed,
    /// answers are capped at [`MAX_ANSWER_BYTES`]).
    pub http: HttpConfig,
}

impl ItaConfig {
    /// A configuration for `base_url` with `api_key`, no policies, ITA's
    /// default algorithm, keys as served by the derived certs URL, default
    /// HTTP settings.
    pub fn new(base_url: &str, api_key: ApiKey) -> Self {
        Self {
            base_url: base_url.to_string(),
            certs_url: None,
            api_key,
            options: AttestOptions::default(),
            trust: KeyTrust::AsServed,
            http: HttpConfig::default(),
        }
    }

    /// Appraises with these policies (UUIDs; code 8 otherwise); with
    /// `must_match`, ITA issues no token unless all match. Either way the
    /// client accepts a token only if all are in `policy_ids_matched`.
    pub fn with_policies(
        mut self,
        policy_ids: impl IntoIterator<Item = String>,
        must_match: bool,
    ) -> Result<Self, ItaError> {
        self.options = AttestOptions::new(policy_ids, must_match, self.options.token_signing_alg)?;
        Ok(self)
    }

    /// Asks for tokens signed with `alg`.
    #[must_use]
    pub fn with_token_signing_alg(mut self, alg: TokenAlg) -> Self {
        self.options.token_signing_alg = Some(alg);
        self
    }

    /// Takes the keys from `url` instead of the derived certs URL.
    #[must_use]
    pub fn with_certs_url(mut self, url: &str) -> Self {
        self.certs_url = Some(url.to_string());
        self
    }

    /// Trusts JWKS keys only through `x5c` chains to `roots`.
    #[must_use]
    pub fn with_pinned_roots(mut self, roots: PinnedRoots) -> Self {
        self.trust = KeyTrust::Pinned(roots);
        self
    }

    /// Uses `http` for ITA and the certs URL.
    #[must_use]
    pub fn with_http(mut self, http: HttpConfig) -> Self {
        self.http = http;
        self
    }
}

/// A challenge issued and not yet used.
struct Pending {
    report_data: [u8; 64],
    nonce: VerifierNonce,
    user_data: Vec<u8>,
    caller_nonce: Vec<u8>,
    issued: Instant,
}

/// An Intel Trust Authority client: a [`Verifier`] for bare TDX and Azure
/// TDX evidence, with lower-level [`ItaClient::nonce`] and
/// [`ItaClient::attest`].
pub struct ItaClient {
    base_url: String,
    certs_url: String,
    api_key: ApiKey,
    options: AttestOptions,
    http: Http,
    validator: ItaValidator,
    pending: Mutex<VecDeque<Pending>>,
}

impl std::fmt::Debug for ItaClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItaClient")
            .field("base_url", &self.base_url)
            .field("certs_url", &self.certs_url)
            .field("api_key", &self.api_key)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl ItaClient {
    /// A client for `config`. Code 8 for a URL that is not http(s), 1 when
    /// the HTTP client cannot be built.
    pub fn new(config: ItaConfig) -> Result<Self, ItaError> {
        let base_url = check_url(&config.base_url, "the ITA base URL")?;
        let certs_url = match &config.certs_url {
            Some(u) => check_url(u, "the certs URL")?,
            None => certs_url_for(&base_url)?,
        };
        let mut http = config.http.clone();
        http.follow_redirects = false;
        http.max_response_bytes = http.max_response_bytes.min(MAX_ANSWER_BYTES);
        let validator = ItaValidator::with_certs_url(&certs_url, config.trust, http.clone())?;
        Ok(Self {
            base_url,
            certs_url,
            api_key: config.api_key,
            options: config.options,
            http: Http::new(http).map_err(|e| from_http(e, ""))?,
            validator,
            pending: Mutex::new(VecDeque::new()),
        })
    }

    /// Validates tokens with `validator` instead of the one built from the
    /// configuration (a static JWKS, a test clock, …).
    #[must_use]
    pub fn with_validator(mut self, validator: ItaValidator) -> Self {
        self.validator = validator;
        self
    }

    /// The API base URL, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The certs (JWKS) URL of the default validator.
    pub fn certs_url(&self) -> &str {
        &self.certs_url
    }

    /// The validator tokens are checked with.
    pub fn validator(&self) -> &ItaValidator {
        &self.validator
    }

    /// The attestation options (policies, algorithm).
    pub fn options(&self) -> &AttestOptions {
        &self.options
    }

    fn headers<'a>(&'a self, request_id: &'a str, json_body: bool) -> Vec<(&'a str, &'a str)> {
        let mut h = vec![
            ("x-api-key", self.api_key.expose()),
            ("Accept", "application/json"),
            ("request-id", request_id),
        ];
        if json_body {
            h.push(("Content-Type", "application/json"));
        }
        h
    }

    /// The error for a non-2xx answer that was not retried.
    fn status_error(&self, url: &str, resp: &Response, request_id: &str) -> ItaError {
        let mut message = self.api_key.redact(&service_message(&resp.body));
        if let Some(trace) = resp.header("trace-id") {
            message.push_str(&format!(" (trace-id {})", self.api_key.redact(trace)));
        }
        match resp.status {
            401 | 403 => ItaError::Unauthorized {
                url: url.to_string(),
                status: resp.status,
                message,
                request_id: request_id.to_string(),
            },
            400..=499 => ItaError::Refused {
                status: resp.status,
                message,
                request_id: request_id.to_string(),
            },
            status => ItaError::HttpStatus {
                url: url.to_string(),
                status,
                message: format!("{message} (request-id {request_id}; redirects are not followed)"),
            },
        }
    }

    /// `method url` with the API key and `request_id`, the answer checked
    /// for a 2xx status.
    async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&[u8]>,
        request_id: &str,
    ) -> Result<Vec<u8>, ItaError> {
        let headers = self.headers(request_id, body.is_some());
        let resp = self
            .http
            .request(method, url, &headers, body)
            .await
            .map_err(|e| self.redacted(from_http(e, request_id)))?;
        if !resp.is_success() {
            return Err(self.status_error(url, &resp, request_id));
        }
        Ok(resp.body)
    }

    /// Transport errors can quote a server's words: never the key's.
    fn redacted(&self, e: ItaError) -> ItaError {
        match e {
            ItaError::Send {
                url,
                reason,
                request_id,
            } => ItaError::Send {
                url,
                reason: self.api_key.redact(&reason),
                request_id,
            },
            ItaError::RetriesExceeded {
                url,
                attempts,
                last,
                request_id,
            } => ItaError::RetriesExceeded {
                url,
                attempts,
                last: self.api_key.redact(&last),
                request_id,
            },
            other => other,
        }
    }

    /// A fresh nonce from ITA (`GET /appraisal/v2/nonce`). Codes: 3 key
    /// refused, 4 retries exhausted, 6 refused, 7 unreachable, 16 not the
    /// JSON expected, 18 empty, 2 oversized or undecodable.
    pub async fn nonce(&self) -> Result<VerifierNonce, ItaError> {
        self.nonce_with_id(&request_id()).await
    }

    async fn nonce_with_id(&self, request_id: &str) -> Result<VerifierNonce, ItaError> {
        let url = format!("{}{NONCE_PATH}", self.base_url);
        let body = self.call(Method::GET, &url, None, request_id).await?;
        VerifierNonce::parse(&body)
    }

    /// Attests `request` (`POST /appraisal/v2/attest`, or `/attest/azure`
    /// for Azure TDX) with the configured options, and validates the token:
    /// its `verifier_nonce` must be the request's, the configured policies
    /// must have matched. Codes as [`ItaClient::nonce`], then the
    /// validator's.
    pub async fn attest(&self, request: &AttestRequest) -> Result<ItaToken, ItaError> {
        self.attest_with_id(request, &request_id()).await
    }

    async fn attest_with_id(
        &self,
        request: &AttestRequest,
        request_id: &str,
    ) -> Result<ItaToken, ItaError> {
        let body = request.body(&self.options)?;
        let body = serde_json::to_vec(&body).map_err(|source| ItaError::Encode { source })?;
        let url = format!("{}{}", self.base_url, request.kind.path());
        let answer = self
            .call(Method::POST, &url, Some(&body), request_id)
            .await?;
        let jwt = token_from_answer(&answer)?;
        let expect =
            Expectations::nonce(&request.verifier_nonce).with_policy_ids(&self.options.policy_ids);
        self.validator.validate(&jwt, expect).await
    }

    fn remember(&self, p: Pending) {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pending.retain(|q| q.issued.elapsed() < CHALLENGE_TTL);
        while pending.len() >= MAX_PENDING_CHALLENGES {
            pending.pop_front();
        }
        pending.push_back(p);
    }

    fn take(&self, report_data: &[u8; 64]) -> Option<Pending> {
        let mut pending = self
            .pending
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        pending.retain(|q| q.issued.elapsed() < CHALLENGE_TTL);
        let i = pending.iter().position(|q| &q.report_data == report_data)?;
        pending.remove(i)
    }

    /// The challenge for evidence of `evidence_type`: a fresh ITA nonce,
    /// the user data (the client payload as JSON, with the caller's nonce
    /// in `nonce` unless the payload has one, any case), and the report
    /// data SHA-512(val ‖ iat ‖ user data). Remembered (by report data, for
    /// [`CHALLENGE_TTL`]) so that [`Verifier::verify`] can send the nonce
    /// with the evidence. Code 8 for another evidence type or a nonce that
    /// is not text; else as [`ItaClient::nonce`].
    pub async fn issue_challenge(
        &self,
        evidence_type: EvidenceType,
        nonce: &[u8],
        client_payload: &BTreeMap<String, String>,
    ) -> Result<Challenge, ItaError> {
        kind_of(evidence_type)?;
        let user_data = user_data(nonce, client_payload)?;
        let verifier_nonce = self.nonce().await?;
        let rd = report_data(&verifier_nonce, &user_data);
        self.remember(Pending {
            report_data: rd,
            nonce: verifier_nonce,
            user_data: user_data.clone(),
            caller_nonce: nonce.to_vec(),
            issued: Instant::now(),
        });
        Ok(Challenge::new(nonce.to_vec(), user_data, true, rd))
    }

    /// Attests evidence gathered for a challenge of this client: the nonce
    /// issued for its report data goes with it, to the route of its type.
    /// A challenge is used once, unless ITA could not be reached or kept
    /// failing (codes 7 and 4): then the same evidence may be tried again
    /// while the challenge lasts. Code 8 for evidence of another type,
    /// evidence no open challenge of this client produced, or a draft
    /// policy (ITA takes none).
    pub async fn attest_evidence(
        &self,
        evidence: &Evidence,
        options: &VerifyOptions,
    ) -> Result<ItaToken, ItaError> {
        let kind = kind_of(evidence.evidence_type)?;
        if options.draft_policy.is_some() {
            return Err(ItaError::InvalidInput(
                "Intel Trust Authority takes no draft policy (use policy ids)".into(),
            ));
        }
        let rd = match kind {
            EvidenceKind::Tdx => quote_report_data(&evidence.hardware_report).ok_or_else(|| {
                ItaError::InvalidInput("the evidence's TD quote is not a TDX v4/v5 quote".into())
            })?,
            EvidenceKind::AzureTdx => var_data_user_data(&evidence.runtime_data)?,
        };
        let pending = self.take(&rd).ok_or_else(|| {
            ItaError::InvalidInput(
                "no open challenge of this client matches the evidence's report data (it \
                 expired, was used, or the evidence was gathered for another verifier)"
                    .into(),
            )
        })?;
        if let Some(n) = &options.nonce {
            if *n != pending.caller_nonce {
                return Err(ItaError::InvalidInput(
                    "the nonce to check is not the one the challenge was issued for".into(),
                ));
            }
        }
        let request = match kind {
            EvidenceKind::Tdx => {
                if evidence.runtime_data != pending.user_data {
                    return Err(ItaError::InvalidInput(
                        "the evidence's runtime data is not the challenge's".into(),
                    ));
                }
                let mut r = AttestRequest::tdx(
                    evidence.hardware_report.clone(),
                    pending.user_data.clone(),
                    pending.nonce.clone(),
                );
                r.event_log = evidence.event_log.clone();
                r
            }
            EvidenceKind::AzureTdx => AttestRequest::azure_tdx(
                evidence.hardware_report.clone(),
                evidence.runtime_data.clone(),
                pending.user_data.clone(),
                pending.nonce.clone(),
            ),
        };
        let result = self.attest(&request).await;
        // ITA could not be reached or did not answer: the same evidence may
        // be tried again while its challenge lasts.
        if matches!(
            result,
            Err(ItaError::Send { .. } | ItaError::RetriesExceeded { .. })
        ) {
            self.remember(pending);
        }
        result
    }
}

#[async_trait]
impl Verifier for ItaClient {
    fn name(&self) -> &str {
        "ita"
    }

    async fn challenge(
        &self,
        evidence_type: EvidenceType,
        nonce: &[u8],
        client_payload: &BTreeMap<String, String>,
    ) -> tee_attest_core::Result<Challenge> {
        Ok(self
            .issue_challenge(evidence_type, nonce, client_payload)
            .await?)
    }

    async fn verify(
        &self,
        evidence: &Evidence,
        options: &VerifyOptions,
    ) -> tee_attest_core::Result<AttestationToken> {
        match self.attest_evidence(evidence, options).await {
            Ok(t) => Ok(t.into_token()),
            Err(e) => {
                tracing::debug!(code = e.code().number(), "ITA attestation failed: {e}");
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn certs_urls() {
        assert_eq!(certs_url_for(US_API_URL).unwrap(), US_CERTS_URL);
        assert_eq!(certs_url_for(EU_API_URL).unwrap(), EU_CERTS_URL);
        assert_eq!(
            certs_url_for("https://API.pilot.trustauthority.intel.com/").unwrap(),
            "https://portal.pilot.trustauthority.intel.com/certs"
        );
        assert_eq!(
            certs_url_for("http://127.0.0.1:8080").unwrap(),
            "http://127.0.0.1:8080/certs"
        );
        assert_eq!(
            certs_url_for("https://api.trustauthority.intel.com.evil.example").unwrap(),
            "https://api.trustauthority.intel.com.evil.example/certs"
        );
        for bad in [
            "ftp://x",
            "https://",
            "https://:80",
            "not a url",
            "https://a b",
        ] {
            assert!(certs_url_for(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn request_ids_are_uuids() {
        let a = request_id();
        assert!(crate::request::is_uuid(&a), "{a}");
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, request_id());
    }

    #[test]
    fn report_data_read_back() {
        let mut v4 = vec![0u8; 632];
        v4[0] = 4;
        v4[4] = 0x81;
        v4[568..632].copy_from_slice(&[7u8; 64]);
        assert_eq!(quote_report_data(&v4), Some([7u8; 64]));
        let mut v5 = vec![0u8; 700];
        v5[0] = 5;
        v5[4] = 0x81;
        v5[48] = 3;
        v5[574..638].copy_from_slice(&[9u8; 64]);
        assert_eq!(quote_report_data(&v5), Some([9u8; 64]));
        v5[48] = 1;
        assert_eq!(quote_report_data(&v5), None);
        v4[4] = 0;
        assert_eq!(quote_report_data(&v4), None);
        assert_eq!(quote_report_data(&[4, 0]), None);
        let vd = format!(r#"{{"user-data":"{}"}}"#, "Ab".repeat(64));
        assert_eq!(var_data_user_data(vd.as_bytes()).unwrap(), [0xab; 64]);
        assert!(var_data_user_data(b"{}").is_err());
        assert!(var_data_user_data(br#"{"user-data":"zz"}"#).is_err());
    }

    #[test]
    fn user_data_carries_the_nonce() {
        let mut p = BTreeMap::new();
        p.insert("app".to_string(), "x".to_string());
        let u: Value = serde_json::from_slice(&user_data(b"n-1", &p).unwrap()).unwrap();
        assert_eq!(u, serde_json::json!({"app": "x", "nonce": "n-1"}));
        p.insert("Nonce".to_string(), "mine".to_string());
        let u: Value = serde_json::from_slice(&user_data(b"n-1", &p).unwrap()).unwrap();
        assert!(u.get("nonce").is_none());
        assert!(user_data(&[0xff], &BTreeMap::new()).is_err());
    }

    #[test]
    fn answers() {
        use tee_attest_core::CodedError;
        assert_eq!(token_from_answer(br#"{"token":"a.b.c"}"#).unwrap(), "a.b.c");
        let code = |b: &[u8]| token_from_answer(b).unwrap_err().code().number();
        assert_eq!(code(b""), 18);
        assert_eq!(code(br#"{"token":""}"#), 18);
        assert_eq!(code(b"<html/>"), 16);
        assert_eq!(code(br#"{"token":5}"#), 16);
        assert_eq!(code(br#"{"tok":"x"}"#), 16);
        assert_eq!(code(br#"{"token":"a.b"#), 16);
    }
}
