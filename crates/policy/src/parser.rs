//! The parser: policy text to [`PolicyAst`], with every check that can be
//! made before evaluation (sections and their actions, version features,
//! identifiers, literal types, literal JMESPath queries).

use std::collections::HashMap;

use crate::ast::*;
use crate::error::{Span, SyntaxError};
use crate::lexer::{tokenize, Tok, Token};

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

/// How deeply function calls (and JMESPath brackets) may nest.
const MAX_NESTING: usize = 32;

/// The deepest bracket nesting in a JMESPath query.
fn query_nesting(q: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    for c in q.chars() {
        match c {
            '(' | '[' | '{' => {
                depth += 1;
                max = max.max(depth);
            }
            ')' | ']' | '}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

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
    fn name(self) -> &'static str {
        match self {
            LitType::Str => "a string",
            LitType::Int => "an integer",
            LitType::Bool => "a boolean",
        }
    }
}

fn lit_type(e: &Expr) -> Option<LitType> {
    match e {
        Expr::Str(_) => Some(LitType::Str),
        Expr::Int(_) => Some(LitType::Int),
        Expr::Bool(_) => Some(LitType::Bool),
        _ => None,
    }
}

/// The result of parsing: the tree and the literal JMESPath queries,
/// compiled once.
pub(crate) struct Parsed {
    pub ast: PolicyAst,
    pub queries: HashMap<String, jmespath::Expression<'static>>,
}

/// Parses and checks policy text.
pub(crate) fn parse(text: &str) -> Result<Parsed, SyntaxError> {
    let toks = tokenize(text)?;
    let mut p = Parser {
        toks,
        pos: 0,
        depth: 0,
        version: Version::V1_0,
        queries: HashMap::new(),
    };
    let ast = p.policy()?;
    Ok(Parsed {
        ast,
        queries: p.queries,
    })
}

struct Parser {
    toks: Vec<Token>,
    pos: usize,
    depth: usize,
    version: Version,
    queries: HashMap<String, jmespath::Expression<'static>>,
}

const EOF_TOKEN: Token = Token {
    tok: Tok::Eof,
    span: Span { line: 0, col: 0 },
};

fn ident_is(tok: &Tok, kw: &str) -> bool {
    matches!(tok, Tok::Ident(s) if s.eq_ignore_ascii_case(kw))
}

fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.to_ascii_lowercase().chars().collect();
    let b: Vec<char> = b.to_ascii_lowercase().chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            cur.push(sub.min(del).min(ins));
        }
        prev = cur;
    }
    prev.last().copied().unwrap_or(0)
}

fn closest<'a>(word: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (levenshtein(word, c), c))
        .filter(|(d, c)| *d <= 3.max(c.len() / 4))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c)
}

impl Parser {
    fn peek(&self) -> &Token {
        self.toks.get(self.pos).unwrap_or(&EOF_TOKEN)
    }

    fn peek_at(&self, n: usize) -> &Tok {
        &self.toks.get(self.pos + n).unwrap_or(&EOF_TOKEN).tok
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if self.pos < self.toks.len() {
            self.pos += 1;
        }
        t
    }

    fn err(&self, expected: impl Into<String>, hint: impl Into<String>) -> SyntaxError {
        let t = self.peek();
        SyntaxError::new(t.span, expected, t.tok.describe(), hint)
    }

    fn expect(&mut self, want: Tok, hint: &str) -> Result<Token, SyntaxError> {
        if self.peek().tok == want {
            Ok(self.bump())
        } else {
            let t = Token {
                tok: want,
                span: Span::default(),
            };
            Err(self.err(t.tok.describe(), hint))
        }
    }

