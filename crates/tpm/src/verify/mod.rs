//! Verification of TPM evidence without a TPM: quotes, certifications,
//! signatures. Needs no TSS2 libraries.
//!
//! ```text
//!   quote (TPMS_ATTEST) ──signature──▶ AK public key   (quote.signature)
//!        │ magic = TPM_GENERATED_VALUE, type = QUOTE   (parse)
//!        │ extraData == nonce                          (quote.nonce)
//!        └ pcrDigest == SHA-256(PCR values, in order)  (quote.pcr-digest)
//! ```

mod attest;
mod public;
mod reader;

pub use attest::{
    Attest, Attested, ClockInfo, PcrSelection, TPM_ALG_SHA1, TPM_ALG_SHA256, TPM_ALG_SHA384,
    TPM_GENERATED_VALUE, TPM_ST_ATTEST_CERTIFY, TPM_ST_ATTEST_QUOTE,
};
pub use public::{attributes, RsaPublic, TpmPublic, TPM_ALG_NULL, TPM_ALG_RSA};

use aws_lc_rs::{digest, signature};
use reader::Reader;

use crate::TpmError;

/// `TPM_ALG_RSASSA`.
pub const TPM_ALG_RSASSA: u16 = 0x0014;
/// `TPM_ALG_RSAPSS`.
pub const TPM_ALG_RSAPSS: u16 = 0x0016;

/// The signature schemes a TPM RSA key signs attestations with (SHA-256).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SignatureScheme {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (what Azure's AK uses).
    RsaSsaSha256,
    /// RSASSA-PSS with SHA-256 (salt length = digest length).
    RsaPssSha256,
}

/// A signature as a TPM returns it: the bare RSA signature, with the scheme
/// it was made with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TpmSignature {
    /// The scheme.
    pub scheme: SignatureScheme,
    /// The bare signature bytes.
    pub bytes: Vec<u8>,
}

impl TpmSignature {
    /// Accept either a bare RSA signature (as MAA's AzureGuest protocol
    /// carries it; RSASSA-SHA256 assumed) of exactly the key's size, or a
    /// marshalled `TPMT_SIGNATURE` (RSASSA or RSAPSS with SHA-256).
    pub fn parse(bytes: &[u8], key: &RsaPublic) -> Result<Self, TpmError> {
        if bytes.len() == key.modulus_len() {
            return Ok(Self {
                scheme: SignatureScheme::RsaSsaSha256,
                bytes: bytes.to_vec(),
            });
        }
        let mut r = Reader::new("TPMT_SIGNATURE", bytes);
        let alg = r.u16("sigAlg")?;
        let hash = r.u16("signature.hash")?;
        let sig = r.tpm2b("signature.sig")?;
        r.finish()?;
        let scheme = match (alg, hash) {
            (TPM_ALG_RSASSA, TPM_ALG_SHA256) => SignatureScheme::RsaSsaSha256,
            (TPM_ALG_RSAPSS, TPM_ALG_SHA256) => SignatureScheme::RsaPssSha256,
            _ => {
                return Err(TpmError::Malformed {
                    structure: "TPMT_SIGNATURE",
                    field: "sigAlg",
                    offset: 0,
                    reason: format!(
                        "scheme {alg:#06x} with hash {hash:#06x} is not RSASSA/RSAPSS with SHA-256"
                    ),
                })
            }
        };
        Ok(Self {
            scheme,
            bytes: sig.to_vec(),
        })
    }
}

/// Check an RSA signature over `message` with `key`.
pub fn verify_signature(
    key: &RsaPublic,
    message: &[u8],
    sig: &TpmSignature,
    check: &'static str,
) -> Result<(), TpmError> {
    let params = match sig.scheme {
        SignatureScheme::RsaSsaSha256 => &signature::RSA_PKCS1_2048_8192_SHA256,
        SignatureScheme::RsaPssSha256 => &signature::RSA_PSS_2048_8192_SHA256,
    };
    let components = signature::RsaPublicKeyComponents {
        n: key.n.as_slice(),
        e: key.e.as_slice(),
    };
    components.verify(params, message, &sig.bytes).map_err(|_| {
        TpmError::check(
            check,
            "the signature does not verify with the attestation key",
        )
    })
}

