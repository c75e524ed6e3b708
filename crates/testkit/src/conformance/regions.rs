//! Where the bytes of evidence are, and which of them a signature (or a
//! hash bound by one) covers: [`Field`] names a part of an
//! [`Evidence`], [`Span`] the bytes inside it, [`SignedRegion`] both with
//! the check a flip there must be refused by. [`Profile`]s list the regions
//! of each evidence type, so that every backend of that type reuses them.
//!
//! The locators read the wire formats directly (SEV-SNP report, TD quote,
//! TPM 2.0 structures, DER, the TCG crypto-agile event log) so that this
//! crate needs no backend crate.

use std::ops::Range;

use tee_attest_core::Evidence;

/// A part of an [`Evidence`] that carries bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Field {
    /// `hardware_report`: the SEV-SNP report, TD quote, …
    HardwareReport,
    /// `hcl_report`: the whole Azure HCL report (a copy the appraisers do
    /// not read: they read `hardware_report` and `runtime_data`).
    HclReport,
    /// `runtime_data`: the HCL variable data on Azure, the runtime data
    /// (JSON) on a bare TEE.
    RuntimeData,
    /// `certificates[i]` (DER; 0 is the leaf).
    Certificate(usize),
    /// `tpm.ak_pub`: the AK's `TPM2B_PUBLIC`.
    TpmAkPub,
    /// `tpm.quote`: the quote's `TPMS_ATTEST`.
    TpmQuote,
    /// `tpm.quote_signature`: its `TPMT_SIGNATURE`.
    TpmQuoteSignature,
    /// The value of this PCR in `tpm.pcrs`.
    TpmPcr(u32),
    /// `tpm.enc_key_pub`: the ephemeral key's `TPM2B_PUBLIC`.
    TpmEncKeyPub,
    /// `tpm.enc_key_certify_info`: the certification's `TPMS_ATTEST`.
    TpmEncKeyCertifyInfo,
    /// `tpm.enc_key_certify_signature`: its `TPMT_SIGNATURE`.
    TpmEncKeyCertifySignature,
    /// `event_log`: the TCG event log.
    EventLog,
}

impl Field {
    /// The field's bytes in `e`, if `e` has the field.
    pub fn get<'a>(&self, e: &'a Evidence) -> Option<&'a [u8]> {
        let tpm = e.tpm.as_ref();
        match *self {
            Field::HardwareReport => Some(&e.hardware_report),
            Field::HclReport => e.hcl_report.as_deref(),
            Field::RuntimeData => Some(&e.runtime_data),
            Field::Certificate(i) => e.certificates.get(i).map(Vec::as_slice),
            Field::TpmAkPub => tpm.map(|t| t.ak_pub.as_slice()),
            Field::TpmQuote => tpm.map(|t| t.quote.as_slice()),
            Field::TpmQuoteSignature => tpm.map(|t| t.quote_signature.as_slice()),
            Field::TpmPcr(pcr) => tpm
                .and_then(|t| t.pcrs.iter().find(|(i, _)| *i == pcr))
                .map(|(_, v)| v.as_slice()),
            Field::TpmEncKeyPub => tpm.map(|t| t.enc_key_pub.as_slice()),
            Field::TpmEncKeyCertifyInfo => tpm.map(|t| t.enc_key_certify_info.as_slice()),
            Field::TpmEncKeyCertifySignature => tpm.map(|t| t.enc_key_certify_signature.as_slice()),
            Field::EventLog => e.event_log.as_deref(),
        }
    }

    /// The field's bytes in `e`, to change them.
    pub fn get_mut<'a>(&self, e: &'a mut Evidence) -> Option<&'a mut Vec<u8>> {
        let tpm = e.tpm.as_mut();
        match *self {
            Field::HardwareReport => Some(&mut e.hardware_report),
            Field::HclReport => e.hcl_report.as_mut(),
            Field::RuntimeData => Some(&mut e.runtime_data),
            Field::Certificate(i) => e.certificates.get_mut(i),
            Field::TpmAkPub => tpm.map(|t| &mut t.ak_pub),
            Field::TpmQuote => tpm.map(|t| &mut t.quote),
            Field::TpmQuoteSignature => tpm.map(|t| &mut t.quote_signature),
            Field::TpmPcr(pcr) => tpm
                .and_then(|t| t.pcrs.iter_mut().find(|(i, _)| *i == pcr))
                .map(|(_, v)| v),
            Field::TpmEncKeyPub => tpm.map(|t| &mut t.enc_key_pub),
            Field::TpmEncKeyCertifyInfo => tpm.map(|t| &mut t.enc_key_certify_info),
            Field::TpmEncKeyCertifySignature => tpm.map(|t| &mut t.enc_key_certify_signature),
            Field::EventLog => e.event_log.as_mut(),
        }
    }

    /// How the field is written in `Evidence` (`tpm.quote`, `certificates[0]`).
    pub fn path(&self) -> String {
        match *self {
            Field::HardwareReport => "hardware_report".into(),
            Field::HclReport => "hcl_report".into(),
            Field::RuntimeData => "runtime_data".into(),
            Field::Certificate(i) => format!("certificates[{i}]"),
            Field::TpmAkPub => "tpm.ak_pub".into(),
            Field::TpmQuote => "tpm.quote".into(),
            Field::TpmQuoteSignature => "tpm.quote_signature".into(),
            Field::TpmPcr(i) => format!("tpm.pcrs[PCR {i}]"),
            Field::TpmEncKeyPub => "tpm.enc_key_pub".into(),
            Field::TpmEncKeyCertifyInfo => "tpm.enc_key_certify_info".into(),
            Field::TpmEncKeyCertifySignature => "tpm.enc_key_certify_signature".into(),
            Field::EventLog => "event_log".into(),
        }
    }
}

