//! A TPM reached through `tss-esapi` and the system's TSS2 libraries.
//!
//! [`Tpm`] is synchronous and not `Send` (the ESAPI context holds raw
//! pointers). Processes sharing a TPM go through [`TpmAccess::run`]: the
//! cross-process vTPM lock, a fresh context on a worker thread, a time-out
//! on every command ([`access`]). Every command a [`Tpm`] sends is retried
//! when the TPM is out of resources ([`RetryPolicy`]), and the objects and
//! sessions it loads are flushed when it is dropped, whatever happened.

pub mod access;
mod decryptor;

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

pub use access::{RetryPolicy, TpmAccess};
pub use decryptor::{SavedKey, TpmDecryptor};

use tss_esapi::{
    attributes::{NvIndexAttributesBuilder, ObjectAttributesBuilder},
    constants::{PropertyTag, SessionType},
    handles::{
        KeyHandle, NvIndexHandle, NvIndexTpmHandle, ObjectHandle, PersistentTpmHandle, TpmHandle,
    },
    interface_types::{
        algorithm::{HashingAlgorithm, PublicAlgorithm},
        dynamic_handles::Persistent,
        key_bits::RsaKeyBits,
        resource_handles::{Hierarchy, NvAuth, Provision},
        session_handles::{AuthSession, PolicySession},
    },
    structures::{
        Data, Digest, HashScheme, MaxNvBuffer, NvPublicBuilder, PcrSelectionListBuilder, PcrSlot,
        Public, PublicBuilder, PublicKeyRsa, PublicRsaParametersBuilder, RsaDecryptionScheme,
        RsaExponent, RsaScheme, Signature, SignatureScheme as TssSignatureScheme,
        SymmetricDefinition, SymmetricDefinitionObject,
    },
    tcti_ldr::TctiNameConf,
    traits::Marshall,
    Context,
};

use access::{jitter, retryable, Watch};
use zeroize::Zeroizing;

use crate::handles::EPHEMERAL_KEY_POLICY_PCRS;
use crate::verify::{RsaPublic, TpmPublic};
use crate::TpmError;
use tee_attest_core::RsaDecryptScheme;

/// The environment variable naming the TCTI, e.g. `swtpm:host=127.0.0.1,port=2321`.
pub const TCTI_ENV: &str = "TEE_ATTEST_TCTI";

const DEFAULT_DEVICES: &[&str] = &["/dev/tpmrm0", "/dev/tpm0"];

/// A quote: the marshalled `TPMS_ATTEST`, its bare signature, and the
/// quoted PCR values (SHA-256 bank).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// Marshalled `TPMS_ATTEST`.
    pub attest: Vec<u8>,
    /// The bare RSASSA signature.
    pub signature: Vec<u8>,
    /// The quoted PCRs and their values, ascending.
    pub pcrs: Vec<(u32, Vec<u8>)>,
}

/// A key certified by the AK (`TPM2_Certify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertifiedKey {
    /// The key's marshalled `TPM2B_PUBLIC`.
    pub public: Vec<u8>,
    /// The marshalled `TPMS_ATTEST` of the certification.
    pub certify_info: Vec<u8>,
    /// The bare signature over `certify_info`.
    pub signature: Vec<u8>,
}

/// The ephemeral encryption key, loaded in the TPM.
#[derive(Debug)]
pub struct EphemeralKey {
    handle: KeyHandle,
    /// The key's marshalled `TPM2B_PUBLIC`.
    pub public: Vec<u8>,
    /// The RSA public key.
    pub key: RsaPublic,
}

/// An open TPM.
///
/// Every command is sent through one wrapper that retries it when the TPM
/// is out of resources (see [`RetryPolicy`]) and, under [`TpmAccess::run`],
/// tells the waiting thread which command is in flight. Transient objects
/// and sessions it creates or loads are flushed when it is dropped, unless
/// flushed before ([`Tpm::flush_ephemeral_key`]): no error path leaks a TPM
/// slot.
pub struct Tpm {
    ctx: Context,
    tcti: String,
    nv_buffer_max: Option<usize>,
    retry: RetryPolicy,
    watch: Option<Arc<Watch>>,
    /// Transient objects and sessions to flush when dropped.
    loaded: Vec<ObjectHandle>,
}

