//! The service's admin audit log: every admin action (policy set or reset,
//! policy-management certificate added or removed) and every refused admin
//! attempt, in SQLite under the data directory (`admin-audit.sqlite`, mode
//! 0600).
//!
//! A row says who (`sub=… iss=…`, `cert:<sha256 thumbprint>`, `anonymous`,
//! `insecure-admin`), what (action and target attestation type), the policy
//! hash before and after, when (first and last time, Unix seconds), from
//! where (client address), the outcome and the reason.
//!
//! Growth is bounded:
//!
//! - an allowed action always gets its own row;
//! - a refused attempt with the same actor, action, target, reason and
//!   source as a refused row whose `last_time` lies within
//!   [`AuditConfig::refusal_window`] adds one to that row's `count` and moves
//!   its `last_time` instead of inserting, so anonymous junk from one source
//!   is one row per window (a steady stream keeps extending the same row);
//! - on every record, rows whose `last_time` is older than
//!   [`AuditConfig::max_age`] are deleted (an index range), and after every
//!   insert the table is cut back to [`AuditConfig::max_rows`], deleting the
//!   rows with the oldest `last_time`. The row count is exact after every
//!   record; the cost is two index look-ups (`MIN(id)`, `MAX(id)`) while the
//!   id range is no wider than `max_rows`, and a count of the table only
//!   when it is.
//!
//! Fields are bounded in length, control characters are escaped, and
//! anything shaped like a JWT (or a credential following `Bearer`) is
//! replaced by `[redacted]`: the log holds no bearer tokens and, having no
//! field for it, no policy text — policies appear as hashes only. Callers
//! should still pass only those, and keep actions, targets and reasons to a
//! small vocabulary so that refusals aggregate.
//!
//! Several processes may share one data directory: the database is in WAL
//! mode with a busy time-out, and each record is one immediate transaction.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use tee_attest_core::{Error, ErrorCode};

/// The audit database's file name under the data directory.
pub const AUDIT_FILE: &str = "admin-audit.sqlite";

/// The longest actor stored (characters; longer ones are cut, ending `…`).
pub const MAX_ACTOR_LEN: usize = 512;
/// The longest action stored.
pub const MAX_ACTION_LEN: usize = 64;
/// The longest target stored.
pub const MAX_TARGET_LEN: usize = 128;
/// The longest reason stored.
pub const MAX_REASON_LEN: usize = 1024;
/// The longest policy hash stored.
pub const MAX_HASH_LEN: usize = 256;
/// The longest source stored.
pub const MAX_SOURCE_LEN: usize = 256;

const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS admin_audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    first_time INTEGER NOT NULL,
    last_time INTEGER NOT NULL,
    count INTEGER NOT NULL DEFAULT 1,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    old_hash TEXT,
    new_hash TEXT,
    source TEXT
);
CREATE INDEX IF NOT EXISTS admin_audit_last_time ON admin_audit (last_time);
CREATE INDEX IF NOT EXISTS admin_audit_refusals
    ON admin_audit (actor, action, target, reason, source, last_time)
    WHERE outcome = 'refused';
";

/// How long and how much the log keeps, and how refusals are aggregated.
#[derive(Debug, Clone)]
pub struct AuditConfig {
    /// Rows whose last event is older than this are deleted (default 90
    /// days).
    pub max_age: Duration,
    /// At most this many rows are kept, the most recent ones (default
    /// 100 000; 0 counts as 1).
    pub max_rows: u64,
    /// A refusal joins the matching refused row whose last event is at most
    /// this old (default 1 hour).
    pub refusal_window: Duration,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(90 * 24 * 3600),
            max_rows: 100_000,
            refusal_window: Duration::from_secs(3600),
        }
    }
}

/// Whether an admin action was carried out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// It was carried out.
    Allowed,
    /// It was refused (unauthenticated, not authorized, invalid).
    Refused,
}

impl Outcome {
    /// `allowed` or `refused`, as stored.
    pub const fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "allowed",
            Outcome::Refused => "refused",
        }
    }
}

