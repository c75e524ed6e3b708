//! A mock TD firmware's CC event log, laid out as the TDX firmware (TDVF)
//! writes it and Linux shows it: the ACPI `CCEL` table under
//! `/sys/firmware/acpi/tables/CCEL` and the log area under
//! `/sys/firmware/acpi/tables/data/CCEL`.
//!
//! ```text
//! CCEL table  ACPI header (36: "CCEL", length 56, revision 1, checksum, OEM ids)
//!             ‖ CC type 2 (TDX) ‖ subtype 0 ‖ reserved (2) ‖ LAML (8) ‖ LASA (8)
//! log area    Spec ID event (SHA-1 layout, "Spec ID Event03", SHA-384 only)
//!             ‖ TCG_PCR_EVENT2 { CC MR index, type, 1 digest (SHA-384), size, data } …
//!             ‖ 0xFF up to LAML
//! ```
//!
//! The log is written first and the TD's RTMRs are its replay
//! ([`MockCcEventLog::rtmrs`]: `RTMR[i] = SHA-384(RTMR[i] ‖ digest)` from
//! zeros, for the events of CC MR index `i + 1`), so that a verifier that
//! replays the log (`tee_attest_tdx::ccel::CcEventLog::check`) finds the
//! quote's RTMRs.

use std::path::Path;

use aws_lc_rs::digest;

use crate::MockError;

/// `EV_NO_ACTION`: logged, extended into no register.
pub const EV_NO_ACTION: u32 = 0x0000_0003;
/// `EV_SEPARATOR`.
pub const EV_SEPARATOR: u32 = 0x0000_0004;
/// `EV_EFI_ACTION`.
pub const EV_EFI_ACTION: u32 = 0x0000_0007;
/// `EV_PLATFORM_CONFIG_FLAGS`.
pub const EV_PLATFORM_CONFIG_FLAGS: u32 = 0x0000_000A;
/// `EV_IPL` (kernel command line, initrd).
pub const EV_IPL: u32 = 0x0000_000D;
/// `EV_EFI_VARIABLE_DRIVER_CONFIG` (`SecureBoot`, `PK`, …).
pub const EV_EFI_VARIABLE_DRIVER_CONFIG: u32 = 0x8000_0001;
/// `EV_EFI_BOOT_SERVICES_APPLICATION` (the boot loader, the kernel).
pub const EV_EFI_BOOT_SERVICES_APPLICATION: u32 = 0x8000_0003;
/// `EV_EFI_PLATFORM_FIRMWARE_BLOB2` (a firmware volume, the TD HOB).
pub const EV_EFI_PLATFORM_FIRMWARE_BLOB2: u32 = 0x8000_000A;

/// `TPM_ALG_SHA384`: the one bank of a TD's CC event log.
const TPM_ALG_SHA384: u16 = 0x000C;
/// The CC type of TDX in the CCEL table.
const CC_TYPE_TDX: u8 = 2;
/// The CCEL table's length.
pub const CCEL_TABLE_LEN: usize = 56;
/// The log area's start address the mock table names (guest physical; a
/// verifier never reads it).
const MOCK_LASA: u64 = 0x7FBD_0000;
/// The log area is a whole number of these (0xFF-padded after the log).
const LOG_AREA_UNIT: usize = 4096;

/// A CC event log being written, with the RTMRs its events extend.
#[derive(Debug, Clone)]
pub struct MockCcEventLog {
    bytes: Vec<u8>,
    rtmrs: [[u8; 48]; 4],
    events: usize,
}

impl Default for MockCcEventLog {
    fn default() -> Self {
        Self::new()
    }
}

/// A UEFI variable as `EV_EFI_VARIABLE_DRIVER_CONFIG` logs it
/// (`UEFI_VARIABLE_DATA`: GUID, name length, data length, UTF-16 name, data).
fn uefi_variable(guid: [u8; 16], name: &str, data: &[u8]) -> Vec<u8> {
    let name: Vec<u16> = name.encode_utf16().collect();
    let mut out = guid.to_vec();
    out.extend((name.len() as u64).to_le_bytes());
    out.extend((data.len() as u64).to_le_bytes());
    for u in name {
        out.extend(u.to_le_bytes());
    }
    out.extend_from_slice(data);
    out
}

/// A firmware blob as `EV_EFI_PLATFORM_FIRMWARE_BLOB2` logs it
/// (`UEFI_PLATFORM_FIRMWARE_BLOB2`: description size, description, base,
/// length).
fn firmware_blob(description: &[u8], base: u64, length: u64) -> Vec<u8> {
    let mut out = vec![u8::try_from(description.len()).unwrap_or(u8::MAX)];
    out.extend_from_slice(&description[..usize::from(out[0])]);
    out.extend(base.to_le_bytes());
    out.extend(length.to_le_bytes());
    out
}