    fn policy(&mut self) -> Result<PolicyAst, SyntaxError> {
        // version = X.Y ;
        if !ident_is(&self.peek().tok, "version") {
            return Err(self.err(
                "`version=…;`",
                "start the policy with a version line such as `version=1.0;`",
            ));
        }
        self.bump();
        match self.peek().tok {
            Tok::Eq => {
                self.bump();
            }
            Tok::EqEq => {
                return Err(self.err("`=`", "write the version line as `version=1.0;`"));
            }
            _ => return Err(self.err("`=`", "write the version line as `version=1.0;`")),
        }
        let vt = self.peek().clone();
        self.version = match &vt.tok {
            Tok::Decimal(d) if d == "1.0" => Version::V1_0,
            Tok::Decimal(d) if d == "1.1" => Version::V1_1,
            Tok::Decimal(d) if d == "1.2" => Version::V1_2,
            Tok::Decimal(_) | Tok::Int(_) => {
                return Err(self.err(
                    "a supported version: 1.0, 1.1 or 1.2",
                    "MAA policy versions are 1.0, 1.1 and 1.2, written with the minor digit",
                ))
            }
            _ => return Err(self.err("a version number", "write `version=1.0;`")),
        };
        self.bump();
        self.expect(Tok::Semi, "end the version line with `;`")?;

        let mut sections: Vec<Section> = Vec::new();
        while self.peek().tok != Tok::Eof {
            let t = self.peek().clone();
            let kind = match &t.tok {
                Tok::Ident(s) => match s.to_ascii_lowercase().as_str() {
                    "configurationrules" => SectionKind::Configuration,
                    "authorizationrules" => SectionKind::Authorization,
                    "issuancerules" => SectionKind::Issuance,
                    other => {
                        let hint = match closest(
                            other,
                            ["configurationrules", "authorizationrules", "issuancerules"],
                        ) {
                            Some(c) => format!("did you mean `{c}`?"),
                            None => "sections are configurationrules, authorizationrules and issuancerules".to_string(),
                        };
                        return Err(self.err("a section name", hint));
                    }
                },
                _ => {
                    return Err(self.err(
                        "a section name",
                        "rules go inside a section: authorizationrules { … };",
                    ))
                }
            };
            if kind == SectionKind::Configuration && self.version < Version::V1_1 {
                return Err(self.err(
                    "`authorizationrules` or `issuancerules`",
                    "configurationrules needs `version=1.1;` or later",
                ));
            }
            if let Some(prev) = sections.last() {
                if prev.kind == kind {
                    return Err(self.err(
                        "each section at most once",
                        format!("merge the rules into the first `{}`", kind.keyword()),
                    ));
                }
                if prev.kind > kind {
                    return Err(self.err(
                        "sections in the order configurationrules, authorizationrules, issuancerules",
                        format!("move `{}` before `{}`", kind.keyword(), prev.kind.keyword()),
                    ));
                }
            }
            self.bump();
            self.expect(Tok::LBrace, "open the section with `{`")?;
            let mut rules = Vec::new();
            while self.peek().tok != Tok::RBrace {
                if self.peek().tok == Tok::Eof {
                    return Err(self.err("`}`", "close the section with `};`"));
                }
                rules.push(self.rule(kind)?);
            }
            self.bump();
            self.expect(Tok::Semi, "close each section with `};`")?;
            sections.push(Section {
                kind,
                rules,
                span: t.span,
            });
        }
        Ok(PolicyAst {
            version: self.version,
            sections,
        })
    }

    fn rule(&mut self, section: SectionKind) -> Result<Rule, SyntaxError> {
        let span = self.peek().span;
        let mut scope: Vec<String> = Vec::new();
        let mut conditions = Vec::new();
        if self.peek().tok != Tok::Arrow {
            loop {
                conditions.push(self.condition(&mut scope)?);
                match self.peek().tok {
                    Tok::AndAnd => {
                        self.bump();
                    }
                    Tok::Arrow => break,
                    Tok::LBracket | Tok::Bang => {
                        return Err(self.err("`&&` or `=>`", "join conditions with `&&`"))
                    }
                    Tok::Ident(_) if self.peek_at(1) == &Tok::Colon => {
                        return Err(self.err("`&&` or `=>`", "join conditions with `&&`"))
                    }
                    _ => return Err(self.err("`&&` or `=>`", "a rule is `conditions => action;`")),
                }
            }
        }
        self.bump(); // =>
        let action = self.action(section, &scope)?;
        self.expect(Tok::Semi, "end each rule with `;`")?;
        Ok(Rule {
            conditions,
            action,
            span,
        })
    }

