//! Relying-party validation of ITA tokens ([`ItaValidator`]).
//!
//! Keys come only from the configured JWKS — bytes, a file, or (feature
//! `client`) ITA's certs URL, fetched on first use and refreshed when a
//! token names an unknown `kid`, at most once per refresh interval. Each
//! key is checked once, when the set is loaded ([`KeyTrust`]): its `x5c`
//! chain to a pinned root and `x5c[0]` holding the JWK's key. Header
//! members that point elsewhere (`jku`, `x5u`, `x5c`, `jwk`) are ignored.
//!
//! The checks, in order (each refusal names its [`TokenCheck`]):
//!
//! ```text
//! size ─ format (3 non-empty unpadded base64url parts) ─ header (UTF-8 JSON
//! object, unique names at any depth) ─ alg ∈ {PS384, RS256} (as allowed) ─
//! typ ∈ {absent, JWT} ─ no crit ─ kid present ─ claims (UTF-8 JSON object,
//! unique names) ─ iss ─ exp present, not expired ─ nbf/iat not in the
//! future ─ kid in the JWKS (one rate-limited refresh) ─ key usable (chain
//! checked at load, within its validity now, for this alg) ─ signature ─
//! [verifier_nonce = the nonce issued] ─ [expected policies matched]
//! ```
//!
//! Issuer and time checks come before the key lookup, so that stale or
//! foreign tokens never make the validator fetch keys. Algorithm confusion
//! is impossible by construction: only two asymmetric algorithms exist
//! here, and each key is parsed at load for exactly the algorithms its JWK
//! allows.

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;
#[cfg(feature = "client")]
use std::time::Instant;

use aws_lc_rs::signature::ParsedPublicKey;
use serde::de::{DeserializeSeed, Deserializer, MapAccess, Visitor};
use serde_json::Value;
use tee_attest_core::AttestationToken;

mod checks;
mod parts;

use crate::jose::{b64url, close_object, from_str_seed, Name, NameSeed, StrictValue, Unique};
use crate::jwks::{alg_index, JwkEntry};
use crate::{ItaError, ItaToken, Jwks, KeyTrust, TokenAlg, TokenCheck, VerifierNonce};

/// The `iss` of ITA's tokens.
pub const ITA_ISSUER: &str = "Intel Trust Authority";
/// The most leeway that can be configured for `exp`/`nbf`/`iat`.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// The default leeway.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// The default maximum token size (bytes).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 256 * 1024;
/// The largest maximum token size that can be configured (bytes).
pub const MAX_TOKEN_BYTES_CAP: usize = 1024 * 1024;
/// The default minimum time between two JWKS refreshes.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);

pub use tee_attest_core::time::{Clock, FixedClock, SystemClock};

/// What a token must carry besides passing the checks every token passes.
#[derive(Debug, Clone, Copy, Default)]
pub struct Expectations<'a> {
    verifier_nonce: Option<&'a VerifierNonce>,
    policy_ids: &'a [String],
}

impl<'a> Expectations<'a> {
    /// Nothing beyond the common checks.
    pub fn none() -> Self {
        Self::default()
    }

    /// `verifier_nonce` (at the top level, or in the `tdx` object; every
    /// one present) must be `nonce`.
    pub fn nonce(nonce: &'a VerifierNonce) -> Self {
        Self {
            verifier_nonce: Some(nonce),
            policy_ids: &[],
        }
    }

    /// Every policy in `ids` (UUIDs, any case) must be in
    /// `policy_ids_matched`.
    #[must_use]
    pub fn with_policy_ids(mut self, ids: &'a [String]) -> Self {
        self.policy_ids = ids;
        self
    }

    /// Also the nonce.
    #[must_use]
    pub fn with_nonce(mut self, nonce: &'a VerifierNonce) -> Self {
        self.verifier_nonce = Some(nonce);
        self
    }
}

/// Where the validator's keys come from.
enum Source {
    Static,
    #[cfg(feature = "client")]
    Url {
        url: String,
        http: tee_attest_http::Http,
    },
}

struct Cache {
    jwks: Jwks,
    #[cfg(feature = "client")]
    fetched_at: Option<Instant>,
    /// Why the last refresh failed, if it did (reported while rate limited).
    last_error: Option<String>,
}

