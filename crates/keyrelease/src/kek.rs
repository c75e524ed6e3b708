//! The key-encryption key (KEK) that encrypts key material at rest
//! (AES-256-GCM): from `$TEE_ATTEST_KEK` (64 hex digits or the base64 of
//! 32 bytes), else from a file (hex, mode 0600, created on first use).

use std::fmt;
use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use base64::Engine as _;
use zeroize::Zeroizing;

use crate::error::{KeyReleaseError, Result};

/// The environment variable that carries the KEK.
pub const KEK_ENV: &str = "TEE_ATTEST_KEK";
/// The KEK's size (bytes).
pub const KEK_LEN: usize = 32;

/// A 256-bit key-encryption key. Zeroized on drop; never printed.
pub struct Kek(Zeroizing<[u8; KEK_LEN]>);

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Kek(..)")
    }
}

fn kek_err(msg: impl Into<String>) -> KeyReleaseError {
    KeyReleaseError::Kek(msg.into())
}

impl Kek {
    /// A KEK from its 32 bytes.
    pub fn from_bytes(bytes: [u8; KEK_LEN]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// A fresh random KEK.
    pub fn generate() -> Result<Self> {
        let mut k = Zeroizing::new([0u8; KEK_LEN]);
        aws_lc_rs::rand::fill(k.as_mut()).map_err(|_| kek_err("no randomness"))?;
        Ok(Self(k))
    }

    /// A KEK from text: 64 hex digits, or standard/URL-safe base64 of 32
    /// bytes. The error never repeats the text.
    pub fn parse(text: &str) -> Result<Self> {
        let text = Zeroizing::new(text.trim().to_string());
        let bytes: Zeroizing<Vec<u8>> =
            if text.len() == 2 * KEK_LEN && text.bytes().all(|b| b.is_ascii_hexdigit()) {
                Zeroizing::new(hex::decode(text.as_bytes()).map_err(|_| kek_err("bad hex"))?)
            } else {
                let t = text.trim_end_matches('=');
                Zeroizing::new(
                    base64::engine::general_purpose::STANDARD_NO_PAD
                        .decode(t)
                        .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(t))
                        .map_err(|_| kek_err("expected 64 hex digits or the base64 of 32 bytes"))?,
                )
            };
        if bytes.len() != KEK_LEN {
            return Err(kek_err(format!(
                "the key is {} bytes; a key-encryption key is {KEK_LEN} bytes",
                bytes.len()
            )));
        }
        // Straight into the zeroizing array: no copy left on the stack.
        let mut k = Zeroizing::new([0u8; KEK_LEN]);
        k.copy_from_slice(&bytes);
        Ok(Self(k))
    }

