//! Appraisal of a report: chain, signature, TCB, hwID, CRL, policy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tee_attest_core::CacheCounters;

use crate::certs::{AmdCertificate, CertBundle, CertRole, RootOrigin, TrustAnchors};
use crate::clock::{Clock, SystemClock};
use crate::crl::AmdCrl;
use crate::error::{Check, SnpError};
use crate::report::{AttestationReport, SigningKey};
use crate::tcb::{Product, TcbVersion};

/// Whether a CRL was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrlStatus {
    /// An ARK-signed, current CRL was at hand and lists neither the ASK/ASVK
    /// nor the VCEK/VLEK.
    Checked,
    /// No CRL was at hand: revocation was not checked.
    Absent,
}

impl CrlStatus {
    /// `checked` or `absent`.
    pub fn name(self) -> &'static str {
        match self {
            CrlStatus::Checked => "checked",
            CrlStatus::Absent => "absent",
        }
    }
}

/// Policy a caller may require of a report, beyond its authenticity. Every
/// field defaults to "don't check"; the values are claims either way.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Expectations {
    /// The VMPL the report must come from (0 for Azure's HCL).
    pub vmpl: Option<u32>,
    /// `Some(false)`: refuse a guest policy that allows debugging.
    pub debug_allowed: Option<bool>,
    /// `Some(false)`: refuse a guest policy that allows a migration agent.
    pub migration_allowed: Option<bool>,
    /// Bytes report_data must begin with.
    pub report_data_prefix: Option<Vec<u8>>,
    /// Every component of the reported TCB must be at least this.
    pub min_tcb: Option<TcbVersion>,
}

/// Options of one appraisal.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SnpOptions {
    /// Verify at this time (Unix seconds) instead of the verifier's clock.
    pub at: Option<u64>,
    /// CRLs (DER) to check, besides those in the certificate bundle.
    pub crls: Vec<Vec<u8>>,
    /// Fail when no CRL is at hand (else its absence is only a claim).
    pub require_crl: bool,
    /// Policy checks.
    pub expect: Expectations,
    /// The product, when the caller knows it (else detected).
    pub product: Option<Product>,
}

impl SnpOptions {
    /// Options that verify at `at` (Unix seconds).
    pub fn at(at: u64) -> Self {
        Self {
            at: Some(at),
            ..Self::default()
        }
    }
}

/// The outcome of a successful appraisal.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SnpVerified {
    /// The report.
    pub report: AttestationReport,
    /// The chip product.
    pub product: Product,
    /// The key that signed the report.
    pub signer: SigningKey,
    /// Whether the chain ended in a genuine AMD root or an extra (mock) root.
    pub root: RootOrigin,
    /// Whether a CRL was checked.
    pub crl: CrlStatus,
    /// The reported TCB, as certified by the VCEK/VLEK.
    pub reported_tcb: TcbVersion,
    /// Whether the hwID was compared with the chip id (false when masked or VLEK).
    pub hwid_checked: bool,
    /// The verification time used.
    pub at: u64,
    /// Whether the validated chain came from the verifier's cache.
    pub chain_cached: bool,
}

/// A chain that verified: what a warm appraisal reuses.
#[derive(Debug, Clone)]
struct ValidatedChain {
    leaf: AmdCertificate,
    intermediate: AmdCertificate,
    ark: AmdCertificate,
    product: Product,
    origin: RootOrigin,
    not_before: u64,
    not_after: u64,
}

const CACHE_CAPACITY: usize = 256;

/// Verifies SEV-SNP reports against trust anchors.
///
/// ```no_run
/// use tee_attest_snp::{SnpVerifier, SnpOptions, TrustAnchors};
/// # fn f(report: &[u8], vcek_der: Vec<u8>) -> Result<(), tee_attest_snp::SnpError> {
/// let verifier = SnpVerifier::new(TrustAnchors::amd());
/// let verified = verifier.verify(report, &[vcek_der], &SnpOptions::default())?;
/// println!("{}", serde_json::Value::Object(verified.maa_claims()));
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SnpVerifier {
    anchors: TrustAnchors,
    clock: Arc<dyn Clock>,
    cache: Option<Mutex<HashMap<Vec<u8>, Arc<ValidatedChain>>>>,
    counters: Arc<CacheCounters>,
}

