//! The TCG PC Client event log (crypto-agile format, TCG PC Client Platform
//! Firmware Profile §10): parse it, replay its SHA-256 digests into PCR
//! values, and read the UEFI `SecureBoot` variable's measured value.
//!
//! ```text
//! first event  TCG_PCClientPCREvent (SHA-1 layout) carrying "Spec ID Event03"
//!              and the digest sizes of every algorithm in the log
//! then         TCG_PCR_EVENT2 { pcrIndex, eventType, digests[], eventSize, event }
//! ```

use std::collections::BTreeMap;

use aws_lc_rs::digest;

use crate::TpmError;

/// `EV_NO_ACTION`: not extended into any PCR.
pub const EV_NO_ACTION: u32 = 0x0000_0003;
/// `EV_SEPARATOR`.
pub const EV_SEPARATOR: u32 = 0x0000_0004;
/// `EV_EFI_VARIABLE_DRIVER_CONFIG`: a UEFI variable such as `SecureBoot`.
pub const EV_EFI_VARIABLE_DRIVER_CONFIG: u32 = 0x8000_0001;
const TPM_ALG_SHA256: u16 = 0x000B;
const MAX_EVENTS: usize = 100_000;
const MAX_ALGS: u32 = 16;

/// One event of the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The PCR it was extended into.
    pub pcr: u32,
    /// Its type.
    pub event_type: u32,
    /// Its SHA-256 digest, when the log has that bank.
    pub sha256: Option<[u8; 32]>,
    /// Its data.
    pub data: Vec<u8>,
}

/// A parsed event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventLog {
    /// The events after the Spec ID event, in order.
    pub events: Vec<Event>,
    /// The locality the platform started in (from a `StartupLocality` event).
    pub startup_locality: u8,
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], TpmError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or(TpmError::Malformed {
                structure: "TCG event log",
                field,
                offset: self.pos,
                reason: format!("needs {n} bytes"),
            })?;
        let out = &self.b[self.pos..end];
        self.pos = end;
        Ok(out)
    }
    fn u16(&mut self, f: &'static str) -> Result<u16, TpmError> {
        let b = self.take(2, f)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, f: &'static str) -> Result<u32, TpmError> {
        let b = self.take(4, f)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
}

impl EventLog {
    /// Parse a crypto-agile event log.
    pub fn parse(bytes: &[u8]) -> Result<Self, TpmError> {
        let mut c = Cursor { b: bytes, pos: 0 };
        let bad = |offset, reason: &str| TpmError::Malformed {
            structure: "TCG event log",
            field: "event",
            offset,
            reason: reason.into(),
        };
        // The Spec ID event, in the SHA-1 layout.
        c.u32("pcrIndex")?;
        if c.u32("eventType")? != EV_NO_ACTION {
            return Err(bad(
                4,
                "the first event is not the Spec ID event (EV_NO_ACTION)",
            ));
        }
        c.take(20, "digest")?;
        let size = c.u32("eventSize")? as usize;
        let spec = c.take(size, "event")?;
        if spec.len() < 28 || &spec[..16] != b"Spec ID Event03\0" {
            return Err(bad(32, "not a crypto-agile log (no \"Spec ID Event03\")"));
        }
        let count = u32::from_le_bytes([spec[24], spec[25], spec[26], spec[27]]);
        if count == 0 || count > MAX_ALGS {
            return Err(bad(56, "the Spec ID event lists no or too many algorithms"));
        }
        let mut sizes = BTreeMap::new();
        for i in 0..count as usize {
            let o = 28 + i * 4;
            let a = spec
                .get(o..o + 4)
                .ok_or_else(|| bad(32 + o, "algorithm list truncated"))?;
            sizes.insert(
                u16::from_le_bytes([a[0], a[1]]),
                u16::from_le_bytes([a[2], a[3]]) as usize,
            );
        }
        let mut events = Vec::new();
        let mut startup_locality = 0;
        while c.pos < bytes.len() {
            if events.len() >= MAX_EVENTS {
                return Err(bad(c.pos, "more events than any firmware writes"));
            }
            let pcr = c.u32("pcrIndex")?;
            let event_type = c.u32("eventType")?;
            let n = c.u32("digests.count")?;
            if n > MAX_ALGS {
                return Err(bad(c.pos, "too many digests in an event"));
            }
            let mut sha256 = None;
            for _ in 0..n {
                let alg = c.u16("digests.hashAlg")?;
                let len = *sizes.get(&alg).ok_or_else(|| {
                    bad(
                        c.pos,
                        "digest of an algorithm the Spec ID event does not list",
                    )
                })?;
                let d = c.take(len, "digests.digest")?;
                if alg == TPM_ALG_SHA256 {
                    sha256 = d.try_into().ok();
                }
            }
            let size = c.u32("eventSize")? as usize;
            let data = c.take(size, "event")?.to_vec();
            if event_type == EV_NO_ACTION && data.len() >= 17 && &data[..16] == b"StartupLocality\0"
            {
                startup_locality = data[16];
            }
            events.push(Event {
                pcr,
                event_type,
                sha256,
                data,
            });
        }
        Ok(Self {
            events,
            startup_locality,
        })
    }

