//! The ITA profile: Intel Trust Authority's attestation API (v2) answered
//! by the local verifier, so that an ITA client (`tee_attest_ita::ItaClient`,
//! Intel's Go connector) can run offline against `tee-attest serve`.
//!
//! ```text
//! GET  /appraisal/v2/nonce        (x-api-key) → {"val", "iat", "signature"}     (base64)
//!        val = 32 random bytes, iat = RFC 3339 UTC time text,
//!        signature = PS384 over val ‖ iat with the ITA key
//! POST /appraisal/v2/attest       (x-api-key) {"tdx": {quote, runtime_data, event_log?,
//!        verifier_nonce}, policy_ids?, policy_must_match?, token_signing_alg?} → {"token"}
//!        the quote's REPORTDATA = SHA-512(val ‖ iat ‖ runtime_data)
//! POST /appraisal/v2/attest/azure (x-api-key) {"tdx": {quote, runtime_data: HCL var data,
//!        user_data, verifier_nonce}, …} → {"token"}
//!        REPORTDATA begins with H(var data); var data `user-data` = SHA-512(val ‖ iat ‖ user_data)
//! ```
//!
//! The quote is appraised by the verifier's own `TdxVm` appraiser (Intel's
//! DCAP rules, the service's collateral sources, its mock trust); the
//! token carries the same appraisal in ITA's v2 layout, signed PS384 with a
//! key of its own (`<data-dir>/ita/`, published in `/certs` next to the
//! RS256 key of MAA-profile tokens). Policies are the service's own, in
//! the MAA policy language: a policy id (a UUID) names the file
//! `<data-dir>/ita-policies/<id>.policy`.
//!
//! Who may call: holders of an API key configured for the service
//! ([`ApiKeys`]; compared in constant time, never logged). A nonce is
//! accepted only when this service signed it, within its lifetime, and
//! once (an in-memory record, per instance).

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::digest::{digest, SHA256, SHA384, SHA512};
use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use tee_attest_core::{Error, ErrorCode, Evidence, EvidenceType, TeeId, MOCK_EVIDENCE_CLAIM};
use tee_attest_ita::{report_data, VerifierNonce};
use tee_attest_policy::{ClaimSet, Issuer, Policy};
use utoipa::ToSchema;

use super::metrics::Store;
use super::openapi::{Api, ErrorBody, Routes, TokenResponse};
use super::{ApiError, ServiceState};
use crate::{TokenSigner, VerifierError, RESERVED_CLAIMS};

/// The header an API key comes in.
pub const API_KEY_HEADER: &str = "x-api-key";
/// The `eat_profile` of ITA's tokens.
pub const ITA_EAT_PROFILE: &str = "https://portal.trustauthority.intel.com/eat_profile.html";
/// The token version (`ver`) of ITA's v2 tokens.
pub const ITA_TOKEN_VERSION: &str = "2.0.0";
/// How long a nonce is accepted after it was issued, by default.
pub const DEFAULT_NONCE_TTL: Duration = Duration::from_secs(300);
/// The longest nonce lifetime that can be configured.
pub const MAX_NONCE_TTL: Duration = Duration::from_secs(3600);
/// How long a token is valid, by default (ITA's tokens: minutes).
pub const DEFAULT_TOKEN_VALIDITY: Duration = Duration::from_secs(300);
/// The longest token validity that can be configured.
pub const MAX_TOKEN_VALIDITY: Duration = Duration::from_secs(24 * 3600);
/// How many nonces spent and not yet expired are remembered at most, by
/// default; past it, attestations are refused (503) until some expire.
pub const DEFAULT_MAX_SPENT_NONCES: usize = 100_000;
/// The most policy ids one request may name.
pub const MAX_POLICY_IDS: usize = 10;
/// The ITA key's directory, below the data directory.
pub const KEY_DIR: &str = "ita";
/// The policies' directory, below the data directory: `<id>.policy`.
pub const POLICY_DIR: &str = "ita-policies";
/// The largest policy file read (bytes).
const MAX_POLICY_BYTES: u64 = 1024 * 1024;
/// The version a matched or unmatched policy is reported with.
const POLICY_VERSION: &str = "v1";
/// How far in the future a nonce's `iat` may be (clocks of instances
/// sharing the key).
const CLOCK_SKEW: Duration = Duration::from_secs(60);
/// The length of a nonce's `val` (bytes).
const NONCE_VAL_LEN: usize = 32;
/// The shortest API key accepted in the keys file.
pub const MIN_API_KEY_LEN: usize = 16;

/// The evidence type whose appraiser verifies the quotes (bare and Azure).
const TDX_VM: EvidenceType = EvidenceType::new("TdxVm", None);
/// The backend the appraised evidence is said to come from.
const ITA_TEE: TeeId = TeeId::new("tdx");

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/// The API keys the ITA routes accept. Only their SHA-256 digests are
/// kept; a presented key is hashed and compared with every digest in
/// constant time, whatever the first comparisons found.
#[derive(Clone)]
pub struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ApiKeys({} keys)", self.digests.len())
    }
}

fn sha256(data: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, data).as_ref());
    out
}

impl ApiKeys {
    /// The keys of a keys file's text: one key per line, surrounding
    /// whitespace trimmed; blank lines and lines starting with `#` are
    /// skipped. Code 8 when there is no key, or a key is shorter than
    /// [`MIN_API_KEY_LEN`] or has characters other than visible ASCII
    /// (the error names the line, never the key).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut digests = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let key = line.trim();
            if key.is_empty() || key.starts_with('#') {
                continue;
            }
            if key.len() < MIN_API_KEY_LEN || !key.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(Error::new(
                    ErrorCode::InvalidInputParameter,
                    format!(
                        "the API keys file, line {}: a key must be at least {MIN_API_KEY_LEN} \
                         visible ASCII characters, without spaces",
                        i + 1
                    ),
                ));
            }
            let d = sha256(key.as_bytes());
            if !digests.contains(&d) {
                digests.push(d);
            }
        }
        if digests.is_empty() {
            return Err(Error::new(
                ErrorCode::InvalidInputParameter,
                "the API keys file holds no key",
            ));
        }
        Ok(Self { digests })
    }

    /// How many distinct keys.
    pub fn len(&self) -> usize {
        self.digests.len()
    }

    /// Whether there is none (never, for a parsed set).
    pub fn is_empty(&self) -> bool {
        self.digests.is_empty()
    }

    /// Whether `presented` is one of the keys: every digest is compared,
    /// each in constant time.
    pub fn admits(&self, presented: &[u8]) -> bool {
        let d = sha256(presented);
        let mut found = false;
        for k in &self.digests {
            found |= aws_lc_rs::constant_time::verify_slices_are_equal(k, &d).is_ok();
        }
        found
    }
}

/// How the ITA profile is set up: its API keys, nonce lifetime, token
/// validity.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ItaProfile {
    /// The keys callers must present in `x-api-key`.
    pub api_keys: ApiKeys,
    /// How long a nonce is accepted after it was issued (at most
    /// [`MAX_NONCE_TTL`]).
    pub nonce_ttl: Duration,
    /// How long a token is valid (at most [`MAX_TOKEN_VALIDITY`]).
    pub token_validity: Duration,
    /// How many spent nonces are remembered at most.
    pub max_spent_nonces: usize,
}

