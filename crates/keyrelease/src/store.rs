//! The key store: keys, their versions and release policies in SQLite, key
//! material encrypted at rest under the [`Kek`] (AES-256-GCM, bound to the
//! key's name, version and type), nonces of past releases, and an audit
//! table of release decisions (never key material).
//!
//! The audit table is bounded ([`AuditConfig`], set with
//! [`KeyStore::with_audit_config`]): every release is its own row; a refusal
//! with the same key, issuer and reason as a refused row whose last event
//! lies within the refusal window adds one to that row's `count` instead of
//! inserting; rows whose last event is older than `max_age` are deleted, and
//! beyond `max_rows` the rows with the oldest last event go first.

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, ECDSA_P256_SHA256_ASN1_SIGNING, ECDSA_P384_SHA384_ASN1_SIGNING,
};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{json, Value};
use tee_attest_keys::RsaPublic;
use tee_attest_policy::ReleasePolicy;
use tee_attest_store::Pg;
use zeroize::Zeroizing;

use crate::error::{KeyReleaseError, Result};
use crate::kek::Kek;

/// How long and how much the audit table keeps, and how refusals are
/// aggregated: the admin audit log's configuration (defaults 90 days,
/// 100 000 rows, a 1-hour refusal window).
pub use tee_attest_verifier::audit::AuditConfig;

/// Where the store lives under a data directory.
pub const DB_FILE: &str = "keyrelease/keys.db";
/// Where the KEK file lives under a data directory (when `$TEE_ATTEST_KEK`
/// is not set).
pub const KEK_FILE: &str = "keyrelease/kek";

/// The longest key name accepted (as Key Vault).
pub const MAX_NAME_LEN: usize = 127;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS keys (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    kty TEXT NOT NULL,
    created INTEGER NOT NULL,
    policy TEXT NOT NULL,
    public_jwk TEXT NOT NULL,
    material BLOB NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS release_nonces (
    name TEXT NOT NULL,
    nonce TEXT NOT NULL,
    used_at INTEGER NOT NULL,
    PRIMARY KEY (name, nonce)
);
CREATE TABLE IF NOT EXISTS audit (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time INTEGER NOT NULL,
    key TEXT NOT NULL,
    version TEXT,
    jti TEXT,
    issuer TEXT,
    decision TEXT NOT NULL,
    reason TEXT,
    count INTEGER NOT NULL DEFAULT 1,
    last_time INTEGER NOT NULL DEFAULT 0
);
";

/// Run after [`SCHEMA`] and the migration of `audit` (its indexes need the
/// columns the migration adds to older stores).
const AUDIT_INDEXES: &str = "
CREATE INDEX IF NOT EXISTS audit_last_time ON audit (last_time);
CREATE INDEX IF NOT EXISTS audit_refusals
    ON audit (key, issuer, reason, last_time) WHERE decision = 'refused';
";

/// The longest version, `jti`, issuer and reason stored in an audit row
/// (characters; longer ones are cut).
const MAX_AUDIT_VERSION_LEN: usize = 64;
const MAX_AUDIT_JTI_LEN: usize = 256;
const MAX_AUDIT_ISSUER_LEN: usize = 512;
const MAX_AUDIT_REASON_LEN: usize = 1024;

const KEK_CHECK_AAD: &[u8] = b"tee-attest-keyrelease/kek-check/v1";
const KEK_CHECK_TEXT: &[u8] = b"tee-attest-keyrelease key-encryption key check";

/// The type and size of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeySpec {
    /// A 256-bit AES key (`oct`), released as its raw 32 bytes.
    Oct256,
    /// RSA-2048, released as PKCS#8.
    Rsa2048,
    /// RSA-3072, released as PKCS#8.
    Rsa3072,
    /// ECDSA P-256, released as PKCS#8.
    EcP256,
    /// ECDSA P-384, released as PKCS#8.
    EcP384,
}

impl KeySpec {
    /// Every spec.
    pub const ALL: [KeySpec; 5] = [
        KeySpec::Oct256,
        KeySpec::Rsa2048,
        KeySpec::Rsa3072,
        KeySpec::EcP256,
        KeySpec::EcP384,
    ];

    /// The stored name (`oct-256`, `RSA-2048`, `EC-P-256`, …).
    pub const fn name(self) -> &'static str {
        match self {
            KeySpec::Oct256 => "oct-256",
            KeySpec::Rsa2048 => "RSA-2048",
            KeySpec::Rsa3072 => "RSA-3072",
            KeySpec::EcP256 => "EC-P-256",
            KeySpec::EcP384 => "EC-P-384",
        }
    }

    /// The JWK `kty` (`oct`, `RSA`, `EC`).
    pub const fn kty(self) -> &'static str {
        match self {
            KeySpec::Oct256 => "oct",
            KeySpec::Rsa2048 | KeySpec::Rsa3072 => "RSA",
            KeySpec::EcP256 | KeySpec::EcP384 => "EC",
        }
    }

    /// The spec for a stored name.
    pub fn from_name(name: &str) -> Option<Self> {
        KeySpec::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The spec for a `kty` (`oct`, `RSA`, `EC`, any case) and an optional
    /// size (`256`; `2048`/`3072`; `P-256`/`P-384`). Code 8 otherwise.
    pub fn from_kty(kty: &str, size: Option<&str>) -> Result<Self> {
        let bad = |m: String| KeyReleaseError::InvalidInput(m);
        match (kty.to_ascii_lowercase().as_str(), size) {
            ("oct" | "oct-hsm", None | Some("256")) => Ok(KeySpec::Oct256),
            ("rsa" | "rsa-hsm", None | Some("2048")) => Ok(KeySpec::Rsa2048),
            ("rsa" | "rsa-hsm", Some("3072")) => Ok(KeySpec::Rsa3072),
            ("ec" | "ec-hsm", None | Some("P-256" | "p-256" | "256")) => Ok(KeySpec::EcP256),
            ("ec" | "ec-hsm", Some("P-384" | "p-384" | "384")) => Ok(KeySpec::EcP384),
            ("oct" | "oct-hsm" | "rsa" | "rsa-hsm" | "ec" | "ec-hsm", Some(s)) => Err(bad(format!(
                "size {s:?} is not supported for {kty} (oct: 256; RSA: 2048, 3072; EC: P-256, P-384)"
            ))),
            _ => Err(bad(format!("kty {kty:?} is not one of oct, RSA, EC"))),
        }
    }
}

