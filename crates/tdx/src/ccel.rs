//! The CC event log of a TD: the ACPI `CCEL` table that locates it, and the
//! log itself (TCG crypto-agile format, SHA-384 digests), replayed into
//! RTMR0–3.
//!
//! ```text
//! CCEL table  ACPI header (36) ‖ CC type (1; 2 = TDX) ‖ subtype (1) ‖ reserved (2)
//!             ‖ LAML, log area minimum length (8) ‖ LASA, log area start address (8)
//! log         Spec ID event (SHA-1 layout, "Spec ID Event03") ‖ TCG_PCR_EVENT2 …
//!             the index of an event is the CC MR index: 0 MRTD, 1–4 RTMR0–3;
//!             the log area is padded with 0xFF (or zeros) after the last event
//! replay      RTMR[i] = SHA-384(RTMR[i] ‖ digest), from zeros
//! ```

use aws_lc_rs::digest;

use crate::bytes::Reader;
use crate::error::{Check, TdxError};
use crate::quote::TdReport10;

/// `EV_NO_ACTION`: not extended into any register.
pub const EV_NO_ACTION: u32 = 0x0000_0003;
const TPM_ALG_SHA384: u16 = 0x000C;
const MAX_EVENTS: usize = 100_000;
const MAX_ALGS: u32 = 16;

/// The ACPI CCEL table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CcelTable {
    /// The table's revision.
    pub revision: u8,
    /// CC type (2 = TDX).
    pub cc_type: u8,
    /// CC subtype.
    pub cc_subtype: u8,
    /// Log area minimum length.
    pub laml: u64,
    /// Log area start address (guest physical).
    pub lasa: u64,
}

impl CcelTable {
    /// Parses the table.
    pub fn parse(bytes: &[u8]) -> Result<Self, TdxError> {
        let mut r = Reader::new(bytes, "CCEL table", 0);
        if r.take(4, "signature")? != b"CCEL" {
            return Err(TdxError::parse(
                "CCEL table",
                "signature",
                0,
                "not \"CCEL\"",
            ));
        }
        let length = r.u32("length")? as usize;
        if length < 56 || length > bytes.len() {
            return Err(TdxError::parse(
                "CCEL table",
                "length",
                4,
                format!("{length} does not fit the table ({} bytes)", bytes.len()),
            ));
        }
        let revision = r.array::<1>("revision")?[0];
        r.take(36 - 9, "header")?;
        let cc_type = r.array::<1>("cc_type")?[0];
        let cc_subtype = r.array::<1>("cc_subtype")?[0];
        r.take(2, "reserved")?;
        let laml = r.u64("laml")?;
        let lasa = r.u64("lasa")?;
        Ok(Self {
            revision,
            cc_type,
            cc_subtype,
            laml,
            lasa,
        })
    }
}

/// One event of the CC event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CcEvent {
    /// The CC MR index (0 MRTD, 1–4 RTMR0–3).
    pub mr_index: u32,
    /// The event type.
    pub event_type: u32,
    /// The SHA-384 digest, when the event has one.
    pub sha384: Option<[u8; 48]>,
    /// The event data.
    pub data: Vec<u8>,
}

/// A parsed CC event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CcEventLog {
    /// The events after the Spec ID event.
    pub events: Vec<CcEvent>,
}

const S: &str = "CC event log";

