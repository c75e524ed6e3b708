//! The vTPM's ephemeral key as a [`Decryptor`]: each call opens the TPM,
//! re-creates the key (the same key within one boot while PCRs 0–7 hold),
//! and decrypts under its PCR policy. Works from any process of the CVM.

use async_trait::async_trait;
use tee_attest_core::{Decryptor, Error, ErrorCode, Result, RsaDecryptScheme};
use zeroize::Zeroizing;

use super::Tpm;
use crate::verify::RsaPublic;
use crate::TpmError;

/// Decrypts with the ephemeral key inside the TPM.
#[derive(Debug, Clone)]
pub struct TpmDecryptor {
    tcti: Option<String>,
    public: RsaPublic,
}

impl TpmDecryptor {
    /// Open the TPM (`tcti`, else [`Tpm::open`]'s defaults) and learn the
    /// ephemeral key's public part.
    pub fn open(tcti: Option<&str>) -> Result<Self, TpmError> {
        let mut tpm = Tpm::open(tcti)?;
        let key = tpm.ephemeral_key()?;
        let public = key.key.clone();
        tpm.flush_ephemeral_key(key);
        Ok(Self {
            tcti: tcti.map(str::to_string),
            public,
        })
    }

    /// The ephemeral key's public part.
    pub fn public(&self) -> &RsaPublic {
        &self.public
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
        let tcti = self.tcti.clone();
        let expected = self.public.clone();
        let ciphertext = ciphertext.to_vec();
        let task = tokio::task::spawn_blocking(move || -> Result<Zeroizing<Vec<u8>>, TpmError> {
            let mut tpm = Tpm::open(tcti.as_deref())?;
            let key = tpm.ephemeral_key()?;
            if key.key != expected {
                tpm.flush_ephemeral_key(key);
                return Err(TpmError::Decrypt {
                    source: "the ephemeral key is gone: PCRs 0-7 changed or the TPM was reset since attestation".into(),
                });
            }
            let out = tpm.decrypt(&key, scheme, &ciphertext);
            tpm.flush_ephemeral_key(key);
            out
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