impl SnpVerifier {
    /// A verifier trusting `anchors`, with the system clock and a cache of
    /// validated chains (per VCEK/VLEK).
    pub fn new(anchors: TrustAnchors) -> Self {
        Self {
            anchors,
            clock: Arc::new(SystemClock),
            cache: Some(Mutex::new(HashMap::new())),
            counters: CacheCounters::shared(),
        }
    }

    /// How often [`SnpVerifier::verify`] found the chain validated already
    /// (a hit: the warm path) and how often it checked the whole chain (a
    /// miss). Nothing is counted without a cache.
    pub fn cache_counters(&self) -> Arc<CacheCounters> {
        Arc::clone(&self.counters)
    }

    /// The same verifier with another clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The same verifier without a chain cache: every appraisal checks the
    /// whole chain.
    #[must_use]
    pub fn without_cache(mut self) -> Self {
        self.cache = None;
        self
    }

    /// The trust anchors.
    pub fn anchors(&self) -> &TrustAnchors {
        &self.anchors
    }

    /// Parses `report` and verifies it with the certificates (DER, any
    /// order: VCEK or VLEK, and optionally ASK/ASVK and ARK) — the ASK and
    /// ARK come from the trust anchors when missing.
    pub fn verify(
        &self,
        report: &[u8],
        certs: &[Vec<u8>],
        opts: &SnpOptions,
    ) -> Result<SnpVerified, SnpError> {
        let report = AttestationReport::from_bytes(report)?;
        let at = opts.at.unwrap_or_else(|| self.clock.now());
        if let Some(chain) = self.cached(certs, at) {
            // The warm path holds only when everything else that came with
            // the report is the validated chain itself (byte for byte), a
            // trust anchor, or a CRL (checked on this path too). Anything
            // else — another ASK or ARK, a damaged one — takes the full
            // check, so that an appraiser that saw this VCEK before decides
            // as a fresh one would.
            let mut crl = CrlStatusInput::from_opts(opts);
            let mut warm = true;
            for der in certs {
                if der.as_slice() == chain.leaf.der()
                    || der.as_slice() == chain.intermediate.der()
                    || der.as_slice() == chain.ark.der()
                    || self.anchors.known(der).is_some()
                {
                    continue;
                }
                let mut extra = CertBundle::new();
                match extra.add_any(der, "certificate") {
                    Ok(_)
                        if extra.leaves.is_empty()
                            && extra.intermediates.is_empty()
                            && extra.roots.is_empty() =>
                    {
                        crl.crls.extend(extra.crls)
                    }
                    _ => {
                        warm = false;
                        break;
                    }
                }
            }
            if warm {
                self.counters.hit();
                return self.finish(report, &chain, crl, opts, at, true);
            }
        }
        if self.cache.is_some() {
            self.counters.miss();
        }
        let mut bundle = CertBundle::new();
        for der in certs {
            // Copies of the anchors' own certificates need no parsing.
            match self.anchors.known(der) {
                Some(c) => bundle.add_cert(c.clone())?,
                None => {
                    bundle.add_any(der, "certificate")?;
                }
            }
        }
        self.verify_bundle(&report, &bundle, opts)
    }

