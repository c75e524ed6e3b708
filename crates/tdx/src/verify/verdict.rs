//! What a verification returns and what the caller accepts: the
//! [`Verdict`] (every status, every field), the [`Policy`] and
//! [`VerifyOptions`], and the policy applied to a verdict (step 12).

use super::*;

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
