//! The one mapping of the client's failures that the collateral fetchers
//! (SEV-SNP, TDX) share.

use crate::HttpError;

/// An [`HttpError`] as the collateral fetchers (SEV-SNP, TDX) report it,
/// with the codes they have always used: the one mapping both share.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FetchFailure {
    /// The client could not be built (the fetcher's invalid-input error);
    /// the reason reads `HTTP client: …`.
    Init(String),
    /// Nothing usable came back: a transport failure or time-out on every
    /// attempt, a response that could not be read or was too large (code 7).
    Unreachable {
        /// The URL requested (empty when unknown).
        url: String,
        /// Why.
        reason: String,
    },
    /// A retryable status on every attempt (code 4).
    RetriesExceeded {
        /// The URL requested.
        url: String,
        /// Attempts made.
        attempts: u32,
        /// The last status.
        status: u16,
    },
}

impl From<HttpError> for FetchFailure {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Init { reason } => FetchFailure::Init(format!("HTTP client: {reason}")),
            HttpError::Send { url, reason } => FetchFailure::Unreachable { url, reason },
            HttpError::RetriesExhausted {
                url,
                attempts,
                last_status: Some(status),
                ..
            } => FetchFailure::RetriesExceeded {
                url,
                attempts,
                status,
            },
            HttpError::RetriesExhausted {
                url,
                attempts,
                last,
                last_status: None,
            } => FetchFailure::Unreachable {
                url,
                reason: format!("{last} (after {attempts} attempts)"),
            },
            HttpError::TooLarge { url, limit } => FetchFailure::Unreachable {
                url,
                reason: format!("the response is larger than {limit} bytes"),
            },
        }
    }
}
