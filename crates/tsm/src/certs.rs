//! The SEV-SNP certificate table that `auxblob` carries for `sev_guest`.
//!
//! The table (GHCB specification, `MSG_REPORT_REQ`, "certificate table") is
//! a sequence of 24-byte entries — a 16-byte GUID, then the certificate's
//! offset and length as little-endian `u32`s, offsets counted from the start
//! of the table — ended by an all-zero entry. The certificates follow the
//! entries; the buffer may be padded after them (hosts hand over page-sized
//! buffers).
//!
//! GUIDs are stored in the byte order of their text form (RFC 4122 order, as
//! AMD's tools and the Linux kernel handle them), so
//! `63da758d-e664-4564-adc5-f4b93be8accd` starts with the byte `0x63`.

use std::fmt;

use tee_attest_core::Result;

use crate::error::TsmError;

/// Size of one table entry: GUID (16), offset (4), length (4).
pub const CERT_TABLE_ENTRY_SIZE: usize = 24;

/// A GUID as 16 bytes, in the byte order of its text form.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Guid(pub [u8; 16]);

impl Guid {
    /// The VCEK (Versioned Chip Endorsement Key) certificate.
    pub const VCEK: Guid = Guid([
        0x63, 0xda, 0x75, 0x8d, 0xe6, 0x64, 0x45, 0x64, 0xad, 0xc5, 0xf4, 0xb9, 0x3b, 0xe8, 0xac,
        0xcd,
    ]);
    /// The VLEK (Versioned Loaded Endorsement Key) certificate.
    pub const VLEK: Guid = Guid([
        0xa8, 0x07, 0x4b, 0xc2, 0xa2, 0x5a, 0x48, 0x3e, 0xaa, 0xe6, 0x39, 0xc0, 0x45, 0xa0, 0xb8,
        0xa1,
    ]);
    /// The ASK (AMD SEV Signing Key) certificate.
    pub const ASK: Guid = Guid([
        0x4a, 0xb7, 0xb3, 0x79, 0xbb, 0xac, 0x4f, 0xe4, 0xa0, 0x2f, 0x05, 0xae, 0xf3, 0x27, 0xc7,
        0x82,
    ]);
    /// The ARK (AMD Root Key) certificate.
    pub const ARK: Guid = Guid([
        0xc0, 0xb4, 0x06, 0xa4, 0xa8, 0x03, 0x49, 0x52, 0x97, 0x43, 0x3f, 0xb6, 0x01, 0x4c, 0xd0,
        0xae,
    ]);
    /// The all-zero GUID that ends a table.
    pub const ZERO: Guid = Guid([0; 16]);

    /// The GUID written as `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` (either
    /// case), if it is one.
    pub fn parse(text: &str) -> Option<Guid> {
        let bytes = text.as_bytes();
        if bytes.len() != 36 {
            return None;
        }
        let mut out = [0u8; 16];
        let mut n = 0;
        let mut i = 0;
        while i < bytes.len() {
            if matches!(i, 8 | 13 | 18 | 23) {
                if bytes[i] != b'-' {
                    return None;
                }
                i += 1;
                continue;
            }
            let hi = hex_value(bytes[i])?;
            let lo = hex_value(*bytes.get(i + 1)?)?;
            *out.get_mut(n)? = (hi << 4) | lo;
            n += 1;
            i += 2;
        }
        (n == 16).then_some(Guid(out))
    }

    /// `VCEK`, `VLEK`, `ASK` or `ARK` for the GUIDs the GHCB specification
    /// defines, else `None`.
    pub fn known_name(&self) -> Option<&'static str> {
        match *self {
            Guid::VCEK => Some("VCEK"),
            Guid::VLEK => Some("VLEK"),
            Guid::ASK => Some("ASK"),
            Guid::ARK => Some("ARK"),
            _ => None,
        }
    }
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.known_name() {
            Some(name) => write!(f, "Guid({self} {name})"),
            None => write!(f, "Guid({self})"),
        }
    }
}

fn malformed(entry: usize, reason: impl Into<String>) -> TsmError {
    TsmError::CertTable {
        entry,
        offset: entry.saturating_mul(CERT_TABLE_ENTRY_SIZE),
        reason: reason.into(),
    }
}

