//! `TPMS_ATTEST` (TPM 2.0 Library Part 2 §10.12): what a quote or a
//! certification signs.

use super::reader::Reader;
use crate::TpmError;

/// `TPM_GENERATED_VALUE`: every TPM-made attestation starts with it.
pub const TPM_GENERATED_VALUE: u32 = 0xff54_4347;
/// `TPM_ST_ATTEST_QUOTE`.
pub const TPM_ST_ATTEST_QUOTE: u16 = 0x8018;
/// `TPM_ST_ATTEST_CERTIFY`.
pub const TPM_ST_ATTEST_CERTIFY: u16 = 0x8017;
/// `TPM_ALG_SHA256`.
pub const TPM_ALG_SHA256: u16 = 0x000B;
/// `TPM_ALG_SHA1`.
pub const TPM_ALG_SHA1: u16 = 0x0004;
/// `TPM_ALG_SHA384`.
pub const TPM_ALG_SHA384: u16 = 0x000C;

/// The PCRs of one bank that a quote selects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PcrSelection {
    /// The bank's hash algorithm (`TPM_ALG_ID`).
    pub hash: u16,
    /// The selected PCR indices, ascending.
    pub pcrs: Vec<u32>,
}

/// `TPMS_CLOCK_INFO`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockInfo {
    /// Milliseconds the TPM has run since its last clear.
    pub clock: u64,
    /// TPM resets since the last clear.
    pub reset_count: u32,
    /// TPM restarts since the last reset.
    pub restart_count: u32,
    /// Whether `clock` is known not to have gone back.
    pub safe: bool,
}

/// The type-specific part of an attestation.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Attested {
    /// `TPMS_QUOTE_INFO`.
    Quote {
        /// The selected PCRs, bank by bank.
        selection: Vec<PcrSelection>,
        /// The digest of the selected PCR values.
        pcr_digest: Vec<u8>,
    },
    /// `TPMS_CERTIFY_INFO`.
    Certify {
        /// The certified object's Name.
        name: Vec<u8>,
        /// The certified object's qualified Name.
        qualified_name: Vec<u8>,
    },
}

/// A parsed `TPMS_ATTEST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attest {
    /// The structure tag (`TPM_ST_ATTEST_*`).
    pub kind: u16,
    /// The signing key's qualified Name.
    pub qualified_signer: Vec<u8>,
    /// The caller's qualifying data (the nonce).
    pub extra_data: Vec<u8>,
    /// The TPM's clock.
    pub clock_info: ClockInfo,
    /// The TPM firmware version.
    pub firmware_version: u64,
    /// The type-specific part.
    pub attested: Attested,
}

impl Attest {
    /// Parse a marshalled `TPMS_ATTEST` (the whole input, nothing after).
    /// The magic must be `TPM_GENERATED_VALUE`; only quote and certify are
    /// understood.
    pub fn parse(bytes: &[u8]) -> Result<Self, TpmError> {
        let mut r = Reader::new("TPMS_ATTEST", bytes);
        let magic = r.u32("magic")?;
        if magic != TPM_GENERATED_VALUE {
            return Err(TpmError::Malformed {
                structure: "TPMS_ATTEST",
                field: "magic",
                offset: 0,
                reason: format!("{magic:#010x} is not TPM_GENERATED_VALUE"),
            });
        }
        let kind = r.u16("type")?;
        let qualified_signer = r.tpm2b("qualifiedSigner")?.to_vec();
        let extra_data = r.tpm2b("extraData")?.to_vec();
        let clock_info = ClockInfo {
            clock: r.u64("clockInfo.clock")?,
            reset_count: r.u32("clockInfo.resetCount")?,
            restart_count: r.u32("clockInfo.restartCount")?,
            safe: match r.u8("clockInfo.safe")? {
                0 => false,
                1 => true,
                other => {
                    return Err(
                        r.malformed("clockInfo.safe", format!("{other} is not a TPMI_YES_NO"))
                    )
                }
            },
        };
        let firmware_version = r.u64("firmwareVersion")?;
        let attested = match kind {
            TPM_ST_ATTEST_QUOTE => {
                let count = r.u32("attested.quote.pcrSelect.count")?;
                if count > 16 {
                    return Err(r.malformed(
                        "attested.quote.pcrSelect.count",
                        format!("{count} banks is more than any TPM has"),
                    ));
                }
                let mut selection = Vec::new();
                for _ in 0..count {
                    let hash = r.u16("pcrSelections.hash")?;
                    let size = r.u8("pcrSelections.sizeofSelect")?;
                    let bitmap = r.take("pcrSelections.pcrSelect", usize::from(size))?;
                    let pcrs = bitmap
                        .iter()
                        .enumerate()
                        .flat_map(|(byte, bits)| {
                            (0..8u32)
                                .filter(move |bit| bits & (1 << bit) != 0)
                                .map(move |bit| byte as u32 * 8 + bit)
                        })
                        .collect();
                    selection.push(PcrSelection { hash, pcrs });
                }
                let pcr_digest = r.tpm2b("attested.quote.pcrDigest")?.to_vec();
                Attested::Quote {
                    selection,
                    pcr_digest,
                }
            }
            TPM_ST_ATTEST_CERTIFY => Attested::Certify {
                name: r.tpm2b("attested.certify.name")?.to_vec(),
                qualified_name: r.tpm2b("attested.certify.qualifiedName")?.to_vec(),
            },
            other => {
                return Err(TpmError::Malformed {
                    structure: "TPMS_ATTEST",
                    field: "type",
                    offset: 4,
                    reason: format!("{other:#06x} is neither a quote nor a certification"),
                })
            }
        };
        r.finish()?;
        Ok(Self {
            kind,
            qualified_signer,
            extra_data,
            clock_info,
            firmware_version,
            attested,
        })
    }
}
