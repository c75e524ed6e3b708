//! The verifier's side of a TEE: an [`Appraiser`] checks one evidence type
//! and says what it establishes, as claims shaped the way MAA issues them.
//! A local verifier holds a list of appraisers keyed by [`EvidenceType`];
//! each TEE crate provides its own, with its own trust anchors.

use serde_json::{Map, Value};

use crate::{Evidence, EvidenceType, Result};

/// What an appraisal establishes: the claims for the token (before policy
/// and the standard JWT claims).
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct Appraisal {
    /// The claims, named, nested and typed as MAA issues them for this
    /// evidence type. Evidence that chained to a mock root carries
    /// [`crate::MOCK_EVIDENCE_CLAIM`] and never a compliance status.
    pub claims: Map<String, Value>,
    /// Whether the evidence chained to a mock (explicitly trusted) root.
    pub mock: bool,
}

impl Appraisal {
    /// An appraisal with these claims.
    pub fn new(claims: Map<String, Value>, mock: bool) -> Self {
        Self { claims, mock }
    }
}

/// Appraises one evidence type.
///
/// An implementation guarantees: every check it makes is named in the
/// error that refuses (code 6, e.g. `quote.nonce`); it returns claims only
/// when every check passed; it trusts only the roots it was configured
/// with, and marks evidence from a mock root as such; it never panics on
/// hostile input.
pub trait Appraiser: Send + Sync {
    /// The evidence type it appraises.
    fn evidence_type(&self) -> EvidenceType;

    /// Appraise `evidence`. With `expected_nonce`, the evidence must bind
    /// that nonce.
    fn appraise(&self, evidence: &Evidence, expected_nonce: Option<&[u8]>) -> Result<Appraisal>;
}
