//! The DER Intel's certificates and CRLs are read with: object
//! identifiers, TLV headers, the signed (TBS) range, names, small integers.

use std::ops::Range;

/// ecdsa-with-SHA256 (1.2.840.10045.4.3.2), DER contents.
pub(super) const OID_ECDSA_SHA256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02];
/// id-ecPublicKey (1.2.840.10045.2.1).
pub(super) const OID_EC_PUBLIC_KEY: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x02, 0x01];
/// prime256v1 (1.2.840.10045.3.1.7).
pub(super) const OID_P256: &[u8] = &[0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x03, 0x01, 0x07];
/// commonName (2.5.4.3).
pub(super) const OID_CN: &[u8] = &[0x55, 0x04, 0x03];
/// The SGX extensions (1.2.840.113741.1.13.1), DER contents.
pub(super) const OID_SGX_EXT: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF8, 0x4D, 0x01, 0x0D, 0x01];
/// cRLNumber (2.5.29.20).
pub(super) const OID_CRL_NUMBER: &[u8] = &[0x55, 0x1D, 0x14];
/// authorityKeyIdentifier (2.5.29.35).
pub(super) const OID_AKI: &[u8] = &[0x55, 0x1D, 0x23];

/// Reads one DER TLV at `pos`: (tag, header length, content length).
pub(super) fn tlv(bytes: &[u8], pos: usize) -> Option<(u8, usize, usize)> {
    let tag = *bytes.get(pos)?;
    let first = *bytes.get(pos + 1)?;
    if first < 0x80 {
        return Some((tag, 2, first as usize));
    }
    let n = (first & 0x7f) as usize;
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | *bytes.get(pos + 2 + i)? as usize;
    }
    Some((tag, 2 + n, len))
}

/// The TLVs directly inside `content`, as (tag, contents).
pub(super) fn children(content: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < content.len() {
        let (tag, h, l) = tlv(content, pos)?;
        let end = pos.checked_add(h)?.checked_add(l)?;
        out.push((tag, content.get(pos + h..end)?));
        pos = end;
    }
    Some(out)
}

/// The contents of one whole TLV with `tag`.
pub(super) fn unwrap(bytes: &[u8], tag: u8) -> Option<&[u8]> {
    let (t, h, l) = tlv(bytes, 0)?;
    (t == tag && h + l == bytes.len()).then(|| &bytes[h..])
}

/// The byte range of the first element inside the outer SEQUENCE (the TBS
/// part of a certificate or CRL), as encoded.
pub(super) fn tbs_range(der: &[u8]) -> Option<Range<usize>> {
    let (_, h, _) = tlv(der, 0)?;
    let (_, h2, l2) = tlv(der, h)?;
    let end = h.checked_add(h2)?.checked_add(l2)?;
    (end <= der.len()).then_some(h..end)
}

pub(super) fn common_name(name: &x509_cert::name::Name) -> String {
    for rdn in name.0.iter() {
        for atv in rdn.0.iter() {
            if atv.oid.as_bytes() == OID_CN {
                return String::from_utf8_lossy(atv.value.value()).into_owned();
            }
        }
    }
    String::new()
}

/// A small unsigned INTEGER's value.
pub(super) fn small_uint(content: &[u8]) -> Option<u16> {
    if content.is_empty() || content.len() > 3 || content[0] & 0x80 != 0 {
        return None;
    }
    let v = content.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b));
    u16::try_from(v).ok()
}