    /// Verifies a parsed report with a bundle of certificates (and CRLs).
    pub fn verify_bundle(
        &self,
        report: &AttestationReport,
        bundle: &CertBundle,
        opts: &SnpOptions,
    ) -> Result<SnpVerified, SnpError> {
        let at = opts.at.unwrap_or_else(|| self.clock.now());
        let chain = Arc::new(self.validate_chain(report, bundle, opts.product, at)?);
        let mut crls = opts.crls.clone();
        crls.extend(bundle.crls.iter().cloned());
        let crl_input = CrlStatusInput {
            crls,
            require: opts.require_crl,
        };
        let verified = self.finish(report.clone(), &chain, crl_input, opts, at, false)?;
        if let Some(cache) = &self.cache {
            if let Ok(mut map) = cache.lock() {
                if map.len() >= CACHE_CAPACITY {
                    map.clear();
                }
                map.insert(chain.leaf.der().to_vec(), chain);
            }
        }
        Ok(verified)
    }

    fn cached(&self, certs: &[Vec<u8>], at: u64) -> Option<Arc<ValidatedChain>> {
        let cache = self.cache.as_ref()?;
        let map = cache.lock().ok()?;
        certs
            .iter()
            .find_map(|der| map.get(der.as_slice()).cloned())
            .filter(|c| c.not_before <= at && at <= c.not_after)
    }

