//! PEM, read strictly (a changed byte anywhere is noticed), and chains
//! given as PEM text.

use super::*;

pub(super) fn trim_ascii(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !c.is_ascii_whitespace() && *c != 0)
        .unwrap_or(b.len());
    let end = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace() && *c != 0)
        .map_or(start, |e| e + 1);
    &b[start..end.max(start)]
}

/// Decodes every `label` block of a PEM text, strictly: inside a block only
/// base64 and line breaks; outside blocks only ASCII whitespace and NUL
/// bytes (so that a changed byte anywhere is noticed).
pub fn pem_blocks(text: &[u8], label: &str) -> Result<Vec<Vec<u8>>, String> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let mut out = Vec::new();
    let mut rest = text;
    loop {
        let Some(start) = find(rest, begin.as_bytes()) else {
            if rest.iter().all(|c| c.is_ascii_whitespace() || *c == 0) {
                return Ok(out);
            }
            return Err(format!("text outside the {label} blocks"));
        };
        if !rest[..start]
            .iter()
            .all(|c| c.is_ascii_whitespace() || *c == 0)
        {
            return Err(format!("text outside the {label} blocks"));
        }
        let body_start = start + begin.len();
        let stop = find(&rest[body_start..], end.as_bytes())
            .ok_or_else(|| format!("a {label} block has no END line"))?;
        let body: Vec<u8> = rest[body_start..body_start + stop]
            .iter()
            .copied()
            .filter(|&c| c != b'\n' && c != b'\r')
            .collect();
        let der = STANDARD
            .decode(&body)
            .map_err(|e| format!("a {label} block is not base64: {e}"))?;
        out.push(der);
        rest = &rest[body_start + stop + end.len()..];
    }
}

pub(super) fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// A DER certificate as PEM text.
pub fn to_pem(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END CERTIFICATE-----\n");
    out
}

/// Decodes every certificate of a PEM text (strictly, see [`pem_blocks`]).
pub fn pem_certificates(text: &[u8]) -> Result<Vec<Vec<u8>>, String> {
    pem_blocks(text, "CERTIFICATE")
}

/// Parses a chain given as PEM text (leaf first, as Intel serves them).
pub fn parse_pem_chain(text: &[u8], what: &str) -> Result<Vec<IntelCert>, TdxError> {
    pem_certificates(text)
        .map_err(|e| TdxError::cert(what, e))?
        .iter()
        .enumerate()
        .map(|(i, d)| IntelCert::from_der(d, &format!("{what} [{i}]")))
        .collect()
}
