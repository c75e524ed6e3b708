//! The key store's PostgreSQL backend (tables of the `0002_keyrelease`
//! migration of `tee-attest-store`). Same rows and rules as the SQLite
//! backend in `store.rs`; the KEK sealing stays there, in Rust.

use tee_attest_store::tokio_postgres::{self, Row as PgRow};
use tee_attest_store::{Pg, StoreError};

use crate::error::{KeyReleaseError, Result};
use crate::kek::Kek;
use crate::store::{
    info, kek_check, now, secs_of, AuditConfig, AuditRecord, BoundedAudit, KeyInfo, NewVersion, Row,
};

/// The `meta` key of the KEK check.
const KEK_CHECK_KEY: &str = "keyrelease.kek_check";

/// The transaction-level advisory lock that serializes audit writes
/// across instances ("kr_audit"), as SQLite's immediate transaction does
/// across processes: refusal aggregation and the row bound stay exact.
pub(crate) const AUDIT_LOCK: i64 = 0x6b72_5f61_7564_6974;

impl From<StoreError> for KeyReleaseError {
    fn from(e: StoreError) -> Self {
        if e.is_unavailable() {
            KeyReleaseError::Unavailable(e)
        } else {
            KeyReleaseError::Store(e.to_string())
        }
    }
}

impl From<tokio_postgres::Error> for KeyReleaseError {
    fn from(e: tokio_postgres::Error) -> Self {
        StoreError::from(e).into()
    }
}

impl From<tee_attest_store::deadpool_postgres::PoolError> for KeyReleaseError {
    fn from(e: tee_attest_store::deadpool_postgres::PoolError) -> Self {
        StoreError::from(e).into()
    }
}

fn corrupt(what: &str, e: impl std::fmt::Display) -> KeyReleaseError {
    KeyReleaseError::Store(format!("{what}: {e}"))
}

/// Checks the KEK against the database's (sealing it there first when
/// the database has none).
pub(crate) async fn check_kek(pg: &Pg, kek: &Kek) -> Result<()> {
    let client = pg.client().await?;
    let row = client
        .query_opt("SELECT v FROM meta WHERE k = $1", &[&KEK_CHECK_KEY])
        .await?;
    let sealed: Option<Vec<u8>> = row
        .map(|r| r.try_get(0))
        .transpose()
        .map_err(|e| corrupt("meta.v", e))?;
    if let Some(new) = kek_check(kek, sealed.as_deref())? {
        client
            .execute(
                "INSERT INTO meta (k, v) VALUES ($1, $2) ON CONFLICT (k) DO NOTHING",
                &[&KEK_CHECK_KEY, &new],
            )
            .await?;
        // Another instance may have sealed its own first: check against
        // what is stored.
        let stored: Vec<u8> = client
            .query_one("SELECT v FROM meta WHERE k = $1", &[&KEK_CHECK_KEY])
            .await?
            .try_get(0)
            .map_err(|e| corrupt("meta.v", e))?;
        kek_check(kek, Some(&stored))?;
    }
    Ok(())
}

fn key_row(r: &PgRow) -> Result<KeyInfo> {
    let version: i64 = r.try_get(1).map_err(|e| corrupt("keyrelease_keys", e))?;
    let row: Row = (
        r.try_get(0).map_err(|e| corrupt("keyrelease_keys", e))?,
        u32::try_from(version).map_err(|e| corrupt("keyrelease_keys.version", e))?,
        r.try_get(2).map_err(|e| corrupt("keyrelease_keys", e))?,
        r.try_get(3).map_err(|e| corrupt("keyrelease_keys", e))?,
        r.try_get(4).map_err(|e| corrupt("keyrelease_keys", e))?,
        r.try_get(5).map_err(|e| corrupt("keyrelease_keys", e))?,
    );
    info(row)
}