fn le_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// The certificates of an SEV-SNP certificate table, in table order, each
/// with its GUID.
///
/// An empty input is an empty table (the host supplied no certificates).
/// Otherwise the table must end with an all-zero entry inside the input, and
/// every certificate must lie after the entries and inside the input; a
/// malformed table is error code 20 naming the entry. Unknown GUIDs,
/// duplicate GUIDs and zero-length certificates are returned as they are,
/// for the caller to judge.
pub fn parse_cert_table(table: &[u8]) -> Result<Vec<(Guid, Vec<u8>)>> {
    if table.is_empty() {
        return Ok(Vec::new());
    }
    // First pass: the entries, up to the terminator.
    let mut entries: Vec<(Guid, u32, u32)> = Vec::new();
    let mut index = 0usize;
    loop {
        let start = index
            .checked_mul(CERT_TABLE_ENTRY_SIZE)
            .ok_or_else(|| malformed(index, "too many entries"))?;
        let end = start
            .checked_add(CERT_TABLE_ENTRY_SIZE)
            .ok_or_else(|| malformed(index, "too many entries"))?;
        let Some(raw) = table.get(start..end) else {
            return Err(malformed(
                index,
                format!(
                    "no all-zero terminating entry in {} bytes (entry needs bytes {start}..{end})",
                    table.len()
                ),
            )
            .into());
        };
        let mut guid = [0u8; 16];
        guid.copy_from_slice(&raw[..16]);
        let guid = Guid(guid);
        let offset = le_u32(raw, 16).ok_or_else(|| malformed(index, "short entry"))?;
        let length = le_u32(raw, 20).ok_or_else(|| malformed(index, "short entry"))?;
        if guid == Guid::ZERO {
            if offset != 0 || length != 0 {
                return Err(malformed(
                    index,
                    format!(
                        "zero GUID with offset {offset:#x} and length {length:#x}: the terminating entry must be all zero"
                    ),
                )
                .into());
            }
            break;
        }
        entries.push((guid, offset, length));
        index += 1;
    }
    let entries_end = (entries.len() + 1) * CERT_TABLE_ENTRY_SIZE;
    // Second pass: the certificates, bounds-checked.
    let mut out = Vec::with_capacity(entries.len());
    for (i, (guid, offset, length)) in entries.into_iter().enumerate() {
        let start = usize::try_from(offset).map_err(|_| malformed(i, "offset too large"))?;
        let len = usize::try_from(length).map_err(|_| malformed(i, "length too large"))?;
        let end = start
            .checked_add(len)
            .ok_or_else(|| malformed(i, "offset + length overflows"))?;
        if start < entries_end {
            return Err(malformed(
                i,
                format!(
                    "{guid} certificate at offset {start:#x} overlaps the entries (which end at {entries_end:#x})"
                ),
            )
            .into());
        }
        let Some(cert) = table.get(start..end) else {
            return Err(malformed(
                i,
                format!(
                    "{guid} certificate {start:#x}..{end:#x} lies outside the {}-byte table",
                    table.len()
                ),
            )
            .into());
        };
        out.push((guid, cert.to_vec()));
    }
    Ok(out)
}