impl ItaProfile {
    /// The profile with `api_keys` and the defaults.
    pub fn new(api_keys: ApiKeys) -> Self {
        Self {
            api_keys,
            nonce_ttl: DEFAULT_NONCE_TTL,
            token_validity: DEFAULT_TOKEN_VALIDITY,
            max_spent_nonces: DEFAULT_MAX_SPENT_NONCES,
        }
    }

    /// Nonces are accepted for `ttl` (at least a second, at most
    /// [`MAX_NONCE_TTL`]).
    #[must_use]
    pub fn with_nonce_ttl(mut self, ttl: Duration) -> Self {
        self.nonce_ttl = ttl.clamp(Duration::from_secs(1), MAX_NONCE_TTL);
        self
    }

    /// Tokens are valid for `validity` (at least a second, at most
    /// [`MAX_TOKEN_VALIDITY`]).
    #[must_use]
    pub fn with_token_validity(mut self, validity: Duration) -> Self {
        self.token_validity = validity.clamp(Duration::from_secs(1), MAX_TOKEN_VALIDITY);
        self
    }

    /// At most `max` spent nonces are remembered (at least one).
    #[must_use]
    pub fn with_max_spent_nonces(mut self, max: usize) -> Self {
        self.max_spent_nonces = max.max(1);
        self
    }
}

// ---------------------------------------------------------------------------
// Time as RFC 3339 text
// ---------------------------------------------------------------------------

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    // Years start in March, so that the leap day is the year's last.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The date of a day since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `YYYY-MM-DDTHH:MM:SSZ` of Unix seconds.
fn rfc3339(secs: i64) -> String {
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// The Unix seconds of `YYYY-MM-DDTHH:MM:SSZ` (the form [`rfc3339`]
/// writes, and only that).
fn parse_rfc3339(text: &[u8]) -> Option<i64> {
    if text.len() != 20 {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let part = text.get(from..to)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(part).ok()?.parse().ok()
    };
    let sep = |i: usize, c: u8| text.get(i) == Some(&c);
    let separators = [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'Z'),
    ];
    if !separators.iter().all(|(i, c)| sep(*i, *c)) {
        return None;
    }
    let (y, mo, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let days = days_from_civil(y, mo, d);
    // 31 February and the like: not a date.
    if civil_from_days(days) != (y, mo, d) {
        return None;
    }
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

// ---------------------------------------------------------------------------
// Bodies (and their OpenAPI schemas)
// ---------------------------------------------------------------------------

/// ITA's error body: `{"error": "…"}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ItaErrorBody {
    /// What went wrong, in words.
    pub error: String,
}

/// A nonce: `GET /appraisal/v2/nonce`'s answer, and `verifier_nonce` in
/// an attestation request (echoed as the service issued it).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ItaNonce {
    /// base64 of 32 random bytes.
    #[schema(min_length = 1)]
    pub val: String,
    /// base64 of the issue time, RFC 3339 UTC text (`2025-01-02T03:04:05Z`).
    #[schema(min_length = 1)]
    pub iat: String,
    /// base64 of the service's PS384 signature over `val ‖ iat` (decoded).
    #[schema(min_length = 1)]
    pub signature: String,
}

/// The TDX evidence of an attestation request (all byte fields base64).
#[derive(Debug, Clone, Deserialize, ToSchema)]
pub struct ItaTdxEvidence {
    /// The TD quote (v4 or v5).
    #[schema(min_length = 1)]
    pub quote: String,
    /// `/attest`: the user data the quote's REPORTDATA binds with the
    /// nonce. `/attest/azure`: the HCL report's variable data (JSON).
    #[serde(default)]
    pub runtime_data: Option<String>,
    /// `/attest/azure`: the user data the variable data's `user-data`
    /// binds with the nonce. `/attest`: absent, or equal to `runtime_data`.
    #[serde(default)]
    pub user_data: Option<String>,
    /// `/attest` only: the CC event log (CCEL), replayed to the RTMRs.
    #[serde(default)]
    pub event_log: Option<String>,
    /// The nonce the evidence binds, as the service issued it.
    pub verifier_nonce: ItaNonce,
}

/// The signing algorithm a request may ask for.
#[derive(Debug, Clone, Copy, Serialize, ToSchema)]
#[allow(dead_code)] // a schema only: the handler reads the text itself
pub enum ItaTokenAlg {
    /// RSASSA-PSS with SHA-384: the only one this service signs ITA tokens
    /// with (`RS256` is refused, 400).
    #[serde(rename = "PS384")]
    Ps384,
}

/// `POST /appraisal/v2/attest[/azure]`: ITA's composite v2 body (its flat
/// v1 form, the evidence's members at the top level, is taken too).
#[derive(Debug, Clone, ToSchema)]
#[allow(dead_code)] // a schema only: the handler parses the bytes itself
pub struct ItaAttestRequest {
    /// The TDX evidence.
    pub tdx: ItaTdxEvidence,
    /// Policies (UUIDs) to evaluate: each names the MAA-language policy
    /// `<data-dir>/ita-policies/<id>.policy` (at most 10).
    #[schema(max_items = 10)]
    pub policy_ids: Option<Vec<policy_id::PolicyId>>,
    /// Refuse (400) unless every policy matches.
    pub policy_must_match: Option<bool>,
    /// `PS384` (the default and the only one).
    pub token_signing_alg: Option<ItaTokenAlg>,
}

/// The policy ids' schema.
pub mod policy_id {
    /// A policy id: a UUID in its text form.
    #[derive(Debug, Clone)]
    pub struct PolicyId;

    impl utoipa::PartialSchema for PolicyId {
        fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
            use utoipa::openapi::schema::{ObjectBuilder, Type};
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(
                    "^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$",
                ))
                .description(Some("A policy id (UUID)."))
                .into()
        }
    }

    impl utoipa::ToSchema for PolicyId {}
}

/// The wire body, composite (`tdx`) or flat.
#[derive(Deserialize)]
struct WireBody {
    #[serde(default)]
    tdx: Option<WireTdx>,
    #[serde(default)]
    quote: Option<String>,
    #[serde(default)]
    runtime_data: Option<String>,
    #[serde(default)]
    user_data: Option<String>,
    #[serde(default)]
    event_log: Option<String>,
    #[serde(default)]
    verifier_nonce: Option<ItaNonce>,
    #[serde(default)]
    policy_ids: Option<Vec<String>>,
    #[serde(default)]
    policy_must_match: Option<bool>,
    #[serde(default)]
    token_signing_alg: Option<String>,
}

#[derive(Deserialize)]
struct WireTdx {
    #[serde(default)]
    quote: Option<String>,
    #[serde(default)]
    runtime_data: Option<String>,
    #[serde(default)]
    user_data: Option<String>,
    #[serde(default)]
    event_log: Option<String>,
    #[serde(default)]
    verifier_nonce: Option<ItaNonce>,
}

