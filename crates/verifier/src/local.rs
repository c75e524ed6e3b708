//! [`LocalVerifier`]: appraisal, policy, token — in process, offline.
//!
//! The verifier holds no TEE-specific code: it is given appraisers
//! ([`tee_attest_core::Appraiser`], one per evidence type, each from its
//! TEE's crate with its own trust anchors), keeps one policy per
//! attestation type, and signs what the policy permits.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{json, Map, Value};
use tee_attest_core::{
    Appraiser, AttestationToken, CacheCounters, Challenge, Error, ErrorCode, Evidence,
    EvidenceType, Result, Verifier, VerifyOptions,
};
use tee_attest_policy::{ClaimSet, Issuer, Policy};

use crate::signer::TokenSigner;
use crate::VerifierError;

/// MAA's default policy: permit everything that verifies.
pub const DEFAULT_POLICY: &str =
    "version=1.0;\nauthorizationrules\n{\n    => permit();\n};\nissuancerules\n{\n};\n";
/// Claims only the verifier itself issues: a policy's issuance rules cannot
/// produce them (the standard claims — `iss`, `exp`, `x-ms-policy-hash`, … —
/// are always overwritten by the verifier; these two are the ones whose
/// absence means something).
pub const RESERVED_CLAIMS: &[&str] = &[
    "x-ms-compliance-status",
    tee_attest_core::MOCK_EVIDENCE_CLAIM,
];
/// Default token validity (MAA: 8 hours).
pub const DEFAULT_VALIDITY_MINUTES: u64 = 8 * 60;
/// The longest validity a policy may ask for (one year).
pub const MAX_VALIDITY_MINUTES: u64 = 365 * 24 * 60;

/// How a [`LocalVerifier`] is set up.
#[derive(Clone)]
#[non_exhaustive]
pub struct LocalVerifierConfig {
    /// The issuer (`iss`), e.g. `https://127.0.0.1:8443`; tokens' `jku` is `{issuer}/certs`.
    pub issuer: String,
    /// The attestation policy text (MAA language) for every attestation
    /// type; `None` for [`DEFAULT_POLICY`].
    pub policy: Option<String>,
    /// The appraisers, one per evidence type (a later one for the same type
    /// replaces an earlier one).
    pub appraisers: Vec<Arc<dyn Appraiser>>,
}

impl std::fmt::Debug for LocalVerifierConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalVerifierConfig")
            .field("issuer", &self.issuer)
            .field(
                "appraisers",
                &self
                    .appraisers
                    .iter()
                    .map(|a| a.evidence_type().to_string())
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl LocalVerifierConfig {
    /// A configuration with `issuer`, no appraiser, the default policy.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            policy: None,
            appraisers: Vec::new(),
        }
    }

    /// Adds an appraiser.
    #[must_use]
    pub fn with_appraiser(mut self, appraiser: Arc<dyn Appraiser>) -> Self {
        self.appraisers.push(appraiser);
        self
    }
}

/// Appraises evidence and issues MAA-compatible tokens, offline.
pub struct LocalVerifier {
    issuer: String,
    appraisers: HashMap<EvidenceType, Arc<dyn Appraiser>>,
    /// One policy per attestation type, as in MAA.
    policies: RwLock<HashMap<&'static str, Arc<Policy>>>,
    keys: Arc<crate::KeySet>,
}