/// Validates ITA tokens as a relying party.
pub struct ItaValidator {
    issuer: String,
    /// How fetched keys are checked (`None` for a set checked by its
    /// parser before it was given).
    trust: Option<KeyTrust>,
    source: Source,
    /// Read on every validation; written only briefly around a refresh.
    cache: RwLock<Cache>,
    /// Held for the whole of a refresh, so that one happens at a time.
    #[cfg(feature = "client")]
    refresh: tokio::sync::Mutex<()>,
    clock: Arc<dyn Clock>,
    leeway: Duration,
    max_token_bytes: usize,
    refresh_interval: Duration,
    /// By [`alg_index`].
    algorithms: [bool; 2],
}

impl fmt::Debug for ItaValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = match &self.source {
            Source::Static => "static JWKS".to_string(),
            #[cfg(feature = "client")]
            Source::Url { url, .. } => url.clone(),
        };
        f.debug_struct("ItaValidator")
            .field("issuer", &self.issuer)
            .field("keys", &source)
            .field("trust", &self.trust)
            .field("leeway", &self.leeway)
            .field("algorithms", &self.algorithm_list())
            .finish_non_exhaustive()
    }
}

impl ItaValidator {
    fn with_source(source: Source, jwks: Jwks, trust: Option<KeyTrust>) -> Self {
        Self {
            issuer: ITA_ISSUER.to_string(),
            trust,
            source,
            cache: RwLock::new(Cache {
                jwks,
                #[cfg(feature = "client")]
                fetched_at: None,
                last_error: None,
            }),
            #[cfg(feature = "client")]
            refresh: tokio::sync::Mutex::new(()),
            clock: Arc::new(SystemClock),
            leeway: DEFAULT_LEEWAY,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
            algorithms: [true, true],
        }
    }

    /// A validator with a fixed key set, checked when it was parsed
    /// ([`Jwks::parse`] with a [`KeyTrust`]).
    pub fn with_jwks(jwks: Jwks) -> Self {
        // The set was checked by its parser; nothing is loaded later.
        Self::with_source(Source::Static, jwks, None)
    }

    /// A validator with the key set in a JWKS document, each key checked
    /// under `trust` (codes as [`Jwks::parse`]).
    pub fn from_jwks_bytes(json: &[u8], trust: KeyTrust) -> Result<Self, ItaError> {
        let jwks = Jwks::parse(json, &trust)?;
        Ok(Self::with_source(Source::Static, jwks, Some(trust)))
    }

    /// A validator with the key set in a JWKS file (code 8 when unreadable,
    /// else as [`Jwks::parse`]).
    pub fn from_jwks_file(path: &std::path::Path, trust: KeyTrust) -> Result<Self, ItaError> {
        let jwks = Jwks::from_file(path, &trust)?;
        Ok(Self::with_source(Source::Static, jwks, Some(trust)))
    }

    /// A validator whose keys come from ITA's certs URL (e.g.
    /// `https://portal.trustauthority.intel.com/certs`, see
    /// [`certs_url_for`](crate::certs_url_for)), fetched on first use and
    /// refreshed on an unknown `kid` (at most once per refresh interval),
    /// each checked under `trust`. Code 8 for a URL that is not http(s).
    #[cfg(feature = "client")]
    pub fn with_certs_url(
        url: &str,
        trust: KeyTrust,
        http: tee_attest_http::HttpConfig,
    ) -> Result<Self, ItaError> {
        let url = crate::client::check_url(url, "the certs URL")?;
        let http = tee_attest_http::Http::new(http).map_err(|e| crate::error::from_http(e, ""))?;
        Ok(Self::with_source(
            Source::Url { url, http },
            Jwks::default(),
            Some(trust),
        ))
    }

    /// Expects `iss` to be `issuer` (default: [`ITA_ISSUER`]).
    #[must_use]
    pub fn with_issuer(mut self, issuer: &str) -> Self {
        self.issuer = issuer.to_string();
        self
    }

    /// Accepts only these algorithms (a subset of PS384 and RS256; an empty
    /// list keeps both).
    #[must_use]
    pub fn with_algorithms(mut self, algorithms: &[TokenAlg]) -> Self {
        if !algorithms.is_empty() {
            self.algorithms = [false, false];
            for a in algorithms {
                self.algorithms[alg_index(*a)] = true;
            }
        }
        self
    }