/// Which route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Route {
    /// `/appraisal/v2/attest`: a bare TD quote.
    Tdx,
    /// `/appraisal/v2/attest/azure`: an Azure TDX CVM's quote and HCL
    /// variable data.
    Azure,
}

/// A request, decoded.
struct AttestInput {
    quote: Vec<u8>,
    runtime_data: Vec<u8>,
    user_data: Vec<u8>,
    event_log: Option<Vec<u8>>,
    nonce: VerifierNonce,
    policy_ids: Vec<String>,
    must_match: bool,
}

fn bad(message: impl Into<String>) -> Error {
    Error::new(ErrorCode::InvalidInputParameter, message)
}

/// A base64 field (standard alphabet, padded or not; base64url taken too).
fn decode_field(name: &str, text: &str) -> Result<Vec<u8>, Error> {
    const LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    const LENIENT_URL: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
        &base64::alphabet::URL_SAFE,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    LENIENT
        .decode(text.trim())
        .or_else(|_| LENIENT_URL.decode(text.trim()))
        .map_err(|_| bad(format!("`{name}` is not base64")))
}

fn optional_field(name: &str, text: Option<&String>) -> Result<Vec<u8>, Error> {
    text.map_or(Ok(Vec::new()), |t| decode_field(name, t))
}

impl AttestInput {
    /// The request body, decoded (code 19 empty, 16 not the JSON expected,
    /// 8 a field that does not decode or a combination not taken).
    fn parse(body: &[u8], route: Route) -> Result<Self, Error> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::new(
                ErrorCode::EmptyRequestBody,
                "the attestation request is empty",
            ));
        }
        let w: WireBody = serde_json::from_slice(body).map_err(|e| {
            Error::new(
                ErrorCode::InvalidJsonResponse,
                format!("the attestation request is not the JSON expected: {e}"),
            )
        })?;
        let (quote, runtime_data, user_data, event_log, nonce) = match w.tdx {
            Some(t) => (
                t.quote,
                t.runtime_data,
                t.user_data,
                t.event_log,
                t.verifier_nonce,
            ),
            None => (
                w.quote,
                w.runtime_data,
                w.user_data,
                w.event_log,
                w.verifier_nonce,
            ),
        };
        let quote = decode_field("quote", quote.as_deref().unwrap_or_default())?;
        if quote.is_empty() {
            return Err(bad("the request carries no TD quote (`tdx.quote`)"));
        }
        let nonce = nonce.ok_or_else(|| {
            bad(
                "the request carries no `verifier_nonce`: this service requires one \
                 (GET /appraisal/v2/nonce)",
            )
        })?;
        let nonce = VerifierNonce::new(&nonce.val, &nonce.iat, &nonce.signature)
            .map_err(|e| bad(format!("`verifier_nonce`: {e}")))?;
        let runtime_data = optional_field("runtime_data", runtime_data.as_ref())?;
        let user_data = optional_field("user_data", user_data.as_ref())?;
        let event_log = match event_log.as_ref() {
            Some(t) => Some(decode_field("event_log", t)?).filter(|l| !l.is_empty()),
            None => None,
        };
        match route {
            Route::Tdx if !user_data.is_empty() && user_data != runtime_data => {
                return Err(bad(
                    "`user_data` differs from `runtime_data`: on /appraisal/v2/attest the \
                     quote binds `runtime_data`",
                ));
            }
            Route::Azure if event_log.is_some() => {
                return Err(bad("/appraisal/v2/attest/azure takes no event log"));
            }
            Route::Azure if runtime_data.is_empty() => {
                return Err(bad(
                    "`runtime_data` must be the HCL report's variable data on \
                     /appraisal/v2/attest/azure",
                ));
            }
            _ => {}
        }
        let mut policy_ids: Vec<String> = Vec::new();
        for id in w.policy_ids.unwrap_or_default() {
            let id = id.trim().to_ascii_lowercase();
            if !tee_attest_ita::request::is_uuid(&id) {
                return Err(bad(format!(
                    "policy id {:?} is not a UUID",
                    id.chars().take(64).collect::<String>()
                )));
            }
            if !policy_ids.contains(&id) {
                policy_ids.push(id);
            }
            if policy_ids.len() > MAX_POLICY_IDS {
                return Err(bad(format!(
                    "at most {MAX_POLICY_IDS} policy ids per request"
                )));
            }
        }
        match w.token_signing_alg.as_deref().map(str::trim) {
            None | Some("") | Some("PS384") => {}
            Some(other) => {
                return Err(bad(format!(
                    "token_signing_alg {:?}: this service signs ITA tokens with PS384 only",
                    other.chars().take(32).collect::<String>()
                )))
            }
        }
        Ok(Self {
            quote,
            runtime_data,
            user_data,
            event_log,
            nonce,
            policy_ids,
            must_match: w.policy_must_match.unwrap_or(false),
        })
    }

    /// The data the report data binds with the nonce: the runtime data on
    /// bare TDX, the user data on Azure.
    fn bound_data(&self, route: Route) -> &[u8] {
        match route {
            Route::Tdx => &self.runtime_data,
            Route::Azure => &self.user_data,
        }
    }
}

// ---------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------

/// Nonces spent and when they expire (Unix seconds).
struct Spent {
    by_val: HashMap<[u8; NONCE_VAL_LEN], i64>,
    max: usize,
}

/// Why a nonce cannot be spent.
enum SpendRefusal {
    /// It was spent already.
    Spent,
    /// The record is full of unexpired nonces.
    Full,
    /// The fleet's store cannot say whether it was spent (unreachable).
    StoreUnavailable,
}

impl Spent {
    fn spend(
        &mut self,
        val: [u8; NONCE_VAL_LEN],
        expires: i64,
        now: i64,
    ) -> Result<(), SpendRefusal> {
        if self.by_val.contains_key(&val) {
            return Err(SpendRefusal::Spent);
        }
        if self.by_val.len() >= self.max {
            self.by_val.retain(|_, e| *e > now);
            if self.by_val.len() >= self.max {
                return Err(SpendRefusal::Full);
            }
        } else if self.by_val.len() % 1024 == 1023 {
            self.by_val.retain(|_, e| *e > now);
        }
        self.by_val.insert(val, expires);
        Ok(())
    }

    fn release(&mut self, val: &[u8; NONCE_VAL_LEN]) {
        self.by_val.remove(val);
    }
}

/// The ITA routes' state.
struct ItaState {
    service: Arc<ServiceState>,
    signer: TokenSigner,
    /// The ITA key's public half, for nonce signatures.
    public: aws_lc_rs::signature::RsaPublicKeyComponents<Vec<u8>>,
    profile: ItaProfile,
    spent: Mutex<Spent>,
    policy_dir: PathBuf,
    /// Parsed policies by id, with the text they were parsed from.
    policies: Mutex<HashMap<String, (String, Arc<Policy>)>>,
}

/// A policy named by a request.
struct NamedPolicy {
    id: String,
    policy: Arc<Policy>,
}