/// Fresh key material for `spec` and its public JWK (without `kid`):
/// raw bytes for `oct`, PKCS#8 for RSA and EC (aws-lc-rs).
pub fn generate_key(spec: KeySpec) -> Result<(Zeroizing<Vec<u8>>, Value)> {
    let gen = |what: &str| KeyReleaseError::Store(format!("generating the {what} key failed"));
    match spec {
        KeySpec::Oct256 => {
            let mut k = Zeroizing::new(vec![0u8; 32]);
            aws_lc_rs::rand::fill(&mut k).map_err(|_| gen("AES"))?;
            Ok((k, json!({"kty": "oct"})))
        }
        KeySpec::Rsa2048 | KeySpec::Rsa3072 => {
            let size = if spec == KeySpec::Rsa2048 {
                aws_lc_rs::rsa::KeySize::Rsa2048
            } else {
                aws_lc_rs::rsa::KeySize::Rsa3072
            };
            let kp = aws_lc_rs::rsa::KeyPair::generate(size).map_err(|_| gen("RSA"))?;
            let pkcs8 = kp.as_der().map_err(|_| gen("RSA"))?;
            let spki = kp.public_key().as_der().map_err(|_| gen("RSA"))?;
            let public = RsaPublic::from_spki_der(spki.as_ref()).map_err(|_| gen("RSA"))?;
            Ok((Zeroizing::new(pkcs8.as_ref().to_vec()), public.to_jwk()))
        }
        KeySpec::EcP256 | KeySpec::EcP384 => {
            let (alg, crv) = if spec == KeySpec::EcP256 {
                (&ECDSA_P256_SHA256_ASN1_SIGNING, "P-256")
            } else {
                (&ECDSA_P384_SHA384_ASN1_SIGNING, "P-384")
            };
            let doc =
                EcdsaKeyPair::generate_pkcs8(alg, &SystemRandom::new()).map_err(|_| gen("EC"))?;
            let pkcs8 = Zeroizing::new(doc.as_ref().to_vec());
            let kp = EcdsaKeyPair::from_pkcs8(alg, &pkcs8).map_err(|_| gen("EC"))?;
            // Uncompressed point: 0x04 ‖ x ‖ y.
            let point = kp.public_key().as_ref();
            let half = point.len().saturating_sub(1) / 2;
            let (x, y) = point.get(1..).unwrap_or_default().split_at(half);
            Ok((
                pkcs8,
                json!({"kty": "EC", "crv": crv, "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y)}),
            ))
        }
    }
}

/// A stored key version (without its material).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct KeyInfo {
    /// The key's name.
    pub name: String,
    /// The version (1 on create, +1 per rotation).
    pub version: u32,
    /// Its type and size.
    pub spec: KeySpec,
    /// Creation time (seconds since the epoch).
    pub created: i64,
    /// The release policy (SKR JSON).
    pub policy: String,
    /// The public JWK (`kty` and the public parts; `oct` keys have none).
    pub public_jwk: Value,
}

/// One audit row: a release decision, or refusals of one key with the same
/// issuer and reason aggregated within the refusal window.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditRecord {
    /// The row id (assigned by the store; 0 before).
    pub id: i64,
    /// Seconds since the epoch: the decision (the first one, for an
    /// aggregated row).
    pub time: i64,
    /// The last decision of the row (seconds since the epoch; `time` when
    /// `count` is 1).
    pub last_time: i64,
    /// How many decisions the row stands for (1 for releases).
    pub count: u64,
    /// The key's name as requested.
    pub key: String,
    /// The version released or requested, if known.
    pub version: Option<String>,
    /// The token's `jti`, once the token validated.
    pub jti: Option<String>,
    /// The token's `iss`, once the token validated.
    pub issuer: Option<String>,
    /// `released` or `refused` (only `refused` rows are aggregated).
    pub decision: String,
    /// Why it was refused (the failing check or condition).
    pub reason: Option<String>,
}

impl AuditRecord {
    /// A record for `key`, timestamped now.
    pub fn new(key: &str, decision: &str) -> Self {
        let time = now();
        Self {
            id: 0,
            time,
            last_time: time,
            count: 1,
            key: key.chars().take(MAX_NAME_LEN + 1).collect(),
            version: None,
            jti: None,
            issuer: None,
            decision: decision.to_string(),
            reason: None,
        }
    }
}

fn bounded(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
}

fn secs(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Write a private file: created with mode 0600 (on Unix) before any byte
/// is written; refuses to overwrite.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        // open(2)'s mode is narrowed by the umask only: set it exactly.
        use std::os::unix::fs::PermissionsExt as _;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(bytes)?;
    f.sync_all()
}

/// Checks a key name: 1 to 127 of `A-Z a-z 0-9 -` (as Key Vault).
pub fn check_name(name: &str) -> Result<()> {
    if name.is_empty()
        || name.len() > MAX_NAME_LEN
        || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(KeyReleaseError::InvalidInput(format!(
            "key name {:?} must be 1 to {MAX_NAME_LEN} characters of A-Z, a-z, 0-9 and -",
            name.chars().take(MAX_NAME_LEN + 1).collect::<String>()
        )));
    }
    Ok(())
}

fn aad(name: &str, version: u32, spec: KeySpec) -> Vec<u8> {
    format!(
        "tee-attest-keyrelease/v1\0{name}\0{version}\0{}",
        spec.name()
    )
    .into_bytes()
}

/// The key store: SQLite (one database file, the default; safe to share
/// between threads and, through SQLite's locking, between processes) or
/// PostgreSQL (shared by a fleet of instances: [`KeyStore::open_postgres`]).
///
/// Both backends keep the same rows with the same rules: key material is
/// sealed and opened here under the KEK (the database holds ciphertext
/// only), a nonce is spent once per key across every instance (a primary
/// key), and a release's audit row is written in the same transaction as
/// its nonce ([`KeyStore::record_release`]).
pub struct KeyStore {
    backend: Backend,
    kek: Kek,
    audit_config: AuditConfig,
}

