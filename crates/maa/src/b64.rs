//! Base64 as the AzureGuest protocol uses it: plain base64 is padded standard
//! on output; on input both alphabets and optional padding are accepted.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;

use crate::MaaError;

/// Padded standard base64.
pub(crate) fn std(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Unpadded base64url.
pub(crate) fn url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes standard or url-safe base64, padded or not; whitespace and line
/// breaks (as in PEM) are ignored.
pub(crate) fn decode_any(text: &str) -> Option<Vec<u8>> {
    let cleaned: String = text
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .map(|c| match c {
            '+' => '-',
            '/' => '_',
            c => c,
        })
        .collect();
    let trimmed = cleaned.trim_end_matches('=');
    // At most two pad characters are allowed.
    if cleaned.len() - trimmed.len() > 2 {
        return None;
    }
    URL_SAFE_NO_PAD.decode(trimmed).ok()
}

/// [`decode_any`] with a typed error naming the field (code 2).
pub(crate) fn decode_field(text: &str, what: &str) -> Result<Vec<u8>, MaaError> {
    decode_any(text).ok_or_else(|| MaaError::malformed(what, "not base64"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_decoding() {
        for s in ["+/8=", "+/8", "-_8", "-_8="] {
            assert_eq!(decode_any(s).unwrap(), vec![0xfb, 0xff], "{s}");
        }
        assert_eq!(decode_any("").unwrap(), Vec::<u8>::new());
        assert!(decode_any("a===").is_none());
        assert!(decode_any("!!").is_none());
        assert_eq!(std(&[0xfb, 0xff]), "+/8=");
        assert_eq!(url(&[0xfb, 0xff]), "-_8");
    }
}
