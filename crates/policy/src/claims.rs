//! Claims: what policies test and produce.

use std::collections::HashMap;
use std::fmt;

use serde_json::Value;

use crate::error::PolicyError;

/// Who made a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Issuer {
    /// The attestation service (the verifier) made it from the evidence.
    AttestationService,
    /// The policy made it (`add`, `issue`, `issueproperty`).
    AttestationPolicy,
    /// The attester (the client) supplied it.
    CustomClaim,
}

impl Issuer {
    /// Every issuer.
    pub const ALL: [Issuer; 3] = [
        Issuer::AttestationService,
        Issuer::AttestationPolicy,
        Issuer::CustomClaim,
    ];

    /// The issuer's name, as policies write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Issuer::AttestationService => "AttestationService",
            Issuer::AttestationPolicy => "AttestationPolicy",
            Issuer::CustomClaim => "CustomClaim",
        }
    }

    /// The issuer with that exact name.
    pub fn from_name(s: &str) -> Option<Issuer> {
        Issuer::ALL.into_iter().find(|i| i.as_str() == s)
    }
}

impl fmt::Display for Issuer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A claim value: the language has strings, integers and booleans.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ClaimValue {
    /// A string (JSON objects and arrays are kept as their JSON text).
    String(String),
    /// A 64-bit integer.
    Integer(i64),
    /// A boolean.
    Boolean(bool),
}

impl ClaimValue {
    /// The value type's name: `String`, `Integer` or `Boolean`.
    pub fn value_type(&self) -> &'static str {
        match self {
            ClaimValue::String(_) => "String",
            ClaimValue::Integer(_) => "Integer",
            ClaimValue::Boolean(_) => "Boolean",
        }
    }

    /// The value as JSON.
    pub fn to_json(&self) -> Value {
        match self {
            ClaimValue::String(s) => Value::String(s.clone()),
            ClaimValue::Integer(i) => Value::from(*i),
            ClaimValue::Boolean(b) => Value::Bool(*b),
        }
    }
}

impl fmt::Display for ClaimValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimValue::String(s) => crate::ast::write_str_lit(f, s),
            ClaimValue::Integer(i) => write!(f, "{i}"),
            ClaimValue::Boolean(b) => write!(f, "{b}"),
        }
    }
}

impl From<&str> for ClaimValue {
    fn from(s: &str) -> Self {
        ClaimValue::String(s.to_string())
    }
}
impl From<String> for ClaimValue {
    fn from(s: String) -> Self {
        ClaimValue::String(s)
    }
}
impl From<i64> for ClaimValue {
    fn from(i: i64) -> Self {
        ClaimValue::Integer(i)
    }
}
impl From<bool> for ClaimValue {
    fn from(b: bool) -> Self {
        ClaimValue::Boolean(b)
    }
}

/// A claim: type, value (whose variant is its value type) and issuer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Claim {
    /// The claim's type (its name), e.g. `x-ms-sevsnpvm-is-debuggable`.
    pub claim_type: String,
    /// The claim's value.
    pub value: ClaimValue,
    /// Who made it.
    pub issuer: Issuer,
}

impl Claim {
    /// A claim.
    pub fn new(
        claim_type: impl Into<String>,
        value: impl Into<ClaimValue>,
        issuer: Issuer,
    ) -> Self {
        Self {
            claim_type: claim_type.into(),
            value: value.into(),
            issuer,
        }
    }
}

/// The incoming claims a policy is evaluated over.
///
/// Build it claim by claim with [`ClaimSet::push`], or from a JSON object of
/// claims with [`ClaimSet::from_json_object`] — the shape of a token body or
/// of the verifier's parsed evidence — which follows how MAA hands claims to
/// policies:
///
/// * a string, boolean or integer member becomes one claim of that type;
/// * an object or array member becomes a `String` claim holding its compact
///   JSON text, to be taken apart with `JmesPath` and `JsonToClaimValue`
///   (policy version 1.2), as MAA does for `events` and `pcrs`;
/// * in addition, every member of a nested object is also exposed under its
///   dotted path (`x-ms-isolation-tee.x-ms-compliance-status`), recursively,
///   so that 1.0 and 1.1 policies can test nested claims directly;
/// * a fraction becomes a `String` claim with its JSON text, and `null` makes
///   no claim.
///
/// The set keeps an index of its claims by type, so that evaluation looks
/// up `[type=="…"]` conditions instead of scanning every claim.
#[derive(Debug, Clone, Default)]
pub struct ClaimSet {
    claims: Vec<Claim>,
    by_type: HashMap<String, Vec<usize>, BuildFnv>,
}

