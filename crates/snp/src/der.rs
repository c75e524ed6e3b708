//! DER and PEM helpers shared by the certificate and CRL readers: the
//! object identifiers they test, TLV headers, the signed (TBS) range of a
//! certificate or CRL, and PEM blocks.

use std::ops::Range;

use base64::Engine as _;

pub(crate) const OID_RSA: &str = "1.2.840.113549.1.1.1";
pub(crate) const OID_RSA_PSS: &str = "1.2.840.113549.1.1.10";
pub(crate) const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
pub(crate) const OID_SECP384R1: &str = "1.3.132.0.34";
const OID_CN: &str = "2.5.4.3";
/// The arc of AMD's certificate extensions.
pub(crate) const AMD_EXT: &str = "1.3.6.1.4.1.3704.1.";

/// Reads one DER TLV at `pos`: (header length, content length).
pub(crate) fn tlv(bytes: &[u8], pos: usize) -> Option<(usize, usize)> {
    let first = *bytes.get(pos + 1)?;
    if first < 0x80 {
        return Some((2, first as usize));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | *bytes.get(pos + 2 + i)? as usize;
    }
    Some((2 + n, len))
}

/// The byte range of the first element inside the outer SEQUENCE (the TBS
/// part of a certificate or CRL), as encoded.
pub(crate) fn first_inner_range(der: &[u8]) -> Option<Range<usize>> {
    let (h, _) = tlv(der, 0)?;
    let (h2, l2) = tlv(der, h)?;
    let end = h.checked_add(h2)?.checked_add(l2)?;
    (end <= der.len()).then_some(h..end)
}

pub(crate) fn unwrap_tlv(bytes: &[u8], tag: u8) -> Option<&[u8]> {
    if bytes.first() != Some(&tag) {
        return None;
    }
    let (h, l) = tlv(bytes, 0)?;
    (h + l == bytes.len()).then(|| &bytes[h..])
}

pub(crate) fn small_uint(bytes: &[u8]) -> Option<u8> {
    let v = unwrap_tlv(bytes, 0x02)?;
    let v = match v {
        [0, rest @ ..] if !rest.is_empty() => rest,
        other => other,
    };
    match v {
        [x] => Some(*x),
        _ => None,
    }
}

pub(crate) fn common_name(name: &x509_cert::name::Name) -> String {
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid.to_string() == OID_CN {
                return String::from_utf8_lossy(atv.value.value()).into_owned();
            }
        }
    }
    String::new()
}

pub(crate) fn time_secs(t: &x509_cert::time::Time) -> u64 {
    t.to_unix_duration().as_secs()
}

/// Decodes every `CERTIFICATE` (or `X509 CRL` when `label` says so) block of
/// a PEM text.
pub fn pem_blocks(text: &[u8], label: &str) -> Vec<Vec<u8>> {
    let text = String::from_utf8_lossy(text);
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest: &str = &text;
    while let Some(start) = rest.find(&begin) {
        let after = &rest[start + begin.len()..];
        let Some(stop) = after.find(&end) else { break };
        let body: String = after[..stop]
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if let Ok(der) = base64::engine::general_purpose::STANDARD.decode(body.as_bytes()) {
            out.push(der);
        }
        rest = &after[stop + end.len()..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tlv_lengths() {
        assert_eq!(tlv(&[0x30, 0x82, 0x01, 0x00], 0), Some((4, 256)));
        assert_eq!(tlv(&[0x30, 0x05], 0), Some((2, 5)));
        assert_eq!(tlv(&[0x30], 0), None);
        assert_eq!(small_uint(&[2, 2, 0, 0xd9]), Some(0xd9));
        assert_eq!(small_uint(&[2, 1, 3]), Some(3));
        assert_eq!(small_uint(&[2, 2, 1, 3]), None);
    }
}