enum Backend {
    Sqlite(Mutex<Connection>),
    Postgres(Pg),
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore")
            .field("backend", &self.backend_name())
            .finish_non_exhaustive()
    }
}

pub(crate) type Row = (String, u32, String, i64, String, String);

pub(crate) struct NewVersion<'a> {
    pub(crate) name: &'a str,
    pub(crate) version: u32,
    pub(crate) spec: KeySpec,
    pub(crate) policy: &'a str,
    pub(crate) material: &'a [u8],
    pub(crate) public_jwk: &'a Value,
}

/// An audit record cut to the stored bounds.
pub(crate) struct BoundedAudit {
    pub(crate) key: String,
    pub(crate) version: Option<String>,
    pub(crate) jti: Option<String>,
    pub(crate) issuer: Option<String>,
    pub(crate) reason: Option<String>,
}

impl BoundedAudit {
    pub(crate) fn of(r: &AuditRecord) -> Self {
        Self {
            key: bounded(&r.key, MAX_NAME_LEN + 1),
            version: r
                .version
                .as_deref()
                .map(|v| bounded(v, MAX_AUDIT_VERSION_LEN)),
            jti: r.jti.as_deref().map(|v| bounded(v, MAX_AUDIT_JTI_LEN)),
            issuer: r
                .issuer
                .as_deref()
                .map(|v| bounded(v, MAX_AUDIT_ISSUER_LEN)),
            reason: r
                .reason
                .as_deref()
                .map(|v| bounded(v, MAX_AUDIT_REASON_LEN)),
        }
    }
}

pub(crate) fn secs_of(d: Duration) -> i64 {
    secs(d)
}

/// The KEK check: sealed at creation, opened at every open.
pub(crate) fn kek_check(kek: &Kek, sealed: Option<&[u8]>) -> Result<Option<Vec<u8>>> {
    match sealed {
        Some(sealed) => match kek.open(KEK_CHECK_AAD, sealed)? {
            Some(p) if p.as_slice() == KEK_CHECK_TEXT => Ok(None),
            _ => Err(KeyReleaseError::Kek(
                "this key store was created under a different key-encryption key: \
                 its key material cannot be decrypted (check $TEE_ATTEST_KEK or the KEK file)"
                    .into(),
            )),
        },
        None => Ok(Some(kek.seal(KEK_CHECK_AAD, KEK_CHECK_TEXT)?)),
    }
}