impl ItaState {
    /// The 401 to answer, unless the request carries exactly one
    /// configured API key (then `None`).
    fn refusal(&self, headers: &HeaderMap) -> Option<Response> {
        let mut values = headers.get_all(API_KEY_HEADER).iter();
        let ok = match (values.next(), values.next()) {
            (Some(v), None) => self.profile.api_keys.admits(v.as_bytes()),
            _ => false,
        };
        if ok {
            return None;
        }
        let mut r = ita_error(
            StatusCode::UNAUTHORIZED,
            "a valid API key is required in the x-api-key header",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("ApiKey header=\"x-api-key\""),
        );
        Some(r)
    }

    /// A fresh nonce: 32 random bytes, the time, the PS384 signature.
    fn issue_nonce(&self) -> Result<ItaNonce, Error> {
        let mut val = [0u8; NONCE_VAL_LEN];
        aws_lc_rs::rand::fill(&mut val)
            .map_err(|_| VerifierError::Setup("no randomness for a nonce".into()))?;
        let iat = rfc3339(now_secs());
        let mut message = val.to_vec();
        message.extend_from_slice(iat.as_bytes());
        let signature = self.signer.sign_ps384(&message)?;
        Ok(ItaNonce {
            val: STANDARD.encode(val),
            iat: STANDARD.encode(iat.as_bytes()),
            signature: STANDARD.encode(signature),
        })
    }

    /// The nonce's `val` when this service signed it and it is within its
    /// lifetime; refusals (code 6) name the check.
    fn check_nonce(&self, nonce: &VerifierNonce) -> Result<([u8; NONCE_VAL_LEN], i64), Error> {
        let val: [u8; NONCE_VAL_LEN] = nonce.val().try_into().map_err(|_| {
            VerifierError::check(
                "verifier_nonce.signature",
                "the nonce was not issued by this service",
            )
        })?;
        let mut message = nonce.val().to_vec();
        message.extend_from_slice(nonce.iat());
        self.public
            .verify(
                &aws_lc_rs::signature::RSA_PSS_2048_8192_SHA384,
                &message,
                nonce.signature(),
            )
            .map_err(|_| {
                VerifierError::check(
                    "verifier_nonce.signature",
                    "the nonce was not issued by this service (its signature does not verify)",
                )
            })?;
        let issued = parse_rfc3339(nonce.iat()).ok_or_else(|| {
            VerifierError::check(
                "verifier_nonce.iat",
                "the nonce's issue time is not RFC 3339",
            )
        })?;
        let now = now_secs();
        let ttl = i64::try_from(self.profile.nonce_ttl.as_secs()).unwrap_or(i64::MAX);
        let skew = i64::try_from(CLOCK_SKEW.as_secs()).unwrap_or(0);
        if issued > now.saturating_add(skew) {
            return Err(VerifierError::check(
                "verifier_nonce.iat",
                "the nonce's issue time is in the future",
            )
            .into());
        }
        let expires = issued.saturating_add(ttl);
        if now > expires {
            return Err(VerifierError::check(
                "verifier_nonce.expired",
                format!(
                    "the nonce expired (it is accepted for {} s after it was issued): get a \
                     fresh one",
                    self.profile.nonce_ttl.as_secs()
                ),
            )
            .into());
        }
        Ok((val, expires))
    }

    fn spent(&self) -> std::sync::MutexGuard<'_, Spent> {
        self.spent.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The policies `ids` name (code 8 for one not configured).
    fn policies(&self, ids: &[String]) -> Result<Vec<NamedPolicy>, Error> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            // `id` is a lower-case UUID: no path separator, no dot.
            let path = self.policy_dir.join(format!("{id}.policy"));
            let text = match read_capped(&path) {
                Ok(t) => t,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(bad(format!(
                        "policy {id} is not configured on this service"
                    )));
                }
                Err(e) => {
                    return Err(Error::with_source(
                        ErrorCode::InitializationFailed,
                        format!("reading ITA policy {id}"),
                        e,
                    ))
                }
            };
            let mut cache = self.policies.lock().unwrap_or_else(PoisonError::into_inner);
            let policy = match cache.get(id) {
                Some((t, p)) if *t == text => p.clone(),
                _ => {
                    let p = Arc::new(Policy::parse(&text).map_err(|e| {
                        Error::with_source(
                            ErrorCode::InitializationFailed,
                            format!("ITA policy {id} does not parse"),
                            e,
                        )
                    })?);
                    cache.insert(id.clone(), (text, p.clone()));
                    p
                }
            };
            out.push(NamedPolicy {
                id: id.clone(),
                policy,
            });
        }
        Ok(out)
    }

    /// Appraise, bind, evaluate the policies, sign: the token.
    fn attest(
        &self,
        input: &AttestInput,
        route: Route,
        policies: &[NamedPolicy],
    ) -> Result<String, Error> {
        let mut evidence = Evidence::new(ITA_TEE, TDX_VM);
        evidence.hardware_report = input.quote.clone();
        evidence.event_log = input.event_log.clone();
        let appraisal = self.service.verifier.appraise(&evidence, None)?;
        let mock = appraisal.mock;
        let appraised = appraisal.claims;
        let quote_rd = appraised
            .get("tdx_report_data")
            .and_then(Value::as_str)
            .and_then(|h| hex::decode(h).ok())
            .filter(|b| b.len() == 64)
            .ok_or_else(|| {
                VerifierError::Setup("the TdxVm appraisal names no report data".into())
            })?;
        let want = report_data(&input.nonce, input.bound_data(route));
        match route {
            Route::Tdx => {
                if quote_rd.as_slice() != want.as_slice() {
                    return Err(VerifierError::check(
                        "report-data.binding",
                        "the quote's REPORTDATA is not SHA-512(nonce val ‖ iat ‖ runtime_data): \
                         it binds another nonce or other data",
                    )
                    .into());
                }
            }
            Route::Azure => {
                // As the AzureGuest/Tdx appraiser's `hcl.binding`: the
                // TDREPORT's report data begins with the variable data's
                // SHA-256 (-384, -512).
                let bound = [&SHA256, &SHA384, &SHA512].iter().any(|alg| {
                    let d = digest(alg, &input.runtime_data);
                    quote_rd.get(..d.as_ref().len()) == Some(d.as_ref())
                });
                if !bound {
                    return Err(VerifierError::check(
                        "hcl.binding",
                        "the quote's REPORTDATA is not the hash of the HCL variable data",
                    )
                    .into());
                }
                let user = var_data_user_data(
                    &input.runtime_data,
                    self.service.limits.request.max_json_depth,
                )?;
                if user != want {
                    return Err(VerifierError::check(
                        "hcl.user-data",
                        "the HCL variable data's user-data is not SHA-512(nonce val ‖ iat ‖ \
                         user_data): it binds another nonce or other data",
                    )
                    .into());
                }
            }
        }
        let tdx = tdx_claims(
            appraised,
            input,
            route,
            self.service.limits.request.max_json_depth,
        )?;

        // The policies, over the attester's claims.
        let mut incoming = tdx.clone();
        incoming.remove("verifier_nonce");
        if mock {
            incoming.insert(MOCK_EVIDENCE_CLAIM.into(), json!(true));
        }
        let set = ClaimSet::from_json_map(&incoming, Issuer::AttestationService)?;
        let (mut matched, mut unmatched) = (Vec::new(), Vec::new());
        let mut defined = Map::new();
        for p in policies {
            let entry = json!({"id": p.id, "version": POLICY_VERSION, "hash": p.policy.hash()});
            match p.policy.evaluate(&set) {
                Ok(o) if o.authorized => {
                    for (k, v) in o.outgoing_json() {
                        if !RESERVED_CLAIMS.contains(&k.as_str()) {
                            defined.entry(k).or_insert(v);
                        }
                    }
                    matched.push(entry);
                }
                Ok(_) => unmatched.push(entry),
                Err(e) => {
                    tracing::debug!(policy = %p.id, "an ITA policy could not be evaluated: {e}");
                    unmatched.push(entry);
                }
            }
        }
        if input.must_match && !unmatched.is_empty() {
            let ids: Vec<&str> = unmatched.iter().filter_map(|e| e["id"].as_str()).collect();
            return Err(VerifierError::check(
                "policy.match",
                format!(
                    "policy_must_match: these policies did not match: {}",
                    ids.join(", ")
                ),
            )
            .into());
        }

        // The token: the attester's claims at the top level and, as ITA's
        // v2 tokens nest them, in `tdx`.
        let mut claims = Map::new();
        for k in [
            "attester_tcb_status",
            "attester_advisory_ids",
            "attester_type",
            "attester_runtime_data",
            "dbgstat",
        ] {
            if let Some(v) = tdx.get(k) {
                claims.insert(k.into(), v.clone());
            }
        }
        claims.insert("verifier_nonce".into(), input.nonce.to_json());
        if !matched.is_empty() {
            claims.insert("policy_ids_matched".into(), Value::Array(matched));
        }
        if !unmatched.is_empty() {
            claims.insert("policy_ids_unmatched".into(), Value::Array(unmatched));
        }
        if !defined.is_empty() {
            claims.insert("policy_defined_claims".into(), Value::Object(defined));
        }
        if mock {
            claims.insert(MOCK_EVIDENCE_CLAIM.into(), json!(true));
        }
        let issuer = self.service.verifier.issuer();
        let iat = now_secs();
        let validity = i64::try_from(self.profile.token_validity.as_secs()).unwrap_or(300);
        claims.insert("eat_profile".into(), json!(ITA_EAT_PROFILE));
        claims.insert("ver".into(), json!(ITA_TOKEN_VERSION));
        claims.insert("iss".into(), json!(issuer));
        claims.insert("iat".into(), json!(iat));
        claims.insert("nbf".into(), json!(iat));
        claims.insert("exp".into(), json!(iat.saturating_add(validity)));
        claims.insert("jti".into(), json!(uuid_v4()?));
        claims.insert("tdx".into(), Value::Object(tdx));
        self.sign(&Value::Object(claims), &format!("{issuer}/certs"))
    }

    /// A PS384 JWT of `claims`: header `alg`, `jku`, `kid`, `typ`.
    fn sign(&self, claims: &Value, jku: &str) -> Result<String, Error> {
        let header = json!({"alg": "PS384", "jku": jku, "kid": self.signer.kid(), "typ": "JWT"});
        let mut out = URL_SAFE_NO_PAD.encode(header.to_string());
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
        let sig = self.signer.sign_ps384(out.as_bytes())?;
        out.push('.');
        out.push_str(&URL_SAFE_NO_PAD.encode(sig));
        Ok(out)
    }
}

