//! What `issueproperty` may set: token properties and engine
//! configuration, with the literal type each takes and their limits. Read
//! by the parser (to check a policy) and by the evaluator (to apply it).

use crate::ast::Expr;

/// Token properties that `issueproperty` may set in `issuancerules`.
pub(crate) const TOKEN_PROPERTIES: &[(&str, LitType)] = &[
    ("report_validity_in_minutes", LitType::Int),
    ("omit_x5c", LitType::Bool),
];

/// Engine configuration that `issueproperty` may set in `configurationrules`.
pub(crate) const CONFIG_PROPERTIES: &[(&str, LitType)] = &[
    ("require_valid_aik_cert", LitType::Bool),
    ("required_pcr_mask", LitType::Int),
    ("x-ms-sgx-tcbidentifier", LitType::Str),
];

/// The largest `report_validity_in_minutes`: one year.
pub(crate) const MAX_VALIDITY_MINUTES: i64 = 365 * 24 * 60;

/// The type of a literal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LitType {
    Str,
    Int,
    Bool,
}

impl LitType {
    pub(crate) fn name(self) -> &'static str {
        match self {
            LitType::Str => "a string",
            LitType::Int => "an integer",
            LitType::Bool => "a boolean",
        }
    }
}

pub(crate) fn lit_type(e: &Expr) -> Option<LitType> {
    match e {
        Expr::Str(_) => Some(LitType::Str),
        Expr::Int(_) => Some(LitType::Int),
        Expr::Bool(_) => Some(LitType::Bool),
        _ => None,
    }
}
