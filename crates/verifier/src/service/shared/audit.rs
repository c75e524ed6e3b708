//! The admin audit in the store (`verifier_admin_audit`): the same rows,
//! aggregation of refusals and retention as the data directory's SQLite
//! log ([`crate::audit`]), across the fleet. Writes are serialized by a
//! transaction-level advisory lock, so that a refusal repeated at two
//! instances joins one row and the row bound stays exact.

use tee_attest_core::{Error, ErrorCode};
use tee_attest_store::Pg;

use super::SharedFailure;
use crate::audit::{unix_now, whole_secs, AuditConfig, AuditEvent, AuditRecord, Cleaned};

/// "va_audit".
const AUDIT_LOCK: i64 = 0x7661_5f61_7564_6974;

/// Record `e` now.
pub(crate) async fn record_audit(
    pg: &Pg,
    config: &AuditConfig,
    e: &AuditEvent<'_>,
) -> Result<(), SharedFailure> {
    let what = "writing the admin audit";
    let fail = |e: tee_attest_store::StoreError| SharedFailure::of(what, e);
    let now = unix_now();
    let c = Cleaned::of(e);
    let outcome = e.outcome.as_str();
    let mut client = pg.client().await.map_err(fail)?;
    let tx = client.transaction().await.map_err(|e| fail(e.into()))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&AUDIT_LOCK])
        .await
        .map_err(|e| fail(e.into()))?;
    let mut joined = false;
    if outcome == "refused" {
        let since = now.saturating_sub(whole_secs(config.refusal_window));
        let hit = tx
            .query_opt(
                "SELECT id FROM verifier_admin_audit
                 WHERE outcome = 'refused' AND actor = $1 AND action = $2 AND target = $3
                   AND reason = $4 AND source IS NOT DISTINCT FROM $5 AND last_time >= $6
                 ORDER BY last_time DESC, id DESC LIMIT 1",
                &[&c.actor, &c.action, &c.target, &c.reason, &c.source, &since],
            )
            .await
            .map_err(|e| fail(e.into()))?;
        if let Some(row) = hit {
            let id: i64 = row.try_get(0).map_err(|e| fail(e.into()))?;
            tx.execute(
                "UPDATE verifier_admin_audit SET
                     count = CASE WHEN count < 9223372036854775807 THEN count + 1 ELSE count END,
                     last_time = GREATEST(last_time, $2)
                 WHERE id = $1",
                &[&id, &now],
            )
            .await
            .map_err(|e| fail(e.into()))?;
            joined = true;
        }
    }
    if !joined {
        tx.execute(
            "INSERT INTO verifier_admin_audit (first_time, last_time, count, actor, action,
                 target, outcome, reason, old_hash, new_hash, source)
             VALUES ($1, $1, 1, $2, $3, $4, $5, $6, $7, $8, $9)",
            &[
                &now,
                &c.actor,
                &c.action,
                &c.target,
                &outcome,
                &c.reason,
                &c.old_hash,
                &c.new_hash,
                &c.source,
            ],
        )
        .await
        .map_err(|e| fail(e.into()))?;
    }
    // Retention: past `max_age` always; beyond `max_rows` after an insert.
    let cutoff = now.saturating_sub(whole_secs(config.max_age));
    tx.execute(
        "DELETE FROM verifier_admin_audit WHERE last_time < $1",
        &[&cutoff],
    )
    .await
    .map_err(|e| fail(e.into()))?;
    if !joined {
        let max_rows = i64::try_from(config.max_rows.max(1)).unwrap_or(i64::MAX);
        tx.execute(
            "DELETE FROM verifier_admin_audit WHERE id IN
                 (SELECT id FROM verifier_admin_audit ORDER BY last_time DESC, id DESC
                  OFFSET $1)",
            &[&max_rows],
        )
        .await
        .map_err(|e| fail(e.into()))?;
    }
    tx.commit().await.map_err(|e| fail(e.into()))
}

/// The latest `limit` rows (by last event, then id), newest last — as
/// [`crate::audit::AuditLog::list`].
pub async fn list_audit(pg: &Pg, limit: usize) -> Result<Vec<AuditRecord>, Error> {
    let what = "reading the admin audit";
    let fail = |e: tee_attest_store::StoreError| SharedFailure::of(what, e).into_error();
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let client = pg.client().await.map_err(fail)?;
    let rows = client
        .query(
            "SELECT id, first_time, last_time, count, actor, action, target, outcome, reason,
                    old_hash, new_hash, source
             FROM verifier_admin_audit ORDER BY last_time DESC, id DESC LIMIT $1",
            &[&limit],
        )
        .await
        .map_err(|e| fail(e.into()))?;
    let corrupt = |e: tee_attest_store::tokio_postgres::Error| {
        Error::with_source(ErrorCode::ParseResponseFailed, "an admin audit row", e)
    };
    let mut out = rows
        .iter()
        .map(|r| {
            Ok(AuditRecord {
                id: r.try_get(0).map_err(corrupt)?,
                first_time: r.try_get(1).map_err(corrupt)?,
                last_time: r.try_get(2).map_err(corrupt)?,
                count: u64::try_from(r.try_get::<_, i64>(3).map_err(corrupt)?).unwrap_or(0),
                actor: r.try_get(4).map_err(corrupt)?,
                action: r.try_get(5).map_err(corrupt)?,
                target: r.try_get(6).map_err(corrupt)?,
                outcome: r.try_get(7).map_err(corrupt)?,
                reason: r.try_get(8).map_err(corrupt)?,
                old_hash: r.try_get(9).map_err(corrupt)?,
                new_hash: r.try_get(10).map_err(corrupt)?,
                source: r.try_get(11).map_err(corrupt)?,
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    out.reverse();
    Ok(out)
}
