//! The evaluator: MAA's semantics over a [`ClaimSet`].

use std::cell::RefCell;
use std::collections::HashMap;

use crate::ast::*;
use crate::claims::{Claim, ClaimSet, ClaimValue, Issuer};
use crate::error::PolicyError;
use crate::properties::MAX_VALIDITY_MINUTES;

mod functions;
mod outcome;

use functions::call;
pub use outcome::{Configuration, Outcome, RuleRef, TokenProperties};

/// The most values one expression or action may produce: a guard against
/// claim sets crafted to make cross products explode.
const MAX_SET: usize = 4096;

fn check_size(n: usize) -> Result<(), String> {
    if n > MAX_SET {
        Err(format!(
            "a value set of {n} elements exceeds the limit of {MAX_SET}"
        ))
    } else {
        Ok(())
    }
}

/// One value of an expression; expressions evaluate to sets of these.
type Set = Vec<ClaimValue>;

struct Ctx<'p> {
    queries: &'p HashMap<String, jmespath::Expression<'static>>,
    /// JSON texts already parsed in this evaluation (rules often query the
    /// same JSON claim several times).
    parsed: RefCell<Vec<(String, jmespath::Rcvar)>>,
}

/// How many parsed JSON texts one evaluation keeps.
const PARSED_CACHE: usize = 16;

impl Ctx<'_> {
    fn parse_json(&self, text: &str) -> Result<jmespath::Rcvar, String> {
        if let Some((_, v)) = self.parsed.borrow().iter().find(|(t, _)| t == text) {
            return Ok(v.clone());
        }
        let v = jmespath::Rcvar::new(
            jmespath::Variable::from_json(text)
                .map_err(|e| format!("JmesPath: the first argument is not JSON ({e})"))?,
        );
        let mut cache = self.parsed.borrow_mut();
        if cache.len() < PARSED_CACHE {
            cache.push((text.to_string(), v.clone()));
        }
        Ok(v)
    }
}

/// Evaluates a checked policy over incoming claims.
pub(crate) fn evaluate(
    ast: &PolicyAst,
    queries: &HashMap<String, jmespath::Expression<'static>>,
    incoming: &ClaimSet,
) -> Result<Outcome, PolicyError> {
    let ctx = Ctx {
        queries,
        parsed: RefCell::new(Vec::new()),
    };
    let producers = ast
        .sections
        .iter()
        .flat_map(|s| &s.rules)
        .filter(|r| !matches!(r.action, Action::Permit | Action::Deny))
        .count();
    let mut added: Vec<Claim> = Vec::with_capacity(producers);
    let mut issued: Vec<usize> = Vec::with_capacity(producers);
    let mut outcome = Outcome {
        authorized: false,
        decided_by: None,
        outgoing: Vec::new(),
        properties: TokenProperties::default(),
        configuration: Configuration::default(),
    };

    for kind in [
        SectionKind::Configuration,
        SectionKind::Authorization,
        SectionKind::Issuance,
    ] {
        if kind == SectionKind::Issuance && !outcome.authorized {
            break;
        }
        let Some(section) = ast.section(kind) else {
            continue;
        };
        let mut permit: Option<RuleRef> = None;
        for (i, rule) in section.rules.iter().enumerate() {
            let rref = RuleRef {
                section: kind,
                index: i + 1,
                line: rule.span.line,
            };
            let fail = |message: String| PolicyError::Evaluation {
                rule: rref.index,
                line: rref.line,
                message: format!("{}: {message}", kind.keyword()),
            };
            let effect = run_rule(&ctx, rule, incoming, &added).map_err(fail)?;
            let Some(effect) = effect else { continue };
            match effect {
                Effect::Permit => {
                    if permit.is_none() {
                        permit = Some(rref);
                    }
                }
                Effect::Deny => {
                    outcome.authorized = false;
                    outcome.decided_by = Some(rref);
                    return Ok(outcome);
                }
                Effect::Add(claims) => claims.for_each(|c| added.push(c)),
                Effect::Issue(claims) => {
                    // Issued claims join the incoming set; they are moved to
                    // the outgoing set at the end, not copied.
                    claims.for_each(|c| {
                        issued.push(added.len());
                        added.push(c);
                    });
                }
                Effect::Property(name, value) => {
                    set_property(&mut outcome, kind, &name, &value).map_err(fail)?;
                    added.push(Claim::new(name, value, Issuer::AttestationPolicy));
                }
            }
        }
        if kind == SectionKind::Authorization {
            outcome.authorized = permit.is_some();
            outcome.decided_by = permit;
        }
    }
    outcome.outgoing.reserve_exact(issued.len());
    let mut next = issued.iter().peekable();
    for (i, c) in added.into_iter().enumerate() {
        if next.peek() == Some(&&i) {
            next.next();
            outcome.outgoing.push(c);
        }
    }
    Ok(outcome)
}