    /// Checks the chain for `report`: picks the VCEK or VLEK its signer_info
    /// names, the ASK/ASVK and a trusted ARK, and verifies the three
    /// signatures and validity periods at `at`.
    fn validate_chain(
        &self,
        report: &AttestationReport,
        bundle: &CertBundle,
        product: Option<Product>,
        at: u64,
    ) -> Result<ValidatedChain, SnpError> {
        let signer = report.signing_key();
        let (leaf_role, int_role) = match signer {
            SigningKey::Vcek => (CertRole::Vcek, CertRole::Ask),
            SigningKey::Vlek => (CertRole::Vlek, CertRole::Asvk),
            other => {
                return Err(SnpError::verify(
                    Check::SigningKey,
                    format!(
                    "signer_info names signing key {} ({:#x}); only VCEK and VLEK are supported",
                    other.name(),
                    report.signer_info
                ),
                ))
            }
        };
        let candidates: Vec<&AmdCertificate> = bundle
            .leaves
            .iter()
            .filter(|c| c.role() == leaf_role)
            .collect();
        let leaf = match candidates.len() {
            0 => {
                if let Some(other) = bundle.leaves.first() {
                    return Err(SnpError::verify(
                        Check::SignerKind,
                        format!(
                            "the report is signed by its {} but only a {} was given",
                            leaf_role,
                            other.role()
                        ),
                    ));
                }
                return Err(SnpError::EmptyVcek(format!(
                    "no {leaf_role} certificate for the report"
                )));
            }
            1 => candidates[0],
            _ => {
                // Prefer the one whose hwID and TCB match the report.
                let p = product.or_else(|| report.product_hint());
                candidates
                    .iter()
                    .copied()
                    .find(|c| {
                        let prod = p.or_else(|| c.product()).unwrap_or(Product::Milan);
                        hwid_matches(report, c, prod)
                            && tcb_mismatch(report.reported_tcb(prod), c).is_none()
                    })
                    .unwrap_or(candidates[0])
            }
        };

        // Product: the caller's, the report's, the certificate's; they must agree.
        let from_report = report.product_hint();
        let from_cert = leaf.product();
        let product = match (product.or(from_report), from_cert) {
            (Some(a), Some(b)) if a != b => {
                return Err(SnpError::verify(
                    Check::Product,
                    format!("the report is from a {a} chip but the {leaf_role} is for {b}"),
                ))
            }
            (Some(a), _) => a,
            (None, Some(b)) => b,
            (None, None) => {
                return Err(SnpError::verify(
                    Check::Product,
                    "cannot tell the chip product from the report or the certificate",
                ))
            }
        };

        // The intermediate: carried, else known to the anchors.
        let intermediate = bundle
            .intermediates
            .iter()
            .filter(|c| c.subject_der() == leaf.issuer_der())
            .chain(self.anchors.intermediates_by_subject(leaf.issuer_der()))
            .find(|c| c.role() == int_role && leaf.verify_signed_by(c).is_ok());
        let Some(intermediate) = intermediate else {
            let named = bundle
                .intermediates
                .iter()
                .chain(self.anchors.intermediates_by_subject(leaf.issuer_der()))
                .any(|c| c.subject_der() == leaf.issuer_der());
            return Err(if named {
                SnpError::verify(
                    Check::LeafSignature,
                    format!(
                        "the {leaf_role} ({}) is not signed by any {int_role} named {}",
                        leaf.subject_cn(),
                        leaf.issuer_cn()
                    ),
                )
            } else {
                SnpError::verify(
                    Check::ChainIncomplete,
                    format!("no {int_role} named {} is available", leaf.issuer_cn()),
                )
            });
        };

        // The root: a carried ARK must be one of the anchors; else look the
        // anchors up by name. The one whose key signed the ASK wins.
        let carried: Vec<&AmdCertificate> = bundle
            .roots
            .iter()
            .filter(|r| r.subject_der() == intermediate.issuer_der())
            .collect();
        let mut anchor = None;
        if carried.is_empty() {
            for a in self.anchors.by_subject(intermediate.issuer_der()) {
                if intermediate.verify_signed_by(&a.ark).is_ok() {
                    anchor = Some(a);
                    break;
                }
            }
        } else {
            let mut untrusted = None;
            for ark in &carried {
                match self.anchors.find_identical(ark) {
                    Some(a) if intermediate.verify_signed_by(&a.ark).is_ok() => {
                        anchor = Some(a);
                        break;
                    }
                    Some(_) => {}
                    None => untrusted = Some(*ark),
                }
            }
            if anchor.is_none() {
                if let Some(ark) = untrusted {
                    return Err(SnpError::verify(
                        Check::UntrustedRoot,
                        format!(
                            "the chain's ARK ({}) is not a trusted root",
                            ark.subject_cn()
                        ),
                    ));
                }
            }
        }
        let Some(anchor) = anchor else {
            let any_named = self
                .anchors
                .by_subject(intermediate.issuer_der())
                .next()
                .is_some();
            return Err(if any_named {
                SnpError::verify(
                    Check::AskSignature,
                    format!(
                        "the {int_role} ({}) is not signed by a trusted ARK named {}",
                        intermediate.subject_cn(),
                        intermediate.issuer_cn()
                    ),
                )
            } else {
                SnpError::verify(
                    Check::UntrustedRoot,
                    format!(
                        "no trusted root named {} (the {int_role}'s issuer)",
                        intermediate.issuer_cn()
                    ),
                )
            });
        };
        if let Some(p) = anchor.product {
            if p != product {
                return Err(SnpError::verify(
                    Check::Product,
                    format!(
                        "the chain ends in the {p} ARK but the report is from a {product} chip"
                    ),
                ));
            }
        }
        let ark = &anchor.ark;
        ark.verify_signed_by(ark)
            .map_err(|e| SnpError::verify(Check::ArkSignature, e))?;

        for (c, role) in [
            (leaf, leaf_role),
            (intermediate, int_role),
            (ark, CertRole::Ark),
        ] {
            if let Err(bound) = c.validity_at(at) {
                let check = if bound == "expired" {
                    Check::Expired
                } else {
                    Check::NotYetValid
                };
                return Err(SnpError::verify(
                    check,
                    format!(
                        "the {role} ({}) is {bound} at {at} (valid {} to {})",
                        c.subject_cn(),
                        c.not_before(),
                        c.not_after()
                    ),
                ));
            }
        }
        Ok(ValidatedChain {
            leaf: leaf.clone(),
            intermediate: intermediate.clone(),
            ark: ark.clone(),
            product,
            origin: anchor.origin,
            not_before: leaf
                .not_before()
                .max(intermediate.not_before())
                .max(ark.not_before()),
            not_after: leaf
                .not_after()
                .min(intermediate.not_after())
                .min(ark.not_after()),
        })
    }

