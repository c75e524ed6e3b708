//! The verifier's side of a TEE: an [`Appraiser`] checks one evidence type
//! and says what it establishes, as claims shaped the way MAA issues them.
//! A local verifier holds a list of appraisers keyed by [`EvidenceType`];
//! each TEE crate provides its own, with its own trust anchors.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

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

    /// The caches this appraiser consults (collateral, validated
    /// certificate chains), each by a short name, for a service's metrics.
    /// Appraisers that share a cache return the same counters (the same
    /// `Arc`). None by default.
    fn caches(&self) -> Vec<(&'static str, Arc<CacheCounters>)> {
        Vec::new()
    }
}

/// How often a cache had what was asked (a hit) and how often it had to be
/// filled from elsewhere (a miss). Counting costs one relaxed atomic
/// increment.
#[derive(Debug, Default)]
pub struct CacheCounters {
    hits: AtomicU64,
    misses: AtomicU64,
}

impl CacheCounters {
    /// New counters at zero, to share.
    pub fn shared() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Count a hit.
    pub fn hit(&self) {
        self.hits.fetch_add(1, Ordering::Relaxed);
    }

    /// Count a miss.
    pub fn miss(&self) {
        self.misses.fetch_add(1, Ordering::Relaxed);
    }

    /// The hits so far.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// The misses so far.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }
}
