//! What a provider is asked for, and what it returns.

use std::collections::BTreeMap;

use crate::{EvidenceType, TeeId};

/// What to bind into fresh evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EvidenceRequest {
    /// A verifier's nonce. Providers bind it into the evidence (TPM quote
    /// qualifying data, or report data) so that evidence cannot be replayed.
    pub nonce: Vec<u8>,
    /// Runtime data the evidence carries beside the hardware report (a bare
    /// TEE's report data binds it, as the verifier's [`crate::Challenge`]
    /// says).
    pub runtime_data: Vec<u8>,
    /// Whether `runtime_data` is JSON (its claims then appear in the token).
    pub runtime_data_json: bool,
    /// The 64 bytes the hardware report (or, on an Azure CVM, the HCL user
    /// data) must carry, as the verifier's challenge computed them.
    /// Providers embed exactly these bytes; `None` lets a provider bind the
    /// nonce and runtime data its own documented way.
    pub report_data: Option<[u8; 64]>,
    /// The client payload, carried to the verifier and back in the token.
    pub client_payload: BTreeMap<String, String>,
}

impl EvidenceRequest {
    /// A request that binds `nonce`.
    pub fn with_nonce(nonce: impl Into<Vec<u8>>) -> Self {
        Self {
            nonce: nonce.into(),
            ..Self::default()
        }
    }
}

/// The vTPM part of evidence: the attestation key, a PCR quote, and the
/// ephemeral encryption key certified by the attestation key. Byte fields
/// are TPM wire formats (marshalled, big-endian), as MAA's AzureGuest
/// protocol carries them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TpmEvidence {
    /// The attestation key's public area, a marshalled `TPM2B_PUBLIC`.
    pub ak_pub: Vec<u8>,
    /// The attestation key's certificate (DER), when the vTPM holds one.
    pub ak_cert: Option<Vec<u8>>,
    /// The quote: a marshalled `TPMS_ATTEST`.
    pub quote: Vec<u8>,
    /// The quote's raw signature (RSASSA: the bare signature bytes).
    pub quote_signature: Vec<u8>,
    /// The quoted PCRs (SHA-256 bank) and their values, in ascending order.
    pub pcrs: Vec<(u32, Vec<u8>)>,
    /// The ephemeral encryption key's public area, a marshalled `TPM2B_PUBLIC`.
    pub enc_key_pub: Vec<u8>,
    /// `TPM2_Certify` of the ephemeral key by the AK: a marshalled `TPMS_ATTEST`.
    pub enc_key_certify_info: Vec<u8>,
    /// The raw signature over `enc_key_certify_info`.
    pub enc_key_certify_signature: Vec<u8>,
}

/// Evidence gathered inside a TEE, as one value a verifier appraises.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Evidence {
    /// The backend it comes from.
    pub tee: TeeId,
    /// What kind of evidence it is: which appraiser takes it.
    pub evidence_type: EvidenceType,
    /// The hardware report (SNP attestation report, TD quote).
    pub hardware_report: Vec<u8>,
    /// The whole HCL report, on Azure CVMs.
    pub hcl_report: Option<Vec<u8>>,
    /// Runtime data the hardware report binds (the HCL variable-data JSON on
    /// Azure), as bytes.
    pub runtime_data: Vec<u8>,
    /// Whether `runtime_data` is JSON whose members become claims
    /// (`x-ms-runtime`) on a bare TEE.
    pub runtime_data_json: bool,
    /// Certificates that come with the evidence (DER), leaf first: the VCEK
    /// chain for SNP, the PCK chain for TDX.
    pub certificates: Vec<Vec<u8>>,
    /// The vTPM part, where there is a vTPM.
    pub tpm: Option<TpmEvidence>,
    /// The TCG (measured boot) event log, when readable.
    pub event_log: Option<Vec<u8>>,
    /// The nonce the evidence binds.
    pub nonce: Vec<u8>,
    /// The client payload to return in the token.
    pub client_payload: BTreeMap<String, String>,
}

impl Evidence {
    /// Empty evidence of a backend and type, to be filled in by a provider.
    pub fn new(tee: TeeId, evidence_type: EvidenceType) -> Self {
        Self {
            tee,
            evidence_type,
            hardware_report: Vec::new(),
            hcl_report: None,
            runtime_data: Vec::new(),
            runtime_data_json: false,
            certificates: Vec::new(),
            tpm: None,
            event_log: None,
            nonce: Vec::new(),
            client_payload: BTreeMap::new(),
        }
    }
}
