//! DCAP quote verification with the rules of Intel's Quote Verification
//! Library (QVL), from quote bytes and collateral to a [`Verdict`].
//!
//! The order of the checks (each refusal names its [`Check`], code 6):
//!
//! 1. the quote's structure, attestation key type, QE vendor id, type 6
//!    certification data (v4/v5);
//! 2. TCB info: its issuer chain to the trusted root, its signature, the
//!    signing certificate's and the TCB info's windows
//!    (`issueDate ≤ t ≤ nextUpdate`);
//! 3. QE identity: the same;
//! 4. the PCK chain (from the quote, else from the collateral): Intel's
//!    kinds of certificate, the trusted root, signatures, windows, SGX
//!    extensions;
//! 5. revocation: the root CA CRL (issuer, signature, window; covers the PCK
//!    CA and the TCB signing certificate), the PCK CRL (its issuer must be
//!    the PCK certificate's; signature, window; covers the PCK);
//! 6. TCB info against quote and PCK: `id`/version for the TEE, FMSPC, PCEID;
//! 7. TDX module: MRSIGNERSEAM and SEAMATTRIBUTES (all zero, equal to the
//!    module's) against `tdxModule`, or the `tdxModuleIdentities` entry
//!    `TDX_%02X` of TEE_TCB_SVN[1] when that is not zero;
//! 8. the QE report's signature by the PCK and its report data
//!    (SHA-256 of attestation key ‖ QE auth data);
//! 9. QE identity: `TD_QE` for TDX, `QE` for SGX; masked MISCSELECT and
//!    ATTRIBUTES, MRSIGNER, ISVPRODID; the ISVSVN's level;
//! 10. the quote's signature by the attestation key;
//! 11. TCB level matching (Intel's level order; SGX components and PCESVN,
//!     then TEE_TCB_SVN from index 2 when TEE_TCB_SVN[1] > 0), the module's
//!     level, Intel's status convergence, TD 1.5's relaunch check;
//! 12. the caller's [`Policy`].
//!
//! Where this differs from Intel's library: certificate and CRL windows are
//! checked at both ends (Intel checks notAfter only); an issuer chain may
//! omit the root (the trusted root stands in); TCB info and QE identity
//! signatures are checked over the bytes as served rather than re-serialised.
//! Where it differs from dcap-qvl, see `tests/rules.rs`.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use aws_lc_rs::digest;
use aws_lc_rs::signature::{UnparsedPublicKey, ECDSA_P256_SHA256_FIXED};
use tee_attest_snp::{Clock, SystemClock};

use crate::collateral::{Collateral, SignedJson};
use crate::error::{Check, TdxError};
use crate::pki::{parse_pem_chain, IntelCert, IntelCrl, SgxExtensions};
use crate::qe_identity::{QeId, QeIdentity, QeMismatch};
use crate::quote::{
    EnclaveReport, Quote, QuoteBody, QuoteHeader, ATT_KEY_TYPE_ECDSA_P256, INTEL_QE_VENDOR_ID,
};
use crate::status::{converge, relaunch, QeTcb, RelaunchFacts, TcbStatus};
use crate::tcb_info::{TcbId, TcbInfo, TcbLevel};

/// What the caller accepts. Explicit: the default refuses a Revoked TCB
/// only, and reports everything else (status, debug, service TD) in the
/// verdict for the caller's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// The final TCB statuses accepted.
    pub accepted_statuses: Vec<TcbStatus>,
    /// Whether a debug TD or enclave is accepted.
    pub allow_debug: bool,
    /// Whether a TD bound to service TDs (MRSERVICETD not zero) is accepted.
    pub allow_service_td: bool,
}

impl Default for Policy {
    /// Every status but Revoked; debug and service TDs reported, not refused.
    fn default() -> Self {
        Self {
            accepted_statuses: TcbStatus::ALL
                .iter()
                .copied()
                .filter(|s| *s != TcbStatus::Revoked)
                .collect(),
            allow_debug: true,
            allow_service_td: true,
        }
    }
}

impl Policy {
    /// UpToDate only, no debug, no service TD.
    pub fn strict() -> Self {
        Self {
            accepted_statuses: vec![TcbStatus::UpToDate],
            allow_debug: false,
            allow_service_td: false,
        }
    }
}

/// Options of one verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyOptions {
    /// The caller's policy.
    pub policy: Policy,
    /// Accept a verification without (current) revocation data: a missing
    /// CRL, or one outside its window, is then recorded in the verdict
    /// instead of refused. A certificate a CRL lists is refused regardless.
    pub accept_missing_revocation: bool,
    /// The report data the quote must carry, when the caller knows it.
    pub expected_report_data: Option<Vec<u8>>,
}

/// How revocation was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Both CRLs were present, verified and current.
    Checked,
    /// Accepted without (current) revocation data, as the caller allowed:
    /// what was missing or stale.
    NotChecked(Vec<String>),
}

/// The SHA-256 of each piece of collateral and of the quote (MAA's
/// `x-ms-sgx-collateral` / `tdx_collateral`), hex.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CollateralHashes {
    /// The quote.
    pub quote: String,
    /// The TCB info as signed.
    pub tcb_info: String,
    /// Its issuer chain (PEM as given).
    pub tcb_info_certs: String,
    /// The root CA CRL covering it (empty when none).
    pub tcb_info_crl: String,
    /// The QE identity as signed.
    pub qe_identity: String,
    /// Its issuer chain.
    pub qe_identity_certs: String,
    /// The root CA CRL covering it.
    pub qe_identity_crl: String,
}