/// The bytes of a [`Field`] a region covers.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Span {
    /// All of it.
    All,
    /// These offsets.
    Bytes(Range<usize>),
    /// From this offset to the end.
    From(usize),
    /// Located in the field's bytes (`None`: the field has no such part,
    /// which the suite reports as a failure).
    Locate(fn(&[u8]) -> Option<Range<usize>>),
}

impl Span {
    /// The offsets this span covers in `bytes`, if it is there and not empty.
    pub fn resolve(&self, bytes: &[u8]) -> Option<Range<usize>> {
        let r = match self {
            Span::All => 0..bytes.len(),
            Span::Bytes(r) => r.clone(),
            Span::From(start) => *start..bytes.len(),
            Span::Locate(f) => f(bytes)?,
        };
        (r.start < r.end && r.end <= bytes.len()).then_some(r)
    }
}

/// A refusal the suite accepts for a flip, besides the region's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Alternative {
    /// Code 6 naming this other check.
    Check(&'static str),
    /// Code 20: the flipped byte is structural (a version, a tag, a
    /// length) and the structure no longer parses, before any signature
    /// is checked.
    Malformed,
    /// Code 6 without a check name: the SEV-SNP crate's refusal of a
    /// certificate that no longer parses as one of AMD's (its role, read
    /// from the subject, is gone). The trait contract asks for a check
    /// name; the suite records these as such.
    UnnamedCertificate,
}

/// Bytes a signature covers (directly, or through a hash it signs), and the
/// check a change there must be refused by (code 6).
#[derive(Debug, Clone)]
pub struct SignedRegion {
    /// A name for reports (`snp.report.signed`).
    pub name: &'static str,
    /// Which part of the evidence.
    pub field: Field,
    /// Which bytes of it.
    pub span: Span,
    /// The check that must refuse a flip (`report-signature`, `quote.signature`, …).
    pub expected_check: &'static str,
    /// Other refusals that are right for this region.
    pub also: Vec<Alternative>,
    /// Offsets in the field to flip besides the span's first, middle and
    /// last byte (those outside the span are ignored).
    pub extra_offsets: Vec<usize>,
}

impl SignedRegion {
    /// A region of `field`'s `span` whose flips `expected_check` refuses.
    pub fn new(name: &'static str, field: Field, span: Span, expected_check: &'static str) -> Self {
        Self {
            name,
            field,
            span,
            expected_check,
            also: Vec::new(),
            extra_offsets: Vec::new(),
        }
    }

    /// Flip these offsets of the field too (when inside the span).
    #[must_use]
    pub fn with_offsets(mut self, offsets: &[usize]) -> Self {
        self.extra_offsets.extend_from_slice(offsets);
        self
    }

    /// Accept this refusal too.
    #[must_use]
    pub fn or(mut self, alternative: Alternative) -> Self {
        self.also.push(alternative);
        self
    }

    /// The offsets to flip in a field whose span is `range`: its first,
    /// middle and last byte, and the extra offsets inside it.
    pub fn positions(&self, range: &Range<usize>) -> Vec<usize> {
        let len = range.end - range.start;
        let mut p = vec![range.start, range.start + len / 2, range.end - 1];
        p.extend(self.extra_offsets.iter().filter(|o| range.contains(o)));
        p.sort_unstable();
        p.dedup();
        p
    }