    fn condition(&mut self, scope: &mut Vec<String>) -> Result<Condition, SyntaxError> {
        let span = self.peek().span;
        let mut ident = None;
        let mut ident_span = span;
        if let Tok::Ident(name) = &self.peek().tok {
            let name = name.clone();
            match self.peek_at(1) {
                Tok::Colon => {
                    if name.eq_ignore_ascii_case("true") || name.eq_ignore_ascii_case("false") {
                        return Err(self.err(
                            "an identifier",
                            format!("`{name}` is a boolean value: name the condition differently"),
                        ));
                    }
                    if scope.iter().any(|s| s == &name) {
                        return Err(self.err(
                            "a new identifier",
                            format!("`{name}` already names a condition in this rule: pick another name"),
                        ));
                    }
                    ident_span = self.peek().span;
                    ident = Some(name);
                    self.bump();
                    self.bump();
                }
                Tok::LBracket => {
                    self.bump();
                    return Err(self.err(
                        "`:`",
                        format!("name a condition with a colon: `{name}:[…]`"),
                    ));
                }
                _ => {
                    return Err(self.err(
                        "a condition `[…]`",
                        "conditions are written in brackets: [type==\"…\", value==…]",
                    ))
                }
            }
        }
        let mut negated = false;
        if self.peek().tok == Tok::Bang {
            if self.version < Version::V1_2 {
                return Err(self.err(
                    "a condition `[…]`",
                    "the `!` absence test needs `version=1.2;`",
                ));
            }
            if ident.is_some() {
                return Err(SyntaxError::new(
                    ident_span,
                    "a condition without a name",
                    "a named absence test",
                    "`![…]` matches no claim, so it cannot be named: drop the identifier",
                ));
            }
            negated = true;
            self.bump();
        }
        if self.peek().tok != Tok::LBracket {
            return Err(self.err(
                "`[`",
                "conditions are written in brackets: [type==\"…\", value==…]",
            ));
        }
        self.bump();
        if self.peek().tok == Tok::RBracket {
            return Err(self.err(
                "a claim property: type, value, issuer or valueType",
                "an empty condition matches every claim: state at least one property",
            ));
        }
        let mut props = Vec::new();
        loop {
            props.push(self.prop_condition(scope)?);
            match self.peek().tok {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RBracket => {
                    self.bump();
                    break;
                }
                Tok::AndAnd => {
                    return Err(self.err(
                        "`,` or `]`",
                        "inside a condition, separate properties with `,`; `&&` joins conditions",
                    ))
                }
                _ => {
                    return Err(self.err(
                        "`,` or `]`",
                        "separate properties with `,` and close the condition with `]`",
                    ))
                }
            }
        }
        if let Some(id) = &ident {
            scope.push(id.clone());
        }
        Ok(Condition {
            ident,
            negated,
            props,
            span,
        })
    }

