//! The verifier's side of Intel TDX and SGX: [`DcapAppraiser`], MAA's
//! `TdxVm` and `SgxEnclave` attestation types as [`Appraiser`]s.
//!
//! | check | what |
//! |---|---|
//! | `evidence.type` | a TDX quote for `TdxVm`, an SGX quote for `SgxEnclave` |
//! | `untrusted-root`, `pck.*`, `tcb-info.*`, `qe-identity.*`, `policy.*`, … | the quote and its collateral ([`DcapVerifier`]) |
//! | `runtime-data.binding` | report_data begins with SHA-256(runtime data) |
//! | `runtime-data.json` | runtime data said to be JSON is a JSON object |
//! | `nonce.binding` | a nonce to echo must be in the JSON runtime data (member `nonce`, any case) |
//! | `nonce` | the evidence's nonce is the one the caller expects |
//! | `rtmr` | a CCEL event log sent with a TD quote replays to its RTMR0–2 (and RTMR3 when logged) |
//!
//! The quote's PCK chain names its root; the appraiser verifies with the
//! built-in Intel SGX Root CA unless that root is one of the extra roots
//! it was configured with (the mock Intel root, only when asked for), and
//! marks such evidence as mock. Collateral comes from the configured
//! [`CollateralChain`] (cache, offline directory, PCCS/PCS); what it found
//! is remembered until its earliest `nextUpdate`, so the appraisal path
//! does not touch the network or the disk for collateral it has.
//!
//! Like the SEV-SNP appraiser (and unlike MAA), a request's nonce is
//! echoed only when the evidence binds it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::{json, Map, Value};
use tee_attest_core::{
    Appraisal, Appraiser, CacheCounters, Error, Evidence, EvidenceType, MOCK_EVIDENCE_CLAIM,
};

use crate::ccel::CcEventLog;
use crate::collateral::{Collateral, CollateralChain, CollateralRequest};
use crate::error::{Check, TdxError};
use crate::quote::{Quote, QuoteBody, TdReport10};
use crate::verify::{DcapVerifier, VerifyOptions};
use crate::{claims_json, Clock, SystemClock, TDX_VM};

/// MAA's `SgxEnclave` evidence: an SGX quote (v3) and the runtime data
/// (enclave held data) whose SHA-256 begins its report data.
pub const SGX_ENCLAVE: EvidenceType = EvidenceType::new("SgxEnclave", None);

fn refuse(check: Check, detail: impl Into<String>) -> Error {
    TdxError::verify(check, detail).into()
}

/// Whether JSON `data` is an object with a member named `nonce` (any case)
/// whose string value is `nonce`.
fn json_nonce_matches(data: &[u8], nonce: &[u8]) -> bool {
    serde_json::from_slice::<Map<String, Value>>(data).is_ok_and(|m| {
        m.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("nonce") && v.as_str().map(str::as_bytes) == Some(nonce)
        })
    })
}

/// What the TDX and SGX appraisers share: the verifiers (Intel's root and
/// the extra roots), the collateral sources and what they found, the
/// verification options.
pub struct DcapTrust {
    genuine: DcapVerifier,
    extra: Vec<DcapVerifier>,
    chain: CollateralChain,
    options: VerifyOptions,
    clock: Arc<dyn Clock>,
    found: Mutex<HashMap<String, (Arc<Collateral>, u64)>>,
    counters: Arc<CacheCounters>,
}

impl std::fmt::Debug for DcapTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DcapTrust")
            .field("extra_roots", &self.extra.len())
            .field("sources", &self.chain.source_names())
            .finish_non_exhaustive()
    }
}

/// At most this many collateral sets (one per TEE and FMSPC) are
/// remembered; past it, the oldest are forgotten.
const FOUND_ENTRIES: usize = 256;

impl DcapTrust {
    /// Trust in Intel's root and `extra_roots` (self-signed DER: the mock
    /// Intel root, only when asked for), collateral from `chain`, verified
    /// with `options` (the caller's policy) on the system clock.
    pub fn new(
        extra_roots: &[Vec<u8>],
        chain: CollateralChain,
        options: VerifyOptions,
    ) -> Result<Self, TdxError> {
        Self::with_clock(extra_roots, chain, options, Arc::new(SystemClock))
    }