    /// What the region accepts, for reports: `report-signature | malformed`.
    pub fn expectation(&self) -> String {
        let mut s = self.expected_check.to_string();
        for a in &self.also {
            s.push_str(" | ");
            match a {
                Alternative::Check(c) => s.push_str(c),
                Alternative::Malformed => s.push_str("malformed (20)"),
                Alternative::UnnamedCertificate => s.push_str("unnamed certificate refusal (6)"),
            }
        }
        s
    }
}

/// What the suite expects of one evidence type: its signed regions, and
/// the checks that refuse evidence relabelled with another nonce and
/// evidence under an untrusted root.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Profile {
    /// The signed regions.
    pub regions: Vec<SignedRegion>,
    /// The check that refuses good evidence whose `nonce` was replaced by
    /// another one (replayed evidence presented as fresh): the binding of
    /// the nonce, not the comparison with the expected one.
    pub relabelled_nonce_check: &'static str,
    /// The check that refuses evidence chaining to a root the appraiser
    /// does not trust.
    pub untrusted_root_check: &'static str,
}

impl Profile {
    /// A profile of these regions and checks.
    pub fn new(
        regions: Vec<SignedRegion>,
        relabelled_nonce_check: &'static str,
        untrusted_root_check: &'static str,
    ) -> Self {
        Self {
            regions,
            relabelled_nonce_check,
            untrusted_root_check,
        }
    }

    /// The same profile without the regions named `name`.
    #[must_use]
    pub fn without(mut self, name: &str) -> Self {
        self.regions.retain(|r| r.name != name);
        self
    }
}

/// The SEV-SNP report's bytes signed by the VCEK/VLEK: 0x000–0x29F.
pub const SNP_SIGNED: Range<usize> = 0..0x2A0;
/// The significant bytes of the signature's R (little-endian, 48 of 72).
pub const SNP_SIGNATURE_R: Range<usize> = 0x2A0..0x2A0 + 48;
/// The significant bytes of the signature's S (little-endian, 48 of 72).
pub const SNP_SIGNATURE_S: Range<usize> = 0x2E8..0x2E8 + 48;

/// The regions every SEV-SNP report carries: the signed bytes, the
/// signature, and the VCEK → ASK → ARK chain (certificates 0, 1, 2 as the
/// providers order them: leaf first).
pub fn snp_report_regions() -> Vec<SignedRegion> {
    vec![
        // VERSION is parsed before the signature is checked: a version the
        // parser does not know is refused as malformed.
        SignedRegion::new(
            "snp.report.version",
            Field::HardwareReport,
            Span::Bytes(0..4),
            "report-signature",
        )
        .or(Alternative::Malformed),
        SignedRegion::new(
            "snp.report.signed",
            Field::HardwareReport,
            Span::Bytes(4..SNP_SIGNED.end),
            "report-signature",
        )
        // REPORT_DATA (0x50), MEASUREMENT (0x90), CHIP_ID (0x1A0).
        .with_offsets(&[0x50, 0x90, 0x1A0]),
        SignedRegion::new(
            "snp.report.signature.r",
            Field::HardwareReport,
            Span::Bytes(SNP_SIGNATURE_R),
            "report-signature",
        ),
        SignedRegion::new(
            "snp.report.signature.s",
            Field::HardwareReport,
            Span::Bytes(SNP_SIGNATURE_S),
            "report-signature",
        ),
        SignedRegion::new(
            "vcek.tbs",
            Field::Certificate(0),
            Span::Locate(der_tbs_values),
            "leaf-signature",
        )
        .or(Alternative::UnnamedCertificate),
        SignedRegion::new(
            "vcek.signature",
            Field::Certificate(0),
            Span::Locate(der_signature_value),
            "leaf-signature",
        ),
        SignedRegion::new(
            "ask.tbs",
            Field::Certificate(1),
            Span::Locate(der_tbs_values),
            "ask-signature",
        )
        // The ASK's public key is in its TBS: with it changed, the VCEK's
        // signature is the first to fail.
        .or(Alternative::Check("leaf-signature"))
        .or(Alternative::UnnamedCertificate),
        SignedRegion::new(
            "ask.signature",
            Field::Certificate(1),
            Span::Locate(der_signature_value),
            "ask-signature",
        ),
        SignedRegion::new(
            "ark.tbs",
            Field::Certificate(2),
            Span::Locate(der_tbs_values),
            "untrusted-root",
        )
        .or(Alternative::UnnamedCertificate),
        SignedRegion::new(
            "ark.signature",
            Field::Certificate(2),
            Span::Locate(der_signature_value),
            "untrusted-root",
        ),
    ]
}

