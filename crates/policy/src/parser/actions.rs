//! Actions (`permit`, `deny`, `add`, `issue`, `issueproperty`) and the
//! claims they make, with the checks that tie them to their section: which
//! actions a section allows, and the properties `issueproperty` may set.

use super::hints::closest;
use super::{ident_is, Parser};
use crate::ast::*;
use crate::error::{Span, SyntaxError};
use crate::lexer::Tok;
use crate::properties::{
    lit_type, LitType, CONFIG_PROPERTIES, MAX_VALIDITY_MINUTES, TOKEN_PROPERTIES,
};

impl Parser {
    pub(super) fn action(
        &mut self,
        section: SectionKind,
        scope: &[String],
    ) -> Result<Action, SyntaxError> {
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
