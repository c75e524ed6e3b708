//! The TCB steps: the TCB info against the TEE and platform and the TD's
//! module (steps 6–7), the header checks Intel's library makes beyond
//! structure, and TCB level matching with Intel's convergence (step 11).

use super::*;

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
pub(super) fn check_header(q: &Quote) -> Result<(), TdxError> {
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
