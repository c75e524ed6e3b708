//! Azure TDX confidential VMs: the HCL report of type 4 carries the
//! TDREPORT the paravisor got from the TDX module, whose REPORTDATA binds
//! the variable data (`report_data[0..32]` = SHA-256(var data) with hash
//! type 1, then zeros); IMDS (`POST /acc/tdquote`) has the quoting enclave
//! turn that TDREPORT into a TD quote, which is the AzureGuest `Proof`.
//!
//! ```text
//! HCL report ─▶ TDREPORT (1024 bytes of the 1184-byte slot) ─▶ REPORTDATA[0..32] = H(var data)
//!                   │                                                     var data ∋ AK, user data
//!                   └─▶ IMDS /acc/tdquote ─▶ TD quote: the same TD (measurements, attributes,
//!                                                      REPORTDATA), signed by the QE
//! ```
//!
//! Everything here parses and compares; nothing verifies a signature (the
//! TDREPORT's MAC is checkable on its platform only; the quote's signatures
//! are the verifier's).

use tee_attest_tdx::{Quote, TdReport};

use crate::error::AzureError;
use crate::hcl::{HclReport, ReportType};

impl HclReport {
    /// The TDREPORT of a TDX HCL report (type 4), parsed: a TDX report type
    /// (0x81) whose REPORTMACSTRUCT hashes cover its TEE_TCB_INFO and
    /// TDINFO. Code 8 for another report type, 20 (21 when all zero) for a
    /// TDREPORT that does not parse or check.
    pub fn td_report(&self) -> Result<TdReport, AzureError> {
        let td = TdReport::parse(self.tdreport()?)?;
        if !td.is_tdx() {
            return Err(AzureError::parse(
                "hw_report.report_type",
                crate::HW_REPORT_OFFSET,
                format!("TDREPORT type {:#04x}, not TDX (0x81)", td.report_type[0]),
            ));
        }
        td.check_hashes()?;
        Ok(td)
    }

    /// Whether this is a TDX HCL report (type 4).
    pub fn is_tdx(&self) -> bool {
        self.report_type() == ReportType::Tdx
    }
}

/// Checks that `quote` is a TD quote of the TD that made `td`: the same
/// TEE_TCB_INFO (TEE_TCB_SVN, MRSEAM, MRSIGNERSEAM, SEAM attributes), the
/// same TDINFO (TD attributes, XFAM, MRTD, MRCONFIGID, MROWNER,
/// MROWNERCONFIG, RTMR0–3) and the same REPORTDATA. Code 6 naming the first
/// field that differs (`tdquote.report_data`, …): the quote is not of this
/// TDREPORT — the quoting service answered another request.
pub fn check_quote_matches(quote: &Quote, td: &TdReport) -> Result<(), AzureError> {
    let body = quote.body.td().ok_or_else(|| {
        AzureError::check(
            "tdquote.tee_type",
            format!(
                "the quote is of TEE type {:#x}, not a TD's (0x81)",
                quote.header.tee_type
            ),
        )
    })?;
    let pairs: [(&'static str, &[u8], &[u8]); 15] = [
        ("tdquote.report_data", &body.report_data, &td.report_data),
        ("tdquote.mr_td", &body.mr_td, &td.mr_td),
        ("tdquote.rtmr0", &body.rtmr[0], &td.rtmr[0]),
        ("tdquote.rtmr1", &body.rtmr[1], &td.rtmr[1]),
        ("tdquote.rtmr2", &body.rtmr[2], &td.rtmr[2]),
        ("tdquote.rtmr3", &body.rtmr[3], &td.rtmr[3]),
        (
            "tdquote.td_attributes",
            &body.td_attributes,
            &td.td_attributes,
        ),
        ("tdquote.xfam", &body.xfam, &td.xfam),
        ("tdquote.mr_config_id", &body.mr_config_id, &td.mr_config_id),
        ("tdquote.mr_owner", &body.mr_owner, &td.mr_owner),
        (
            "tdquote.mr_owner_config",
            &body.mr_owner_config,
            &td.mr_owner_config,
        ),
        ("tdquote.tee_tcb_svn", &body.tee_tcb_svn, &td.tee_tcb_svn),
        ("tdquote.mr_seam", &body.mr_seam, &td.mr_seam),
        (
            "tdquote.mr_signer_seam",
            &body.mr_signer_seam,
            &td.mr_signer_seam,
        ),
        (
            "tdquote.seam_attributes",
            &body.seam_attributes,
            &td.seam_attributes,
        ),
    ];
    for (check, in_quote, in_report) in pairs {
        if in_quote != in_report {
            return Err(AzureError::check(
                check,
                format!(
                    "the TD quote has {}, the TDREPORT {}: the quote is not of this TDREPORT",
                    hex(in_quote),
                    hex(in_report)
                ),
            ));
        }
    }
    Ok(())
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}
