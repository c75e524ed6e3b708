//! Error codes 1–27 of the guest attestation API, and the error type that
//! carries one.

use std::fmt;

macro_rules! error_codes {
    ($( $(#[$doc:meta])* $name:ident = $num:literal, $desc:literal; )*) => {
        /// The error codes of the guest attestation API (SPEC.md §3), with the
        /// numbers and meanings of Microsoft's library, so that C callers and
        /// scripts can rely on them.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u32)]
        pub enum ErrorCode {
            $( $(#[$doc])* $name = $num, )*
        }

        impl ErrorCode {
            /// Every code, in numeric order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$name),*];

            /// The number of the code (1–27).
            pub const fn number(self) -> u32 {
                self as u32
            }

            /// The code's name, as written in this crate (`AttestationFailed`).
            pub const fn name(self) -> &'static str {
                match self { $(ErrorCode::$name => stringify!($name),)* }
            }

            /// The code's meaning, as the specification words it.
            pub const fn description(self) -> &'static str {
                match self { $(ErrorCode::$name => $desc,)* }
            }

            /// The code with that number, if there is one.
            pub const fn from_number(number: u32) -> Option<ErrorCode> {
                match number { $($num => Some(ErrorCode::$name),)* _ => None }
            }
        }
    };
}

error_codes! {
    /// Initialization failed (no usable TEE, TPM or configuration).
    InitializationFailed = 1, "initialization failed";
    /// The service's response could not be parsed.
    ParseResponseFailed = 2, "parsing the response failed";
    /// No managed-identity token for Azure resources was found.
    MsiTokenNotFound = 3, "managed-identity token for Azure resources not found";
    /// A request was retried as often as allowed and still failed.
    RequestExceededRetries = 4, "request exceeded its retries";
    /// A request failed (the service answered with an error).
    RequestFailed = 5, "request failed";
    /// Attestation failed: the evidence did not verify or the policy refused it.
    AttestationFailed = 6, "attestation failed";
    /// A request could not be sent (connection refused, DNS, TLS, time-out).
    SendRequestFailed = 7, "sending the request failed";
    /// An input parameter is invalid.
    InvalidInputParameter = 8, "invalid input parameter";
    /// The attestation parameters (or a policy) failed validation.
    AttestationParametersValidationFailed = 9, "attestation parameters failed validation";
    /// Memory could not be allocated.
    MemoryAllocationFailed = 10, "memory allocation failed";
    /// Operating-system information could not be read.
    OsInfoFailed = 11, "getting the operating-system information failed";
    /// The TPM could not be reached or failed internally.
    TpmInternalFailure = 12, "TPM internal failure";
    /// A TPM command failed.
    TpmOperationFailed = 13, "TPM operation failed";
    /// The sealed token could not be decrypted.
    JwtDecryptionFailed = 14, "decrypting the JWT failed";
    /// The TPM failed while decrypting the sealed token.
    JwtDecryptionTpmError = 15, "TPM error while decrypting the JWT";
    /// A response was not valid JSON, or not the JSON expected.
    InvalidJsonResponse = 16, "invalid JSON response";
    /// The VCEK certificate was empty or missing.
    EmptyVcekCert = 17, "empty VCEK (Versioned Chip Endorsement Key) certificate";
    /// A response was empty.
    EmptyResponse = 18, "empty response";
    /// A request body was empty.
    EmptyRequestBody = 19, "empty request body";
    /// A hardware or HCL report could not be parsed.
    ReportParsingFailed = 20, "report parsing failed";
    /// A report was empty (no bytes, or all zero).
    EmptyReport = 21, "empty report";
    /// Information could not be extracted from the JWT.
    JwtExtractionFailed = 22, "extracting information from the JWT failed";
    /// The JWT's key could not be turned into an RSA public key.
    JwtToRsaKeyFailed = 23, "converting the JWT to an RSA public key failed";
    /// Encryption could not be initialised.
    EncryptInitFailed = 24, "encryption initialisation failed";
    /// Encryption failed.
    EncryptFailed = 25, "encryption failed";
    /// The TPM failed while decrypting data.
    DecryptTpmError = 26, "TPM error while decrypting data";
    /// DNS information could not be parsed.
    DnsParsingFailed = 27, "parsing DNS information failed";
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.description(), self.number())
    }
}

/// Implemented by every crate's error type: the one spec code it maps to.
///
/// This is the single mapping from crate errors to API codes: a crate's error
/// enum answers here, and [`Error::from_coded`] (or `?` through the blanket
/// `From`) turns it into an [`Error`] that keeps it as the cause.
pub trait CodedError: std::error::Error + Send + Sync + 'static {
    /// The spec code this error maps to.
    fn code(&self) -> ErrorCode;
}

