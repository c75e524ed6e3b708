//! The live set of token-signing keys and their rotation (issue 16).
//!
//! A [`KeySet`] holds the **current** key (signs), an optional **next** key
//! (published in `/certs`, signs from its activation time on) and an
//! optional **previous** key (published only, until every token it signed
//! has expired). `tee-attest admin rotate-signing-key` stages the next key
//! in the data directory ([`KeySet::stage_next`]); a serving [`KeySet`]
//! notices it within a second, publishes it, and switches to it at its
//! activation time: the previous key then stays published for the longest
//! token validity ([`KeySet::max_validity_secs`]) and is retired.
//!
//! Files in the data directory (0600, written with
//! [`write_private_atomic`](crate::fsutil::write_private_atomic) under the
//! [`FirstUseLock`](crate::fsutil::FirstUseLock)): `signing-key.next.pk8`,
//! `signing-cert.next.der` (the staged key), `signing-cert.previous.der`
//! (the retiring key's certificate: only the certificate, its private key
//! is deleted when it stops signing) and `rotation.json`
//! (`{"next_activate_at": unix secs, "previous_retire_at": unix secs}`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tee_attest_tpm::RsaPublic;

use crate::signer::{CERT_FILE, KEY_FILE};
use crate::{TokenSigner, VerifierError};

/// The staged key's file (PKCS#8).
pub const NEXT_KEY_FILE: &str = "signing-key.next.pk8";
/// The staged key's certificate (DER).
pub const NEXT_CERT_FILE: &str = "signing-cert.next.der";
/// The retiring key's certificate (DER).
pub const PREVIOUS_CERT_FILE: &str = "signing-cert.previous.der";
/// The rotation schedule.
pub const ROTATION_FILE: &str = "rotation.json";

/// A clock in Unix seconds (injectable for tests).
pub type UnixClock = Arc<dyn Fn() -> u64 + Send + Sync>;