fn set_property(
    outcome: &mut Outcome,
    kind: SectionKind,
    name: &str,
    value: &ClaimValue,
) -> Result<(), String> {
    let int = |v: &ClaimValue| match v {
        ClaimValue::Integer(i) => Ok(*i),
        other => Err(format!(
            "`{name}` takes an integer, not {}",
            other.value_type()
        )),
    };
    let boolean = |v: &ClaimValue| match v {
        ClaimValue::Boolean(b) => Ok(*b),
        other => Err(format!(
            "`{name}` takes a boolean, not {}",
            other.value_type()
        )),
    };
    match (kind, name) {
        (SectionKind::Issuance, "report_validity_in_minutes") => {
            let i = int(value)?;
            if !(1..=MAX_VALIDITY_MINUTES).contains(&i) {
                return Err(format!("`{name}` must be between 1 and 525600, not {i}"));
            }
            outcome.properties.report_validity_in_minutes = u32::try_from(i).ok();
        }
        (SectionKind::Issuance, "omit_x5c") => outcome.properties.omit_x5c = Some(boolean(value)?),
        (SectionKind::Configuration, "require_valid_aik_cert") => {
            outcome.configuration.require_valid_aik_cert = Some(boolean(value)?)
        }
        (SectionKind::Configuration, "required_pcr_mask") => {
            let i = int(value)?;
            let mask = u32::try_from(i)
                .ok()
                .filter(|m| *m <= 0xFF_FFFF)
                .ok_or_else(|| format!("`{name}` must be between 0 and 16777215, not {i}"))?;
            outcome.configuration.required_pcr_mask = Some(mask);
        }
        (SectionKind::Configuration, "x-ms-sgx-tcbidentifier") => match value {
            ClaimValue::String(s) => outcome.configuration.sgx_tcb_identifier = Some(s.clone()),
            other => {
                return Err(format!(
                    "`{name}` takes a string, not {}",
                    other.value_type()
                ))
            }
        },
        _ => return Err(format!("`{name}` cannot be set in {}", kind.keyword())),
    }
    Ok(())
}

enum Effect {
    Permit,
    Deny,
    Add(Made),
    Issue(Made),
    Property(String, ClaimValue),
}

/// Claims made by an action: most actions make one, which needs no vector.
enum Made {
    One(Claim),
    Many(Vec<Claim>),
}

impl Made {
    fn from_vec(mut v: Vec<Claim>) -> Made {
        if v.len() == 1 {
            if let Some(c) = v.pop() {
                return Made::One(c);
            }
        }
        Made::Many(v)
    }

    fn for_each(self, mut f: impl FnMut(Claim)) {
        match self {
            Made::One(c) => f(c),
            Made::Many(v) => v.into_iter().for_each(f),
        }
    }
}

