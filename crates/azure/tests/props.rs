//! No HCL parser path panics on arbitrary or mutated bytes.

use proptest::prelude::*;
use tee_attest_azure::{HclReport, VarData};
use tee_attest_testkit::vector;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hcl_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..2600)) {
        if let Ok(h) = HclReport::from_bytes(&bytes) {
            let _ = h.check_binding();
            let _ = h.snp_report();
            let _ = h.var_data().map(|v| v.ak_pub());
        }
        let _ = VarData::from_bytes(&bytes);
    }

    #[test]
    fn mutated_hcl_never_panics(pos in 0usize..2600, val in any::<u8>(), cut in 0usize..2600) {
        let mut b = vector("azure-snp-2/hcl-report.bin");
        b[pos] = val;
        b.truncate(cut);
        if let Ok(h) = HclReport::from_bytes(&b) {
            let _ = h.check_binding();
            let _ = h.snp_report();
            let _ = h.to_bytes();
            let _ = h.var_data().map(|v| (v.ak_pub(), v.user_data()));
        }
    }
}
