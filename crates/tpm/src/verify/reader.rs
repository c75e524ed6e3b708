//! A big-endian cursor that names the field and offset of every failure.

use crate::TpmError;

pub(crate) struct Reader<'a> {
    structure: &'static str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(structure: &'static str, bytes: &'a [u8]) -> Self {
        Self {
            structure,
            bytes,
            pos: 0,
        }
    }

    pub(crate) fn malformed(&self, field: &'static str, reason: impl Into<String>) -> TpmError {
        TpmError::Malformed {
            structure: self.structure,
            field,
            offset: self.pos,
            reason: reason.into(),
        }
    }

    pub(crate) fn take(&mut self, field: &'static str, n: usize) -> Result<&'a [u8], TpmError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let out = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(out)
            }
            None => Err(self.malformed(
                field,
                format!(
                    "needs {n} bytes, {} left",
                    self.bytes.len().saturating_sub(self.pos)
                ),
            )),
        }
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], TpmError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(field, N)?);
        Ok(out)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, TpmError> {
        Ok(self.array::<1>(field)?[0])
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, TpmError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, TpmError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    pub(crate) fn u64(&mut self, field: &'static str) -> Result<u64, TpmError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// A `TPM2B_*`: a u16 size, then that many bytes.
    pub(crate) fn tpm2b(&mut self, field: &'static str) -> Result<&'a [u8], TpmError> {
        let size = self.u16(field)?;
        self.take(field, usize::from(size))
    }

    pub(crate) fn finish(&self) -> Result<(), TpmError> {
        if self.pos == self.bytes.len() {
            Ok(())
        } else {
            Err(self.malformed(
                "end",
                format!("{} trailing bytes", self.bytes.len() - self.pos),
            ))
        }
    }
}
