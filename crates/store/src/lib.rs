#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![warn(missing_docs)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

mod error;
mod migrate;
mod tls;
mod url;

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

pub use deadpool_postgres;
pub use error::{is_unavailable, BoxError, Result, StoreError};
pub use migrate::{Migration, MIGRATIONS, MIGRATION_LOCK, SCHEMA_TABLE};
pub use tokio_postgres;
pub use url::redact_url;

/// How to reach the database.
#[derive(Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// `postgres://user:password@host:port/db?sslmode=…` (shown only
    /// through [`redact_url`]).
    pub url: String,
    /// The CA certificates (PEM) the server's certificate must chain to,
    /// when the URL asks for TLS (else the URL's `sslrootcert`).
    pub ca_file: Option<PathBuf>,
    /// The pool's size (default 8).
    pub max_connections: u32,
    /// How long connecting, and waiting for a pooled connection, may take
    /// (default 5 s).
    pub connect_timeout: Duration,
}

impl PgOptions {
    /// The options for `url` with the defaults.
    pub fn new(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            ca_file: None,
            max_connections: 8,
            connect_timeout: Duration::from_secs(5),
        }
    }

    /// The URL with its password redacted.
    pub fn redacted_url(&self) -> String {
        redact_url(&self.url)
    }
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &self.redacted_url())
            .field("ca_file", &self.ca_file)
            .field("max_connections", &self.max_connections)
            .field("connect_timeout", &self.connect_timeout)
            .finish()
    }
}

/// Where a service keeps its state: `local` (SQLite and files in the data
/// directory, the default) or a PostgreSQL database shared by the fleet.
///
/// Parsed from `serve --store` (`local`, `sqlite`, or a `postgres://` /
/// `postgresql://` URL); [`StoreChoice::with_ca`] adds `--store-ca`.
/// Its `Debug` and `Display` redact the password.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum StoreChoice {
    /// The data directory (SQLite).
    #[default]
    Local,
    /// PostgreSQL.
    Postgres(PgOptions),
}

impl StoreChoice {
    /// The environment variable `serve` reads when `--store` is not given
    /// (keeps the password out of the process's arguments).
    pub const ENV: &'static str = "TEE_ATTEST_STORE";

    /// The same choice with the CA file for TLS to PostgreSQL (ignored
    /// for `Local`).
    #[must_use]
    pub fn with_ca(self, ca_file: Option<PathBuf>) -> Self {
        match self {
            StoreChoice::Postgres(mut o) => {
                if ca_file.is_some() {
                    o.ca_file = ca_file;
                }
                StoreChoice::Postgres(o)
            }
            local => local,
        }
    }

    /// The choice of a command line: `--store` (else `$TEE_ATTEST_STORE`,
    /// else `local`) and `--store-ca`. The URL is parsed here, not by the
    /// argument parser, so that a refused one is shown redacted.
    pub fn from_args(store: Option<&str>, ca_file: Option<PathBuf>) -> Result<StoreChoice> {
        let from_env = std::env::var(Self::ENV).ok();
        let chosen = store.or(from_env.as_deref()).unwrap_or("local");
        let choice: StoreChoice = chosen.parse()?;
        if ca_file.is_some() && choice == StoreChoice::Local {
            return Err(StoreError::Config(
                "a store CA file was given, but the store is local (give a postgres:// URL)".into(),
            ));
        }
        Ok(choice.with_ca(ca_file))
    }

    /// The PostgreSQL options, if that is the choice.
    pub fn postgres(&self) -> Option<&PgOptions> {
        match self {
            StoreChoice::Postgres(o) => Some(o),
            StoreChoice::Local => None,
        }
    }
}

impl FromStr for StoreChoice {
    type Err = StoreError;

    fn from_str(s: &str) -> Result<Self> {
        let s = s.trim();
        match s {
            "local" | "sqlite" | "" => Ok(StoreChoice::Local),
            _ if s.starts_with("postgres://") || s.starts_with("postgresql://") => {
                url::parse(s)?;
                Ok(StoreChoice::Postgres(PgOptions::new(s)))
            }
            _ => Err(StoreError::Config(format!(
                "the store {:?} is neither `local` nor a postgres:// URL",
                redact_url(s)
            ))),
        }
    }
}

impl std::fmt::Display for StoreChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreChoice::Local => f.write_str("local"),
            StoreChoice::Postgres(o) => f.write_str(&o.redacted_url()),
        }
    }
}

/// The shared database: a pool of connections, its schema migrated.
#[derive(Clone)]
pub struct Pg {
    pool: deadpool_postgres::Pool,
    url: String,
    timeout: Duration,
}

impl std::fmt::Debug for Pg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pg")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn timed_out(what: &str, t: Duration) -> StoreError {
    StoreError::Unavailable(Box::new(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("{what}: no answer within {} ms", t.as_millis()),
    )))
}

