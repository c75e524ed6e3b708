//! The envelope scheme: AES-256-GCM in chunks (a STREAM construction) under
//! a fresh key wrapped with RSA-OAEP-SHA256 to the recipient.
//!
//! Ciphertext: chunk₀ ‖ chunk₁ ‖ … ‖ chunkₙ, each chunk the AES-256-GCM
//! ciphertext of up to `chunk_size` plaintext bytes followed by its 16-byte
//! tag. Every chunk but the last holds exactly `chunk_size` bytes; the last
//! holds fewer (possibly none: when the plaintext is a multiple of the chunk
//! size, an empty last chunk follows). The nonce of chunk i is
//! `nonce_prefix (7 bytes) ‖ i (u32, big-endian) ‖ last (1 byte: 1 for the
//! last chunk, else 0)`, and every chunk's additional data is the SHA-256 of
//! the metadata's fields, so that truncation, reordering, a chunk moved from
//! another message and any change to the metadata fail authentication.

use std::io::{Read, Write};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use tee_attest_core::{Decryptor, RsaDecryptScheme};
use tee_attest_keys::RsaPublic;
use zeroize::Zeroizing;

use crate::key::jwk_thumbprint;
use crate::{BrokerError, RecipientKey, Result, RsaScheme};

/// The metadata format's version.
pub const METADATA_VERSION: u32 = 1;
/// The metadata's `scheme`.
pub const ENVELOPE_SCHEME: &str = "envelope";
/// The metadata's `cipher`.
pub const CIPHER: &str = "AES-256-GCM";
/// The metadata's `key_wrap` (JWA name of RSA-OAEP with SHA-256).
pub const KEY_WRAP: &str = "RSA-OAEP-256";
/// The default chunk size: 64 KiB.
pub const DEFAULT_CHUNK_SIZE: u32 = 64 * 1024;
/// The smallest chunk size accepted.
pub const MIN_CHUNK_SIZE: u32 = 256;
/// The largest chunk size accepted (bounds a decryptor's memory).
pub const MAX_CHUNK_SIZE: u32 = 4 * 1024 * 1024;
/// The largest metadata accepted, in bytes.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;

const TAG_LEN: usize = 16;
const KEY_LEN: usize = 32;
const NONCE_PREFIX_LEN: usize = 7;
const AAD_DOMAIN: &[u8] = b"tee-attest/envelope/v1\0";

/// The envelope's metadata: versioned JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvelopeMetadata {
    /// Format version: 1.
    pub version: u32,
    /// `envelope`.
    pub scheme: String,
    /// `AES-256-GCM`.
    pub cipher: String,
    /// `RSA-OAEP-256`.
    pub key_wrap: String,
    /// The recipient key's `kid` (`TpmEphemeralEncryptionKey`).
    pub kid: String,
    /// The recipient key's RFC 7638 SHA-256 thumbprint, base64url.
    pub key_thumbprint: String,
    /// The AES key, RSA-OAEP-SHA256-encrypted to the recipient, base64url.
    pub wrapped_key: String,
    /// The 7-byte nonce prefix, base64url.
    pub nonce_prefix: String,
    /// Plaintext bytes per chunk.
    pub chunk_size: u32,
}

