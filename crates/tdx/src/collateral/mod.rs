//! DCAP collateral: the signed TCB info and QE identity with their issuer
//! chains, the PCK CRL with its issuer chain, the root CA CRL — and the
//! sources it comes from, tried in order like the SEV-SNP ones.
//!
//! ```text
//! EvidenceCollateral → CollateralCache (memory + disk) → OfflineDir → Pcs (PCCS or Intel PCS)
//! ```
//!
//! A source answers `Ok(Some(collateral))` when it has the TCB info and the
//! QE identity for the quote, `Ok(None)` when it has nothing for it, and
//! `Err` when it failed; [`CollateralChain::resolve`] goes on to the next
//! source after `None` or an error, stores what a later source found in the
//! cache, and fails with the last error (or code 17 when no source had
//! collateral). No source has a default network address.

mod sources;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

pub use sources::{CollateralCache, EvidenceCollateral, OfflineDir, Pcs};
pub use tee_attest_http::HttpConfig;

use crate::error::TdxError;
use crate::pki::parse_pem_chain;
use crate::quote::Quote;
use crate::tcb_info::TcbInfo;

/// A signed JSON object (TCB info or QE identity): the exact text that was
/// signed, and the signature (ECDSA P-256, `r ‖ s`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedJson {
    /// The signed object's JSON text, byte for byte as served.
    pub body: String,
    /// The signature, `r ‖ s` (64 bytes).
    pub signature: Vec<u8>,
}

#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(rename = "tcbInfo", borrow, default)]
    tcb_info: Option<&'a RawValue>,
    #[serde(rename = "enclaveIdentity", borrow, default)]
    enclave_identity: Option<&'a RawValue>,
    signature: String,
}

impl SignedJson {
    /// Reads an Intel PCS v4 response, `{"tcbInfo": {…}, "signature": "hex"}`
    /// or `{"enclaveIdentity": {…}, "signature": "hex"}`: the signed text is
    /// the object's bytes exactly as in the response.
    pub fn from_pcs_response(text: &[u8]) -> Result<(Self, PcsKind), TdxError> {
        let text = std::str::from_utf8(text)
            .map_err(|_| TdxError::collateral("PCS response", "not UTF-8"))?;
        let env: Envelope<'_> = serde_json::from_str(text).map_err(|e| {
            TdxError::collateral("PCS response", format!("not the JSON expected: {e}"))
        })?;
        let (raw, kind) = match (env.tcb_info, env.enclave_identity) {
            (Some(t), None) => (t, PcsKind::TcbInfo),
            (None, Some(q)) => (q, PcsKind::QeIdentity),
            _ => {
                return Err(TdxError::collateral(
                    "PCS response",
                    "neither a tcbInfo nor an enclaveIdentity response",
                ))
            }
        };
        let signature = hex::decode(&env.signature)
            .map_err(|e| TdxError::collateral("PCS response", format!("signature: {e}")))?;
        Ok((
            Self {
                body: raw.get().to_string(),
                signature,
            },
            kind,
        ))
    }

    /// The PCS response form of this object.
    pub fn to_pcs_response(&self, kind: PcsKind) -> String {
        let key = match kind {
            PcsKind::TcbInfo => "tcbInfo",
            PcsKind::QeIdentity => "enclaveIdentity",
        };
        format!(
            "{{\"{key}\":{},\"signature\":\"{}\"}}",
            self.body,
            hex::encode(&self.signature)
        )
    }
}

/// What a PCS JSON response carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PcsKind {
    /// A TCB info.
    TcbInfo,
    /// A QE (enclave) identity.
    QeIdentity,
}

/// The collateral for one quote. Issuer chains are PEM text, as Intel serves
/// them (leaf first); CRLs are DER.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Collateral {
    /// The signed TCB info.
    pub tcb_info: Option<SignedJson>,
    /// Its issuer chain (TCB signing certificate, root CA).
    pub tcb_info_issuer_chain: Vec<u8>,
    /// The signed QE identity.
    pub qe_identity: Option<SignedJson>,
    /// Its issuer chain.
    pub qe_identity_issuer_chain: Vec<u8>,
    /// The PCK CRL (of the Platform or Processor CA), DER.
    pub pck_crl: Option<Vec<u8>>,
    /// Its issuer chain (intermediate CA, root CA), when known.
    pub pck_crl_issuer_chain: Vec<u8>,
    /// The root CA CRL, DER.
    pub root_ca_crl: Option<Vec<u8>>,
    /// A PCK certificate chain for quotes that do not carry one (PEM).
    pub pck_certificate_chain: Option<Vec<u8>>,
    /// Which source it came from.
    pub source: String,
}