impl KeyStore {
    /// Open (or create, mode 0600) the SQLite store at `path` under `kek`.
    /// Code 1 with a clear message if the store was created under another
    /// KEK.
    pub fn open(path: &Path, kek: Kek) -> Result<Self> {
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                tee_attest_verifier::fsutil::create_private_dir(dir)
                    .map_err(KeyReleaseError::store)?;
            }
            match write_private(path, b"") {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(KeyReleaseError::store(format!("{}: {e}", path.display()))),
            }
        }
        let conn = Connection::open(path)
            .map_err(|e| KeyReleaseError::store(format!("{}: {e}", path.display())))?;
        Self::with_connection(conn, kek)
    }

    /// The store of a data directory: `DATA_DIR/keyrelease/keys.db` under
    /// the KEK of `$TEE_ATTEST_KEK`, else of `DATA_DIR/keyrelease/kek`
    /// (created on first use, mode 0600).
    pub fn open_in(data_dir: &Path) -> Result<Self> {
        let kek = Kek::from_env_or_file(&data_dir.join(KEK_FILE))?;
        Self::open(&data_dir.join(DB_FILE), kek)
    }

    /// A store in memory (tests, demos).
    pub fn in_memory(kek: Kek) -> Result<Self> {
        Self::with_connection(
            Connection::open_in_memory().map_err(KeyReleaseError::store)?,
            kek,
        )
    }

    /// The store in a shared PostgreSQL database (its tables made by the
    /// `0002_keyrelease` migration, which [`Pg::connect`] applied), under
    /// `kek`: every instance of a fleet must have the same KEK. Code 1 if
    /// the database's keys were stored under another KEK;
    /// [`KeyReleaseError::Unavailable`] if the database cannot be reached.
    pub async fn open_postgres(pg: &Pg, kek: Kek) -> Result<Self> {
        crate::pgstore::check_kek(pg, &kek).await?;
        Ok(Self {
            backend: Backend::Postgres(pg.clone()),
            kek,
            audit_config: AuditConfig::default(),
        })
    }

    fn with_connection(mut conn: Connection, kek: Kek) -> Result<Self> {
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(KeyReleaseError::store)?;
        // A small page cache (256 KiB, SQLite's default is 2 MiB): a
        // release touches a handful of pages (the key by its primary key, a
        // nonce and an audit row appended), and the service's memory stays
        // flat after warm-up instead of growing with the file up to the
        // cache's cap (the soak measured +2 MiB: docs/PERFORMANCE.md).
        conn.execute_batch("PRAGMA cache_size = -256")
            .map_err(KeyReleaseError::store)?;
        conn.execute_batch(SCHEMA).map_err(KeyReleaseError::store)?;
        migrate_audit(&mut conn)?;
        conn.execute_batch(AUDIT_INDEXES)
            .map_err(KeyReleaseError::store)?;
        let check: Option<Vec<u8>> = conn
            .query_row("SELECT v FROM meta WHERE k = 'kek_check'", [], |r| r.get(0))
            .optional()
            .map_err(KeyReleaseError::store)?;
        if let Some(sealed) = kek_check(&kek, check.as_deref())? {
            conn.execute(
                "INSERT OR IGNORE INTO meta (k, v) VALUES ('kek_check', ?1)",
                params![sealed],
            )
            .map_err(KeyReleaseError::store)?;
        }
        Ok(Self {
            backend: Backend::Sqlite(Mutex::new(conn)),
            kek,
            audit_config: AuditConfig::default(),
        })
    }

    /// The same store with another audit retention and refusal window.
    #[must_use]
    pub fn with_audit_config(mut self, config: AuditConfig) -> Self {
        self.audit_config = config;
        self
    }

    /// The audit retention and refusal window.
    pub fn audit_config(&self) -> &AuditConfig {
        &self.audit_config
    }

    /// `sqlite` or `postgres`.
    pub fn backend_name(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }

    fn conn(&self) -> Result<Option<std::sync::MutexGuard<'_, Connection>>> {
        match &self.backend {
            Backend::Sqlite(c) => c
                .lock()
                .map(Some)
                .map_err(|_| KeyReleaseError::Store("the store lock is poisoned".into())),
            Backend::Postgres(_) => Ok(None),
        }
    }

    fn seal(&self, v: &NewVersion<'_>) -> Result<Vec<u8>> {
        self.kek.seal(&aad(v.name, v.version, v.spec), v.material)
    }

    fn insert(&self, conn: &Connection, v: NewVersion<'_>) -> Result<KeyInfo> {
        let sealed = self.seal(&v)?;
        let created = now();
        conn.execute(
            "INSERT INTO keys (name, version, kty, created, policy, public_jwk, material)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                v.name,
                v.version,
                v.spec.name(),
                created,
                v.policy,
                v.public_jwk.to_string(),
                sealed
            ],
        )
        .map_err(KeyReleaseError::store)?;
        Ok(KeyInfo {
            name: v.name.to_string(),
            version: v.version,
            spec: v.spec,
            created,
            policy: v.policy.to_string(),
            public_jwk: v.public_jwk.clone(),
        })
    }

    /// Create key `name` (version 1) of `spec` with a release policy (SKR
    /// JSON, checked). Code 8 if it exists, 9 if the policy does not parse.
    pub async fn create(&self, name: &str, spec: KeySpec, policy: &str) -> Result<KeyInfo> {
        // Cheap checks before the (slow, for RSA) key generation.
        check_name(name)?;
        ReleasePolicy::parse(policy)?;
        let (material, public) = generate_key(spec)?;
        self.import(name, spec, &material, public, policy).await
    }

    /// Import existing material (`oct`: 32 raw bytes; RSA/EC: PKCS#8) as
    /// key `name` version 1.
    pub async fn import(
        &self,
        name: &str,
        spec: KeySpec,
        material: &[u8],
        public_jwk: Value,
        policy: &str,
    ) -> Result<KeyInfo> {
        check_name(name)?;
        ReleasePolicy::parse(policy)?;
        let v = NewVersion {
            name,
            version: 1,
            spec,
            policy,
            material,
            public_jwk: &public_jwk,
        };
        match &self.backend {
            Backend::Postgres(pg) => {
                let sealed = self.seal(&v)?;
                crate::pgstore::insert(pg, &v, &sealed, true).await
            }
            Backend::Sqlite(_) => {
                let mut conn = self.conn()?.ok_or_else(sqlite_only)?;
                // One transaction: a crash before the commit leaves no key,
                // after it the whole key (fault points around the commit).
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(KeyReleaseError::store)?;
                if latest_version(&tx, name)?.is_some() {
                    return Err(KeyReleaseError::KeyExists(name.to_string()));
                }
                let info = self.insert(&tx, v)?;
                tee_attest_core::fault::point("keyrelease.create.after_insert");
                tx.commit().map_err(KeyReleaseError::store)?;
                tee_attest_core::fault::point("keyrelease.create.after_commit");
                Ok(info)
            }
        }
    }

    /// A new version of `name` with fresh material of the same type; the
    /// release policy is `policy` if given, else the current one.
    pub async fn rotate(&self, name: &str, policy: Option<&str>) -> Result<KeyInfo> {
        if let Some(p) = policy {
            ReleasePolicy::parse(p)?;
        }
        let current = self
            .get(name, None)
            .await?
            .ok_or_else(|| KeyReleaseError::KeyNotFound {
                name: name.to_string(),
                version: None,
            })?;
        let (material, public) = generate_key(current.spec)?;
        let version = current
            .version
            .checked_add(1)
            .ok_or_else(|| KeyReleaseError::Store("too many versions".into()))?;
        let v = NewVersion {
            name,
            version,
            spec: current.spec,
            policy: policy.unwrap_or(&current.policy),
            material: &material,
            public_jwk: &public,
        };
        match &self.backend {
            Backend::Postgres(pg) => {
                let sealed = self.seal(&v)?;
                // Two rotations at once: one gets the version, the other a
                // conflict (code 8), as with SQLite's primary key.
                crate::pgstore::insert(pg, &v, &sealed, false).await
            }
            Backend::Sqlite(_) => {
                let conn = self.conn()?.ok_or_else(sqlite_only)?;
                self.insert(&conn, v)
            }
        }
    }

    /// Delete every version of `name` (and its nonces). Returns how many
    /// versions were deleted (code 8 if none).
    pub async fn delete(&self, name: &str) -> Result<usize> {
        let n = match &self.backend {
            Backend::Postgres(pg) => crate::pgstore::delete(pg, name).await?,
            Backend::Sqlite(_) => {
                let conn = self.conn()?.ok_or_else(sqlite_only)?;
                let n = conn
                    .execute("DELETE FROM keys WHERE name = ?1", params![name])
                    .map_err(KeyReleaseError::store)?;
                conn.execute("DELETE FROM release_nonces WHERE name = ?1", params![name])
                    .map_err(KeyReleaseError::store)?;
                n
            }
        };
        if n == 0 {
            return Err(KeyReleaseError::KeyNotFound {
                name: name.to_string(),
                version: None,
            });
        }
        Ok(n)
    }

    /// Every key version, by name then version.
    pub async fn list(&self) -> Result<Vec<KeyInfo>> {
        if let Backend::Postgres(pg) = &self.backend {
            return crate::pgstore::list(pg).await;
        }
        let conn = self.conn()?.ok_or_else(sqlite_only)?;
        let mut stmt = conn
            .prepare(
                "SELECT name, version, kty, created, policy, public_jwk FROM keys
                 ORDER BY name, version",
            )
            .map_err(KeyReleaseError::store)?;
        let rows = stmt
            .query_map([], row)
            .map_err(KeyReleaseError::store)?
            .collect::<rusqlite::Result<Vec<Row>>>()
            .map_err(KeyReleaseError::store)?;
        rows.into_iter().map(info).collect()
    }

    /// Key `name` at `version`, or its latest version.
    pub async fn get(&self, name: &str, version: Option<u32>) -> Result<Option<KeyInfo>> {
        if let Backend::Postgres(pg) = &self.backend {
            return crate::pgstore::get(pg, name, version).await;
        }
        get(&*self.conn()?.ok_or_else(sqlite_only)?, name, version)
    }

    /// The decrypted material of a key version. Code 1 if it does not
    /// decrypt (wrong KEK, or a changed row).
    pub async fn material(&self, key: &KeyInfo) -> Result<Zeroizing<Vec<u8>>> {
        let sealed: Option<Vec<u8>> = match &self.backend {
            Backend::Postgres(pg) => crate::pgstore::sealed_material(pg, key).await?,
            Backend::Sqlite(_) => self
                .conn()?
                .ok_or_else(sqlite_only)?
                .query_row(
                    "SELECT material FROM keys WHERE name = ?1 AND version = ?2",
                    params![key.name, key.version],
                    |r| r.get(0),
                )
                .optional()
                .map_err(KeyReleaseError::store)?,
        };
        let sealed = sealed.ok_or_else(|| KeyReleaseError::KeyNotFound {
            name: key.name.clone(),
            version: Some(key.version.to_string()),
        })?;
        self.kek
            .open(&aad(&key.name, key.version, key.spec), &sealed)?
            .ok_or_else(|| {
                KeyReleaseError::Kek(format!(
                    "key {:?} version {} does not decrypt: wrong key-encryption key or a changed row",
                    key.name, key.version
                ))
            })
    }

    /// Record `nonce` as used for releases of `name`. `false` if it was
    /// used before (a replay). (The release service uses
    /// [`KeyStore::record_release`], which also writes the audit row.)
    pub async fn use_nonce(&self, name: &str, nonce: &str) -> Result<bool> {
        if let Backend::Postgres(pg) = &self.backend {
            return crate::pgstore::use_nonce(pg, name, nonce).await;
        }
        let n = self
            .conn()?
            .ok_or_else(sqlite_only)?
            .execute(
                "INSERT OR IGNORE INTO release_nonces (name, nonce, used_at) VALUES (?1, ?2, ?3)",
                params![name, nonce, now()],
            )
            .map_err(KeyReleaseError::store)?;
        Ok(n == 1)
    }

    /// Audit one decision, made at `r.time` (`id`, `last_time` and `count`
    /// of `r` are ignored); returns the id of its row.
    ///
    /// A `refused` decision with the same key, issuer and reason as a
    /// refused row whose `last_time` is at most the refusal window before
    /// `r.time` joins that row (`count` + 1, `last_time` moved; the row keeps
    /// the version and `jti` of its first refusal); any other decision gets
    /// its own row. Then retention: rows whose last decision is older than
    /// `max_age` are deleted (an index range on `last_time`), and after an
    /// insert the table is cut back to `max_rows`, oldest `last_time` first
    /// — exact after every call; the table is counted only when
    /// `MAX(id) - MIN(id) + 1` (two index look-ups) exceeds `max_rows`.
    /// One transaction, serialized with every other audit write (SQLite:
    /// an immediate transaction; PostgreSQL: a transaction-level advisory
    /// lock), so processes and instances sharing the store agree.
    pub async fn audit(&self, r: &AuditRecord) -> Result<i64> {
        self.record_release_or_audit(None, r).await
    }

    /// Record a release: spend `nonce` (if any) for `name` and write the
    /// audit row `r` in **one transaction**, so that a nonce is spent if
    /// and only if its release is audited. [`KeyReleaseError::NonceReplayed`]
    /// (and nothing written) when the nonce was spent before — at this
    /// instance or at any other sharing the store: a primary key makes the
    /// insert succeed exactly once.
    pub async fn record_release(
        &self,
        name: &str,
        nonce: Option<&str>,
        r: &AuditRecord,
    ) -> Result<i64> {
        self.record_release_or_audit(nonce.map(|n| (name, n)), r)
            .await
    }

    async fn record_release_or_audit(
        &self,
        nonce: Option<(&str, &str)>,
        r: &AuditRecord,
    ) -> Result<i64> {
        let b = BoundedAudit::of(r);
        if let Backend::Postgres(pg) = &self.backend {
            return crate::pgstore::audit(pg, &self.audit_config, nonce, r, &b).await;
        }
        let mut conn = self.conn()?.ok_or_else(sqlite_only)?;
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(KeyReleaseError::store)?;
        if let Some((name, nonce)) = nonce {
            let n = tx
                .execute(
                    "INSERT OR IGNORE INTO release_nonces (name, nonce, used_at)
                     VALUES (?1, ?2, ?3)",
                    params![name, nonce, now()],
                )
                .map_err(KeyReleaseError::store)?;
            if n == 0 {
                // Dropping the transaction rolls it back.
                return Err(KeyReleaseError::NonceReplayed);
            }
        }
        let mut joined = None;
        if r.decision == "refused" {
            let since = r
                .time
                .saturating_sub(secs(self.audit_config.refusal_window));
            joined = tx
                .query_row(
                    "SELECT id FROM audit
                     WHERE decision = 'refused' AND key = ?1 AND issuer IS ?2 AND reason IS ?3
                       AND last_time >= ?4
                     ORDER BY last_time DESC, id DESC LIMIT 1",
                    params![b.key, b.issuer, b.reason, since],
                    |row| row.get::<_, i64>(0),
                )
                .optional()
                .map_err(KeyReleaseError::store)?;
            if let Some(id) = joined {
                tx.execute(
                    "UPDATE audit SET
                         count = CASE WHEN count < 9223372036854775807 THEN count + 1 ELSE count END,
                         last_time = MAX(last_time, ?2)
                     WHERE id = ?1",
                    params![id, r.time],
                )
                .map_err(KeyReleaseError::store)?;
            }
        }
        let id = match joined {
            Some(id) => id,
            None => {
                tx.execute(
                    "INSERT INTO audit
                         (time, last_time, count, key, version, jti, issuer, decision, reason)
                     VALUES (?1, ?1, 1, ?2, ?3, ?4, ?5, ?6, ?7)",
                    params![r.time, b.key, b.version, b.jti, b.issuer, r.decision, b.reason],
                )
                .map_err(KeyReleaseError::store)?;
                tx.last_insert_rowid()
            }
        };
        prune_audit(&tx, &self.audit_config, r.time, joined.is_none())?;
        tx.commit().map_err(KeyReleaseError::store)?;
        Ok(id)
    }

    /// The audit rows, oldest first by their last decision (at most
    /// `limit`, the latest ones).
    pub async fn audit_log(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        if let Backend::Postgres(pg) = &self.backend {
            return crate::pgstore::audit_log(pg, limit).await;
        }
        let conn = self.conn()?.ok_or_else(sqlite_only)?;
        let mut stmt = conn
            .prepare(
                "SELECT id, time, key, version, jti, issuer, decision, reason, last_time, count
                 FROM audit ORDER BY last_time DESC, id DESC LIMIT ?1",
            )
            .map_err(KeyReleaseError::store)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows = stmt
            .query_map(params![limit], |r| {
                Ok(AuditRecord {
                    id: r.get(0)?,
                    time: r.get(1)?,
                    key: r.get(2)?,
                    version: r.get(3)?,
                    jti: r.get(4)?,
                    issuer: r.get(5)?,
                    decision: r.get(6)?,
                    reason: r.get(7)?,
                    last_time: r.get(8)?,
                    count: u64::try_from(r.get::<_, i64>(9)?).unwrap_or(0),
                })
            })
            .map_err(KeyReleaseError::store)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(KeyReleaseError::store)?;
        rows.reverse();
        Ok(rows)
    }

    /// Whether the store answers (a read of the audit table; PostgreSQL:
    /// `SELECT 1` within the connect time-out): for `/readyz`.
    pub async fn ping(&self) -> Result<()> {
        match &self.backend {
            Backend::Postgres(pg) => pg.ping().await.map_err(KeyReleaseError::from),
            Backend::Sqlite(_) => self.audit_log(1).await.map(|_| ()),
        }
    }
}

