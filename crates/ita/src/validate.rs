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

/// Where "now" comes from, so that tests can validate at a chosen time.
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0)
    }
}

/// A clock stopped at a given time (Unix seconds).
#[derive(Debug, Clone, Copy)]
pub struct FixedClock(pub i64);

impl Clock for FixedClock {
    fn now_unix(&self) -> i64 {
        self.0
    }
}

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

    /// Structure, header, issuer and time checks: everything that needs no
    /// key.
    fn precheck<'t>(&self, token: &'t str) -> Result<Parsed<'t>, ItaError> {
        let token = token.trim_matches(|c: char| c.is_ascii_whitespace());
        if token.len() > self.max_token_bytes {
            return Err(ItaError::rejected(
                TokenCheck::Size,
                format!(
                    "{} bytes; at most {} accepted",
                    token.len(),
                    self.max_token_bytes
                ),
            ));
        }
        let segments = token.split('.').count();
        if segments != 3 {
            return Err(ItaError::rejected(
                TokenCheck::Format,
                format!("{segments} segments instead of 3"),
            ));
        }
        let Some((message, sig)) = token.rsplit_once('.') else {
            return Err(ItaError::rejected(TokenCheck::Format, "no signature part"));
        };
        let Some((h, p)) = message.split_once('.') else {
            return Err(ItaError::rejected(TokenCheck::Format, "no payload part"));
        };
        if h.is_empty() || p.is_empty() {
            return Err(ItaError::rejected(
                TokenCheck::Format,
                "header and payload must be non-empty unpadded base64url",
            ));
        }
        let header_json = decode_part(h, "header")?;
        let header_text = json_text(&header_json, TokenCheck::Header, "header")?;
        let header = from_str_seed(header_text, HeaderSeed).map_err(|e| {
            ItaError::rejected(
                TokenCheck::Header,
                format!("the header is not acceptable JSON: {e}"),
            )
        })?;
        let alg = match header.alg.as_ref().and_then(Value::as_str) {
            Some(name) => match TokenAlg::from_name(name) {
                Some(a) if self.algorithms[alg_index(a)] => a,
                _ => {
                    return Err(ItaError::rejected(
                        TokenCheck::Algorithm,
                        format!(
                            "alg {name:?} is not allowed (allowed: {})",
                            self.algorithm_list()
                        ),
                    ))
                }
            },
            None => {
                return Err(ItaError::rejected(
                    TokenCheck::Algorithm,
                    format!(
                        "alg {} is not allowed (allowed: {})",
                        header
                            .alg
                            .as_ref()
                            .map_or_else(|| "(missing)".to_string(), Value::to_string),
                        self.algorithm_list()
                    ),
                ))
            }
        };
        if let Some(typ) = &header.typ {
            if !typ.as_str().is_some_and(|t| t.eq_ignore_ascii_case("JWT")) {
                return Err(ItaError::rejected(
                    TokenCheck::Type,
                    format!("typ {typ} is not JWT"),
                ));
            }
        }
        if header.crit {
            return Err(ItaError::rejected(
                TokenCheck::Critical,
                "critical header extensions are not supported",
            ));
        }
        let kid = match header.kid {
            Some(Value::String(k)) if !k.is_empty() => k,
            Some(Value::String(_)) => {
                return Err(ItaError::rejected(TokenCheck::KeyId, "kid is empty"))
            }
            Some(other) => {
                return Err(ItaError::rejected(
                    TokenCheck::KeyId,
                    format!("kid {other} is not a string"),
                ))
            }
            None => {
                return Err(ItaError::rejected(
                    TokenCheck::KeyId,
                    "the token names no kid (ITA tokens must)",
                ))
            }
        };
        if sig.is_empty() {
            return Err(ItaError::rejected(
                TokenCheck::Signature,
                "the token carries no signature",
            ));
        }
        let signature = b64url(sig).ok_or_else(|| {
            ItaError::rejected(TokenCheck::Format, "the signature is not base64url")
        })?;
        let claims_json = decode_part(p, "payload")?;
        let claims_text = json_text(&claims_json, TokenCheck::Claims, "payload")?;
        let claims = from_str_seed(claims_text, ClaimsSeed).map_err(|e| {
            ItaError::rejected(
                TokenCheck::Claims,
                format!("the payload is not acceptable JSON: {e}"),
            )
        })?;
        match claims.iss.as_ref() {
            Some(Value::String(iss)) if *iss == self.issuer => {}
            Some(iss) => {
                return Err(ItaError::rejected(
                    TokenCheck::Issuer,
                    format!("iss {iss} is not {:?}", self.issuer),
                ))
            }
            None => return Err(ItaError::rejected(TokenCheck::Issuer, "no `iss` claim")),
        }
        let now = self.clock.now_unix();
        let leeway = i64::try_from(self.leeway.as_secs()).unwrap_or(300);
        let exp = time_claim(claims.exp.as_ref(), "exp", TokenCheck::MissingExpiry)?
            .ok_or_else(|| ItaError::rejected(TokenCheck::MissingExpiry, "no `exp` claim"))?;
        if now >= exp.saturating_add(leeway) {
            return Err(ItaError::rejected(
                TokenCheck::Expired,
                format!("expired at {exp}; now is {now}"),
            ));
        }
        for (name, claim) in [("nbf", &claims.nbf), ("iat", &claims.iat)] {
            if let Some(t) = time_claim(claim.as_ref(), name, TokenCheck::NotYetValid)? {
                if now.saturating_add(leeway) < t {
                    return Err(ItaError::rejected(
                        TokenCheck::NotYetValid,
                        format!("`{name}` {t} is in the future; now is {now}"),
                    ));
                }
            }
        }
        Ok(Parsed {
            token,
            message,
            signature,
            alg,
            kid,
            header_json,
            claims_json,
            verifier_nonces: [claims.verifier_nonce, claims.tdx_verifier_nonce],
            policy_ids_matched: claims.policy_ids_matched,
        })
    }

    fn finish(
        &self,
        parsed: Parsed<'_>,
        key: &ParsedPublicKey,
        expect: Expectations<'_>,
    ) -> Result<ItaToken, ItaError> {
        if key
            .verify_sig(parsed.message.as_bytes(), &parsed.signature)
            .is_err()
        {
            return Err(ItaError::rejected(
                TokenCheck::Signature,
                "the signature does not verify",
            ));
        }
        if let Some(want) = expect.verifier_nonce {
            check_nonce(&parsed.verifier_nonces, want)?;
        }
        if !expect.policy_ids.is_empty() {
            check_policies(parsed.policy_ids_matched.as_ref(), expect.policy_ids)?;
        }
        let token = AttestationToken::from_checked_parts(
            parsed.token,
            parsed.header_json,
            parsed.claims_json,
        );
        Ok(ItaToken::new(token, parsed.alg, parsed.kid))
    }
}