/// dcap-qvl's `QuoteCollateralV3` JSON (byte fields hex, the signed objects
/// as JSON text).
#[derive(Serialize, Deserialize)]
struct DcapQvlJson {
    pck_crl_issuer_chain: String,
    root_ca_crl: String,
    pck_crl: String,
    tcb_info_issuer_chain: String,
    tcb_info: String,
    tcb_info_signature: String,
    qe_identity_issuer_chain: String,
    qe_identity: String,
    qe_identity_signature: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pck_certificate_chain: Option<String>,
}

fn hex_bytes(s: &str, what: &str) -> Result<Vec<u8>, TdxError> {
    hex::decode(s.trim()).map_err(|e| TdxError::collateral(what, format!("not hex: {e}")))
}

impl Collateral {
    /// Reads dcap-qvl's collateral JSON (`QuoteCollateralV3`).
    pub fn from_dcap_qvl_json(bytes: &[u8]) -> Result<Self, TdxError> {
        let j: DcapQvlJson = serde_json::from_slice(bytes).map_err(|e| {
            TdxError::collateral("dcap-qvl collateral", format!("not the JSON expected: {e}"))
        })?;
        let opt = |v: Vec<u8>| (!v.is_empty()).then_some(v);
        Ok(Self {
            tcb_info: Some(SignedJson {
                body: j.tcb_info,
                signature: hex_bytes(&j.tcb_info_signature, "tcb_info_signature")?,
            }),
            tcb_info_issuer_chain: j.tcb_info_issuer_chain.into_bytes(),
            qe_identity: Some(SignedJson {
                body: j.qe_identity,
                signature: hex_bytes(&j.qe_identity_signature, "qe_identity_signature")?,
            }),
            qe_identity_issuer_chain: j.qe_identity_issuer_chain.into_bytes(),
            pck_crl: opt(hex_bytes(&j.pck_crl, "pck_crl")?),
            pck_crl_issuer_chain: j.pck_crl_issuer_chain.into_bytes(),
            root_ca_crl: opt(hex_bytes(&j.root_ca_crl, "root_ca_crl")?),
            pck_certificate_chain: j.pck_certificate_chain.map(String::into_bytes),
            source: "dcap-qvl JSON".into(),
        })
    }

    /// This collateral as dcap-qvl's JSON (absent pieces empty; the signed
    /// objects must be present).
    pub fn to_dcap_qvl_json(&self) -> Result<Vec<u8>, TdxError> {
        let (Some(t), Some(q)) = (&self.tcb_info, &self.qe_identity) else {
            return Err(TdxError::collateral(
                "collateral",
                "no TCB info or QE identity to write",
            ));
        };
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        let j = DcapQvlJson {
            pck_crl_issuer_chain: text(&self.pck_crl_issuer_chain),
            root_ca_crl: self
                .root_ca_crl
                .as_deref()
                .map(hex::encode)
                .unwrap_or_default(),
            pck_crl: self.pck_crl.as_deref().map(hex::encode).unwrap_or_default(),
            tcb_info_issuer_chain: text(&self.tcb_info_issuer_chain),
            tcb_info: t.body.clone(),
            tcb_info_signature: hex::encode(&t.signature),
            qe_identity_issuer_chain: text(&self.qe_identity_issuer_chain),
            qe_identity: q.body.clone(),
            qe_identity_signature: hex::encode(&q.signature),
            pck_certificate_chain: self.pck_certificate_chain.as_deref().map(text),
        };
        serde_json::to_vec_pretty(&j).map_err(|source| TdxError::CollateralEncode {
            what: "collateral",
            source,
        })
    }

    /// Whether it has both signed objects (what a source must have to answer).
    pub fn is_complete(&self) -> bool {
        self.tcb_info.is_some() && self.qe_identity.is_some()
    }

    /// The earliest nextUpdate of the signed objects, when they parse (for
    /// caches: past it, the collateral is stale).
    pub fn next_update(&self) -> Option<u64> {
        let t = self
            .tcb_info
            .as_ref()
            .and_then(|t| TcbInfo::parse(&t.body).ok())
            .map(|t| t.next_update);
        let q = self
            .qe_identity
            .as_ref()
            .and_then(|q| crate::qe_identity::QeIdentity::parse(&q.body).ok())
            .map(|q| q.next_update);
        match (t, q) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

/// Which TEE's collateral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tee {
    /// SGX (`/sgx/certification/v4/…`).
    Sgx,
    /// TDX (`/tdx/certification/v4/…`).
    Tdx,
}

impl Tee {
    /// The PCS path segment.
    pub fn path(self) -> &'static str {
        match self {
            Tee::Sgx => "sgx",
            Tee::Tdx => "tdx",
        }
    }
}

/// Which PCK CA issued the PCK certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PckCa {
    /// Intel SGX PCK Platform CA (multi-package platforms).
    Platform,
    /// Intel SGX PCK Processor CA.
    Processor,
}

