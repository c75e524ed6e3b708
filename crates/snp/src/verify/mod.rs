//! Appraisal of a report: chain, signature, TCB, hwID, CRL, policy.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tee_attest_core::CacheCounters;

use crate::anchors::{RootOrigin, TrustAnchors};
use crate::bundle::CertBundle;
use crate::certs::{AmdCertificate, CertRole};
use crate::crl::AmdCrl;
use crate::error::{Check, SnpError};
use crate::report::{AttestationReport, SigningKey};
use crate::tcb::{Product, TcbVersion};
use tee_attest_core::time::{Clock, SystemClock};

mod chain;
mod checks;

use chain::CrlStatusInput;
use checks::{check_expectations, hwid_matches, tcb_mismatch};

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