/// The PCK certificate's facts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PckFacts {
    /// Its SGX extensions (PPID, TCB, PCE-ID, FMSPC, SGX type).
    pub extensions: SgxExtensions,
    /// Its issuer's common name (Platform or Processor CA).
    pub issuer_cn: String,
    /// notAfter.
    pub not_after: u64,
}

/// The outcome of a successful verification: every status, every field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The final status (after convergence and the relaunch check).
    pub status: TcbStatus,
    /// The status of the SGX TCB level matched (the platform, as the PCK
    /// certificate describes it).
    pub sgx_level_status: TcbStatus,
    /// The status of the TDX TCB level matched (TDX only).
    pub tdx_level_status: Option<TcbStatus>,
    /// The TDX module identity's level status (TDX with a module identity).
    pub module_status: Option<TcbStatus>,
    /// The QE identity level's status.
    pub qe_status: TcbStatus,
    /// Advisory ids of the matched levels (platform, module, QE), sorted.
    pub advisory_ids: Vec<String>,
    /// The TCB date: the earliest tcbDate of the levels involved (Unix seconds).
    pub tcb_date: u64,
    /// The TCB date as Intel wrote it.
    pub tcb_date_text: String,
    /// tcbEvaluationDataNumber of the TCB info.
    pub tcb_evaluation_data_number: u32,
    /// The earliest nextUpdate of the collateral used (TCB info, QE
    /// identity, CRLs): when this verdict should be renewed.
    pub collateral_expiry: u64,
    /// How revocation was checked.
    pub revocation: Revocation,
    /// The time the verdict holds at (Unix seconds).
    pub verified_at: u64,
    /// Where the collateral came from.
    pub collateral_source: String,
    /// Hashes of quote and collateral.
    pub collateral_hashes: CollateralHashes,
    /// The PCK certificate's facts.
    pub pck: PckFacts,
    /// The quote header.
    pub header: QuoteHeader,
    /// The quote body (SGX enclave report, TD 1.0 or TD 1.5 report).
    pub body: QuoteBody,
    /// The QE report.
    pub qe_report: EnclaveReport,
}

impl Verdict {
    /// Whether the quote is from a TD.
    pub fn is_tdx(&self) -> bool {
        self.header.is_tdx()
    }

    /// TEE_TCB_SVN of a TD quote.
    pub fn tee_tcb_svn(&self) -> Option<[u8; 16]> {
        self.body.td().map(|t| t.tee_tcb_svn)
    }

    /// Whether the TD or enclave is debuggable.
    pub fn is_debug(&self) -> bool {
        match &self.body {
            QuoteBody::SgxEnclave(e) => e.is_debug(),
            QuoteBody::Td10(t) => t.attributes().debug(),
            QuoteBody::Td15(t) => t.base.attributes().debug(),
        }
    }
}

/// Collateral whose signatures and chains have been checked (windows are
/// checked at each verification): verifying many quotes against it costs
/// only the quote's own signatures.
#[derive(Debug, Clone)]
pub struct PreparedCollateral {
    tcb_info: TcbInfo,
    tcb_signing: IntelCert,
    tcb_chain_root: Option<IntelCert>,
    qe_identity: QeIdentity,
    qe_signing: IntelCert,
    qe_chain_root: Option<IntelCert>,
    root_crl: Option<IntelCrl>,
    pck_crl: Option<IntelCrl>,
    /// The PCK CA that signed `pck_crl` (verified to the root), when the
    /// collateral carried it.
    pck_crl_issuer: Option<IntelCert>,
    pck_chain: Option<Vec<IntelCert>>,
    hashes: CollateralHashes,
    source: String,
}

impl PreparedCollateral {
    /// The parsed TCB info.
    pub fn tcb_info(&self) -> &TcbInfo {
        &self.tcb_info
    }
    /// The parsed QE identity.
    pub fn qe_identity(&self) -> &QeIdentity {
        &self.qe_identity
    }
}

/// Verifies DCAP quotes against a trusted Intel SGX Root CA, at the time of
/// its clock.
///
/// [`DcapVerifier::verify`] remembers the collateral it has prepared (its
/// signatures and chains checked, which involves no time) for the last
/// [`PREPARED_MEMO_ENTRIES`] distinct collateral sets, keyed by the
/// SHA-256 of every collateral byte: a quote that comes with collateral
/// seen before costs its own signatures, the PCK chain and the windows
/// (always checked at the clock's time). Clones share the memo.
#[derive(Debug, Clone)]
pub struct DcapVerifier {
    root: IntelCert,
    clock: Arc<dyn Clock>,
    memo: Arc<Mutex<Memo>>,
}

/// Prepared collateral by the SHA-256 of its bytes, oldest first.
type Memo = VecDeque<([u8; 32], Arc<PreparedCollateral>)>;

/// How many prepared collateral sets a [`DcapVerifier`] remembers (one per
/// FMSPC and TEE in use is typical).
pub const PREPARED_MEMO_ENTRIES: usize = 32;

/// The memo key of a collateral set: SHA-256 over every field, each
/// length-prefixed (so no two different sets share an encoding).
fn collateral_key(c: &Collateral) -> [u8; 32] {
    let mut ctx = digest::Context::new(&digest::SHA256);
    let mut field = |b: Option<&[u8]>| match b {
        Some(b) => {
            ctx.update(&[1]);
            ctx.update(&(b.len() as u64).to_be_bytes());
            ctx.update(b);
        }
        None => ctx.update(&[0]),
    };
    for s in [&c.tcb_info, &c.qe_identity] {
        field(s.as_ref().map(|s| s.body.as_bytes()));
        field(s.as_ref().map(|s| s.signature.as_slice()));
    }
    field(Some(&c.tcb_info_issuer_chain));
    field(Some(&c.qe_identity_issuer_chain));
    field(c.pck_crl.as_deref());
    field(Some(&c.pck_crl_issuer_chain));
    field(c.root_ca_crl.as_deref());
    field(c.pck_certificate_chain.as_deref());
    field(Some(c.source.as_bytes()));
    let mut key = [0u8; 32];
    key.copy_from_slice(ctx.finish().as_ref());
    key
}

