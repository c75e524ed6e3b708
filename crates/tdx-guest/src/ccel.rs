//! The CC event log of a TD as Linux shows it: the ACPI `CCEL` table
//! (`/sys/firmware/acpi/tables/CCEL`) that says where the firmware's log
//! area is and how long, and the log area itself
//! (`/sys/firmware/acpi/tables/data/CCEL`), both readable by root only.
//!
//! The log is what travels with the quote ([`Evidence::event_log`]): a
//! verifier replays it into RTMR0–3 (`tee_attest_tdx::ccel`). The table is
//! read and checked here — a `CCEL` table of a TD (CC type 2) — and bounds
//! the log (its LAML); it binds nothing a verifier could check, so it is not
//! sent.
//!
//! A TD without them (no CCEL from its firmware, a kernel that does not
//! expose ACPI table data) has no log: `Ok(None)`, and the evidence goes
//! without one. Files that are there but unreadable, or a table that is not
//! a TD's CCEL, are errors.
//!
//! [`Evidence::event_log`]: tee_attest_core::Evidence::event_log

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use tee_attest_tdx::ccel::CcelTable;

use crate::TdxGuestError;

/// Where Linux shows the ACPI tables (`CCEL`, and `data/CCEL`).
pub const DEFAULT_ACPI_TABLES: &str = "/sys/firmware/acpi/tables";
/// The environment variable that overrides [`DEFAULT_ACPI_TABLES`] when the
/// configuration names no CCEL root.
pub const CCEL_ROOT_ENV: &str = "TEE_ATTEST_CCEL_ROOT";
/// The CCEL table, relative to the ACPI tables directory.
pub const CCEL_TABLE_FILE: &str = "CCEL";
/// The CC event log area, relative to the ACPI tables directory.
pub const CCEL_DATA_FILE: &str = "data/CCEL";
/// The CC type of TDX in the CCEL table.
pub const CC_TYPE_TDX: u8 = 2;
/// The most log bytes read (firmware log areas are 64 KiB to a few MiB).
pub const CCEL_DATA_CAP: usize = 16 * 1024 * 1024;
/// The most table bytes read (the CCEL table is 56 bytes).
const CCEL_TABLE_CAP: usize = 4096;

/// The CC event log as read from the ACPI tables.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CcelEventLog {
    /// The parsed CCEL table.
    pub table: CcelTable,
    /// The table's bytes.
    pub table_bytes: Vec<u8>,
    /// The log area, at most LAML bytes (TCG crypto-agile format, padded
    /// after the last event).
    pub log: Vec<u8>,
}

/// The ACPI tables directory to use: the given one, else the environment's,
/// else [`DEFAULT_ACPI_TABLES`].
pub fn ccel_root(configured: Option<&Path>) -> PathBuf {
    configured
        .map(Path::to_path_buf)
        .or_else(|| {
            std::env::var_os(CCEL_ROOT_ENV)
                .filter(|v| !v.is_empty())
                .map(PathBuf::from)
        })
        .unwrap_or_else(|| PathBuf::from(DEFAULT_ACPI_TABLES))
}

/// At most `cap` bytes of `path`; `None` when the file does not exist.
fn read_capped(path: &Path, cap: usize) -> Result<Option<Vec<u8>>, TdxGuestError> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(TdxGuestError::CcelRead {
                path: path.to_path_buf(),
                source,
            })
        }
    };
    let mut buf = Vec::new();
    let limit = u64::try_from(cap).unwrap_or(u64::MAX);
    file.take(limit)
        .read_to_end(&mut buf)
        .map_err(|source| TdxGuestError::CcelRead {
            path: path.to_path_buf(),
            source,
        })?;
    Ok(Some(buf))
}