impl Pg {
    /// Connects (TLS when the URL says `sslmode=require`, `verify-ca` or
    /// `verify-full`, trusting `ca_file`), then applies every pending
    /// migration under the advisory lock. `Unavailable` when the server
    /// cannot be reached within the connect time-out.
    pub async fn connect(opts: &PgOptions) -> Result<Pg> {
        let shown = opts.redacted_url();
        let parsed = url::parse(&opts.url)?;
        let mut config = tokio_postgres::Config::from_str(&parsed.url).map_err(|e| {
            let cause = std::error::Error::source(&e)
                .map(|c| format!(": {c}"))
                .unwrap_or_default();
            StoreError::Config(format!("{shown}: {e}{cause}"))
        })?;
        config.connect_timeout(opts.connect_timeout);
        let loopback = config.get_hosts().iter().all(|h| match h {
            tokio_postgres::config::Host::Tcp(name) => {
                name == "localhost"
                    || name
                        .parse::<std::net::IpAddr>()
                        .is_ok_and(|ip| ip.is_loopback())
            }
            tokio_postgres::config::Host::Unix(_) => true,
        });
        let manager_config = deadpool_postgres::ManagerConfig {
            recycling_method: deadpool_postgres::RecyclingMethod::Fast,
        };
        let manager = match parsed.tls {
            Some(verify) => {
                let ca = opts.ca_file.clone().or(parsed.root_cert).ok_or_else(|| {
                    StoreError::Config(format!(
                        "{shown} asks for TLS: give the CA file (--store-ca, or sslrootcert=) \
                         the server's certificate chains to"
                    ))
                })?;
                let tls =
                    tokio_postgres_rustls::MakeRustlsConnect::new(tls::client_config(&ca, verify)?);
                deadpool_postgres::Manager::from_config(config, tls, manager_config)
            }
            None => {
                if !loopback {
                    tracing::warn!(
                        url = %shown,
                        "the database is reached without TLS on a non-loopback address: \
                         add sslmode=verify-full and a CA file"
                    );
                }
                deadpool_postgres::Manager::from_config(
                    config,
                    tokio_postgres::NoTls,
                    manager_config,
                )
            }
        };
        let t = opts.connect_timeout;
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(usize::try_from(opts.max_connections.max(1)).unwrap_or(8))
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(t))
            .create_timeout(Some(t))
            .recycle_timeout(Some(t))
            .build()
            .map_err(|e| StoreError::Config(format!("{shown}: the pool: {e}")))?;
        let pg = Pg {
            pool,
            url: shown,
            timeout: t,
        };
        let mut client = pg.client().await?;
        match tokio::time::timeout(t.saturating_mul(6), migrate::run(&mut client)).await {
            Ok(r) => {
                r?;
            }
            Err(_) => {
                // The connection may still hold the lock's transaction:
                // never hand it out again.
                drop(deadpool_postgres::Object::take(client));
                return Err(timed_out("migrating", t.saturating_mul(6)));
            }
        }
        tracing::debug!(url = %pg.url, "connected to the shared store");
        Ok(pg)
    }

    /// The connection pool.
    pub fn pool(&self) -> &deadpool_postgres::Pool {
        &self.pool
    }

    /// A pooled connection (`Unavailable` when none can be had within the
    /// connect time-out).
    pub async fn client(&self) -> Result<deadpool_postgres::Object> {
        Ok(self.pool.get().await?)
    }

    /// The URL, password redacted.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The connect time-out: also the bound [`Pg::ping`] waits.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Whether the database answers (`SELECT 1`) within the connect
    /// time-out: for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        let t = self.timeout;
        let probe = async {
            let client = self.client().await?;
            client.simple_query("SELECT 1").await?;
            Ok::<(), StoreError>(())
        };
        tokio::time::timeout(t, probe)
            .await
            .map_err(|_| timed_out("ping", t))?
    }

    /// The applied migrations' versions, in order (from
    /// [`SCHEMA_TABLE`]).
    pub async fn applied_migrations(&self) -> Result<Vec<i64>> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT version FROM {SCHEMA_TABLE} ORDER BY version"),
                &[],
            )
            .await?;
        rows.iter()
            .map(|r| {
                r.try_get::<_, i64>(0)
                    .map_err(|e| StoreError::Corrupt(format!("{SCHEMA_TABLE}.version: {e}")))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_and_redact() {
        assert_eq!("local".parse::<StoreChoice>().unwrap(), StoreChoice::Local);
        let c: StoreChoice = "postgres://u:s3cret@127.0.0.1:5432/db?sslmode=verify-full"
            .parse()
            .unwrap();
        let c = c.with_ca(Some("/ca.pem".into()));
        assert_eq!(
            c.postgres().unwrap().ca_file.as_deref(),
            Some(std::path::Path::new("/ca.pem"))
        );
        for shown in [c.to_string(), format!("{c:?}")] {
            assert!(!shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("127.0.0.1:5432"), "{shown}");
        }
        let e = "mysql://u:s3cret@h".parse::<StoreChoice>().unwrap_err();
        assert!(!format!("{e} {e:?}").contains("s3cret"));
    }
}
