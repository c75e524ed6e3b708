//! The vTPM half of an Azure CVM's evidence, the same on SEV-SNP and TDX:
//! fresh user data into the HCL, the HCL report, the AK, a PCR quote, and
//! the ephemeral key certified by the AK — made once per provider and
//! shared with its decryptor.
//!
//! One evidence request is one TPM operation ([`TpmAccess::run`]): the
//! cross-process vTPM lock is held from the user-data write to the HCL
//! report read (and through the quote and the certification), so that no
//! other process's write refreshes the report in between; every command has
//! a time-out and is retried while the TPM is out of slots; whatever the
//! operation loaded is flushed on every path.

use std::sync::{Arc, Mutex};

use tee_attest_core::{Decryptor, Error, ErrorCode, EvidenceRequest, Result, TpmEvidence};
use tee_attest_tpm::handles::{
    AK_CERT_NV_INDEX, AK_PERSISTENT_HANDLE, HCL_REPORT_NV_INDEX, HCL_USER_DATA_NV_INDEX,
    HCL_USER_DATA_SIZE,
};
use tee_attest_tpm::{CertifiedKey, Quote, SavedKey, Tpm, TpmAccess, TpmDecryptor, TpmError};

use super::{user_data_for, AzureCvmConfig};
use crate::{AzureError, HclReport};

/// What one evidence request got from the vTPM.
pub(crate) struct VtpmEvidence {
    /// The HCL report as read from its NV index (longer than the report).
    pub hcl: Vec<u8>,
    /// The user data written (what the HCL report must now carry).
    pub user_data: [u8; HCL_USER_DATA_SIZE],
    /// The AK, the quote, the certified ephemeral key.
    pub tpm: TpmEvidence,
    /// What the quote and the certification bind as qualifying data.
    pub nonce: Vec<u8>,
}

/// What the TPM task returns.
struct Gathered {
    hcl: Vec<u8>,
    ak_pub: Vec<u8>,
    ak_cert: Option<Vec<u8>>,
    quote: Quote,
    certified: CertifiedKey,
    decryptor: TpmDecryptor,
}

/// The TPM operation of one evidence request, on the context
/// [`TpmAccess::run`] opened (under the vTPM lock).
fn gather(
    tpm: &mut Tpm,
    access: &TpmAccess,
    user_data: &[u8; HCL_USER_DATA_SIZE],
    nonce: &[u8],
    pcrs: &[u32],
    saved: Option<SavedKey>,
) -> Result<Gathered, TpmError> {
    tpm.nv_write(HCL_USER_DATA_NV_INDEX, user_data)?;
    let hcl = tpm.nv_read(HCL_REPORT_NV_INDEX)?;
    let (ak_pub, _) = tpm.read_public(AK_PERSISTENT_HANDLE)?;
    let ak_cert = match tpm.nv_size(AK_CERT_NV_INDEX)? {
        Some(_) => Some(tpm.nv_read(AK_CERT_NV_INDEX)?),
        None => None,
    };
    let quote = tpm.quote(AK_PERSISTENT_HANDLE, pcrs, nonce)?;
    // The decryptor's key when its context still loads (no second key
    // generation), else the key made anew (the same key within one boot).
    let key = match saved
        .and_then(|(ctx, area, public)| tpm.load_ephemeral_key(ctx, area, public).ok())
    {
        Some(k) => k,
        None => tpm.ephemeral_key()?,
    };
    let certified = tpm.certify(&key, AK_PERSISTENT_HANDLE, nonce);
    let saved = tpm.save_ephemeral_key(&key).ok();
    let decryptor =
        TpmDecryptor::from_parts_with(access, key.key.clone(), key.public.clone(), saved);
    tpm.flush_ephemeral_key(key);
    Ok(Gathered {
        hcl,
        ak_pub,
        ak_cert,
        quote,
        certified: certified?,
        decryptor,
    })
}

