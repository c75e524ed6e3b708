//! Relying-party validation of tokens: attestation tokens (MAA's or our
//! verifier's) and, with another [`ValidationProfile`], bearer tokens of an
//! OpenID issuer such as Azure AD's access tokens.
//!
//! Keys come only from the configured JWKS — a static file, or the issuer's
//! OpenID metadata (`{issuer}/.well-known/openid-configuration` →
//! `jwks_uri`, which must be on the issuer's origin). Header members that
//! point elsewhere (`jku`, `x5u`, `x5c`, `jwk`) are ignored.
//!
//! **Profiles.** One validator, one [`ValidationProfile`]: which algorithms
//! it accepts, whether `kid` and `x-ms-ver` are required, whether the
//! mock-evidence check applies, and which audience and role it requires.
//! [`ValidationProfile::maa`] (the default) accepts RS256 only, requires
//! `x-ms-ver` and checks for mock evidence; [`ValidationProfile::admin`]
//! accepts RS256, PS256 and ES256, requires `kid`, an `aud` naming the
//! service and a granted role. Checks a profile does not ask for are
//! skipped; every other check is the same for all profiles.
//!
//! The checks, in order (each refusal names its [`TokenCheck`]; those in
//! brackets run only when the profile asks for them):
//!
//! ```text
//! size ─ format (3 non-empty base64url parts) ─ header (UTF-8 JSON object,
//! unique names) ─ alg ∈ profile's algorithms (never none/HS*) ─ typ ∈
//! {absent, JWT} ─ no crit ─ claims (UTF-8 JSON object, unique names) ─ iss
//! ─ [aud] ─ exp present ─ not expired ─ nbf/iat not in the future ─ [kid
//! present] ─ kid in JWKS (one rate-limited refresh) ─ key usable for the
//! alg (RSA ≥ 2048 for RS256/PS256/PS384, EC P-256 for ES256; the JWK's own
//! alg, if any, must be the token's) ─ signature ─ [x-ms-ver] ─ [mock
//! evidence] ─ nonce ─ [role]
//! ```
//!
//! Issuer, audience and time checks come before the key lookup so that
//! stale or foreign tokens never make the validator fetch keys. The role
//! check comes last: a refusal by [`TokenCheck::Role`] means that the token
//! is authentic and valid for this service but its identity lacks the role
//! (HTTP 403); every other refusal is a failed authentication (401), see
//! [`TokenCheck::http_status`].
//!
//! Algorithm confusion is impossible by construction: the algorithm is one
//! of the profile's (all asymmetric), each JWKS key is parsed when the set
//! is loaded for exactly the algorithms its type (and its JWK `alg`)
//! allows, and a token is verified with the key parsed for its algorithm or
//! not at all.
//!
//! Cost: the signature dominates. Header and payload are decoded (SIMD
//! base64url) and walked once each without building a tree — only the
//! members the checks read are decoded, and a profile without audience or
//! role reads no more than the MAA checks need — and JWKS keys are parsed
//! once per algorithm (aws-lc-rs) when the set is loaded. The token
//! returned holds the checked JSON texts; its `Value` trees are built on
//! first use. Figures in `docs/PERFORMANCE.md` (`benches/verify.rs`,
//! `validate/*`).

use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

use aws_lc_rs::signature::ParsedPublicKey;
use tee_attest_core::AttestationToken;

pub use crate::profile::{Algorithm, ValidationProfile, DEFAULT_ROLE_CLAIM};
use crate::{MaaError, TokenCheck};
use tee_attest_http::{Http, HttpConfig};

mod checks;
mod discovery;
mod jwks;
mod parts;

pub(crate) use discovery::fetch_jwks;
pub use jwks::Jwks;

/// The most leeway that can be configured for `exp`/`nbf`.
pub const MAX_LEEWAY: Duration = Duration::from_secs(300);
/// The default leeway.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// The default maximum token size (bytes).
pub const DEFAULT_MAX_TOKEN_BYTES: usize = 256 * 1024;
/// The default minimum time between two JWKS refreshes.
pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
/// The smallest RSA modulus accepted for token signatures (bits).
pub const MIN_RSA_BITS: usize = 2048;