fn fail(check: Check, detail: impl Into<String>) -> TdxError {
    TdxError::verify(check, detail)
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(digest::digest(&digest::SHA256, b))
}

fn hex48(b: &[u8]) -> String {
    hex::encode(b)
}

impl DcapVerifier {
    /// A verifier trusting the built-in Intel SGX Root CA, on the system clock.
    pub fn new() -> Result<Self, TdxError> {
        Ok(Self {
            root: IntelCert::intel_root()?,
            clock: Arc::new(SystemClock),
            memo: Arc::default(),
        })
    }

    /// A verifier trusting another root (tests with their own PKI). It
    /// must be self-signed.
    pub fn with_root_der(der: &[u8]) -> Result<Self, TdxError> {
        let root = IntelCert::from_der(der, "trusted root")?;
        root.verify_signed_by(&root)
            .map_err(|e| TdxError::cert("trusted root", format!("not self-signed: {e}")))?;
        Ok(Self {
            root,
            clock: Arc::new(SystemClock),
            memo: Arc::default(),
        })
    }

    /// The same verifier on another clock.
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// The trusted root.
    pub fn root(&self) -> &IntelCert {
        &self.root
    }

    /// Checks a signing chain (TCB info, QE identity): finds the TCB
    /// signing certificate and checks it against the trusted root.
    fn signing_chain(
        &self,
        pem: &[u8],
        what: &str,
        check: Check,
    ) -> Result<(IntelCert, Option<IntelCert>), TdxError> {
        if pem.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(fail(check, format!("the {what} issuer chain is missing")));
        }
        let certs = parse_pem_chain(pem, &format!("{what} issuer chain"))?;
        let mut signing = None;
        let mut root = None;
        for c in certs {
            if c.subject_cn().contains("SGX TCB Signing") {
                signing.get_or_insert(c);
            } else if c.is_self_issued() {
                root.get_or_insert(c);
            } else {
                return Err(fail(
                    check,
                    format!(
                        "the {what} issuer chain has an unexpected {}",
                        c.subject_cn()
                    ),
                ));
            }
        }
        let signing = signing.ok_or_else(|| {
            fail(
                check,
                format!("the {what} issuer chain has no Intel SGX TCB Signing certificate"),
            )
        })?;
        if let Some(r) = &root {
            if r.der() != self.root.der() {
                return Err(fail(
                    Check::UntrustedRoot,
                    format!(
                        "the {what} issuer chain ends in {}, not the trusted root",
                        r.subject_cn()
                    ),
                ));
            }
        }
        signing
            .verify_signed_by(&self.root)
            .map_err(|e| fail(check, format!("{what}: {e}")))?;
        Ok((signing, root))
    }

    fn signed_object(
        signing: &IntelCert,
        s: &SignedJson,
        check: Check,
        what: &str,
    ) -> Result<(), TdxError> {
        if s.signature.len() != 64
            || !signing.verify_fixed_signature(s.body.as_bytes(), &s.signature)
        {
            return Err(fail(
                check,
                format!("the {what} signature does not verify with the TCB signing key"),
            ));
        }
        Ok(())
    }

    /// Checks the collateral's signatures and chains once (no time
    /// involved); [`DcapVerifier::verify_prepared`] checks the windows.
    pub fn prepare(&self, c: &Collateral) -> Result<PreparedCollateral, TdxError> {
        let tcb = c
            .tcb_info
            .as_ref()
            .ok_or_else(|| TdxError::CollateralMissing("no TCB info".into()))?;
        let qe = c
            .qe_identity
            .as_ref()
            .ok_or_else(|| TdxError::CollateralMissing("no QE identity".into()))?;
        let (tcb_signing, tcb_chain_root) =
            self.signing_chain(&c.tcb_info_issuer_chain, "TCB info", Check::TcbInfoChain)?;
        Self::signed_object(&tcb_signing, tcb, Check::TcbInfoSignature, "TCB info")?;
        let tcb_info = TcbInfo::parse(&tcb.body)?;
        let (qe_signing, qe_chain_root) = if c.qe_identity_issuer_chain == c.tcb_info_issuer_chain {
            (tcb_signing.clone(), tcb_chain_root.clone())
        } else {
            self.signing_chain(
                &c.qe_identity_issuer_chain,
                "QE identity",
                Check::QeIdentityChain,
            )?
        };
        Self::signed_object(&qe_signing, qe, Check::QeIdentitySignature, "QE identity")?;
        let qe_identity = QeIdentity::parse(&qe.body)?;
        let root_crl = match &c.root_ca_crl {
            Some(der) => {
                let crl = IntelCrl::from_any(der, "root CA CRL")?;
                crl.verify_signed_by(&self.root)
                    .map_err(|e| fail(Check::Crl, format!("root CA CRL: {e}")))?;
                Some(crl)
            }
            None => None,
        };
        let mut pck_crl_issuer = None;
        let pck_crl = match &c.pck_crl {
            Some(der) => {
                let crl = IntelCrl::from_any(der, "PCK CRL")?;
                if !c
                    .pck_crl_issuer_chain
                    .iter()
                    .all(|b| b.is_ascii_whitespace())
                {
                    let chain = parse_pem_chain(&c.pck_crl_issuer_chain, "PCK CRL issuer chain")?;
                    let ca = chain
                        .into_iter()
                        .find(|x| !x.is_self_issued())
                        .ok_or_else(|| fail(Check::Crl, "the PCK CRL issuer chain has no CA"))?;
                    ca.verify_signed_by(&self.root)
                        .map_err(|e| fail(Check::CertSignature, format!("PCK CRL issuer: {e}")))?;
                    crl.verify_signed_by(&ca)
                        .map_err(|e| fail(Check::Crl, format!("PCK CRL: {e}")))?;
                    pck_crl_issuer = Some(ca);
                }
                Some(crl)
            }
            None => None,
        };
        let pck_chain = match &c.pck_certificate_chain {
            Some(p) => Some(parse_pem_chain(p, "collateral PCK chain")?),
            None => None,
        };
        let crl_hash = c.root_ca_crl.as_deref().map(sha256_hex).unwrap_or_default();
        Ok(PreparedCollateral {
            tcb_info,
            tcb_signing,
            tcb_chain_root,
            qe_identity,
            qe_signing,
            qe_chain_root,
            root_crl,
            pck_crl,
            pck_crl_issuer,
            pck_chain,
            hashes: CollateralHashes {
                quote: String::new(),
                tcb_info: sha256_hex(tcb.body.as_bytes()),
                tcb_info_certs: sha256_hex(&c.tcb_info_issuer_chain),
                tcb_info_crl: crl_hash.clone(),
                qe_identity: sha256_hex(qe.body.as_bytes()),
                qe_identity_certs: sha256_hex(&c.qe_identity_issuer_chain),
                qe_identity_crl: crl_hash,
            },
            source: c.source.clone(),
        })
    }

    /// Verifies a quote with its collateral at the clock's time.
    pub fn verify(
        &self,
        quote: &[u8],
        collateral: &Collateral,
        opts: &VerifyOptions,
    ) -> Result<Verdict, TdxError> {
        self.verify_quote(&Quote::parse(quote)?, collateral, opts)
    }

    /// [`DcapVerifier::verify`] of a quote parsed already (the appraisers
    /// parse it once to pick the root and the collateral).
    pub fn verify_quote(
        &self,
        q: &Quote,
        collateral: &Collateral,
        opts: &VerifyOptions,
    ) -> Result<Verdict, TdxError> {
        check_header(q)?;
        let prepared = self.prepare_memoized(collateral)?;
        self.verify_parsed(q, &prepared, opts)
    }

    /// The memo, locked (a panic while it was held left it consistent:
    /// entries are whole).
    fn memo(&self) -> std::sync::MutexGuard<'_, Memo> {
        match self.memo.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    /// [`DcapVerifier::prepare`] through the memo: collateral prepared
    /// before is not checked again (failures are not remembered).
    pub fn prepare_memoized(&self, c: &Collateral) -> Result<Arc<PreparedCollateral>, TdxError> {
        let key = collateral_key(c);
        if let Some((_, p)) = self.memo().iter().find(|(k, _)| *k == key) {
            return Ok(Arc::clone(p));
        }
        let prepared = Arc::new(self.prepare(c)?);
        let mut memo = self.memo();
        if !memo.iter().any(|(k, _)| *k == key) {
            if memo.len() >= PREPARED_MEMO_ENTRIES {
                memo.pop_front();
            }
            memo.push_back((key, Arc::clone(&prepared)));
        }
        Ok(prepared)
    }

    /// Verifies a quote against collateral prepared earlier.
    pub fn verify_prepared(
        &self,
        quote: &[u8],
        prepared: &PreparedCollateral,
        opts: &VerifyOptions,
    ) -> Result<Verdict, TdxError> {
        let q = Quote::parse(quote)?;
        check_header(&q)?;
        self.verify_parsed(&q, prepared, opts)
    }

    fn cert_window(c: &IntelCert, at: u64, what: &str) -> Result<(), TdxError> {
        match c.validity_at(at) {
            Ok(()) => Ok(()),
            Err(false) => Err(fail(
                Check::CertNotYetValid,
                format!(
                    "{what} ({}) is not valid before {}",
                    c.subject_cn(),
                    c.not_before()
                ),
            )),
            Err(true) => Err(fail(
                Check::CertExpired,
                format!("{what} ({}) expired at {}", c.subject_cn(), c.not_after()),
            )),
        }
    }

    /// The PCK chain: leaf, PCK CA, root, checked.
    fn pck_chain(
        &self,
        q: &Quote,
        collateral_chain: Option<&Vec<IntelCert>>,
        known_ca: Option<&IntelCert>,
        at: u64,
    ) -> Result<(IntelCert, IntelCert), TdxError> {
        let chain = match (q.pck_chain_pem(), collateral_chain) {
            (Some(pem), _) => parse_pem_chain(pem, "PCK chain")?,
            (None, Some(c)) => c.clone(),
            (None, None) => {
                return Err(fail(
                    Check::CertificationDataType,
                    "the quote carries no PCK certificate chain and the collateral has none",
                ))
            }
        };
        let [leaf, ca, root] = <[IntelCert; 3]>::try_from(chain).map_err(|c| {
            fail(
                Check::PckChain,
                format!("the PCK chain has {} certificates, expected 3", c.len()),
            )
        })?;
        if !root.subject_cn().contains("SGX Root CA")
            || !ca.subject_cn().contains("CA")
            || !leaf.subject_cn().contains("SGX PCK Certificate")
        {
            return Err(fail(
                Check::PckChain,
                format!(
                    "not a PCK chain: {} / {} / {}",
                    leaf.subject_cn(),
                    ca.subject_cn(),
                    root.subject_cn()
                ),
            ));
        }
        if root.der() != self.root.der() {
            return Err(fail(
                Check::UntrustedRoot,
                "the PCK chain does not end in the trusted root",
            ));
        }
        let ca_known = known_ca.is_some_and(|k| k.der() == ca.der());
        if !ca_known {
            ca.verify_signed_by(&self.root)
                .map_err(|e| fail(Check::CertSignature, e))?;
        }
        leaf.verify_signed_by(&ca)
            .map_err(|e| fail(Check::CertSignature, e))?;
        Self::cert_window(&self.root, at, "the root CA")?;
        Self::cert_window(&ca, at, "the PCK CA")?;
        Self::cert_window(&leaf, at, "the PCK certificate")?;
        if leaf.sgx_extensions().is_none() {
            return Err(fail(
                Check::PckExtensions,
                "the PCK certificate has no SGX extensions",
            ));
        }
        Ok((leaf, ca))
    }

    /// Checks revocation; returns what could not be checked.
    fn revocation(
        p: &PreparedCollateral,
        leaf: &IntelCert,
        ca: &IntelCert,
        at: u64,
        opts: &VerifyOptions,
        expiry: &mut u64,
    ) -> Result<Vec<String>, TdxError> {
        let mut gaps = Vec::new();
        let mut window =
            |crl: &IntelCrl, what: &str, gaps: &mut Vec<String>| -> Result<(), TdxError> {
                if let Some(n) = crl.next_update() {
                    *expiry = (*expiry).min(n);
                }
                match crl.validity_at(at) {
                    Ok(()) => Ok(()),
                    Err(expired) if opts.accept_missing_revocation => {
                        gaps.push(format!(
                            "{what} {}",
                            if expired {
                                "out of date"
                            } else {
                                "not yet valid"
                            }
                        ));
                        Ok(())
                    }
                    Err(false) => Err(fail(
                        Check::CrlNotYetValid,
                        format!("the {what} is not yet valid"),
                    )),
                    Err(true) => Err(fail(
                        Check::CrlExpired,
                        format!("the {what} is past its nextUpdate"),
                    )),
                }
            };
        match &p.root_crl {
            Some(crl) => {
                window(crl, "root CA CRL", &mut gaps)?;
                if crl.lists(ca) {
                    return Err(fail(
                        Check::CaRevoked,
                        format!("{} is revoked", ca.subject_cn()),
                    ));
                }
                if crl.lists(&p.tcb_signing) || crl.lists(&p.qe_signing) {
                    return Err(fail(
                        Check::CaRevoked,
                        "the TCB signing certificate is revoked",
                    ));
                }
            }
            None if opts.accept_missing_revocation => gaps.push("root CA CRL missing".into()),
            None => return Err(fail(Check::CrlMissing, "no root CA CRL")),
        }
        match &p.pck_crl {
            Some(crl) => {
                if crl.issuer_der() != leaf.issuer_der() {
                    return Err(fail(
                        Check::Crl,
                        format!(
                            "the PCK CRL's issuer ({}) is not the PCK certificate's ({})",
                            crl.issuer_cn(),
                            leaf.issuer_cn()
                        ),
                    ));
                }
                let verified = p
                    .pck_crl_issuer
                    .as_ref()
                    .is_some_and(|k| k.der() == ca.der());
                if !verified {
                    crl.verify_signed_by(ca)
                        .map_err(|e| fail(Check::Crl, format!("PCK CRL: {e}")))?;
                }
                window(crl, "PCK CRL", &mut gaps)?;
                if crl.lists(leaf) {
                    return Err(fail(Check::PckRevoked, "the PCK certificate is revoked"));
                }
            }
            None if opts.accept_missing_revocation => gaps.push("PCK CRL missing".into()),
            None => return Err(fail(Check::CrlMissing, "no PCK CRL")),
        }
        Ok(gaps)
    }

    fn verify_parsed(
        &self,
        q: &Quote,
        p: &PreparedCollateral,
        opts: &VerifyOptions,
    ) -> Result<Verdict, TdxError> {
        let at = self.clock.now();
        let tdx = q.is_tdx();
        let qe_cert = q.qe_certification().ok_or_else(|| {
            fail(
                Check::CertificationDataType,
                "no QE report certification data",
            )
        })?;

        // 2–3. TCB info and QE identity windows (signatures: prepare).
        Self::cert_window(&p.tcb_signing, at, "the TCB info signing certificate")?;
        if let Some(r) = &p.tcb_chain_root {
            Self::cert_window(r, at, "the TCB info chain's root")?;
        }
        let t = &p.tcb_info;
        if at < t.issue_date {
            return Err(fail(
                Check::TcbInfoNotYetValid,
                "the TCB info is not yet valid",
            ));
        }
        if at > t.next_update {
            return Err(fail(
                Check::TcbInfoExpired,
                "the TCB info is past its nextUpdate",
            ));
        }
        Self::cert_window(&p.qe_signing, at, "the QE identity signing certificate")?;
        if let Some(r) = &p.qe_chain_root {
            Self::cert_window(r, at, "the QE identity chain's root")?;
        }
        let qi = &p.qe_identity;
        if at < qi.issue_date {
            return Err(fail(
                Check::QeIdentityNotYetValid,
                "the QE identity is not yet valid",
            ));
        }
        if at > qi.next_update {
            return Err(fail(
                Check::QeIdentityExpired,
                "the QE identity is past its nextUpdate",
            ));
        }
        let mut expiry = t.next_update.min(qi.next_update);

        // 4–5. PCK chain and revocation.
        let (leaf, ca) = self.pck_chain(q, p.pck_chain.as_ref(), p.pck_crl_issuer.as_ref(), at)?;
        let gaps = Self::revocation(p, &leaf, &ca, at, opts, &mut expiry)?;
        let ext = leaf
            .sgx_extensions()
            .ok_or_else(|| fail(Check::PckExtensions, "no SGX extensions"))?;

        // 6–7. TCB info for this TEE and platform; the TDX module.
        check_platform(t, ext, &q.body)?;

        // 8. The QE report.
        if !leaf.verify_fixed_signature(&qe_cert.qe_report.raw, &qe_cert.qe_report_signature) {
            return Err(fail(
                Check::QeReportSignature,
                "the QE report's signature does not verify with the PCK",
            ));
        }
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&q.signature_data.attestation_key);
        ctx.update(&qe_cert.qe_auth_data);
        if ctx.finish().as_ref() != &qe_cert.qe_report.report_data[..32] {
            return Err(fail(
                Check::QeReportData,
                "the QE report data is not SHA-256(attestation key ‖ QE auth data)",
            ));
        }

        // 9. The QE identity.
        let want = if tdx { QeId::TdQe } else { QeId::Qe };
        if qi.id != want {
            return Err(fail(
                Check::QeIdentityMismatch,
                format!(
                    "a {} QE identity for a {} quote",
                    qi.id.as_str(),
                    want.as_str()
                ),
            ));
        }
        qi.matches(&qe_cert.qe_report).map_err(|m| match m {
            QeMismatch::Miscselect => fail(Check::QeMiscselect, "masked MISCSELECT differs"),
            QeMismatch::Attributes => fail(Check::QeAttributes, "masked ATTRIBUTES differ"),
            QeMismatch::Mrsigner => fail(Check::QeMrsigner, "MRSIGNER differs"),
            QeMismatch::IsvProdId => fail(Check::QeIsvProdId, "ISVPRODID differs"),
        })?;
        let qe_level = qi.level_for(qe_cert.qe_report.isv_svn).ok_or_else(|| {
            fail(
                Check::QeTcbNotSupported,
                format!(
                    "QE ISVSVN {} is below every level",
                    qe_cert.qe_report.isv_svn
                ),
            )
        })?;

        // 10. The quote's signature.
        let mut key = [0u8; 65];
        key[0] = 0x04;
        key[1..].copy_from_slice(&q.signature_data.attestation_key);
        if UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key)
            .verify(q.signed_bytes(), &q.signature_data.signature)
            .is_err()
        {
            return Err(fail(
                Check::QuoteSignature,
                "the quote's signature does not verify with the attestation key",
            ));
        }

        // 11. TCB levels and statuses.
        let outcome = evaluate_tcb(t, ext, &q.body, qe_level.status)?;
        let mut dates = vec![(outcome.platform_date, outcome.platform_date_text.clone())];
        let mut advisories = outcome.advisories.clone();
        if let Some((d, text, adv)) = &outcome.module_level {
            dates.push((*d, text.clone()));
            advisories.extend(adv.iter().cloned());
        }
        dates.push((qe_level.tcb_date, qe_level.tcb_date_text.clone()));
        advisories.extend(qe_level.advisory_ids.iter().cloned());
        advisories.sort();
        advisories.dedup();
        let (tcb_date, tcb_date_text) = dates
            .into_iter()
            .min_by_key(|(d, _)| *d)
            .unwrap_or((0, String::new()));

        let mut hashes = p.hashes.clone();
        hashes.quote = sha256_hex(&q.raw()[..q.declared_len()]);
        let verdict = Verdict {
            status: outcome.status,
            sgx_level_status: outcome.sgx_status,
            tdx_level_status: outcome.tdx_status,
            module_status: outcome.module_status,
            qe_status: qe_level.status,
            advisory_ids: advisories,
            tcb_date,
            tcb_date_text,
            tcb_evaluation_data_number: t.tcb_evaluation_data_number,
            collateral_expiry: expiry,
            revocation: if gaps.is_empty() {
                Revocation::Checked
            } else {
                Revocation::NotChecked(gaps)
            },
            verified_at: at,
            collateral_source: p.source.clone(),
            collateral_hashes: hashes,
            pck: PckFacts {
                extensions: ext.clone(),
                issuer_cn: leaf.issuer_cn().to_string(),
                not_after: leaf.not_after(),
            },
            header: q.header.clone(),
            body: q.body.clone(),
            qe_report: qe_cert.qe_report.clone(),
        };

        // 12. The caller's policy.
        apply_policy(&verdict, opts)?;
        Ok(verdict)
    }

    /// Checks what a quote proves without collateral: its structure, the PCK
    /// chain to the trusted root (signatures and, at the clock's time,
    /// windows), the QE report's signature and data, the quote's signature.
    /// No TCB status: that needs collateral.
    pub fn verify_signatures(&self, quote: &[u8]) -> Result<Quote, TdxError> {
        let q = Quote::parse(quote)?;
        check_header(&q)?;
        let (leaf, _) = self.pck_chain(&q, None, None, self.clock.now())?;
        let qe = q.qe_certification().ok_or_else(|| {
            fail(
                Check::CertificationDataType,
                "no QE report certification data",
            )
        })?;
        if !leaf.verify_fixed_signature(&qe.qe_report.raw, &qe.qe_report_signature) {
            return Err(fail(
                Check::QeReportSignature,
                "the QE report's signature does not verify with the PCK",
            ));
        }
        let mut ctx = digest::Context::new(&digest::SHA256);
        ctx.update(&q.signature_data.attestation_key);
        ctx.update(&qe.qe_auth_data);
        if ctx.finish().as_ref() != &qe.qe_report.report_data[..32] {
            return Err(fail(
                Check::QeReportData,
                "the QE report data does not bind the key",
            ));
        }
        let mut key = [0u8; 65];
        key[0] = 0x04;
        key[1..].copy_from_slice(&q.signature_data.attestation_key);
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &key)
            .verify(q.signed_bytes(), &q.signature_data.signature)
            .map_err(|_| {
                fail(
                    Check::QuoteSignature,
                    "the quote's signature does not verify",
                )
            })?;
        Ok(q)
    }
}