impl EnvelopeMetadata {
    /// The metadata as JSON bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        // Serialising a struct of strings and integers cannot fail.
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parse and check metadata. Code 8 if it is not envelope metadata of a
    /// supported version with well-formed fields.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.is_empty() {
            return Err(BrokerError::SchemeMismatch {
                expected: ENVELOPE_SCHEME.into(),
                found: "empty metadata (direct RSA)".into(),
            });
        }
        if bytes.len() > MAX_METADATA_BYTES {
            return Err(BrokerError::MalformedMetadata(format!(
                "{} bytes; at most {MAX_METADATA_BYTES} are accepted",
                bytes.len()
            )));
        }
        let value: serde_json::Value = serde_json::from_slice(bytes)
            .map_err(|e| BrokerError::MalformedMetadata(format!("not JSON: {e}")))?;
        if let Some(s) = value.get("scheme").and_then(|s| s.as_str()) {
            if s != ENVELOPE_SCHEME {
                return Err(BrokerError::SchemeMismatch {
                    expected: ENVELOPE_SCHEME.into(),
                    found: format!("scheme {:?}", s.chars().take(40).collect::<String>()),
                });
            }
        }
        if let Some(v) = value.get("version") {
            if v.as_u64() != Some(u64::from(METADATA_VERSION)) {
                return Err(BrokerError::MalformedMetadata(format!(
                    "version {v} is not supported (only {METADATA_VERSION})"
                )));
            }
        }
        let meta: EnvelopeMetadata = serde_json::from_value(value)
            .map_err(|e| BrokerError::MalformedMetadata(e.to_string()))?;
        meta.check()?;
        Ok(meta)
    }

    fn check(&self) -> Result<()> {
        let bad = |m: String| Err(BrokerError::MalformedMetadata(m));
        if self.version != METADATA_VERSION {
            return bad(format!("version {} is not supported", self.version));
        }
        if self.scheme != ENVELOPE_SCHEME {
            return Err(BrokerError::SchemeMismatch {
                expected: ENVELOPE_SCHEME.into(),
                found: format!(
                    "scheme {:?}",
                    self.scheme.chars().take(40).collect::<String>()
                ),
            });
        }
        if self.cipher != CIPHER {
            return bad(format!("cipher must be {CIPHER}"));
        }
        if self.key_wrap != KEY_WRAP {
            return bad(format!("key_wrap must be {KEY_WRAP}"));
        }
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&self.chunk_size) {
            return bad(format!(
                "chunk_size {} is outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}",
                self.chunk_size
            ));
        }
        if self.nonce_prefix_bytes()?.len() != NONCE_PREFIX_LEN {
            return bad(format!("nonce_prefix must be {NONCE_PREFIX_LEN} bytes"));
        }
        let wrapped = self.wrapped_key_bytes()?;
        if wrapped.is_empty() || wrapped.len() > crate::key::MAX_MODULUS_BITS / 8 {
            return bad("wrapped_key must be one RSA block".into());
        }
        if self.kid.len() > 256 || self.key_thumbprint.len() > 256 {
            return bad("kid or key_thumbprint too long".into());
        }
        Ok(())
    }

    fn nonce_prefix_bytes(&self) -> Result<Vec<u8>> {
        URL_SAFE_NO_PAD
            .decode(&self.nonce_prefix)
            .map_err(|_| BrokerError::MalformedMetadata("nonce_prefix is not base64url".into()))
    }

    fn wrapped_key_bytes(&self) -> Result<Vec<u8>> {
        URL_SAFE_NO_PAD
            .decode(&self.wrapped_key)
            .map_err(|_| BrokerError::MalformedMetadata("wrapped_key is not base64url".into()))
    }

    /// The additional data of every chunk: SHA-256 over the metadata's
    /// fields, each length-prefixed.
    fn aad(&self) -> Result<[u8; 32]> {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(AAD_DOMAIN);
        ctx.update(&self.version.to_be_bytes());
        ctx.update(&self.chunk_size.to_be_bytes());
        for field in [
            self.cipher.as_bytes(),
            self.key_wrap.as_bytes(),
            self.kid.as_bytes(),
            self.key_thumbprint.as_bytes(),
            &self.wrapped_key_bytes()?,
            &self.nonce_prefix_bytes()?,
        ] {
            // Lengths are bounded by `check`.
            ctx.update(&u32::try_from(field.len()).unwrap_or(u32::MAX).to_be_bytes());
            ctx.update(field);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(ctx.finish().as_ref());
        Ok(out)
    }
}

/// The per-chunk nonces and additional data of one message.
struct Stream {
    key: LessSafeKey,
    prefix: [u8; NONCE_PREFIX_LEN],
    aad: [u8; 32],
    chunk_size: usize,
}