fn system_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The rotation schedule stored in `rotation.json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationSchedule {
    /// When the staged next key starts signing (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_activate_at: Option<u64>,
    /// When the previous key leaves `/certs` (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_retire_at: Option<u64>,
}

fn setup(what: &str) -> impl FnOnce(String) -> VerifierError + '_ {
    move |e| VerifierError::Setup(format!("{what}: {e}"))
}

impl RotationSchedule {
    /// The schedule in `dir` (empty when there is none).
    pub fn read(dir: &Path) -> Result<Self, VerifierError> {
        match std::fs::read(dir.join(ROTATION_FILE)) {
            Ok(b) => serde_json::from_slice(&b)
                .map_err(|e| setup("reading rotation.json")(e.to_string())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::default()),
            Err(e) => Err(setup("reading rotation.json")(e.to_string())),
        }
    }

    fn write(&self, dir: &Path) -> Result<(), VerifierError> {
        let bytes =
            serde_json::to_vec(self).map_err(|e| setup("writing rotation.json")(e.to_string()))?;
        crate::fsutil::write_private_atomic(&dir.join(ROTATION_FILE), &bytes)
            .map_err(|e| setup("writing rotation.json")(e.to_string()))
    }
}

/// A key published in `/certs` that no longer signs.
#[derive(Debug, Clone)]
struct Published {
    kid: String,
    jwk: Value,
}

impl Published {
    fn from_cert(cert_der: &[u8]) -> Result<Self, VerifierError> {
        use x509_cert::der::{Decode as _, Encode as _};
        let cert = x509_cert::Certificate::from_der(cert_der)
            .map_err(|e| setup("the previous signing certificate")(e.to_string()))?;
        let spki = cert
            .tbs_certificate
            .subject_public_key_info
            .to_der()
            .map_err(|e| setup("the previous signing certificate")(e.to_string()))?;
        let public = RsaPublic::from_spki_der(&spki)
            .map_err(|e| setup("the previous signing key")(e.to_string()))?;
        let kid = crate::signer::kid_of(cert_der);
        let mut jwk = public.to_jwk();
        if let Some(o) = jwk.as_object_mut() {
            o.insert("kid".into(), json!(kid));
            o.insert("use".into(), json!("sig"));
            o.insert("alg".into(), json!("RS256"));
            o.insert("x5c".into(), json!([STANDARD.encode(cert_der)]));
        }
        Ok(Self { kid, jwk })
    }
}

struct State {
    current: Arc<TokenSigner>,
    next: Option<(Arc<TokenSigner>, u64)>,
    previous: Option<(Published, u64)>,
    /// Bumped whenever the published set changes.
    generation: u64,
    last_scan: u64,
}

/// The live token-signing keys: what signs now and what `/certs` publishes.
pub struct KeySet {
    dir: Option<PathBuf>,
    max_validity_secs: u64,
    clock: UnixClock,
    state: RwLock<State>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeySet")
            .field("dir", &self.dir)
            .field("max_validity_secs", &self.max_validity_secs)
            .finish_non_exhaustive()
    }
}

impl KeySet {
    /// One key, never rotated (no data directory).
    pub fn fixed(signer: TokenSigner) -> Self {
        Self {
            dir: None,
            max_validity_secs: crate::local::MAX_VALIDITY_MINUTES * 60,
            clock: Arc::new(system_now),
            state: RwLock::new(State {
                current: Arc::new(signer),
                next: None,
                previous: None,
                generation: 0,
                last_scan: 0,
            }),
        }
    }

    /// The keys in `dir` (the current one made on first use, as
    /// [`TokenSigner::load_or_generate`] does), with the staged next key
    /// and the retiring previous one. Tokens are valid at most
    /// `max_validity_secs`: a previous key is retired that long after it
    /// stopped signing.
    pub fn open(dir: &Path, max_validity_secs: u64) -> Result<Self, VerifierError> {
        Self::open_with_clock(dir, max_validity_secs, Arc::new(system_now))
    }

    /// [`KeySet::open`] with `clock` for the rotation times.
    pub fn open_with_clock(
        dir: &Path,
        max_validity_secs: u64,
        clock: UnixClock,
    ) -> Result<Self, VerifierError> {
        let current = TokenSigner::load_or_generate(dir)?;
        let schedule = RotationSchedule::read(dir)?;
        let previous = match schedule.previous_retire_at {
            Some(at) => match std::fs::read(dir.join(PREVIOUS_CERT_FILE)) {
                Ok(der) => Some((Published::from_cert(&der)?, at)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(e) => return Err(setup("reading the previous certificate")(e.to_string())),
            },
            None => None,
        };
        let set = Self {
            dir: Some(dir.to_path_buf()),
            max_validity_secs,
            clock,
            state: RwLock::new(State {
                current: Arc::new(current),
                next: None,
                previous,
                generation: 0,
                last_scan: 0,
            }),
        };
        set.tick();
        Ok(set)
    }

    /// The longest a token may be valid, in seconds.
    pub fn max_validity_secs(&self) -> u64 {
        self.max_validity_secs
    }

    /// The key that signs now.
    pub fn current(&self) -> Arc<TokenSigner> {
        self.tick();
        Arc::clone(&self.read().current)
    }

    /// Changes whenever the published key set changes (a new next key, an
    /// activation, a retirement).
    pub fn generation(&self) -> u64 {
        self.tick();
        self.read().generation
    }

    /// The JWKS of every published key: current, next, previous.
    pub fn jwks(&self) -> Value {
        self.tick();
        let s = self.read();
        let mut keys: Vec<Value> = Vec::new();
        for signer in std::iter::once(&s.current).chain(s.next.as_ref().map(|(n, _)| n)) {
            if let Some(k) = signer.jwks()["keys"].as_array() {
                keys.extend(k.iter().cloned());
            }
        }
        if let Some((p, _)) = &s.previous {
            keys.push(p.jwk.clone());
        }
        json!({ "keys": keys })
    }

    /// The published key ids (current, next, previous).
    pub fn kids(&self) -> Vec<String> {
        self.tick();
        let s = self.read();
        let mut kids = vec![s.current.kid().to_string()];
        kids.extend(s.next.as_ref().map(|(n, _)| n.kid().to_string()));
        kids.extend(s.previous.as_ref().map(|(p, _)| p.kid.clone()));
        kids
    }

    /// Stages a fresh next key in `dir`, to sign from `activate_at` (Unix
    /// seconds) on; returns its key id. Refused while another key is staged
    /// or the data directory has no current key yet.
    pub fn stage_next(dir: &Path, activate_at: u64) -> Result<String, VerifierError> {
        let _lock = crate::fsutil::FirstUseLock::acquire(dir)
            .map_err(|e| setup("locking the data directory")(e.to_string()))?;
        if !dir.join(KEY_FILE).exists() {
            return Err(VerifierError::Setup(format!(
                "{} has no signing key yet: start the service once first",
                dir.display()
            )));
        }
        let mut schedule = RotationSchedule::read(dir)?;
        if schedule.next_activate_at.is_some() || dir.join(NEXT_KEY_FILE).exists() {
            return Err(VerifierError::Setup(
                "a next signing key is already staged; wait for its activation".into(),
            ));
        }
        let next = TokenSigner::generate()?;
        crate::fsutil::write_private_atomic(&dir.join(NEXT_CERT_FILE), next.cert_der())
            .map_err(|e| setup("writing the next signing certificate")(e.to_string()))?;
        crate::fsutil::write_private_atomic(&dir.join(NEXT_KEY_FILE), next.pkcs8())
            .map_err(|e| setup("writing the next signing key")(e.to_string()))?;
        schedule.next_activate_at = Some(activate_at);
        schedule.write(dir)?;
        Ok(next.kid().to_string())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies what is due: picks up a newly staged key (the directory is
    /// looked at once a second at most), activates the next key at its
    /// time, retires the previous one at its time.
    fn tick(&self) {
        let now = (self.clock)();
        {
            let s = self.read();
            let scan_due = self.dir.is_some() && now > s.last_scan;
            let next_due = s.next.as_ref().is_some_and(|(_, at)| *at <= now);
            let prev_due = s.previous.as_ref().is_some_and(|(_, at)| *at <= now);
            if !scan_due && !next_due && !prev_due {
                return;
            }
        }
        let mut s = self.write();
        if let Some(dir) = &self.dir {
            if now > s.last_scan {
                s.last_scan = now;
                if s.next.is_none() {
                    match load_staged(dir) {
                        Ok(Some((signer, at))) if signer.kid() != s.current.kid() => {
                            tracing::info!(kid = %signer.kid(), activate_at = at, "next signing key published");
                            s.next = Some((Arc::new(signer), at));
                            s.generation += 1;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %e, "the staged signing key is not usable")
                        }
                    }
                }
            }
        }
        if let Some((next, at)) = s.next.take() {
            if at <= now {
                let retire_at = at.saturating_add(self.max_validity_secs);
                let old = std::mem::replace(&mut s.current, next);
                match Published::from_cert(old.cert_der()) {
                    Ok(p) => s.previous = Some((p, retire_at)),
                    Err(e) => tracing::warn!(error = %e, "the previous key cannot be published"),
                }
                s.generation += 1;
                tracing::info!(kid = %s.current.kid(), retire_previous_at = retire_at, "signing key rotated");
                if let Some(dir) = &self.dir {
                    if let Err(e) = persist_activation(dir, &old, &s.current, retire_at) {
                        tracing::warn!(error = %e, "recording the key rotation in the data directory");
                    }
                }
            } else {
                s.next = Some((next, at));
            }
        }
        if s.previous.as_ref().is_some_and(|(_, at)| *at <= now) {
            s.previous = None;
            s.generation += 1;
            tracing::info!("previous signing key retired");
            if let Some(dir) = &self.dir {
                if let Err(e) = persist_retirement(dir, now) {
                    tracing::warn!(error = %e, "recording the key retirement in the data directory");
                }
            }
        }
    }
}

/// The staged next key and its activation time, if any.
fn load_staged(dir: &Path) -> Result<Option<(TokenSigner, u64)>, VerifierError> {
    let Some(at) = RotationSchedule::read(dir)?.next_activate_at else {
        return Ok(None);
    };
    let key = match std::fs::read(dir.join(NEXT_KEY_FILE)) {
        Ok(k) => zeroize::Zeroizing::new(k),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(setup("reading the next signing key")(e.to_string())),
    };
    let cert = std::fs::read(dir.join(NEXT_CERT_FILE))
        .map_err(|e| setup("reading the next signing certificate")(e.to_string()))?;
    TokenSigner::from_parts(&key, cert).map(|s| Some((s, at)))
}

/// Moves the files: the old certificate to `previous`, the next pair over
/// the current one (certificate first: the key's presence means both are
/// whole), the old private key gone. Another instance sharing the
/// directory may have done it already: then nothing is left to do.
fn persist_activation(
    dir: &Path,
    old: &TokenSigner,
    new: &TokenSigner,
    retire_at: u64,
) -> Result<(), VerifierError> {
    let _lock = crate::fsutil::FirstUseLock::acquire(dir)
        .map_err(|e| setup("locking the data directory")(e.to_string()))?;
    let mut schedule = RotationSchedule::read(dir)?;
    if std::fs::read(dir.join(CERT_FILE)).ok().as_deref() == Some(new.cert_der()) {
        return Ok(());
    }
    let write = |name: &str, bytes: &[u8]| {
        crate::fsutil::write_private_atomic(&dir.join(name), bytes)
            .map_err(|e| setup("rotating the signing key files")(e.to_string()))
    };
    write(PREVIOUS_CERT_FILE, old.cert_der())?;
    write(CERT_FILE, new.cert_der())?;
    write(KEY_FILE, new.pkcs8())?;
    for name in [NEXT_KEY_FILE, NEXT_CERT_FILE] {
        match std::fs::remove_file(dir.join(name)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(setup("removing the staged key files")(e.to_string())),
        }
    }
    schedule.next_activate_at = None;
    schedule.previous_retire_at = Some(retire_at);
    schedule.write(dir)
}

fn persist_retirement(dir: &Path, now: u64) -> Result<(), VerifierError> {
    let _lock = crate::fsutil::FirstUseLock::acquire(dir)
        .map_err(|e| setup("locking the data directory")(e.to_string()))?;
    let mut schedule = RotationSchedule::read(dir)?;
    if schedule.previous_retire_at.is_some_and(|at| at <= now) {
        match std::fs::remove_file(dir.join(PREVIOUS_CERT_FILE)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(setup("removing the previous certificate")(e.to_string())),
        }
        schedule.previous_retire_at = None;
        schedule.write(dir)?;
    }
    Ok(())
}
