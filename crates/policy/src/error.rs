//! Errors of the policy crate: every one maps to code 9
//! (`AttestationParametersValidationFailed`).

use std::fmt;

use tee_attest_core::{CodedError, ErrorCode};

/// A position in policy text: 1-based line and column (columns count
/// characters, not bytes).
///
/// Positions are ignored when two syntax trees are compared, so that a tree
/// and the tree parsed back from its pretty-printed text compare equal.
#[derive(Debug, Clone, Copy, Default, Eq)]
pub struct Span {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
}

impl PartialEq for Span {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Span {
    /// A span at `line`, `col`.
    pub const fn new(line: u32, col: u32) -> Self {
        Self { line, col }
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A located syntax or validation error in MAA policy text: where, what was
/// expected, what was found, and a one-line hint on how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub col: u32,
    /// What the parser expected there (`"`==`"`, `"a claim property"`).
    pub expected: String,
    /// What it found (a token, or `end of input`).
    pub found: String,
    /// How to fix it, in one line.
    pub hint: String,
}

impl SyntaxError {
    pub(crate) fn new(
        span: Span,
        expected: impl Into<String>,
        found: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self {
            line: span.line,
            col: span.col,
            expected: expected.into(),
            found: found.into(),
            hint: hint.into(),
        }
    }
}

impl fmt::Display for SyntaxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "line {}, column {}: expected {}, found {}",
            self.line, self.col, self.expected, self.found
        )?;
        if !self.hint.is_empty() {
            write!(f, " (hint: {})", self.hint)?;
        }
        Ok(())
    }
}

/// Every error of this crate. All of them map to code 9,
/// `AttestationParametersValidationFailed`: the policy (or the policy JWS,
/// or the key-release policy) is not acceptable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy text does not parse, or breaks a rule of the language.
    #[error("invalid policy: {0}")]
    Syntax(SyntaxError),

    /// A rule failed while it was being evaluated (a function was given a
    /// value it cannot take, such as text that is not JSON).
    #[error("policy evaluation failed in rule {rule} (line {line}): {message}")]
    Evaluation {
        /// 1-based index of the rule within its section.
        rule: usize,
        /// Line of the rule.
        line: u32,
        /// What went wrong.
        message: String,
    },

    /// The incoming claims given to the evaluator are not usable.
    #[error("invalid claims: {0}")]
    Claims(String),

    /// A signed (JWS) policy is malformed.
    #[error("invalid policy JWS: {0}")]
    Jws(String),

    /// A signed policy's signature does not verify.
    #[error("policy signature does not verify")]
    BadSignature,

    /// The policy JWS uses an algorithm outside the allow-list.
    #[error("policy JWS algorithm `{0}` is not allowed")]
    AlgorithmNotAllowed(String),

    /// The policy was signed by (or, unsigned, would need) a signer outside
    /// the configured trusted signers.
    #[error("policy signer is not trusted: {0}")]
    UntrustedSigner(String),

    /// A certificate or key could not be read.
    #[error("invalid certificate or key: {0}")]
    Certificate(String),

    /// Signing a policy failed.
    #[error("signing the policy failed")]
    Signing,

    /// A key-release (SKR) policy is malformed.
    #[error("invalid key-release policy at {path}: {message}")]
    ReleasePolicy {
        /// JSON path of the offending element (`anyOf[0].allOf[1]`).
        path: String,
        /// What is wrong.
        message: String,
    },
}

impl PolicyError {
    /// The located syntax error, if this is one.
    pub fn syntax(&self) -> Option<&SyntaxError> {
        match self {
            PolicyError::Syntax(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SyntaxError> for PolicyError {
    fn from(e: SyntaxError) -> Self {
        PolicyError::Syntax(e)
    }
}

impl CodedError for PolicyError {
    fn code(&self) -> ErrorCode {
        ErrorCode::AttestationParametersValidationFailed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_is_code_9() {
        let errs = [
            PolicyError::Syntax(SyntaxError::new(Span::new(1, 2), "a", "b", "c")),
            PolicyError::BadSignature,
            PolicyError::Jws("x".into()),
            PolicyError::ReleasePolicy {
                path: "anyOf".into(),
                message: "m".into(),
            },
        ];
        for e in errs {
            assert_eq!(e.code().number(), 9);
            let api: tee_attest_core::Error = e.into();
            assert_eq!(api.code().number(), 9);
        }
    }

    #[test]
    fn syntax_error_display_has_location_and_hint() {
        let e = SyntaxError::new(Span::new(3, 14), "`==`", "`=`", "use `==` to compare");
        assert_eq!(
            e.to_string(),
            "line 3, column 14: expected `==`, found `=` (hint: use `==` to compare)"
        );
    }
}