/// EFI_GLOBAL_VARIABLE: 8BE4DF61-93CA-11D2-AA0D-00E098032B8C.
const EFI_GLOBAL_VARIABLE: [u8; 16] = [
    0x61, 0xDF, 0xE4, 0x8B, 0xCA, 0x93, 0xD2, 0x11, 0xAA, 0x0D, 0x00, 0xE0, 0x98, 0x03, 0x2B, 0x8C,
];

fn sha384(data: &[u8]) -> [u8; 48] {
    let mut d = [0u8; 48];
    d.copy_from_slice(digest::digest(&digest::SHA384, data).as_ref());
    d
}

impl MockCcEventLog {
    /// An empty log: only its Spec ID event (SHA-384 the one algorithm).
    pub fn new() -> Self {
        let mut spec = b"Spec ID Event03\0".to_vec();
        spec.extend(0u32.to_le_bytes()); // platform class
        spec.extend([0, 2, 0, 2]); // spec version 2.0, errata 0, uintn size 2 (u64)
        spec.extend(1u32.to_le_bytes()); // number of algorithms
        spec.extend(TPM_ALG_SHA384.to_le_bytes());
        spec.extend(48u16.to_le_bytes());
        spec.push(0); // vendor info size
        let mut bytes = Vec::new();
        bytes.extend(0u32.to_le_bytes());
        bytes.extend(EV_NO_ACTION.to_le_bytes());
        bytes.extend([0u8; 20]);
        bytes.extend((spec.len() as u32).to_le_bytes());
        bytes.extend(spec);
        Self {
            bytes,
            rtmrs: [[0; 48]; 4],
            events: 0,
        }
    }

    /// The log a mock TD firmware and boot loader write: the firmware
    /// volume, the TD HOB and the `SecureBoot` (on), `PK`, `KEK`, `db`,
    /// `dbx` variables into RTMR0; the boot loader and the kernel into
    /// RTMR1; the kernel command line and the initrd into RTMR2; nothing
    /// into RTMR3 (runtime extensions are not logged here), which stays
    /// zero.
    pub fn firmware() -> Self {
        let mut log = Self::new();
        log.event_with_digest(
            1,
            EV_EFI_PLATFORM_FIRMWARE_BLOB2,
            sha384(b"tee-attest mock TDVF firmware volume"),
            &firmware_blob(b"BFV", 0xFF82_0000, 0x68_0000),
        );
        log.event(1, EV_PLATFORM_CONFIG_FLAGS, b"td_hob\0 mock TD HOB");
        for (name, data) in [
            ("SecureBoot", &[1u8][..]),
            ("PK", b"mock platform key"),
            ("KEK", b"mock key exchange key"),
            ("db", b"mock signature database"),
            ("dbx", b"mock forbidden signature database"),
        ] {
            log.event(
                1,
                EV_EFI_VARIABLE_DRIVER_CONFIG,
                &uefi_variable(EFI_GLOBAL_VARIABLE, name, data),
            );
        }
        log.event(1, EV_SEPARATOR, &[0, 0, 0, 0]);
        log.event(
            2,
            EV_EFI_ACTION,
            b"Calling EFI Application from Boot Option",
        );
        log.event(2, EV_SEPARATOR, &[0, 0, 0, 0]);
        log.event_with_digest(
            2,
            EV_EFI_BOOT_SERVICES_APPLICATION,
            sha384(b"tee-attest mock boot loader"),
            b"mock \\EFI\\BOOT\\BOOTX64.EFI",
        );
        log.event_with_digest(
            2,
            EV_EFI_BOOT_SERVICES_APPLICATION,
            sha384(b"tee-attest mock kernel"),
            b"mock vmlinuz",
        );
        log.event(2, EV_EFI_ACTION, b"Exit Boot Services Invocation");
        log.event(
            3,
            EV_IPL,
            b"kernel_cmdline: console=ttyS0 root=/dev/vda1 ro\0",
        );
        log.event_with_digest(3, EV_IPL, sha384(b"tee-attest mock initrd"), b"initrd\0");
        log
    }

    /// Appends an event of CC MR index `mr_index` (0 MRTD, 1–4 RTMR0–3)
    /// whose digest is SHA-384 of `data`; returns the digest.
    pub fn event(&mut self, mr_index: u32, event_type: u32, data: &[u8]) -> [u8; 48] {
        let d = sha384(data);
        self.event_with_digest(mr_index, event_type, d, data);
        d
    }

    /// Appends an event with this digest (of what was measured: a firmware
    /// volume, an image) and this data (its description). Events of
    /// `EV_NO_ACTION` and of CC MR index 0 or above 4 extend no RTMR.
    pub fn event_with_digest(
        &mut self,
        mr_index: u32,
        event_type: u32,
        digest: [u8; 48],
        data: &[u8],
    ) {
        self.bytes.extend(mr_index.to_le_bytes());
        self.bytes.extend(event_type.to_le_bytes());
        self.bytes.extend(1u32.to_le_bytes());
        self.bytes.extend(TPM_ALG_SHA384.to_le_bytes());
        self.bytes.extend(digest);
        self.bytes.extend((data.len() as u32).to_le_bytes());
        self.bytes.extend_from_slice(data);
        self.events += 1;
        if event_type != EV_NO_ACTION && (1..=4).contains(&mr_index) {
            let r = &mut self.rtmrs[(mr_index - 1) as usize];
            let mut ctx = digest::Context::new(&digest::SHA384);
            ctx.update(r.as_slice());
            ctx.update(&digest);
            r.copy_from_slice(ctx.finish().as_ref());
        }
    }