/// The digest a quote carries for these PCR values: SHA-256 over the values
/// concatenated in ascending PCR order.
pub fn pcr_digest(values: &[(u32, Vec<u8>)]) -> Vec<u8> {
    let mut sorted: Vec<_> = values.iter().collect();
    sorted.sort_by_key(|(i, _)| *i);
    let mut ctx = digest::Context::new(&digest::SHA256);
    for (_, v) in sorted {
        ctx.update(v);
    }
    ctx.finish().as_ref().to_vec()
}

/// A quote that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedQuote {
    /// The parsed attestation.
    pub attest: Attest,
    /// The quoted PCR indices (SHA-256 bank), ascending.
    pub pcrs: Vec<u32>,
}

/// Verify a quote: signature by `ak` over the marshalled `TPMS_ATTEST`, the
/// type, the qualifying data equal to `nonce`, a single SHA-256 bank whose
/// selection is exactly the PCRs of `pcr_values`, and the PCR digest equal
/// to the digest of `pcr_values`.
pub fn verify_quote(
    quote: &[u8],
    signature: &[u8],
    ak: &RsaPublic,
    nonce: &[u8],
    pcr_values: &[(u32, Vec<u8>)],
) -> Result<VerifiedQuote, TpmError> {
    let sig = TpmSignature::parse(signature, ak)?;
    verify_signature(ak, quote, &sig, "quote.signature")?;
    let attest = Attest::parse(quote)?;
    let Attested::Quote {
        selection,
        pcr_digest: quoted_digest,
    } = &attest.attested
    else {
        return Err(TpmError::check(
            "quote.type",
            "the attestation is not a quote",
        ));
    };
    if attest.extra_data != nonce {
        return Err(TpmError::check(
            "quote.nonce",
            "the quote's qualifying data is not the expected nonce",
        ));
    }
    let [bank] = selection.as_slice() else {
        return Err(TpmError::check(
            "quote.pcr-selection",
            format!(
                "{} PCR banks selected; expected the SHA-256 bank alone",
                selection.len()
            ),
        ));
    };
    if bank.hash != TPM_ALG_SHA256 {
        return Err(TpmError::check(
            "quote.pcr-selection",
            format!("bank {:#06x} selected; expected SHA-256", bank.hash),
        ));
    }
    let mut given: Vec<u32> = pcr_values.iter().map(|(i, _)| *i).collect();
    given.sort_unstable();
    given.dedup();
    if given != bank.pcrs || given.len() != pcr_values.len() {
        return Err(TpmError::check(
            "quote.pcr-selection",
            format!(
                "the quote selects PCRs {:?}, the values given are for {:?}",
                bank.pcrs, given
            ),
        ));
    }
    if let Some((i, v)) = pcr_values.iter().find(|(_, v)| v.len() != 32) {
        return Err(TpmError::check(
            "quote.pcr-values",
            format!("PCR {i} value has {} bytes, not 32", v.len()),
        ));
    }
    if pcr_digest(pcr_values) != *quoted_digest {
        return Err(TpmError::check(
            "quote.pcr-digest",
            "the PCR values given do not hash to the quoted digest",
        ));
    }
    Ok(VerifiedQuote {
        pcrs: bank.pcrs.clone(),
        attest,
    })
}

/// Verify that `ak` certified the key whose `TPM2B_PUBLIC` is `certified`:
/// signature over the certify info, type certify, qualifying data equal to
/// `nonce`, and the certified Name equal to the key's Name. Returns the
/// certified key.
pub fn verify_certify(
    certify_info: &[u8],
    signature: &[u8],
    ak: &RsaPublic,
    certified: &[u8],
    nonce: &[u8],
) -> Result<TpmPublic, TpmError> {
    let sig = TpmSignature::parse(signature, ak)?;
    verify_signature(ak, certify_info, &sig, "certify.signature")?;
    let attest = Attest::parse(certify_info)?;
    let Attested::Certify { name, .. } = &attest.attested else {
        return Err(TpmError::check(
            "certify.type",
            "the attestation is not a certification",
        ));
    };
    if attest.extra_data != nonce {
        return Err(TpmError::check(
            "certify.nonce",
            "the certification's qualifying data is not the expected nonce",
        ));
    }
    let key = TpmPublic::parse_tpm2b(certified)?;
    if key.name()? != *name {
        return Err(TpmError::check(
            "certify.name",
            "the certified Name is not the Name of the key presented",
        ));
    }
    Ok(key)
}