impl Drop for Tpm {
    fn drop(&mut self) {
        for handle in self.loaded.clone() {
            self.flush(handle);
        }
    }
}

impl std::fmt::Debug for Tpm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tpm")
            .field("tcti", &self.tcti)
            .finish_non_exhaustive()
    }
}

fn command(command: &'static str) -> impl FnOnce(tss_esapi::Error) -> TpmError {
    move |e| TpmError::Command {
        command,
        source: Box::new(e),
    }
}

fn wrap(e: tss_esapi::Error) -> TpmError {
    TpmError::InvalidInput(e.to_string())
}

fn pcr_slot(index: u32) -> Result<PcrSlot, TpmError> {
    if index > 23 {
        return Err(TpmError::InvalidInput(format!(
            "PCR {index} is out of range 0..=23"
        )));
    }
    PcrSlot::try_from(1u32 << index).map_err(wrap)
}

fn sha256_selection(pcrs: &[u32]) -> Result<tss_esapi::structures::PcrSelectionList, TpmError> {
    let slots = pcrs
        .iter()
        .map(|&i| pcr_slot(i))
        .collect::<Result<Vec<_>, _>>()?;
    PcrSelectionListBuilder::new()
        .with_selection(HashingAlgorithm::Sha256, &slots)
        .build()
        .map_err(wrap)
}

fn raw_signature(sig: Signature, command_name: &'static str) -> Result<Vec<u8>, TpmError> {
    match sig {
        Signature::RsaSsa(s) | Signature::RsaPss(s) => Ok(s.signature().value().to_vec()),
        other => Err(TpmError::check(
            "tpm.signature-scheme",
            format!(
                "{command_name} returned a {:?} signature, expected RSA",
                other.algorithm()
            ),
        )),
    }
}

fn tss_scheme(scheme: RsaDecryptScheme) -> RsaDecryptionScheme {
    match scheme {
        RsaDecryptScheme::OaepSha256 => {
            RsaDecryptionScheme::Oaep(HashScheme::new(HashingAlgorithm::Sha256))
        }
        RsaDecryptScheme::OaepSha1 => {
            RsaDecryptionScheme::Oaep(HashScheme::new(HashingAlgorithm::Sha1))
        }
        RsaDecryptScheme::OaepSha384 => {
            RsaDecryptionScheme::Oaep(HashScheme::new(HashingAlgorithm::Sha384))
        }
        RsaDecryptScheme::Raw => RsaDecryptionScheme::Null,
        // `RsaDecryptScheme` is non-exhaustive: anything else is PKCS#1 v1.5.
        _ => RsaDecryptionScheme::RsaEs,
    }
}

impl Tpm {
    /// Open the TPM named by `tcti`, else by `$TEE_ATTEST_TCTI`, else
    /// `device:/dev/tpmrm0`, falling back to `device:/dev/tpm0`. Code 12 if
    /// none can be opened. No lock is taken and no time-out applies: for
    /// that, [`TpmAccess::run`].
    pub fn open(tcti: Option<&str>) -> Result<Self, TpmError> {
        Self::open_watched(tcti, RetryPolicy::default(), None)
    }

    /// [`Tpm::open`], reporting each command to `watch`.
    pub(crate) fn open_watched(
        tcti: Option<&str>,
        retry: RetryPolicy,
        watch: Option<Arc<Watch>>,
    ) -> Result<Self, TpmError> {
        let open = |t: &str| -> Result<Self, TpmError> {
            if let Some(w) = &watch {
                w.begin("TCTI initialization (opening the connection)");
            }
            let r = Self::open_tcti(t);
            if let Some(w) = &watch {
                w.end();
            }
            let mut tpm = r?;
            tpm.retry = retry;
            tpm.watch = watch.clone();
            Ok(tpm)
        };
        if let Some(t) = tcti {
            return open(t);
        }
        if let Ok(t) = std::env::var(TCTI_ENV) {
            if !t.is_empty() {
                return open(&t);
            }
        }
        let mut last = None;
        for dev in DEFAULT_DEVICES {
            match open(&format!("device:{dev}")) {
                Ok(tpm) => return Ok(tpm),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| TpmError::InvalidInput("no TPM device configured".into())))
    }