pub use tee_attest_core::time::{Clock, FixedClock, SystemClock};

fn normalize_issuer(s: &str) -> &str {
    s.trim_end_matches('/')
}

/// Where the validator's keys come from.
enum KeySource {
    Static,
    Discovery { http: Http },
}

struct Cache {
    jwks: Jwks,
    fetched_at: Option<Instant>,
    /// Why the last refresh failed, if it did (reported while rate limited).
    last_error: Option<String>,
}

impl Cache {
    /// The key for `kid`, parsed for `alg`; a refusal if that key is
    /// unusable or cannot verify `alg` (another key type, or a JWK `alg`
    /// naming another algorithm); `None` if the set has no key for `kid`.
    fn lookup_key(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Option<Result<Arc<ParsedPublicKey>, MaaError>> {
        self.jwks.key_for(kid, alg)
    }
}

/// Validates tokens as a relying party: attestation tokens (the default
/// [`ValidationProfile::maa`]) or, with another [`ValidationProfile`],
/// bearer tokens of an OpenID issuer ([`ValidationProfile::admin`]).
pub struct TokenValidator {
    issuer: Option<String>,
    profile: ValidationProfile,
    source: KeySource,
    /// Read on every validation; written only briefly around a refresh.
    cache: RwLock<Cache>,
    /// Held for the whole of a refresh, so that one happens at a time.
    refresh: tokio::sync::Mutex<()>,
    clock: Arc<dyn Clock>,
    leeway: Duration,
    allow_mock: bool,
    max_token_bytes: usize,
    refresh_interval: Duration,
}

impl fmt::Debug for TokenValidator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenValidator")
            .field("issuer", &self.issuer)
            .field(
                "discovery",
                &matches!(self.source, KeySource::Discovery { .. }),
            )
            .field("leeway", &self.leeway)
            .field("allow_mock", &self.allow_mock)
            .field("profile", &self.profile)
            .finish_non_exhaustive()
    }
}

impl TokenValidator {
    fn with_source(issuer: Option<String>, source: KeySource, jwks: Jwks) -> Self {
        Self {
            issuer: issuer.map(|i| normalize_issuer(i.trim()).to_string()),
            profile: ValidationProfile::maa(),
            source,
            cache: RwLock::new(Cache {
                jwks,
                fetched_at: None,
                last_error: None,
            }),
            refresh: tokio::sync::Mutex::new(()),
            clock: Arc::new(SystemClock),
            leeway: DEFAULT_LEEWAY,
            allow_mock: false,
            max_token_bytes: DEFAULT_MAX_TOKEN_BYTES,
            refresh_interval: DEFAULT_REFRESH_INTERVAL,
        }
    }

    /// A validator with a fixed key set (`--jwks FILE`). With `issuer`,
    /// `iss` must equal it (modulo a trailing slash); without, `iss` is not
    /// checked.
    pub fn with_jwks(issuer: Option<&str>, jwks: Jwks) -> Self {
        Self::with_source(issuer.map(str::to_string), KeySource::Static, jwks)
    }

    /// A validator with the key set in a JWKS file (codes 8 unreadable, 16
    /// not a JWKS).
    pub fn from_jwks_file(issuer: Option<&str>, path: &std::path::Path) -> Result<Self, MaaError> {
        let bytes = std::fs::read(path)
            .map_err(|e| MaaError::InvalidInput(format!("reading {}: {e}", path.display())))?;
        Ok(Self::with_jwks(issuer, Jwks::parse(&bytes)?))
    }