    fn prop_condition(&mut self, scope: &[String]) -> Result<PropertyCondition, SyntaxError> {
        let t = self.peek().clone();
        let property = match &t.tok {
            Tok::Ident(s) => match ClaimProperty::from_keyword(s) {
                Some(p) => p,
                None => {
                    let hint = match closest(s, ["type", "value", "issuer", "valueType"]) {
                        Some(c) => format!("did you mean `{c}`?"),
                        None => "claim properties are type, value, issuer and valueType".into(),
                    };
                    return Err(
                        self.err("a claim property: type, value, issuer or valueType", hint)
                    );
                }
            },
            _ => {
                return Err(self.err(
                    "a claim property: type, value, issuer or valueType",
                    "a property condition is `property == value`, e.g. type==\"x-ms-ver\"",
                ))
            }
        };
        self.bump();
        let op = match self.peek().tok {
            Tok::EqEq => CmpOp::Eq,
            Tok::Ne => CmpOp::Ne,
            Tok::Lt => CmpOp::Lt,
            Tok::Le => CmpOp::Le,
            Tok::Gt => CmpOp::Gt,
            Tok::Ge => CmpOp::Ge,
            Tok::Eq => {
                return Err(self.err(
                    "a comparison: `==`, `!=`, `<`, `<=`, `>` or `>=`",
                    "use `==` to compare in a condition; a single `=` only sets a property in an action",
                ))
            }
            _ => {
                return Err(self.err(
                    "a comparison: `==`, `!=`, `<`, `<=`, `>` or `>=`",
                    "a property condition is `property == value`",
                ))
            }
        };
        let op_span = self.peek().span;
        if op.is_ordering() && property != ClaimProperty::Value {
            return Err(self.err(
                "`==` or `!=`",
                format!(
                    "`{}` is a string: compare it with `==` or `!=`",
                    property.keyword()
                ),
            ));
        }
        self.bump();
        let (value, vspan) = self.expr(scope)?;
        match property {
            ClaimProperty::Type | ClaimProperty::Issuer | ClaimProperty::ValueType => {
                if let Some(lt) = lit_type(&value) {
                    if lt != LitType::Str {
                        return Err(SyntaxError::new(
                            vspan,
                            "a string",
                            lt.name(),
                            format!("`{}` is a string: quote the value", property.keyword()),
                        ));
                    }
                }
                if let Expr::Str(s) = &value {
                    if property == ClaimProperty::Issuer
                        && !crate::claims::Issuer::ALL
                            .iter()
                            .any(|i| i.as_str() == s.as_str())
                    {
                        return Err(SyntaxError::new(
                            vspan,
                            "an issuer: \"AttestationService\", \"AttestationPolicy\" or \"CustomClaim\"",
                            format!("\"{s}\""),
                            "issuers are AttestationService, AttestationPolicy and CustomClaim (case matters)",
                        ));
                    }
                    if property == ClaimProperty::ValueType
                        && !["String", "Integer", "Boolean"].contains(&s.as_str())
                    {
                        return Err(SyntaxError::new(
                            vspan,
                            "a value type: \"String\", \"Integer\" or \"Boolean\"",
                            format!("\"{s}\""),
                            "value types are String, Integer and Boolean",
                        ));
                    }
                }
            }
            ClaimProperty::Value => {
                if op.is_ordering() {
                    if let Some(lt) = lit_type(&value) {
                        if lt != LitType::Int {
                            return Err(SyntaxError::new(
                                vspan,
                                "an integer",
                                lt.name(),
                                format!(
                                    "`{}` compares integers; strings and booleans take `==` or `!=`",
                                    op.symbol()
                                ),
                            ));
                        }
                    }
                }
            }
        }
        let _ = op_span;
        Ok(PropertyCondition {
            property,
            op,
            value,
            span: t.span,
        })
    }