    /// Open the TPM at a TCTI configuration string (`device:/dev/tpmrm0`,
    /// `swtpm:host=127.0.0.1,port=2321`, `mssim:…`, `tabrmd:`).
    pub fn open_tcti(tcti: &str) -> Result<Self, TpmError> {
        let unreachable =
            |source: Box<dyn std::error::Error + Send + Sync>| TpmError::Unreachable {
                tcti: tcti.to_string(),
                source,
            };
        let conf = TctiNameConf::from_str(tcti).map_err(|e| unreachable(Box::new(e)))?;
        if let TctiNameConf::Device(_) = conf {
            // Opening a missing device node makes libtss2 log errors; say it plainly instead.
            let path = tcti.strip_prefix("device:").unwrap_or("/dev/tpm0");
            if !std::path::Path::new(path).exists() {
                return Err(unreachable(format!("{path} does not exist").into()));
            }
        }
        let ctx = Context::new(conf).map_err(|e| unreachable(Box::new(e)))?;
        Ok(Self {
            ctx,
            tcti: tcti.to_string(),
            nv_buffer_max: None,
            retry: RetryPolicy::default(),
            watch: None,
            loaded: Vec::new(),
        })
    }

    /// The same TPM with other retries of commands refused for want of
    /// resources.
    #[must_use]
    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Sends one command (`f` on the context): refused for want of TPM
    /// resources, it is sent again after a jittered backoff, at most
    /// `retry.max_tries` times ([`TpmError::Busy`] after that); any other
    /// failure is [`TpmError::Command`] naming `command`. Under
    /// [`TpmAccess::run`], each try is reported to the waiting thread, and
    /// nothing is sent once it gave up.
    fn cmd<T>(
        &mut self,
        command: &'static str,
        mut f: impl FnMut(&mut Context) -> tss_esapi::Result<T>,
    ) -> Result<T, TpmError> {
        let started = Instant::now();
        let mut delay = self.retry.first_delay;
        let mut tries = 0u32;
        loop {
            tee_attest_core::fault::point("tpm.command");
            if let Some(w) = &self.watch {
                if w.cancelled() {
                    return Err(TpmError::Timeout {
                        command,
                        after: started.elapsed(),
                    });
                }
                w.begin(command);
            }
            tries += 1;
            let result = f(&mut self.ctx);
            if let Some(w) = &self.watch {
                w.end();
            }
            let e = match result {
                Ok(v) => return Ok(v),
                Err(e) => e,
            };
            match retryable(&e) {
                Some((rc, name, what)) if tries >= self.retry.max_tries => {
                    return Err(TpmError::Busy {
                        command,
                        rc,
                        name,
                        what,
                        tries,
                        waited: started.elapsed(),
                    })
                }
                Some((rc, name, _)) => {
                    tracing::debug!(command, rc, name, tries, "TPM busy; retrying");
                    std::thread::sleep(jitter(delay));
                    delay = (delay * 2).min(self.retry.max_delay);
                }
                None => {
                    let source: Box<dyn std::error::Error + Send + Sync> =
                        match access::tcti_failure(&e) {
                            Some(what) => what.into(),
                            None => Box::new(e),
                        };
                    return Err(TpmError::Command { command, source });
                }
            }
        }
    }

    /// Remembers a transient object or session to flush on drop.
    fn track(&mut self, handle: ObjectHandle) {
        self.loaded.push(handle);
    }

    /// Flushes a transient object or session now (and forgets it). Sent
    /// even after the waiting thread gave up (it frees a TPM slot), once,
    /// reported to the watch like any command.
    fn flush(&mut self, handle: ObjectHandle) {
        if let Some(w) = &self.watch {
            w.begin("TPM2_FlushContext");
        }
        let result = self.ctx.flush_context(handle);
        if let Some(w) = &self.watch {
            w.end();
        }
        self.loaded.retain(|h| *h != handle);
        if let Err(e) = result {
            tracing::debug!("flushing a TPM handle failed: {e}");
        }
    }

