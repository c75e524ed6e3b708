//! Azure Key Vault secure-key-release (SKR) policies.
//!
//! ```json
//! {"version": "1.0.0",
//!  "anyOf": [{"authority": "https://sharedeus.eus.attest.azure.net/",
//!             "allOf": [{"claim": "x-ms-isolation-tee.x-ms-compliance-status",
//!                        "equals": "azure-compliant-cvm"}]}]}
//! ```
//!
//! A key is released when, for a rule whose `authority` is the token's
//! issuer (`iss`, compared without a trailing slash and without regard to
//! ASCII case), its `allOf`/`anyOf` tree of claim conditions holds over the
//! token's claims. Claims are named by dotted paths into the token body; a
//! missing claim never matches (except `"exists": false`).

use std::fmt;

use serde_json::{Map, Value};

use crate::error::PolicyError;

/// The supported SKR grammar version.
pub const RELEASE_POLICY_VERSION: &str = "1.0.0";

/// A comparison of a claim condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReleaseOp {
    /// `equals`
    Equals,
    /// `notEquals`
    NotEquals,
    /// `less` (numbers)
    Less,
    /// `lessOrEquals` (numbers)
    LessOrEquals,
    /// `greater` (numbers)
    Greater,
    /// `greaterOrEquals` (numbers)
    GreaterOrEquals,
    /// `exists` (`true`: the claim is present; `false`: it is absent)
    Exists,
}

impl ReleaseOp {
    const ALL: [ReleaseOp; 7] = [
        ReleaseOp::Equals,
        ReleaseOp::NotEquals,
        ReleaseOp::Less,
        ReleaseOp::LessOrEquals,
        ReleaseOp::Greater,
        ReleaseOp::GreaterOrEquals,
        ReleaseOp::Exists,
    ];

    /// The operator's JSON member name.
    pub fn name(self) -> &'static str {
        match self {
            ReleaseOp::Equals => "equals",
            ReleaseOp::NotEquals => "notEquals",
            ReleaseOp::Less => "less",
            ReleaseOp::LessOrEquals => "lessOrEquals",
            ReleaseOp::Greater => "greater",
            ReleaseOp::GreaterOrEquals => "greaterOrEquals",
            ReleaseOp::Exists => "exists",
        }
    }
}

/// A claim condition: `{"claim": "a.b", "equals": "x"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimCondition {
    /// Dotted path of the claim in the token body.
    pub claim: String,
    /// The comparison.
    pub op: ReleaseOp,
    /// The value compared with.
    pub value: Value,
    /// Where the condition is in the policy (`anyOf[0].allOf[1]`).
    pub path: String,
}

/// A node of the condition tree.
#[derive(Debug, Clone, PartialEq)]
pub enum ReleaseNode {
    /// Every child holds.
    AllOf(Vec<ReleaseNode>, String),
    /// At least one child holds.
    AnyOf(Vec<ReleaseNode>, String),
    /// A claim condition.
    Condition(ClaimCondition),
}

/// A rule for one attestation authority.
#[derive(Debug, Clone, PartialEq)]
pub struct AuthorityRule {
    /// The authority (issuer URL) the rule applies to.
    pub authority: String,
    /// The conditions.
    pub conditions: ReleaseNode,
}

/// A parsed and validated key-release policy.
#[derive(Debug, Clone, PartialEq)]
pub struct ReleasePolicy {
    /// The grammar version (`1.0.0`).
    pub version: String,
    /// `true` for a top-level `allOf` (every rule must hold), `false` for
    /// `anyOf` (one rule for the token's issuer must hold).
    pub all_of: bool,
    /// The authority rules.
    pub rules: Vec<AuthorityRule>,
}

/// The answer of a key-release policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseDecision {
    /// Whether the key may be released.
    pub released: bool,
    /// The index of the rule that released it.
    pub rule: Option<usize>,
    /// Why not, one line per rule tried (empty when released).
    pub reasons: Vec<String>,
}

impl fmt::Display for ReleaseDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.released, self.rule) {
            (true, Some(i)) => write!(f, "released by anyOf[{i}]"),
            (true, None) => write!(f, "released"),
            (false, _) => write!(f, "refused: {}", self.reasons.join("; ")),
        }
    }
}

fn perr(path: &str, message: impl Into<String>) -> PolicyError {
    PolicyError::ReleasePolicy {
        path: if path.is_empty() {
            "$".to_string()
        } else {
            path.to_string()
        },
        message: message.into(),
    }
}