    /// RTMR0–3 as the events so far extend them (the replay of the log).
    pub fn rtmrs(&self) -> [[u8; 48]; 4] {
        self.rtmrs
    }

    /// How many events follow the Spec ID event.
    pub fn events(&self) -> usize {
        self.events
    }

    /// The log's bytes, without padding.
    pub fn log(&self) -> &[u8] {
        &self.bytes
    }

    /// The log area as `data/CCEL` holds it: the log, padded with 0xFF to a
    /// whole number of 4 KiB (the table's LAML).
    pub fn log_area(&self) -> Vec<u8> {
        let laml = self.bytes.len().div_ceil(LOG_AREA_UNIT).max(1) * LOG_AREA_UNIT;
        let mut area = self.bytes.clone();
        area.resize(laml, 0xFF);
        area
    }

    /// The ACPI `CCEL` table locating a log area of `laml` bytes: CC type 2
    /// (TDX), revision 1, a checksum that makes its bytes sum to zero.
    pub fn acpi_table(laml: u64) -> [u8; CCEL_TABLE_LEN] {
        let mut t = [0u8; CCEL_TABLE_LEN];
        t[..4].copy_from_slice(b"CCEL");
        t[4..8].copy_from_slice(&(CCEL_TABLE_LEN as u32).to_le_bytes());
        t[8] = 1; // revision
        t[10..16].copy_from_slice(b"TEEATT"); // OEM id
        t[16..24].copy_from_slice(b"MOCKTDVF"); // OEM table id
        t[24..28].copy_from_slice(&1u32.to_le_bytes()); // OEM revision
        t[28..32].copy_from_slice(b"TEEA"); // creator id
        t[32..36].copy_from_slice(&1u32.to_le_bytes()); // creator revision
        t[36] = CC_TYPE_TDX;
        t[40..48].copy_from_slice(&laml.to_le_bytes());
        t[48..56].copy_from_slice(&MOCK_LASA.to_le_bytes());
        let sum = t.iter().fold(0u8, |s, b| s.wrapping_add(*b));
        t[9] = 0u8.wrapping_sub(sum);
        t
    }

    /// Writes the table and the log area under the ACPI tables directory
    /// `acpi_tables` (made if missing): `CCEL` and `data/CCEL`, as Linux
    /// shows them. Code 1 when they cannot be written.
    pub fn write_acpi(&self, acpi_tables: &Path) -> Result<(), MockError> {
        let area = self.log_area();
        let data = acpi_tables.join("data");
        let table = acpi_tables.join("CCEL");
        let log = data.join("CCEL");
        std::fs::create_dir_all(&data).map_err(MockError::io("making", &data))?;
        std::fs::write(&table, Self::acpi_table(area.len() as u64))
            .map_err(MockError::io("writing", &table))?;
        std::fs::write(&log, &area).map_err(MockError::io("writing", &log))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tee_attest_tdx::ccel::{CcEventLog, CcelTable};

    #[test]
    fn the_log_parses_and_replays_to_its_rtmrs() {
        let log = MockCcEventLog::firmware();
        let area = log.log_area();
        assert_eq!(area.len() % 4096, 0);
        let parsed = CcEventLog::parse(&area).expect("parses, padding and all");
        assert_eq!(parsed.events.len(), log.events());
        let (rtmrs, seen) = parsed.replay().expect("replays");
        assert_eq!(rtmrs, log.rtmrs());
        assert_eq!(seen, [true, true, true, false]);
        assert_eq!(log.rtmrs()[3], [0; 48]);
        assert_ne!(log.rtmrs()[0], [0; 48]);

        let table = MockCcEventLog::acpi_table(area.len() as u64);
        assert_eq!(table.iter().fold(0u8, |s, b| s.wrapping_add(*b)), 0);
        let t = CcelTable::parse(&table).expect("a CCEL table");
        assert_eq!((t.cc_type, t.laml), (2, area.len() as u64));
    }

    #[test]
    fn events_outside_the_rtmrs_extend_nothing() {
        let mut log = MockCcEventLog::new();
        log.event(0, EV_PLATFORM_CONFIG_FLAGS, b"MRTD");
        log.event(4, EV_NO_ACTION, b"nothing");
        log.event(5, EV_IPL, b"no such register");
        assert_eq!(log.rtmrs(), [[0; 48]; 4]);
        let d = log.event(4, EV_IPL, b"rtmr3");
        let mut ctx = digest::Context::new(&digest::SHA384);
        ctx.update(&[0; 48]);
        ctx.update(&d);
        assert_eq!(log.rtmrs()[3].as_slice(), ctx.finish().as_ref());
    }
}