    /// The TCTI this TPM was opened with.
    pub fn tcti(&self) -> &str {
        &self.tcti
    }

    /// `TPM2_PT_NV_BUFFER_MAX`: the most bytes one NV read or write moves.
    pub fn nv_buffer_max(&mut self) -> Result<usize, TpmError> {
        if let Some(n) = self.nv_buffer_max {
            return Ok(n);
        }
        let n = self
            .cmd("TPM2_GetCapability", |ctx| {
                ctx.get_tpm_property(PropertyTag::NvBufferMax)
            })?
            .map(|n| n as usize)
            .unwrap_or(MaxNvBuffer::MAX_SIZE)
            .clamp(1, MaxNvBuffer::MAX_SIZE);
        self.nv_buffer_max = Some(n);
        Ok(n)
    }

    fn nv_handle(&mut self, index: u32) -> Result<(NvIndexHandle, usize), TpmError> {
        let tpm_handle = NvIndexTpmHandle::new(index).map_err(wrap)?;
        let handle = self.cmd("TPM2_NV_ReadPublic", |ctx| {
            ctx.execute_without_session(|ctx| {
                ctx.tr_from_tpm_public(TpmHandle::NvIndex(tpm_handle))
            })
        })?;
        let nv: NvIndexHandle = handle.into();
        match self.cmd("TPM2_NV_ReadPublic", |ctx| {
            ctx.execute_without_session(|ctx| ctx.nv_read_public(nv))
        }) {
            Ok((public, _)) => Ok((nv, public.data_size())),
            Err(e) => {
                self.close(nv.into());
                Err(e)
            }
        }
    }

    fn close(&mut self, handle: ObjectHandle) {
        let mut handle = handle;
        let _ = self.ctx.tr_close(&mut handle);
    }

