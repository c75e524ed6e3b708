//! Synthetic cases where Intel's rules and dcap-qvl's differ (the research
//! note lists them for dcap-qvl 0.5.x; 0.7.1, the newest release, has since
//! adopted some), each showing which rule this crate follows: Intel's.
//!
//! | case | Intel (followed here) | dcap-qvl 0.5.x | dcap-qvl 0.7.1 |
//! |---|---|---|---|
//! | TEE_TCB_SVN with [1] > 0 | compared from index 2 | all 16 bytes | from index 2 |
//! | status convergence | only OutOfDate/Revoked components change the platform status | worst wins | Intel's |
//! | TD 1.5 TEE_TCB_SVN2 | `checkForRelaunch`: TDRelaunchAdvised… | ignored | evaluated as a second level, its own reading |
//! | SEAMATTRIBUTES | zero, equal to the module's, not masked | masked | masked (bits outside the mask zero) |
//! | PCEID | must equal the PCK certificate's | not checked | not checked |
//! | level order | Intel's order, whatever the JSON's | the JSON's | canonicalised |

use tee_attest_tdx::pki::{PckTcb, SgxExtensions};
use tee_attest_tdx::quote::{TdReport10, TdReport15};
use tee_attest_tdx::tcb_info::TcbInfo;
use tee_attest_tdx::{check_platform, evaluate_tcb, Check, QuoteBody, TcbStatus};

const Z96: &str = "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000";

fn level(pce: u16, tdx: [u8; 3], status: &str, date: &str, adv: &str) -> String {
    let comps = |first: &[u8]| {
        (0..16)
            .map(|i| format!("{{\"svn\":{}}}", first.get(i).copied().unwrap_or(0)))
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        r#"{{"tcb":{{"sgxtcbcomponents":[{}],"pcesvn":{pce},"tdxtcbcomponents":[{}]}},"tcbDate":"{date}","tcbStatus":"{status}","advisoryIDs":["{adv}"]}}"#,
        comps(&[2, 2]),
        comps(&tdx)
    )
}

fn tcb_info(levels: &[String], module_levels: &str, module_attr_mask: &str) -> TcbInfo {
    let body = format!(
        r#"{{"id":"TDX","version":3,"issueDate":"2025-01-01T00:00:00Z","nextUpdate":"2025-02-01T00:00:00Z","fmspc":"B0C06F000000","pceId":"0000","tcbType":0,"tcbEvaluationDataNumber":17,"tdxModule":{{"mrsigner":"{Z96}","attributes":"0000000000000000","attributesMask":"{module_attr_mask}"}},"tdxModuleIdentities":[{{"id":"TDX_01","mrsigner":"{Z96}","attributes":"0000000000000000","attributesMask":"{module_attr_mask}","tcbLevels":[{module_levels}]}}],"tcbLevels":[{}]}}"#,
        levels.join(",")
    );
    TcbInfo::parse(&body).expect("synthetic TCB info")
}

fn module_levels() -> String {
    r#"{"tcb":{"isvsvn":4},"tcbDate":"2024-03-13T00:00:00Z","tcbStatus":"UpToDate","advisoryIDs":["INTEL-SA-M1"]},{"tcb":{"isvsvn":2},"tcbDate":"2023-08-09T00:00:00Z","tcbStatus":"OutOfDate","advisoryIDs":["INTEL-SA-M2"]}"#.into()
}

