//! `tee-attest keys`: the key broker's store — create, list, rotate, delete
//! keys with their release policies, and read the audit of release
//! decisions. Key material never leaves the store here: it is released only
//! wrapped to an attested vTPM, by the release service in `serve`.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde_json::{json, Value};
use tee_attest_core::{Error, ErrorCode, Result};
use tee_attest_keyrelease::store::{KeyInfo, DB_FILE, KEK_FILE};
use tee_attest_keyrelease::{Kek, KeySpec, KeyStore};

use tee_attest_store::{Pg, StoreChoice};

use super::common::{data_dir, read_input, runtime, FileKind};

/// Where the store is.
#[derive(Args, Debug, Clone)]
pub struct StoreArgs {
    /// The key database (default: DATA_DIR/keyrelease/keys.db).
    #[arg(long)]
    pub db: Option<PathBuf>,
    /// The key-encryption key file, when $TEE_ATTEST_KEK is not set
    /// (default: DATA_DIR/keyrelease/kek; created 0600 on first use).
    #[arg(long)]
    pub kek_file: Option<PathBuf>,
    /// The data directory.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The shared store of a fleet, as `serve --store`: `local` (default)
    /// or a postgres:// URL (default: $TEE_ATTEST_STORE).
    #[arg(long, value_name = "URL", conflicts_with = "db")]
    pub store: Option<String>,
    /// CA certificates (PEM) for TLS to the database, as `serve --store-ca`.
    #[arg(long, value_name = "FILE")]
    pub store_ca: Option<PathBuf>,
}

impl StoreArgs {
    async fn open(&self) -> Result<KeyStore> {
        let dir = data_dir(self.data_dir.as_deref());
        let kek_file = self.kek_file.clone().unwrap_or_else(|| dir.join(KEK_FILE));
        let kek = Kek::from_env_or_file(&kek_file)?;
        let choice = match &self.db {
            // An explicit database file is local whatever the environment says.
            Some(_) => StoreChoice::Local,
            None => StoreChoice::from_args(self.store.as_deref(), self.store_ca.clone())?,
        };
        match choice.postgres() {
            Some(opts) => {
                let pg = Pg::connect(opts).await?;
                Ok(KeyStore::open_postgres(&pg, kek).await?)
            }
            None => {
                let db = self.db.clone().unwrap_or_else(|| dir.join(DB_FILE));
                Ok(KeyStore::open(&db, kek)?)
            }
        }
    }
}

/// The `keys` subcommands.
#[derive(Subcommand, Debug)]
pub enum KeysCmd {
    /// Create a key (version 1) with a release policy (Key Vault SKR JSON).
    Create {
        /// The key's name (A-Z a-z 0-9 -, at most 127).
        name: String,
        /// The key type: oct (AES-256), RSA, EC.
        #[arg(long)]
        kty: String,
        /// RSA: 2048 (default) or 3072; EC: P-256 (default) or P-384.
        #[arg(long)]
        size: Option<String>,
        /// The release policy file (JSON), or `-` for standard input.
        #[arg(long)]
        policy: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// List keys and versions (no key material).
    List {
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Create a new version of a key (fresh material, same type).
    Rotate {
        /// The key's name.
        name: String,
        /// A new release policy for the new version (default: the current one).
        #[arg(long)]
        policy: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete a key and all its versions.
    Delete {
        /// The key's name.
        name: String,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print the audit of release decisions, oldest first (refusals of one
    /// key with the same issuer and reason share a row with a `count`,
    /// within the store's refusal window: 1 hour by default).
    Audit {
        /// At most this many (the latest).
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[command(flatten)]
        store: StoreArgs,
    },
}

fn read_policy(path: &str) -> Result<String> {
    String::from_utf8(read_input(path, FileKind::Policy)?).map_err(|e| {
        Error::with_source(
            ErrorCode::InvalidInputParameter,
            format!("the release policy {path} is not UTF-8"),
            e,
        )
    })
}

fn info_json(k: &KeyInfo) -> Value {
    json!({
        "name": k.name,
        "version": k.version,
        "kty": k.spec.kty(),
        "type": k.spec.name(),
        "created": k.created,
        "public_jwk": k.public_jwk,
        "release_policy": serde_json::from_str::<Value>(&k.policy).unwrap_or(Value::Null),
    })
}

fn print(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// Run a `keys` subcommand.
pub fn run(cmd: KeysCmd) -> Result<()> {
    runtime()?.block_on(run_async(cmd))
}

async fn run_async(cmd: KeysCmd) -> Result<()> {
    match cmd {
        KeysCmd::Create {
            name,
            kty,
            size,
            policy,
            store,
        } => {
            let spec = KeySpec::from_kty(&kty, size.as_deref())?;
            let policy = read_policy(&policy)?;
            let k = store.open().await?.create(&name, spec, &policy).await?;
            print(&info_json(&k));
        }
        KeysCmd::List { store } => {
            let keys = store.open().await?.list().await?;
            print(&Value::Array(keys.iter().map(info_json).collect()));
        }
        KeysCmd::Rotate {
            name,
            policy,
            store,
        } => {
            let policy = policy.as_deref().map(read_policy).transpose()?;
            let k = store.open().await?.rotate(&name, policy.as_deref()).await?;
            print(&info_json(&k));
        }
        KeysCmd::Delete { name, store } => {
            let n = store.open().await?.delete(&name).await?;
            print(&json!({"deleted": name, "versions": n}));
        }
        KeysCmd::Audit { limit, store } => {
            let rows = store.open().await?.audit_log(limit).await?;
            let rows: Vec<Value> = rows
                .iter()
                .map(|r| {
                    json!({
                        "id": r.id, "time": r.time, "last_time": r.last_time, "count": r.count,
                        "key": r.key, "version": r.version, "jti": r.jti, "issuer": r.issuer,
                        "decision": r.decision, "reason": r.reason,
                    })
                })
                .collect();
            print(&Value::Array(rows));
        }
    }
    Ok(())
}
