//! The fleet's signing keys in the store (`verifier_signing_keys`): the
//! verifier's token-signing key and the ITA profile's PS384 key, PKCS#8
//! sealed under the KEK, written into each instance's data directory at
//! start.

use std::path::Path;

use tee_attest_core::{Error, ErrorCode};
use tee_attest_store::{Pg, StoreError};
use zeroize::Zeroizing;

use super::SharedFailure;
use crate::signer::{CERT_FILE, KEY_FILE};
use crate::TokenSigner;

/// Seals and opens the signing key's PKCS#8 under the KEK: `(aad, data)`.
pub type Seal<'a> = &'a (dyn Fn(&[u8], &[u8]) -> Result<Vec<u8>, Error> + Sync);
/// Opens what [`Seal`] sealed (`None`: wrong KEK or tampered).
pub type Open<'a> = &'a (dyn Fn(&[u8], &[u8]) -> Result<Option<Zeroizing<Vec<u8>>>, Error> + Sync);

const SIGNING_KEY_LOCK: i64 = 0x7465_652d_7369_676e; // "tee-sign"

/// Which of the service's signing keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SigningKeySlot {
    /// The verifier's token-signing key (RS256, the data directory's).
    Verifier,
    /// The ITA profile's PS384 key (`<data-dir>/ita/`), which also signs
    /// its nonces: a nonce issued at one instance verifies at the others.
    Ita,
}

impl SigningKeySlot {
    fn name(self) -> &'static str {
        match self {
            SigningKeySlot::Verifier => "verifier",
            SigningKeySlot::Ita => "ita",
        }
    }

    fn dir(self, data_dir: &Path) -> std::path::PathBuf {
        match self {
            SigningKeySlot::Verifier => data_dir.to_path_buf(),
            SigningKeySlot::Ita => data_dir.join(super::super::ita::KEY_DIR),
        }
    }
}

fn signing_aad(slot: SigningKeySlot, kid: &str) -> Vec<u8> {
    format!("tee-attest {} signing key {kid}", slot.name()).into_bytes()
}

/// Make every instance of a fleet sign with one key: the store's key of
/// `slot`, written into `data_dir` (key 0600, certificate) where
/// [`crate::KeySet::open`] (or the ITA profile) loads it. The first instance (under a
/// transaction-scoped advisory lock) uploads the key of its data directory
/// (made on first use), sealed with `seal`; the store never holds it in
/// clear. Returns the key id. A sealed key the KEK does not open is
/// refused (code 1: the instances do not share the KEK).
pub async fn sync_signing_key(
    pg: &Pg,
    slot: SigningKeySlot,
    data_dir: &Path,
    seal: Seal<'_>,
    open: Open<'_>,
) -> Result<String, Error> {
    let what = "the signing key in the store";
    let fail = |e: StoreError| SharedFailure::of(what, e).into_error();
    let mut client = pg.pool().get().await.map_err(|e| fail(e.into()))?;
    let tx = client.transaction().await.map_err(|e| fail(e.into()))?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&SIGNING_KEY_LOCK])
        .await
        .map_err(|e| fail(e.into()))?;
    let dir = slot.dir(data_dir);
    crate::fsutil::create_private_dir(&dir).map_err(|e| {
        Error::with_source(
            ErrorCode::InitializationFailed,
            "creating the key directory",
            e,
        )
    })?;
    let row = tx
        .query_opt(
            "SELECT kid, sealed_key, cert_der FROM verifier_signing_keys WHERE slot = $1",
            &[&slot.name()],
        )
        .await
        .map_err(|e| fail(e.into()))?;
    let setup =
        |e: crate::VerifierError| Error::new(ErrorCode::InitializationFailed, e.to_string());
    let kid = match row {
        Some(row) => {
            let kid: String = row.try_get("kid").map_err(|e| fail(e.into()))?;
            let sealed: Vec<u8> = row.try_get("sealed_key").map_err(|e| fail(e.into()))?;
            let cert: Vec<u8> = row.try_get("cert_der").map_err(|e| fail(e.into()))?;
            let pk8 = open(&signing_aad(slot, &kid), &sealed)?.ok_or_else(|| {
                Error::new(
                    ErrorCode::InitializationFailed,
                    "the store's signing key does not open with this KEK: every instance of \
                     a fleet needs the same KEK ($TEE_ATTEST_KEK)",
                )
            })?;
            // Checked (the key is the certificate's) before it is written.
            let signer = TokenSigner::from_parts(&pk8, cert).map_err(setup)?;
            let local = std::fs::read(dir.join(CERT_FILE)).ok();
            if local.as_deref() != Some(signer.cert_der()) {
                let write = |file: &str, bytes: &[u8]| {
                    crate::fsutil::write_private_atomic(&dir.join(file), bytes).map_err(|e| {
                        Error::with_source(
                            ErrorCode::InitializationFailed,
                            "writing the store's signing key to the data directory",
                            e,
                        )
                    })
                };
                write(KEY_FILE, signer.pkcs8())?;
                write(CERT_FILE, signer.cert_der())?;
            }
            kid
        }
        None => {
            let signer = TokenSigner::load_or_generate(&dir).map_err(setup)?;
            let kid = signer.kid().to_string();
            let sealed = seal(&signing_aad(slot, &kid), signer.pkcs8())?;
            tx.execute(
                "INSERT INTO verifier_signing_keys (slot, kid, sealed_key, cert_der, created_at) \
                 VALUES ($1, $2, $3, $4, now())",
                &[&slot.name(), &kid, &sealed, &signer.cert_der()],
            )
            .await
            .map_err(|e| fail(e.into()))?;
            kid
        }
    };
    tx.commit().await.map_err(|e| fail(e.into()))?;
    Ok(kid)
}