fn sqlite_only() -> KeyReleaseError {
    KeyReleaseError::Store("internal: a SQLite operation on another backend".into())
}

/// Brings the `audit` table of a store made before aggregation up to date:
/// adds `count` (1) and `last_time` (the row's `time`). In an immediate
/// transaction, so that two processes opening an old store at once do not
/// both alter it.
fn migrate_audit(conn: &mut Connection) -> Result<()> {
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(KeyReleaseError::store)?;
    let has = |col: &str| -> Result<bool> {
        tx.prepare("SELECT 1 FROM pragma_table_info('audit') WHERE name = ?1")
            .and_then(|mut s| s.exists(params![col]))
            .map_err(KeyReleaseError::store)
    };
    let (has_count, has_last_time) = (has("count")?, has("last_time")?);
    if !has_count {
        tx.execute_batch("ALTER TABLE audit ADD COLUMN count INTEGER NOT NULL DEFAULT 1")
            .map_err(KeyReleaseError::store)?;
    }
    if !has_last_time {
        tx.execute_batch(
            "ALTER TABLE audit ADD COLUMN last_time INTEGER NOT NULL DEFAULT 0;
             UPDATE audit SET last_time = time;",
        )
        .map_err(KeyReleaseError::store)?;
    }
    tx.commit().map_err(KeyReleaseError::store)
}

