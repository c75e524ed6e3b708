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

/// The attestation types this verifier appraises; each has its own policy,
/// as in MAA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AttestationType {
    /// Azure CVM guest attestation (HCL report, vTPM quote, ephemeral key).
    AzureGuest,
    /// A bare SEV-SNP report with its runtime data (MAA's `SevSnpVm`).
    SevSnpVm,
}

impl AttestationType {
    /// Every type.
    pub const ALL: &'static [AttestationType] =
        &[AttestationType::AzureGuest, AttestationType::SevSnpVm];

    /// The name MAA's REST API uses (`AzureGuest`, `SevSnpVm`).
    pub const fn as_str(self) -> &'static str {
        match self {
            AttestationType::AzureGuest => "AzureGuest",
            AttestationType::SevSnpVm => "SevSnpVm",
        }
    }

    /// The type with that REST name.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == name)
    }
}

/// Appraises evidence and issues MAA-compatible tokens, offline.
pub struct LocalVerifier {
    issuer: String,
    snp: SnpVerifier,
    snp_opts: SnpOptions,
    policies: RwLock<std::collections::HashMap<AttestationType, Arc<Policy>>>,
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
        let policy = Arc::new(Policy::parse(
            config.policy.as_deref().unwrap_or(DEFAULT_POLICY),
        )?);
        let default = Arc::new(Policy::parse(DEFAULT_POLICY)?);
        let policies = [
            (AttestationType::AzureGuest, policy),
            (AttestationType::SevSnpVm, default),
        ]
        .into_iter()
        .collect();
        Ok(Self {
            issuer: config.issuer.trim_end_matches('/').to_string(),
            snp: SnpVerifier::new(anchors),
            snp_opts: config.snp,
            policies: RwLock::new(policies),
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

    /// Replace the AzureGuest attestation policy (code 9 if it does not parse).
    pub fn set_policy(&self, text: &str) -> Result<()> {
        self.set_policy_for(AttestationType::AzureGuest, text)
    }

    /// Replace the policy of an attestation type (code 9 if it does not parse).
    pub fn set_policy_for(&self, kind: AttestationType, text: &str) -> Result<()> {
        let policy = Arc::new(Policy::parse(text)?);
        let mut map = match self.policies.write() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.insert(kind, policy);
        Ok(())
    }

    /// The AzureGuest policy in force, as canonical text.
    pub fn policy_text(&self) -> String {
        self.policy_text_for(AttestationType::AzureGuest)
    }

    /// The policy of an attestation type, as canonical text.
    pub fn policy_text_for(&self, kind: AttestationType) -> String {
        self.policy_for(kind)
            .map(|p| p.to_string())
            .unwrap_or_default()
    }

    /// The hash of the policy in force for an attestation type
    /// (`x-ms-policy-hash`).
    pub fn policy_hash_for(&self, kind: AttestationType) -> Option<String> {
        self.policy_for(kind).map(|p| p.hash().to_string())
    }

    fn policy_for(&self, kind: AttestationType) -> Option<Arc<Policy>> {
        let map = match self.policies.read() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.get(&kind).cloned()
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
        self.issue(
            AttestationType::AzureGuest,
            appraisal.claims,
            options.draft_policy.as_deref(),
        )
    }

    /// Appraise a bare SEV-SNP report (MAA's `SevSnpVm`): the report and
    /// its chain (`certs`: DER, VCEK first; ASK/ARK from the trust anchors
    /// when missing), and — when runtime data is given — that report_data
    /// begins with its SHA-256 (`runtime-data.binding`). JSON runtime data
    /// becomes `x-ms-runtime`; `nonce` is returned untransformed.
    pub fn attest_sev_snp_vm(
        &self,
        report: &[u8],
        certs: &[Vec<u8>],
        runtime_data: Option<(&[u8], bool)>,
        nonce: Option<&str>,
        draft_policy: Option<&str>,
    ) -> Result<String> {
        let verified = self.snp.verify(report, certs, &self.snp_opts)?;
        let mut claims = Map::new();
        claims.insert("x-ms-attestation-type".into(), json!("sevsnpvm"));
        claims.extend(verified.maa_claims());
        if let Some((data, is_json)) = runtime_data {
            let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
            if verified.report.report_data.get(..32) != Some(hash.as_ref()) {
                return Err(VerifierError::check(
                    "runtime-data.binding",
                    "report_data does not begin with the SHA-256 of the runtime data",
                )
                .into());
            }
            if is_json {
                let v: Value = serde_json::from_slice(data).map_err(|e| {
                    VerifierError::check(
                        "runtime-data.json",
                        format!("runtime data of type JSON is not JSON: {e}"),
                    )
                })?;
                claims.insert("x-ms-runtime".into(), v);
            }
        }
        if let Some(n) = nonce {
            // MAA echoes this nonce without binding it to the evidence, so a
            // replayed report would come back with any nonce its sender
            // chose. Here it is echoed only when the evidence binds it: the
            // runtime data (whose SHA-256 the report carries) must be JSON
            // with a member `nonce` (any case) equal to it.
            let bound =
                runtime_data.is_some_and(|(data, is_json)| is_json && json_nonce_matches(data, n));
            if !bound {
                return Err(VerifierError::check(
                    "nonce.binding",
                    "the request's nonce is not bound by the evidence: put it in the runtime data \
                     (JSON, member `nonce`), whose SHA-256 the report carries",
                )
                .into());
            }
            claims.insert("nonce".into(), json!(n));
        }
        if verified.root != tee_attest_snp::RootOrigin::Amd {
            claims.insert(tee_attest_core::MOCK_EVIDENCE_CLAIM.into(), json!(true));
        }
        self.issue(AttestationType::SevSnpVm, claims, draft_policy)
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
        kind: AttestationType,
        claims: Map<String, Value>,
        draft_policy: Option<&str>,
    ) -> Result<String> {
        let policy = match draft_policy {
            Some(text) => Arc::new(Policy::parse(text)?),
            None => self
                .policy_for(kind)
                .ok_or_else(|| VerifierError::Setup(format!("no {} policy", kind.as_str())))?,
        };
        let appraised = claims;
        let incoming = ClaimSet::from_json_object(
            &Value::Object(appraised.clone()),
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
        if draft_policy.is_some() {
            return Ok(crate::signer::unsecured_jwt(&Value::Object(claims)));
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

/// Whether JSON `data` is an object with a member named `nonce` (any case)
/// whose string value is `nonce`.
fn json_nonce_matches(data: &[u8], nonce: &str) -> bool {
    serde_json::from_slice::<Map<String, Value>>(data).is_ok_and(|m| {
        m.iter()
            .any(|(k, v)| k.eq_ignore_ascii_case("nonce") && v.as_str() == Some(nonce))
    })
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