/// Azure SEV-SNP CVM evidence (`AzureGuest`/`SevSnp`): the SNP report and
/// its chain, the HCL variable data its report data binds, the vTPM's
/// quote and PCRs, the certified ephemeral key, and the event log the
/// quoted PCRs replay.
pub fn azure_guest_snp() -> Profile {
    let mut regions = snp_report_regions();
    regions.extend(azure_vtpm_regions());
    Profile::new(regions, "quote.nonce", "untrusted-root")
}

/// A bare SEV-SNP report with its runtime data (`SevSnpVm`).
pub fn sev_snp_vm() -> Profile {
    let mut regions = snp_report_regions();
    regions.push(SignedRegion::new(
        "runtime-data",
        Field::RuntimeData,
        Span::All,
        "runtime-data.binding",
    ));
    Profile::new(regions, "nonce.binding", "untrusted-root")
}

/// The regions every TD quote (v4, or v5 with a TD 1.0 or 1.5 body)
/// carries, as Intel's DCAP verification checks them in order: the header
/// fields it reads before any signature, the bytes the attestation key
/// signs (header and body: REPORTDATA, MRTD, RTMRs…), the signature, the
/// attestation key the QE report binds, the QE report and the PCK's
/// signature over it, the QE authentication data, and the PCK certificate
/// (PEM) in the quote's certification data.
pub fn td_quote_regions() -> Vec<SignedRegion> {
    use tdq::*;
    vec![
        // VERSION and the attestation key type are parsed first: a value
        // the parser does not know is malformed.
        SignedRegion::new(
            "tdx.quote.version",
            Field::HardwareReport,
            Span::Bytes(0..2),
            "quote.version",
        )
        .or(Alternative::Malformed),
        SignedRegion::new(
            "tdx.quote.attestation-key-type",
            Field::HardwareReport,
            Span::Bytes(2..4),
            "quote.attestation-key-type",
        )
        .or(Alternative::Malformed),
        SignedRegion::new(
            "tdx.quote.tee-type",
            Field::HardwareReport,
            Span::Bytes(4..8),
            "quote.tee-type",
        )
        .or(Alternative::Malformed)
        .or(Alternative::Check("evidence.type")),
        SignedRegion::new(
            "tdx.quote.header.reserved",
            Field::HardwareReport,
            Span::Bytes(8..12),
            "quote.signature",
        ),
        SignedRegion::new(
            "tdx.quote.qe-vendor-id",
            Field::HardwareReport,
            Span::Bytes(12..28),
            "quote.qe-vendor-id",
        ),
        SignedRegion::new(
            "tdx.quote.header.user-data",
            Field::HardwareReport,
            Span::Bytes(28..HEADER_LEN),
            "quote.signature",
        ),
        SignedRegion::new(
            "tdx.quote.body",
            Field::HardwareReport,
            Span::Locate(td_quote_body),
            "quote.signature",
        )
        // MRTD, RTMR0, REPORTDATA of a v4 quote's TD 1.0 body.
        .with_offsets(&[
            HEADER_LEN + 136,
            HEADER_LEN + 328,
            HEADER_LEN + 520,
            HEADER_LEN + 583,
        ]),
        SignedRegion::new(
            "tdx.quote.signature",
            Field::HardwareReport,
            Span::Locate(td_quote_signature),
            "quote.signature",
        ),
        SignedRegion::new(
            "tdx.quote.attestation-key",
            Field::HardwareReport,
            Span::Locate(td_quote_attestation_key),
            "qe-report.data",
        ),
        SignedRegion::new(
            "tdx.quote.qe-report",
            Field::HardwareReport,
            Span::Locate(td_quote_qe_report),
            "qe-report.signature",
        ),
        SignedRegion::new(
            "tdx.quote.qe-report.signature",
            Field::HardwareReport,
            Span::Locate(td_quote_qe_report_signature),
            "qe-report.signature",
        ),
        SignedRegion::new(
            "tdx.quote.qe-auth-data",
            Field::HardwareReport,
            Span::Locate(td_quote_qe_auth_data),
            "qe-report.data",
        ),
        SignedRegion::new(
            "tdx.quote.pck-chain",
            Field::HardwareReport,
            Span::Locate(td_quote_pck_chain),
            "cert.signature",
        )
        // A flipped PEM byte mostly breaks the text (base64, the block
        // markers) before any signature is checked: the tdx crate refuses
        // such a certificate with code 6 and no check name.
        .or(Alternative::Check("pck.chain"))
        .or(Alternative::UnnamedCertificate),
    ]
}

