//! `tee-attest admin`: what the service's administrators did.
//!
//! `admin audit [--data-dir D | --store URL] [--limit N] [--json]` prints
//! the service's admin audit log (`D/admin-audit.sqlite`, or the fleet's
//! database): policy set and reset,
//! policy-management certificates added and removed, and refused admin
//! attempts (aggregated per source), oldest first. One line per row:
//!
//! ```text
//! TIME  COUNT  OUTCOME  "ACTOR"  ACTION  TARGET  OLD→NEW  SOURCE  "REASON"
//! ```
//!
//! TIME is RFC 3339 UTC (`FIRST..LAST` for aggregated refusals), a missing
//! hash or source is `-`; actor and reason are in double quotes, control
//! characters are escaped. With
//! `--json`, one JSON object per line instead (the record's fields, times in
//! Unix seconds).
//!
//! `admin rotate-signing-key [--data-dir D] [--activate-after SECS]` stages
//! the next token-signing key: a running `serve` on `D` publishes it in
//! `/certs` within a second, signs with it from `now + SECS` on (default
//! one day, so relying parties' cached JWKS have it before it signs), and
//! keeps the previous key in `/certs` for `--max-token-validity` after
//! that (docs/DEPLOYMENT.md, "Rotation").

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use tee_attest_core::{Error, ErrorCode, Result};
use tee_attest_store::{Pg, StoreChoice};
use tee_attest_verifier::audit::{AuditConfig, AuditLog, AuditRecord, AUDIT_FILE};
use tee_attest_verifier::service::shared::list_audit;

use super::common::data_dir;

/// The `admin` subcommands.
#[derive(Subcommand, Debug)]
pub enum AdminCmd {
    /// Print the service's admin audit log (policy and certificate changes,
    /// refused admin attempts), oldest first.
    Audit(AuditArgs),
    /// Stage the next token-signing key: published at once, signing after
    /// --activate-after seconds.
    RotateSigningKey(RotateArgs),
}

/// Arguments of `admin rotate-signing-key`.
#[derive(Args, Debug)]
pub struct RotateArgs {
    /// The service's data directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Seconds from now until the new key starts signing (longer than any
    /// relying party caches the JWKS).
    #[arg(long, default_value_t = 86_400)]
    pub activate_after: u64,
}

/// Arguments of `admin audit`.
#[derive(Args, Debug)]
pub struct AuditArgs {
    /// The service's data directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// At most this many rows (the latest).
    #[arg(long, default_value_t = 100)]
    pub limit: usize,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// The fleet's PostgreSQL database (`serve --store`; default
    /// $TEE_ATTEST_STORE): read its admin audit instead of the data
    /// directory's.
    #[arg(long, value_name = "URL")]
    pub store: Option<String>,
    /// CA certificates (PEM) for TLS to the database.
    #[arg(long, value_name = "FILE")]
    pub store_ca: Option<PathBuf>,
}

/// Run an `admin` subcommand.
pub fn run(cmd: AdminCmd) -> Result<()> {
    match cmd {
        AdminCmd::Audit(a) => audit(a),
        AdminCmd::RotateSigningKey(a) => rotate(a),
    }
}

fn rotate(a: RotateArgs) -> Result<()> {
    let dir = data_dir(a.data_dir.as_deref());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let activate_at = now.saturating_add(a.activate_after);
    let kid = tee_attest_verifier::KeySet::stage_next(&dir, activate_at)?;
    println!("staged signing key {kid}: published now, signing from {activate_at} (Unix time)");
    Ok(())
}