/// A provider's vTPM: gathers the vTPM half of its evidence and keeps the
/// ephemeral key's decryptor (made once, by the first evidence or the first
/// `decryptor()` call).
#[derive(Debug, Default)]
pub(crate) struct Vtpm {
    decryptor: Mutex<Option<Arc<TpmDecryptor>>>,
}

impl Vtpm {
    fn shared_decryptor(&self) -> Option<Arc<TpmDecryptor>> {
        self.decryptor.lock().ok().and_then(|d| d.clone())
    }

    /// Writes the user data for `request` (its report data, else
    /// SHA-512(nonce ‖ runtime data)), reads the HCL report, quotes the
    /// configured PCRs and certifies the ephemeral key — over the nonce when
    /// `config.nonce_in_quote`. Code 8 for a nonce over 64 bytes; TPM
    /// failures keep their codes (12, 13; 13 also for a TPM command that
    /// timed out, a TPM that stayed out of slots, a vTPM lock held too
    /// long).
    pub(crate) async fn gather(
        &self,
        config: &AzureCvmConfig,
        request: &EvidenceRequest,
    ) -> Result<VtpmEvidence> {
        if request.nonce.len() > 64 {
            return Err(Error::new(
                ErrorCode::InvalidInputParameter,
                format!(
                    "nonce of {} bytes: a TPM quote binds at most 64",
                    request.nonce.len()
                ),
            ));
        }
        let user_data = request
            .report_data
            .unwrap_or_else(|| user_data_for(request));
        let nonce = if config.nonce_in_quote {
            request.nonce.clone()
        } else {
            Vec::new()
        };
        let access = config.tpm_access()?;
        let (pcrs, quoted) = (config.quote_pcrs.clone(), nonce.clone());
        let saved = self.shared_decryptor().and_then(|d| d.saved_key());
        let g = tokio::task::spawn_blocking(move || {
            let worker_access = access.clone();
            access.run(move |tpm| gather(tpm, &worker_access, &user_data, &quoted, &pcrs, saved))
        })
        .await
        .map_err(|e| Error::with_source(ErrorCode::TpmInternalFailure, "TPM task failed", e))??;
        if let Ok(mut d) = self.decryptor.lock() {
            *d = Some(Arc::new(g.decryptor));
        }
        let mut tpm = TpmEvidence::default();
        tpm.ak_pub = g.ak_pub;
        tpm.ak_cert = g.ak_cert;
        tpm.quote = g.quote.attest;
        tpm.quote_signature = g.quote.signature;
        tpm.pcrs = g.quote.pcrs;
        tpm.enc_key_pub = g.certified.public;
        tpm.enc_key_certify_info = g.certified.certify_info;
        tpm.enc_key_certify_signature = g.certified.signature;
        Ok(VtpmEvidence {
            hcl: g.hcl,
            user_data,
            tpm,
            nonce,
        })
    }

    /// The ephemeral key's decryptor: the one the last evidence certified,
    /// else the key made now (the same key within one boot).
    pub(crate) fn decryptor(&self, config: &AzureCvmConfig) -> Result<Arc<dyn Decryptor>> {
        if let Some(d) = self.shared_decryptor() {
            return Ok(d);
        }
        let made = Arc::new(TpmDecryptor::open_with(&config.tpm_access()?)?);
        let mut slot = self
            .decryptor
            .lock()
            .map_err(|_| Error::new(ErrorCode::TpmInternalFailure, "decryptor lock poisoned"))?;
        Ok(slot.get_or_insert(made).clone())
    }
}

/// Checks that the HCL report's variable data carries the user data just
/// written: the paravisor refreshed the report for this request (code 6
/// otherwise).
pub(crate) fn check_fresh(
    hcl: &HclReport,
    user_data: &[u8; HCL_USER_DATA_SIZE],
) -> Result<(), AzureError> {
    if hcl.var_data()?.user_data().as_deref() != Some(&user_data[..]) {
        return Err(AzureError::Binding(
            "the HCL report does not carry the user data just written: it was not refreshed".into(),
        ));
    }
    Ok(())
}