fn pck() -> SgxExtensions {
    SgxExtensions {
        ppid: [0; 16],
        tcb: PckTcb {
            comp_svn: [2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            pce_svn: 11,
            cpu_svn: [0; 16],
        },
        pce_id: [0, 0],
        fmspc: [0xB0, 0xC0, 0x6F, 0, 0, 0],
        sgx_type: 0,
        platform_instance_id: None,
    }
}

fn td(svn: [u8; 3]) -> TdReport10 {
    let mut tee_tcb_svn = [0u8; 16];
    tee_tcb_svn[..3].copy_from_slice(&svn);
    TdReport10 {
        tee_tcb_svn,
        mr_seam: [0; 48],
        mr_signer_seam: [0; 48],
        seam_attributes: [0; 8],
        td_attributes: [0; 8],
        xfam: [0; 8],
        mr_td: [0; 48],
        mr_config_id: [0; 48],
        mr_owner: [0; 48],
        mr_owner_config: [0; 48],
        rtmr: [[0; 48]; 4],
        report_data: [0; 64],
    }
}

#[test]
fn tee_tcb_svn_is_compared_from_index_2_when_the_module_major_is_set() {
    // Module 1.x, minor SVN 4: below the level's [0] = 5, which Intel does
    // not compare (the module identity judges it); [2] = 3 meets the level.
    let t = tcb_info(
        &[level(
            11,
            [5, 0, 3],
            "UpToDate",
            "2024-03-13T00:00:00Z",
            "INTEL-SA-P1",
        )],
        &module_levels(),
        "FFFFFFFFFFFFFFFF",
    );
    let e = evaluate_tcb(
        &t,
        &pck(),
        &QuoteBody::Td10(td([4, 1, 3])),
        TcbStatus::UpToDate,
    )
    .expect("Intel's rule: a level matches");
    assert_eq!(e.status, TcbStatus::UpToDate);
    assert_eq!(e.module_status, Some(TcbStatus::UpToDate));
    // dcap-qvl compares all 16 bytes: 4 < 5, no level. With [1] = 0 all
    // bytes count here too.
    let err = evaluate_tcb(
        &t,
        &pck(),
        &QuoteBody::Td10(td([4, 0, 3])),
        TcbStatus::UpToDate,
    )
    .expect_err("no level with every byte compared");
    assert_eq!(err.check(), Some(Check::TcbNotSupported));
}

#[test]
fn convergence_is_intels_not_worst_wins() {
    // Platform ConfigurationNeeded, module OutOfDate: Intel says
    // OutOfDateConfigurationNeeded (worst-wins would say OutOfDate).
    let t = tcb_info(
        &[level(
            11,
            [0, 0, 3],
            "ConfigurationNeeded",
            "2024-03-13T00:00:00Z",
            "INTEL-SA-P1",
        )],
        &module_levels(),
        "FFFFFFFFFFFFFFFF",
    );
    let e = evaluate_tcb(
        &t,
        &pck(),
        &QuoteBody::Td10(td([3, 1, 3])),
        TcbStatus::UpToDate,
    )
    .expect("evaluates");
    assert_eq!(e.tdx_status, Some(TcbStatus::ConfigurationNeeded));
    assert_eq!(e.module_status, Some(TcbStatus::OutOfDate));
    assert_eq!(e.status, TcbStatus::OutOfDateConfigurationNeeded);
    // A QE level's ConfigurationNeeded does not change the platform's
    // status (only OutOfDate and Revoked components do).
    let t = tcb_info(
        &[level(
            11,
            [0, 0, 3],
            "SWHardeningNeeded",
            "2024-03-13T00:00:00Z",
            "INTEL-SA-P1",
        )],
        &module_levels(),
        "FFFFFFFFFFFFFFFF",
    );
    let e = evaluate_tcb(
        &t,
        &pck(),
        &QuoteBody::Td10(td([4, 1, 3])),
        TcbStatus::ConfigurationNeeded,
    )
    .expect("evaluates");
    assert_eq!(e.status, TcbStatus::SwHardeningNeeded);
    let e = evaluate_tcb(
        &t,
        &pck(),
        &QuoteBody::Td10(td([4, 1, 3])),
        TcbStatus::OutOfDate,
    )
    .expect("evaluates");
    assert_eq!(e.status, TcbStatus::OutOfDate);
    let e = evaluate_tcb(
        &t,
        &pck(),
        &QuoteBody::Td10(td([4, 1, 3])),
        TcbStatus::Revoked,
    )
    .expect("evaluates");
    assert_eq!(e.status, TcbStatus::Revoked);
}

#[test]
fn td15_tee_tcb_svn2_gives_relaunch_advised() {
    // The running module (minor 3) is OutOfDate; the module a relaunch would
    // use (TEE_TCB_SVN2: minor 4, [2] = 3) is the latest: relaunch advised.
    let t = tcb_info(
        &[
            level(
                11,
                [0, 0, 3],
                "UpToDate",
                "2024-03-13T00:00:00Z",
                "INTEL-SA-P1",
            ),
            level(
                11,
                [0, 0, 2],
                "OutOfDate",
                "2023-01-01T00:00:00Z",
                "INTEL-SA-P2",
            ),
        ],
        &module_levels(),
        "FFFFFFFFFFFFFFFF",
    );
    let mut svn2 = [0u8; 16];
    svn2[..3].copy_from_slice(&[4, 1, 3]);
    let body = QuoteBody::Td15(TdReport15 {
        base: td([3, 1, 3]),
        tee_tcb_svn2: svn2,
        mr_service_td: [0; 48],
    });
    let e = evaluate_tcb(&t, &pck(), &body, TcbStatus::UpToDate).expect("evaluates");
    assert_eq!(e.status, TcbStatus::TdRelaunchAdvised);
    // Without the newer module in TEE_TCB_SVN2 it stays OutOfDate (which is
    // what dcap-qvl, ignoring TEE_TCB_SVN2, says in both cases).
    let body = QuoteBody::Td15(TdReport15 {
        base: td([3, 1, 3]),
        tee_tcb_svn2: td([3, 1, 3]).tee_tcb_svn,
        mr_service_td: [0; 48],
    });
    let e = evaluate_tcb(&t, &pck(), &body, TcbStatus::UpToDate).expect("evaluates");
    assert_eq!(e.status, TcbStatus::OutOfDate);
}

#[test]
fn seam_attributes_must_be_zero_even_where_the_mask_would_hide_them() {
    // A mask of zero: dcap-qvl's masking would accept any SEAMATTRIBUTES.
    let t = tcb_info(
        &[level(
            11,
            [0, 0, 3],
            "UpToDate",
            "2024-03-13T00:00:00Z",
            "INTEL-SA-P1",
        )],
        &module_levels(),
        "0000000000000000",
    );
    let mut r = td([4, 1, 3]);
    check_platform(&t, &pck(), &QuoteBody::Td10(r.clone())).expect("zero attributes");
    r.seam_attributes[0] = 1;
    let e = check_platform(&t, &pck(), &QuoteBody::Td10(r)).expect_err("non-zero");
    assert_eq!(e.check(), Some(Check::TdxModule));
}

#[test]
fn pceid_must_equal_the_pck_certificates() {
    let t = tcb_info(
        &[level(
            11,
            [0, 0, 3],
            "UpToDate",
            "2024-03-13T00:00:00Z",
            "INTEL-SA-P1",
        )],
        &module_levels(),
        "FFFFFFFFFFFFFFFF",
    );
    let mut p = pck();
    p.pce_id = [0, 1];
    let e = check_platform(&t, &p, &QuoteBody::Td10(td([4, 1, 3]))).expect_err("PCEID");
    assert_eq!(e.check(), Some(Check::PceId));
    let mut p = pck();
    p.fmspc[5] = 1;
    let e = check_platform(&t, &p, &QuoteBody::Td10(td([4, 1, 3]))).expect_err("FMSPC");
    assert_eq!(e.check(), Some(Check::Fmspc));
}

#[test]
fn levels_are_matched_in_intels_order_not_the_jsons() {
    // The JSON lists the lower level first: a first-match over the JSON
    // would say OutOfDate; Intel's order finds the UpToDate level.
    let t = tcb_info(
        &[
            level(
                5,
                [0, 0, 3],
                "OutOfDate",
                "2018-01-04T00:00:00Z",
                "INTEL-SA-OLD",
            ),
            level(
                11,
                [0, 0, 3],
                "UpToDate",
                "2024-03-13T00:00:00Z",
                "INTEL-SA-NEW",
            ),
        ],
        &module_levels(),
        "FFFFFFFFFFFFFFFF",
    );
    let e = evaluate_tcb(
        &t,
        &pck(),
        &QuoteBody::Td10(td([4, 1, 3])),
        TcbStatus::UpToDate,
    )
    .expect("evaluates");
    assert_eq!(e.status, TcbStatus::UpToDate);
    assert_eq!(e.advisories, vec!["INTEL-SA-NEW"]);
    // The TCB date and advisories of the module level come along.
    assert_eq!(
        e.module_level.as_ref().map(|m| m.1.as_str()),
        Some("2024-03-13T00:00:00Z")
    );
}