/// One admin event to record. Never put secrets here: no bearer tokens, no
/// policy text (hashes only).
#[derive(Debug, Clone, Copy)]
pub struct AuditEvent<'a> {
    /// Who: `sub=… iss=…`, `cert:<sha256 thumbprint>`, `anonymous`,
    /// `insecure-admin`.
    pub actor: &'a str,
    /// What: `policy.set`, `policy.reset`, `cert.add`, `cert.remove`, …
    pub action: &'a str,
    /// The attestation type acted on (`AzureGuest`, `SevSnpVm`).
    pub target: &'a str,
    /// Allowed or refused.
    pub outcome: Outcome,
    /// Why it was refused, or a note on what was done.
    pub reason: &'a str,
    /// The policy hash before the action.
    pub old_hash: Option<&'a str>,
    /// The policy hash after the action.
    pub new_hash: Option<&'a str>,
    /// The client's address.
    pub source: Option<&'a str>,
}

/// One row of the log: an allowed action, or refusals aggregated per
/// (actor, action, target, reason, source) within the refusal window.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    /// The row id.
    pub id: i64,
    /// The first event of the row (Unix seconds).
    pub first_time: i64,
    /// The last event of the row (Unix seconds); equals `first_time` when
    /// `count` is 1.
    pub last_time: i64,
    /// How many events the row stands for (1 for allowed actions).
    pub count: u64,
    /// Who.
    pub actor: String,
    /// What.
    pub action: String,
    /// The attestation type acted on.
    pub target: String,
    /// `allowed` or `refused`.
    pub outcome: String,
    /// Why (refusals) or a note (allowed actions).
    pub reason: String,
    /// The policy hash before.
    pub old_hash: Option<String>,
    /// The policy hash after.
    pub new_hash: Option<String>,
    /// The client's address.
    pub source: Option<String>,
}

/// The admin audit log: one SQLite database, safe to share between threads
/// and, through SQLite's locking, between processes.
pub struct AuditLog {
    conn: Mutex<Connection>,
    config: AuditConfig,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

fn db_error(what: &str) -> impl FnOnce(rusqlite::Error) -> Error + '_ {
    move |e| {
        Error::with_source(
            ErrorCode::InitializationFailed,
            format!("admin audit log: {what}"),
            e,
        )
    }
}

fn io_error(what: String) -> impl FnOnce(std::io::Error) -> Error {
    move |e| {
        Error::with_source(
            ErrorCode::InitializationFailed,
            format!("admin audit log: {what}"),
            e,
        )
    }
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(secs)
        .unwrap_or(0)
}

/// Whether `word` carries something shaped like a JWT/JWS (`eyJ…` with two
/// dots after it).
fn looks_like_jwt(word: &str) -> bool {
    word.find("eyJ")
        .and_then(|i| word.get(i..))
        .is_some_and(|rest| rest.len() >= 16 && rest.matches('.').count() >= 2)
}

/// Whether `word` could be an opaque credential (RFC 6750 `token68`, at
/// least 16 characters), so that "missing bearer token" stays readable.
fn looks_like_credential(word: &str) -> bool {
    word.len() >= 16
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~+/=".contains(&b))
}

