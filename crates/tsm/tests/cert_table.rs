//! Property tests of the SEV-SNP certificate table: round trips, and no
//! panic on arbitrary or mutated input.

use proptest::prelude::*;
use tee_attest_tsm::{build_cert_table, parse_cert_table, Guid};

fn guid() -> impl Strategy<Value = Guid> {
    prop_oneof![
        Just(Guid::VCEK),
        Just(Guid::VLEK),
        Just(Guid::ASK),
        Just(Guid::ARK),
        any::<[u8; 16]>()
            .prop_filter("the zero GUID ends a table", |g| *g != [0u8; 16])
            .prop_map(Guid),
    ]
}

fn entries() -> impl Strategy<Value = Vec<(Guid, Vec<u8>)>> {
    prop::collection::vec((guid(), prop::collection::vec(any::<u8>(), 0..300)), 0..6)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn build_then_parse_round_trips(entries in entries(), pad in 0usize..64) {
        let mut table = build_cert_table(&entries);
        table.extend(std::iter::repeat_n(0u8, pad));
        prop_assert_eq!(parse_cert_table(&table).unwrap(), entries);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..2048)) {
        match parse_cert_table(&bytes) {
            // Certificates lie inside the input (they may overlap each other).
            Ok(certs) => prop_assert!(certs.iter().all(|(_, c)| c.len() <= bytes.len())),
            Err(e) => prop_assert_eq!(e.code().number(), 20),
        }
    }

    #[test]
    fn mutated_tables_never_panic(
        entries in entries(),
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut table = build_cert_table(&entries);
        for (at, value) in flips {
            let i = at.index(table.len());
            table[i] = value;
        }
        if truncate {
            table.truncate(cut.index(table.len() + 1));
        }
        match parse_cert_table(&table) {
            Ok(certs) => prop_assert!(certs.iter().all(|(g, c)| *g != Guid::ZERO && c.len() <= table.len())),
            Err(e) => prop_assert_eq!(e.code().number(), 20),
        }
    }

    #[test]
    fn a_table_cut_before_its_terminator_is_code_20(entries in entries(), cut in any::<prop::sample::Index>()) {
        let table = build_cert_table(&entries);
        let header = (entries.len() + 1) * 24;
        let end = cut.index(header);
        if end > 0 {
            let err = parse_cert_table(&table[..end]).unwrap_err();
            prop_assert_eq!(err.code().number(), 20);
        }
    }
}