    /// The SHA-256 PCR values the log replays to (PCRs it touches only).
    pub fn replay_sha256(&self) -> Result<BTreeMap<u32, [u8; 32]>, TpmError> {
        let mut pcrs: BTreeMap<u32, [u8; 32]> = BTreeMap::new();
        for (i, e) in self.events.iter().enumerate() {
            if e.event_type == EV_NO_ACTION {
                continue;
            }
            let d = e.sha256.ok_or(TpmError::Malformed {
                structure: "TCG event log",
                field: "digests",
                offset: i,
                reason: format!("event {i} has no SHA-256 digest"),
            })?;
            let pcr = pcrs.entry(e.pcr).or_insert_with(|| {
                let mut init = [0u8; 32];
                if e.pcr == 0 {
                    init[31] = self.startup_locality;
                }
                init
            });
            let mut ctx = digest::Context::new(&digest::SHA256);
            ctx.update(pcr.as_slice());
            ctx.update(&d);
            pcr.copy_from_slice(ctx.finish().as_ref());
        }
        Ok(pcrs)
    }

    /// The measured value of the UEFI `SecureBoot` variable: `Some(true)`
    /// when it was measured as 1, `None` when the log has no such event.
    ///
    /// Only what was measured counts: the event's SHA-256 digest (which the
    /// replay checks against the quoted PCRs) must be the hash of its data
    /// (`UEFI_VARIABLE_DATA`, as the TCG PC Client spec measures it). An
    /// event whose data does not hash to its digest is an error naming it:
    /// its data was changed after measurement, and it must not become a
    /// claim.
    pub fn secure_boot(&self) -> Result<Option<bool>, TpmError> {
        for (i, e) in self.events.iter().enumerate() {
            if e.event_type != EV_EFI_VARIABLE_DRIVER_CONFIG {
                continue;
            }
            let Some((name, data)) = uefi_variable(&e.data) else {
                continue;
            };
            if name != "SecureBoot" {
                continue;
            }
            let measured = digest::digest(&digest::SHA256, &e.data);
            if e.sha256.as_ref().map(|d| d.as_slice()) != Some(measured.as_ref()) {
                return Err(TpmError::Malformed {
                    structure: "TCG event log",
                    field: "SecureBoot event data",
                    offset: i,
                    reason: format!(
                        "event {i}'s data does not hash to its measured SHA-256 digest"
                    ),
                });
            }
            return Ok(Some(data.first() == Some(&1)));
        }
        Ok(None)
    }
}

/// `UEFI_VARIABLE_DATA`: GUID, name length (UTF-16 units), data length,
/// name (UTF-16LE), data.
fn uefi_variable(b: &[u8]) -> Option<(String, &[u8])> {
    let name_len = usize::try_from(u64::from_le_bytes(b.get(16..24)?.try_into().ok()?)).ok()?;
    let data_len = usize::try_from(u64::from_le_bytes(b.get(24..32)?.try_into().ok()?)).ok()?;
    let name_end = 32usize.checked_add(name_len.checked_mul(2)?)?;
    let units: Vec<u16> = b
        .get(32..name_end)?
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect();
    let data = b.get(name_end..name_end.checked_add(data_len)?)?;
    Some((String::from_utf16(&units).ok()?, data))
}

/// Builds crypto-agile logs (SHA-256 only) — for mock firmware and tests.
#[derive(Debug, Clone, Default)]
pub struct EventLogBuilder {
    bytes: Vec<u8>,
}

impl EventLogBuilder {
    /// A log with its Spec ID event (SHA-256 only).
    pub fn new() -> Self {
        let mut spec = b"Spec ID Event03\0".to_vec();
        spec.extend(0u32.to_le_bytes()); // platform class
        spec.extend([0, 2, 0, 2]); // spec version 2.0, errata 0, uintn size 2 (u64)
        spec.extend(1u32.to_le_bytes());
        spec.extend(TPM_ALG_SHA256.to_le_bytes());
        spec.extend(32u16.to_le_bytes());
        spec.push(0); // vendor info size
        let mut bytes = Vec::new();
        bytes.extend(0u32.to_le_bytes());
        bytes.extend(EV_NO_ACTION.to_le_bytes());
        bytes.extend([0u8; 20]);
        bytes.extend((spec.len() as u32).to_le_bytes());
        bytes.extend(spec);
        Self { bytes }
    }

