//! The report against its leaf certificate (hwID, TCB) and against the
//! caller's [`Expectations`].

use super::*;

pub(super) fn hwid_matches(
    report: &AttestationReport,
    leaf: &AmdCertificate,
    product: Product,
) -> bool {
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
pub(super) fn tcb_mismatch(reported: TcbVersion, leaf: &AmdCertificate) -> Option<String> {
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

pub(super) fn check_expectations(
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