/// An error of the attestation API: a code, a message for humans, and the
/// cause it came from.
///
/// Messages never carry secrets (key material, plaintext, MAC bytes).
#[derive(Debug)]
pub struct Error {
    code: ErrorCode,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

/// `Result` with the API [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error with a code and a message.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            source: None,
        }
    }

    /// A new error with a code, a message and the cause.
    pub fn with_source(
        code: ErrorCode,
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            code,
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// The API error for a crate error: its code, its message, and the error
    /// itself kept as the cause.
    pub fn from_coded<E: CodedError>(err: E) -> Self {
        Self {
            code: err.code(),
            message: err.to_string(),
            source: Some(Box::new(err)),
        }
    }

    /// The error's code.
    pub fn code(&self) -> ErrorCode {
        self.code
    }

    /// The error's message (without the code).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with `context: ` put before its message.
    #[must_use]
    pub fn context(mut self, context: impl fmt::Display) -> Self {
        self.message = format!("{context}: {}", self.message);
        self
    }

    /// The message followed by every cause in the chain that adds something.
    pub fn full_message(&self) -> String {
        let mut out = self.message.clone();
        let mut cur = std::error::Error::source(self);
        while let Some(cause) = cur {
            let text = cause.to_string();
            if !out.contains(&text) {
                out.push_str(": ");
                out.push_str(&text);
            }
            cur = cause.source();
        }
        out
    }

    /// The [`AttestationResult`] for this error.
    pub fn to_result(&self) -> AttestationResult {
        AttestationResult {
            code: self.code.number(),
            description: self.full_message(),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (code {})", self.message, self.code.number())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl<E: CodedError> From<E> for Error {
    fn from(err: E) -> Self {
        Error::from_coded(err)
    }
}

/// What every call of the API returns: `code` 0 for success, otherwise one
/// of the [`ErrorCode`] numbers, and a description.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AttestationResult {
    /// 0 on success, else an [`ErrorCode`] number.
    pub code: u32,
    /// Empty on success, else what went wrong.
    pub description: String,
}

impl AttestationResult {
    /// The success result.
    pub fn success() -> Self {
        Self {
            code: 0,
            description: String::new(),
        }
    }

    /// Whether this is the success result.
    pub fn is_success(&self) -> bool {
        self.code == 0
    }

    /// The error code, if this is not a success.
    pub fn error_code(&self) -> Option<ErrorCode> {
        ErrorCode::from_number(self.code)
    }
}

impl<T> From<&Result<T>> for AttestationResult {
    fn from(result: &Result<T>) -> Self {
        match result {
            Ok(_) => AttestationResult::success(),
            Err(e) => e.to_result(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of SPEC.md §3, transcribed by hand: number and meaning.
    const SPEC: &[(u32, &str)] = &[
        (1, "initialization failed"),
        (2, "parsing the response failed"),
        (3, "managed-identity token for Azure resources not found"),
        (4, "request exceeded its retries"),
        (5, "request failed"),
        (6, "attestation failed"),
        (7, "sending the request failed"),
        (8, "invalid input parameter"),
        (9, "attestation parameters failed validation"),
        (10, "memory allocation failed"),
        (11, "getting the operating-system information failed"),
        (12, "TPM internal failure"),
        (13, "TPM operation failed"),
        (14, "decrypting the JWT failed"),
        (15, "TPM error while decrypting the JWT"),
        (16, "invalid JSON response"),
        (
            17,
            "empty VCEK (Versioned Chip Endorsement Key) certificate",
        ),
        (18, "empty response"),
        (19, "empty request body"),
        (20, "report parsing failed"),
        (21, "empty report"),
        (22, "extracting information from the JWT failed"),
        (23, "converting the JWT to an RSA public key failed"),
        (24, "encryption initialisation failed"),
        (25, "encryption failed"),
        (26, "TPM error while decrypting data"),
        (27, "parsing DNS information failed"),
    ];

    #[test]
    fn every_code_matches_the_spec_table() {
        assert_eq!(ErrorCode::ALL.len(), SPEC.len());
        for (code, (num, desc)) in ErrorCode::ALL.iter().zip(SPEC) {
            assert_eq!(code.number(), *num, "{code:?}");
            assert_eq!(code.description(), *desc, "{code:?}");
            assert_eq!(ErrorCode::from_number(*num), Some(*code));
        }
        assert_eq!(ErrorCode::from_number(0), None);
        assert_eq!(ErrorCode::from_number(28), None);
    }

    #[test]
    fn names_are_unique() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 27);
    }

    #[derive(Debug, thiserror::Error)]
    #[error("bad field `x` at offset 4")]
    struct Inner;
    impl CodedError for Inner {
        fn code(&self) -> ErrorCode {
            ErrorCode::ReportParsingFailed
        }
    }

    #[test]
    fn coded_errors_keep_code_message_and_cause() {
        fn fails() -> Result<()> {
            Err(Inner)?;
            Ok(())
        }
        let err = fails().unwrap_err();
        assert_eq!(err.code(), ErrorCode::ReportParsingFailed);
        assert_eq!(err.message(), "bad field `x` at offset 4");
        assert!(std::error::Error::source(&err).is_some());
        let res = AttestationResult::from(&Err::<(), _>(err));
        assert_eq!(res.code, 20);
        assert_eq!(res.error_code(), Some(ErrorCode::ReportParsingFailed));
        assert!(!res.is_success());
        assert!(AttestationResult::from(&Ok::<(), Error>(())).is_success());
    }

    #[test]
    fn context_and_full_message() {
        let io = std::io::Error::other("connection reset");
        let err = Error::with_source(ErrorCode::SendRequestFailed, "posting evidence", io)
            .context("attest");
        assert_eq!(err.message(), "attest: posting evidence");
        assert_eq!(
            err.full_message(),
            "attest: posting evidence: connection reset"
        );
        assert_eq!(
            err.to_string(),
            "attest: posting evidence (code 7)",
            "Display shows the code"
        );
    }
}