    fn expr(&mut self, scope: &[String]) -> Result<(Expr, Span), SyntaxError> {
        let t = self.peek().clone();
        let e = match &t.tok {
            Tok::Str(s) => {
                self.bump();
                Expr::Str(s.clone())
            }
            Tok::Int(i) => {
                self.bump();
                Expr::Int(*i)
            }
            Tok::Decimal(_) => {
                return Err(self.err(
                    "a string, an integer or a boolean",
                    "values have no fractions: use an integer, or quote the number as a string",
                ))
            }
            Tok::Lt => {
                return Err(self.err("a value", "replace the `<placeholder>` with a real value"))
            }
            Tok::Ident(name) if name.eq_ignore_ascii_case("true") => {
                self.bump();
                Expr::Bool(true)
            }
            Tok::Ident(name) if name.eq_ignore_ascii_case("false") => {
                self.bump();
                Expr::Bool(false)
            }
            Tok::Ident(name) => {
                let name = name.clone();
                match self.peek_at(1) {
                    Tok::LParen => return self.call(&name, t.span, scope),
                    Tok::Dot => {
                        if !scope.iter().any(|s| s == &name) {
                            return Err(SyntaxError::new(
                                t.span,
                                "an identifier named earlier in this rule",
                                format!("undefined identifier `{name}`"),
                                format!("name a condition `{name}:[…]` before using `{name}.…`"),
                            ));
                        }
                        self.bump();
                        self.bump();
                        let pt = self.peek().clone();
                        let property = match &pt.tok {
                            Tok::Ident(p) => ClaimProperty::from_keyword(p),
                            _ => None,
                        };
                        let Some(property) = property else {
                            return Err(self.err(
                                "a claim property: type, value, issuer or valueType",
                                format!("refer to a property, e.g. `{name}.value`"),
                            ));
                        };
                        self.bump();
                        Expr::Ref {
                            ident: name,
                            property,
                            span: t.span,
                        }
                    }
                    _ => {
                        let hint = if scope.iter().any(|s| s == &name) {
                            format!("refer to a property of the claim: `{name}.value`")
                        } else {
                            "quote text as a string: \"…\"".to_string()
                        };
                        return Err(self.err(
                            "a value: a string, an integer, true, false, `c.value` or a function call",
                            hint,
                        ));
                    }
                }
            }
            _ => {
                return Err(self.err(
                    "a value: a string, an integer, true, false, `c.value` or a function call",
                    "give the value to compare with or to set",
                ))
            }
        };
        Ok((e, t.span))
    }

    fn call(
        &mut self,
        name: &str,
        span: Span,
        scope: &[String],
    ) -> Result<(Expr, Span), SyntaxError> {
        let Some(func) = Function::from_name(name) else {
            let hint = match closest(name, Function::ALL.iter().map(|f| f.name())) {
                Some(c) => format!("did you mean `{c}`?"),
                None => "functions are JmesPath, JsonToClaimValue, IsSubsetOf, AppendString, NegateBool and ContainsOnlyValue".into(),
            };
            return Err(SyntaxError::new(
                span,
                "a known function",
                format!("unknown function `{name}`"),
                hint,
            ));
        };
        if self.version < Version::V1_2 {
            return Err(SyntaxError::new(
                span,
                "a value",
                format!("function `{}`", func.name()),
                "functions need `version=1.2;`",
            ));
        }
        if self.depth >= MAX_NESTING {
            return Err(SyntaxError::new(
                span,
                format!("function calls nested at most {MAX_NESTING} deep"),
                "deeper nesting",
                "split the computation over several rules with add(…)",
            ));
        }
        self.bump(); // name
        self.bump(); // (
        self.depth += 1;
        let result = self.call_args(func, span, scope);
        self.depth -= 1;
        result
    }

