//! The vTPM's ephemeral key as a [`Decryptor`]: each call runs one TPM
//! operation ([`TpmAccess::run`]: the vTPM lock, a fresh context, a
//! time-out on every command), which loads the key from the context saved
//! when the decryptor was opened (or, if that no longer loads, re-creates
//! it: the same key within one boot while PCRs 0–7 hold), decrypts under
//! its PCR policy, and flushes it. Works from any process of the CVM.

use async_trait::async_trait;
use tee_attest_core::{Decryptor, Error, ErrorCode, Result, RsaDecryptScheme};
use zeroize::Zeroizing;

use super::{Tpm, TpmAccess};
use crate::verify::RsaPublic;
use crate::TpmError;

/// An ephemeral key as saved: its context, its public area
/// (`TPM2B_PUBLIC`) and its public part — what [`Tpm::load_ephemeral_key`]
/// takes to load it again.
pub type SavedKey = (tss_esapi::utils::TpmsContext, Vec<u8>, RsaPublic);

/// Decrypts with the ephemeral key inside the TPM.
#[derive(Debug)]
pub struct TpmDecryptor {
    access: TpmAccess,
    public: RsaPublic,
    public_area: Vec<u8>,
    /// The key's saved context: loading it costs far less than re-creating
    /// the key (an RSA key generation inside the TPM).
    saved: std::sync::Mutex<Option<tss_esapi::utils::TpmsContext>>,
}

impl TpmDecryptor {
    /// Open the TPM (`tcti`, else [`Tpm::open`]'s defaults; the lock and
    /// time-out from the environment, see [`TpmAccess::resolve`]) and learn
    /// the ephemeral key's public part.
    pub fn open(tcti: Option<&str>) -> Result<Self, TpmError> {
        Self::open_with(&TpmAccess::resolve(tcti, None, None)?)
    }

    /// [`TpmDecryptor::open`] through `access`.
    pub fn open_with(access: &TpmAccess) -> Result<Self, TpmError> {
        let (public, public_area, saved) = access.run(|tpm| {
            let key = tpm.ephemeral_key()?;
            let public = key.key.clone();
            let public_area = key.public.clone();
            let saved = tpm.save_ephemeral_key(&key).ok();
            tpm.flush_ephemeral_key(key);
            Ok((public, public_area, saved))
        })?;
        Ok(Self {
            access: access.clone(),
            public,
            public_area,
            saved: std::sync::Mutex::new(saved),
        })
    }

    /// A decryptor for a key already made: its public part and public area
    /// (`TPM2B_PUBLIC`), and its saved context (see
    /// [`Tpm::save_ephemeral_key`]) when there is one. An evidence provider
    /// hands over the very key it certified, so that nothing creates a
    /// second one. The lock and time-out come from the environment; see
    /// [`TpmDecryptor::from_parts_with`].
    pub fn from_parts(
        tcti: Option<&str>,
        public: RsaPublic,
        public_area: Vec<u8>,
        saved: Option<tss_esapi::utils::TpmsContext>,
    ) -> Self {
        let access = TpmAccess::resolve(tcti, None, None).unwrap_or_else(|_| TpmAccess::new(tcti));
        Self::from_parts_with(&access, public, public_area, saved)
    }

    /// [`TpmDecryptor::from_parts`] through `access`.
    pub fn from_parts_with(
        access: &TpmAccess,
        public: RsaPublic,
        public_area: Vec<u8>,
        saved: Option<tss_esapi::utils::TpmsContext>,
    ) -> Self {
        Self {
            access: access.clone(),
            public,
            public_area,
            saved: std::sync::Mutex::new(saved),
        }
    }

    /// The key's saved context, public area and public part, for loading
    /// the same key again in another session (e.g. to certify it).
    pub fn saved_key(&self) -> Option<SavedKey> {
        let saved = self.saved.lock().ok().and_then(|s| s.clone())?;
        Some((saved, self.public_area.clone(), self.public.clone()))
    }

    /// The ephemeral key's public part.
    pub fn public(&self) -> &RsaPublic {
        &self.public
    }

    /// How it reaches the TPM.
    pub fn access(&self) -> &TpmAccess {
        &self.access
    }
}

#[async_trait]
impl Decryptor for TpmDecryptor {
    fn public_jwk(&self) -> serde_json::Value {
        self.public.to_jwk()
    }

    async fn decrypt(
        &self,
        scheme: RsaDecryptScheme,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>> {
        let access = self.access.clone();
        let expected = self.public.clone();
        let public_area = self.public_area.clone();
        let saved = self.saved.lock().ok().and_then(|s| s.clone());
        let ciphertext = ciphertext.to_vec();
        let task = tokio::task::spawn_blocking(move || {
            access.run(move |tpm: &mut Tpm| {
                let loaded = saved.and_then(|ctx| {
                    tpm.load_ephemeral_key(ctx, public_area, expected.clone())
                        .ok()
                });
                let key = match loaded {
                    Some(k) => k,
                    None => tpm.ephemeral_key()?,
                };
                if key.key != expected {
                    tpm.flush_ephemeral_key(key);
                    return Err(TpmError::Decrypt {
                        source: "the ephemeral key is gone: PCRs 0-7 changed or the TPM was reset since attestation".into(),
                    });
                }
                let out = tpm.decrypt(&key, scheme, &ciphertext);
                tpm.flush_ephemeral_key(key);
                out
            })
        });
        match task.await {
            Ok(r) => r.map_err(Error::from),
            Err(e) => Err(Error::with_source(
                ErrorCode::DecryptTpmError,
                "TPM decryption task failed",
                e,
            )),
        }
    }
}
