//! Buffers handed to C: allocated here with a 16-byte header that records
//! their length, so that `tee_attest_free` takes just the pointer and wipes
//! the whole buffer (it may hold decrypted secrets) before releasing it.

use std::alloc::{alloc, dealloc, Layout};
use std::ptr;

use tee_attest_core::{Error, ErrorCode, Result};
use zeroize::Zeroize;

/// Bytes before the data: magic (8) and data length (8).
const HEADER: usize = 16;
/// Alignment of the allocation (and so of the data: `HEADER` is a multiple).
const ALIGN: usize = 16;
/// Marks a live buffer of ours ("teeattst" as a little-endian u64).
const MAGIC: u64 = u64::from_le_bytes(*b"teeattst");

fn layout(len: usize) -> Option<Layout> {
    // Data, a trailing NUL (so that a token can be used as a C string).
    let size = len.checked_add(HEADER + 1)?;
    Layout::from_size_align(size, ALIGN).ok()
}

/// Copy `data` into a new buffer for C: `data.len()` bytes followed by a
/// NUL that is not counted. Code 10 if memory runs out.
pub(crate) fn to_c(data: &[u8]) -> Result<*mut u8> {
    let no_memory = || {
        Error::new(
            ErrorCode::MemoryAllocationFailed,
            format!("allocating {} bytes for the result", data.len()),
        )
    };
    let layout = layout(data.len()).ok_or_else(no_memory)?;
    // SAFETY: `layout` has a non-zero size (at least HEADER + 1) and a
    // valid power-of-two alignment.
    let base = unsafe { alloc(layout) };
    if base.is_null() {
        return Err(no_memory());
    }
    // SAFETY: `base` points to `layout.size()` = HEADER + len + 1 writable
    // bytes aligned to 16, so the two u64 header words, the `len` data bytes
    // at `base + HEADER` and the NUL after them are all in bounds; `data`
    // cannot overlap memory that was just allocated.
    unsafe {
        ptr::write(base.cast::<u64>(), MAGIC);
        ptr::write(base.add(8).cast::<u64>(), data.len() as u64);
        let out = base.add(HEADER);
        ptr::copy_nonoverlapping(data.as_ptr(), out, data.len());
        ptr::write(out.add(data.len()), 0);
        Ok(out)
    }
}

/// Release a buffer made by [`to_c`], wiping it first. NULL is a no-op; a
/// pointer whose header does not carry our magic is left alone (best effort
/// against a foreign or already-freed pointer: such a call is a caller bug
/// and its behaviour is not defined by the API).
///
/// # Safety
///
/// `p` is NULL or a pointer returned by [`to_c`] that was not freed yet.
pub(crate) unsafe fn free(p: *mut u8) {
    if p.is_null() {
        return;
    }
    // SAFETY: by the contract, `p` came from `to_c`, so `p - HEADER` is the
    // start of a live allocation of at least HEADER + 1 bytes, aligned to 16.
    let base = unsafe { p.sub(HEADER) };
    // SAFETY: as above, the header is in bounds and aligned for u64.
    let (magic, len) = unsafe {
        (
            ptr::read(base.cast::<u64>()),
            ptr::read(base.add(8).cast::<u64>()),
        )
    };
    if magic != MAGIC {
        return;
    }
    let Some(layout) = usize::try_from(len).ok().and_then(layout) else {
        return;
    };
    // SAFETY: the allocation is `layout.size()` bytes from `base` (the
    // layout recomputed from the recorded length is the one `to_c` used);
    // nothing else references it once the caller frees it.
    unsafe {
        std::slice::from_raw_parts_mut(base, layout.size()).zeroize();
        dealloc(base, layout);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_with_nul_and_free() {
        for data in [&b""[..], b"x", &[7u8; 1000]] {
            let p = to_c(data).unwrap();
            // SAFETY: `p` holds data.len() bytes and a NUL.
            let (got, nul) = unsafe {
                (
                    std::slice::from_raw_parts(p, data.len()).to_vec(),
                    *p.add(data.len()),
                )
            };
            assert_eq!(got, data);
            assert_eq!(nul, 0);
            assert_eq!(p as usize % ALIGN, 0);
            // SAFETY: `p` came from `to_c` and is freed once.
            unsafe { free(p) };
        }
        // SAFETY: NULL is allowed.
        unsafe { free(ptr::null_mut()) };
    }
}