impl PckCa {
    /// The PCS `ca=` parameter.
    pub fn param(self) -> &'static str {
        match self {
            PckCa::Platform => "platform",
            PckCa::Processor => "processor",
        }
    }
}

/// What collateral is asked for: the facts of one quote.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CollateralRequest {
    /// SGX or TDX.
    pub tee: Tee,
    /// The platform's FMSPC (from the PCK certificate).
    pub fmspc: [u8; 6],
    /// The PCK's CA.
    pub ca: PckCa,
}

impl CollateralRequest {
    /// The request for a quote, from the PCK certificate it carries.
    pub fn from_quote(quote: &Quote) -> Result<Self, TdxError> {
        let pem = quote.pck_chain_pem().ok_or_else(|| {
            TdxError::CollateralMissing(
                "the quote carries no PCK certificate chain, so its FMSPC is unknown".into(),
            )
        })?;
        let chain = parse_pem_chain(pem, "PCK chain")?;
        let leaf = chain
            .first()
            .ok_or_else(|| TdxError::cert("PCK chain", "empty"))?;
        let ext = leaf
            .sgx_extensions()
            .ok_or_else(|| TdxError::cert("PCK certificate", "no SGX extensions"))?;
        let ca = if leaf.issuer_cn().contains("Processor") {
            PckCa::Processor
        } else {
            PckCa::Platform
        };
        Ok(Self {
            tee: if quote.is_tdx() { Tee::Tdx } else { Tee::Sgx },
            fmspc: ext.fmspc,
            ca,
        })
    }

    /// The FMSPC in upper-case hex (as the PCS writes it).
    pub fn fmspc_hex(&self) -> String {
        hex::encode_upper(self.fmspc)
    }

    /// The cache key: TEE, FMSPC, CA.
    pub fn cache_key(&self) -> String {
        format!(
            "{}-{}-{}",
            self.tee.path(),
            self.fmspc_hex(),
            self.ca.param()
        )
    }
}

/// A place collateral can come from.
#[async_trait]
pub trait CollateralSource: Send + Sync + fmt::Debug {
    /// A short name for logs and errors (`evidence`, `cache`, `offline`, `pcs`).
    fn name(&self) -> &str;

    /// The collateral for `req`, `None` when this source has none for it.
    async fn fetch(&self, req: &CollateralRequest) -> Result<Option<Collateral>, TdxError>;
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

    /// The usual order: collateral that came with the evidence, the cache,
    /// an offline directory, a PCCS/PCS (each only when given).
    pub fn standard(
        evidence: Option<Collateral>,
        cache: Option<Arc<CollateralCache>>,
        offline: Option<OfflineDir>,
        pcs: Option<Pcs>,
    ) -> Self {
        let mut c = Self::new();
        if let Some(e) = evidence {
            c = c.with_source(Arc::new(EvidenceCollateral::new(e)));
        }
        if let Some(cache) = cache {
            c = c.with_cache(cache);
        }
        if let Some(o) = offline {
            c = c.with_source(Arc::new(o));
        }
        if let Some(p) = pcs {
            c = c.with_source(Arc::new(p));
        }
        c
    }

    /// The names of the sources, in order.
    pub fn source_names(&self) -> Vec<String> {
        self.sources.iter().map(|s| s.name().to_string()).collect()
    }

    /// Tries each source in order; the first with complete collateral wins
    /// (and is cached when it came from neither the cache nor the evidence).
    pub async fn resolve(&self, req: &CollateralRequest) -> Result<Collateral, TdxError> {
        let found = tee_attest_core::sources::first_usable(
            &self.sources,
            |s| s.fetch(req),
            |c: &Collateral| c.is_complete(),
            |s, e| tracing::debug!(source = s.name(), "collateral source failed: {e}"),
        )
        .await;
        let last_err = match found {
            Ok((s, c)) => {
                tracing::debug!(source = s.name(), "DCAP collateral found");
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
            TdxError::CollateralMissing(format!(
                "no collateral source ({}) has TCB info and QE identity for {} FMSPC {}",
                self.source_names().join(", "),
                req.tee.path(),
                req.fmspc_hex()
            ))
        }))
    }
}

/// Resolves the collateral of `quote` through `chain` and verifies the
/// quote with it.
pub async fn verify_with_collateral(
    verifier: &crate::DcapVerifier,
    quote: &[u8],
    chain: &CollateralChain,
    opts: &crate::VerifyOptions,
) -> Result<crate::Verdict, TdxError> {
    let req = CollateralRequest::from_quote(&Quote::parse(quote)?)?;
    let collateral = chain.resolve(&req).await?;
    verifier.verify(quote, &collateral, opts)
}