/// Audit retention (see [`KeyStore::audit`]).
fn prune_audit(conn: &Connection, config: &AuditConfig, now: i64, inserted: bool) -> Result<()> {
    let cutoff = now.saturating_sub(secs(config.max_age));
    conn.execute("DELETE FROM audit WHERE last_time < ?1", params![cutoff])
        .map_err(KeyReleaseError::store)?;
    if !inserted {
        return Ok(());
    }
    let max_rows = i64::try_from(config.max_rows.max(1)).unwrap_or(i64::MAX);
    let (lo, hi): (Option<i64>, Option<i64>) = conn
        .query_row("SELECT MIN(id), MAX(id) FROM audit", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(KeyReleaseError::store)?;
    let (Some(lo), Some(hi)) = (lo, hi) else {
        return Ok(());
    };
    if hi.saturating_sub(lo).saturating_add(1) <= max_rows {
        return Ok(());
    }
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM audit", [], |r| r.get(0))
        .map_err(KeyReleaseError::store)?;
    if rows > max_rows {
        conn.execute(
            "DELETE FROM audit WHERE id IN
                 (SELECT id FROM audit ORDER BY last_time, id LIMIT ?1)",
            params![rows - max_rows],
        )
        .map_err(KeyReleaseError::store)?;
    }
    Ok(())
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
    ))
}

pub(crate) fn info((name, version, kty, created, policy, jwk): Row) -> Result<KeyInfo> {
    Ok(KeyInfo {
        spec: KeySpec::from_name(&kty)
            .ok_or_else(|| KeyReleaseError::Store(format!("key {name:?}: unknown type {kty:?}")))?,
        public_jwk: serde_json::from_str(&jwk)
            .map_err(|e| KeyReleaseError::Store(format!("key {name:?}: public JWK: {e}")))?,
        name,
        version,
        created,
        policy,
    })
}

fn latest_version(conn: &Connection, name: &str) -> Result<Option<u32>> {
    conn.query_row(
        "SELECT MAX(version) FROM keys WHERE name = ?1",
        params![name],
        |r| r.get::<_, Option<u32>>(0),
    )
    .map_err(KeyReleaseError::store)
}