impl CcEventLog {
    /// Parses a log area (trailing 0xFF or zero padding allowed).
    pub fn parse(bytes: &[u8]) -> Result<Self, TdxError> {
        let mut r = Reader::new(bytes, S, 0);
        r.u32("spec_id.pcr_index")?;
        if r.u32("spec_id.event_type")? != EV_NO_ACTION {
            return Err(TdxError::parse(
                S,
                "spec_id.event_type",
                4,
                "not EV_NO_ACTION",
            ));
        }
        r.take(20, "spec_id.digest")?;
        let size = r.u32("spec_id.event_size")? as usize;
        let spec_off = r.offset();
        let spec = r.take(size, "spec_id.event")?;
        if spec.len() < 28 || &spec[..16] != b"Spec ID Event03\0" {
            return Err(TdxError::parse(
                S,
                "spec_id.event",
                spec_off,
                "not \"Spec ID Event03\"",
            ));
        }
        let count = u32::from_le_bytes([spec[24], spec[25], spec[26], spec[27]]);
        if count == 0 || count > MAX_ALGS {
            return Err(TdxError::parse(
                S,
                "spec_id.number_of_algorithms",
                spec_off + 24,
                format!("{count}"),
            ));
        }
        let mut sizes = Vec::new();
        for i in 0..count as usize {
            let a = spec.get(28 + i * 4..32 + i * 4).ok_or_else(|| {
                TdxError::parse(
                    S,
                    "spec_id.digest_sizes",
                    spec_off + 28 + i * 4,
                    "truncated",
                )
            })?;
            sizes.push((
                u16::from_le_bytes([a[0], a[1]]),
                u16::from_le_bytes([a[2], a[3]]) as usize,
            ));
        }
        let mut events = Vec::new();
        while r.remaining() >= 8 {
            let rest = &bytes[r.pos()..];
            if rest.iter().all(|&b| b == 0xFF) || rest.iter().all(|&b| b == 0) {
                break;
            }
            if events.len() >= MAX_EVENTS {
                return Err(r.error("event", "more events than any firmware writes"));
            }
            let mr_index = r.u32("event.mr_index")?;
            if mr_index == u32::MAX {
                break;
            }
            let event_type = r.u32("event.event_type")?;
            let n = r.u32("event.digests.count")?;
            if n > MAX_ALGS {
                return Err(r.error("event.digests.count", format!("{n} digests")));
            }
            let mut sha384 = None;
            for _ in 0..n {
                let alg = r.u16("event.digests.alg")?;
                let len = sizes
                    .iter()
                    .find(|(a, _)| *a == alg)
                    .map(|(_, l)| *l)
                    .ok_or_else(|| {
                        r.error(
                            "event.digests.alg",
                            format!("{alg:#06x} not in the Spec ID event"),
                        )
                    })?;
                let d = r.take(len, "event.digests.digest")?;
                if alg == TPM_ALG_SHA384 {
                    sha384 = d.try_into().ok();
                }
            }
            let size = r.u32("event.event_size")? as usize;
            let data = r.take(size, "event.event")?.to_vec();
            events.push(CcEvent {
                mr_index,
                event_type,
                sha384,
                data,
            });
        }
        Ok(Self { events })
    }

    /// RTMR0–3 as the log replays them, and which had events.
    pub fn replay(&self) -> Result<([[u8; 48]; 4], [bool; 4]), TdxError> {
        let mut rtmr = [[0u8; 48]; 4];
        let mut seen = [false; 4];
        for (i, e) in self.events.iter().enumerate() {
            if e.event_type == EV_NO_ACTION || !(1..=4).contains(&e.mr_index) {
                continue;
            }
            let d = e.sha384.ok_or_else(|| {
                TdxError::parse(
                    S,
                    "event.digests",
                    i,
                    format!("event {i} has no SHA-384 digest"),
                )
            })?;
            let k = (e.mr_index - 1) as usize;
            let mut ctx = digest::Context::new(&digest::SHA384);
            ctx.update(&rtmr[k]);
            ctx.update(&d);
            rtmr[k].copy_from_slice(ctx.finish().as_ref());
            seen[k] = true;
        }
        Ok((rtmr, seen))
    }

    /// Checks that the log replays to the TD's RTMR0–2, and to RTMR3 when
    /// the log has events for it (runtime extensions of RTMR3 are not
    /// always logged).
    pub fn check(&self, td: &TdReport10) -> Result<(), TdxError> {
        let (rtmr, seen) = self.replay()?;
        for (i, (replayed, quoted)) in rtmr.iter().zip(&td.rtmr).enumerate() {
            if i == 3 && !seen[3] {
                continue;
            }
            if replayed != quoted {
                return Err(TdxError::verify(
                    Check::Rtmr,
                    format!(
                        "the event log replays RTMR{i} to {}, the quote has {}",
                        hex::encode(replayed),
                        hex::encode(quoted)
                    ),
                ));
            }
        }
        Ok(())
    }
}