    /// [`DcapTrust::new`] on another clock.
    pub fn with_clock(
        extra_roots: &[Vec<u8>],
        chain: CollateralChain,
        options: VerifyOptions,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, TdxError> {
        let genuine = DcapVerifier::new()?.with_clock(clock.clone());
        let extra = extra_roots
            .iter()
            .map(|der| Ok(DcapVerifier::with_root_der(der)?.with_clock(clock.clone())))
            .collect::<Result<Vec<_>, TdxError>>()?;
        Ok(Self {
            genuine,
            extra,
            chain,
            options,
            clock,
            found: Mutex::new(HashMap::new()),
            counters: CacheCounters::shared(),
        })
    }

    /// How often [`DcapTrust::collateral`] had a quote's collateral
    /// remembered and current (a hit), and how often it asked the sources
    /// (a miss).
    pub fn cache_counters(&self) -> Arc<CacheCounters> {
        Arc::clone(&self.counters)
    }

    /// The verifier for a quote: the extra root its PCK chain ends in, if
    /// any (then `true`: mock evidence), else Intel's. A chain that ends in
    /// a root trusted by neither is refused here (`untrusted-root`), before
    /// any collateral is looked for: no source is asked for a quote that
    /// cannot pass.
    fn verifier_for(&self, quote: &Quote) -> Result<(&DcapVerifier, bool), TdxError> {
        let root = quote
            .pck_chain_pem()
            .and_then(|pem| crate::pki::parse_pem_chain(pem, "PCK chain").ok())
            .and_then(|chain| chain.into_iter().find(|c| c.is_self_issued()));
        if let Some(root) = root {
            if let Some(v) = self.extra.iter().find(|v| v.root().der() == root.der()) {
                return Ok((v, true));
            }
            if root.der() != self.genuine.root().der() {
                return Err(TdxError::verify(
                    Check::UntrustedRoot,
                    "the PCK chain does not end in the trusted root",
                ));
            }
        }
        Ok((&self.genuine, false))
    }

    fn found(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Arc<Collateral>, u64)>> {
        match self.found.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// The collateral of a quote: remembered while current, else from the
    /// sources (on a thread of its own, so that it works from synchronous
    /// code, from a blocking task and from inside an async runtime alike).
    pub fn collateral(&self, quote: &Quote) -> Result<Arc<Collateral>, TdxError> {
        let req = CollateralRequest::from_quote(quote)?;
        let key = req.cache_key();
        let now = self.clock.now();
        if let Some((c, until)) = self.found().get(&key) {
            if *until > now {
                self.counters.hit();
                return Ok(Arc::clone(c));
            }
        }
        self.counters.miss();
        let chain = &self.chain;
        // The caller's span (a service's request id) goes with the work.
        let span = tracing::Span::current();
        let resolved = std::thread::scope(|s| {
            s.spawn(|| {
                let _span = span.enter();
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| {
                        TdxError::InvalidInput(format!("a runtime for collateral: {e}"))
                    })?;
                rt.block_on(chain.resolve(&req))
            })
            .join()
        })
        .map_err(|_| TdxError::InvalidInput("the collateral thread failed".into()))??;
        let resolved = Arc::new(resolved);
        let until = resolved.next_update().unwrap_or(0);
        let mut found = self.found();
        if found.len() >= FOUND_ENTRIES {
            found.retain(|_, (_, t)| *t > now);
            if found.len() >= FOUND_ENTRIES {
                found.clear();
            }
        }
        found.insert(key, (Arc::clone(&resolved), until));
        Ok(resolved)
    }
}

/// What a verified quote establishes.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct QuoteClaims {
    /// The verdict's claims (MAA's names: [`claims_json`]).
    pub claims: Map<String, Value>,
    /// Whether the quote chained to an extra (mock) root.
    pub mock: bool,
    /// The quote's report data.
    pub report_data: [u8; 64],
    /// Whether the TD or enclave is debuggable.
    pub debug: bool,
    /// The TD's body (TD 1.0 fields; TD 1.5 bodies extend them), for TDX
    /// quotes.
    pub td: Option<TdReport10>,
}

/// Which quotes an appraiser takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    TdxVm,
    SgxEnclave,
}

/// The appraiser of `TdxVm` or `SgxEnclave` evidence.
#[derive(Debug, Clone)]
pub struct DcapAppraiser {
    kind: Kind,
    trust: Arc<DcapTrust>,
}

impl DcapAppraiser {
    /// The `TdxVm` appraiser (bare TDX quotes).
    pub fn tdx_vm(trust: Arc<DcapTrust>) -> Self {
        Self {
            kind: Kind::TdxVm,
            trust,
        }
    }

    /// The `SgxEnclave` appraiser (SGX quotes).
    pub fn sgx_enclave(trust: Arc<DcapTrust>) -> Self {
        Self {
            kind: Kind::SgxEnclave,
            trust,
        }
    }

    /// Verifies a quote (of the kind this appraiser takes) with its
    /// collateral. Runtime data and nonce are the caller's to bind (with
    /// [`QuoteClaims::report_data`]).
    pub fn verify_quote(&self, quote: &[u8]) -> Result<QuoteClaims, Error> {
        let q = Quote::parse(quote)?;
        let is_sgx = matches!(q.body, QuoteBody::SgxEnclave(_));
        if is_sgx != (self.kind == Kind::SgxEnclave) {
            return Err(refuse(
                Check::EvidenceType,
                format!(
                    "{} evidence carries {} quote",
                    self.evidence_type(),
                    if is_sgx { "an SGX" } else { "a TDX" }
                ),
            ));
        }
        let (verifier, mock) = self.trust.verifier_for(&q)?;
        let collateral = self.trust.collateral(&q)?;
        let verdict = verifier.verify_quote(&q, &collateral, &self.trust.options)?;
        let claims = match claims_json(&verdict) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        Ok(QuoteClaims {
            claims,
            mock,
            report_data: *verdict.body.report_data(),
            debug: verdict.is_debug(),
            td: verdict.body.td().cloned(),
        })
    }
}