fn audit(a: AuditArgs) -> Result<()> {
    let choice = StoreChoice::from_args(a.store.as_deref(), a.store_ca.clone())?;
    if let Some(opts) = choice.postgres() {
        let rows = super::common::runtime()?.block_on(async {
            let pg = Pg::connect(opts).await?;
            list_audit(&pg, a.limit).await
        })?;
        return print_rows(&rows, a.json);
    }
    let dir = data_dir(a.data_dir.as_deref());
    if !dir.join(AUDIT_FILE).exists() {
        // Reading creates nothing: no log yet means no admin action yet.
        eprintln!(
            "no admin audit log in {} (the service has recorded no admin action)",
            dir.display()
        );
        return Ok(());
    }
    let rows = AuditLog::open_in(&dir, AuditConfig::default())?.list(a.limit)?;
    print_rows(&rows, a.json)
}

fn print_rows(rows: &[AuditRecord], json: bool) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for r in rows {
        let line = if json {
            serde_json::to_string(r).map_err(|e| {
                Error::with_source(ErrorCode::InitializationFailed, "encoding a record", e)
            })?
        } else {
            line(r)
        };
        match writeln!(out, "{line}") {
            Ok(()) => {}
            // `| head`: the reader has what it wanted.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            Err(e) => {
                return Err(Error::with_source(
                    ErrorCode::InitializationFailed,
                    "writing to standard output",
                    e,
                ))
            }
        }
    }
    match out.flush() {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::with_source(
            ErrorCode::InitializationFailed,
            "writing to standard output",
            e,
        )),
        _ => Ok(()),
    }
}

/// A field printed bare: control characters escaped, `-` when empty.
fn bare(s: Option<&str>) -> String {
    match s {
        None | Some("") => "-".to_string(),
        Some(s) => {
            let mut out = String::with_capacity(s.len());
            for c in s.chars() {
                if c.is_control() {
                    out.extend(c.escape_default());
                } else {
                    out.push(c);
                }
            }
            out
        }
    }
}

/// A field printed in double quotes: `"` and control characters escaped
/// (backslashes are left as they are: the log stores control characters
/// already escaped).
fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.push('"');
    out
}

/// One record as a line of text.
fn line(r: &AuditRecord) -> String {
    let time = if r.count > 1 && r.first_time != r.last_time {
        format!("{}..{}", rfc3339(r.first_time), rfc3339(r.last_time))
    } else {
        rfc3339(r.last_time)
    };
    format!(
        "{time}  {}  {}  {}  {}  {}  {}→{}  {}  {}",
        r.count,
        bare(Some(&r.outcome)),
        quoted(&r.actor),
        bare(Some(&r.action)),
        bare(Some(&r.target)),
        bare(r.old_hash.as_deref()),
        bare(r.new_hash.as_deref()),
        bare(r.source.as_deref()),
        quoted(&r.reason),
    )
}

/// Unix seconds as RFC 3339 UTC (`2025-06-01T12:00:00Z`).
fn rfc3339(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_735_689_599), "2024-12-31T23:59:59Z");
        assert_eq!(rfc3339(1_735_689_600), "2025-01-01T00:00:00Z");
        // Agrees with the RFC 3339 reader from 1970 to 2100 (every 7 h 13 s).
        let mut t = 0i64;
        while t < 4_102_444_800 {
            let s = rfc3339(t);
            assert_eq!(
                tee_attest_snp::parse_rfc3339(&s),
                u64::try_from(t).ok(),
                "{s}"
            );
            t += 3_600 * 7 + 13;
        }
    }

    #[test]
    fn a_line_escapes_and_marks_missing_fields() {
        let r = AuditRecord {
            id: 1,
            first_time: 0,
            last_time: 60,
            count: 3,
            actor: "anonymous".into(),
            action: "policy.set".into(),
            target: "Azure\nGuest".into(),
            outcome: "refused".into(),
            reason: "bad \"x\"\nnext".into(),
            old_hash: None,
            new_hash: Some("h1".into()),
            source: None,
        };
        assert_eq!(
            line(&r),
            "1970-01-01T00:00:00Z..1970-01-01T00:01:00Z  3  refused  \"anonymous\"  \
             policy.set  Azure\\nGuest  -→h1  -  \"bad \\\"x\\\"\\nnext\""
        );
    }
}
