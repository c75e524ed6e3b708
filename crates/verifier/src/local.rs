//! [`LocalVerifier`]: appraisal, policy, token — in process, offline.

use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde_json::{json, Map, Value};
use tee_attest_core::{AttestationToken, Error, Evidence, Result, Verifier, VerifyOptions};
use tee_attest_policy::{ClaimSet, Issuer, Policy};
use tee_attest_snp::{SnpOptions, SnpVerifier, TrustAnchors};

use crate::appraise::appraise_azure_snp;
use crate::signer::TokenSigner;
use crate::VerifierError;

/// MAA's default AzureGuest policy: permit everything that verifies.
pub const DEFAULT_POLICY: &str =
    "version=1.0;\nauthorizationrules\n{\n    => permit();\n};\nissuancerules\n{\n};\n";
/// Default token validity (MAA: 8 hours).
pub const DEFAULT_VALIDITY_MINUTES: u64 = 8 * 60;
/// The longest validity a policy may ask for (one year).
pub const MAX_VALIDITY_MINUTES: u64 = 365 * 24 * 60;

/// How a [`LocalVerifier`] is set up.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct LocalVerifierConfig {
    /// The issuer (`iss`), e.g. `https://127.0.0.1:8443`; tokens' `jku` is `{issuer}/certs`.
    pub issuer: String,
    /// Extra SEV-SNP roots (ARK, DER) to trust besides AMD's: the mock roots,
    /// only when asked explicitly. Tokens from evidence that chains to one
    /// carry `x-tee-attest-mock-evidence: true` and never a compliance status.
    pub extra_snp_roots: Vec<Vec<u8>>,
    /// The attestation policy text (MAA language); `None` for [`DEFAULT_POLICY`].
    pub policy: Option<String>,
    /// SEV-SNP verification options (time, CRLs, expectations).
    pub snp: SnpOptions,
}

impl LocalVerifierConfig {
    /// A configuration with `issuer`, AMD roots only, the default policy.
    pub fn new(issuer: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            extra_snp_roots: Vec::new(),
            policy: None,
            snp: SnpOptions::default(),
        }
    }
}

struct ActivePolicy {
    policy: Policy,
}

/// Appraises evidence and issues MAA-compatible tokens, offline.
pub struct LocalVerifier {
    issuer: String,
    snp: SnpVerifier,
    snp_opts: SnpOptions,
    policy: RwLock<Arc<ActivePolicy>>,
    signer: TokenSigner,
}

impl std::fmt::Debug for LocalVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalVerifier")
            .field("issuer", &self.issuer)
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
        let mut anchors = TrustAnchors::amd();
        for root in &config.extra_snp_roots {
            anchors.add_extra_root(root)?;
        }
        let policy = Policy::parse(config.policy.as_deref().unwrap_or(DEFAULT_POLICY))?;
        Ok(Self {
            issuer: config.issuer.trim_end_matches('/').to_string(),
            snp: SnpVerifier::new(anchors),
            snp_opts: config.snp,
            policy: RwLock::new(Arc::new(ActivePolicy { policy })),
            signer,
        })
    }

    /// The issuer.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The signing key.
    pub fn signer(&self) -> &TokenSigner {
        &self.signer
    }

    /// The JWKS that validates its tokens.
    pub fn jwks(&self) -> Value {
        self.signer.jwks()
    }

    /// Replace the attestation policy (code 9 if it does not parse).
    pub fn set_policy(&self, text: &str) -> Result<()> {
        let policy = Policy::parse(text)?;
        if let Ok(mut p) = self.policy.write() {
            *p = Arc::new(ActivePolicy { policy });
        }
        Ok(())
    }

    /// The policy in force, as canonical text.
    pub fn policy_text(&self) -> String {
        self.current_policy().policy.to_string()
    }

    fn current_policy(&self) -> Arc<ActivePolicy> {
        match self.policy.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Appraise `evidence`, evaluate the policy (or `options.draft_policy`)
    /// and return the signed token.
    pub fn attest(&self, evidence: &Evidence, options: &VerifyOptions) -> Result<String> {
        self.attest_with_claims(evidence, options, Map::new())
    }

    /// [`LocalVerifier::attest`] with claims the request itself states
    /// (the AzureGuest OS fields: `x-ms-azurevm-ostype`, …), which the
    /// policy sees and the token carries next to the appraised ones.
    pub fn attest_with_claims(
        &self,
        evidence: &Evidence,
        options: &VerifyOptions,
        stated: Map<String, Value>,
    ) -> Result<String> {
        let mut appraisal = appraise_azure_snp(
            &self.snp,
            &self.snp_opts,
            evidence,
            options.nonce.as_deref(),
        )?;
        for (k, v) in stated {
            appraisal.claims.entry(k).or_insert(v);
        }
        let draft;
        let active = self.current_policy();
        let policy = match &options.draft_policy {
            Some(text) => {
                draft = Policy::parse(text)?;
                &draft
            }
            None => &active.policy,
        };
        let incoming = ClaimSet::from_json_object(
            &Value::Object(appraisal.claims.clone()),
            Issuer::AttestationService,
        )?;
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
            .unwrap_or(DEFAULT_VALIDITY_MINUTES);
        let omit_x5c = outcome.properties.omit_x5c.unwrap_or(false);

        let mut claims: Map<String, Value> = appraisal.claims;
        for (k, v) in outcome.outgoing_json() {
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
            ("exp", json!(iat + validity * 60)),
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
        self.signer
            .sign(
                &Value::Object(claims),
                &format!("{}/certs", self.issuer),
                omit_x5c,
            )
            .map_err(Error::from)
    }
}

#[async_trait]
impl Verifier for LocalVerifier {
    fn name(&self) -> &str {
        "local"
    }

    async fn verify(
        &self,
        evidence: &Evidence,
        options: &VerifyOptions,
    ) -> Result<AttestationToken> {
        AttestationToken::parse(&self.attest(evidence, options)?)
    }
}
