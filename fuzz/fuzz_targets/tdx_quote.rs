//! Intel TDX / SGX quotes (v3, v4, v5; TD 1.0 and 1.5 bodies, signature
//! and certification data), the TDREPORT, and the CCEL ACPI table and
//! event log with its RTMR replay (tdx).
//!
//! Input: first byte = what the rest is (0 quote, 1 TDREPORT, 2 CCEL table,
//! 3 CCEL event log).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_tdx::ccel::{CcEventLog, CcelTable};
use tee_attest_tdx::{CollateralRequest, Quote, TdReport};

fuzz_target!(|data: &[u8]| {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    match kind % 4 {
        0 => {
            if let Ok(q) = Quote::parse(rest) {
                let _ = (q.raw(), q.signed_bytes(), q.body_offset(), q.declared_len());
                let _ = q.is_tdx();
                let _ = q.qe_certification();
                let _ = q.pck_chain_pem();
                let _ = q.tee_tcb_svn();
                let _ = CollateralRequest::from_quote(&q).map(|r| r.cache_key());
            }
        }
        1 => {
            if let Ok(r) = TdReport::parse(rest) {
                let _ = r.is_tdx();
                let _ = r.check_hashes();
            }
        }
        2 => {
            let _ = CcelTable::parse(rest);
        }
        _ => {
            if let Ok(log) = CcEventLog::parse(rest) {
                let _ = log.replay();
            }
        }
    }
});
