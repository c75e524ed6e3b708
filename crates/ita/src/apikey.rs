//! [`ApiKey`]: the ITA attestation API key, from a file or
//! `$TEE_ATTEST_ITA_API_KEY`, zeroized on drop and never shown.

use std::fmt;
use std::path::Path;

use zeroize::Zeroizing;

use crate::ItaError;

/// The environment variable the API key is read from
/// ([`ApiKey::from_env`]).
pub const API_KEY_ENV: &str = "TEE_ATTEST_ITA_API_KEY";

/// The longest API key accepted (bytes): far more than ITA's keys.
const MAX_API_KEY_BYTES: usize = 4096;

/// An Intel Trust Authority API key (sent as `x-api-key`).
///
/// Its text is zeroized when dropped; `Debug` shows `ApiKey(***)`, and no
/// error or log of this crate contains it (server messages echoing it have
/// it replaced by `***`). It must be visible ASCII (a valid header value).
#[derive(Clone)]
pub struct ApiKey(Zeroizing<String>);

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl ApiKey {
    /// A key from its text (surrounding whitespace trimmed). Code 8 when it
    /// is empty, too long, or not visible ASCII; the message never
    /// contains the text.
    pub fn new(text: impl Into<String>) -> Result<Self, ItaError> {
        let raw = Zeroizing::new(text.into());
        let trimmed = raw.trim_matches(|c: char| c.is_ascii_whitespace());
        if trimmed.is_empty() {
            return Err(ItaError::InvalidInput("the ITA API key is empty".into()));
        }
        if trimmed.len() > MAX_API_KEY_BYTES {
            return Err(ItaError::InvalidInput(format!(
                "the ITA API key is longer than {MAX_API_KEY_BYTES} bytes"
            )));
        }
        if !trimmed.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ItaError::InvalidInput(
                "the ITA API key is not visible ASCII (it must fit an HTTP header)".into(),
            ));
        }
        Ok(Self(Zeroizing::new(trimmed.to_string())))
    }

    /// The key in a file (one line; surrounding whitespace trimmed). Code 8
    /// when the file cannot be read or holds no usable key.
    pub fn from_file(path: &Path) -> Result<Self, ItaError> {
        let bytes = Zeroizing::new(std::fs::read(path).map_err(|e| {
            ItaError::InvalidInput(format!(
                "reading the ITA API key file {}: {e}",
                path.display()
            ))
        })?);
        let text = std::str::from_utf8(&bytes).map_err(|_| {
            ItaError::InvalidInput(format!(
                "the ITA API key file {} is not UTF-8",
                path.display()
            ))
        })?;
        Self::new(text).map_err(|e| match e {
            ItaError::InvalidInput(m) => {
                ItaError::InvalidInput(format!("{m} (file {})", path.display()))
            }
            other => other,
        })
    }

    /// The key in `$TEE_ATTEST_ITA_API_KEY` (code 8 when unset or unusable).
    pub fn from_env() -> Result<Self, ItaError> {
        let value = Zeroizing::new(std::env::var(API_KEY_ENV).map_err(|_| {
            ItaError::InvalidInput(format!("${API_KEY_ENV} is not set (or not UTF-8)"))
        })?);
        Self::new(value.as_str()).map_err(|e| match e {
            ItaError::InvalidInput(m) => ItaError::InvalidInput(format!("{m} (${API_KEY_ENV})")),
            other => other,
        })
    }

    /// The key's text, for the `x-api-key` header only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }

    /// `text` with every occurrence of the key replaced by `***`.
    pub(crate) fn redact(&self, text: &str) -> String {
        text.replace(self.0.as_str(), "***")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked_and_never_shown() {
        let k = ApiKey::new("  s3cr3t-KEY\n").unwrap();
        assert_eq!(k.expose(), "s3cr3t-KEY");
        assert_eq!(format!("{k:?}"), "ApiKey(***)");
        assert_eq!(
            k.redact("echo s3cr3t-KEY twice s3cr3t-KEY"),
            "echo *** twice ***"
        );
        for bad in ["", "  \n", "a b", "é", "tab\there"] {
            let e = ApiKey::new(bad).unwrap_err();
            assert!(matches!(e, ItaError::InvalidInput(_)), "{bad:?}");
            if !bad.trim().is_empty() {
                assert!(!e.to_string().contains(bad.trim()), "{e}");
            }
        }
        assert!(ApiKey::new("x".repeat(MAX_API_KEY_BYTES + 1)).is_err());
    }

    #[test]
    fn from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("key");
        std::fs::write(&p, "file-key\n").unwrap();
        assert_eq!(ApiKey::from_file(&p).unwrap().expose(), "file-key");
        std::fs::write(&p, "\n").unwrap();
        let e = ApiKey::from_file(&p).unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
        assert!(ApiKey::from_file(&dir.path().join("missing")).is_err());
    }
}