impl Appraiser for DcapAppraiser {
    /// `dcap-collateral`: the collateral remembered by the [`DcapTrust`]
    /// (shared by the appraisers built on it).
    fn caches(&self) -> Vec<(&'static str, Arc<CacheCounters>)> {
        vec![("dcap-collateral", self.trust.cache_counters())]
    }

    fn evidence_type(&self) -> EvidenceType {
        match self.kind {
            Kind::TdxVm => TDX_VM,
            Kind::SgxEnclave => SGX_ENCLAVE,
        }
    }

    /// `evidence`: the quote (`hardware_report`), the runtime data, and in
    /// `nonce` the nonce to echo.
    fn appraise(
        &self,
        evidence: &Evidence,
        expected_nonce: Option<&[u8]>,
    ) -> Result<Appraisal, Error> {
        if evidence.evidence_type != self.evidence_type() {
            return Err(refuse(
                Check::EvidenceType,
                format!(
                    "{} evidence is not {}",
                    evidence.evidence_type,
                    self.evidence_type()
                ),
            ));
        }
        if let Some(n) = expected_nonce {
            if n != evidence.nonce.as_slice() {
                return Err(refuse(
                    Check::Nonce,
                    "the evidence binds another nonce than the one expected",
                ));
            }
        }
        let QuoteClaims {
            mut claims,
            mock,
            report_data,
            td,
            ..
        } = self.verify_quote(&evidence.hardware_report)?;
        // The CCEL event log, when it comes with the evidence (bare-metal
        // TDX guests send it): it must replay to the quote's RTMRs.
        if let (Some(log), Some(td)) = (&evidence.event_log, &td) {
            CcEventLog::parse(log)?.check(td)?;
        }
        let data = evidence.runtime_data.as_slice();
        if !data.is_empty() {
            let hash = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
            if report_data.get(..32) != Some(hash.as_ref()) {
                return Err(refuse(
                    Check::RuntimeDataBinding,
                    "report_data does not begin with the SHA-256 of the runtime data",
                ));
            }
            if evidence.runtime_data_json {
                let v: Map<String, Value> = serde_json::from_slice(data).map_err(|e| {
                    refuse(
                        Check::RuntimeDataJson,
                        format!("runtime data of type JSON is not a JSON object: {e}"),
                    )
                })?;
                claims.insert("x-ms-runtime".into(), Value::Object(v));
            }
        }
        if self.kind == Kind::SgxEnclave {
            sgx_aliases(&mut claims, data);
        }
        if !evidence.nonce.is_empty() {
            let bound = evidence.runtime_data_json && json_nonce_matches(data, &evidence.nonce);
            if !bound {
                return Err(refuse(
                    Check::NonceBinding,
                    "the request's nonce is not bound by the evidence: put it in the runtime \
                     data (JSON, member `nonce`), whose SHA-256 the quote's report data carries",
                ));
            }
            claims.insert(
                "nonce".into(),
                json!(String::from_utf8_lossy(&evidence.nonce)),
            );
        }
        if mock {
            claims.insert(MOCK_EVIDENCE_CLAIM.into(), json!(true));
        }
        Ok(Appraisal::new(claims, mock))
    }
}

/// The SGX claims MAA adds: the enclave held data (`x-ms-sgx-ehd`,
/// base64url) and the older names it still issues (`is-debuggable`,
/// `product-id`, `sgx-mrsigner`, `sgx-mrenclave`, `svn`, `tee`,
/// `maa-ehd`, `aas-ehd`, `maa-attestationcollateral`).
fn sgx_aliases(claims: &mut Map<String, Value>, ehd: &[u8]) {
    let ehd = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(ehd);
    claims.insert("x-ms-sgx-ehd".into(), json!(ehd));
    for (old, new) in [
        ("is-debuggable", "x-ms-sgx-is-debuggable"),
        ("product-id", "x-ms-sgx-product-id"),
        ("sgx-mrsigner", "x-ms-sgx-mrsigner"),
        ("sgx-mrenclave", "x-ms-sgx-mrenclave"),
        ("svn", "x-ms-sgx-svn"),
        ("maa-ehd", "x-ms-sgx-ehd"),
        ("aas-ehd", "x-ms-sgx-ehd"),
        ("maa-attestationcollateral", "x-ms-sgx-collateral"),
    ] {
        if let Some(v) = claims.get(new).cloned() {
            claims.insert(old.into(), v);
        }
    }
    claims.insert("tee".into(), json!("sgx"));
}