/// A file's text, refused past [`MAX_POLICY_BYTES`].
fn read_capped(path: &std::path::Path) -> std::io::Result<String> {
    use std::io::Read as _;
    let f = std::fs::File::open(path)?;
    let mut text = String::new();
    f.take(MAX_POLICY_BYTES + 1).read_to_string(&mut text)?;
    if text.len() as u64 > MAX_POLICY_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_POLICY_BYTES} bytes"),
        ));
    }
    Ok(text)
}

/// A random `jti`: a version-4 UUID.
fn uuid_v4() -> Result<String, Error> {
    let mut b = [0u8; 16];
    aws_lc_rs::rand::fill(&mut b)
        .map_err(|_| VerifierError::Setup("no randomness for jti".into()))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// The `user-data` (hex, 64 bytes) of HCL variable data (code 6,
/// `hcl.user-data`, when it has none).
fn var_data_user_data(var_data: &[u8], max_depth: usize) -> Result<[u8; 64], Error> {
    let refuse = |why: &str| -> Error {
        VerifierError::check("hcl.user-data", format!("the HCL variable data: {why}")).into()
    };
    tee_attest_maa::limits::check_json_depth(var_data, max_depth, "the HCL variable data")?;
    let v: Value = serde_json::from_slice(var_data).map_err(|_| refuse("not JSON"))?;
    let text = v
        .get("user-data")
        .and_then(Value::as_str)
        .ok_or_else(|| refuse("no user-data"))?;
    let bytes = hex::decode(text).map_err(|_| refuse("user-data is not hex"))?;
    bytes
        .try_into()
        .map_err(|_| refuse("user-data is not 64 bytes"))
}

/// The `tdx` object: the appraisal's TDX claims in ITA's names (ITA's
/// `eat_profile`, its collateral hash names), without MAA's attestation
/// type and the mock claim (top level), with `attester_type`,
/// `verifier_nonce`, `attester_held_data` (base64 of the bound data) and
/// `attester_runtime_data` (the runtime data, when it is a JSON object).
fn tdx_claims(
    appraised: Map<String, Value>,
    input: &AttestInput,
    route: Route,
    max_depth: usize,
) -> Result<Map<String, Value>, Error> {
    let mut tdx = Map::new();
    for (k, v) in appraised {
        match k.as_str() {
            "x-ms-attestation-type" | "x-ms-runtime" | "nonce" => {}
            k if k == MOCK_EVIDENCE_CLAIM => {}
            "eat_profile" => {
                tdx.insert(k.to_string(), json!(ITA_EAT_PROFILE));
            }
            "tdx_collateral" => {
                let renamed: Map<String, Value> = match v {
                    Value::Object(m) => m
                        .into_iter()
                        .map(|(name, h)| {
                            let name = match name.as_str() {
                                "qeidcertshash" => "qeidcerthash".to_string(),
                                "tcbinfocertshash" => "tcbinfocerthash".to_string(),
                                _ => name,
                            };
                            (name, h)
                        })
                        .collect(),
                    _ => Map::new(),
                };
                tdx.insert(k.to_string(), Value::Object(renamed));
            }
            _ => {
                tdx.insert(k, v);
            }
        }
    }
    tdx.insert("eat_profile".into(), json!(ITA_EAT_PROFILE));
    tdx.insert("attester_type".into(), json!("TDX"));
    let held = input.bound_data(route);
    if !held.is_empty() {
        tdx.insert("attester_held_data".into(), json!(STANDARD.encode(held)));
    }
    if !input.runtime_data.is_empty() {
        tee_attest_maa::limits::check_json_depth(&input.runtime_data, max_depth, "runtime_data")?;
        if let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(&input.runtime_data) {
            tdx.insert("attester_runtime_data".into(), Value::Object(m));
        }
    }
    tdx.insert("verifier_nonce".into(), input.nonce.to_json());
    Ok(tdx)
}

// ---------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------

/// ITA's error answer: `status` with `{"error": message}`.
fn ita_error(status: StatusCode, message: impl Into<String>) -> Response {
    (
        status,
        Json(ItaErrorBody {
            error: message.into(),
        }),
    )
        .into_response()
}

/// An error as the ITA routes answer it (status as the MAA routes choose
/// it; 5xx logged with the cause).
fn error_response(e: &Error) -> Response {
    let status = ApiError::status_of(e);
    if status.is_server_error() {
        tracing::error!(error = %e.full_message(), "an ITA request failed");
    }
    ita_error(status, e.full_message())
}

/// The request body within the route's limit: a larger one is the 413 the
/// service's layers answer everywhere, a body that cannot be read a 400.
struct ItaBody(Bytes);

impl<S: Send + Sync> FromRequest<S> for ItaBody {
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
                    ita_error(
                        StatusCode::BAD_REQUEST,
                        format!("the request body could not be read: {}", e.body_text()),
                    )
                }
            })
    }
}