/// A bare TD quote with its runtime data (`TdxVm`): the quote's regions,
/// and the runtime data whose SHA-256 its REPORTDATA begins with.
pub fn tdx_vm() -> Profile {
    let mut regions = td_quote_regions();
    regions.push(SignedRegion::new(
        "runtime-data",
        Field::RuntimeData,
        Span::All,
        "runtime-data.binding",
    ));
    Profile::new(regions, "nonce.binding", "untrusted-root")
}

/// The regions of the vTPM half of AzureGuest evidence, the same on
/// SEV-SNP and TDX: the HCL variable data the hardware report binds, the
/// AK, the quote and its PCRs, the certified ephemeral key, the event log
/// the quoted PCRs replay.
pub fn azure_vtpm_regions() -> Vec<SignedRegion> {
    vec![
        SignedRegion::new("hcl.var-data", Field::RuntimeData, Span::All, "hcl.binding"),
        SignedRegion::new(
            "tpm.ak.modulus",
            Field::TpmAkPub,
            Span::Locate(rsa_unique),
            "ak.match",
        ),
        SignedRegion::new("tpm.quote", Field::TpmQuote, Span::All, "quote.signature"),
        SignedRegion::new(
            "tpm.quote.signature",
            Field::TpmQuoteSignature,
            Span::Locate(signature_bytes),
            "quote.signature",
        ),
        SignedRegion::new("tpm.pcr0", Field::TpmPcr(0), Span::All, "quote.pcr-digest"),
        SignedRegion::new("tpm.pcr7", Field::TpmPcr(7), Span::All, "quote.pcr-digest"),
        SignedRegion::new(
            "tpm.enc-key.attributes",
            Field::TpmEncKeyPub,
            Span::Bytes(6..10),
            "certify.name",
        ),
        SignedRegion::new(
            "tpm.enc-key.modulus",
            Field::TpmEncKeyPub,
            Span::Locate(rsa_unique),
            "certify.name",
        ),
        SignedRegion::new(
            "tpm.certify-info",
            Field::TpmEncKeyCertifyInfo,
            Span::All,
            "certify.signature",
        ),
        SignedRegion::new(
            "tpm.certify.signature",
            Field::TpmEncKeyCertifySignature,
            Span::Locate(signature_bytes),
            "certify.signature",
        ),
        SignedRegion::new(
            "tcg.digests",
            Field::EventLog,
            Span::Locate(first_event_digest),
            "tcg.replay",
        ),
        SignedRegion::new(
            "tcg.secure-boot",
            Field::EventLog,
            Span::Locate(secure_boot_variable),
            "tcg.event-digest",
        ),
    ]
}

/// Azure TDX CVM evidence (`AzureGuest`/`Tdx`): the TD quote IMDS made of
/// the HCL's TDREPORT, the HCL variable data its REPORTDATA binds, and the
/// vTPM's regions as on SEV-SNP.
pub fn azure_guest_tdx() -> Profile {
    let mut regions = td_quote_regions();
    regions.extend(azure_vtpm_regions());
    Profile::new(regions, "quote.nonce", "untrusted-root")
}

/// The layout of a TD quote (Intel's DCAP quote v4 and v5).
mod tdq {
    use std::ops::Range;

    /// The quote header.
    pub const HEADER_LEN: usize = 48;
    const TD10_BODY_LEN: usize = 584;
    const TD15_BODY_LEN: usize = 648;
    const SIGNATURE_LEN: usize = 64;
    const ATTESTATION_KEY_LEN: usize = 64;
    const QE_REPORT_LEN: usize = 384;
    const TEE_TYPE_TDX: u32 = 0x81;

    fn le16(b: &[u8], at: usize) -> Option<usize> {
        Some(usize::from(u16::from_le_bytes(
            b.get(at..at + 2)?.try_into().ok()?,
        )))
    }