    /// Uses `clock` for the time checks.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the leeway for `exp`/`nbf`/`iat` (capped at [`MAX_LEEWAY`]).
    #[must_use]
    pub fn with_leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway.min(MAX_LEEWAY);
        self
    }

    /// Sets the maximum token size (capped at [`MAX_TOKEN_BYTES_CAP`]).
    #[must_use]
    pub fn with_max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max.min(MAX_TOKEN_BYTES_CAP);
        self
    }

    /// Sets the minimum time between two JWKS refreshes.
    #[must_use]
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// The expected issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The key set held now (empty before a certs URL's first fetch).
    pub fn jwks(&self) -> Jwks {
        self.cache().jwks.clone()
    }

    fn algorithm_list(&self) -> String {
        TokenAlg::ALL
            .iter()
            .filter(|a| self.algorithms[alg_index(**a)])
            .map(|a| a.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(PoisonError::into_inner)
    }

    #[cfg(feature = "client")]
    fn cache_mut(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// Validates `token`: every check of the module documentation, then
    /// `expect`. With a certs URL, keys are fetched on first use and
    /// refreshed (at most once per interval) when the `kid` is unknown.
    /// A refusal names its [`TokenCheck`]; while the keys cannot be had
    /// (the last fetch failed), an unknown `kid` is a transport error (code
    /// 7), not a refusal.
    pub async fn validate(
        &self,
        token: &str,
        expect: Expectations<'_>,
    ) -> Result<ItaToken, ItaError> {
        let parsed = self.precheck(token)?;
        let key = self.key_for(&parsed.kid, parsed.alg).await?;
        self.finish(parsed, &key, expect)
    }

    /// [`ItaValidator::validate`] with the keys held now, never fetching:
    /// for static key sets, and for callers without an async runtime.
    pub fn validate_cached(
        &self,
        token: &str,
        expect: Expectations<'_>,
    ) -> Result<ItaToken, ItaError> {
        let parsed = self.precheck(token)?;
        let key = self.cached_key(&parsed.kid, parsed.alg)?;
        self.finish(parsed, &key, expect)
    }

    /// Fetches the JWKS from the certs URL now (a no-op for a static set).
    #[cfg(feature = "client")]
    pub async fn load(&self) -> Result<(), ItaError> {
        let Source::Url { url, http } = &self.source else {
            return Ok(());
        };
        let _one_at_a_time = self.refresh.lock().await;
        self.cache_mut().fetched_at = Some(Instant::now());
        let fetched = fetch_jwks(http, url, self.trust.as_ref()).await;
        let mut cache = self.cache_mut();
        match fetched {
            Ok(jwks) => {
                cache.jwks = jwks;
                cache.last_error = None;
                Ok(())
            }
            Err(e) => {
                cache.last_error = Some(e.to_string());
                Err(e)
            }
        }
    }

    /// The key for `kid`, parsed for `alg`, when the cache has `kid`.
    fn lookup(&self, kid: &str, alg: TokenAlg) -> Option<Result<Arc<ParsedPublicKey>, ItaError>> {
        let cache = self.cache();
        let entry = cache.jwks.entry(kid)?;
        Some(match entry {
            JwkEntry::Usable {
                parsed,
                alg: own,
                validity,
            } => match &parsed[alg_index(alg)] {
                Some(k) => {
                    let now = self.clock.now_unix();
                    match validity {
                        Some(v) if now < v.not_before || now > v.not_after => {
                            Err(ItaError::rejected(
                                TokenCheck::Key,
                                format!(
                                    "the key {kid:?} is outside its certificates' validity \
                                     ({}..{}); now is {now}",
                                    v.not_before, v.not_after
                                ),
                            ))
                        }
                        _ => Ok(Arc::clone(k)),
                    }
                }
                None => Err(ItaError::rejected(
                    TokenCheck::Key,
                    format!(
                        "the JWKS key {kid:?} is for {} only, not {alg}",
                        own.map_or("another algorithm", TokenAlg::as_str)
                    ),
                )),
            },
            JwkEntry::Unusable(reason) => Err(ItaError::rejected(
                TokenCheck::Key,
                format!("the JWKS key {kid:?} is unusable: {reason}"),
            )),
        })
    }

    /// The refusal (or transport error) for a `kid` the keys do not have.
    fn unknown_kid(&self, kid: &str) -> ItaError {
        if let Some(e) = &self.cache().last_error {
            return ItaError::Send {
                url: "the ITA certs URL".into(),
                reason: format!(
                    "the last JWKS refresh failed ({e}); it is retried after the refresh interval"
                ),
                request_id: String::new(),
            };
        }
        ItaError::rejected(
            TokenCheck::KeyId,
            format!("no key with kid {kid:?} in the trusted JWKS"),
        )
    }

    fn cached_key(&self, kid: &str, alg: TokenAlg) -> Result<Arc<ParsedPublicKey>, ItaError> {
        self.lookup(kid, alg)
            .unwrap_or_else(|| Err(self.unknown_kid(kid)))
    }

    /// The key for `kid`: from the cache, else after at most one refresh
    /// per interval (refreshes serialized; the cache lock never held
    /// across one).
    async fn key_for(&self, kid: &str, alg: TokenAlg) -> Result<Arc<ParsedPublicKey>, ItaError> {
        if let Some(found) = self.lookup(kid, alg) {
            return found;
        }
        #[cfg(feature = "client")]
        if let Source::Url { url, http } = &self.source {
            let _one_at_a_time = self.refresh.lock().await;
            // Another task may have refreshed while this one waited.
            if let Some(found) = self.lookup(kid, alg) {
                return found;
            }
            let may_refresh = self
                .cache()
                .fetched_at
                .is_none_or(|t| t.elapsed() >= self.refresh_interval);
            if may_refresh {
                // Recorded first, so that failures are rate limited too.
                self.cache_mut().fetched_at = Some(Instant::now());
                let fetched = fetch_jwks(http, url, self.trust.as_ref()).await;
                let mut cache = self.cache_mut();
                match fetched {
                    Ok(jwks) => {
                        cache.jwks = jwks;
                        cache.last_error = None;
                    }
                    Err(e) => {
                        cache.last_error = Some(e.to_string());
                        return Err(e);
                    }
                }
            }
        }
        self.cached_key(kid, alg)
    }
}

#[cfg(feature = "client")]
async fn fetch_jwks(
    http: &tee_attest_http::Http,
    url: &str,
    trust: Option<&KeyTrust>,
) -> Result<Jwks, ItaError> {
    // A certs URL always comes with its trust; as served otherwise.
    let trust = trust.unwrap_or(&KeyTrust::AsServed);
    let resp = http
        .get(url, &[("Accept", "application/json")])
        .await
        .map_err(|e| crate::error::from_http(e, ""))?;
    if !resp.is_success() {
        return Err(ItaError::HttpStatus {
            url: url.to_string(),
            status: resp.status,
            message: crate::request::service_message(&resp.body),
        });
    }
    Jwks::parse(&resp.body, trust)
}

#[cfg(test)]
mod tests {
    use super::checks::{check_nonce, check_policies};
    use super::*;

    #[test]
    fn policies_and_nonces() {
        let n = VerifierNonce::from_bytes(b"v", b"i", b"s");
        let good = serde_json::json!({"val": "dg==", "iat": "aQ==", "signature": "cw=="});
        check_nonce(&[Some(good.clone()), None], &n).unwrap();
        check_nonce(&[None, Some(good.clone())], &n).unwrap();
        let bad = serde_json::json!({"val": "dw==", "iat": "aQ==", "signature": "cw=="});
        assert!(check_nonce(&[Some(good.clone()), Some(bad)], &n).is_err());
        assert!(check_nonce(&[None, None], &n).is_err());
        assert!(check_nonce(&[Some(serde_json::json!("x")), None], &n).is_err());
        let m = serde_json::json!([{"id": "AA", "version": "v1"}, {"id": "bb"}]);
        check_policies(Some(&m), &["aa".into(), "BB".into()]).unwrap();
        assert!(check_policies(Some(&m), &["cc".into()]).is_err());
        assert!(check_policies(None, &["aa".into()]).is_err());
    }
}