/// A field as stored: JWT-shaped words and credential-shaped words after
/// `Bearer` redacted, control characters escaped, at most `max` characters.
fn clean(s: &str, max: usize) -> String {
    let mut redacted = String::with_capacity(s.len().min(max.saturating_mul(4)));
    let mut after_bearer = false;
    for piece in s.split_inclusive(char::is_whitespace) {
        let word = piece.trim_end_matches(char::is_whitespace);
        if word.is_empty() {
            redacted.push_str(piece);
            continue;
        }
        if (after_bearer && looks_like_credential(word)) || looks_like_jwt(word) {
            redacted.push_str("[redacted]");
            redacted.push_str(&piece[word.len()..]);
        } else {
            redacted.push_str(piece);
        }
        after_bearer = word
            .trim_matches(|c: char| !c.is_alphanumeric())
            .eq_ignore_ascii_case("bearer");
    }
    let mut out = String::new();
    for (n, c) in redacted.chars().enumerate() {
        if n >= max {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// An event's fields as stored: bounded, redacted, escaped ([`clean`]).
pub(crate) struct Cleaned {
    pub(crate) actor: String,
    pub(crate) action: String,
    pub(crate) target: String,
    pub(crate) reason: String,
    pub(crate) old_hash: Option<String>,
    pub(crate) new_hash: Option<String>,
    pub(crate) source: Option<String>,
}

impl Cleaned {
    pub(crate) fn of(e: &AuditEvent<'_>) -> Self {
        Self {
            actor: clean(e.actor, MAX_ACTOR_LEN),
            action: clean(e.action, MAX_ACTION_LEN),
            target: clean(e.target, MAX_TARGET_LEN),
            reason: clean(e.reason, MAX_REASON_LEN),
            old_hash: e.old_hash.map(|h| clean(h, MAX_HASH_LEN)),
            new_hash: e.new_hash.map(|h| clean(h, MAX_HASH_LEN)),
            source: e.source.map(|s| clean(s, MAX_SOURCE_LEN)),
        }
    }
}

/// Now, in Unix seconds (the audit's clock).
pub(crate) fn unix_now() -> i64 {
    now()
}

/// A duration in whole seconds, saturating.
pub(crate) fn whole_secs(d: Duration) -> i64 {
    secs(d)
}

impl AuditLog {
    /// Open (or create) the log of a data directory:
    /// `data_dir/admin-audit.sqlite`, created with mode 0600 (the directory,
    /// if missing, with 0700). Code 1 if it cannot be opened.
    pub fn open_in(data_dir: &Path, config: AuditConfig) -> Result<Self, Error> {
        if !data_dir.exists() {
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::DirBuilderExt as _;
                b.mode(0o700);
            }
            b.create(data_dir)
                .map_err(io_error(format!("creating {}", data_dir.display())))?;
        }
        let path = data_dir.join(AUDIT_FILE);
        create_private(&path)?;
        let conn = Connection::open(&path).map_err(db_error("opening the database"))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(db_error("setting the busy time-out"))?;
        // WAL: readers do not block the writer, and processes sharing the
        // data directory interleave their records.
        let _mode: String = conn
            .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
            .map_err(db_error("switching to WAL"))?;
        // A small page cache (256 KiB; SQLite's default is 2 MiB): memory
        // stays flat after warm-up (the key store does the same).
        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA cache_size = -256")
            .map_err(db_error("setting synchronous and the cache size"))?;
        Self::with_connection(conn, config)
    }

    /// A log in memory (tests).
    pub fn open_in_memory(config: AuditConfig) -> Result<Self, Error> {
        let conn = Connection::open_in_memory().map_err(db_error("opening in memory"))?;
        Self::with_connection(conn, config)
    }

    fn with_connection(conn: Connection, config: AuditConfig) -> Result<Self, Error> {
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(db_error("setting the busy time-out"))?;
        conn.execute_batch(SCHEMA)
            .map_err(db_error("creating the schema"))?;
        Ok(Self {
            conn: Mutex::new(conn),
            config,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AuditConfig {
        &self.config
    }

    fn lock(&self) -> Result<MutexGuard<'_, Connection>, Error> {
        self.conn.lock().map_err(|_| {
            Error::new(
                ErrorCode::InitializationFailed,
                "admin audit log: the lock is poisoned",
            )
        })
    }

    /// Record an event now (see the module documentation for aggregation
    /// and retention). Code 1 if the database fails.
    pub fn record(&self, e: &AuditEvent<'_>) -> Result<(), Error> {
        self.record_at(e, now())
    }

    /// Record an event as happening at `now` (Unix seconds).
    pub(crate) fn record_at(&self, e: &AuditEvent<'_>, now: i64) -> Result<(), Error> {
        let Cleaned {
            actor,
            action,
            target,
            reason,
            old_hash,
            new_hash,
            source,
        } = Cleaned::of(e);

        let mut conn = self.lock()?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(db_error("starting a transaction"))?;
        let joined = if e.outcome == Outcome::Refused {
            let since = now.saturating_sub(secs(self.config.refusal_window));
            let hit: Option<i64> = tx
                .query_row(
                    "SELECT id FROM admin_audit
                     WHERE outcome = 'refused' AND actor = ?1 AND action = ?2 AND target = ?3
                       AND reason = ?4 AND source IS ?5 AND last_time >= ?6
                     ORDER BY last_time DESC, id DESC LIMIT 1",
                    params![actor, action, target, reason, source, since],
                    |r| r.get(0),
                )
                .optional()
                .map_err(db_error("looking up a matching refusal"))?;
            if let Some(id) = hit {
                tx.execute(
                    "UPDATE admin_audit SET
                         count = CASE WHEN count < 9223372036854775807 THEN count + 1 ELSE count END,
                         last_time = MAX(last_time, ?2)
                     WHERE id = ?1",
                    params![id, now],
                )
                .map_err(db_error("counting a refusal"))?;
            }
            hit.is_some()
        } else {
            false
        };
        if !joined {
            tx.execute(
                "INSERT INTO admin_audit (first_time, last_time, count, actor, action, target,
                     outcome, reason, old_hash, new_hash, source)
                 VALUES (?1, ?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    now,
                    actor,
                    action,
                    target,
                    e.outcome.as_str(),
                    reason,
                    old_hash,
                    new_hash,
                    source
                ],
            )
            .map_err(db_error("inserting a row"))?;
        }
        self.prune(&tx, now, !joined)?;
        tx.commit().map_err(db_error("committing"))
    }

    /// Retention: rows past `max_age`, always (an index range on
    /// `last_time`); rows beyond `max_rows` after an insert, the oldest by
    /// `last_time` first. `MAX(id) - MIN(id) + 1` bounds the row count from
    /// above at the cost of two index look-ups, so the table is counted only
    /// when that bound exceeds `max_rows`.
    fn prune(&self, conn: &Connection, now: i64, inserted: bool) -> Result<(), Error> {
        let cutoff = now.saturating_sub(secs(self.config.max_age));
        conn.execute(
            "DELETE FROM admin_audit WHERE last_time < ?1",
            params![cutoff],
        )
        .map_err(db_error("deleting old rows"))?;
        if !inserted {
            return Ok(());
        }
        let max_rows = i64::try_from(self.config.max_rows.max(1)).unwrap_or(i64::MAX);
        let (lo, hi): (Option<i64>, Option<i64>) = conn
            .query_row("SELECT MIN(id), MAX(id) FROM admin_audit", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(db_error("reading the id range"))?;
        let (Some(lo), Some(hi)) = (lo, hi) else {
            return Ok(());
        };
        if hi.saturating_sub(lo).saturating_add(1) <= max_rows {
            return Ok(());
        }
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM admin_audit", [], |r| r.get(0))
            .map_err(db_error("counting rows"))?;
        if rows > max_rows {
            conn.execute(
                "DELETE FROM admin_audit WHERE id IN
                     (SELECT id FROM admin_audit ORDER BY last_time, id LIMIT ?1)",
                params![rows - max_rows],
            )
            .map_err(db_error("deleting rows beyond the limit"))?;
        }
        Ok(())
    }

    /// The latest `limit` rows (by `last_time`, then id), newest last.
    pub fn list(&self, limit: usize) -> Result<Vec<AuditRecord>, Error> {
        let conn = self.lock()?;
        let mut stmt = conn
            .prepare(
                "SELECT id, first_time, last_time, count, actor, action, target, outcome, reason,
                        old_hash, new_hash, source
                 FROM admin_audit ORDER BY last_time DESC, id DESC LIMIT ?1",
            )
            .map_err(db_error("reading rows"))?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt
            .query_map(params![limit], |r| {
                Ok(AuditRecord {
                    id: r.get(0)?,
                    first_time: r.get(1)?,
                    last_time: r.get(2)?,
                    count: u64::try_from(r.get::<_, i64>(3)?).unwrap_or(0),
                    actor: r.get(4)?,
                    action: r.get(5)?,
                    target: r.get(6)?,
                    outcome: r.get(7)?,
                    reason: r.get(8)?,
                    old_hash: r.get(9)?,
                    new_hash: r.get(10)?,
                    source: r.get(11)?,
                })
            })
            .map_err(db_error("reading rows"))?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(db_error("reading rows"))?;
        rows.reverse();
        Ok(rows)
    }
}

/// Create `path` empty with mode 0600 if it does not exist (before SQLite
/// opens it, so that it is never readable by others; SQLite gives its WAL
/// and shared-memory files the database file's mode). An existing file
/// readable by group or others is narrowed to 0600.
fn create_private(path: &Path) -> Result<(), Error> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                let meta = std::fs::metadata(path)
                    .map_err(io_error(format!("reading {}", path.display())))?;
                if meta.permissions().mode() & 0o077 != 0 {
                    if let Err(e) =
                        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                    {
                        tracing::warn!(path = %path.display(), error = %e,
                            "the admin audit log is readable by others and could not be narrowed to 0600");
                    }
                }
            }
            Ok(())
        }
        Err(e) => Err(io_error(format!("creating {}", path.display()))(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_750_000_000;

    fn refused<'a>(source: &'a str) -> AuditEvent<'a> {
        AuditEvent {
            actor: "anonymous",
            action: "policy.set",
            target: "AzureGuest",
            outcome: Outcome::Refused,
            reason: "no bearer token",
            old_hash: None,
            new_hash: None,
            source: Some(source),
        }
    }

    fn allowed<'a>(old: &'a str, new: &'a str) -> AuditEvent<'a> {
        AuditEvent {
            actor: "sub=admin iss=https://login.example",
            action: "policy.set",
            target: "SevSnpVm",
            outcome: Outcome::Allowed,
            reason: "",
            old_hash: Some(old),
            new_hash: Some(new),
            source: Some("127.0.0.1:40000"),
        }
    }

    fn config() -> AuditConfig {
        AuditConfig::default()
    }

    #[test]
    fn defaults() {
        let c = AuditConfig::default();
        assert_eq!(c.max_age, Duration::from_secs(90 * 86_400));
        assert_eq!(c.max_rows, 100_000);
        assert_eq!(c.refusal_window, Duration::from_secs(3600));
        assert_eq!(Outcome::Allowed.as_str(), "allowed");
        assert_eq!(Outcome::Refused.as_str(), "refused");
    }

    #[test]
    fn allowed_events_each_get_a_row() {
        let log = AuditLog::open_in_memory(config()).unwrap();
        for i in 0..5 {
            log.record_at(&allowed("h0", "h1"), T0 + i).unwrap();
        }
        // Even at the same second.
        log.record_at(&allowed("h0", "h1"), T0 + 4).unwrap();
        let rows = log.list(100).unwrap();
        assert_eq!(rows.len(), 6);
        for r in &rows {
            assert_eq!(r.count, 1);
            assert_eq!(r.first_time, r.last_time);
            assert_eq!(r.outcome, "allowed");
            assert_eq!(r.old_hash.as_deref(), Some("h0"));
            assert_eq!(r.new_hash.as_deref(), Some("h1"));
            assert_eq!(r.actor, "sub=admin iss=https://login.example");
            assert_eq!(r.source.as_deref(), Some("127.0.0.1:40000"));
        }
        let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
        let mut sorted = ids.clone();
        sorted.sort_unstable();
        assert_eq!(ids, sorted, "newest last");
        // `limit` keeps the latest.
        let last2 = log.list(2).unwrap();
        assert_eq!(last2.len(), 2);
        assert_eq!(last2[1].id, *ids.last().unwrap());
        assert_eq!(last2[0].id, ids[4]);
    }

    #[test]
    fn ten_thousand_refusals_from_one_source_are_one_row() {
        let log = AuditLog::open_in_memory(config()).unwrap();
        for i in 0..10_000 {
            // Spread over more than the window: each one is within the
            // window of the previous, so the row keeps extending.
            log.record_at(&refused("203.0.113.9:5000"), T0 + i).unwrap();
        }
        let rows = log.list(100).unwrap();
        assert_eq!(rows.len(), 1, "{rows:#?}");
        let r = &rows[0];
        assert_eq!(r.count, 10_000);
        assert_eq!(r.first_time, T0);
        assert_eq!(r.last_time, T0 + 9_999);
        assert_eq!(r.outcome, "refused");
        assert_eq!(r.reason, "no bearer token");
        assert_eq!(r.actor, "anonymous");
        assert_eq!(r.old_hash, None);
    }

    #[test]
    fn refusals_from_two_sources_are_two_rows_and_allowed_ones_interleave() {
        let log = AuditLog::open_in_memory(config()).unwrap();
        for i in 0..50 {
            log.record_at(&refused("198.51.100.1:1"), T0 + i).unwrap();
            log.record_at(&refused("198.51.100.2:2"), T0 + i).unwrap();
        }
        log.record_at(&allowed("a", "b"), T0 + 60).unwrap();
        let mut other_reason = refused("198.51.100.1:1");
        other_reason.reason = "token expired";
        log.record_at(&other_reason, T0 + 61).unwrap();
        let mut no_source = refused("x");
        no_source.source = None;
        log.record_at(&no_source, T0 + 62).unwrap();
        log.record_at(&no_source, T0 + 63).unwrap();
        let rows = log.list(100).unwrap();
        let counts: Vec<(Option<&str>, &str, u64)> = rows
            .iter()
            .map(|r| (r.source.as_deref(), r.reason.as_str(), r.count))
            .collect();
        assert_eq!(
            counts,
            [
                (Some("198.51.100.1:1"), "no bearer token", 50),
                (Some("198.51.100.2:2"), "no bearer token", 50),
                (Some("127.0.0.1:40000"), "", 1),
                (Some("198.51.100.1:1"), "token expired", 1),
                (None, "no bearer token", 2),
            ]
        );
    }

    #[test]
    fn a_refusal_after_the_window_starts_a_new_row() {
        let log = AuditLog::open_in_memory(config()).unwrap();
        let e = refused("192.0.2.1:1");
        log.record_at(&e, T0).unwrap();
        log.record_at(&e, T0 + 3600).unwrap(); // exactly at the window: joins
        log.record_at(&e, T0 + 2 * 3600 + 1).unwrap(); // 3601 s after the last: new
        log.record_at(&e, T0 + 2 * 3600 + 2).unwrap();
        let rows = log.list(10).unwrap();
        assert_eq!(rows.len(), 2, "{rows:#?}");
        assert_eq!(
            (rows[0].first_time, rows[0].last_time, rows[0].count),
            (T0, T0 + 3600, 2)
        );
        assert_eq!(
            (rows[1].first_time, rows[1].last_time, rows[1].count),
            (T0 + 7201, T0 + 7202, 2)
        );
        // A refusal never joins an allowed row, whatever the fields.
        let mut a = e;
        a.outcome = Outcome::Allowed;
        log.record_at(&a, T0 + 7203).unwrap();
        log.record_at(&a, T0 + 7203).unwrap();
        log.record_at(&e, T0 + 7204).unwrap();
        let rows = log.list(10).unwrap();
        assert_eq!(rows.len(), 4);
        assert_eq!((rows[1].count, rows[2].count), (1, 1));
        assert_eq!((rows[3].first_time, rows[3].count), (T0 + 7201, 3));
    }

    #[test]
    fn max_rows_keeps_the_newest() {
        let cfg = AuditConfig {
            max_rows: 10,
            ..config()
        };
        let log = AuditLog::open_in_memory(cfg).unwrap();
        // An aggregated refusal that stays active: its id is low, its
        // last_time recent.
        log.record_at(&refused("s"), T0).unwrap();
        for i in 0..25 {
            let hash = format!("h{i}");
            log.record_at(&allowed("x", &hash), T0 + 1 + i).unwrap();
            log.record_at(&refused("s"), T0 + 1 + i).unwrap();
            assert!(log.list(1000).unwrap().len() <= 10);
        }
        let rows = log.list(1000).unwrap();
        assert_eq!(rows.len(), 10);
        // The active refusal row survived; the allowed rows kept are the 9
        // newest.
        let active: Vec<_> = rows.iter().filter(|r| r.outcome == "refused").collect();
        assert_eq!(active.len(), 1);
        assert_eq!((active[0].first_time, active[0].count), (T0, 26));
        let hashes: Vec<&str> = rows.iter().filter_map(|r| r.new_hash.as_deref()).collect();
        let want: Vec<String> = (16..25).map(|i| format!("h{i}")).collect();
        assert_eq!(hashes, want);
        // Pruning also works with a wide id range left by deletions.
        for i in 0..30 {
            log.record_at(&allowed("y", "z"), T0 + 100 + i).unwrap();
        }
        let rows = log.list(1000).unwrap();
        assert_eq!(rows.len(), 10);
        assert!(rows.iter().all(|r| r.first_time >= T0 + 120));
    }

    #[test]
    fn max_age_prunes_old_rows() {
        let cfg = AuditConfig {
            max_age: Duration::from_secs(1000),
            ..config()
        };
        let log = AuditLog::open_in_memory(cfg).unwrap();
        log.record_at(&allowed("a", "b"), T0).unwrap();
        log.record_at(&refused("s"), T0 + 10).unwrap();
        log.record_at(&allowed("b", "c"), T0 + 500).unwrap();
        assert_eq!(log.list(10).unwrap().len(), 3);
        // At T0 + 1005 the first row (last seen T0) is past 1000 s.
        log.record_at(&allowed("c", "d"), T0 + 1005).unwrap();
        let rows = log.list(10).unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].outcome, "refused");
        // A refusal joining a row also prunes: at T0 + 1600 the refusal
        // (T0 + 10) and the second row (T0 + 500) are old.
        log.record_at(&refused("t"), T0 + 1500).unwrap();
        log.record_at(&refused("t"), T0 + 1600).unwrap();
        let rows = log.list(10).unwrap();
        let times: Vec<i64> = rows.iter().map(|r| r.last_time).collect();
        assert_eq!(times, [T0 + 1005, T0 + 1600]);
    }

    #[test]
    fn secrets_and_control_characters_are_not_stored() {
        let log = AuditLog::open_in_memory(config()).unwrap();
        let jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
        let reason =
            format!("refused Bearer abc123secretabc123secret and token={jwt}\nforged line");
        let mut e = refused("s");
        e.reason = &reason;
        let long = "a".repeat(5000);
        e.actor = &long;
        log.record_at(&e, T0).unwrap();
        let r = &log.list(1).unwrap()[0];
        assert!(!r.reason.contains("abc123secret"), "{}", r.reason);
        assert_eq!(clean("no bearer token", 100), "no bearer token");
        assert!(!r.reason.contains("eyJ"), "{}", r.reason);
        assert!(!r.reason.contains('\n'), "{}", r.reason);
        assert!(r.reason.contains("Bearer [redacted]"), "{}", r.reason);
        assert!(
            r.reason.ends_with("[redacted]\\nforged line"),
            "{}",
            r.reason
        );
        assert_eq!(r.actor.chars().count(), MAX_ACTOR_LEN + 1);
        assert!(r.actor.ends_with('…'));
        // Cleaned the same way each time: still aggregated.
        log.record_at(&e, T0 + 1).unwrap();
        assert_eq!(log.list(10).unwrap()[0].count, 2);
    }

    #[test]
    fn file_is_private_and_shared_between_handles() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data/dir");
        let a = AuditLog::open_in(&data, config()).unwrap();
        let b = AuditLog::open_in(&data, config()).unwrap();
        a.record(&allowed("1", "2")).unwrap();
        b.record(&allowed("2", "3")).unwrap();
        a.record(&refused("s")).unwrap();
        b.record(&refused("s")).unwrap();
        for log in [&a, &b] {
            let rows = log.list(10).unwrap();
            assert_eq!(rows.len(), 3, "{rows:#?}");
            assert_eq!(rows[0].new_hash.as_deref(), Some("2"));
            assert_eq!(rows[1].new_hash.as_deref(), Some("3"));
            assert_eq!(rows[2].count, 2, "refusals of both handles aggregate");
        }
        // Threads share one handle.
        let a = std::sync::Arc::new(a);
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let a = a.clone();
                std::thread::spawn(move || {
                    for _ in 0..25 {
                        a.record(&refused("t")).unwrap();
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let rows = b.list(10).unwrap();
        assert_eq!(rows.last().unwrap().count, 100);
        drop(b);
        drop(a);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&data.join(AUDIT_FILE)), 0o600);
            assert_eq!(mode(&data), 0o700);
            // A file that was made readable by others is narrowed again.
            std::fs::set_permissions(
                data.join(AUDIT_FILE),
                std::fs::Permissions::from_mode(0o644),
            )
            .unwrap();
            let c = AuditLog::open_in(&data, config()).unwrap();
            assert_eq!(mode(&data.join(AUDIT_FILE)), 0o600);
            assert_eq!(c.list(10).unwrap().len(), 4);
        }
        // The events were written to the file, not kept in memory only.
        let raw = std::fs::read(data.join(AUDIT_FILE)).unwrap();
        let wal = std::fs::read(data.join(format!("{AUDIT_FILE}-wal"))).unwrap_or_default();
        let hay = [raw, wal].concat();
        assert!(hay.windows(9).any(|w| w == b"anonymous"));
    }

    #[test]
    fn the_refusal_lookup_uses_the_index() {
        let log = AuditLog::open_in_memory(config()).unwrap();
        let conn = log.lock().unwrap();
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT id FROM admin_audit
                 WHERE outcome = 'refused' AND actor = ?1 AND action = ?2 AND target = ?3
                   AND reason = ?4 AND source IS ?5 AND last_time >= ?6
                 ORDER BY last_time DESC, id DESC LIMIT 1",
            )
            .unwrap()
            .query_map(
                params!["a", "b", "c", "d", Option::<String>::None, 0],
                |r| r.get::<_, String>(3),
            )
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            plan.iter().any(|p| p.contains("admin_audit_refusals")),
            "{plan:?}"
        );
    }
}