// ---------------------------------------------------------------------------
// Routes
// ---------------------------------------------------------------------------

/// `GET /appraisal/v2/nonce`.
#[utoipa::path(
    get,
    path = "/appraisal/v2/nonce",
    operation_id = "getItaNonce",
    tag = "ita",
    summary = "A nonce for the next attestation (Intel Trust Authority's API)",
    description = "A nonce this service signed: `val` (32 random bytes), `iat` (its issue time, \
        RFC 3339 UTC text) and `signature` (PS384 over `val ‖ iat` with the ITA key of \
        `/certs`), each base64. The evidence binds SHA-512(`val` ‖ `iat` ‖ user data); an \
        attestation takes it back in `verifier_nonce` within the nonce lifetime (5 minutes by \
        default), once.",
    responses(
        (status = 200, description = "A fresh nonce.", body = ItaNonce),
        (status = 401, description = "No API key, or one not configured for this service.",
            body = ItaErrorBody,
            headers(("WWW-Authenticate" = String, description = "`ApiKey header=\"x-api-key\"`"))),
        (status = 500, description = "An internal failure (no randomness, the key cannot sign).",
            body = ItaErrorBody),
    ),
    security(("itaApiKey" = []))
)]
async fn nonce(State(s): State<Arc<ItaState>>, headers: HeaderMap) -> Response {
    if let Some(r) = s.refusal(&headers) {
        return r;
    }
    match s.issue_nonce() {
        Ok(n) => Json(n).into_response(),
        Err(e) => error_response(&e),
    }
}

/// `POST /appraisal/v2/attest`.
#[utoipa::path(
    post,
    path = "/appraisal/v2/attest",
    operation_id = "itaAttest",
    tag = "ita",
    summary = "Appraise a TD quote; answer an ITA token (Intel Trust Authority's API)",
    description = "A bare TD quote whose REPORTDATA is SHA-512(`val` ‖ `iat` ‖ `runtime_data`) \
        for a nonce of `GET /appraisal/v2/nonce`, appraised with Intel's DCAP rules as \
        `POST /attest/TdxVm` appraises it (a CC event log, when sent, must replay to the \
        RTMRs). The token is ITA's v2 layout, signed PS384 with the ITA key of `/certs`; \
        `policy_ids` name the service's MAA-language policies (`<data-dir>/ita-policies/<id>.policy`).",
    request_body(content = ItaAttestRequest, content_type = "application/json",
        description = "ITA's composite v2 body (the flat v1 form is taken too). Evidence that \
            does not verify, or a nonce not issued here, expired or spent, is refused (400)."),
    responses(
        (status = 200, description = "The evidence verified and bound the nonce: the token.",
            body = TokenResponse),
        (status = 400, description = "Malformed request, a nonce this service did not issue, \
            that expired or was spent, evidence that does not verify or bind the nonce, an \
            unknown policy id, `policy_must_match` with a policy that did not match, RS256 \
            asked for.", body = ItaErrorBody),
        (status = 401, description = "No API key, or one not configured for this service.",
            body = ItaErrorBody,
            headers(("WWW-Authenticate" = String, description = "`ApiKey header=\"x-api-key\"`"))),
        (status = 408, description = "The body was not received within the body read \
            time-out.", body = ErrorBody),
        (status = 413, description = "The body is larger than the service accepts.",
            body = ErrorBody),
        (status = 429, description = "Too many appraisals are running and waiting: try again \
            after `Retry-After` seconds.", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds."))),
        (status = 500, description = "An internal failure (a policy file that does not parse, \
            collateral that cannot be had).", body = ItaErrorBody),
    ),
    security(("itaApiKey" = []))
)]
async fn attest(
    State(s): State<Arc<ItaState>>,
    headers: HeaderMap,
    ItaBody(body): ItaBody,
) -> Response {
    handle(s, Route::Tdx, &headers, body).await
}

/// `POST /appraisal/v2/attest/azure`.
#[utoipa::path(
    post,
    path = "/appraisal/v2/attest/azure",
    operation_id = "itaAttestAzure",
    tag = "ita",
    summary = "Appraise an Azure TDX CVM's TD quote; answer an ITA token",
    description = "An Azure TDX CVM's TD quote with the HCL report's variable data as \
        `runtime_data` and the user data as `user_data`: the quote's REPORTDATA must begin with \
        the hash of the variable data, whose `user-data` must be SHA-512(`val` ‖ `iat` ‖ \
        `user_data`) for a nonce of `GET /appraisal/v2/nonce`. Appraised, tokens and policies \
        as `POST /appraisal/v2/attest`.",
    request_body(content = ItaAttestRequest, content_type = "application/json",
        description = "ITA's composite v2 body, without `event_log`."),
    responses(
        (status = 200, description = "The evidence verified and bound the nonce: the token.",
            body = TokenResponse),
        (status = 400, description = "As `POST /appraisal/v2/attest`, and variable data that \
            the quote does not bind or whose `user-data` does not bind the nonce.",
            body = ItaErrorBody),
        (status = 401, description = "No API key, or one not configured for this service.",
            body = ItaErrorBody,
            headers(("WWW-Authenticate" = String, description = "`ApiKey header=\"x-api-key\"`"))),
        (status = 408, description = "The body was not received within the body read \
            time-out.", body = ErrorBody),
        (status = 413, description = "The body is larger than the service accepts.",
            body = ErrorBody),
        (status = 429, description = "Too many appraisals are running and waiting: try again \
            after `Retry-After` seconds.", body = ErrorBody,
            headers(("Retry-After" = String, description = "Seconds."))),
        (status = 500, description = "An internal failure.", body = ItaErrorBody),
    ),
    security(("itaApiKey" = []))
)]
async fn attest_azure(
    State(s): State<Arc<ItaState>>,
    headers: HeaderMap,
    ItaBody(body): ItaBody,
) -> Response {
    handle(s, Route::Azure, &headers, body).await
}