    fn le32(b: &[u8], at: usize) -> Option<usize> {
        usize::try_from(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?)).ok()
    }

    /// Where the parts of a TD quote are.
    struct Layout {
        body: Range<usize>,
        signature: Range<usize>,
        attestation_key: Range<usize>,
        qe_report: Range<usize>,
        qe_report_signature: Range<usize>,
        qe_auth_data: Range<usize>,
        pck_chain: Range<usize>,
    }

    fn layout(b: &[u8]) -> Option<Layout> {
        if le32(b, 4)? != TEE_TYPE_TDX as usize {
            return None;
        }
        let body = match le16(b, 0)? {
            4 => HEADER_LEN..HEADER_LEN + TD10_BODY_LEN,
            5 => {
                let size = le32(b, HEADER_LEN + 2)?;
                if size != TD10_BODY_LEN && size != TD15_BODY_LEN {
                    return None;
                }
                HEADER_LEN + 6..HEADER_LEN + 6 + size
            }
            _ => return None,
        };
        // Signature data length, signature, attestation key, then the
        // certification data: type 6 (QE report), size, its contents.
        let signature = body.end + 4..body.end + 4 + SIGNATURE_LEN;
        let attestation_key = signature.end..signature.end + ATTESTATION_KEY_LEN;
        if le16(b, attestation_key.end)? != 6 {
            return None;
        }
        let qe_report = attestation_key.end + 6..attestation_key.end + 6 + QE_REPORT_LEN;
        let qe_report_signature = qe_report.end..qe_report.end + SIGNATURE_LEN;
        let auth_len = le16(b, qe_report_signature.end)?;
        let auth_start = qe_report_signature.end + 2;
        let qe_auth_data = auth_start..auth_start + auth_len;
        // Certification data type 5: the PCK chain (PEM, leaf first).
        if le16(b, qe_auth_data.end)? != 5 {
            return None;
        }
        let pem_start = qe_auth_data.end + 6;
        let pck_chain = pem_start..pem_start + le32(b, qe_auth_data.end + 2)?;
        (pck_chain.end <= b.len()).then_some(Layout {
            body,
            signature,
            attestation_key,
            qe_report,
            qe_report_signature,
            qe_auth_data,
            pck_chain,
        })
    }

    /// The TD quote's body (TD 1.0 or TD 1.5).
    pub fn td_quote_body(b: &[u8]) -> Option<Range<usize>> {
        Some(layout(b)?.body)
    }

    /// The quote's signature (ECDSA P-256, `r ‖ s`).
    pub fn td_quote_signature(b: &[u8]) -> Option<Range<usize>> {
        Some(layout(b)?.signature)
    }

    /// The attestation key (`x ‖ y`).
    pub fn td_quote_attestation_key(b: &[u8]) -> Option<Range<usize>> {
        Some(layout(b)?.attestation_key)
    }

    /// The QE report (an SGX enclave report).
    pub fn td_quote_qe_report(b: &[u8]) -> Option<Range<usize>> {
        Some(layout(b)?.qe_report)
    }

    /// The PCK's signature over the QE report.
    pub fn td_quote_qe_report_signature(b: &[u8]) -> Option<Range<usize>> {
        Some(layout(b)?.qe_report_signature)
    }

    /// The PCK certificate chain (PEM text, leaf first).
    pub fn td_quote_pck_chain(b: &[u8]) -> Option<Range<usize>> {
        Some(layout(b)?.pck_chain)
    }

    /// The QE authentication data (empty ranges are not regions).
    pub fn td_quote_qe_auth_data(b: &[u8]) -> Option<Range<usize>> {
        Some(layout(b)?.qe_auth_data).filter(|r| !r.is_empty())
    }
}

pub use tdq::{
    td_quote_attestation_key, td_quote_body, td_quote_pck_chain, td_quote_qe_auth_data,
    td_quote_qe_report, td_quote_qe_report_signature, td_quote_signature,
};

// ---- locators ----

/// A DER element at `at`: (tag, content range).
fn der_element(b: &[u8], at: usize) -> Option<(u8, Range<usize>)> {
    let tag = *b.get(at)?;
    let first = *b.get(at + 1)?;
    let (len, header) = if first < 0x80 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 {
            return None;
        }
        let mut len = 0usize;
        for i in 0..n {
            len = (len << 8) | usize::from(*b.get(at + 2 + i)?);
        }
        (len, 2 + n)
    };
    let start = at + header;
    let end = start.checked_add(len)?;
    (end <= b.len()).then_some((tag, start..end))
}

