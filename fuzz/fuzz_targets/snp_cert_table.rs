//! What a bare-metal SEV-SNP guest reads from the kernel (configfs-tsm):
//! the `outblob` (the SNP report) and the `auxblob` (the GHCB certificate
//! table: GUID, offset, length entries, an all-zero terminator, then the
//! certificates); the checks of `check_kernel_report` and the table's
//! certificates for the report's signer. A table that parses must survive
//! `build_cert_table` → `parse_cert_table` unchanged.
//!
//! Input: first byte = flags (bit 0: an auxblob is present; bit 1: expect
//! VMPL 0; bit 2: the inblob is the report's own report data, so the checks
//! go past the report-data comparison), then `split(rest, 2)` = [outblob,
//! auxblob].
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_fuzz::split;
use tee_attest_snp::SigningKey;
use tee_attest_snp_guest::{certificates_from_table, check_kernel_report};
use tee_attest_tsm::{build_cert_table, parse_cert_table, Guid};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let p = split(rest, 2);
    let (outblob, auxblob) = (p[0], p[1]);
    if let Ok(table) = parse_cert_table(auxblob) {
        let again = parse_cert_table(&build_cert_table(&table)).expect("a built table parses");
        assert_eq!(again, table, "build/parse changed the table");
        for signer in [SigningKey::Vcek, SigningKey::Vlek, SigningKey::None] {
            if let Some(certs) = certificates_from_table(&table, signer) {
                assert!(!certs.is_empty() && !certs[0].is_empty());
            }
        }
        for (g, _) in &table {
            let _ = g.known_name();
            assert_eq!(
                Guid::parse(&g.to_string()),
                Some(*g),
                "GUID text round trip"
            );
        }
    }
    let mut inblob = [0u8; 64];
    if flags & 4 == 4 {
        if let Some(rd) = outblob.get(0x50..0x90) {
            inblob.copy_from_slice(rd);
        }
    }
    let aux = (flags & 1 == 1).then_some(auxblob);
    let vmpl = (flags & 2 == 2).then_some(0);
    if let Ok(k) = check_kernel_report(outblob, aux, &inblob, vmpl) {
        assert_eq!(k.report.report_data, inblob);
    }
    if let Ok(s) = std::str::from_utf8(auxblob) {
        let _ = Guid::parse(s);
    }
});