/// Both attestation routes: key, body, nonce, policies, a slot, the nonce
/// spent, then the appraisal off the async workers.
async fn handle(s: Arc<ItaState>, route: Route, headers: &HeaderMap, body: Bytes) -> Response {
    if let Some(r) = s.refusal(headers) {
        return r;
    }
    let prepared = (|| -> Result<_, Error> {
        tee_attest_maa::limits::check_json_depth(
            &body,
            s.service.limits.request.max_json_depth,
            "the request body",
        )?;
        let input = AttestInput::parse(&body, route)?;
        let (val, expires) = s.check_nonce(&input.nonce)?;
        let policies = s.policies(&input.policy_ids)?;
        Ok((input, val, expires, policies))
    })();
    let (input, val, expires, policies) = match prepared {
        Ok(p) => p,
        Err(e) => return error_response(&e),
    };
    let permit = match s.service.appraisals.enter().await {
        Ok(p) => p,
        Err(refusal) => return refusal,
    };
    // Spent now, once a slot is held: a client retrying after a 429 keeps
    // its nonce; two requests with one nonce cannot both pass.
    let spent = s.spent().spend(val, expires, now_secs());
    // In a fleet, spent once across every instance as well.
    let spent = match (spent, s.service.shared()) {
        (Ok(()), Some(shared)) => {
            match super::shared::spend_ita_nonce(
                shared.pg(),
                &hex::encode(val),
                expires,
                now_secs(),
            )
            .await
            {
                Ok(true) => Ok(()),
                Ok(false) => Err(SpendRefusal::Spent),
                Err(f) => {
                    s.spent().release(&val);
                    s.service.ops.metrics().store_error(Store::Nonces);
                    if let super::shared::SharedFailure::Failed(e) = &f {
                        tracing::error!("{}", e.full_message());
                    }
                    Err(SpendRefusal::StoreUnavailable)
                }
            }
        }
        (other, _) => other,
    };
    match spent {
        Ok(()) => {}
        Err(SpendRefusal::Spent) => {
            return error_response(
                &VerifierError::check(
                    "verifier_nonce.spent",
                    "the nonce was used already: get a fresh one",
                )
                .into(),
            )
        }
        Err(refusal @ (SpendRefusal::Full | SpendRefusal::StoreUnavailable)) => {
            // As every 503 of the service: its error body, `Retry-After`.
            let why = match refusal {
                SpendRefusal::StoreUnavailable => "the nonce store is unavailable: try again later",
                _ => "too many nonces are in use: try again later",
            };
            let mut r =
                ErrorBody::response(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailable", why);
            r.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(super::openapi::RETRY_AFTER_SECS),
            );
            return r;
        }
    }
    let span = tracing::Span::current();
    let state = s.clone();
    let out = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        let _span = span.enter();
        state.attest(&input, route, &policies)
    })
    .await
    .unwrap_or_else(|e| {
        Err(Error::with_source(
            ErrorCode::InitializationFailed,
            "the attestation task failed",
            e,
        ))
    });
    match out {
        Ok(token) => (
            [(header::CONTENT_TYPE, "application/json")],
            Json(TokenResponse { token }),
        )
            .into_response(),
        Err(e) => {
            // No token came of it through no fault of the request: the
            // nonce may be tried again.
            if ApiError::status_of(&e).is_server_error() {
                s.spent().release(&val);
                if let Some(shared) = s.service.shared() {
                    if let Err(f) =
                        super::shared::release_ita_nonce(shared.pg(), &hex::encode(val)).await
                    {
                        // Not fatal: the client gets a fresh nonce.
                        tracing::warn!("the nonce stays spent in the store: {f:?}");
                    }
                }
            }
            error_response(&e)
        }
    }
}

/// The components, security scheme and tag of the ITA profile's document.
#[derive(utoipa::OpenApi)]
#[openapi(
    components(schemas(ItaErrorBody, ItaNonce, ItaTdxEvidence, ItaAttestRequest, ItaTokenAlg,
        policy_id::PolicyId)),
    modifiers(&ApiKeyScheme),
    tags((name = "ita", description = "Intel Trust Authority's attestation API (v2), answered \
        by this service: nonces, TDX and Azure TDX evidence, tokens in ITA's layout (PS384)."))
)]
struct ItaDoc;

/// The `itaApiKey` security scheme: `x-api-key`.
struct ApiKeyScheme;

impl utoipa::Modify for ApiKeyScheme {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{ApiKey, ApiKeyValue, SecurityScheme};
        doc.components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "itaApiKey",
                SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                    API_KEY_HEADER,
                    "An API key configured for this service (`serve --ita-api-keys`).",
                ))),
            );
    }
}

