//! Strict JSON for JOSE parts (the walker shared with the MAA validator,
//! `tee_attest_core::json`) and strict base64url.

pub(crate) use tee_attest_core::json::{
    close_object, from_str_seed, Name, NameSeed, StrictValue, Unique,
};

/// Strict unpadded base64url: no padding, no other alphabet, canonical
/// trailing bits (SIMD-accelerated).
pub(crate) fn b64url(part: &str) -> Option<Vec<u8>> {
    base64_simd::URL_SAFE_NO_PAD.decode_to_vec(part).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64url_is_strict() {
        assert_eq!(b64url("-_8").unwrap(), vec![0xfb, 0xff]);
        for bad in ["-_8=", "+/8", "-_9", "a"] {
            assert!(b64url(bad).is_none(), "{bad}");
        }
    }
}
