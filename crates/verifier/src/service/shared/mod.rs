//! The verifier's state in a fleet's PostgreSQL store (`serve --store
//! postgres://…`): the policies with their history (here), the admin audit
//! ([`audit`]), the signing keys sealed under the KEK ([`keys`]) and the
//! ITA profile's spent nonces ([`nonces`]), in the tables of migrations
//! `0003_verifier.sql` and `0004_verifier_audit.sql` (crate
//! `tee-attest-store`).
//!
//! Reads on the attest path never go to the database: each instance keeps
//! the policies in memory and polls their versions every
//! [`POLL_INTERVAL`] (one small query: `kind, version`; a changed
//! document is fetched once), so that a policy set at one instance is in
//! force at every other within about a second. A poll that fails keeps the
//! cached policies (attestation goes on) and counts a store error; writes
//! while the database is away are answered 503 with `Retry-After`.
//!
//! A policy write is one transaction: the current document and its history
//! row (who, when, the hashes) are written together, with the version
//! taken under the row's lock, so concurrent writers at different
//! instances get distinct versions and the history never disagrees with
//! the policy.

mod audit;
mod keys;
mod nonces;

pub use audit::list_audit;
pub(crate) use audit::record_audit;
pub use keys::{sync_signing_key, Open, Seal, SigningKeySlot};
pub(crate) use nonces::{release_ita_nonce, spend_ita_nonce};

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tee_attest_core::{Error, ErrorCode};
use tee_attest_store::{Pg, StoreError};

use super::metrics::Store;
use super::ServiceState;

/// How often each instance asks the database whether a policy changed.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Why a shared write did not happen.
#[derive(Debug)]
pub(crate) enum SharedFailure {
    /// The database cannot be reached now: 503, retry.
    Unavailable(String),
    /// Anything else (a constraint, a corrupt row).
    Failed(Error),
}

impl SharedFailure {
    pub(crate) fn of(what: &str, e: impl Into<StoreError>) -> Self {
        let e: StoreError = e.into();
        if e.is_unavailable() {
            SharedFailure::Unavailable(format!("{what}: the store is unavailable; retry later"))
        } else {
            SharedFailure::Failed(Error::with_source(e.code(), what.to_string(), e))
        }
    }

    pub(crate) fn into_error(self) -> Error {
        match self {
            SharedFailure::Unavailable(m) => Error::new(ErrorCode::InitializationFailed, m),
            SharedFailure::Failed(e) => e,
        }
    }
}

/// A policy as the store holds it: its version and its document (`None`:
/// reset to the default).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Cached {
    version: i64,
    doc: Option<String>,
}

/// What a policy write records in its history row.
#[derive(Debug, Clone, Copy)]
pub(crate) struct PolicyChange<'a> {
    /// Who wrote it (the audit's actor).
    pub actor: &'a str,
    /// `policy.set`, `policy.reset`.
    pub action: &'a str,
    /// The policy hash before and after.
    pub old_hash: Option<&'a str>,
    /// The hash of the policy written (empty for a reset).
    pub new_hash: Option<&'a str>,
}

/// The verifier's view of the shared store: the database and the
/// policies as last seen.
#[derive(Debug)]
pub(crate) struct SharedPolicies {
    pg: Pg,
    cache: Mutex<HashMap<&'static str, Cached>>,
}