/// Runs one rule: `Ok(None)` when its conditions do not hold.
fn run_rule(
    ctx: &Ctx<'_>,
    rule: &Rule,
    base: &ClaimSet,
    added: &[Claim],
) -> Result<Option<Effect>, String> {
    let mut bindings: Vec<(&str, Vec<&Claim>)> = Vec::new();
    for cond in &rule.conditions {
        // Right-hand sides depend only on earlier identifiers: computed sets
        // are evaluated once per condition; literals are compared in place.
        let mut computed: Vec<Set> = Vec::new();
        for p in &cond.props {
            if !is_literal(&p.value) {
                computed.push(eval_expr(ctx, &p.value, &bindings)?);
            }
        }
        let matches = |c: &&Claim| {
            let mut sets = computed.iter();
            cond.props.iter().all(|p| {
                let rhs = match &p.value {
                    Expr::Str(s) => Rhs::One(ValRef::Str(s)),
                    Expr::Int(i) => Rhs::One(ValRef::Int(*i)),
                    Expr::Bool(b) => Rhs::One(ValRef::Bool(*b)),
                    _ => Rhs::Many(sets.next().map(Vec::as_slice).unwrap_or(&[])),
                };
                prop_holds(c, p.property, p.op, &rhs)
            })
        };
        // A `type == "literal"` test narrows the candidates to the claims of
        // that type (through the set's index); claims added by earlier rules
        // are few and scanned.
        let literal_type = cond
            .props
            .iter()
            .find_map(|p| match (&p.property, &p.op, &p.value) {
                (ClaimProperty::Type, CmpOp::Eq, Expr::Str(t)) => Some(t.as_str()),
                _ => None,
            });
        let all = base.claims();
        let candidates = match literal_type {
            Some(t) => Candidates::Indexed(
                base.positions_of(t)
                    .iter()
                    .filter_map(|i| all.get(*i))
                    .chain(added.iter().filter(move |c| c.claim_type == t)),
            ),
            None => Candidates::All(all.iter().chain(added)),
        };
        let mut candidates = candidates.filter(matches);
        if cond.negated {
            if candidates.next().is_some() {
                return Ok(None);
            }
        } else if let Some(id) = &cond.ident {
            let found: Vec<&Claim> = candidates.collect();
            if found.is_empty() {
                return Ok(None);
            }
            bindings.push((id.as_str(), found));
        } else if candidates.next().is_none() {
            return Ok(None);
        }
    }
    let effect = match &rule.action {
        Action::Permit => Effect::Permit,
        Action::Deny => Effect::Deny,
        Action::Add(spec) => Effect::Add(make_claims(ctx, spec, &bindings)?),
        Action::Issue(spec) => Effect::Issue(make_claims(ctx, spec, &bindings)?),
        Action::IssueProperty(spec) => {
            let ClaimSpec::New { claim_type, value } = spec else {
                return Err("issueproperty needs type= and value=".to_string());
            };
            let name = match claim_type {
                Expr::Str(s) => s.clone(),
                _ => return Err("issueproperty needs a literal property name".to_string()),
            };
            let mut values = eval_expr(ctx, value, &bindings)?;
            if values.len() > 1 {
                return Err(format!(
                    "`{name}` was given {} values; it takes one",
                    values.len()
                ));
            }
            match values.pop() {
                Some(v) => Effect::Property(name, v),
                None => return Ok(None),
            }
        }
    };
    Ok(Some(effect))
}

fn make_claims(
    ctx: &Ctx<'_>,
    spec: &ClaimSpec,
    bindings: &[(&str, Vec<&Claim>)],
) -> Result<Made, String> {
    // The common shapes make one claim without any intermediate vector.
    if let ClaimSpec::New {
        claim_type: Expr::Str(t),
        value,
    } = spec
    {
        let one = match value {
            Expr::Ref {
                ident, property, ..
            } => match bound(bindings, ident) {
                [c] => Some(claim_property(c, *property)),
                _ => None,
            },
            Expr::Str(v) => Some(ClaimValue::String(v.clone())),
            Expr::Int(i) => Some(ClaimValue::Integer(*i)),
            Expr::Bool(b) => Some(ClaimValue::Boolean(*b)),
            Expr::Call { .. } => None,
        };
        if let Some(v) = one {
            return Ok(Made::One(Claim::new(
                t.clone(),
                v,
                Issuer::AttestationPolicy,
            )));
        }
    }
    make_claim_vec(ctx, spec, bindings).map(Made::from_vec)
}

fn make_claim_vec(
    ctx: &Ctx<'_>,
    spec: &ClaimSpec,
    bindings: &[(&str, Vec<&Claim>)],
) -> Result<Vec<Claim>, String> {
    match spec {
        ClaimSpec::Claim { ident, .. } => Ok(bound(bindings, ident)
            .iter()
            .map(|c| (*c).clone())
            .collect()),
        ClaimSpec::New {
            claim_type: Expr::Str(t),
            value: Expr::Ref {
                ident, property, ..
            },
        } => Ok(bound(bindings, ident)
            .iter()
            .map(|c| {
                Claim::new(
                    t.clone(),
                    claim_property(c, *property),
                    Issuer::AttestationPolicy,
                )
            })
            .collect()),
        ClaimSpec::New {
            claim_type: Expr::Str(t),
            value,
        } => {
            let values = eval_expr(ctx, value, bindings)?;
            Ok(values
                .into_iter()
                .map(|v| Claim::new(t.clone(), v, Issuer::AttestationPolicy))
                .collect())
        }
        ClaimSpec::New { claim_type, value } => {
            let types = eval_expr(ctx, claim_type, bindings)?;
            let values = eval_expr(ctx, value, bindings)?;
            check_size(types.len().saturating_mul(values.len()))?;
            let mut out = Vec::with_capacity(types.len() * values.len());
            for t in &types {
                let ClaimValue::String(t) = t else {
                    return Err(format!(
                        "a claim type must be a string, not {}",
                        t.value_type()
                    ));
                };
                for v in &values {
                    out.push(Claim::new(t.clone(), v.clone(), Issuer::AttestationPolicy));
                }
            }
            Ok(out)
        }
    }
}

