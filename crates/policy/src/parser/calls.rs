//! Function calls (`version=1.2`): the known functions, their arity and
//! literal argument types, nesting limits, and literal JSON and JMESPath
//! queries checked (and compiled) at parse time.

use super::hints::closest;
use super::Parser;
use crate::ast::*;
use crate::error::{Span, SyntaxError};
use crate::jmes::jmes_runtime;
use crate::lexer::Tok;
use crate::properties::{lit_type, LitType};

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

impl Parser {
    pub(super) fn call(
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
                match jmes_runtime().compile(q) {
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
}