    /// The checks that involve the report: signature, TCB, hwID, CRL, policy.
    fn finish(
        &self,
        report: AttestationReport,
        chain: &ValidatedChain,
        crl: CrlStatusInput,
        opts: &SnpOptions,
        at: u64,
        cached: bool,
    ) -> Result<SnpVerified, SnpError> {
        let signer = report.signing_key();
        let expected_role = match signer {
            SigningKey::Vcek => CertRole::Vcek,
            SigningKey::Vlek => CertRole::Vlek,
            other => {
                return Err(SnpError::verify(
                    Check::SigningKey,
                    format!("signer_info names signing key {}", other.name()),
                ))
            }
        };
        if chain.leaf.role() != expected_role {
            return Err(SnpError::verify(
                Check::SignerKind,
                format!(
                    "the report is signed by its {expected_role} but the certificate is a {}",
                    chain.leaf.role()
                ),
            ));
        }
        if let Some(p) = opts.product.or_else(|| report.product_hint()) {
            if p != chain.product {
                return Err(SnpError::verify(
                    Check::Product,
                    format!(
                        "the report is from a {p} chip but the chain is {}",
                        chain.product
                    ),
                ));
            }
        }
        if report.signature_algo != 1 {
            return Err(SnpError::verify(
                Check::SignatureAlgorithm,
                format!(
                    "signature_algo is {} (1 = ECDSA P-384 with SHA-384 expected)",
                    report.signature_algo
                ),
            ));
        }
        chain
            .leaf
            .verify_ecdsa_p384(report.signed_bytes(), &report.signature_fixed())
            .map_err(|e| {
                SnpError::verify(
                    Check::ReportSignature,
                    format!(
                        "report signature with the {} ({}): {e}",
                        chain.leaf.role(),
                        chain.leaf.subject_cn()
                    ),
                )
            })?;

        let product = chain.product;
        let reported = report.reported_tcb(product);
        if let Some(msg) = tcb_mismatch(reported, &chain.leaf) {
            return Err(SnpError::verify(Check::Tcb, msg));
        }
        let committed = report.committed_tcb(product);
        let current = report.current_tcb(product);
        if let Some((name, c, cur)) = committed.first_above(current) {
            return Err(SnpError::verify(
                Check::CommittedTcb,
                format!("committed {name} SPL {c} is above the current {cur}"),
            ));
        }

        let hwid_checked = match signer {
            SigningKey::Vlek => {
                if chain.leaf.amd().hwid.is_some() {
                    return Err(SnpError::verify(
                        Check::VlekHwId,
                        "the VLEK carries an hwID extension (a VLEK is not chip-specific)",
                    ));
                }
                false
            }
            _ => {
                if report.chip_id_masked() {
                    false
                } else if hwid_matches(&report, &chain.leaf, product) {
                    true
                } else {
                    return Err(SnpError::verify(
                        Check::HwId,
                        match &chain.leaf.amd().hwid {
                            None => "the VCEK has no hwID extension".to_string(),
                            Some(h) => format!(
                                "the VCEK's hwID {} is not the report's chip id {}",
                                hex::encode(h),
                                hex::encode(&report.chip_id[..h.len().min(64)])
                            ),
                        },
                    ));
                }
            }
        };

        let crl_status = crl.check(chain, at)?;
        check_expectations(&report, reported, &opts.expect)?;

        Ok(SnpVerified {
            signer,
            product,
            root: chain.origin,
            crl: crl_status,
            reported_tcb: reported,
            hwid_checked,
            at,
            chain_cached: cached,
            report,
        })
    }
}

struct CrlStatusInput {
    crls: Vec<Vec<u8>>,
    require: bool,
}

impl CrlStatusInput {
    fn from_opts(opts: &SnpOptions) -> Self {
        Self {
            crls: opts.crls.clone(),
            require: opts.require_crl,
        }
    }

