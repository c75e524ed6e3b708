#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::panic))]

pub mod ast;
mod claims;
mod error;
mod eval;
mod hash;
mod jmes;
pub mod jws;
mod lexer;
mod parser;
mod properties;
pub mod release;

use std::collections::HashMap;
use std::fmt;

pub use ast::{PolicyAst, SectionKind, Version};
pub use claims::{Claim, ClaimSet, ClaimValue, Issuer};
pub use error::{PolicyError, Span, SyntaxError};
pub use eval::{Configuration, Outcome, RuleRef, TokenProperties};
pub use hash::policy_hash;
pub use jws::{
    certificate_jwk, load_policy, sign_jws, verify_jws, JwsOptions, PolicyDocument, PolicySigner,
    VerifiedJws,
};
pub use release::{ReleaseDecision, ReleasePolicy};

/// A parsed and checked MAA attestation policy, ready to evaluate.
///
/// ```
/// use tee_attest_policy::{ClaimSet, Issuer, Policy};
///
/// let policy = Policy::parse(r#"version=1.0;
/// authorizationrules { [type=="secureboot", value==true] => permit(); };
/// issuancerules { c:[type=="secureboot"] => issue(type="sb", value=c.value); };"#)?;
/// let claims = ClaimSet::new().with("secureboot", true, Issuer::AttestationService);
/// let outcome = policy.evaluate(&claims)?;
/// assert!(outcome.authorized);
/// assert_eq!(outcome.outgoing_json()["sb"], true);
/// # Ok::<(), tee_attest_policy::PolicyError>(())
/// ```
pub struct Policy {
    ast: PolicyAst,
    hash: String,
    queries: HashMap<String, jmespath::Expression<'static>>,
}

impl Policy {
    /// Parses and checks policy text (versions 1.0, 1.1, 1.2). Errors are
    /// [`PolicyError::Syntax`] with line, column, expected, found and a hint.
    pub fn parse(text: &str) -> Result<Policy, PolicyError> {
        let parsed = parser::parse(text)?;
        Ok(Policy {
            ast: parsed.ast,
            hash: policy_hash(text),
            queries: parsed.queries,
        })
    }

    /// The syntax tree.
    pub fn ast(&self) -> &PolicyAst {
        &self.ast
    }

    /// The grammar version.
    pub fn version(&self) -> Version {
        self.ast.version
    }

    /// The policy hash of the text this policy was parsed from (the
    /// `x-ms-policy-hash` claim).
    pub fn hash(&self) -> &str {
        &self.hash
    }

    /// Evaluates the policy over incoming claims. Pure and deterministic.
    ///
    /// An `Err` means a rule could not be evaluated (a function was given a
    /// value it cannot take); a refusal is an `Ok` outcome with
    /// `authorized == false`.
    pub fn evaluate(&self, incoming: &ClaimSet) -> Result<Outcome, PolicyError> {
        eval::evaluate(&self.ast, &self.queries, incoming)
    }
}

impl fmt::Debug for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Policy")
            .field("ast", &self.ast)
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

/// Pretty-prints the policy as canonical text.
impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.ast.fmt(f)
    }
}

#[cfg(test)]
pub(crate) mod tests_support {
    /// The SPEC.md §6 sample policy.
    pub const SPEC_SAMPLE: &str = "version= 1.0;
authorizationrules
{
[ type==\"x-ms-sgx-is-debuggable\", value==false] &&
[ type==\"x-ms-sgx-mrsigner\", value==\"mrsigner1\"] => permit();
[ type==\"x-ms-sgx-is-debuggable\", value==false ] &&
[ type==\"x-ms-sgx-mrsigner\", value==\"mrsigner2\"] => permit();
};
";
}