/// Inserts a version; `first`: refuse if the key exists (create/import).
pub(crate) async fn insert(
    pg: &Pg,
    v: &NewVersion<'_>,
    sealed: &[u8],
    first: bool,
) -> Result<KeyInfo> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    if first {
        let exists = tx
            .query_opt(
                "SELECT 1 FROM keyrelease_keys WHERE name = $1 LIMIT 1",
                &[&v.name],
            )
            .await?;
        if exists.is_some() {
            return Err(KeyReleaseError::KeyExists(v.name.to_string()));
        }
    }
    let created = now();
    let inserted = tx
        .execute(
            "INSERT INTO keyrelease_keys (name, version, kty, created, policy, public_jwk, material)
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (name, version) DO NOTHING",
            &[
                &v.name,
                &i64::from(v.version),
                &v.spec.name(),
                &created,
                &v.policy,
                &v.public_jwk.to_string(),
                &sealed,
            ],
        )
        .await?;
    if inserted == 0 {
        return Err(if first {
            KeyReleaseError::KeyExists(v.name.to_string())
        } else {
            KeyReleaseError::InvalidInput(format!(
                "key {:?} version {} was created at the same time by another request: retry",
                v.name, v.version
            ))
        });
    }
    tx.commit().await?;
    Ok(KeyInfo {
        name: v.name.to_string(),
        version: v.version,
        spec: v.spec,
        created,
        policy: v.policy.to_string(),
        public_jwk: v.public_jwk.clone(),
    })
}

pub(crate) async fn delete(pg: &Pg, name: &str) -> Result<usize> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    let n = tx
        .execute("DELETE FROM keyrelease_keys WHERE name = $1", &[&name])
        .await?;
    tx.execute("DELETE FROM keyrelease_nonces WHERE name = $1", &[&name])
        .await?;
    tx.commit().await?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

const KEY_COLUMNS: &str = "name, version, kty, created, policy, public_jwk";

pub(crate) async fn list(pg: &Pg) -> Result<Vec<KeyInfo>> {
    let client = pg.client().await?;
    let rows = client
        .query(
            &format!("SELECT {KEY_COLUMNS} FROM keyrelease_keys ORDER BY name, version"),
            &[],
        )
        .await?;
    rows.iter().map(key_row).collect()
}

pub(crate) async fn get(pg: &Pg, name: &str, version: Option<u32>) -> Result<Option<KeyInfo>> {
    let client = pg.client().await?;
    let row = match version {
        Some(v) => {
            client
                .query_opt(
                    &format!(
                        "SELECT {KEY_COLUMNS} FROM keyrelease_keys WHERE name = $1 AND version = $2"
                    ),
                    &[&name, &i64::from(v)],
                )
                .await?
        }
        None => {
            client
                .query_opt(
                    &format!(
                        "SELECT {KEY_COLUMNS} FROM keyrelease_keys WHERE name = $1
                         ORDER BY version DESC LIMIT 1"
                    ),
                    &[&name],
                )
                .await?
        }
    };
    row.as_ref().map(key_row).transpose()
}

pub(crate) async fn sealed_material(pg: &Pg, key: &KeyInfo) -> Result<Option<Vec<u8>>> {
    let client = pg.client().await?;
    let row = client
        .query_opt(
            "SELECT material FROM keyrelease_keys WHERE name = $1 AND version = $2",
            &[&key.name, &i64::from(key.version)],
        )
        .await?;
    row.map(|r| r.try_get(0))
        .transpose()
        .map_err(|e| corrupt("keyrelease_keys.material", e))
}

pub(crate) async fn use_nonce(pg: &Pg, name: &str, nonce: &str) -> Result<bool> {
    let client = pg.client().await?;
    let n = client
        .execute(
            "INSERT INTO keyrelease_nonces (name, nonce, used_at) VALUES ($1, $2, $3)
             ON CONFLICT (name, nonce) DO NOTHING",
            &[&name, &nonce, &now()],
        )
        .await?;
    Ok(n == 1)
}