/// Reads the CC event log under the ACPI tables directory `acpi_tables`.
///
/// `Ok(None)` when the table or the log area does not exist, or the log
/// area is empty: the TD has no log to send. Errors: a file that exists but
/// cannot be read: code 13; a table that is not a `CCEL` table, not a TD's
/// (CC type 2), or whose LAML is zero or above [`CCEL_DATA_CAP`]: code 20.
/// Never panics, whatever the files hold.
pub fn read_ccel(acpi_tables: &Path) -> Result<Option<CcelEventLog>, TdxGuestError> {
    let table_path = acpi_tables.join(CCEL_TABLE_FILE);
    let Some(table_bytes) = read_capped(&table_path, CCEL_TABLE_CAP)? else {
        tracing::debug!(path = %table_path.display(), "no CCEL table: no CC event log");
        return Ok(None);
    };
    let malformed = |reason: String| TdxGuestError::CcelMalformed {
        path: table_path.clone(),
        reason,
    };
    let table = CcelTable::parse(&table_bytes).map_err(|e| malformed(e.to_string()))?;
    if table.cc_type != CC_TYPE_TDX {
        return Err(malformed(format!(
            "is the CC event log table of CC type {}, not of a TD ({CC_TYPE_TDX})",
            table.cc_type
        )));
    }
    let laml = usize::try_from(table.laml).unwrap_or(usize::MAX);
    if laml == 0 || laml > CCEL_DATA_CAP {
        return Err(malformed(format!(
            "says the log area is {} bytes (LAML): expected 1 to {CCEL_DATA_CAP}",
            table.laml
        )));
    }
    let data_path = acpi_tables.join(CCEL_DATA_FILE);
    let Some(log) = read_capped(&data_path, laml)? else {
        tracing::debug!(path = %data_path.display(), "a CCEL table but no log area: no CC event log");
        return Ok(None);
    };
    if log.is_empty() {
        tracing::debug!(path = %data_path.display(), "an empty CC event log area");
        return Ok(None);
    }
    Ok(Some(CcelEventLog {
        table,
        table_bytes,
        log,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(cc_type: u8, laml: u64) -> Vec<u8> {
        let mut t = vec![0u8; 56];
        t[..4].copy_from_slice(b"CCEL");
        t[4..8].copy_from_slice(&56u32.to_le_bytes());
        t[8] = 1;
        t[36] = cc_type;
        t[40..48].copy_from_slice(&laml.to_le_bytes());
        t
    }

    #[test]
    fn absent_present_truncated_malformed() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        assert_eq!(read_ccel(root).unwrap(), None);

        std::fs::write(root.join("CCEL"), table(2, 8)).unwrap();
        assert_eq!(read_ccel(root).unwrap(), None, "no log area");
        std::fs::create_dir(root.join("data")).unwrap();
        std::fs::write(root.join("data/CCEL"), b"").unwrap();
        assert_eq!(read_ccel(root).unwrap(), None, "an empty log area");
        std::fs::write(root.join("data/CCEL"), [7u8; 20]).unwrap();
        let log = read_ccel(root).unwrap().unwrap();
        assert_eq!(log.log, vec![7u8; 8], "cut at LAML");
        assert_eq!(log.table.laml, 8);
        assert_eq!(log.table_bytes, table(2, 8));

        for (t, needle) in [
            (table(1, 8), "CC type 1"),
            (table(2, 0), "LAML"),
            (table(2, u64::MAX), "LAML"),
            (b"XXXX".to_vec(), "CCEL table"),
            (vec![0u8; 3], "CCEL table"),
        ] {
            std::fs::write(root.join("CCEL"), t).unwrap();
            let err = read_ccel(root).unwrap_err();
            assert!(err.to_string().contains(needle), "{err}");
            assert!(matches!(err, TdxGuestError::CcelMalformed { .. }));
        }
        // A directory where the table should be: unreadable, code 13.
        std::fs::remove_file(root.join("CCEL")).unwrap();
        std::fs::create_dir(root.join("CCEL")).unwrap();
        assert!(matches!(
            read_ccel(root),
            Err(TdxGuestError::CcelRead { .. })
        ));
    }

    #[test]
    fn root_choice() {
        assert_eq!(ccel_root(Some(Path::new("/a"))), PathBuf::from("/a"));
    }
}