/// Steps 6–7: the TCB info describes this TEE (`id`, version) and this
/// platform (FMSPC, PCEID equal to the PCK certificate's), and the TD's
/// module matches (MRSIGNERSEAM equal to `tdxModule`'s or, when
/// TEE_TCB_SVN[1] > 0, to the module identity `TDX_%02X`'s; SEAMATTRIBUTES
/// all zero and equal to the module's — not masked).
pub fn check_platform(t: &TcbInfo, ext: &SgxExtensions, body: &QuoteBody) -> Result<(), TdxError> {
    let tdx = body.td().is_some();
    match (t.version >= 3, t.id, tdx) {
        (true, TcbId::Tdx, true) | (true, TcbId::Sgx, false) | (false, _, false) => {}
        _ => {
            return Err(fail(
                Check::TcbInfoMismatch,
                format!(
                    "a version {} {:?} TCB info cannot describe a {} quote",
                    t.version,
                    t.id,
                    if tdx { "TDX" } else { "SGX" }
                ),
            ))
        }
    }
    if t.fmspc != ext.fmspc {
        return Err(fail(
            Check::Fmspc,
            format!(
                "TCB info FMSPC {} ≠ PCK FMSPC {}",
                hex::encode_upper(t.fmspc),
                hex::encode_upper(ext.fmspc)
            ),
        ));
    }
    if t.pce_id != ext.pce_id {
        return Err(fail(
            Check::PceId,
            format!(
                "TCB info PCEID {} ≠ PCK PCEID {}",
                hex::encode_upper(t.pce_id),
                hex::encode_upper(ext.pce_id)
            ),
        ));
    }

    // 7. The TDX module.
    if let Some(td) = body.td() {
        let m = t
            .tdx_module
            .as_ref()
            .ok_or_else(|| fail(Check::TdxModule, "the TCB info has no tdxModule"))?;
        let major = td.tee_tcb_svn[1];
        let (mrsigner, attributes) = if major > 0 {
            let id = t.module_identity(major).ok_or_else(|| {
                fail(
                    Check::TdxModule,
                    format!("the TCB info has no module identity TDX_{major:02X}"),
                )
            })?;
            (id.mrsigner, id.attributes)
        } else {
            (m.mrsigner, m.attributes)
        };
        if td.mr_signer_seam != mrsigner {
            return Err(fail(
                Check::TdxModule,
                format!(
                    "MRSIGNERSEAM {} is not the module's {}",
                    hex48(&td.mr_signer_seam),
                    hex48(&mrsigner)
                ),
            ));
        }
        if td.seam_attributes.iter().any(|&b| b != 0) || td.seam_attributes != attributes {
            return Err(fail(
                Check::TdxModule,
                format!(
                    "SEAMATTRIBUTES {} are not zero and the module's",
                    hex::encode(td.seam_attributes)
                ),
            ));
        }
    }

    Ok(())
}