impl PartialEq for ClaimSet {
    fn eq(&self, other: &Self) -> bool {
        self.claims == other.claims
    }
}

impl Eq for ClaimSet {}

impl ClaimSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a claim.
    pub fn push(&mut self, claim: Claim) {
        self.by_type
            .entry(claim.claim_type.clone())
            .or_default()
            .push(self.claims.len());
        self.claims.push(claim);
    }

    /// Adds a claim, builder style.
    #[must_use]
    pub fn with(mut self, claim_type: &str, value: impl Into<ClaimValue>, issuer: Issuer) -> Self {
        self.push(Claim::new(claim_type, value, issuer));
        self
    }

    /// The claims, in order.
    pub fn claims(&self) -> &[Claim] {
        &self.claims
    }

    /// The positions (in [`ClaimSet::claims`]) of the claims of a type.
    pub(crate) fn positions_of(&self, claim_type: &str) -> &[usize] {
        self.by_type
            .get(claim_type)
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }

    /// How many claims.
    pub fn len(&self) -> usize {
        self.claims.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.claims.is_empty()
    }

    /// The claims of a JSON object (see the type's documentation), all with
    /// the given issuer.
    pub fn from_json_object(json: &Value, issuer: Issuer) -> Result<Self, PolicyError> {
        let Value::Object(map) = json else {
            return Err(PolicyError::Claims(
                "expected a JSON object of claims".to_string(),
            ));
        };
        Self::from_json_map(map, issuer)
    }

    /// [`ClaimSet::from_json_object`] from the object's members, as an
    /// appraisal hands them over (no copy into a [`Value`] first).
    pub fn from_json_map(
        map: &serde_json::Map<String, Value>,
        issuer: Issuer,
    ) -> Result<Self, PolicyError> {
        let mut set = ClaimSet::new();
        for (k, v) in map {
            add_json(&mut set, k, v, issuer, 0);
        }
        Ok(set)
    }

    /// Claims from JSON in either of two shapes: an object of claims (see
    /// [`ClaimSet::from_json_object`], issuer `AttestationService`), or an
    /// array of `{"type": …, "value": …, "issuer": …}` objects (issuer
    /// optional, `AttestationService` when absent; value a string, integer or
    /// boolean).
    pub fn from_json(json: &Value) -> Result<Self, PolicyError> {
        match json {
            Value::Object(_) => Self::from_json_object(json, Issuer::AttestationService),
            Value::Array(items) => {
                let mut set = ClaimSet::new();
                for (i, item) in items.iter().enumerate() {
                    let bad = |m: &str| PolicyError::Claims(format!("claim [{i}]: {m}"));
                    let Some(t) = item.get("type").and_then(Value::as_str) else {
                        return Err(bad("needs a string `type`"));
                    };
                    let value = match item.get("value") {
                        Some(Value::String(s)) => ClaimValue::String(s.clone()),
                        Some(Value::Bool(b)) => ClaimValue::Boolean(*b),
                        Some(Value::Number(n)) => match n.as_i64() {
                            Some(i) => ClaimValue::Integer(i),
                            None => return Err(bad("`value` must be an integer, not a fraction")),
                        },
                        Some(v @ (Value::Array(_) | Value::Object(_))) => {
                            ClaimValue::String(v.to_string())
                        }
                        _ => return Err(bad("needs a `value`")),
                    };
                    let issuer = match item.get("issuer") {
                        None => Issuer::AttestationService,
                        Some(Value::String(s)) => Issuer::from_name(s).ok_or_else(|| {
                            bad("`issuer` must be AttestationService, AttestationPolicy or CustomClaim")
                        })?,
                        Some(_) => return Err(bad("`issuer` must be a string")),
                    };
                    set.push(Claim::new(t, value, issuer));
                }
                Ok(set)
            }
            _ => Err(PolicyError::Claims(
                "expected a JSON object of claims or an array of claims".to_string(),
            )),
        }
    }
}