impl std::fmt::Debug for LocalVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalVerifier")
            .field("issuer", &self.issuer)
            .field("attestation_types", &self.attestation_types())
            .finish_non_exhaustive()
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl LocalVerifier {
    /// A verifier signing with `signer`.
    pub fn new(config: LocalVerifierConfig, signer: TokenSigner) -> Result<Self> {
        Self::with_key_set(config, Arc::new(crate::KeySet::fixed(signer)))
    }

    /// A verifier signing with the current key of `keys` (read on every
    /// token, so a rotation takes effect at once), its tokens valid at most
    /// [`KeySet::max_validity_secs`](crate::KeySet::max_validity_secs).
    pub fn with_key_set(config: LocalVerifierConfig, keys: Arc<crate::KeySet>) -> Result<Self> {
        let policy = Arc::new(Policy::parse(
            config.policy.as_deref().unwrap_or(DEFAULT_POLICY),
        )?);
        let appraisers: HashMap<EvidenceType, Arc<dyn Appraiser>> = config
            .appraisers
            .into_iter()
            .map(|a| (a.evidence_type(), a))
            .collect();
        let policies = appraisers
            .keys()
            .map(|t| (t.attestation_type(), policy.clone()))
            .collect();
        Ok(Self {
            issuer: config.issuer.trim_end_matches('/').to_string(),
            appraisers,
            policies: RwLock::new(policies),
            keys,
        })
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The signing key.
    pub fn signer(&self) -> Arc<TokenSigner> {
        self.keys.current()
    }

    /// The live key set (current, next, previous keys).
    pub fn key_set(&self) -> &Arc<crate::KeySet> {
        &self.keys
    }

    /// The JWKS that validates its tokens.
    pub fn jwks(&self) -> Value {
        self.keys.jwks()
    }

    /// The attestation types it appraises (each with its policy), sorted.
    pub fn attestation_types(&self) -> Vec<&'static str> {
        let mut t: Vec<_> = self
            .appraisers
            .keys()
            .map(EvidenceType::attestation_type)
            .collect();
        t.sort_unstable();
        t.dedup();
        t
    }

    /// The caches its appraisers consult, by name, each once (appraisers
    /// sharing a cache share its counters), sorted by name.
    pub fn cache_counters(&self) -> Vec<(&'static str, Arc<CacheCounters>)> {
        let mut out: Vec<(&'static str, Arc<CacheCounters>)> = Vec::new();
        for appraiser in self.appraisers.values() {
            for (name, counters) in appraiser.caches() {
                if !out.iter().any(|(_, c)| Arc::ptr_eq(c, &counters)) {
                    out.push((name, counters));
                }
            }
        }
        out.sort_by_key(|(name, _)| *name);
        out
    }

    /// The evidence types it appraises, sorted.
    pub fn evidence_types(&self) -> Vec<EvidenceType> {
        let mut t: Vec<_> = self.appraisers.keys().copied().collect();
        t.sort_unstable();
        t
    }

    /// The attestation type named `name` (any case), if it appraises it.
    pub fn attestation_type(&self, name: &str) -> Option<&'static str> {
        self.attestation_types()
            .into_iter()
            .find(|t| t.eq_ignore_ascii_case(name))
    }

    fn known_type(&self, name: &str) -> Result<&'static str> {
        self.attestation_type(name).ok_or_else(|| {
            Error::new(
                ErrorCode::InvalidInputParameter,
                format!(
                    "unsupported attestation type {:?}: this verifier appraises {}",
                    name.chars().take(64).collect::<String>(),
                    self.attestation_types().join(", ")
                ),
            )
        })
    }

    /// Replace the policy of every attestation type (code 9 if it does not parse).
    pub fn set_policy(&self, text: &str) -> Result<()> {
        let policy = Arc::new(Policy::parse(text)?);
        let mut map = self.policies.write().unwrap_or_else(|p| p.into_inner());
        for p in map.values_mut() {
            *p = policy.clone();
        }
        Ok(())
    }

    /// Replace the policy of an attestation type (code 9 if it does not
    /// parse, 8 for a type it does not appraise).
    pub fn set_policy_for(&self, attestation_type: &str, text: &str) -> Result<()> {
        let kind = self.known_type(attestation_type)?;
        let policy = Arc::new(Policy::parse(text)?);
        let mut map = self.policies.write().unwrap_or_else(|p| p.into_inner());
        map.insert(kind, policy);
        Ok(())
    }

    /// The policy of an attestation type, as canonical text.
    pub fn policy_text_for(&self, attestation_type: &str) -> String {
        self.policy_for(attestation_type)
            .map(|p| p.to_string())
            .unwrap_or_default()
    }

    /// The hash of the policy in force for an attestation type
    /// (`x-ms-policy-hash`).
    pub fn policy_hash_for(&self, attestation_type: &str) -> Option<String> {
        self.policy_for(attestation_type)
            .map(|p| p.hash().to_string())
    }

    fn policy_for(&self, attestation_type: &str) -> Option<Arc<Policy>> {
        let map = self.policies.read().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(attestation_type))
            .map(|(_, p)| p.clone())
    }

    /// Appraise `evidence` with the appraiser of its evidence type,
    /// evaluate the type's policy (or `options.draft_policy`) and return the
    /// token.
    pub fn attest(&self, evidence: &Evidence, options: &VerifyOptions) -> Result<AttestationToken> {
        self.attest_with_claims(evidence, options, Map::new())
    }

    /// [`LocalVerifier::attest`] with claims the request itself states
    /// (the AzureGuest OS fields: `x-ms-azurevm-ostype`, …), which the
    /// policy sees and the token carries next to the appraised ones (never
    /// replacing one).
    pub fn attest_with_claims(
        &self,
        evidence: &Evidence,
        options: &VerifyOptions,
        stated: Map<String, Value>,
    ) -> Result<AttestationToken> {
        let mut appraisal = self.appraise(evidence, options.nonce.as_deref())?;
        for (k, v) in stated {
            appraisal.claims.entry(k).or_insert(v);
        }
        self.issue(
            evidence.evidence_type.attestation_type(),
            appraisal.claims,
            options.draft_policy.as_deref(),
        )
    }

    /// Appraise `evidence` with the appraiser of its evidence type, and
    /// nothing more: no policy, no token. With `expected_nonce`, the
    /// evidence must bind that nonce (as [`Appraiser::appraise`] says).
    /// Code 8 for an evidence type this verifier has no appraiser for; the
    /// appraiser's codes otherwise (6 for a failed check). Other token
    /// profiles (the service's ITA profile) build on it.
    pub fn appraise(
        &self,
        evidence: &Evidence,
        expected_nonce: Option<&[u8]>,
    ) -> Result<tee_attest_core::Appraisal> {
        let appraiser = self
            .appraisers
            .get(&evidence.evidence_type)
            .ok_or_else(|| {
                VerifierError::Unsupported(format!(
                    "{} evidence: this verifier appraises {}",
                    evidence.evidence_type,
                    self.evidence_types()
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })?;
        appraiser.appraise(evidence, expected_nonce)
    }

    /// Evaluate the type's policy (or a draft) on appraised claims and sign
    /// the token: policy-issued claims, the standard and deprecated claims,
    /// validity from `report_validity_in_minutes`, `x5c` or `x5t`.
    ///
    /// A draft policy's result is never signed: it comes back as an
    /// unsecured JWT (`alg: none`, no `kid`, `jku` or `x5c`), as MAA returns
    /// it, so that no relying party can accept it. Claims the policy issues
    /// never replace an appraised claim nor take a name the verifier
    /// reserves ([`RESERVED_CLAIMS`]).
    fn issue(
        &self,
        attestation_type: &str,
        appraised: Map<String, Value>,
        draft_policy: Option<&str>,
    ) -> Result<AttestationToken> {
        let policy = match draft_policy {
            Some(text) => Arc::new(Policy::parse(text)?),
            None => self
                .policy_for(attestation_type)
                .ok_or_else(|| VerifierError::Setup(format!("no {attestation_type} policy")))?,
        };
        let incoming = ClaimSet::from_json_map(&appraised, Issuer::AttestationService)?;
        let outcome = policy.evaluate(&incoming)?;
        if !outcome.authorized {
            let rule = outcome
                .decided_by
                .map(|r| format!(" (rule {r:?})"))
                .unwrap_or_else(|| " (no rule permitted)".into());
            return Err(VerifierError::check(
                "policy.authorization",
                format!("the attestation policy refused the evidence{rule}"),
            )
            .into());
        }
        let validity = outcome
            .properties
            .report_validity_in_minutes
            .map(|m| u64::from(m).min(MAX_VALIDITY_MINUTES))
            .unwrap_or(DEFAULT_VALIDITY_MINUTES)
            .saturating_mul(60)
            .min(self.keys.max_validity_secs());
        let omit_x5c = outcome.properties.omit_x5c.unwrap_or(false);

        let mut claims: Map<String, Value> = appraised;
        for (k, v) in outcome.outgoing_json() {
            if RESERVED_CLAIMS.contains(&k.as_str()) {
                tracing::debug!(claim = %k, "a policy-issued claim with a reserved name is dropped");
                continue;
            }
            claims.entry(k).or_insert(v);
        }
        let iat = now();
        let hash = policy.hash().to_string();
        let mut jti = [0u8; 32];
        aws_lc_rs::rand::fill(&mut jti)
            .map_err(|_| VerifierError::Setup("no randomness for jti".into()))?;
        let attestation_type = claims
            .get("x-ms-attestation-type")
            .cloned()
            .unwrap_or(json!("azurevm"));
        for (k, v) in [
            ("iss", json!(self.issuer)),
            ("iat", json!(iat)),
            ("nbf", json!(iat)),
            ("exp", json!(iat + validity)),
            ("jti", json!(hex::encode(jti))),
            ("x-ms-ver", json!("1.0")),
            ("x-ms-policy-hash", json!(hash)),
            // Deprecated aliases MAA still emits.
            ("ver", json!("1.0")),
            ("tee", attestation_type),
            ("policy_hash", json!(hash)),
            ("maa-policyHash", json!(hash)),
        ] {
            claims.insert(k.into(), v);
        }
        let claims = Value::Object(claims);
        if draft_policy.is_some() {
            return Ok(crate::signer::unsecured_jwt(&claims));
        }
        self.keys
            .current()
            .sign_token(&claims, &format!("{}/certs", self.issuer), omit_x5c)
            .map_err(Error::from)
    }
}

#[async_trait]
impl Verifier for LocalVerifier {
    fn name(&self) -> &str {
        "local"
    }

    /// MAA's bindings (the local verifier issues MAA-compatible tokens):
    /// see [`tee_attest_maa::challenge`].
    async fn challenge(
        &self,
        evidence_type: EvidenceType,
        nonce: &[u8],
        client_payload: &BTreeMap<String, String>,
    ) -> Result<Challenge> {
        Ok(tee_attest_maa::challenge(
            evidence_type,
            nonce,
            client_payload,
        )?)
    }

    async fn verify(
        &self,
        evidence: &Evidence,
        options: &VerifyOptions,
    ) -> Result<AttestationToken> {
        self.attest(evidence, options)
    }
}