/// The TBSCertificate's fields after its version: from the serial number's
/// first byte to the end of the TBS (the bytes the issuer signs, without
/// the outer headers whose flips make the certificate unparsable).
pub fn der_tbs_values(cert: &[u8]) -> Option<Range<usize>> {
    let (_, outer) = der_element(cert, 0)?;
    let (_, tbs) = der_element(cert, outer.start)?;
    // [0] EXPLICIT version, then serialNumber INTEGER.
    let (tag, version) = der_element(cert, tbs.start)?;
    let serial_at = if tag == 0xA0 { version.end } else { tbs.start };
    let (_, serial) = der_element(cert, serial_at)?;
    Some(serial.start..tbs.end)
}

/// The certificate's signature value: the BIT STRING's bytes after its
/// unused-bits count.
pub fn der_signature_value(cert: &[u8]) -> Option<Range<usize>> {
    let (_, outer) = der_element(cert, 0)?;
    let (_, tbs) = der_element(cert, outer.start)?;
    let tbs_end = tbs.end;
    let (_, alg) = der_element(cert, tbs_end)?;
    let (tag, sig) = der_element(cert, alg.end)?;
    (tag == 0x03).then_some(sig.start + 1..sig.end)
}

fn be16(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

/// The RSA modulus (`unique`) of a marshalled `TPM2B_PUBLIC`.
pub fn rsa_unique(b: &[u8]) -> Option<Range<usize>> {
    const TPM_ALG_RSA: usize = 0x0001;
    const TPM_ALG_NULL: usize = 0x0010;
    // size, type, nameAlg, objectAttributes, authPolicy.
    if be16(b, 2)? != TPM_ALG_RSA {
        return None;
    }
    let mut at = 2 + 2 + 2 + 4;
    at += 2 + be16(b, at)?;
    // symmetric: algorithm [, keyBits, mode].
    at += if be16(b, at)? == TPM_ALG_NULL { 2 } else { 6 };
    // scheme: algorithm [, hash].
    at += if be16(b, at)? == TPM_ALG_NULL { 2 } else { 4 };
    // keyBits, exponent.
    at += 2 + 4;
    let n = be16(b, at)?;
    let start = at + 2;
    (start + n <= b.len()).then_some(start..start + n)
}

/// The signature bytes of a marshalled `TPMT_SIGNATURE` (RSASSA/RSAPSS:
/// sigAlg, hash, size, bytes).
pub fn tpmt_signature_bytes(b: &[u8]) -> Option<Range<usize>> {
    const TPM_ALG_RSASSA: usize = 0x0014;
    const TPM_ALG_RSAPSS: usize = 0x0016;
    if !matches!(be16(b, 0)?, TPM_ALG_RSASSA | TPM_ALG_RSAPSS) {
        return None;
    }
    let n = be16(b, 4)?;
    (6 + n == b.len()).then_some(6..6 + n)
}

/// The signature bytes of a TPM signature as evidence carries it: a
/// marshalled `TPMT_SIGNATURE`, or the bare RSA signature.
pub fn signature_bytes(b: &[u8]) -> Option<Range<usize>> {
    tpmt_signature_bytes(b).or_else(|| (!b.is_empty()).then_some(0..b.len()))
}

fn le32(b: &[u8], at: usize) -> Option<usize> {
    let v = u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?);
    usize::try_from(v).ok()
}

/// One event of a crypto-agile TCG log after the Spec ID event.
struct TcgEvent {
    event_type: usize,
    /// The SHA-256 digest's offsets.
    sha256: Option<Range<usize>>,
    /// The event data's offsets.
    data: Range<usize>,
}

/// The events of a crypto-agile TCG log (`None` if it does not parse).
fn tcg_events(b: &[u8]) -> Option<Vec<TcgEvent>> {
    const TPM_ALG_SHA256: usize = 0x000B;
    // Spec ID event: pcrIndex, eventType, SHA-1 digest, eventSize, event.
    let spec_size = le32(b, 28)?;
    let spec = b.get(32..32 + spec_size)?;
    let count = le32(spec, 24)?;
    let mut sizes = Vec::new();
    for i in 0..count.min(8) {
        let o = 28 + i * 4;
        sizes.push((be16_le(spec, o)?, be16_le(spec, o + 2)?));
    }
    let mut at = 32 + spec_size;
    let mut events = Vec::new();
    while at < b.len() {
        let event_type = le32(b, at + 4)?;
        let n = le32(b, at + 8)?;
        at += 12;
        let mut sha256 = None;
        for _ in 0..n.min(8) {
            let alg = be16_le(b, at)?;
            let len = sizes.iter().find(|(a, _)| *a == alg)?.1;
            if alg == TPM_ALG_SHA256 {
                sha256 = Some(at + 2..at + 2 + len);
            }
            at += 2 + len;
        }
        let size = le32(b, at)?;
        let data = at + 4..at + 4 + size;
        b.get(data.clone())?;
        at = data.end;
        events.push(TcgEvent {
            event_type,
            sha256,
            data,
        });
    }
    Some(events)
}

