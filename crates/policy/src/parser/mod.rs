//! The parser: policy text to [`PolicyAst`], with every check that can be
//! made before evaluation (sections and their actions, version features,
//! identifiers, literal types, literal JMESPath queries).

use std::collections::HashMap;

use crate::ast::*;
use crate::error::{Span, SyntaxError};
use crate::lexer::{tokenize, Tok, Token};

mod actions;
mod calls;
mod hints;

use crate::properties::{lit_type, LitType};
use hints::closest;

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
}