/// The audit write of `KeyStore::audit` / `record_release`: the nonce
/// (if any) first, then the audit row under [`AUDIT_LOCK`], one
/// transaction.
pub(crate) async fn audit(
    pg: &Pg,
    config: &AuditConfig,
    nonce: Option<(&str, &str)>,
    r: &AuditRecord,
    b: &BoundedAudit,
) -> Result<i64> {
    let mut client = pg.client().await?;
    let tx = client.transaction().await?;
    if let Some((name, nonce)) = nonce {
        // A concurrent insert of the same nonce waits for this
        // transaction, then does nothing: exactly one succeeds.
        let n = tx
            .execute(
                "INSERT INTO keyrelease_nonces (name, nonce, used_at) VALUES ($1, $2, $3)
                 ON CONFLICT (name, nonce) DO NOTHING",
                &[&name, &nonce, &now()],
            )
            .await?;
        if n == 0 {
            tx.rollback().await?;
            return Err(KeyReleaseError::NonceReplayed);
        }
    }
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
        .await?;
    let mut joined: Option<i64> = None;
    if r.decision == "refused" {
        let since = r.time.saturating_sub(secs_of(config.refusal_window));
        joined = tx
            .query_opt(
                "SELECT id FROM keyrelease_audit
                 WHERE decision = 'refused' AND key = $1
                   AND issuer IS NOT DISTINCT FROM $2 AND reason IS NOT DISTINCT FROM $3
                   AND last_time >= $4
                 ORDER BY last_time DESC, id DESC LIMIT 1",
                &[&b.key, &b.issuer, &b.reason, &since],
            )
            .await?
            .map(|row| row.try_get(0))
            .transpose()
            .map_err(|e| corrupt("keyrelease_audit.id", e))?;
        if let Some(id) = joined {
            tx.execute(
                "UPDATE keyrelease_audit SET
                     count = CASE WHEN count < 9223372036854775807 THEN count + 1 ELSE count END,
                     last_time = GREATEST(last_time, $2)
                 WHERE id = $1",
                &[&id, &r.time],
            )
            .await?;
        }
    }
    let id = match joined {
        Some(id) => id,
        None => tx
            .query_one(
                "INSERT INTO keyrelease_audit
                     (time, last_time, count, key, version, jti, issuer, decision, reason)
                 VALUES ($1, $1, 1, $2, $3, $4, $5, $6, $7) RETURNING id",
                &[
                    &r.time,
                    &b.key,
                    &b.version,
                    &b.jti,
                    &b.issuer,
                    &r.decision,
                    &b.reason,
                ],
            )
            .await?
            .try_get(0)
            .map_err(|e| corrupt("keyrelease_audit.id", e))?,
    };
    // Retention, as SQLite's prune_audit.
    let cutoff = r.time.saturating_sub(secs_of(config.max_age));
    tx.execute(
        "DELETE FROM keyrelease_audit WHERE last_time < $1",
        &[&cutoff],
    )
    .await?;
    if joined.is_none() {
        let max_rows = i64::try_from(config.max_rows.max(1)).unwrap_or(i64::MAX);
        let span = tx
            .query_one("SELECT MIN(id), MAX(id) FROM keyrelease_audit", &[])
            .await?;
        let lo: Option<i64> = span
            .try_get(0)
            .map_err(|e| corrupt("keyrelease_audit", e))?;
        let hi: Option<i64> = span
            .try_get(1)
            .map_err(|e| corrupt("keyrelease_audit", e))?;
        if let (Some(lo), Some(hi)) = (lo, hi) {
            if hi.saturating_sub(lo).saturating_add(1) > max_rows {
                let rows: i64 = tx
                    .query_one("SELECT COUNT(*) FROM keyrelease_audit", &[])
                    .await?
                    .try_get(0)
                    .map_err(|e| corrupt("keyrelease_audit", e))?;
                if rows > max_rows {
                    tx.execute(
                        "DELETE FROM keyrelease_audit WHERE id IN
                             (SELECT id FROM keyrelease_audit ORDER BY last_time, id LIMIT $1)",
                        &[&(rows - max_rows)],
                    )
                    .await?;
                }
            }
        }
    }
    tx.commit().await?;
    Ok(id)
}

pub(crate) async fn audit_log(pg: &Pg, limit: usize) -> Result<Vec<AuditRecord>> {
    let client = pg.client().await?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = client
        .query(
            "SELECT id, time, key, version, jti, issuer, decision, reason, last_time, count
             FROM keyrelease_audit ORDER BY last_time DESC, id DESC LIMIT $1",
            &[&limit],
        )
        .await?;
    let mut out = rows
        .iter()
        .map(
            |r| -> std::result::Result<AuditRecord, tokio_postgres::Error> {
                Ok(AuditRecord {
                    id: r.try_get(0)?,
                    time: r.try_get(1)?,
                    key: r.try_get(2)?,
                    version: r.try_get(3)?,
                    jti: r.try_get(4)?,
                    issuer: r.try_get(5)?,
                    decision: r.try_get(6)?,
                    reason: r.try_get(7)?,
                    last_time: r.try_get(8)?,
                    count: u64::try_from(r.try_get::<_, i64>(9)?).unwrap_or(0),
                })
            },
        )
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| corrupt("keyrelease_audit", e))?;
    out.reverse();
    Ok(out)
}