fn check_keys(obj: &Map<String, Value>, path: &str, allowed: &[&str]) -> Result<(), PolicyError> {
    for k in obj.keys() {
        if !allowed.contains(&k.as_str()) {
            return Err(perr(
                path,
                format!(
                    "unknown member `{k}` (expected one of {})",
                    allowed.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

impl ReleasePolicy {
    /// Parses and validates policy JSON text.
    pub fn parse(text: &str) -> Result<Self, PolicyError> {
        let v: Value =
            serde_json::from_str(text).map_err(|e| perr("$", format!("not JSON: {e}")))?;
        Self::from_json(&v)
    }

    /// Validates a policy given as JSON.
    pub fn from_json(v: &Value) -> Result<Self, PolicyError> {
        let Value::Object(obj) = v else {
            return Err(perr("$", "a key-release policy is a JSON object"));
        };
        check_keys(obj, "$", &["version", "anyOf", "allOf"])?;
        let version = match obj.get("version") {
            Some(Value::String(s)) if s == RELEASE_POLICY_VERSION => s.clone(),
            Some(Value::String(s)) => {
                return Err(perr(
                    "version",
                    format!("unsupported version `{s}` (supported: {RELEASE_POLICY_VERSION})"),
                ))
            }
            Some(_) => return Err(perr("version", "must be a string such as \"1.0.0\"")),
            None => return Err(perr("$", "missing `version` (\"1.0.0\")")),
        };
        let (key, all_of) = match (obj.get("anyOf"), obj.get("allOf")) {
            (Some(_), None) => ("anyOf", false),
            (None, Some(_)) => ("allOf", true),
            (Some(_), Some(_)) => return Err(perr("$", "give `anyOf` or `allOf`, not both")),
            (None, None) => return Err(perr("$", "missing `anyOf` (the list of authority rules)")),
        };
        let Some(Value::Array(items)) = obj.get(key) else {
            return Err(perr(key, "must be an array of authority rules"));
        };
        if items.is_empty() {
            return Err(perr(key, "must list at least one authority rule"));
        }
        let mut rules = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let path = format!("{key}[{i}]");
            let Value::Object(r) = item else {
                return Err(perr(&path, "an authority rule is an object"));
            };
            check_keys(r, &path, &["authority", "allOf", "anyOf"])?;
            let authority = match r.get("authority") {
                Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
                _ => return Err(perr(&path, "needs a non-empty string `authority`")),
            };
            let conditions = group(r, &path)?;
            rules.push(AuthorityRule {
                authority,
                conditions,
            });
        }
        Ok(ReleasePolicy {
            version,
            all_of,
            rules,
        })
    }

    /// Evaluates the policy against a token's claims (its JSON body).
    pub fn evaluate(&self, token_claims: &Value) -> ReleaseDecision {
        let iss = token_claims.get("iss").and_then(Value::as_str);
        let mut reasons = Vec::new();
        let mut released_by = None;
        let mut all_hold = true;
        for (i, rule) in self.rules.iter().enumerate() {
            let holds = match iss {
                Some(iss) if same_authority(iss, &rule.authority) => {
                    match explain(&rule.conditions, token_claims) {
                        None => true,
                        Some(why) => {
                            reasons.push(format!("anyOf[{i}] ({}): {why}", rule.authority));
                            false
                        }
                    }
                }
                _ => false,
            };
            if holds && released_by.is_none() {
                released_by = Some(i);
            }
            all_hold &= holds;
        }
        if reasons.is_empty() && released_by.is_none() {
            reasons.push(match iss {
                Some(iss) => format!("no rule has the token issuer `{iss}` as its authority"),
                None => "the token has no `iss` claim".to_string(),
            });
        }
        let released = if self.all_of {
            all_hold
        } else {
            released_by.is_some()
        };
        if released {
            reasons.clear();
        } else if self.all_of && reasons.is_empty() {
            reasons.push("allOf: a rule's authority is not the token issuer".to_string());
        }
        ReleaseDecision {
            released,
            rule: if released { released_by } else { None },
            reasons,
        }
    }
}

/// Authorities are compared without a trailing slash and without regard to
/// ASCII case.
fn same_authority(a: &str, b: &str) -> bool {
    a.trim()
        .trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim().trim_end_matches('/'))
}

fn group(obj: &Map<String, Value>, path: &str) -> Result<ReleaseNode, PolicyError> {
    let (key, items) = match (obj.get("allOf"), obj.get("anyOf")) {
        (Some(v), None) => ("allOf", v),
        (None, Some(v)) => ("anyOf", v),
        (Some(_), Some(_)) => return Err(perr(path, "give `allOf` or `anyOf`, not both")),
        (None, None) => return Err(perr(path, "needs `allOf` or `anyOf`")),
    };
    let path = format!("{path}.{key}");
    let Value::Array(items) = items else {
        return Err(perr(&path, "must be an array"));
    };
    if items.is_empty() {
        return Err(perr(&path, "must not be empty"));
    }
    let mut children = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        children.push(node(item, &format!("{path}[{i}]"))?);
    }
    Ok(if key == "allOf" {
        ReleaseNode::AllOf(children, path)
    } else {
        ReleaseNode::AnyOf(children, path)
    })
}

fn node(v: &Value, path: &str) -> Result<ReleaseNode, PolicyError> {
    let Value::Object(obj) = v else {
        return Err(perr(path, "a condition is an object"));
    };
    if obj.contains_key("allOf") || obj.contains_key("anyOf") {
        check_keys(obj, path, &["allOf", "anyOf"])?;
        return group(obj, path);
    }
    let names: Vec<&str> = ReleaseOp::ALL.iter().map(|o| o.name()).collect();
    let mut allowed = vec!["claim"];
    allowed.extend(&names);
    check_keys(obj, path, &allowed)?;
    let claim = match obj.get("claim") {
        Some(Value::String(s)) if !s.is_empty() && !s.split('.').any(str::is_empty) => s.clone(),
        Some(Value::String(_)) => {
            return Err(perr(
                path,
                "`claim` must be a dotted path without empty parts",
            ))
        }
        _ => return Err(perr(path, "needs a string `claim` (or `allOf`/`anyOf`)")),
    };
    let ops: Vec<ReleaseOp> = ReleaseOp::ALL
        .into_iter()
        .filter(|o| obj.contains_key(o.name()))
        .collect();
    let op = match ops.as_slice() {
        [op] => *op,
        [] => {
            return Err(perr(
                path,
                format!("needs one operator: {}", names.join(", ")),
            ))
        }
        _ => return Err(perr(path, "give exactly one operator")),
    };
    let value = obj.get(op.name()).cloned().unwrap_or(Value::Null);
    match op {
        ReleaseOp::Exists if !value.is_boolean() => {
            return Err(perr(path, "`exists` takes true or false"))
        }
        ReleaseOp::Less
        | ReleaseOp::LessOrEquals
        | ReleaseOp::Greater
        | ReleaseOp::GreaterOrEquals
            if !value.is_number() =>
        {
            return Err(perr(path, format!("`{}` compares numbers", op.name())))
        }
        ReleaseOp::Equals | ReleaseOp::NotEquals
            if !(value.is_string() || value.is_number() || value.is_boolean()) =>
        {
            return Err(perr(
                path,
                format!("`{}` takes a string, a number or a boolean", op.name()),
            ))
        }
        _ => {}
    }
    Ok(ReleaseNode::Condition(ClaimCondition {
        claim,
        op,
        value,
        path: path.to_string(),
    }))
}

/// The claim at a dotted path: a top-level member of that exact name first,
/// else the path walked through nested objects.
pub fn claim_at<'a>(claims: &'a Value, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v).filter(|v| !v.is_null());
    }
    let mut cur = claims;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur).filter(|v| !v.is_null())
}