/// The ITA profile's routes and their OpenAPI description, to merge into
/// the service's ([`Api::merge`]): `GET /appraisal/v2/nonce`,
/// `POST /appraisal/v2/attest` and `POST /appraisal/v2/attest/azure`.
///
/// The ITA signing key is loaded from (or made in) `<data-dir>/ita/` and
/// published in `state`'s `/certs` (`"alg": "PS384"`, with `x5c`); a
/// readiness check `ita-signing-key` is added. Code 1 when the verifier
/// has no `TdxVm` appraiser or the key cannot be had.
pub fn api(state: Arc<ServiceState>, profile: ItaProfile) -> Result<Api, Error> {
    if !state.verifier.evidence_types().contains(&TDX_VM) {
        return Err(Error::new(
            ErrorCode::InitializationFailed,
            "the ITA profile needs the verifier's TdxVm appraiser",
        ));
    }
    let key_dir = state.data_dir.join(KEY_DIR);
    let signer = TokenSigner::load_or_generate(&key_dir)?;
    let mut jwk = signer
        .jwks()
        .get("keys")
        .and_then(|k| k.get(0))
        .cloned()
        .ok_or_else(|| VerifierError::Setup("the ITA key has no JWK".into()))?;
    if let Some(o) = jwk.as_object_mut() {
        o.insert("alg".into(), json!("PS384"));
    }
    let component = |name: &str| -> Result<Vec<u8>, Error> {
        jwk.get(name)
            .and_then(Value::as_str)
            .and_then(|t| URL_SAFE_NO_PAD.decode(t).ok())
            .ok_or_else(|| {
                VerifierError::Setup(format!("the ITA key's JWK has no `{name}`")).into()
            })
    };
    let public = aws_lc_rs::signature::RsaPublicKeyComponents {
        n: component("n")?,
        e: component("e")?,
    };
    state.publish_signing_key(jwk);
    let cert = signer.cert_der().to_vec();
    let cert_path = key_dir.join("signing-cert.der");
    state.add_readiness_check(
        "ita-signing-key",
        Arc::new(move || match std::fs::read(&cert_path) {
            Ok(stored) if stored == cert => Ok(()),
            Ok(_) => Err(format!(
                "the ITA signing key in {} is not the one this service loaded",
                cert_path.display()
            )),
            Err(e) => Err(format!("reading {}: {e}", cert_path.display())),
        }),
    );
    let limit = state.limits.max_body_bytes;
    let max_spent = profile.max_spent_nonces;
    let ita = Arc::new(ItaState {
        policy_dir: state.data_dir.join(POLICY_DIR),
        service: state,
        signer,
        public,
        profile,
        spent: Mutex::new(Spent {
            by_val: HashMap::new(),
            max: max_spent,
        }),
        policies: Mutex::new(HashMap::new()),
    });
    Ok(Routes::new(<ItaDoc as utoipa::OpenApi>::openapi())
        .operation::<__path_nonce, _, _>(nonce)
        .operation::<__path_attest, _, _>(attest)
        .operation::<__path_attest_azure, _, _>(attest_azure)
        .body_limit(limit)
        .with_state(ita))
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(256))]

        /// Hostile bodies and times: an answer, never a panic.
        #[test]
        fn hostile_input_never_panics(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512),
            text in "\\PC{0,64}",
        ) {
            let _ = AttestInput::parse(&bytes, Route::Tdx);
            let _ = AttestInput::parse(text.as_bytes(), Route::Azure);
            let _ = parse_rfc3339(&bytes);
            let _ = parse_rfc3339(text.as_bytes());
            let _ = var_data_user_data(&bytes, 64);
            let _ = ApiKeys::parse(&text);
        }
    }

    #[test]
    fn rfc3339_round_trips() {
        for t in [
            0,
            951_782_400, // 2000-02-29
            1_760_000_000,
            4_102_444_799,
            1_709_164_800, // 2024-02-29
        ] {
            let text = rfc3339(t);
            assert_eq!(parse_rfc3339(text.as_bytes()), Some(t), "{text}");
        }
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(1_760_000_000), "2025-10-09T08:53:20Z");
        for bad in [
            "2025-02-30T00:00:00Z",
            "2025-13-01T00:00:00Z",
            "2025-10-09T24:00:00Z",
            "2025-10-09 08:53:20Z",
            "2025-10-09T08:53:20",
            "2025-10-09T08:53:20+00:00",
            "+025-10-09T08:53:20Z",
            "",
        ] {
            assert_eq!(parse_rfc3339(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn api_keys_are_checked_against_every_digest() {
        let k = ApiKeys::parse("# keys\n\n  key-one-0123456789  \nkey-two-0123456789\n").unwrap();
        assert_eq!(k.len(), 2);
        assert!(k.admits(b"key-one-0123456789"));
        assert!(k.admits(b"key-two-0123456789"));
        assert!(!k.admits(b"key-one-012345678"));
        assert!(!k.admits(b""));
        assert_eq!(format!("{k:?}"), "ApiKeys(2 keys)");
        assert!(ApiKeys::parse("\n# none\n").is_err());
        let e = ApiKeys::parse("short").unwrap_err();
        assert!(!e.message().contains("short"), "{e}");
        assert!(ApiKeys::parse("has a space in it 0123").is_err());
    }

    #[test]
    fn spent_nonces_are_refused_and_pruned() {
        let mut s = Spent {
            by_val: HashMap::new(),
            max: 2,
        };
        assert!(s.spend([1; 32], 100, 0).is_ok());
        assert!(matches!(s.spend([1; 32], 100, 0), Err(SpendRefusal::Spent)));
        assert!(s.spend([2; 32], 50, 0).is_ok());
        assert!(matches!(s.spend([3; 32], 100, 10), Err(SpendRefusal::Full)));
        // Once [2] expired, there is room again.
        assert!(s.spend([3; 32], 100, 60).is_ok());
        s.release(&[3; 32]);
        assert!(s.spend([3; 32], 100, 60).is_ok());
    }

    #[test]
    fn bodies_composite_and_flat() {
        let n = json!({"val": STANDARD.encode([7u8; 32]), "iat": STANDARD.encode("2025-10-09T08:53:20Z"), "signature": "c2ln"});
        let composite = json!({"tdx": {"quote": "AQID", "runtime_data": "cnQ=", "verifier_nonce": n},
            "policy_ids": ["C7C49DD2-A96A-43BD-8CEE-F2AA99503458"], "policy_must_match": true});
        let i = AttestInput::parse(composite.to_string().as_bytes(), Route::Tdx).unwrap();
        assert_eq!(i.quote, [1, 2, 3]);
        assert_eq!(i.runtime_data, b"rt");
        assert_eq!(i.policy_ids, ["c7c49dd2-a96a-43bd-8cee-f2aa99503458"]);
        assert!(i.must_match);
        let flat = json!({"quote": "AQID", "runtime_data": "cnQ=", "verifier_nonce": n});
        assert!(AttestInput::parse(flat.to_string().as_bytes(), Route::Tdx).is_ok());
        let code = |b: &Value, r: Route| {
            AttestInput::parse(b.to_string().as_bytes(), r)
                .err()
                .map(|e| e.code().number())
        };
        assert_eq!(
            code(&json!({"tdx": {"quote": "AQID"}}), Route::Tdx),
            Some(8)
        );
        assert_eq!(
            code(
                &json!({"tdx": {"quote": "", "verifier_nonce": n}}),
                Route::Tdx
            ),
            Some(8)
        );
        assert_eq!(
            code(
                &json!({"tdx": {"quote": "!!", "verifier_nonce": n}}),
                Route::Tdx
            ),
            Some(8)
        );
        assert_eq!(code(&json!([1]), Route::Tdx), Some(16));
        assert_eq!(
            code(
                &json!({"tdx": {"quote": "AQID", "verifier_nonce": n}, "token_signing_alg": "RS256"}),
                Route::Tdx
            ),
            Some(8)
        );
        assert_eq!(
            code(
                &json!({"tdx": {"quote": "AQID", "verifier_nonce": n}, "policy_ids": ["x"]}),
                Route::Tdx
            ),
            Some(8)
        );
        assert_eq!(
            code(
                &json!({"tdx": {"quote": "AQID", "verifier_nonce": n, "event_log": "AQ==", "runtime_data": "e30="}}),
                Route::Azure
            ),
            Some(8)
        );
        assert_eq!(
            code(
                &json!({"tdx": {"quote": "AQID", "verifier_nonce": n}}),
                Route::Azure
            ),
            Some(8)
        );
        assert_eq!(
            code(
                &json!({"tdx": {"quote": "AQID", "verifier_nonce": n, "runtime_data": "YQ==", "user_data": "Yg=="}}),
                Route::Tdx
            ),
            Some(8)
        );
        assert_eq!(
            AttestInput::parse(b"  ", Route::Tdx)
                .err()
                .map(|e| e.code().number()),
            Some(19)
        );
        let many: Vec<String> = (0..11)
            .map(|i| format!("00000000-0000-0000-0000-0000000000{i:02}"))
            .collect();
        assert_eq!(
            code(
                &json!({"tdx": {"quote": "AQID", "verifier_nonce": n}, "policy_ids": many}),
                Route::Tdx
            ),
            Some(8)
        );
    }
}
