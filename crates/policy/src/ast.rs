//! The syntax tree of an MAA attestation policy, and its pretty printer.
//!
//! `Display` on [`PolicyAst`] prints canonical policy text; parsing that
//! text again yields an equal tree (positions are ignored by `==`).

use std::fmt;

use crate::error::Span;

/// The grammar version of a policy (`version=1.0;`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Version {
    /// 1.0: `authorizationrules` and `issuancerules`.
    V1_0,
    /// 1.1: adds `configurationrules`.
    V1_1,
    /// 1.2: adds functions (`JmesPath`, …) and the `!` absence test.
    V1_2,
}

impl Version {
    /// The version as written (`"1.0"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Version::V1_0 => "1.0",
            Version::V1_1 => "1.1",
            Version::V1_2 => "1.2",
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The three kinds of section, in the order they must appear.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SectionKind {
    /// `configurationrules` (1.1+): sets engine configuration.
    Configuration,
    /// `authorizationrules`: decides whether attestation passes.
    Authorization,
    /// `issuancerules`: adds claims to the token.
    Issuance,
}

impl SectionKind {
    /// The section keyword.
    pub fn keyword(self) -> &'static str {
        match self {
            SectionKind::Configuration => "configurationrules",
            SectionKind::Authorization => "authorizationrules",
            SectionKind::Issuance => "issuancerules",
        }
    }
}

/// A whole policy: its version and its sections in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyAst {
    /// The grammar version.
    pub version: Version,
    /// The sections present, in source order (which is also the required
    /// order: configuration, authorization, issuance).
    pub sections: Vec<Section>,
}

impl PolicyAst {
    /// The section of that kind, if present.
    pub fn section(&self, kind: SectionKind) -> Option<&Section> {
        self.sections.iter().find(|s| s.kind == kind)
    }
}

/// One section and its rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// Which section.
    pub kind: SectionKind,
    /// Its rules, in order.
    pub rules: Vec<Rule>,
    /// Where the section keyword is.
    pub span: Span,
}

/// A claim rule: `conditions => action;`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The `&&`-joined conditions (empty: the action always runs).
    pub conditions: Vec<Condition>,
    /// The action.
    pub action: Action,
    /// Where the rule starts.
    pub span: Span,
}

/// A claim condition: `c:[type=="x", value==1]`, or the absence test
/// `![type=="x"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// The identifier naming the matching claims (`c` in `c:[…]`).
    pub ident: Option<String>,
    /// `![…]`: holds when no claim matches.
    pub negated: bool,
    /// The property conditions; a claim matches when it meets all.
    pub props: Vec<PropertyCondition>,
    /// Where the condition starts.
    pub span: Span,
}

/// One property test inside a condition: `value >= 3`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PropertyCondition {
    /// The claim property tested.
    pub property: ClaimProperty,
    /// The comparison.
    pub op: CmpOp,
    /// The value compared with.
    pub value: Expr,
    /// Where the property name is.
    pub span: Span,
}

/// A property of a claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ClaimProperty {
    /// `type`: the claim's name.
    Type,
    /// `value`: the claim's value.
    Value,
    /// `issuer`: `AttestationService`, `AttestationPolicy` or `CustomClaim`.
    Issuer,
    /// `valueType`: `String`, `Integer` or `Boolean`.
    ValueType,
}

impl ClaimProperty {
    /// The property as written.
    pub fn keyword(self) -> &'static str {
        match self {
            ClaimProperty::Type => "type",
            ClaimProperty::Value => "value",
            ClaimProperty::Issuer => "issuer",
            ClaimProperty::ValueType => "valueType",
        }
    }

    pub(crate) fn from_keyword(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "type" => Some(ClaimProperty::Type),
            "value" => Some(ClaimProperty::Value),
            "issuer" => Some(ClaimProperty::Issuer),
            "valuetype" => Some(ClaimProperty::ValueType),
            _ => None,
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CmpOp {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `<` (integers)
    Lt,
    /// `<=` (integers)
    Le,
    /// `>` (integers)
    Gt,
    /// `>=` (integers)
    Ge,
}

impl CmpOp {
    /// The operator as written.
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "==",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Whether this is an ordering (integers only).
    pub fn is_ordering(self) -> bool {
        !matches!(self, CmpOp::Eq | CmpOp::Ne)
    }
}

/// An expression: a literal, a reference to a named claim's property, or a
/// function call (1.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `"text"`
    Str(String),
    /// `42`
    Int(i64),
    /// `true` / `false`
    Bool(bool),
    /// `c.value`: the property of every claim the identifier matched.
    Ref {
        /// The identifier.
        ident: String,
        /// The property.
        property: ClaimProperty,
        /// Where the reference is.
        span: Span,
    },
    /// `JmesPath(c.value, "a.b")`
    Call {
        /// The function.
        func: Function,
        /// Its arguments.
        args: Vec<Expr>,
        /// Where the call is.
        span: Span,
    },
}