/// FNV-1a for the type index: claim types are short, and a claim set is
/// bounded by the evidence it came from, so even a set built to collide costs
/// little, while lookups — the hot path of evaluation — get cheaper than with
/// SipHash.
#[derive(Debug, Clone, Copy, Default)]
struct BuildFnv;

impl std::hash::BuildHasher for BuildFnv {
    type Hasher = Fnv;
    fn build_hasher(&self) -> Fnv {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

struct Fnv(u64);

impl std::hash::Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

/// Nesting deeper than this is not flattened further (the JSON text claim
/// still carries it).
const MAX_FLATTEN_DEPTH: usize = 16;

fn add_json(set: &mut ClaimSet, name: &str, v: &Value, issuer: Issuer, depth: usize) {
    match v {
        Value::Null => {}
        Value::Bool(b) => set.push(Claim::new(name, *b, issuer)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => set.push(Claim::new(name, i, issuer)),
            None => set.push(Claim::new(name, n.to_string(), issuer)),
        },
        Value::String(s) => set.push(Claim::new(name, s.as_str(), issuer)),
        Value::Array(_) => set.push(Claim::new(name, v.to_string(), issuer)),
        Value::Object(map) => {
            set.push(Claim::new(name, v.to_string(), issuer));
            if depth < MAX_FLATTEN_DEPTH {
                for (k, child) in map {
                    add_json(set, &format!("{name}.{k}"), child, issuer, depth + 1);
                }
            }
        }
    }
}

impl FromIterator<Claim> for ClaimSet {
    fn from_iter<T: IntoIterator<Item = Claim>>(iter: T) -> Self {
        let mut set = ClaimSet::new();
        for c in iter {
            set.push(c);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_object_flattens_nested_members() {
        let j = serde_json::json!({
            "a": 1, "b": "x", "c": true, "n": null, "f": 1.5,
            "tee": {"status": "ok", "rt": {"k": [1, 2]}}
        });
        let s = ClaimSet::from_json_object(&j, Issuer::AttestationService).unwrap();
        let get = |t: &str| {
            s.claims()
                .iter()
                .find(|c| c.claim_type == t)
                .map(|c| c.value.clone())
        };
        assert_eq!(get("a"), Some(ClaimValue::Integer(1)));
        assert_eq!(get("c"), Some(ClaimValue::Boolean(true)));
        assert_eq!(get("n"), None);
        assert_eq!(get("f"), Some(ClaimValue::String("1.5".into())));
        assert_eq!(get("tee.status"), Some(ClaimValue::String("ok".into())));
        assert_eq!(get("tee.rt.k"), Some(ClaimValue::String("[1,2]".into())));
        assert_eq!(
            get("tee"),
            Some(ClaimValue::String(
                r#"{"rt":{"k":[1,2]},"status":"ok"}"#.into()
            ))
        );
    }

    #[test]
    fn json_array_form() {
        let j = serde_json::json!([
            {"type": "x", "value": 3},
            {"type": "y", "value": "s", "issuer": "CustomClaim"}
        ]);
        let s = ClaimSet::from_json(&j).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!(s.claims()[1].issuer, Issuer::CustomClaim);
        assert!(ClaimSet::from_json(&serde_json::json!([{"type": "x"}])).is_err());
        assert!(ClaimSet::from_json(
            &serde_json::json!([{"type": "x", "value": 1, "issuer": "Me"}])
        )
        .is_err());
        assert!(ClaimSet::from_json(&serde_json::json!(3)).is_err());
    }
}
