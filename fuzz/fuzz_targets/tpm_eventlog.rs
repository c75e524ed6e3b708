//! The TCG event log (crypto-agile): parse, SHA-256 replay, SecureBoot.
//! Inputs starting with 0xEE instead describe events, which are built into
//! a log with `EventLogBuilder` and must parse back to the same events.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_tpm::eventlog::{EventLog, EventLogBuilder};

fuzz_target!(|data: &[u8]| {
    if let Some(rest) = data.strip_prefix(&[0xEE]) {
        let mut b = EventLogBuilder::new();
        let mut want = Vec::new();
        // Events: pcr (1 byte), type (1 byte), length (1 byte), data.
        let mut r = rest;
        while r.len() >= 3 && want.len() < 64 {
            let (pcr, ty, len) = (u32::from(r[0] % 24), u32::from(r[1]), usize::from(r[2]));
            let d = &r[3..(3 + len).min(r.len())];
            let digest = b.event(pcr, ty, d);
            want.push((pcr, ty, digest, d.to_vec()));
            r = &r[3 + d.len()..];
        }
        if rest.first() == Some(&1) {
            b.secure_boot(true);
        }
        let log = EventLog::parse(&b.build()).expect("a built log parses");
        for (e, (pcr, ty, digest, d)) in log.events.iter().zip(&want) {
            assert_eq!((e.pcr, e.event_type), (*pcr, *ty));
            assert_eq!(e.sha256.as_ref(), Some(digest));
            assert_eq!(&e.data, d);
        }
        let _ = log.replay_sha256();
        return;
    }
    if let Ok(log) = EventLog::parse(data) {
        let _ = log.replay_sha256();
        let _ = log.secure_boot();
    }
});