/// Header checks Intel's `Quote::validate` makes beyond structure.
fn check_header(q: &Quote) -> Result<(), TdxError> {
    if q.header.att_key_type != ATT_KEY_TYPE_ECDSA_P256 {
        return Err(fail(
            Check::AttestationKeyType,
            format!(
                "attestation key type {} (only 2, ECDSA-256-with-P-256)",
                q.header.att_key_type
            ),
        ));
    }
    if q.header.qe_vendor_id != INTEL_QE_VENDOR_ID {
        return Err(fail(
            Check::QeVendorId,
            format!(
                "QE vendor id {} is not Intel's",
                hex::encode(q.header.qe_vendor_id)
            ),
        ));
    }
    if q.header.version >= 4 && q.qe_certification().is_none() {
        return Err(fail(
            Check::CertificationDataType,
            format!(
                "certification data type {} (a v{} quote needs type 6)",
                q.signature_data.certification.cert_type(),
                q.header.version
            ),
        ));
    }
    if let Some(qe) = q.qe_certification() {
        let t = qe.certification.cert_type();
        if !(1..=5).contains(&t) {
            return Err(fail(
                Check::CertificationDataType,
                format!("nested certification data type {t}"),
            ));
        }
    }
    Ok(())
}

/// The caller's policy over a verdict.
pub fn apply_policy(v: &Verdict, opts: &VerifyOptions) -> Result<(), TdxError> {
    if !opts.policy.accepted_statuses.contains(&v.status) {
        return Err(fail(
            Check::TcbStatusPolicy,
            format!("TCB status {} is not accepted", v.status),
        ));
    }
    if v.is_debug() && !opts.policy.allow_debug {
        return Err(fail(Check::DebugPolicy, "a debug TD or enclave"));
    }
    if let QuoteBody::Td15(t) = &v.body {
        if t.mr_service_td.iter().any(|&b| b != 0) && !opts.policy.allow_service_td {
            return Err(fail(
                Check::ServiceTdPolicy,
                "the TD is bound to a service TD",
            ));
        }
    }
    if let Some(want) = &opts.expected_report_data {
        let have = v.body.report_data();
        if want.len() > 64 || have[..want.len()] != want[..] {
            return Err(fail(
                Check::ReportData,
                "the report data is not the expected value",
            ));
        }
    }
    Ok(())
}

