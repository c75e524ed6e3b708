//! A bounds-checked little-endian reader whose errors name the structure,
//! the field and the offset.

use crate::error::TdxError;

/// Reads fields in order from a byte slice.
#[derive(Debug, Clone)]
pub(crate) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// Added to every offset reported (the structure's place in a larger one).
    base: usize,
    structure: &'static str,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `bytes`, which sit at `base` in the
    /// enclosing structure.
    pub(crate) fn new(bytes: &'a [u8], structure: &'static str, base: usize) -> Self {
        Self {
            bytes,
            pos: 0,
            base,
            structure,
        }
    }

    /// The offset of the next field in the enclosing structure.
    pub(crate) fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// The position inside this reader's bytes.
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    /// Bytes not read yet.
    pub(crate) fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }

    /// A parse error at the current offset.
    pub(crate) fn error(&self, field: &'static str, reason: impl Into<String>) -> TdxError {
        TdxError::parse(self.structure, field, self.offset(), reason)
    }

    /// The next `n` bytes.
    pub(crate) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], TdxError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| {
                self.error(field, format!("needs {n} bytes, {} left", self.remaining()))
            })?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    /// The next `N` bytes as an array.
    pub(crate) fn array<const N: usize>(
        &mut self,
        field: &'static str,
    ) -> Result<[u8; N], TdxError> {
        let b = self.take(N, field)?;
        let mut out = [0u8; N];
        out.copy_from_slice(b);
        Ok(out)
    }

    /// A little-endian u16.
    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, TdxError> {
        Ok(u16::from_le_bytes(self.array(field)?))
    }

    /// A little-endian u32.
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, TdxError> {
        Ok(u32::from_le_bytes(self.array(field)?))
    }

    /// A little-endian u64.
    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, TdxError> {
        Ok(u64::from_le_bytes(self.array(field)?))
    }
}

/// A fixed array from a slice known to have the length (zeros otherwise;
/// callers pass exact sub-slices of parsed structures).
pub(crate) fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    let n = b.len().min(N);
    out[..n].copy_from_slice(&b[..n]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_names_offsets() {
        let b = [1u8, 0, 2, 0, 0, 0, 9];
        let mut r = Reader::new(&b, "thing", 0x10);
        assert_eq!(r.u16("a").ok(), Some(1));
        assert_eq!(r.u32("b").ok(), Some(2));
        assert_eq!(r.offset(), 0x16);
        let e = r.u16("c").err().map(|e| e.to_string()).unwrap_or_default();
        assert!(
            e.contains("thing") && e.contains("field c") && e.contains("0x16"),
            "{e}"
        );
        assert_eq!(r.remaining(), 1);
        assert_eq!(arr::<3>(&[1, 2]), [1, 2, 0]);
    }
}