fn num_cmp(a: &Value, b: &Value) -> Option<std::cmp::Ordering> {
    match (a.as_i64(), b.as_i64()) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn json_eq(a: &Value, b: &Value) -> bool {
    if a.is_number() && b.is_number() {
        return num_cmp(a, b) == Some(std::cmp::Ordering::Equal);
    }
    a == b
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// `None` when the node holds, else why not.
fn explain(n: &ReleaseNode, claims: &Value) -> Option<String> {
    match n {
        ReleaseNode::AllOf(children, _) => children.iter().find_map(|c| explain(c, claims)),
        ReleaseNode::AnyOf(children, path) => {
            let mut whys = Vec::new();
            for c in children {
                match explain(c, claims) {
                    None => return None,
                    Some(w) => whys.push(w),
                }
            }
            Some(format!("none of {path} holds ({})", whys.join(" | ")))
        }
        ReleaseNode::Condition(c) => {
            let got = claim_at(claims, &c.claim);
            use std::cmp::Ordering::*;
            let ok = match (c.op, got) {
                (ReleaseOp::Exists, g) => c.value.as_bool() == Some(g.is_some()),
                (_, None) => false,
                (ReleaseOp::Equals, Some(g)) => json_eq(g, &c.value),
                (ReleaseOp::NotEquals, Some(g)) => !json_eq(g, &c.value),
                (ReleaseOp::Less, Some(g)) => num_cmp(g, &c.value) == Some(Less),
                (ReleaseOp::LessOrEquals, Some(g)) => {
                    matches!(num_cmp(g, &c.value), Some(Less | Equal))
                }
                (ReleaseOp::Greater, Some(g)) => num_cmp(g, &c.value) == Some(Greater),
                (ReleaseOp::GreaterOrEquals, Some(g)) => {
                    matches!(num_cmp(g, &c.value), Some(Greater | Equal))
                }
            };
            if ok {
                None
            } else {
                Some(match got {
                    None if c.op != ReleaseOp::Exists => {
                        format!("{}: claim `{}` is missing", c.path, c.claim)
                    }
                    _ => format!(
                        "{}: claim `{}` is {}, which fails `{}: {}`",
                        c.path,
                        c.claim,
                        got.map(short).unwrap_or_else(|| "missing".to_string()),
                        c.op.name(),
                        short(&c.value)
                    ),
                })
            }
        }
    }
}