fn be16_le(b: &[u8], at: usize) -> Option<usize> {
    Some(usize::from(u16::from_le_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
    ])))
}

/// The SHA-256 digest of the first event after the Spec ID event.
pub fn first_event_digest(b: &[u8]) -> Option<Range<usize>> {
    tcg_events(b)?.into_iter().find_map(|e| e.sha256)
}

/// The value of the `SecureBoot` UEFI variable in its
/// `EV_EFI_VARIABLE_DRIVER_CONFIG` event: the byte the `secureboot` claim
/// is read from. The event's digest (which the quoted PCR 7 covers) is
/// SHA-256 of the whole `UEFI_VARIABLE_DATA`, this byte included.
pub fn secure_boot_variable(b: &[u8]) -> Option<Range<usize>> {
    const EV_EFI_VARIABLE_DRIVER_CONFIG: usize = 0x8000_0001;
    let name: Vec<u8> = "SecureBoot"
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    tcg_events(b)?
        .into_iter()
        .filter(|e| e.event_type == EV_EFI_VARIABLE_DRIVER_CONFIG)
        .find_map(|e| {
            let d = b.get(e.data.clone())?;
            // GUID (16), name length (8), data length (8), name, data.
            let name_len =
                usize::try_from(u64::from_le_bytes(d.get(16..24)?.try_into().ok()?)).ok()?;
            let data_len =
                usize::try_from(u64::from_le_bytes(d.get(24..32)?.try_into().ok()?)).ok()?;
            let name_end = 32 + name_len.checked_mul(2)?;
            (d.get(32..name_end)? == name.as_slice() && data_len > 0).then(|| {
                let start = e.data.start + name_end;
                start..start + data_len
            })
        })
        .filter(|r| r.end <= b.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_first_middle_last_and_extras() {
        let r =
            SignedRegion::new("x", Field::HardwareReport, Span::All, "c").with_offsets(&[11, 99]);
        assert_eq!(r.positions(&(10..20)), vec![10, 11, 15, 19]);
        assert_eq!(r.positions(&(0..1)), vec![0]);
    }

    #[test]
    fn der_locators() {
        // SEQUENCE { SEQUENCE { [0] { INTEGER 2 }, INTEGER 5, NULL },
        //            SEQUENCE {}, BIT STRING (0 unused) AA BB }
        let cert = [
            0x30, 0x13, 0x30, 0x0A, 0xA0, 0x03, 0x02, 0x01, 0x02, 0x02, 0x01, 0x05, 0x05, 0x00,
            0x30, 0x00, 0x03, 0x03, 0x00, 0xAA, 0xBB,
        ];
        assert_eq!(der_tbs_values(&cert), Some(11..14));
        assert_eq!(der_signature_value(&cert), Some(19..21));
        assert_eq!(der_tbs_values(&[0x30]), None);
    }

    #[test]
    fn tpm_locators() {
        let sig = [0x00, 0x14, 0x00, 0x0B, 0x00, 0x02, 0xAA, 0xBB];
        assert_eq!(tpmt_signature_bytes(&sig), Some(6..8));
        assert_eq!(tpmt_signature_bytes(&sig[..7]), None);
        assert_eq!(signature_bytes(&sig), Some(6..8));
        assert_eq!(signature_bytes(&sig[..7]), Some(0..7), "a bare signature");
        // TPM2B_PUBLIC: RSA, SHA-256, attrs, empty policy, NULL sym, NULL
        // scheme, 2048 bits, exponent 0, unique of 3 bytes.
        let mut p = vec![0, 0, 0x00, 0x01, 0x00, 0x0B, 0, 0, 0, 0, 0, 0];
        p.extend([
            0x00, 0x10, 0x00, 0x10, 0x08, 0x00, 0, 0, 0, 0, 0x00, 0x03, 1, 2, 3,
        ]);
        assert_eq!(rsa_unique(&p), Some(24..27));
        assert_eq!(rsa_unique(&p[..26]), None);
    }
}