    /// The size of an NV index, or `None` if it is not defined.
    pub fn nv_size(&mut self, index: u32) -> Result<Option<usize>, TpmError> {
        match self.nv_handle(index) {
            Ok((h, size)) => {
                self.close(h.into());
                Ok(Some(size))
            }
            Err(TpmError::Command { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Read a whole NV index with owner authorization, in chunks of
    /// `TPM2_PT_NV_BUFFER_MAX`.
    pub fn nv_read(&mut self, index: u32) -> Result<Vec<u8>, TpmError> {
        let chunk = self.nv_buffer_max()?;
        let (nv, size) = self.nv_handle(index)?;
        let mut out = Vec::with_capacity(size);
        let result = (|| {
            while out.len() < size {
                let n = chunk.min(size - out.len());
                let (n16, off16) = (
                    u16::try_from(n)
                        .map_err(|_| TpmError::InvalidInput("NV chunk too large".into()))?,
                    u16::try_from(out.len())
                        .map_err(|_| TpmError::InvalidInput("NV offset too large".into()))?,
                );
                let data = self.cmd("TPM2_NV_Read", |ctx| {
                    ctx.execute_with_session(Some(AuthSession::Password), |ctx| {
                        ctx.nv_read(NvAuth::Owner, nv, n16, off16)
                    })
                })?;
                out.extend_from_slice(&data);
            }
            Ok(())
        })();
        self.close(nv.into());
        result.map(|()| out)
    }

    /// Write `data` at the start of an NV index with owner authorization, in
    /// chunks of `TPM2_PT_NV_BUFFER_MAX`. The index must be large enough.
    pub fn nv_write(&mut self, index: u32, data: &[u8]) -> Result<(), TpmError> {
        let chunk = self.nv_buffer_max()?;
        let (nv, size) = self.nv_handle(index)?;
        if data.len() > size {
            self.close(nv.into());
            return Err(TpmError::InvalidInput(format!(
                "{} bytes do not fit NV index {index:#x} of {size} bytes",
                data.len()
            )));
        }
        let result = data.chunks(chunk).enumerate().try_for_each(|(i, part)| {
            let buf = MaxNvBuffer::try_from(part.to_vec()).map_err(wrap)?;
            let offset = u16::try_from(i * chunk)
                .map_err(|_| TpmError::InvalidInput("NV offset too large".into()))?;
            self.cmd("TPM2_NV_Write", |ctx| {
                ctx.execute_with_session(Some(AuthSession::Password), |ctx| {
                    ctx.nv_write(NvAuth::Owner, nv, buf.clone(), offset)
                })
            })
        });
        self.close(nv.into());
        result
    }

    /// Define an NV index of `size` bytes readable and writable with owner
    /// or index authorization (as the Azure HCL's indices are). For
    /// provisioning mock vTPMs.
    pub fn nv_define(&mut self, index: u32, size: usize) -> Result<(), TpmError> {
        let attributes = NvIndexAttributesBuilder::new()
            .with_owner_write(true)
            .with_owner_read(true)
            .with_auth_write(true)
            .with_auth_read(true)
            .with_no_da(true)
            .build()
            .map_err(wrap)?;
        let public = NvPublicBuilder::new()
            .with_nv_index(NvIndexTpmHandle::new(index).map_err(wrap)?)
            .with_index_name_algorithm(HashingAlgorithm::Sha256)
            .with_index_attributes(attributes)
            .with_data_area_size(size)
            .build()
            .map_err(wrap)?;
        let handle = self.cmd("TPM2_NV_DefineSpace", |ctx| {
            ctx.execute_with_session(Some(AuthSession::Password), |ctx| {
                ctx.nv_define_space(Provision::Owner, None, public.clone())
            })
        })?;
        self.close(handle.into());
        Ok(())
    }

    fn persistent(&mut self, handle: u32) -> Result<KeyHandle, TpmError> {
        let tpm_handle = PersistentTpmHandle::new(handle).map_err(wrap)?;
        let object = self.cmd("TPM2_ReadPublic", |ctx| {
            ctx.execute_without_session(|ctx| {
                ctx.tr_from_tpm_public(TpmHandle::Persistent(tpm_handle))
            })
        })?;
        Ok(object.into())
    }

    fn public_of(&mut self, key: KeyHandle) -> Result<(Vec<u8>, RsaPublic), TpmError> {
        let (public, _, _) = self.cmd("TPM2_ReadPublic", |ctx| {
            ctx.execute_without_session(|ctx| ctx.read_public(key))
        })?;
        marshal_public(&public)
    }

    /// The public part of a persistent key: its marshalled `TPM2B_PUBLIC`
    /// and the RSA key (whose [`RsaPublic::to_jwk`] gives the JWK).
    pub fn read_public(&mut self, handle: u32) -> Result<(Vec<u8>, RsaPublic), TpmError> {
        let key = self.persistent(handle)?;
        let out = self.public_of(key);
        self.close(key.into());
        out
    }

    /// Create an RSA-2048 restricted signing key (RSASSA-SHA256) as a
    /// primary in the endorsement hierarchy and persist it at `handle`, as
    /// an Azure vTPM's AK. For provisioning mock vTPMs.
    pub fn create_persistent_ak(&mut self, handle: u32) -> Result<RsaPublic, TpmError> {
        let attributes = ObjectAttributesBuilder::new()
            .with_fixed_tpm(true)
            .with_fixed_parent(true)
            .with_sensitive_data_origin(true)
            .with_user_with_auth(true)
            .with_sign_encrypt(true)
            .with_restricted(true)
            .build()
            .map_err(wrap)?;
        let public = rsa2048_template(
            attributes,
            RsaScheme::RsaSsa(HashScheme::new(HashingAlgorithm::Sha256)),
            KeyRole::RestrictedSigning,
            None,
        )?;
        let created = self.create_primary(Hierarchy::Endorsement, public)?;
        let result = PersistentTpmHandle::new(handle)
            .map_err(wrap)
            .and_then(|persistent| {
                self.cmd("TPM2_EvictControl", |ctx| {
                    ctx.execute_with_session(Some(AuthSession::Password), |ctx| {
                        ctx.evict_control(
                            Provision::Owner,
                            created.key_handle.into(),
                            Persistent::Persistent(persistent),
                        )
                    })
                })
            });
        self.flush(created.key_handle.into());
        let stored = result?;
        let (_, key) = marshal_public(&created.out_public)?;
        self.close(stored);
        Ok(key)
    }

    /// Quote the SHA-256 PCRs `pcrs` with the key at persistent `ak` over
    /// `qualifying_data` (≤ 64 bytes), and read the quoted values.
    pub fn quote(
        &mut self,
        ak: u32,
        pcrs: &[u32],
        qualifying_data: &[u8],
    ) -> Result<Quote, TpmError> {
        let data = Data::try_from(qualifying_data.to_vec()).map_err(|_| {
            TpmError::InvalidInput(format!(
                "qualifying data of {} bytes is over 64",
                qualifying_data.len()
            ))
        })?;
        let mut sorted = pcrs.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        let selection = sha256_selection(&sorted)?;
        let key = self.persistent(ak)?;
        let result = self.cmd("TPM2_Quote", |ctx| {
            ctx.execute_with_session(Some(AuthSession::Password), |ctx| {
                ctx.quote(
                    key,
                    data.clone(),
                    TssSignatureScheme::Null,
                    selection.clone(),
                )
            })
        });
        self.close(key.into());
        let (attest, signature) = result?;
        let attest = attest.marshall().map_err(command("marshal TPMS_ATTEST"))?;
        let signature = raw_signature(signature, "TPM2_Quote")?;
        let values = self.cmd("TPM2_PCR_Read", |ctx| {
            tss_esapi::abstraction::pcr::read_all(ctx, selection.clone())
        })?;
        let bank = values
            .pcr_bank(HashingAlgorithm::Sha256)
            .ok_or_else(|| TpmError::check("tpm.pcr-read", "the TPM returned no SHA-256 bank"))?;
        let pcrs = sorted
            .iter()
            .map(|&i| {
                let slot = pcr_slot(i)?;
                bank.get_digest(slot)
                    .map(|d| (i, d.value().to_vec()))
                    .ok_or_else(|| {
                        TpmError::check("tpm.pcr-read", format!("PCR {i} was not returned"))
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Quote {
            attest,
            signature,
            pcrs,
        })
    }

    /// Extend a SHA-256 PCR with a digest (for tests: a changed PCR must make
    /// the ephemeral key unusable).
    pub fn pcr_extend_sha256(&mut self, pcr: u32, digest: [u8; 32]) -> Result<(), TpmError> {
        let handle = tss_esapi::handles::PcrHandle::try_from(pcr).map_err(wrap)?;
        let mut values = tss_esapi::structures::DigestValues::new();
        values.set(
            HashingAlgorithm::Sha256,
            Digest::try_from(digest.to_vec()).map_err(wrap)?,
        );
        self.cmd("TPM2_PCR_Extend", |ctx| {
            ctx.execute_with_session(Some(AuthSession::Password), |ctx| {
                ctx.pcr_extend(handle, values.clone())
            })
        })
    }

    fn ephemeral_policy(&mut self, kind: SessionType) -> Result<(AuthSession, Digest), TpmError> {
        let session = self
            .cmd("TPM2_StartAuthSession", |ctx| {
                ctx.start_auth_session(
                    None,
                    None,
                    None,
                    kind,
                    SymmetricDefinition::AES_128_CFB,
                    HashingAlgorithm::Sha256,
                )
            })?
            .ok_or_else(|| TpmError::check("tpm.session", "no session handle returned"))?;
        self.track(session_object(session));
        let digest = PolicySession::try_from(session)
            .map_err(wrap)
            .and_then(|policy| {
                let selection = sha256_selection(EPHEMERAL_KEY_POLICY_PCRS)?;
                self.cmd("TPM2_PolicyPCR", |ctx| {
                    ctx.policy_pcr(policy, Digest::default(), selection.clone())
                })?;
                self.cmd("TPM2_PolicyGetDigest", |ctx| ctx.policy_get_digest(policy))
            });
        match digest {
            Ok(d) => Ok((session, d)),
            Err(e) => {
                self.flush(session_object(session));
                Err(e)
            }
        }
    }

    /// Create (or re-create: the same key within one boot while PCRs 0–7
    /// are unchanged) the ephemeral encryption key: an RSA-2048 decryption
    /// primary in the NULL hierarchy, `fixedTPM`, `fixedParent`,
    /// `sensitiveDataOrigin`, `noDA`, no `userWithAuth`, `authPolicy` =
    /// PolicyPCR over SHA-256 PCRs 0–7. It stays loaded until this `Tpm` is
    /// dropped or [`Tpm::flush_ephemeral_key`] is called.
    pub fn ephemeral_key(&mut self) -> Result<EphemeralKey, TpmError> {
        let (trial, policy_digest) = self.ephemeral_policy(SessionType::Trial)?;
        self.flush(session_object(trial));
        let attributes = ObjectAttributesBuilder::new()
            .with_fixed_tpm(true)
            .with_fixed_parent(true)
            .with_sensitive_data_origin(true)
            .with_no_da(true)
            .with_user_with_auth(false)
            .with_decrypt(true)
            .with_sign_encrypt(false)
            .with_restricted(false)
            .build()
            .map_err(wrap)?;
        let public = rsa2048_template(
            attributes,
            RsaScheme::Null,
            KeyRole::Decryption,
            Some(policy_digest),
        )?;
        let created = self.create_primary(Hierarchy::Null, public)?;
        let (public, key) = match marshal_public(&created.out_public) {
            Ok(p) => p,
            Err(e) => {
                self.flush(created.key_handle.into());
                return Err(e);
            }
        };
        Ok(EphemeralKey {
            handle: created.key_handle,
            public,
            key,
        })
    }

    fn create_primary(
        &mut self,
        hierarchy: Hierarchy,
        public: Public,
    ) -> Result<tss_esapi::structures::CreatePrimaryKeyResult, TpmError> {
        let created = self.cmd("TPM2_CreatePrimary", |ctx| {
            ctx.execute_with_session(Some(AuthSession::Password), |ctx| {
                ctx.create_primary(hierarchy, public.clone(), None, None, None, None)
            })
        })?;
        self.track(created.key_handle.into());
        Ok(created)
    }

    /// Save the ephemeral key's context: a blob that [`Tpm::load_ephemeral_key`]
    /// loads back much faster than [`Tpm::ephemeral_key`] re-creates the key.
    /// It stays loadable until the TPM resets (as long as the key itself).
    pub fn save_ephemeral_key(
        &mut self,
        key: &EphemeralKey,
    ) -> Result<tss_esapi::utils::TpmsContext, TpmError> {
        self.cmd("TPM2_ContextSave", |ctx| {
            ctx.context_save(key.handle.into())
        })
    }

    /// Load an ephemeral key saved by [`Tpm::save_ephemeral_key`] (whose
    /// public parts are `public` and `key`).
    pub fn load_ephemeral_key(
        &mut self,
        saved: tss_esapi::utils::TpmsContext,
        public: Vec<u8>,
        key: RsaPublic,
    ) -> Result<EphemeralKey, TpmError> {
        let handle = self.cmd("TPM2_ContextLoad", |ctx| ctx.context_load(saved.clone()))?;
        self.track(handle);
        Ok(EphemeralKey {
            handle: handle.into(),
            public,
            key,
        })
    }

    /// Unload the ephemeral key (else it is unloaded when this `Tpm` is
    /// dropped).
    pub fn flush_ephemeral_key(&mut self, key: EphemeralKey) {
        self.flush(key.handle.into());
    }

    /// Certify `key` with the AK at persistent `ak` over `qualifying_data`.
    pub fn certify(
        &mut self,
        key: &EphemeralKey,
        ak: u32,
        qualifying_data: &[u8],
    ) -> Result<CertifiedKey, TpmError> {
        let data = Data::try_from(qualifying_data.to_vec()).map_err(|_| {
            TpmError::InvalidInput(format!(
                "qualifying data of {} bytes is over 64",
                qualifying_data.len()
            ))
        })?;
        let signer = self.persistent(ak)?;
        let result = self.cmd("TPM2_Certify", |ctx| {
            ctx.execute_with_sessions(
                (
                    Some(AuthSession::Password),
                    Some(AuthSession::Password),
                    None,
                ),
                |ctx| {
                    ctx.certify(
                        key.handle.into(),
                        signer,
                        data.clone(),
                        TssSignatureScheme::Null,
                    )
                },
            )
        });
        self.close(signer.into());
        let (attest, signature) = result?;
        Ok(CertifiedKey {
            public: key.public.clone(),
            certify_info: attest.marshall().map_err(command("marshal TPMS_ATTEST"))?,
            signature: raw_signature(signature, "TPM2_Certify")?,
        })
    }

    /// Decrypt with the ephemeral key inside the TPM, under its PolicyPCR.
    /// A failing command (wrong ciphertext, changed PCRs) is code 26; a TPM
    /// that stays out of resources ([`TpmError::Busy`]) or stops answering
    /// ([`TpmError::Timeout`]) keeps its code, 13.
    pub fn decrypt(
        &mut self,
        key: &EphemeralKey,
        scheme: RsaDecryptScheme,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, TpmError> {
        let decrypt_err = |e: TpmError| match e {
            TpmError::Command { .. } => TpmError::Decrypt {
                source: Box::new(e),
            },
            other => other,
        };
        let cipher = PublicKeyRsa::try_from(ciphertext.to_vec()).map_err(|_| {
            TpmError::InvalidInput(format!(
                "ciphertext of {} bytes is larger than an RSA key",
                ciphertext.len()
            ))
        })?;
        let (session, _) = self
            .ephemeral_policy(SessionType::Policy)
            .map_err(decrypt_err)?;
        let result = self
            .cmd("TPM2_RSA_Decrypt", |ctx| {
                ctx.execute_with_session(Some(session), |ctx| {
                    ctx.rsa_decrypt(
                        key.handle,
                        cipher.clone(),
                        tss_scheme(scheme),
                        Data::default(),
                    )
                })
            })
            .map_err(decrypt_err);
        self.flush(session_object(session));
        result.map(|plain| Zeroizing::new(plain.value().to_vec()))
    }
}

/// What an RSA key in the TPM is for.
enum KeyRole {
    /// A restricted signing key (an AK: signs only TPM-made structures).
    RestrictedSigning,
    /// An unrestricted decryption key.
    Decryption,
}

/// The template of an RSA-2048 primary with SHA-256 names.
fn rsa2048_template(
    attributes: tss_esapi::attributes::ObjectAttributes,
    scheme: RsaScheme,
    role: KeyRole,
    auth_policy: Option<Digest>,
) -> Result<Public, TpmError> {
    let (sign, restricted) = match role {
        KeyRole::RestrictedSigning => (true, true),
        KeyRole::Decryption => (false, false),
    };
    let mut builder = PublicBuilder::new()
        .with_public_algorithm(PublicAlgorithm::Rsa)
        .with_name_hashing_algorithm(HashingAlgorithm::Sha256)
        .with_object_attributes(attributes)
        .with_rsa_parameters(
            PublicRsaParametersBuilder::new()
                .with_symmetric(SymmetricDefinitionObject::Null)
                .with_scheme(scheme)
                .with_key_bits(RsaKeyBits::Rsa2048)
                .with_exponent(RsaExponent::default())
                .with_is_signing_key(sign)
                .with_is_decryption_key(!sign)
                .with_restricted(restricted)
                .build()
                .map_err(wrap)?,
        )
        .with_rsa_unique_identifier(PublicKeyRsa::default());
    if let Some(policy) = auth_policy {
        builder = builder.with_auth_policy(policy);
    }
    builder.build().map_err(wrap)
}

/// The object handle that flushes an auth session.
fn session_object(session: AuthSession) -> ObjectHandle {
    ObjectHandle::from(tss_esapi::handles::SessionHandle::from(session))
}

/// A `Public` as a marshalled `TPM2B_PUBLIC`, and its RSA key.
fn marshal_public(public: &Public) -> Result<(Vec<u8>, RsaPublic), TpmError> {
    let tpmt = public.marshall().map_err(command("marshal TPMT_PUBLIC"))?;
    let size = u16::try_from(tpmt.len())
        .map_err(|_| TpmError::InvalidInput("public area too large".into()))?;
    let mut tpm2b = size.to_be_bytes().to_vec();
    tpm2b.extend_from_slice(&tpmt);
    let parsed = TpmPublic::parse_tpmt(&tpmt)?;
    Ok((tpm2b, parsed.key))
}
