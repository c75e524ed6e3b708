//! Versioned migrations, embedded in the binary and applied at connect by
//! one instance at a time.
//!
//! All pending migrations run in **one transaction** that first takes the
//! transaction-level advisory lock [`MIGRATION_LOCK`]: instances starting
//! together queue on it, the first applies what is missing, the others then
//! find nothing to do. PostgreSQL's DDL is transactional, so a failed
//! migration leaves the schema as it was. (A migration therefore must not
//! use statements that cannot run in a transaction, such as
//! `CREATE INDEX CONCURRENTLY`.)
//!
//! Each applied migration is a row of [`SCHEMA_TABLE`] with the SHA-256 of
//! its SQL: a migration changed after it was applied is refused. Versions
//! the database has but this binary does not know (a newer instance
//! migrated) are logged and accepted: migrations only add.

use sha2::{Digest as _, Sha256};

use crate::error::{Result, StoreError};

/// One migration: `migrations/NNNN_name.sql`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// Its number (`NNNN`), from 1, each once.
    pub version: i64,
    /// Its name (after `NNNN_`).
    pub name: &'static str,
    /// Its SQL.
    pub sql: &'static str,
}

impl Migration {
    /// SHA-256 of the SQL, as recorded when applied.
    pub fn checksum(&self) -> Vec<u8> {
        Sha256::digest(self.sql.as_bytes()).to_vec()
    }
}

/// Every migration, in order. A new one is a file in `migrations/` and a
/// line here (a test checks the two agree).
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "meta",
        sql: include_str!("../migrations/0001_meta.sql"),
    },
    Migration {
        version: 2,
        name: "keyrelease",
        sql: include_str!("../migrations/0002_keyrelease.sql"),
    },
    Migration {
        version: 3,
        name: "verifier",
        sql: include_str!("../migrations/0003_verifier.sql"),
    },
    Migration {
        version: 4,
        name: "verifier_audit",
        sql: include_str!("../migrations/0004_verifier_audit.sql"),
    },
];

/// The table recording applied migrations.
pub const SCHEMA_TABLE: &str = "tee_attest_schema_migrations";

/// The advisory lock key taken (`pg_advisory_xact_lock`) while migrating:
/// "teeAttes" in ASCII.
pub const MIGRATION_LOCK: i64 = 0x7465_6541_7474_6573;

/// Keeps database-unavailable errors as they are, and calls anything else
/// a migration failure.
fn failed(what: String) -> impl FnOnce(tokio_postgres::Error) -> StoreError {
    move |e| match StoreError::from(e) {
        u @ StoreError::Unavailable(_) => u,
        other => StoreError::Migration(format!("{what}: {other}")),
    }
}

/// Applies the pending migrations on `client`; returns the versions it
/// applied (empty when the schema was up to date).
pub(crate) async fn run(client: &mut tokio_postgres::Client) -> Result<Vec<i64>> {
    let tx = client
        .transaction()
        .await
        .map_err(failed("starting the migration".into()))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(failed("taking the migration lock".into()))?;
    tx.batch_execute(&format!(
        "CREATE TABLE IF NOT EXISTS {SCHEMA_TABLE} (
             version BIGINT PRIMARY KEY,
             name TEXT NOT NULL,
             checksum BYTEA NOT NULL,
             applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
         )"
    ))
    .await
    .map_err(failed(format!("creating {SCHEMA_TABLE}")))?;
    let rows = tx
        .query(
            &format!("SELECT version, checksum FROM {SCHEMA_TABLE} ORDER BY version"),
            &[],
        )
        .await
        .map_err(failed(format!("reading {SCHEMA_TABLE}")))?;
    let mut applied = std::collections::BTreeMap::new();
    for r in rows {
        let version: i64 = r
            .try_get(0)
            .map_err(|e| StoreError::Corrupt(format!("{SCHEMA_TABLE}.version: {e}")))?;
        let checksum: Vec<u8> = r
            .try_get(1)
            .map_err(|e| StoreError::Corrupt(format!("{SCHEMA_TABLE}.checksum: {e}")))?;
        applied.insert(version, checksum);
    }
    for (version, checksum) in &applied {
        match MIGRATIONS.iter().find(|m| m.version == *version) {
            Some(m) if m.checksum() != *checksum => {
                return Err(StoreError::Migration(format!(
                    "migration {version:04}_{} was changed after it was applied",
                    m.name
                )))
            }
            Some(_) => {}
            None => tracing::warn!(
                version,
                "the database has a migration this binary does not know (a newer version \
                 migrated it); continuing"
            ),
        }
    }
    let mut done = Vec::new();
    for m in MIGRATIONS
        .iter()
        .filter(|m| !applied.contains_key(&m.version))
    {
        let what = format!("migration {:04}_{}", m.version, m.name);
        tx.batch_execute(m.sql)
            .await
            .map_err(failed(what.clone()))?;
        tx.execute(
            &format!("INSERT INTO {SCHEMA_TABLE} (version, name, checksum) VALUES ($1, $2, $3)"),
            &[&m.version, &m.name, &m.checksum()],
        )
        .await
        .map_err(failed(what))?;
        done.push(m.version);
    }
    tx.commit()
        .await
        .map_err(failed("committing the migrations".into()))?;
    if !done.is_empty() {
        tracing::info!(applied = ?done, "database schema migrated");
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_file_is_listed_once_in_order() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        let listed: Vec<String> = MIGRATIONS
            .iter()
            .map(|m| format!("{:04}_{}.sql", m.version, m.name))
            .collect();
        assert_eq!(files, listed, "migrations/ and MIGRATIONS must agree");
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1, "numbered from 1 without gaps");
            let on_disk = std::fs::read_to_string(dir.join(&listed[i])).unwrap();
            assert_eq!(on_disk, m.sql);
        }
    }
}