    fn call_args(
        &mut self,
        func: Function,
        span: Span,
        scope: &[String],
    ) -> Result<(Expr, Span), SyntaxError> {
        let mut args = Vec::new();
        let mut spans = Vec::new();
        if self.peek().tok != Tok::RParen {
            loop {
                let (a, s) = self.expr(scope)?;
                args.push(a);
                spans.push(s);
                match self.peek().tok {
                    Tok::Comma => {
                        self.bump();
                    }
                    Tok::RParen => break,
                    _ => return Err(self.err("`,` or `)`", "separate arguments with `,`")),
                }
            }
        }
        let close = self.peek().span;
        self.bump(); // )
        if args.len() != func.arity() {
            return Err(SyntaxError::new(
                close,
                format!(
                    "{} argument{}",
                    func.arity(),
                    if func.arity() == 1 { "" } else { "s" }
                ),
                format!(
                    "{} argument{}",
                    args.len(),
                    if args.len() == 1 { "" } else { "s" }
                ),
                format!("`{}` takes {}", func.name(), func.arity()),
            ));
        }
        let want: &[Option<LitType>] = match func {
            Function::JmesPath => &[Some(LitType::Str), Some(LitType::Str)],
            Function::JsonToClaimValue => &[Some(LitType::Str)],
            Function::AppendString => &[Some(LitType::Str), Some(LitType::Str)],
            Function::NegateBool => &[Some(LitType::Bool)],
            Function::IsSubsetOf | Function::ContainsOnlyValue => &[None, None],
        };
        for ((a, s), w) in args.iter().zip(&spans).zip(want) {
            if let (Some(w), Some(got)) = (w, lit_type(a)) {
                if *w != got {
                    return Err(SyntaxError::new(
                        *s,
                        w.name(),
                        got.name(),
                        format!("`{}` takes {} here", func.name(), w.name()),
                    ));
                }
            }
        }
        // Literal JSON and queries are checked now.
        if matches!(func, Function::JmesPath | Function::JsonToClaimValue) {
            if let (Some(Expr::Str(json)), Some(s)) = (args.first(), spans.first()) {
                if serde_json::from_str::<serde_json::Value>(json).is_err() {
                    return Err(SyntaxError::new(
                        *s,
                        "JSON text",
                        "a string that is not valid JSON",
                        "escape the quotes inside JSON with `\\\"`",
                    ));
                }
            }
        }
        if func == Function::JmesPath {
            if let (Some(Expr::Str(q)), Some(s)) = (args.get(1), spans.get(1)) {
                if query_nesting(q) > MAX_NESTING {
                    return Err(SyntaxError::new(
                        *s,
                        format!("a JMESPath query nested at most {MAX_NESTING} deep"),
                        "deeper nesting",
                        "simplify the query",
                    ));
                }
                match crate::eval::jmes_runtime().compile(q) {
                    Ok(expr) => {
                        self.queries.insert(q.clone(), expr);
                    }
                    Err(e) => {
                        return Err(SyntaxError::new(
                            *s,
                            "a valid JMESPath query",
                            format!("an invalid query ({})", e.reason),
                            "check the query with a JMESPath tester; quote JSON literals with backticks",
                        ))
                    }
                }
            }
        }
        Ok((Expr::Call { func, args, span }, span))
    }

    fn action(&mut self, section: SectionKind, scope: &[String]) -> Result<Action, SyntaxError> {
        let t = self.peek().clone();
        let kw = match &t.tok {
            Tok::Ident(s) => s.to_ascii_lowercase(),
            _ => {
                return Err(self.err(
                    "an action: permit(), deny(), add(…), issue(…) or issueproperty(…)",
                    "a rule is `conditions => action;`",
                ))
            }
        };
        let allowed: &[&str] = match section {
            SectionKind::Configuration => &["issueproperty"],
            SectionKind::Authorization => &["permit", "deny", "add"],
            SectionKind::Issuance => &["add", "issue", "issueproperty"],
        };
        let known = ["permit", "deny", "add", "issue", "issueproperty"];
        if !known.contains(&kw.as_str()) {
            let hint = match closest(&kw, known) {
                Some(c) => format!("did you mean `{c}`?"),
                None => {
                    "actions are permit(), deny(), add(…), issue(…) and issueproperty(…)".into()
                }
            };
            return Err(self.err("an action", hint));
        }
        if !allowed.contains(&kw.as_str()) {
            let home = match kw.as_str() {
                "permit" | "deny" => "authorizationrules",
                "issue" => "issuancerules",
                "issueproperty" => "configurationrules or issuancerules",
                _ => "authorizationrules or issuancerules",
            };
            let list = allowed
                .iter()
                .map(|a| format!("{a}()"))
                .collect::<Vec<_>>()
                .join(", ");
            return Err(self.err(
                format!("an action allowed in {}: {list}", section.keyword()),
                format!("`{kw}` belongs in {home}"),
            ));
        }
        self.bump();
        self.expect(Tok::LParen, "an action is called with parentheses")?;
        match kw.as_str() {
            "permit" | "deny" => {
                if self.peek().tok != Tok::RParen {
                    return Err(self.err("`)`", format!("`{kw}()` takes no arguments")));
                }
                self.bump();
                Ok(if kw == "permit" {
                    Action::Permit
                } else {
                    Action::Deny
                })
            }
            _ => {
                let spec = self.claim_spec(&kw, section, scope)?;
                self.expect(Tok::RParen, "close the action with `)`")?;
                Ok(match kw.as_str() {
                    "add" => Action::Add(spec),
                    "issue" => Action::Issue(spec),
                    _ => Action::IssueProperty(spec),
                })
            }
        }
    }