fn bound<'a, 'b>(bindings: &'b [(&str, Vec<&'a Claim>)], ident: &str) -> &'b [&'a Claim] {
    bindings
        .iter()
        .find(|(n, _)| *n == ident)
        .map(|(_, v)| v.as_slice())
        .unwrap_or(&[])
}

fn claim_property(c: &Claim, prop: ClaimProperty) -> ClaimValue {
    match prop {
        ClaimProperty::Type => ClaimValue::String(c.claim_type.clone()),
        ClaimProperty::Value => c.value.clone(),
        ClaimProperty::Issuer => ClaimValue::String(c.issuer.as_str().to_string()),
        ClaimProperty::ValueType => ClaimValue::String(c.value.value_type().to_string()),
    }
}

/// A value to compare with, borrowed.
#[derive(Clone, Copy)]
enum ValRef<'a> {
    Str(&'a str),
    Int(i64),
    Bool(bool),
}

impl<'a> From<&'a ClaimValue> for ValRef<'a> {
    fn from(v: &'a ClaimValue) -> Self {
        match v {
            ClaimValue::String(s) => ValRef::Str(s),
            ClaimValue::Integer(i) => ValRef::Int(*i),
            ClaimValue::Boolean(b) => ValRef::Bool(*b),
        }
    }
}

/// The right-hand side of a property condition: a literal, or a computed set.
enum Rhs<'a> {
    One(ValRef<'a>),
    Many(&'a [ClaimValue]),
}

fn is_literal(e: &Expr) -> bool {
    matches!(e, Expr::Str(_) | Expr::Int(_) | Expr::Bool(_))
}

/// Candidate claims for a condition: those of one type, or all.
enum Candidates<A, B> {
    Indexed(A),
    All(B),
}

impl<'c, A, B> Iterator for Candidates<A, B>
where
    A: Iterator<Item = &'c Claim>,
    B: Iterator<Item = &'c Claim>,
{
    type Item = &'c Claim;

    fn next(&mut self) -> Option<&'c Claim> {
        match self {
            Candidates::Indexed(a) => a.next(),
            Candidates::All(b) => b.next(),
        }
    }
}

impl Rhs<'_> {
    fn any(&self, mut f: impl FnMut(ValRef<'_>) -> bool) -> bool {
        match self {
            Rhs::One(v) => f(*v),
            Rhs::Many(set) => set.iter().any(|v| f(v.into())),
        }
    }
}

fn prop_holds(c: &Claim, prop: ClaimProperty, op: CmpOp, rhs: &Rhs<'_>) -> bool {
    let eq = |v: ValRef<'_>| match (prop, v) {
        (ClaimProperty::Type, ValRef::Str(s)) => c.claim_type == s,
        (ClaimProperty::Issuer, ValRef::Str(s)) => c.issuer.as_str() == s,
        (ClaimProperty::ValueType, ValRef::Str(s)) => c.value.value_type() == s,
        (ClaimProperty::Value, v) => match (&c.value, v) {
            (ClaimValue::String(a), ValRef::Str(b)) => a == b,
            (ClaimValue::Integer(a), ValRef::Int(b)) => *a == b,
            (ClaimValue::Boolean(a), ValRef::Bool(b)) => *a == b,
            _ => false,
        },
        _ => false,
    };
    match op {
        CmpOp::Eq => rhs.any(eq),
        CmpOp::Ne => !rhs.any(eq),
        _ => {
            let ClaimValue::Integer(lhs) = c.value else {
                return false;
            };
            rhs.any(|v| match v {
                ValRef::Int(r) => match op {
                    CmpOp::Lt => lhs < r,
                    CmpOp::Le => lhs <= r,
                    CmpOp::Gt => lhs > r,
                    CmpOp::Ge => lhs >= r,
                    CmpOp::Eq | CmpOp::Ne => false,
                },
                _ => false,
            })
        }
    }
}

fn eval_expr(ctx: &Ctx<'_>, e: &Expr, bindings: &[(&str, Vec<&Claim>)]) -> Result<Set, String> {
    Ok(match e {
        Expr::Str(s) => vec![ClaimValue::String(s.clone())],
        Expr::Int(i) => vec![ClaimValue::Integer(*i)],
        Expr::Bool(b) => vec![ClaimValue::Boolean(*b)],
        Expr::Ref {
            ident, property, ..
        } => bound(bindings, ident)
            .iter()
            .map(|c| claim_property(c, *property))
            .collect(),
        Expr::Call { func, args, .. } => {
            let mut vals = Vec::with_capacity(args.len());
            for a in args {
                vals.push(eval_expr(ctx, a, bindings)?);
            }
            call(ctx, *func, &vals)?
        }
    })
}