impl Stream {
    /// Seals chunk `index` of `plain` into `out` (`plain.len() + 16` bytes:
    /// ciphertext then tag) in one pass.
    fn seal_chunk(&self, index: u64, last: bool, plain: &[u8], out: &mut [u8]) -> Result<()> {
        let (ct, tag) = out.split_at_mut(plain.len());
        self.key
            .seal_out_of_place_scatter(
                self.nonce(chunk_counter(index)?, last),
                Aad::from(&self.aad),
                plain,
                ct,
                &[],
                tag,
            )
            .map_err(|_| BrokerError::EncryptFailed("AES-256-GCM seal".into()))
    }

    /// Opens chunk `index` (`sealed`: ciphertext then tag) into `out`
    /// (`sealed.len() - 16` bytes) in one pass. On failure `out` holds
    /// garbage the caller must not release.
    fn open_chunk(&self, index: u64, last: bool, sealed: &[u8], out: &mut [u8]) -> Result<()> {
        let counter = u32::try_from(index).map_err(|_| BrokerError::DecryptionFailed)?;
        let ct_len = sealed
            .len()
            .checked_sub(TAG_LEN)
            .ok_or(BrokerError::DecryptionFailed)?;
        let (ct, tag) = sealed.split_at(ct_len);
        self.key
            .open_separate_gather(
                self.nonce(counter, last),
                Aad::from(&self.aad),
                ct,
                tag,
                out,
            )
            .map_err(|_| BrokerError::DecryptionFailed)
    }

    /// The plaintext length of a ciphertext of `len` bytes, or `None` if no
    /// plaintext has that ciphertext length.
    fn plaintext_len(&self, len: usize) -> Option<usize> {
        let full = self.chunk_size + TAG_LEN;
        let (whole, rest) = (len / full, len % full);
        (rest >= TAG_LEN).then(|| whole * self.chunk_size + rest - TAG_LEN)
    }

    fn nonce(&self, counter: u32, last: bool) -> Nonce {
        let mut n = [0u8; 12];
        n[..NONCE_PREFIX_LEN].copy_from_slice(&self.prefix);
        n[NONCE_PREFIX_LEN..11].copy_from_slice(&counter.to_be_bytes());
        n[11] = u8::from(last);
        Nonce::assume_unique_for_key(n)
    }
}

fn chunk_counter(index: u64) -> Result<u32> {
    u32::try_from(index).map_err(|_| {
        BrokerError::InvalidInput("the data has more chunks than a nonce can count".into())
    })
}

/// Writes one chunk's output and, after the last chunk, flushes.
fn emit(
    writer: &mut impl Write,
    bytes: &[u8],
    last: bool,
    error: impl Fn(std::io::Error) -> BrokerError,
) -> Result<()> {
    writer.write_all(bytes).map_err(&error)?;
    if last {
        writer.flush().map_err(&error)?;
    }
    Ok(())
}

/// Reads until `buf` is full or the reader is at its end; returns the count.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Encrypts one message with a fresh AES-256 key. Consumed by use, so that a
/// key and nonce prefix never serve two messages.
pub struct EnvelopeEncryptor {
    stream: Stream,
    metadata: EnvelopeMetadata,
}

impl std::fmt::Debug for EnvelopeEncryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvelopeEncryptor")
            .field("metadata", &self.metadata)
            .finish_non_exhaustive()
    }
}

impl EnvelopeEncryptor {
    /// A fresh key and nonce prefix for `recipient`, 64 KiB chunks.
    pub fn new(recipient: &RecipientKey) -> Result<Self> {
        Self::with_chunk_size(recipient, DEFAULT_CHUNK_SIZE)
    }