    fn claim_spec(
        &mut self,
        kw: &str,
        section: SectionKind,
        scope: &[String],
    ) -> Result<ClaimSpec, SyntaxError> {
        // claim = c
        if ident_is(&self.peek().tok, "claim") && self.peek_at(1) != &Tok::Dot {
            if kw == "issueproperty" {
                return Err(self.err(
                    "`type=`",
                    "issueproperty sets one property: issueproperty(type=\"…\", value=…)",
                ));
            }
            self.bump();
            match self.peek().tok {
                Tok::Eq => {
                    self.bump();
                }
                Tok::EqEq => {
                    return Err(self.err("`=`", "use a single `=` to set a property in an action"))
                }
                _ => return Err(self.err("`=`", format!("write `{kw}(claim=c)`"))),
            }
            let it = self.peek().clone();
            let Tok::Ident(name) = &it.tok else {
                return Err(self.err(
                    "an identifier",
                    format!("write `{kw}(claim=c)` with a named condition `c:[…]`"),
                ));
            };
            if !scope.iter().any(|s| s == name) {
                return Err(SyntaxError::new(
                    it.span,
                    "an identifier named earlier in this rule",
                    format!("undefined identifier `{name}`"),
                    format!("name a condition `{name}:[…]` in this rule"),
                ));
            }
            self.bump();
            return Ok(ClaimSpec::Claim {
                ident: name.clone(),
                span: it.span,
            });
        }
        let mut claim_type: Option<(Expr, Span)> = None;
        let mut value: Option<(Expr, Span)> = None;
        loop {
            let t = self.peek().clone();
            let prop = match &t.tok {
                Tok::Ident(s) => ClaimProperty::from_keyword(s),
                Tok::Str(s) => {
                    return Err(self.err(
                        "`type=`",
                        format!("name the property: {kw}(type=\"{s}\", value=…)"),
                    ))
                }
                Tok::RParen => {
                    let missing = if claim_type.is_none() {
                        "type"
                    } else {
                        "value"
                    };
                    return Err(self.err(
                        format!("`{missing}=`"),
                        format!("{kw} needs both type= and value="),
                    ));
                }
                _ => None,
            };
            match prop {
                Some(ClaimProperty::Type) | Some(ClaimProperty::Value) => {}
                Some(p) => {
                    return Err(self.err(
                        "`type=` or `value=`",
                        format!(
                            "`{}` cannot be set: claims made by a policy have issuer AttestationPolicy and the type of their value",
                            p.keyword()
                        ),
                    ))
                }
                None => {
                    return Err(self.err(
                        "`type=`, `value=` or `claim=`",
                        format!("write {kw}(type=\"…\", value=…) or {kw}(claim=c)"),
                    ))
                }
            }
            self.bump();
            match self.peek().tok {
                Tok::Eq => {
                    self.bump();
                }
                Tok::EqEq => return Err(self.err(
                    "`=`",
                    "use a single `=` to set a property in an action; `==` compares in a condition",
                )),
                _ => return Err(self.err("`=`", format!("write {kw}(type=\"…\", value=…)"))),
            }
            let ev = self.expr(scope)?;
            let slot = if prop == Some(ClaimProperty::Type) {
                &mut claim_type
            } else {
                &mut value
            };
            if slot.is_some() {
                return Err(SyntaxError::new(
                    t.span,
                    "each property once",
                    format!("a second `{}=`", prop.map(|p| p.keyword()).unwrap_or("")),
                    "set type and value once each",
                ));
            }
            *slot = Some(ev);
            match self.peek().tok {
                Tok::Comma => {
                    self.bump();
                }
                Tok::RParen => {
                    if claim_type.is_some() && value.is_some() {
                        break;
                    }
                    let missing = if claim_type.is_none() {
                        "type"
                    } else {
                        "value"
                    };
                    return Err(self.err(
                        format!("`, {missing}=`"),
                        format!("{kw} needs both type= and value="),
                    ));
                }
                _ => return Err(self.err("`,` or `)`", "separate type= and value= with `,`")),
            }
        }
        let (Some((claim_type, tspan)), Some((value, vspan))) = (claim_type, value) else {
            return Err(self.err(
                "`type=` and `value=`",
                format!("{kw} needs both type= and value="),
            ));
        };
        if let Some(lt) = lit_type(&claim_type) {
            if lt != LitType::Str {
                return Err(SyntaxError::new(
                    tspan,
                    "a string",
                    lt.name(),
                    "a claim type is a string: quote it",
                ));
            }
        }
        if kw == "issueproperty" {
            let Expr::Str(name) = &claim_type else {
                return Err(SyntaxError::new(
                    tspan,
                    "a property name as a string",
                    "a computed name",
                    "issueproperty takes a literal property name",
                ));
            };
            let (mine, other, other_section) = match section {
                SectionKind::Configuration => {
                    (CONFIG_PROPERTIES, TOKEN_PROPERTIES, "issuancerules")
                }
                _ => (TOKEN_PROPERTIES, CONFIG_PROPERTIES, "configurationrules"),
            };
            let Some((_, want)) = mine.iter().find(|(n, _)| n == name) else {
                let names = mine.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
                let hint = if other.iter().any(|(n, _)| n == name) {
                    format!("`{name}` is set in {other_section}")
                } else {
                    format!("{} sets {names}", section.keyword())
                };
                return Err(SyntaxError::new(
                    tspan,
                    format!("a property of {}: {names}", section.keyword()),
                    format!("\"{name}\""),
                    hint,
                ));
            };
            if let Some(got) = lit_type(&value) {
                if got != *want {
                    return Err(SyntaxError::new(
                        vspan,
                        want.name(),
                        got.name(),
                        format!("`{name}` takes {}", want.name()),
                    ));
                }
            }
            if name == "report_validity_in_minutes" {
                if let Expr::Int(i) = value {
                    if !(1..=MAX_VALIDITY_MINUTES).contains(&i) {
                        return Err(SyntaxError::new(
                            vspan,
                            "between 1 and 525600 minutes",
                            format!("{i}"),
                            "a token is valid for at most one year",
                        ));
                    }
                }
            }
            if name == "required_pcr_mask" {
                if let Expr::Int(i) = value {
                    if !(0..=0xFF_FFFF).contains(&i) {
                        return Err(SyntaxError::new(
                            vspan,
                            "a mask of PCRs 0 to 23 (0 to 16777215)",
                            format!("{i}"),
                            "bit n selects PCR n; a TPM has 24 PCRs",
                        ));
                    }
                }
            }
        }
        Ok(ClaimSpec::New { claim_type, value })
    }
}
