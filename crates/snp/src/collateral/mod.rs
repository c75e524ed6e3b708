//! Collateral: the VCEK (or VLEK), its ASK/ARK chain and AMD's CRL, from
//! sources tried in order.
//!
//! ```text
//! EvidenceCerts → CollateralCache (memory + disk) → OfflineDir → Thim → Kds
//! ```
//!
//! A source answers `Ok(Some(collateral))` when it has a certificate for the
//! report, `Ok(None)` when it has nothing for it, and `Err` when it failed;
//! [`CollateralChain::resolve`] goes on to the next source after `None` or an
//! error, stores what a later source found in the cache, and fails with the
//! last error (or code 17 when no source had a certificate). No source has a
//! default network address: THIM and KDS take their base URLs.

mod sources;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

pub use sources::{CollateralCache, EvidenceCerts, Kds, OfflineDir, Thim};
pub use tee_attest_http::{retry_delay, Http, HttpConfig};

use crate::bundle::CertBundle;
use crate::certs::{AmdCertificate, CertRole};
use crate::error::SnpError;
use crate::report::{AttestationReport, SigningKey};
use crate::tcb::{Product, TcbVersion};
use crate::verify::{SnpOptions, SnpVerified, SnpVerifier};

/// What the collateral is for: the facts of one report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollateralRequest {
    /// The chip product, when known.
    pub product: Option<Product>,
    /// Which key signed the report.
    pub signer: SigningKey,
    /// The chip id (zero when masked).
    pub chip_id: [u8; 64],
    /// The reported TCB, raw.
    pub reported_tcb: u64,
}

impl CollateralRequest {
    /// The request for a report (product from the report when it tells).
    pub fn from_report(report: &AttestationReport) -> Self {
        Self {
            product: report.product_hint(),
            signer: report.signing_key(),
            chip_id: report.chip_id,
            reported_tcb: report.reported_tcb,
        }
    }

    /// The same request with a known product.
    #[must_use]
    pub fn with_product(mut self, product: Product) -> Self {
        self.product = Some(product);
        self
    }

    /// Whether the chip id is masked (all zero).
    pub fn chip_id_masked(&self) -> bool {
        self.chip_id.iter().all(|&b| b == 0)
    }

    /// The reported TCB with the product's layout (Milan's when unknown).
    pub fn tcb(&self) -> TcbVersion {
        TcbVersion::from_raw(self.reported_tcb, self.product.unwrap_or(Product::Milan))
    }

    /// The cache key: product, signer, hwID (or `masked`), TCB.
    pub fn cache_key(&self) -> String {
        let product = self.product.map(Product::name).unwrap_or("unknown");
        let hwid = if self.chip_id_masked() {
            "masked".to_string()
        } else {
            let len = self.product.map(Product::hwid_len).unwrap_or(64);
            hex::encode(&self.chip_id[..len])
        };
        format!(
            "{product}-{}-{hwid}-{:016x}",
            self.signer.name(),
            self.reported_tcb
        )
    }

    /// Whether `cert` is a leaf for this request: the right kind, the
    /// reported TCB, and (unless masked) the chip's hwID.
    pub fn matches(&self, cert: &AmdCertificate) -> bool {
        let role = match self.signer {
            SigningKey::Vcek => CertRole::Vcek,
            SigningKey::Vlek => CertRole::Vlek,
            _ => return false,
        };
        if cert.role() != role {
            return false;
        }
        let product = self
            .product
            .or_else(|| cert.product())
            .unwrap_or(Product::Milan);
        let tcb = TcbVersion::from_raw(self.reported_tcb, product);
        let ct = cert.amd().tcb;
        if ct.bootloader != Some(tcb.bootloader)
            || ct.tee != Some(tcb.tee)
            || ct.snp != Some(tcb.snp)
            || ct.microcode != Some(tcb.microcode)
            || (tcb.fmc.is_some() && ct.fmc != tcb.fmc)
        {
            return false;
        }
        if role == CertRole::Vcek && !self.chip_id_masked() {
            match &cert.amd().hwid {
                Some(h) if h.len() <= 64 => h.as_slice() == &self.chip_id[..h.len()],
                _ => false,
            }
        } else {
            true
        }
    }
}

/// Collateral for one report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collateral {
    /// The VCEK or VLEK (DER).
    pub leaf: Option<Vec<u8>>,
    /// The ASK/ASVK and ARK (DER), when the source had them.
    pub chain: Vec<Vec<u8>>,
    /// AMD's CRL (DER), when the source had it.
    pub crl: Option<Vec<u8>>,
    /// THIM's `tcbm` (the TCB the VCEK is for, hex), when from THIM.
    pub tcbm: Option<String>,
    /// Which source it came from.
    pub source: String,
}

impl Collateral {
    /// The certificates, leaf first (DER).
    pub fn certs(&self) -> Vec<Vec<u8>> {
        self.leaf.iter().chain(self.chain.iter()).cloned().collect()
    }