impl SharedPolicies {
    /// Load every policy of `kinds` from the store (the start refuses a
    /// store it cannot read).
    pub(crate) async fn load(pg: Pg, kinds: &[&'static str]) -> Result<Self, Error> {
        let shared = Self {
            pg,
            cache: Mutex::new(HashMap::new()),
        };
        shared
            .poll(kinds)
            .await
            .map_err(SharedFailure::into_error)?;
        Ok(shared)
    }

    /// The store.
    pub(crate) fn pg(&self) -> &Pg {
        &self.pg
    }

    /// The document last seen for `kind` (`None`: the default policy).
    pub(crate) fn cached(&self, kind: &'static str) -> Option<String> {
        self.lock().get(kind).and_then(|c| c.doc.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<&'static str, Cached>> {
        match self.cache.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// Ask the store which policies changed since last seen and fetch
    /// those; returns the kinds whose document changed.
    pub(crate) async fn poll(
        &self,
        kinds: &[&'static str],
    ) -> Result<Vec<&'static str>, SharedFailure> {
        let what = "reading the policy versions";
        let client = self
            .pg
            .pool()
            .get()
            .await
            .map_err(|e| SharedFailure::of(what, e))?;
        let rows = client
            .query("SELECT kind, version FROM verifier_policies", &[])
            .await
            .map_err(|e| SharedFailure::of(what, e))?;
        let mut stale = Vec::new();
        for row in rows {
            let kind: String = row
                .try_get("kind")
                .map_err(|e| SharedFailure::of(what, e))?;
            let version: i64 = row
                .try_get("version")
                .map_err(|e| SharedFailure::of(what, e))?;
            let Some(kind) = kinds.iter().copied().find(|k| *k == kind) else {
                continue;
            };
            if self.lock().get(kind).map(|c| c.version) != Some(version) {
                stale.push(kind);
            }
        }
        let mut changed = Vec::new();
        for kind in stale {
            let row = client
                .query_one(
                    "SELECT version, doc FROM verifier_policies WHERE kind = $1",
                    &[&kind],
                )
                .await
                .map_err(|e| SharedFailure::of("reading a policy", e))?;
            let fresh = Cached {
                version: row
                    .try_get("version")
                    .map_err(|e| SharedFailure::of("reading a policy", e))?,
                doc: row
                    .try_get("doc")
                    .map_err(|e| SharedFailure::of("reading a policy", e))?,
            };
            let mut cache = self.lock();
            let before = cache.get(kind).and_then(|c| c.doc.clone());
            if cache.get(kind).is_none_or(|c| c.version < fresh.version) {
                if before != fresh.doc {
                    changed.push(kind);
                }
                cache.insert(kind, fresh);
            }
        }
        Ok(changed)
    }

    /// Write `doc` (`None`: reset) as `kind`'s policy with its history row,
    /// in one transaction; the cache takes it at once.
    pub(crate) async fn write(
        &self,
        kind: &'static str,
        doc: Option<&str>,
        change: PolicyChange<'_>,
    ) -> Result<i64, SharedFailure> {
        let what = "storing the policy";
        let mut client = self
            .pg
            .pool()
            .get()
            .await
            .map_err(|e| SharedFailure::of(what, e))?;
        let tx = client
            .transaction()
            .await
            .map_err(|e| SharedFailure::of(what, e))?;
        let version: i64 = tx
            .query_one(
                "INSERT INTO verifier_policies (kind, doc, version, updated_at) \
                 VALUES ($1, $2, 1, now()) \
                 ON CONFLICT (kind) DO UPDATE \
                 SET doc = EXCLUDED.doc, version = verifier_policies.version + 1, \
                 updated_at = now() \
                 RETURNING version",
                &[&kind, &doc],
            )
            .await
            .map_err(|e| SharedFailure::of(what, e))?
            .try_get("version")
            .map_err(|e| SharedFailure::of(what, e))?;
        tx.execute(
            "INSERT INTO verifier_policy_history \
             (kind, version, doc, actor, action, old_hash, new_hash, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, now())",
            &[
                &kind,
                &version,
                &doc,
                &change.actor,
                &change.action,
                &change.old_hash,
                &change.new_hash,
            ],
        )
        .await
        .map_err(|e| SharedFailure::of(what, e))?;
        tx.commit().await.map_err(|e| SharedFailure::of(what, e))?;
        let mut cache = self.lock();
        if cache.get(kind).is_none_or(|c| c.version < version) {
            cache.insert(
                kind,
                Cached {
                    version,
                    doc: doc.map(str::to_string),
                },
            );
        }
        Ok(version)
    }
}

impl ServiceState {
    /// Keep this service's policies in the fleet's store `pg` (migrated by
    /// [`Pg::connect`]): load them now, then poll for changes every
    /// [`POLL_INTERVAL`] for as long as the service lives. Call once,
    /// before serving, inside the Tokio runtime that serves.
    pub async fn attach_store(self: &Arc<Self>, pg: Pg) -> Result<(), Error> {
        let kinds = self.verifier.attestation_types();
        let shared = Arc::new(SharedPolicies::load(pg, &kinds).await?);
        if self.shared.set(shared.clone()).is_err() {
            return Err(Error::new(
                ErrorCode::InitializationFailed,
                "the service is already attached to a store",
            ));
        }
        for kind in &kinds {
            self.refresh_policy(kind)?;
        }
        // `/readyz`: the store answers (checks run on a blocking thread).
        let handle = tokio::runtime::Handle::current();
        let probe = shared.clone();
        self.add_readiness_check(
            "store",
            Arc::new(move || {
                handle
                    .block_on(tokio::time::timeout(
                        Duration::from_secs(5),
                        probe.pg().ping(),
                    ))
                    .map_err(|_| "the store did not answer within 5 s".to_string())?
                    .map_err(|e| format!("the store does not answer: {e}"))
            }),
        );
        // The poller holds the state weakly: it ends with the service.
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(POLL_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(state) = weak.upgrade() else { return };
                match shared.poll(&kinds).await {
                    Ok(changed) => {
                        for kind in changed {
                            if let Err(e) = state.refresh_policy(kind) {
                                tracing::error!(
                                    kind,
                                    "a policy from the store does not apply: {}",
                                    e.full_message()
                                );
                            } else {
                                tracing::info!(kind, "policy changed in the store: applied");
                            }
                        }
                    }
                    Err(f) => {
                        state.ops.metrics().store_error(Store::Policies);
                        match f {
                            SharedFailure::Unavailable(m) => tracing::warn!("{m}"),
                            SharedFailure::Failed(e) => tracing::error!("{}", e.full_message()),
                        }
                    }
                }
            }
        });
        Ok(())
    }

    /// The fleet's store, when attached.
    pub(crate) fn shared(&self) -> Option<&Arc<SharedPolicies>> {
        self.shared.get()
    }
}
