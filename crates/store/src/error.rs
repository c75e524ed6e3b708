//! The crate's error type, and which database failures mean "unavailable".
//!
//! No message carries the connection URL's password: URLs are shown
//! through [`crate::redact_url`] only, and the driver's own errors never
//! repeat the URL.

use tee_attest_core::{CodedError, ErrorCode};

/// A boxed cause.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of the shared store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database cannot be reached now: connection refused or lost, a
    /// time-out, the server shutting down or out of connections (code 7).
    /// A service answers 503 with `Retry-After`; retrying later may work.
    #[error("the database is unavailable: {0}")]
    Unavailable(#[source] BoxError),
    /// A write collided with another: a unique constraint, a serialization
    /// failure or a deadlock (code 8). The message names the constraint,
    /// never the row's values.
    #[error("conflict in the database: {0}")]
    Conflict(String),
    /// Stored data is not what this version expects (code 2).
    #[error("the stored data is not valid: {0}")]
    Corrupt(String),
    /// The schema could not be brought up to date (code 1).
    #[error("migrating the database schema failed: {0}")]
    Migration(String),
    /// The connection options are invalid: the URL, the CA file, the TLS
    /// mode (code 8).
    #[error("invalid database configuration: {0}")]
    Config(String),
    /// TLS to the database failed: the server's certificate does not
    /// verify against the CA, or no TLS was offered (code 1).
    #[error("TLS to the database failed: {0}")]
    Tls(String),
    /// Any other database error: authentication, permissions, a statement
    /// the server refused (code 1).
    #[error("database error: {0}")]
    Database(#[source] BoxError),
}

impl CodedError for StoreError {
    fn code(&self) -> ErrorCode {
        match self {
            StoreError::Unavailable(_) => ErrorCode::SendRequestFailed,
            StoreError::Conflict(_) | StoreError::Config(_) => ErrorCode::InvalidInputParameter,
            StoreError::Corrupt(_) => ErrorCode::ParseResponseFailed,
            StoreError::Migration(_) | StoreError::Tls(_) | StoreError::Database(_) => {
                ErrorCode::InitializationFailed
            }
        }
    }
}

impl StoreError {
    /// The spec code (as [`CodedError::code`]).
    pub fn code(&self) -> ErrorCode {
        CodedError::code(self)
    }

    /// Whether the database is unavailable (a service answers 503 with
    /// `Retry-After`).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

/// The SQLSTATEs that mean the server is unavailable: class 08
/// (connection exception), 57P01–57P03 (shutting down, crashed, starting),
/// 53300 (too many connections).
fn unavailable_state(code: &str) -> bool {
    code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "53300")
}

/// The SQLSTATEs of collisions a retry may resolve: unique violation,
/// serialization failure, deadlock.
fn conflict_state(code: &str) -> bool {
    matches!(code, "23505" | "40001" | "40P01")
}

/// Whether a TLS failure is in the cause chain (a certificate that does
/// not verify is a configuration problem, not an outage).
fn tls_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(e) = cur {
        if e.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io
                .get_ref()
                .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some())
            {
                return true;
            }
        }
        cur = e.source();
    }
    false
}

/// Whether a driver error means the database is unavailable (connection
/// refused or lost, a time-out, the server shutting down or full), as
/// opposed to a refused statement, bad credentials or a TLS failure.
pub fn is_unavailable(e: &tokio_postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(db) = e.as_db_error() {
        return unavailable_state(db.code().code());
    }
    if tls_failure(e) {
        return false;
    }
    // "timeout waiting for server" has no cause.
    if e.to_string().starts_with("timeout") {
        return true;
    }
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(c) = cur {
        if c.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        cur = c.source();
    }
    false
}

impl From<tokio_postgres::Error> for StoreError {
    fn from(e: tokio_postgres::Error) -> Self {
        if is_unavailable(&e) {
            return StoreError::Unavailable(Box::new(e));
        }
        if let Some(db) = e.as_db_error() {
            if conflict_state(db.code().code()) {
                return StoreError::Conflict(match db.constraint() {
                    Some(c) => format!("{} (constraint {c})", db.message()),
                    None => db.message().to_string(),
                });
            }
        }
        if tls_failure(&e) {
            let mut why = e.to_string();
            let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(&e);
            while let Some(c) = cur {
                why.push_str(": ");
                why.push_str(&c.to_string());
                cur = c.source();
            }
            return StoreError::Tls(why);
        }
        StoreError::Database(Box::new(e))
    }
}

impl From<deadpool_postgres::PoolError> for StoreError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        use deadpool_postgres::PoolError as P;
        match e {
            P::Backend(e) => e.into(),
            P::Timeout(_) | P::Closed => StoreError::Unavailable(Box::new(e)),
            other => StoreError::Database(Box::new(other)),
        }
    }
}

/// `StoreError` → `Result`.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_classify() {
        assert!(unavailable_state("08006"));
        assert!(unavailable_state("57P01"));
        assert!(!unavailable_state("28P01"), "bad password is not an outage");
        assert!(conflict_state("23505"));
        assert!(!conflict_state("23502"));
    }

    #[test]
    fn codes() {
        assert_eq!(
            StoreError::Unavailable("x".into()).code(),
            ErrorCode::SendRequestFailed
        );
        assert_eq!(
            StoreError::Migration("x".into()).code(),
            ErrorCode::InitializationFailed
        );
    }
}