    /// Collateral from a bundle: the leaf that matches `req`, the
    /// intermediates and roots, and the first CRL.
    pub fn from_bundle(bundle: &CertBundle, req: &CollateralRequest, source: &str) -> Option<Self> {
        let leaf = bundle.leaves.iter().find(|c| req.matches(c))?;
        Some(Self::with_leaf(leaf, bundle, source))
    }

    /// Collateral of `leaf` with the bundle's intermediates, roots and first CRL.
    pub(crate) fn with_leaf(leaf: &AmdCertificate, bundle: &CertBundle, source: &str) -> Self {
        Self {
            leaf: Some(leaf.der().to_vec()),
            chain: bundle
                .intermediates
                .iter()
                .chain(bundle.roots.iter())
                .map(|c| c.der().to_vec())
                .collect(),
            crl: bundle.crls.first().cloned(),
            tcbm: None,
            source: source.to_string(),
        }
    }
}

/// A place collateral can come from.
#[async_trait]
pub trait CollateralSource: Send + Sync + fmt::Debug {
    /// A short name for logs and errors (`evidence`, `cache`, `thim`, …).
    fn name(&self) -> &str;

    /// The collateral for `req`, `None` when this source has none for it.
    async fn fetch(&self, req: &CollateralRequest) -> Result<Option<Collateral>, SnpError>;
}

/// Sources tried in order, with a cache that remembers what was found.
#[derive(Debug, Default, Clone)]
pub struct CollateralChain {
    sources: Vec<Arc<dyn CollateralSource>>,
    cache: Option<Arc<CollateralCache>>,
}

impl CollateralChain {
    /// An empty chain.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a source at the end.
    #[must_use]
    pub fn with_source(mut self, source: Arc<dyn CollateralSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// Adds `cache` as a source at the end, and stores what later sources
    /// find in it.
    #[must_use]
    pub fn with_cache(mut self, cache: Arc<CollateralCache>) -> Self {
        self.sources.push(cache.clone());
        self.cache = Some(cache);
        self
    }

    /// The usual order: the evidence's certificates, the cache, an offline
    /// directory, THIM, KDS (each only when given).
    pub fn standard(
        evidence: Vec<Vec<u8>>,
        cache: Option<Arc<CollateralCache>>,
        offline: Option<OfflineDir>,
        thim: Option<Thim>,
        kds: Option<Kds>,
    ) -> Self {
        let mut c = Self::new().with_source(Arc::new(EvidenceCerts::new(evidence)));
        if let Some(cache) = cache {
            c = c.with_cache(cache);
        }
        if let Some(o) = offline {
            c = c.with_source(Arc::new(o));
        }
        if let Some(t) = thim {
            c = c.with_source(Arc::new(t));
        }
        if let Some(k) = kds {
            c = c.with_source(Arc::new(k));
        }
        c
    }

    /// The names of the sources, in order.
    pub fn source_names(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.name().to_string()).collect()
    }

    /// Tries each source in order; the first with a certificate wins (and
    /// is cached when it did not come from the cache or the evidence).
    pub async fn resolve(&self, req: &CollateralRequest) -> Result<Collateral, SnpError> {
        let found = tee_attest_core::sources::first_usable(
            &self.sources,
            |s| s.fetch(req),
            |c: &Collateral| c.leaf.as_ref().is_some_and(|l| !l.is_empty()),
            |s, e| tracing::debug!(source = s.name(), "collateral source failed: {e}"),
        )
        .await;
        let last_err = match found {
            Ok((s, c)) => {
                tracing::debug!(source = s.name(), "collateral found");
                if let Some(cache) = &self.cache {
                    if c.source != "cache" && c.source != "evidence" {
                        if let Err(e) = cache.store(req, &c) {
                            tracing::warn!("collateral cache: {e}");
                        }
                    }
                }
                return Ok(c);
            }
            Err(last) => last,
        };
        Err(last_err.unwrap_or_else(|| {
            SnpError::EmptyVcek(format!(
                "no collateral source ({}) has a certificate for this report",
                self.source_names().join(", ")
            ))
        }))
    }
}

/// Resolves collateral for `report` through `chain` and verifies the report
/// with it (its CRL, when any, is checked).
pub async fn verify_with_collateral(
    verifier: &SnpVerifier,
    report: &[u8],
    chain: &CollateralChain,
    opts: &SnpOptions,
) -> Result<SnpVerified, SnpError> {
    let parsed = AttestationReport::from_bytes(report)?;
    let mut req = CollateralRequest::from_report(&parsed);
    if let Some(p) = opts.product {
        req = req.with_product(p);
    }
    let coll = chain.resolve(&req).await?;
    let mut opts = opts.clone();
    opts.crls.extend(coll.crl.iter().cloned());
    verifier.verify(report, &coll.certs(), &opts)
}