/// An SEV-SNP certificate table holding `entries` in order: the entries, the
/// all-zero terminator, then the certificates back to back.
///
/// The format counts offsets and lengths in `u32`: a table over 4 GiB
/// cannot be represented, and its out-of-range fields are written as
/// `u32::MAX` (which [`parse_cert_table`] rejects) rather than wrapped.
pub fn build_cert_table<D: AsRef<[u8]>>(entries: &[(Guid, D)]) -> Vec<u8> {
    let header = (entries.len() + 1) * CERT_TABLE_ENTRY_SIZE;
    let body: usize = entries.iter().map(|(_, d)| d.as_ref().len()).sum();
    let mut out = Vec::with_capacity(header + body);
    let mut offset = header;
    for (guid, der) in entries {
        let len = der.as_ref().len();
        out.extend_from_slice(&guid.0);
        out.extend_from_slice(&u32::try_from(offset).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_le_bytes());
        offset = offset.saturating_add(len);
    }
    out.extend_from_slice(&[0u8; CERT_TABLE_ENTRY_SIZE]);
    for (_, der) in entries {
        out.extend_from_slice(der.as_ref());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_guids_match_their_text() {
        for (guid, text, name) in [
            (Guid::VCEK, "63da758d-e664-4564-adc5-f4b93be8accd", "VCEK"),
            (Guid::VLEK, "a8074bc2-a25a-483e-aae6-39c045a0b8a1", "VLEK"),
            (Guid::ASK, "4ab7b379-bbac-4fe4-a02f-05aef327c782", "ASK"),
            (Guid::ARK, "c0b406a4-a803-4952-9743-3fb6014cd0ae", "ARK"),
        ] {
            assert_eq!(guid.to_string(), text);
            assert_eq!(Guid::parse(text), Some(guid));
            assert_eq!(Guid::parse(&text.to_uppercase()), Some(guid));
            assert_eq!(guid.known_name(), Some(name));
        }
        assert_eq!(Guid::VCEK.0[0], 0x63, "text byte order, not mixed-endian");
        assert_eq!(Guid::parse("63da758d-e664-4564-adc5-f4b93be8acc"), None);
        assert_eq!(Guid::parse("63da758de-664-4564-adc5-f4b93be8accd"), None);
        assert_eq!(Guid::parse("63da758d-e664-4564-adc5-f4b93be8accg"), None);
        assert_eq!(Guid::ZERO.known_name(), None);
    }

    #[test]
    fn layout_of_a_built_table() {
        let t = build_cert_table(&[(Guid::VCEK, b"vcek".as_slice()), (Guid::ASK, b"as")]);
        assert_eq!(t.len(), 3 * 24 + 6);
        assert_eq!(&t[..16], &Guid::VCEK.0);
        assert_eq!(&t[16..20], &72u32.to_le_bytes());
        assert_eq!(&t[20..24], &4u32.to_le_bytes());
        assert_eq!(&t[24..40], &Guid::ASK.0);
        assert_eq!(&t[40..44], &76u32.to_le_bytes());
        assert_eq!(&t[44..48], &2u32.to_le_bytes());
        assert_eq!(&t[48..72], &[0u8; 24]);
        assert_eq!(&t[72..], b"vcekas");
        let parsed = parse_cert_table(&t).unwrap();
        assert_eq!(
            parsed,
            vec![(Guid::VCEK, b"vcek".to_vec()), (Guid::ASK, b"as".to_vec())]
        );
    }

    #[test]
    fn padding_after_the_certificates_is_accepted() {
        let mut t = build_cert_table(&[(Guid::ARK, b"ark")]);
        t.resize(4096, 0);
        assert_eq!(
            parse_cert_table(&t).unwrap(),
            vec![(Guid::ARK, b"ark".to_vec())]
        );
    }

    #[test]
    fn empty_input_and_terminator_only() {
        assert!(parse_cert_table(&[]).unwrap().is_empty());
        assert!(parse_cert_table(&[0u8; 24]).unwrap().is_empty());
    }

    fn code(bytes: &[u8]) -> u32 {
        parse_cert_table(bytes).unwrap_err().code().number()
    }

    #[test]
    fn malformed_tables_are_code_20() {
        let good = build_cert_table(&[(Guid::VCEK, b"vcek".as_slice())]);
        // No terminator: cut inside it.
        assert_eq!(code(&good[..30]), 20);
        // Only a partial entry.
        assert_eq!(code(&[1u8; 10]), 20);
        // Certificate beyond the end.
        let mut t = good.clone();
        t[20..24].copy_from_slice(&100u32.to_le_bytes());
        assert_eq!(code(&t), 20);
        // offset + length overflowing u32 range stays bounded.
        let mut t = good.clone();
        t[16..20].copy_from_slice(&u32::MAX.to_le_bytes());
        t[20..24].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(code(&t), 20);
        // Certificate overlapping the entries.
        let mut t = good.clone();
        t[16..20].copy_from_slice(&0u32.to_le_bytes());
        assert_eq!(code(&t), 20);
        // A zero GUID with non-zero fields.
        let mut t = good.clone();
        t[24 + 16] = 1;
        assert_eq!(code(&t), 20);
        let err = parse_cert_table(&good[..30]).unwrap_err();
        assert!(err.message().contains("terminating"), "{}", err.message());
    }
}