    /// A fresh key and nonce prefix for `recipient`, with `chunk_size`
    /// plaintext bytes per chunk (code 8 outside 256 B – 4 MiB).
    pub fn with_chunk_size(recipient: &RecipientKey, chunk_size: u32) -> Result<Self> {
        if !(MIN_CHUNK_SIZE..=MAX_CHUNK_SIZE).contains(&chunk_size) {
            return Err(BrokerError::InvalidInput(format!(
                "chunk size {chunk_size} is outside {MIN_CHUNK_SIZE}..={MAX_CHUNK_SIZE}"
            )));
        }
        let mut key = Zeroizing::new([0u8; KEY_LEN]);
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        aws_lc_rs::rand::fill(key.as_mut())
            .and_then(|()| aws_lc_rs::rand::fill(&mut prefix))
            .map_err(|_| BrokerError::EncryptInit("no randomness for the AES key"))?;
        let wrapped = recipient.encrypt_rsa(RsaScheme::OaepSha256, key.as_ref())?;
        let metadata = EnvelopeMetadata {
            version: METADATA_VERSION,
            scheme: ENVELOPE_SCHEME.into(),
            cipher: CIPHER.into(),
            key_wrap: KEY_WRAP.into(),
            kid: recipient.kid().to_string(),
            key_thumbprint: recipient.thumbprint().to_string(),
            wrapped_key: URL_SAFE_NO_PAD.encode(&wrapped),
            nonce_prefix: URL_SAFE_NO_PAD.encode(prefix),
            chunk_size,
        };
        metadata.check()?;
        let aad = metadata.aad()?;
        let key = UnboundKey::new(&AES_256_GCM, key.as_ref())
            .map_err(|_| BrokerError::EncryptInit("AES-256-GCM refused the key"))?;
        Ok(Self {
            stream: Stream {
                key: LessSafeKey::new(key),
                prefix,
                aad,
                chunk_size: chunk_size as usize,
            },
            metadata,
        })
    }

    /// The metadata that `decrypt` needs (not secret).
    pub fn metadata(&self) -> &EnvelopeMetadata {
        &self.metadata
    }

    /// The ciphertext's length for `plaintext_len` bytes of plaintext.
    pub fn ciphertext_len(&self, plaintext_len: u64) -> u64 {
        let cs = self.stream.chunk_size as u64;
        (plaintext_len / cs + 1) * TAG_LEN as u64 + plaintext_len
    }

    /// Encrypt `data` in memory: each chunk is sealed straight from `data`
    /// into the returned buffer (one pass, no intermediate copy).
    pub fn encrypt(self, data: &[u8]) -> Result<Vec<u8>> {
        let total = usize::try_from(self.ciphertext_len(data.len() as u64))
            .map_err(|_| BrokerError::InvalidInput("data too large".into()))?;
        let mut out = Vec::new();
        out.try_reserve_exact(total)
            .map_err(|_| BrokerError::EncryptInit("cannot allocate the ciphertext"))?;
        let cs = self.stream.chunk_size;
        let mut chunks = data.chunks(cs);
        let mut index = 0u64;
        loop {
            let plain = chunks.next().unwrap_or_default();
            let last = plain.len() < cs;
            // Grown a chunk at a time (within the reserved capacity), so
            // that the zero fill stays in cache just before the seal.
            let start = out.len();
            out.resize(start + plain.len() + TAG_LEN, 0);
            self.stream
                .seal_chunk(index, last, plain, &mut out[start..])?;
            if last {
                return Ok(out);
            }
            index += 1;
        }
    }

    /// Encrypt `data`, held in memory, into `writer` one chunk at a time:
    /// each chunk is sealed straight from `data` into a chunk-sized buffer
    /// and written (memory: one chunk). Returns the plaintext length.
    pub fn encrypt_to(self, data: &[u8], mut writer: impl Write) -> Result<u64> {
        let cs = self.stream.chunk_size;
        let mut buf = vec![0u8; cs + TAG_LEN];
        let mut chunks = data.chunks(cs);
        let mut index = 0u64;
        loop {
            let plain = chunks.next().unwrap_or_default();
            let last = plain.len() < cs;
            let out = &mut buf[..plain.len() + TAG_LEN];
            self.stream.seal_chunk(index, last, plain, out)?;
            emit(&mut writer, out, last, |source| BrokerError::EncryptIo {
                what: "writing the output",
                source,
            })?;
            if last {
                return Ok(data.len() as u64);
            }
            index += 1;
        }
    }

