//! What an evaluation decides: the outcome (permit or deny and the rule
//! that decided), the claims issued, and the token properties and engine
//! configuration the policy set.

use serde_json::Value;

use crate::ast::SectionKind;
use crate::claims::Claim;

/// Which rule decided: its section, its 1-based index in that section, and
/// its line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RuleRef {
    /// The section.
    pub section: SectionKind,
    /// 1-based index of the rule within the section.
    pub index: usize,
    /// The rule's line in the policy text.
    pub line: u32,
}

impl std::fmt::Display for RuleRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} rule {} (line {})",
            self.section.keyword(),
            self.index,
            self.line
        )
    }
}

/// Token properties set by `issueproperty` in `issuancerules`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TokenProperties {
    /// `report_validity_in_minutes`, if the policy set it.
    pub report_validity_in_minutes: Option<u32>,
    /// `omit_x5c`, if the policy set it.
    pub omit_x5c: Option<bool>,
}

impl TokenProperties {
    /// Token validity in minutes: the policy's, or one day.
    pub fn validity_minutes(&self) -> u32 {
        self.report_validity_in_minutes.unwrap_or(24 * 60)
    }

    /// Whether the token header carries `x5t` instead of `x5c`
    /// (default `false`).
    pub fn omit_x5c(&self) -> bool {
        self.omit_x5c.unwrap_or(false)
    }
}

/// Engine configuration set by `issueproperty` in `configurationrules`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Configuration {
    /// `require_valid_aik_cert`, if the policy set it.
    pub require_valid_aik_cert: Option<bool>,
    /// `required_pcr_mask`, if the policy set it.
    pub required_pcr_mask: Option<u32>,
    /// `x-ms-sgx-tcbidentifier`, if the policy set it.
    pub sgx_tcb_identifier: Option<String>,
}

impl Configuration {
    /// Whether a valid AIK certificate is required (default `true`).
    pub fn require_valid_aik_cert(&self) -> bool {
        self.require_valid_aik_cert.unwrap_or(true)
    }

    /// The PCRs that must be in the TPM quote (default `0xFFFFFF`, all 24).
    pub fn required_pcr_mask(&self) -> u32 {
        self.required_pcr_mask.unwrap_or(0xFF_FFFF)
    }
}

/// The result of evaluating a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Whether attestation passes: some authorization rule ran `permit()`
    /// and none ran `deny()`.
    pub authorized: bool,
    /// The rule that decided: the `deny()` that refused, or else the first
    /// `permit()` that allowed; `None` when no rule permitted.
    pub decided_by: Option<RuleRef>,
    /// The claims issued to the token by `issue(…)`, in order (empty when
    /// not authorized).
    pub outgoing: Vec<Claim>,
    /// Token properties set by `issueproperty` in `issuancerules`.
    pub properties: TokenProperties,
    /// Engine configuration set in `configurationrules`.
    pub configuration: Configuration,
}

impl Outcome {
    /// The outgoing claims as a JSON object: a claim type issued once maps to
    /// its value, one issued several times to an array of its values.
    pub fn outgoing_json(&self) -> serde_json::Map<String, Value> {
        let mut groups: Vec<(&str, Vec<Value>)> = Vec::new();
        for c in &self.outgoing {
            match groups.iter_mut().find(|(t, _)| *t == c.claim_type) {
                Some((_, vs)) => vs.push(c.value.to_json()),
                None => groups.push((&c.claim_type, vec![c.value.to_json()])),
            }
        }
        groups
            .into_iter()
            .map(|(t, mut vs)| {
                let v = if vs.len() == 1 {
                    vs.pop().unwrap_or(Value::Null)
                } else {
                    Value::Array(vs)
                };
                (t.to_string(), v)
            })
            .collect()
    }

    /// A one-line description of the decision.
    pub fn summary(&self) -> String {
        match (self.authorized, self.decided_by) {
            (true, Some(r)) => format!("authorized by {r}"),
            (false, Some(r)) => format!("denied by {r}"),
            (true, None) => "authorized".to_string(),
            (false, None) => "not authorized: no authorization rule ran permit()".to_string(),
        }
    }
}
