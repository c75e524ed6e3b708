//! The key store: keys, their versions and release policies in SQLite, key
//! material encrypted at rest under the [`Kek`] (AES-256-GCM, bound to the
//! key's name, version and type), nonces of past releases, and an audit
//! table of every release decision (never key material).

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
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};
use tee_attest_policy::ReleasePolicy;
use tee_attest_tpm::RsaPublic;
use zeroize::Zeroizing;

use crate::error::{KeyReleaseError, Result};
use crate::kek::Kek;

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
    reason TEXT
);
";

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

/// One audit row: a release decision.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuditRecord {
    /// The row id (assigned by the store; 0 before).
    pub id: i64,
    /// Seconds since the epoch.
    pub time: i64,
    /// The key's name as requested.
    pub key: String,
    /// The version released or requested, if known.
    pub version: Option<String>,
    /// The token's `jti`, once the token validated.
    pub jti: Option<String>,
    /// The token's `iss`, once the token validated.
    pub issuer: Option<String>,
    /// `released` or `refused`.
    pub decision: String,
    /// Why it was refused (the failing check or condition).
    pub reason: Option<String>,
}

impl AuditRecord {
    /// A record for `key`, timestamped now.
    pub fn new(key: &str, decision: &str) -> Self {
        Self {
            id: 0,
            time: now(),
            key: key.chars().take(MAX_NAME_LEN + 1).collect(),
            version: None,
            jti: None,
            issuer: None,
            decision: decision.to_string(),
            reason: None,
        }
    }
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

/// The key store (one SQLite database; safe to share between threads and,
/// through SQLite's locking, between processes).
pub struct KeyStore {
    conn: Mutex<Connection>,
    kek: Kek,
}

impl std::fmt::Debug for KeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyStore").finish_non_exhaustive()
    }
}

type Row = (String, u32, String, i64, String, String);

struct NewVersion<'a> {
    name: &'a str,
    version: u32,
    spec: KeySpec,
    policy: &'a str,
    material: &'a [u8],
    public_jwk: &'a Value,
}