    /// Encrypt everything `reader` yields into `writer`, one chunk at a
    /// time (memory: one chunk). Returns the plaintext length.
    pub fn encrypt_stream(self, mut reader: impl Read, mut writer: impl Write) -> Result<u64> {
        let cs = self.stream.chunk_size;
        let mut buf = Zeroizing::new(vec![0u8; cs + TAG_LEN]);
        let mut index = 0u64;
        let mut total = 0u64;
        loop {
            let n = read_full(&mut reader, &mut buf[..cs]).map_err(|source| {
                BrokerError::EncryptIo {
                    what: "reading the input",
                    source,
                }
            })?;
            let last = n < cs;
            let nonce = self.stream.nonce(chunk_counter(index)?, last);
            let tag = self
                .stream
                .key
                .seal_in_place_separate_tag(nonce, Aad::from(&self.stream.aad), &mut buf[..n])
                .map_err(|_| BrokerError::EncryptFailed("AES-256-GCM seal".into()))?;
            buf[n..n + TAG_LEN].copy_from_slice(tag.as_ref());
            emit(&mut writer, &buf[..n + TAG_LEN], last, |source| {
                BrokerError::EncryptIo {
                    what: "writing the output",
                    source,
                }
            })?;
            total += n as u64;
            if last {
                return Ok(total);
            }
            index += 1;
        }
    }
}

/// Decrypts one envelope once its key was unwrapped in the decryptor.
pub struct EnvelopeDecryptor {
    stream: Stream,
}

impl std::fmt::Debug for EnvelopeDecryptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EnvelopeDecryptor")
            .field("chunk_size", &self.stream.chunk_size)
            .finish_non_exhaustive()
    }
}

impl EnvelopeDecryptor {
    /// Check `metadata`, then unwrap its AES key with `decryptor`
    /// (RSA-OAEP-SHA256 in the vTPM). Code 8 for malformed metadata, 26 if
    /// the key is another one or the unwrap fails.
    pub async fn open(decryptor: &dyn Decryptor, metadata: &[u8]) -> Result<Self> {
        let meta = EnvelopeMetadata::parse(metadata)?;
        let aad = meta.aad()?;
        let prefix_bytes = meta.nonce_prefix_bytes()?;
        let mut prefix = [0u8; NONCE_PREFIX_LEN];
        prefix.copy_from_slice(&prefix_bytes);
        if let Ok(public) = RsaPublic::from_jwk(&decryptor.public_jwk()) {
            let actual = jwk_thumbprint(&public);
            if actual != meta.key_thumbprint {
                return Err(BrokerError::KeyMismatch {
                    expected: meta.key_thumbprint.chars().take(64).collect(),
                    actual,
                });
            }
        }
        let key = decryptor
            .decrypt(RsaDecryptScheme::OaepSha256, &meta.wrapped_key_bytes()?)
            .await
            .map_err(|source| BrokerError::Decryptor { source })?;
        Self::from_key(&key, prefix, aad, meta.chunk_size)
    }

    fn from_key(
        key: &[u8],
        prefix: [u8; NONCE_PREFIX_LEN],
        aad: [u8; 32],
        chunk_size: u32,
    ) -> Result<Self> {
        if key.len() != KEY_LEN {
            return Err(BrokerError::DecryptionFailed);
        }
        let key = UnboundKey::new(&AES_256_GCM, key).map_err(|_| BrokerError::DecryptionFailed)?;
        Ok(Self {
            stream: Stream {
                key: LessSafeKey::new(key),
                prefix,
                aad,
                chunk_size: chunk_size as usize,
            },
        })
    }