fn get(conn: &Connection, name: &str, version: Option<u32>) -> Result<Option<KeyInfo>> {
    let version = match version {
        Some(v) => v,
        None => match latest_version(conn, name)? {
            Some(v) => v,
            None => return Ok(None),
        },
    };
    conn.query_row(
        "SELECT name, version, kty, created, policy, public_jwk FROM keys
         WHERE name = ?1 AND version = ?2",
        params![name, version],
        row,
    )
    .optional()
    .map_err(KeyReleaseError::store)?
    .map(info)
    .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    const POLICY: &str = r#"{"version":"1.0.0","anyOf":[{"authority":"https://a","allOf":[{"claim":"x","equals":true}]}]}"#;

    #[tokio::test]
    async fn create_rotate_delete_and_material_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("keys.db");
        let kek_hex = "11".repeat(32);
        let s = KeyStore::open(&db, Kek::parse(&kek_hex).unwrap()).unwrap();
        let k1 = s.create("k-1", KeySpec::Oct256, POLICY).await.unwrap();
        assert_eq!(k1.version, 1);
        assert!(matches!(
            s.create("k-1", KeySpec::Oct256, POLICY).await,
            Err(KeyReleaseError::KeyExists(_))
        ));
        let m1 = s.material(&k1).await.unwrap();
        assert_eq!(m1.len(), 32);
        let k2 = s.rotate("k-1", None).await.unwrap();
        assert_eq!(k2.version, 2);
        assert_eq!(k2.policy, POLICY);
        assert_ne!(*s.material(&k2).await.unwrap(), *m1);
        assert_eq!(s.get("k-1", None).await.unwrap().unwrap().version, 2);
        assert_eq!(s.get("k-1", Some(1)).await.unwrap().unwrap(), k1);
        for spec in [KeySpec::Rsa2048, KeySpec::EcP256, KeySpec::EcP384] {
            let name = format!("k-{}", spec.name());
            let k = s.create(&name, spec, POLICY).await.unwrap();
            let m = s.material(&k).await.unwrap();
            assert_eq!(m[0], 0x30, "PKCS#8 DER");
            assert_eq!(k.public_jwk["kty"], spec.kty());
        }
        assert_eq!(s.list().await.unwrap().len(), 5);
        assert_eq!(s.delete("k-1").await.unwrap(), 2);
        assert!(s.get("k-1", None).await.unwrap().is_none());
        assert!(matches!(
            s.delete("k-1").await,
            Err(KeyReleaseError::KeyNotFound { .. })
        ));
        assert!(s.create("bad name", KeySpec::Oct256, POLICY).await.is_err());
        assert!(matches!(
            s.create("p", KeySpec::Oct256, "{}").await,
            Err(KeyReleaseError::Policy(_))
        ));
        assert!(s.use_nonce("k", "n").await.unwrap());
        assert!(!s.use_nonce("k", "n").await.unwrap());
        assert!(s.use_nonce("other", "n").await.unwrap());
        drop(s);

        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&db).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        // The material is not in the file in clear.
        let raw = std::fs::read(&db).unwrap();
        assert!(!raw.windows(8).any(|w| w == &m1[..8]));

        // A wrong KEK cannot open the store, and says so.
        let e = KeyStore::open(&db, Kek::parse(&"22".repeat(32)).unwrap()).unwrap_err();
        assert!(matches!(e, KeyReleaseError::Kek(_)));
        assert!(
            e.to_string().contains("different key-encryption key"),
            "{e}"
        );
        assert_eq!(
            tee_attest_core::CodedError::code(&e),
            tee_attest_core::ErrorCode::InitializationFailed
        );
        // The right one still can.
        let s = KeyStore::open(&db, Kek::parse(&kek_hex).unwrap()).unwrap();
        assert_eq!(s.list().await.unwrap().len(), 3);
    }

    #[test]
    fn kek_file_is_created_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/kek");
        let a = Kek::load_or_create(&p).unwrap();
        let b = Kek::load_or_create(&p).unwrap();
        let sealed = a.seal(b"x", b"y").unwrap();
        assert!(b.open(b"x", &sealed).unwrap().is_some());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = Kek::load_or_create(&p).unwrap_err().to_string();
            assert!(e.contains("readable by others"), "{e}");
        }
    }

    #[tokio::test]
    async fn audit_rows_keep_order() {
        let s = KeyStore::in_memory(Kek::generate().unwrap()).unwrap();
        let mut r = AuditRecord::new("k", "refused");
        r.reason = Some("why".into());
        s.audit(&r).await.unwrap();
        s.audit(&AuditRecord::new("k", "released")).await.unwrap();
        let log = s.audit_log(10).await.unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].decision, "refused");
        assert_eq!(log[1].decision, "released");
        assert_eq!(s.audit_log(1).await.unwrap()[0].decision, "released");
    }

    const T0: i64 = 1_750_000_000;
    const SIG: &str = "the attestation token is not valid: signature";

    fn decision(
        key: &str,
        decision: &str,
        issuer: Option<&str>,
        reason: Option<&str>,
        time: i64,
    ) -> AuditRecord {
        let mut r = AuditRecord::new(key, decision);
        r.time = time;
        r.issuer = issuer.map(str::to_string);
        r.reason = reason.map(str::to_string);
        r
    }

    #[tokio::test]
    async fn refused_releases_aggregate_and_releases_do_not() {
        let s = KeyStore::in_memory(Kek::generate().unwrap()).unwrap();
        let mut first_id = None;
        for i in 0..10_000i64 {
            let mut r = decision("k", "refused", Some("https://evil"), Some(SIG), T0 + i / 4);
            r.jti = Some(format!("jti-{i}"));
            r.version = Some("1".into());
            let id = s.audit(&r).await.unwrap();
            assert_eq!(*first_id.get_or_insert(id), id, "joins the same row");
            if i % 1000 == 0 {
                let mut ok = decision("k", "released", Some("https://good"), None, T0 + i / 4);
                ok.jti = Some(format!("ok-{i}"));
                s.audit(&ok).await.unwrap();
            }
        }
        let log = s.audit_log(100).await.unwrap();
        let refused: Vec<_> = log.iter().filter(|r| r.decision == "refused").collect();
        let released: Vec<_> = log.iter().filter(|r| r.decision == "released").collect();
        assert_eq!(refused.len(), 1, "{refused:#?}");
        assert_eq!(released.len(), 10);
        let r = refused[0];
        assert_eq!(r.count, 10_000);
        assert_eq!((r.time, r.last_time), (T0, T0 + 9_999 / 4));
        assert_eq!(r.jti.as_deref(), Some("jti-0"), "the first refusal's jti");
        assert_eq!(r.issuer.as_deref(), Some("https://evil"));
        assert!(released
            .iter()
            .all(|r| r.count == 1 && r.last_time == r.time));
        // The still-active refusal row is the newest.
        assert_eq!(log.last().unwrap().decision, "refused");

        // Another issuer, another reason, no issuer, another key: new rows;
        // the same again: joined, as is the first refusal within the window.
        let t = T0 + 3000;
        let cases = [
            ("k", Some("https://evil"), Some(SIG)),
            ("k", Some("https://other"), Some(SIG)),
            ("k", Some("https://evil"), Some("expired")),
            ("k", None, Some("not JSON")),
            ("k2", Some("https://evil"), Some(SIG)),
        ];
        for _ in 0..2 {
            for (key, issuer, reason) in cases {
                s.audit(&decision(key, "refused", issuer, reason, t))
                    .await
                    .unwrap();
            }
        }
        let log = s.audit_log(100).await.unwrap();
        assert_eq!(log.len(), 15);
        assert!(log[11..].iter().all(|r| r.count == 2), "{log:#?}");
        assert_eq!(log[10].count, 10_002, "the first row went on");
        assert_eq!(log[10].last_time, t);
    }

    #[tokio::test]
    async fn a_refusal_after_the_window_starts_a_new_row() {
        let cfg = AuditConfig {
            refusal_window: Duration::from_secs(60),
            ..AuditConfig::default()
        };
        let s = KeyStore::in_memory(Kek::generate().unwrap())
            .unwrap()
            .with_audit_config(cfg);
        assert_eq!(s.audit_config().refusal_window, Duration::from_secs(60));
        let r = |t| decision("k", "refused", Some("i"), Some("r"), t);
        s.audit(&r(T0)).await.unwrap();
        s.audit(&r(T0 + 60)).await.unwrap();
        s.audit(&r(T0 + 121)).await.unwrap();
        let log = s.audit_log(10).await.unwrap();
        let rows: Vec<(i64, i64, u64)> =
            log.iter().map(|r| (r.time, r.last_time, r.count)).collect();
        assert_eq!(rows, [(T0, T0 + 60, 2), (T0 + 121, T0 + 121, 1)]);
    }

    #[tokio::test]
    async fn audit_retention_by_rows_and_age() {
        let cfg = AuditConfig {
            max_rows: 5,
            max_age: Duration::from_secs(1000),
            ..AuditConfig::default()
        };
        let s = KeyStore::in_memory(Kek::generate().unwrap())
            .unwrap()
            .with_audit_config(cfg);
        // An aggregated refusal kept active by a stream of refusals.
        s.audit(&decision("k", "refused", None, Some("x"), T0))
            .await
            .unwrap();
        for i in 0..20 {
            let mut ok = decision("k", "released", Some("i"), None, T0 + 1 + i);
            ok.jti = Some(format!("j{i}"));
            s.audit(&ok).await.unwrap();
            s.audit(&decision("k", "refused", None, Some("x"), T0 + 1 + i))
                .await
                .unwrap();
            assert!(s.audit_log(100).await.unwrap().len() <= 5);
        }
        let log = s.audit_log(100).await.unwrap();
        assert_eq!(log.len(), 5);
        let jtis: Vec<&str> = log.iter().filter_map(|r| r.jti.as_deref()).collect();
        assert_eq!(jtis, ["j16", "j17", "j18", "j19"], "the newest releases");
        let refused: Vec<_> = log.iter().filter(|r| r.decision == "refused").collect();
        assert_eq!((refused.len(), refused[0].count), (1, 21));
        // Age: 1000 s after the last of those, only the new row is left.
        s.audit(&decision("k", "released", None, None, T0 + 20 + 1001))
            .await
            .unwrap();
        let log = s.audit_log(100).await.unwrap();
        assert_eq!(log.len(), 1, "{log:#?}");
        assert_eq!(log[0].time, T0 + 1021);
        // A joining refusal prunes by age too.
        s.audit(&decision("k", "refused", None, None, T0 + 3000))
            .await
            .unwrap();
        s.audit(&decision("k", "refused", None, None, T0 + 3001))
            .await
            .unwrap();
        let log = s.audit_log(100).await.unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(log[0].count, 2);
    }

    #[tokio::test]
    async fn an_old_audit_table_is_migrated() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("keys.db");
        {
            let c = Connection::open(&db).unwrap();
            c.execute_batch(
                "CREATE TABLE audit (
                    id INTEGER PRIMARY KEY AUTOINCREMENT,
                    time INTEGER NOT NULL,
                    key TEXT NOT NULL,
                    version TEXT,
                    jti TEXT,
                    issuer TEXT,
                    decision TEXT NOT NULL,
                    reason TEXT
                );
                INSERT INTO audit (time, key, decision, reason) VALUES (1000, 'k', 'refused', 'r');
                INSERT INTO audit (time, key, decision) VALUES (2000, 'k', 'released');",
            )
            .unwrap();
        }
        let kek = "33".repeat(32);
        let s = KeyStore::open(&db, Kek::parse(&kek).unwrap()).unwrap();
        let log = s.audit_log(10).await.unwrap();
        let rows: Vec<(i64, i64, u64, &str)> = log
            .iter()
            .map(|r| (r.time, r.last_time, r.count, r.decision.as_str()))
            .collect();
        assert_eq!(
            rows,
            [(1000, 1000, 1, "refused"), (2000, 2000, 1, "released")]
        );
        // A refusal like the old one, within the window, joins it.
        s.audit(&decision("k", "refused", None, Some("r"), 1500))
            .await
            .unwrap();
        assert_eq!(s.audit_log(10).await.unwrap()[0].count, 2);
        drop(s);
        // Opening again changes nothing; pruning works on migrated rows.
        let s = KeyStore::open(&db, Kek::parse(&kek).unwrap()).unwrap();
        assert_eq!(s.audit_log(10).await.unwrap().len(), 2);
        s.audit(&AuditRecord::new("k", "released")).await.unwrap();
        let log = s.audit_log(10).await.unwrap();
        assert_eq!(log.len(), 1, "rows from 1970 are past 90 days");
    }

    #[test]
    fn specs_parse() {
        assert_eq!(KeySpec::from_kty("oct", None).unwrap(), KeySpec::Oct256);
        assert_eq!(
            KeySpec::from_kty("RSA", Some("3072")).unwrap(),
            KeySpec::Rsa3072
        );
        assert_eq!(
            KeySpec::from_kty("EC", Some("P-384")).unwrap(),
            KeySpec::EcP384
        );
        assert!(KeySpec::from_kty("RSA", Some("1024")).is_err());
        assert!(KeySpec::from_kty("DSA", None).is_err());
        for s in KeySpec::ALL {
            assert_eq!(KeySpec::from_name(s.name()), Some(s));
        }
    }
}