impl KeyStore {
    /// Open (or create, mode 0600) the store at `path` under `kek`. Code 1
    /// with a clear message if the store was created under another KEK.
    pub fn open(path: &Path, kek: Kek) -> Result<Self> {
        if !path.exists() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(KeyReleaseError::store)?;
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

    fn with_connection(conn: Connection, kek: Kek) -> Result<Self> {
        conn.busy_timeout(Duration::from_secs(10))
            .map_err(KeyReleaseError::store)?;
        conn.execute_batch(SCHEMA).map_err(KeyReleaseError::store)?;
        let check: Option<Vec<u8>> = conn
            .query_row("SELECT v FROM meta WHERE k = 'kek_check'", [], |r| r.get(0))
            .optional()
            .map_err(KeyReleaseError::store)?;
        match check {
            Some(sealed) => match kek.open(KEK_CHECK_AAD, &sealed)? {
                Some(p) if p.as_slice() == KEK_CHECK_TEXT => {}
                _ => {
                    return Err(KeyReleaseError::Kek(
                        "this key store was created under a different key-encryption key: \
                         its key material cannot be decrypted (check $TEE_ATTEST_KEK or the KEK file)"
                            .into(),
                    ))
                }
            },
            None => {
                let sealed = kek.seal(KEK_CHECK_AAD, KEK_CHECK_TEXT)?;
                conn.execute(
                    "INSERT OR IGNORE INTO meta (k, v) VALUES ('kek_check', ?1)",
                    params![sealed],
                )
                .map_err(KeyReleaseError::store)?;
            }
        }
        Ok(Self {
            conn: Mutex::new(conn),
            kek,
        })
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>> {
        self.conn
            .lock()
            .map_err(|_| KeyReleaseError::Store("the store lock is poisoned".into()))
    }

    fn insert(&self, conn: &Connection, v: NewVersion<'_>) -> Result<KeyInfo> {
        let sealed = self.kek.seal(&aad(v.name, v.version, v.spec), v.material)?;
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
    pub fn create(&self, name: &str, spec: KeySpec, policy: &str) -> Result<KeyInfo> {
        // Cheap checks before the (slow, for RSA) key generation.
        check_name(name)?;
        ReleasePolicy::parse(policy)?;
        let (material, public) = generate_key(spec)?;
        self.import(name, spec, &material, public, policy)
    }

    /// Import existing material (`oct`: 32 raw bytes; RSA/EC: PKCS#8) as
    /// key `name` version 1.
    pub fn import(
        &self,
        name: &str,
        spec: KeySpec,
        material: &[u8],
        public_jwk: Value,
        policy: &str,
    ) -> Result<KeyInfo> {
        check_name(name)?;
        ReleasePolicy::parse(policy)?;
        let conn = self.conn()?;
        if latest_version(&conn, name)?.is_some() {
            return Err(KeyReleaseError::KeyExists(name.to_string()));
        }
        self.insert(
            &conn,
            NewVersion {
                name,
                version: 1,
                spec,
                policy,
                material,
                public_jwk: &public_jwk,
            },
        )
    }

    /// A new version of `name` with fresh material of the same type; the
    /// release policy is `policy` if given, else the current one.
    pub fn rotate(&self, name: &str, policy: Option<&str>) -> Result<KeyInfo> {
        if let Some(p) = policy {
            ReleasePolicy::parse(p)?;
        }
        let conn = self.conn()?;
        let current = get(&conn, name, None)?.ok_or_else(|| KeyReleaseError::KeyNotFound {
            name: name.to_string(),
            version: None,
        })?;
        let (material, public) = generate_key(current.spec)?;
        let version = current
            .version
            .checked_add(1)
            .ok_or_else(|| KeyReleaseError::Store("too many versions".into()))?;
        self.insert(
            &conn,
            NewVersion {
                name,
                version,
                spec: current.spec,
                policy: policy.unwrap_or(&current.policy),
                material: &material,
                public_jwk: &public,
            },
        )
    }

    /// Delete every version of `name` (and its nonces). Returns how many
    /// versions were deleted (code 8 if none).
    pub fn delete(&self, name: &str) -> Result<usize> {
        let conn = self.conn()?;
        let n = conn
            .execute("DELETE FROM keys WHERE name = ?1", params![name])
            .map_err(KeyReleaseError::store)?;
        conn.execute("DELETE FROM release_nonces WHERE name = ?1", params![name])
            .map_err(KeyReleaseError::store)?;
        if n == 0 {
            return Err(KeyReleaseError::KeyNotFound {
                name: name.to_string(),
                version: None,
            });
        }
        Ok(n)
    }

    /// Every key version, by name then version.
    pub fn list(&self) -> Result<Vec<KeyInfo>> {
        let conn = self.conn()?;
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
    pub fn get(&self, name: &str, version: Option<u32>) -> Result<Option<KeyInfo>> {
        get(&*self.conn()?, name, version)
    }

    /// The decrypted material of a key version. Code 1 if it does not
    /// decrypt (wrong KEK, or a changed row).
    pub fn material(&self, key: &KeyInfo) -> Result<Zeroizing<Vec<u8>>> {
        let sealed: Vec<u8> = self
            .conn()?
            .query_row(
                "SELECT material FROM keys WHERE name = ?1 AND version = ?2",
                params![key.name, key.version],
                |r| r.get(0),
            )
            .optional()
            .map_err(KeyReleaseError::store)?
            .ok_or_else(|| KeyReleaseError::KeyNotFound {
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
    /// used before (a replay).
    pub fn use_nonce(&self, name: &str, nonce: &str) -> Result<bool> {
        let n = self
            .conn()?
            .execute(
                "INSERT OR IGNORE INTO release_nonces (name, nonce, used_at) VALUES (?1, ?2, ?3)",
                params![name, nonce, now()],
            )
            .map_err(KeyReleaseError::store)?;
        Ok(n == 1)
    }

    /// Append an audit row; returns its id.
    pub fn audit(&self, r: &AuditRecord) -> Result<i64> {
        let conn = self.conn()?;
        conn.execute(
            "INSERT INTO audit (time, key, version, jti, issuer, decision, reason)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![r.time, r.key, r.version, r.jti, r.issuer, r.decision, r.reason],
        )
        .map_err(KeyReleaseError::store)?;
        Ok(conn.last_insert_rowid())
    }

    /// The audit rows, oldest first (at most `limit`, the latest ones).
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditRecord>> {
        let conn = self.conn()?;
        let mut stmt = conn
            .prepare(
                "SELECT id, time, key, version, jti, issuer, decision, reason FROM audit
                 ORDER BY id DESC LIMIT ?1",
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
                })
            })
            .map_err(KeyReleaseError::store)?
            .collect::<rusqlite::Result<Vec<_>>>()
            .map_err(KeyReleaseError::store)?;
        rows.reverse();
        Ok(rows)
    }
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

fn info((name, version, kty, created, policy, jwk): Row) -> Result<KeyInfo> {
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

    #[test]
    fn create_rotate_delete_and_material_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("keys.db");
        let kek_hex = "11".repeat(32);
        let s = KeyStore::open(&db, Kek::parse(&kek_hex).unwrap()).unwrap();
        let k1 = s.create("k-1", KeySpec::Oct256, POLICY).unwrap();
        assert_eq!(k1.version, 1);
        assert!(matches!(
            s.create("k-1", KeySpec::Oct256, POLICY),
            Err(KeyReleaseError::KeyExists(_))
        ));
        let m1 = s.material(&k1).unwrap();
        assert_eq!(m1.len(), 32);
        let k2 = s.rotate("k-1", None).unwrap();
        assert_eq!(k2.version, 2);
        assert_eq!(k2.policy, POLICY);
        assert_ne!(*s.material(&k2).unwrap(), *m1);
        assert_eq!(s.get("k-1", None).unwrap().unwrap().version, 2);
        assert_eq!(s.get("k-1", Some(1)).unwrap().unwrap(), k1);
        for spec in [KeySpec::Rsa2048, KeySpec::EcP256, KeySpec::EcP384] {
            let name = format!("k-{}", spec.name());
            let k = s.create(&name, spec, POLICY).unwrap();
            let m = s.material(&k).unwrap();
            assert_eq!(m[0], 0x30, "PKCS#8 DER");
            assert_eq!(k.public_jwk["kty"], spec.kty());
        }
        assert_eq!(s.list().unwrap().len(), 5);
        assert_eq!(s.delete("k-1").unwrap(), 2);
        assert!(s.get("k-1", None).unwrap().is_none());
        assert!(matches!(
            s.delete("k-1"),
            Err(KeyReleaseError::KeyNotFound { .. })
        ));
        assert!(s.create("bad name", KeySpec::Oct256, POLICY).is_err());
        assert!(matches!(
            s.create("p", KeySpec::Oct256, "{}"),
            Err(KeyReleaseError::Policy(_))
        ));
        assert!(s.use_nonce("k", "n").unwrap());
        assert!(!s.use_nonce("k", "n").unwrap());
        assert!(s.use_nonce("other", "n").unwrap());
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
        assert_eq!(s.list().unwrap().len(), 3);
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

    #[test]
    fn audit_rows_keep_order() {
        let s = KeyStore::in_memory(Kek::generate().unwrap()).unwrap();
        let mut r = AuditRecord::new("k", "refused");
        r.reason = Some("why".into());
        s.audit(&r).unwrap();
        s.audit(&AuditRecord::new("k", "released")).unwrap();
        let log = s.audit_log(10).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log[0].decision, "refused");
        assert_eq!(log[1].decision, "released");
        assert_eq!(s.audit_log(1).unwrap()[0].decision, "released");
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