    fn check(&self, chain: &ValidatedChain, at: u64) -> Result<CrlStatus, SnpError> {
        let mut checked = false;
        for der in &self.crls {
            let crl = AmdCrl::from_der(der)?;
            if crl.issuer_der() != chain.ark.subject_der() {
                continue;
            }
            crl.check(&chain.ark, at)?;
            for c in [&chain.intermediate, &chain.leaf] {
                if crl.lists(c) {
                    return Err(SnpError::verify(
                        Check::Revoked,
                        format!(
                            "the {} ({}, serial {}) is revoked by the AMD CRL",
                            c.role(),
                            c.subject_cn(),
                            hex::encode(c.serial())
                        ),
                    ));
                }
            }
            checked = true;
        }
        if checked {
            Ok(CrlStatus::Checked)
        } else if self.require {
            Err(SnpError::verify(
                Check::CrlMissing,
                "a CRL is required and none from the chain's ARK is at hand",
            ))
        } else {
            Ok(CrlStatus::Absent)
        }
    }
}

fn hwid_matches(report: &AttestationReport, leaf: &AmdCertificate, product: Product) -> bool {
    match &leaf.amd().hwid {
        Some(h) if h.len() == 64 => h.as_slice() == report.chip_id.as_slice(),
        Some(h) if h.len() == product.hwid_len() => {
            h.as_slice() == &report.chip_id[..h.len()]
                && report.chip_id[h.len()..].iter().all(|&b| b == 0)
        }
        _ => false,
    }
}

/// The first TCB component where the certificate and the report differ.
fn tcb_mismatch(reported: TcbVersion, leaf: &AmdCertificate) -> Option<String> {
    let cert = leaf.amd().tcb;
    let pairs = [
        (
            "bootloader (blSPL)",
            Some(reported.bootloader),
            cert.bootloader,
        ),
        ("tee (teeSPL)", Some(reported.tee), cert.tee),
        ("snp (snpSPL)", Some(reported.snp), cert.snp),
        (
            "microcode (ucodeSPL)",
            Some(reported.microcode),
            cert.microcode,
        ),
        ("fmc (fmcSPL)", reported.fmc, cert.fmc),
    ];
    for (name, rep, cert) in pairs {
        match (rep, cert) {
            (Some(r), Some(c)) if r != c => {
                return Some(format!(
                    "{name}: the {} certifies {c}, the report says {r}",
                    leaf.role()
                ))
            }
            (Some(_), None) => {
                return Some(format!("{name}: the {} has no such extension", leaf.role()))
            }
            _ => {}
        }
    }
    None
}

fn check_expectations(
    report: &AttestationReport,
    reported: TcbVersion,
    e: &Expectations,
) -> Result<(), SnpError> {
    if let Some(v) = e.vmpl {
        if report.vmpl != v {
            return Err(SnpError::verify(
                Check::Vmpl,
                format!("the report is from VMPL {}, {v} expected", report.vmpl),
            ));
        }
    }
    if e.debug_allowed == Some(false) && report.policy.debug_allowed() {
        return Err(SnpError::verify(
            Check::Debug,
            "the guest policy allows debugging",
        ));
    }
    if e.migration_allowed == Some(false) && report.policy.migrate_ma_allowed() {
        return Err(SnpError::verify(
            Check::Migration,
            "the guest policy allows a migration agent",
        ));
    }
    if let Some(prefix) = &e.report_data_prefix {
        if prefix.len() > 64 || !report.report_data.starts_with(prefix) {
            return Err(SnpError::verify(
                Check::ReportData,
                "report_data does not begin with the expected bytes",
            ));
        }
    }
    if let Some(min) = e.min_tcb {
        if let Some((name, want, have)) = min.first_above(reported) {
            return Err(SnpError::verify(
                Check::Tcb,
                format!("reported {name} SPL {have} is below the required {want}"),
            ));
        }
    }
    Ok(())
}