/// What the key-less checks found.
struct Parsed<'t> {
    token: &'t str,
    /// `header.payload`, the signed bytes.
    message: &'t str,
    signature: Vec<u8>,
    alg: TokenAlg,
    kid: String,
    header_json: Vec<u8>,
    claims_json: Vec<u8>,
    /// `verifier_nonce` at the top level and in the `tdx` object.
    verifier_nonces: [Option<Value>; 2],
    policy_ids_matched: Option<Value>,
}

fn decode_part(part: &str, what: &str) -> Result<Vec<u8>, ItaError> {
    b64url(part).ok_or_else(|| {
        ItaError::rejected(TokenCheck::Format, format!("the {what} is not base64url"))
    })
}

fn json_text<'a>(bytes: &'a [u8], check: TokenCheck, what: &str) -> Result<&'a str, ItaError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| ItaError::rejected(check, format!("the {what} is not UTF-8")))?;
    if !text.trim_start().starts_with('{') {
        return Err(ItaError::rejected(
            check,
            format!("the {what} is not a JSON object"),
        ));
    }
    Ok(text)
}

fn time_claim(
    claim: Option<&Value>,
    name: &str,
    check: TokenCheck,
) -> Result<Option<i64>, ItaError> {
    match claim {
        None => Ok(None),
        Some(v) => v
            .as_i64()
            .or_else(|| {
                v.as_f64()
                    .filter(|f| f.is_finite() && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| ItaError::rejected(check, format!("`{name}` is not a number"))),
    }
}

/// Every `verifier_nonce` the token carries must be the one issued, and it
/// must carry one.
fn check_nonce(claims: &[Option<Value>; 2], want: &VerifierNonce) -> Result<(), ItaError> {
    let mut seen = false;
    for claim in claims.iter().flatten() {
        seen = true;
        let field = |name: &str| claim.get(name).and_then(Value::as_str);
        let ok = match (field("val"), field("iat"), field("signature")) {
            (Some(v), Some(i), Some(s)) => want.matches(v, i, s),
            _ => false,
        };
        if !ok {
            return Err(ItaError::rejected(
                TokenCheck::VerifierNonce,
                "the token's verifier_nonce is not the nonce issued",
            ));
        }
    }
    if seen {
        Ok(())
    } else {
        Err(ItaError::rejected(
            TokenCheck::VerifierNonce,
            "the token carries no verifier_nonce",
        ))
    }
}

fn check_policies(matched: Option<&Value>, want: &[String]) -> Result<(), ItaError> {
    let ids: Vec<&str> = match matched {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|p| p.get("id").and_then(Value::as_str))
            .collect(),
        _ => Vec::new(),
    };
    for w in want {
        if !ids.iter().any(|id| id.eq_ignore_ascii_case(w)) {
            return Err(ItaError::rejected(
                TokenCheck::Policy,
                format!("policy {w} is not in policy_ids_matched"),
            ));
        }
    }
    Ok(())
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

// ---- strict JSON for the two parts ----------------------------------------

#[derive(Default)]
struct Header {
    alg: Option<Value>,
    kid: Option<Value>,
    typ: Option<Value>,
    crit: bool,
}

struct HeaderSeed;

impl<'de> DeserializeSeed<'de> for HeaderSeed {
    type Value = Header;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Header, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for HeaderSeed {
    type Value = Header;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Header, A::Error> {
        let mut out = Header::default();
        let mut names: Vec<Name<'de>> = Vec::with_capacity(8);
        while let Some(name) = map.next_key_seed(NameSeed)? {
            let slot = match name.as_ref() {
                "alg" => Some(&mut out.alg),
                "kid" => Some(&mut out.kid),
                "typ" => Some(&mut out.typ),
                "crit" => {
                    out.crit = true;
                    None
                }
                _ => None,
            };
            names.push(name);
            match slot {
                Some(s) => *s = Some(map.next_value_seed(StrictValue)?),
                None => map.next_value_seed(Unique { names: &mut names })?,
            }
        }
        close_object(&mut names, 0)?;
        Ok(out)
    }
}

#[derive(Default)]
struct Claims {
    iss: Option<Value>,
    exp: Option<Value>,
    nbf: Option<Value>,
    iat: Option<Value>,
    verifier_nonce: Option<Value>,
    policy_ids_matched: Option<Value>,
    tdx_verifier_nonce: Option<Value>,
}

struct ClaimsSeed;

impl<'de> DeserializeSeed<'de> for ClaimsSeed {
    type Value = Claims;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Claims, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ClaimsSeed {
    type Value = Claims;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Claims, A::Error> {
        let mut out = Claims::default();
        let mut names: Vec<Name<'de>> = Vec::with_capacity(64);
        while let Some(name) = map.next_key_seed(NameSeed)? {
            enum Slot {
                Keep(usize),
                Tdx,
                Skip,
            }
            let slot = match name.as_ref() {
                "iss" => Slot::Keep(0),
                "exp" => Slot::Keep(1),
                "nbf" => Slot::Keep(2),
                "iat" => Slot::Keep(3),
                "verifier_nonce" => Slot::Keep(4),
                "policy_ids_matched" => Slot::Keep(5),
                "tdx" => Slot::Tdx,
                _ => Slot::Skip,
            };
            names.push(name);
            match slot {
                Slot::Keep(i) => {
                    let v = Some(map.next_value_seed(StrictValue)?);
                    match i {
                        0 => out.iss = v,
                        1 => out.exp = v,
                        2 => out.nbf = v,
                        3 => out.iat = v,
                        4 => out.verifier_nonce = v,
                        _ => out.policy_ids_matched = v,
                    }
                }
                Slot::Tdx => {
                    out.tdx_verifier_nonce = map.next_value_seed(TdxSeed { names: &mut names })?;
                }
                Slot::Skip => map.next_value_seed(Unique { names: &mut names })?,
            }
        }
        close_object(&mut names, 0)?;
        Ok(out)
    }
}

/// The `tdx` object: walked like any other, its `verifier_nonce` kept.
struct TdxSeed<'a, 'de> {
    names: &'a mut Vec<Name<'de>>,
}

impl<'de> DeserializeSeed<'de> for TdxSeed<'_, 'de> {
    type Value = Option<Value>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Option<Value>, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for TdxSeed<'_, 'de> {
    type Value = Option<Value>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the `tdx` object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Option<Value>, A::Error> {
        let from = self.names.len();
        let mut nonce = None;
        while let Some(name) = map.next_key_seed(NameSeed)? {
            let is_nonce = name == "verifier_nonce";
            self.names.push(name);
            if is_nonce {
                nonce = Some(map.next_value_seed(StrictValue)?);
            } else {
                map.next_value_seed(Unique {
                    names: &mut *self.names,
                })?;
            }
        }
        close_object::<A::Error>(self.names, from)?;
        Ok(nonce)
    }
}

#[cfg(test)]
mod tests {
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