/// The statuses of TCB level matching (step 11), before the QE level's
/// date and advisories are added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcbEvaluation {
    /// The final status (module, relaunch and QE convergence applied).
    pub status: TcbStatus,
    /// The first level matching the SGX components and PCESVN.
    pub sgx_status: TcbStatus,
    /// The TDX level's own status (TDX).
    pub tdx_status: Option<TcbStatus>,
    /// The module identity level's status (TDX, TEE_TCB_SVN[1] > 0).
    pub module_status: Option<TcbStatus>,
    /// The platform level's tcbDate.
    pub platform_date: u64,
    /// The same, as written.
    pub platform_date_text: String,
    /// The platform level's advisory ids.
    pub advisories: Vec<String>,
    /// The module level's tcbDate (text) and advisory ids.
    pub module_level: Option<(u64, String, Vec<String>)>,
}

fn sgx_ok(level: &TcbLevel, ext: &SgxExtensions) -> bool {
    ext.tcb
        .comp_svn
        .iter()
        .zip(&level.sgx_components)
        .all(|(have, need)| have >= need)
        && ext.tcb.pce_svn >= level.pce_svn
}

fn tdx_ok(level: &TcbLevel, tee_tcb_svn: &[u8; 16]) -> bool {
    let Some(comps) = &level.tdx_components else {
        return false;
    };
    let start = if tee_tcb_svn[1] > 0 { 2 } else { 0 };
    (start..16).all(|i| tee_tcb_svn[i] >= comps[i])
}