    /// Append an event whose digest is SHA-256 of `data`; returns the digest
    /// (what to extend into the PCR).
    pub fn event(&mut self, pcr: u32, event_type: u32, data: &[u8]) -> [u8; 32] {
        let mut d = [0u8; 32];
        d.copy_from_slice(digest::digest(&digest::SHA256, data).as_ref());
        self.bytes.extend(pcr.to_le_bytes());
        self.bytes.extend(event_type.to_le_bytes());
        self.bytes.extend(1u32.to_le_bytes());
        self.bytes.extend(TPM_ALG_SHA256.to_le_bytes());
        self.bytes.extend(d);
        self.bytes.extend((data.len() as u32).to_le_bytes());
        self.bytes.extend(data);
        d
    }

    /// Append the `SecureBoot` variable event (PCR 7) with the value given.
    pub fn secure_boot(&mut self, enabled: bool) -> [u8; 32] {
        // EFI_GLOBAL_VARIABLE GUID 8BE4DF61-93CA-11D2-AA0D-00E098032B8C.
        let mut data = vec![
            0x61, 0xDF, 0xE4, 0x8B, 0xCA, 0x93, 0xD2, 0x11, 0xAA, 0x0D, 0x00, 0xE0, 0x98, 0x03,
            0x2B, 0x8C,
        ];
        let name: Vec<u16> = "SecureBoot".encode_utf16().collect();
        data.extend((name.len() as u64).to_le_bytes());
        data.extend(1u64.to_le_bytes());
        for u in name {
            data.extend(u.to_le_bytes());
        }
        data.push(u8::from(enabled));
        self.event(7, EV_EFI_VARIABLE_DRIVER_CONFIG, &data)
    }

    /// The log's bytes.
    pub fn build(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn builds_parses_replays_and_reads_secure_boot() {
        let mut b = EventLogBuilder::new();
        let d0 = b.event(0, 0x8, b"firmware");
        let d7 = b.secure_boot(true);
        b.event(7, EV_SEPARATOR, &[0; 4]);
        let log = EventLog::parse(&b.build()).unwrap();
        assert_eq!(log.events.len(), 3);
        assert_eq!(log.secure_boot().unwrap(), Some(true));
        let pcrs = log.replay_sha256().unwrap();
        let ext = |pcr: [u8; 32], d: &[u8]| {
            let mut c = digest::Context::new(&digest::SHA256);
            c.update(&pcr);
            c.update(d);
            <[u8; 32]>::try_from(c.finish().as_ref()).unwrap()
        };
        assert_eq!(pcrs[&0], ext([0; 32], &d0));
        let sep = digest::digest(&digest::SHA256, &[0; 4]);
        assert_eq!(pcrs[&7], ext(ext([0; 32], &d7), sep.as_ref()));

        let mut off = EventLogBuilder::new();
        off.secure_boot(false);
        assert_eq!(
            EventLog::parse(&off.build())
                .unwrap()
                .secure_boot()
                .unwrap(),
            Some(false)
        );
        assert_eq!(
            EventLog::parse(&EventLogBuilder::new().build())
                .unwrap()
                .secure_boot()
                .unwrap(),
            None
        );

        // Data changed after measurement (the digest, which the replay
        // checks, still says "on"): refused, never read as a claim.
        let mut tampered = EventLog::parse(&b.build()).unwrap();
        let sb = tampered
            .events
            .iter_mut()
            .find(|e| e.event_type == EV_EFI_VARIABLE_DRIVER_CONFIG)
            .unwrap();
        let last = sb.data.len() - 1;
        sb.data[last] ^= 0x01;
        assert!(tampered.replay_sha256().is_ok(), "the digests still replay");
        let err = tampered.secure_boot().unwrap_err();
        assert!(err.to_string().contains("does not hash"), "{err}");
    }

    #[test]
    fn refuses_logs_that_are_not_crypto_agile() {
        assert!(EventLog::parse(&[]).is_err());
        assert!(EventLog::parse(&[0; 64]).is_err());
        let mut bytes = EventLogBuilder::new().build();
        bytes.extend([7, 0, 0, 0, 1]); // a truncated event
        assert!(EventLog::parse(&bytes).is_err());
    }

    proptest! {
        #[test]
        fn never_panics_on_arbitrary_or_mutated_logs(bytes in proptest::collection::vec(any::<u8>(), 0..512), pos in 0usize..200, v in any::<u8>()) {
            let _ = EventLog::parse(&bytes).map(|l| (l.replay_sha256(), l.secure_boot()));
            let mut b = EventLogBuilder::new();
            b.secure_boot(true);
            let mut log = b.build();
            if pos < log.len() { log[pos] = v; }
            let _ = EventLog::parse(&log).map(|l| (l.replay_sha256(), l.secure_boot()));
        }
    }
}