/// The functions of policy version 1.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    /// `JmesPath(json, query)`: the query's result, as JSON text.
    JmesPath,
    /// `JsonToClaimValue(json)`: JSON text to a claim value (or set).
    JsonToClaimValue,
    /// `IsSubsetOf(a, b)`: whether the set `a` is a subset of `b`.
    IsSubsetOf,
    /// `AppendString(a, b)`: `a` followed by `b`.
    AppendString,
    /// `NegateBool(b)`: `!b`.
    NegateBool,
    /// `ContainsOnlyValue(set, v)`: the set is not empty and holds only `v`.
    ContainsOnlyValue,
}

impl Function {
    /// Every function.
    pub const ALL: [Function; 6] = [
        Function::JmesPath,
        Function::JsonToClaimValue,
        Function::IsSubsetOf,
        Function::AppendString,
        Function::NegateBool,
        Function::ContainsOnlyValue,
    ];

    /// The function's name as documented.
    pub fn name(self) -> &'static str {
        match self {
            Function::JmesPath => "JmesPath",
            Function::JsonToClaimValue => "JsonToClaimValue",
            Function::IsSubsetOf => "IsSubsetOf",
            Function::AppendString => "AppendString",
            Function::NegateBool => "NegateBool",
            Function::ContainsOnlyValue => "ContainsOnlyValue",
        }
    }

    /// How many arguments it takes.
    pub fn arity(self) -> usize {
        match self {
            Function::JsonToClaimValue | Function::NegateBool => 1,
            _ => 2,
        }
    }

    pub(crate) fn from_name(s: &str) -> Option<Self> {
        Function::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(s))
    }
}

/// What a rule does when its conditions hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// `permit()` (authorization rules).
    Permit,
    /// `deny()` (authorization rules).
    Deny,
    /// `add(…)`: adds claims to the incoming set, for later rules.
    Add(ClaimSpec),
    /// `issue(…)` (issuance rules): adds to the incoming and outgoing sets.
    Issue(ClaimSpec),
    /// `issueproperty(…)`: sets a token property or an engine configuration.
    IssueProperty(ClaimSpec),
}

impl Action {
    /// The action's keyword.
    pub fn keyword(&self) -> &'static str {
        match self {
            Action::Permit => "permit",
            Action::Deny => "deny",
            Action::Add(_) => "add",
            Action::Issue(_) => "issue",
            Action::IssueProperty(_) => "issueproperty",
        }
    }
}

/// The claim an `add`, `issue` or `issueproperty` action produces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimSpec {
    /// `claim=c`: the claims the identifier matched.
    Claim {
        /// The identifier.
        ident: String,
        /// Where it is.
        span: Span,
    },
    /// `type="x", value=…`
    New {
        /// The new claim's type.
        claim_type: Expr,
        /// The new claim's value (a set yields one claim per element).
        value: Expr,
    },
}

/// Writes `s` as a policy string literal.
pub(crate) fn write_str_lit(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Str(s) => write_str_lit(f, s),
            Expr::Int(i) => write!(f, "{i}"),
            Expr::Bool(b) => write!(f, "{b}"),
            Expr::Ref {
                ident, property, ..
            } => write!(f, "{ident}.{}", property.keyword()),
            Expr::Call { func, args, .. } => {
                write!(f, "{}(", func.name())?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

impl fmt::Display for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(id) = &self.ident {
            write!(f, "{id}:")?;
        }
        if self.negated {
            f.write_str("!")?;
        }
        f.write_str("[")?;
        for (i, p) in self.props.iter().enumerate() {
            if i > 0 {
                f.write_str(", ")?;
            }
            write!(f, "{} {} {}", p.property.keyword(), p.op.symbol(), p.value)?;
        }
        f.write_str("]")
    }
}

impl fmt::Display for ClaimSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimSpec::Claim { ident, .. } => write!(f, "claim={ident}"),
            ClaimSpec::New { claim_type, value } => write!(f, "type={claim_type}, value={value}"),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Permit | Action::Deny => write!(f, "{}()", self.keyword()),
            Action::Add(c) | Action::Issue(c) | Action::IssueProperty(c) => {
                write!(f, "{}({c})", self.keyword())
            }
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, c) in self.conditions.iter().enumerate() {
            if i > 0 {
                f.write_str(" && ")?;
            }
            write!(f, "{c}")?;
        }
        if !self.conditions.is_empty() {
            f.write_str(" ")?;
        }
        write!(f, "=> {};", self.action)
    }
}

impl fmt::Display for PolicyAst {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "version={};", self.version)?;
        for s in &self.sections {
            writeln!(f, "{}", s.kind.keyword())?;
            writeln!(f, "{{")?;
            for r in &s.rules {
                writeln!(f, "    {r}")?;
            }
            writeln!(f, "}};")?;
        }
        Ok(())
    }
}