/// Step 11, Intel's `checkTcbLevel`/`tdxEvaluateTCB` with the module
/// level, `checkForRelaunch` and the convergence with the module's and the
/// QE's status: levels in Intel's order; SGX components and PCESVN from
/// the PCK certificate; TEE_TCB_SVN compared from index 2 when
/// TEE_TCB_SVN[1] > 0 (the module's own SVNs are judged by its identity).
pub fn evaluate_tcb(
    t: &TcbInfo,
    ext: &SgxExtensions,
    body: &QuoteBody,
    qe_status: TcbStatus,
) -> Result<TcbEvaluation, TdxError> {
    let qe = QeTcb::from_status(qe_status);
    let td = body.td().filter(|_| t.id == TcbId::Tdx && t.version >= 3);
    let mut sgx_level = None;
    let mut tdx_level = None;
    for level in &t.tcb_levels {
        if !sgx_ok(level, ext) {
            continue;
        }
        match td {
            Some(td) => {
                sgx_level.get_or_insert(level);
                if tdx_ok(level, &td.tee_tcb_svn) {
                    tdx_level = Some(level);
                    break;
                }
            }
            None => {
                sgx_level = Some(level);
                break;
            }
        }
    }
    let sgx_level = sgx_level.ok_or_else(|| {
        fail(
            Check::TcbNotSupported,
            "no TCB level matches the PCK certificate's SGX components and PCESVN",
        )
    })?;
    let Some(td) = td else {
        return Ok(TcbEvaluation {
            status: converge(sgx_level.status, qe),
            sgx_status: sgx_level.status,
            tdx_status: None,
            module_status: None,
            platform_date: sgx_level.tcb_date,
            platform_date_text: sgx_level.tcb_date_text.clone(),
            advisories: sgx_level.advisory_ids.clone(),
            module_level: None,
        });
    };
    let tdx_level = tdx_level.ok_or_else(|| {
        fail(
            Check::TcbNotSupported,
            "no TCB level matches the quote's TEE_TCB_SVN",
        )
    })?;
    // The TDX module's own level (TEE_TCB_SVN[1] > 0).
    let major = td.tee_tcb_svn[1];
    let (module_status, module_level) = if major == 0 {
        (TcbStatus::UpToDate, None)
    } else {
        let id = t.module_identity(major).ok_or_else(|| {
            fail(
                Check::TdxModule,
                format!("no module identity TDX_{major:02X}"),
            )
        })?;
        let level = id
            .tcb_levels
            .iter()
            .find(|l| td.tee_tcb_svn[0] >= l.isv_svn)
            .ok_or_else(|| {
                fail(
                    Check::TcbNotSupported,
                    format!(
                        "module ISVSVN {} is below every level of TDX_{major:02X}",
                        td.tee_tcb_svn[0]
                    ),
                )
            })?;
        (level.status, Some(level))
    };
    let module_tcb = QeTcb::from_status(module_status);
    let mut tdx_status = converge(tdx_level.status, module_tcb);
    if tdx_status != TcbStatus::Revoked {
        if let QuoteBody::Td15(t15) = body {
            let latest = t
                .tcb_levels
                .first()
                .and_then(|l| l.tdx_components)
                .unwrap_or([0; 16]);
            let svn2 = t15.tee_tcb_svn2;
            let module2 = (svn2[1] != 0).then(|| {
                t.module_identity(svn2[1])
                    .and_then(|m| m.tcb_levels.first())
                    .map(|l| l.isv_svn)
            });
            tdx_status = relaunch(&RelaunchFacts {
                tee_tcb_svn2: svn2,
                sgx_status: sgx_level.status,
                tdx_status,
                module_status,
                qe,
                latest_tdx_components: latest,
                latest_module2_isvsvn: module2,
            })
            .ok_or_else(|| {
                fail(
                    Check::TdxModule,
                    format!("no module identity TDX_{:02X} for TEE_TCB_SVN2", svn2[1]),
                )
            })?;
        }
    }
    Ok(TcbEvaluation {
        status: converge(tdx_status, qe),
        sgx_status: sgx_level.status,
        tdx_status: Some(tdx_level.status),
        module_status: module_level.map(|l| l.status),
        platform_date: tdx_level.tcb_date,
        platform_date_text: tdx_level.tcb_date_text.clone(),
        advisories: tdx_level.advisory_ids.clone(),
        module_level: module_level
            .map(|l| (l.tcb_date, l.tcb_date_text.clone(), l.advisory_ids.clone())),
    })
}
