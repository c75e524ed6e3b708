//! How the fuzz targets cut one input into parts; shared by the targets
//! (src/lib.rs) and the seed generator (seeds/), which writes inputs in the
//! same shapes.
//!
//! Two shapes:
//! - binary: each part but the last is prefixed with its length (u32,
//!   little-endian); the last part is the rest. A length past the end takes
//!   what is left.
//! - text: parts separated by a NUL byte (policy text, JSON and tokens hold
//!   none), the last part the rest.

/// Splits `data` into exactly `n` parts (missing parts are empty).
pub fn split(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts = Vec::with_capacity(n);
    let mut rest = data;
    for _ in 1..n {
        if rest.len() < 4 {
            parts.push(&rest[..0]);
            rest = &rest[rest.len()..];
            continue;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        rest = &rest[4..];
        let len = len.min(rest.len());
        parts.push(&rest[..len]);
        rest = &rest[len..];
    }
    parts.push(rest);
    parts
}

/// The input that [`split`] cuts into `parts`.
pub fn join(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some((last, init)) = parts.split_last() {
        for p in init {
            out.extend_from_slice(&(p.len() as u32).to_le_bytes());
            out.extend_from_slice(p);
        }
        out.extend_from_slice(last);
    }
    out
}

/// Splits `data` at NUL bytes into exactly `n` parts (the last keeps any
/// further NULs; missing parts are empty).
pub fn split_text(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut parts: Vec<&[u8]> = data.splitn(n, |&b| b == 0).collect();
    while parts.len() < n {
        parts.push(&[]);
    }
    parts
}

/// The input that [`split_text`] cuts into `parts`.
pub fn join_text(parts: &[&[u8]]) -> Vec<u8> {
    parts.join(&0u8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let parts: [&[u8]; 3] = [b"ab", b"", b"cde"];
        assert_eq!(split(&join(&parts), 3), parts);
        assert_eq!(split_text(&join_text(&parts), 3), parts);
        assert_eq!(split(b"", 2), vec![&b""[..], &b""[..]]);
    }
}