    /// Decrypt a whole ciphertext in memory: each chunk is opened straight
    /// from `ciphertext` into the returned buffer (one pass). Returns the
    /// plaintext only if every chunk authenticated and none is missing;
    /// otherwise nothing (the partial buffer is zeroized) and code 26.
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let len = self
            .stream
            .plaintext_len(ciphertext.len())
            .ok_or(BrokerError::DecryptionFailed)?;
        let mut out = Zeroizing::new(Vec::new());
        // Capacity for the whole plaintext up front: no reallocation ever
        // leaves plaintext behind.
        out.try_reserve_exact(len)
            .map_err(|_| BrokerError::InvalidInput("cannot allocate the plaintext".into()))?;
        let full = self.stream.chunk_size + TAG_LEN;
        let mut sealed = ciphertext.chunks(full);
        let mut index = 0u64;
        loop {
            let chunk = sealed.next().ok_or(BrokerError::DecryptionFailed)?;
            let last = chunk.len() < full;
            let start = out.len();
            out.resize(start + chunk.len().saturating_sub(TAG_LEN), 0);
            // On failure `out` is dropped, and zeroized, with what was opened.
            self.stream
                .open_chunk(index, last, chunk, &mut out[start..])?;
            if last {
                return Ok(out);
            }
            index += 1;
        }
    }

    /// Decrypt `ciphertext`, held in memory, into `writer` one chunk at a
    /// time: each chunk is opened straight from `ciphertext` into a
    /// chunk-sized buffer and written only once it authenticated. As with
    /// [`EnvelopeDecryptor::decrypt_stream`], a truncated ciphertext is
    /// only detected at its end, so **on error the caller must discard what
    /// was written**. Returns the plaintext length.
    pub fn decrypt_to(&self, ciphertext: &[u8], mut writer: impl Write) -> Result<u64> {
        let len = self
            .stream
            .plaintext_len(ciphertext.len())
            .ok_or(BrokerError::DecryptionFailed)?;
        let full = self.stream.chunk_size + TAG_LEN;
        // Never larger than the plaintext: it is zeroized when dropped.
        let mut buf = Zeroizing::new(vec![0u8; self.stream.chunk_size.min(len)]);
        let mut sealed = ciphertext.chunks(full);
        let mut index = 0u64;
        loop {
            let chunk = sealed.next().ok_or(BrokerError::DecryptionFailed)?;
            let last = chunk.len() < full;
            let into = &mut buf[..chunk.len().saturating_sub(TAG_LEN)];
            self.stream.open_chunk(index, last, chunk, into)?;
            emit(&mut writer, into, last, |source| BrokerError::DecryptIo {
                what: "writing the output",
                source,
            })?;
            if last {
                return Ok(len as u64);
            }
            index += 1;
        }
    }

    /// Decrypt everything `reader` yields into `writer`, one chunk at a
    /// time. Only chunks that authenticated are written; but truncation is
    /// only detected at the end, so **on error the caller must discard what
    /// was written** (write to a temporary file and rename it on success).
    /// Returns the plaintext length.
    pub fn decrypt_stream(&self, mut reader: impl Read, mut writer: impl Write) -> Result<u64> {
        let full = self.stream.chunk_size + TAG_LEN;
        let mut buf = Zeroizing::new(vec![0u8; full]);
        let mut index = 0u64;
        let mut total = 0u64;
        loop {
            let n = read_full(&mut reader, &mut buf).map_err(|source| BrokerError::DecryptIo {
                what: "reading the input",
                source,
            })?;
            let last = n < full;
            if last && n < TAG_LEN {
                return Err(BrokerError::DecryptionFailed);
            }
            let counter = u32::try_from(index).map_err(|_| BrokerError::DecryptionFailed)?;
            let plain = self
                .stream
                .key
                .open_in_place(
                    self.stream.nonce(counter, last),
                    Aad::from(&self.stream.aad),
                    &mut buf[..n],
                )
                .map_err(|_| BrokerError::DecryptionFailed)?;
            emit(&mut writer, plain, last, |source| BrokerError::DecryptIo {
                what: "writing the output",
                source,
            })?;
            total += plain.len() as u64;
            if last {
                return Ok(total);
            }
            index += 1;
        }
    }
}