    /// A validator for tokens of `issuer`, whose keys it discovers from the
    /// issuer's OpenID metadata, fetched on first use and refreshed when a
    /// token names an unknown `kid` (at most once per refresh interval).
    pub fn with_discovery(issuer: &str, http: HttpConfig) -> Result<Self, MaaError> {
        let issuer = issuer.trim();
        let url = reqwest::Url::parse(issuer)
            .map_err(|e| MaaError::InvalidInput(format!("issuer {issuer:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err(MaaError::InvalidInput(format!(
                "issuer {issuer:?} is not an http(s) URL"
            )));
        }
        let http = Http::new(http)?;
        Ok(Self::with_source(
            Some(issuer.to_string()),
            KeySource::Discovery { http },
            Jwks::default(),
        ))
    }

    /// Validates with `profile` instead of the default
    /// [`ValidationProfile::maa`]: the algorithms accepted, whether `kid`
    /// and `x-ms-ver` are required, whether the mock-evidence check
    /// applies, and the audience and role required.
    #[must_use]
    pub fn with_profile(mut self, profile: ValidationProfile) -> Self {
        self.profile = profile;
        self
    }

    /// The profile tokens are validated with.
    pub fn profile(&self) -> &ValidationProfile {
        &self.profile
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

    /// Whether tokens from mock evidence are accepted (default: no), where
    /// the profile applies the mock-evidence check.
    #[must_use]
    pub fn allow_mock(mut self, allow: bool) -> Self {
        self.allow_mock = allow;
        self
    }

    /// Sets the maximum token size (capped at 1 MiB).
    #[must_use]
    pub fn with_max_token_bytes(mut self, max: usize) -> Self {
        self.max_token_bytes = max.min(1024 * 1024);
        self
    }

    /// Sets the minimum time between two JWKS refreshes.
    #[must_use]
    pub fn with_refresh_interval(mut self, interval: Duration) -> Self {
        self.refresh_interval = interval;
        self
    }

    /// Replaces the key set (a fixed-keys validator following a signer's
    /// live key set across rotations).
    pub fn replace_jwks(&self, jwks: Jwks) {
        let mut cache = self.cache_mut();
        cache.jwks = jwks;
        cache.last_error = None;
    }

    /// The configured issuer, without a trailing slash.
    pub fn issuer(&self) -> Option<&str> {
        self.issuer.as_deref()
    }

    /// Validates `token` with the validator's profile; with
    /// `expected_nonce`, the token's nonce (the `nonce` claim, or
    /// `x-ms-runtime.client-payload.nonce`, raw or base64) must match.
    /// Returns the decoded token. A refusal names its [`TokenCheck`]; only
    /// [`TokenCheck::Role`] means "authenticated, but not authorized"
    /// ([`TokenCheck::http_status`]).
    pub async fn validate(
        &self,
        token: &str,
        expected_nonce: Option<&[u8]>,
    ) -> Result<AttestationToken, MaaError> {
        let parsed = self.precheck(token)?;
        let key = self.key_for(parsed.kid.as_deref(), parsed.alg).await?;
        self.finish(parsed, &key, expected_nonce)
    }

    /// The cache, even if a thread panicked while holding it (every write
    /// leaves it consistent).
    fn cache(&self) -> std::sync::RwLockReadGuard<'_, Cache> {
        self.cache.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn cache_mut(&self) -> std::sync::RwLockWriteGuard<'_, Cache> {
        self.cache.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// The key for `kid`, parsed for `alg`: from the cache when it has it
    /// (never waiting for a refresh in progress), else after at most one
    /// refresh per interval (refreshes are serialized; the cache lock is
    /// never held across one).
    async fn key_for(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Arc<ParsedPublicKey>, MaaError> {
        if let Some(found) = self.cache().lookup_key(kid, alg) {
            return found;
        }
        if let KeySource::Discovery { http } = &self.source {
            let _one_refresh_at_a_time = self.refresh.lock().await;
            let may_refresh = {
                let cache = self.cache();
                // Another task may have refreshed while this one waited.
                if let Some(found) = cache.lookup_key(kid, alg) {
                    return found;
                }
                cache
                    .fetched_at
                    .is_none_or(|t| t.elapsed() >= self.refresh_interval)
            };
            if may_refresh {
                let issuer = self.issuer.as_deref().unwrap_or_default();
                // Record the attempt first, so that failures are rate limited too.
                self.cache_mut().fetched_at = Some(Instant::now());
                let fetched = fetch_jwks(http, issuer).await;
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
        let cache = self.cache();
        cache.lookup_key(kid, alg).unwrap_or_else(|| {
            // While the last refresh failed (and is not retried before the
            // interval), an unknown kid says nothing about the token: the
            // keys could not be had. A transport error (code 7), not a
            // refusal, so that a service answers 503, not 401.
            if let Some(e) = &cache.last_error {
                return Err(MaaError::Send {
                    url: "the issuer's JWKS".into(),
                    reason: format!(
                        "the last JWKS refresh failed ({e}); it is retried after the refresh \
                         interval"
                    ),
                });
            }
            Err(MaaError::rejected(
                TokenCheck::KeyId,
                match kid {
                    Some(k) => format!("no key with kid {k:?} in the trusted JWKS"),
                    None => "the token names no kid and the JWKS has not exactly one key".into(),
                },
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::checks::nonce_matches;
    use super::*;
    use crate::b64;
    use serde_json::Value;
    use tee_attest_keys::RsaPublic;

    #[test]
    fn nonce_forms() {
        assert!(nonce_matches("ADE0101", b"ADE0101"));
        assert!(nonce_matches("QURFMDEwMQ==", b"ADE0101"));
        assert!(nonce_matches("QURFMDEwMQ", b"ADE0101"));
        assert!(!nonce_matches("ADE0102", b"ADE0101"));
        assert!(!nonce_matches("QURFMDEwMg==", b"ADE0101"));
        // A binary nonce sent base64 and base64-encoded again by MAA.
        let bin = [0xffu8, 0x00, 0x10];
        let once = b64::std(&bin);
        let twice = b64::std(once.as_bytes());
        assert!(nonce_matches(&once, &bin));
        assert!(nonce_matches(&twice, &bin));
    }

    /// A JWS signed with a fresh RSA-2048 key, and a JWKS with that key.
    fn rs256(header: &Value, claims: &Value) -> (String, Jwks) {
        use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
        use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_SHA256};
        let kp = KeyPair::generate(KeySize::Rsa2048).unwrap();
        let comps = PublicKeyComponents::<Vec<u8>>::from(kp.public_key());
        let msg = format!(
            "{}.{}",
            b64::url(header.to_string().as_bytes()),
            b64::url(claims.to_string().as_bytes())
        );
        let mut sig = vec![0; kp.public_modulus_len()];
        kp.sign(
            &RSA_PKCS1_SHA256,
            &aws_lc_rs::rand::SystemRandom::new(),
            msg.as_bytes(),
            &mut sig,
        )
        .unwrap();
        let jwks = Jwks::from_rsa_keys([("k".to_string(), RsaPublic::new(&comps.n, &comps.e))]);
        (format!("{msg}.{}", b64::url(&sig)), jwks)
    }

    #[tokio::test]
    async fn x_ms_ver_is_required_by_the_maa_profile_only() {
        let header = serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": "k"});
        let claims = serde_json::json!({"iss": "https://login.test/t/v2.0", "aud": "api://svc",
            "roles": ["Admin"], "exp": 1_700_003_600, "iat": 1_699_999_990});
        let (token, jwks) = rs256(&header, &claims);
        let validator = |profile: ValidationProfile| {
            TokenValidator::with_jwks(Some("https://login.test/t/v2.0"), jwks.clone())
                .with_clock(Arc::new(FixedClock(1_700_000_000_i64)))
                .with_profile(profile)
        };
        let admin = validator(ValidationProfile::admin("api://svc", "Admin"));
        let t = admin.validate(&token, None).await.unwrap();
        assert_eq!(t.claim("roles"), Some(&serde_json::json!(["Admin"])));
        let maa = validator(ValidationProfile::maa());
        let e = maa.validate(&token, None).await.unwrap_err();
        assert_eq!(e.token_check(), Some(TokenCheck::Version), "{e}");
        // The default profile is maa().
        let e = TokenValidator::with_jwks(None, jwks.clone())
            .with_clock(Arc::new(FixedClock(1_700_000_000_i64)))
            .validate(&token, None)
            .await
            .unwrap_err();
        assert_eq!(e.token_check(), Some(TokenCheck::Version), "{e}");
        assert_eq!(maa.profile(), &ValidationProfile::default());
    }

    #[test]
    fn issuer_normalisation() {
        assert_eq!(normalize_issuer("https://x/"), "https://x");
        assert_eq!(normalize_issuer("https://x"), "https://x");
    }
}