    /// The KEK in `$TEE_ATTEST_KEK` if set, else the one in `path`
    /// (created there on first use, mode 0600).
    pub fn from_env_or_file(path: &Path) -> Result<Self> {
        match std::env::var(KEK_ENV).map(Zeroizing::new) {
            // The copy of the value is zeroized; the process environment
            // itself keeps the variable (unset it after start if that
            // matters: docs/SECURITY.md, "Secrets in memory").
            Ok(v) => Self::parse(&v).map_err(|e| kek_err(format!("${KEK_ENV}: {e}"))),
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(kek_err(format!("${KEK_ENV} is not valid UTF-8")))
            }
            Err(std::env::VarError::NotPresent) => Self::load_or_create(path),
        }
    }

    /// The KEK stored in `path` (64 hex digits); created with mode 0600 on
    /// first use (its directory 0700). A file that others can read is
    /// refused. Several processes using a fresh directory at once all get
    /// the same KEK: the first makes it under the directory's first-use
    /// lock and writes it atomically, the others read it.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        if let Some(kek) = Self::load(path)? {
            return Ok(kek);
        }
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or_else(|| Path::new("."));
        let _first_use = tee_attest_verifier::fsutil::FirstUseLock::acquire(dir)
            .map_err(|e| kek_err(format!("locking {}: {e}", dir.display())))?;
        // Another process may have made it while this one waited.
        if let Some(kek) = Self::load(path)? {
            return Ok(kek);
        }
        let kek = Self::generate()?;
        let text = Zeroizing::new(hex::encode(kek.0.as_ref()));
        tee_attest_verifier::fsutil::write_private_atomic(path, text.as_bytes())
            .map_err(|e| kek_err(format!("creating {}: {e}", path.display())))?;
        Ok(kek)
    }

    /// The KEK in `path`, if the file exists.
    fn load(path: &Path) -> Result<Option<Self>> {
        let bytes = match std::fs::read(path) {
            Ok(bytes) => Zeroizing::new(bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(kek_err(format!("reading {}: {e}", path.display()))),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(path)
                .map_err(|e| kek_err(format!("{}: {e}", path.display())))?
                .permissions()
                .mode();
            if mode & 0o077 != 0 {
                return Err(kek_err(format!(
                    "{} is readable by others (mode {:o}); chmod 600 it",
                    path.display(),
                    mode & 0o777
                )));
            }
        }
        let text = std::str::from_utf8(&bytes)
            .map_err(|_| kek_err(format!("{} is not text", path.display())))?;
        Self::parse(text)
            .map(Some)
            .map_err(|e| kek_err(format!("{}: {e}", path.display())))
    }

    fn key(&self) -> Result<LessSafeKey> {
        let unbound = UnboundKey::new(&AES_256_GCM, self.0.as_ref())
            .map_err(|_| kek_err("AES-256-GCM key"))?;
        Ok(LessSafeKey::new(unbound))
    }

    /// AES-256-GCM encrypt `plaintext` bound to `aad`: nonce ‖ ciphertext ‖ tag.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce).map_err(|_| kek_err("no randomness"))?;
        // Room for the tag up front: the buffer holding the plaintext must
        // never be reallocated (and the old copy freed unzeroized).
        let mut buf = Zeroizing::new(Vec::with_capacity(plaintext.len() + AES_256_GCM.tag_len()));
        buf.extend_from_slice(plaintext);
        self.key()?
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(aad),
                &mut *buf,
            )
            .map_err(|_| kek_err("encrypting at rest failed"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buf);
        Ok(out)
    }

    /// Decrypt what [`Kek::seal`] produced with the same `aad`. `None` when it
    /// does not authenticate (wrong KEK, or the row was changed or moved).
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>> {
        if sealed.len() < NONCE_LEN + 16 {
            return Ok(None);
        }
        let (nonce, ct) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| kek_err("nonce"))?;
        let mut buf = Zeroizing::new(ct.to_vec());
        let key = self.key()?;
        let len = match key.open_in_place(nonce, Aad::from(aad), &mut buf) {
            Ok(p) => p.len(),
            Err(_) => return Ok(None),
        };
        buf.truncate(len);
        Ok(Some(buf))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hex_and_base64_and_never_echoes() {
        let hexkey = "00".repeat(31) + "01";
        let a = Kek::parse(&hexkey).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD
            .encode([0u8; 31].iter().chain(&[1u8]).copied().collect::<Vec<_>>());
        let b = Kek::parse(&b64).unwrap();
        assert_eq!(a.0.as_ref(), b.0.as_ref());
        let e = Kek::parse("c2VjcmV0LXRleHQ").unwrap_err().to_string();
        assert!(!e.contains("c2VjcmV0"), "{e}");
        assert_eq!(format!("{a:?}"), "Kek(..)");
    }

    /// Eight first uses of a fresh directory at once (issue 18): all
    /// succeed with the same KEK, stored 0600 in a 0700 directory.
    #[test]
    fn parallel_first_uses_agree_on_one_kek() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("fresh/keyrelease/kek");
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (path, barrier) = (path.clone(), barrier.clone());
                std::thread::spawn(move || {
                    barrier.wait();
                    Kek::load_or_create(&path).map(|k| k.0.to_vec())
                })
            })
            .collect();
        let keys: Vec<Vec<u8>> = handles
            .into_iter()
            .map(|h| h.join().unwrap().expect("every first use succeeds"))
            .collect();
        assert!(keys.iter().all(|k| *k == keys[0]));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
            assert_eq!(mode(&tmp.path().join("fresh")), 0o700);
        }
    }

    #[test]
    fn seal_open_binds_the_aad() {
        let k = Kek::generate().unwrap();
        let s = k.seal(b"a", b"material").unwrap();
        assert_eq!(k.open(b"a", &s).unwrap().unwrap().as_slice(), b"material");
        assert!(k.open(b"b", &s).unwrap().is_none());
        assert!(Kek::generate().unwrap().open(b"a", &s).unwrap().is_none());
        assert!(k.open(b"a", &s[..10]).unwrap().is_none());
    }
}
