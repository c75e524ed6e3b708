//! The policy language's functions (`version=1.2`): `JmesPath`,
//! `JsonToClaimValue`, `IsSubsetOf`, `AppendString`, `NegateBool`,
//! `ContainsOnlyValue`, each over sets of claim values.

use serde_json::Value;

use super::{check_size, Ctx, Set};
use crate::ast::Function;
use crate::claims::ClaimValue;
use crate::jmes::jmes_runtime;

fn want_str(f: Function, v: &ClaimValue) -> Result<&str, String> {
    match v {
        ClaimValue::String(s) => Ok(s),
        other => Err(format!(
            "{} takes a string, not {}",
            f.name(),
            other.value_type()
        )),
    }
}

pub(super) fn call(ctx: &Ctx<'_>, f: Function, args: &[Set]) -> Result<Set, String> {
    let empty: Set = Vec::new();
    let a = args.first().unwrap_or(&empty);
    let b = args.get(1).unwrap_or(&empty);
    if !matches!(f, Function::IsSubsetOf | Function::ContainsOnlyValue) {
        check_size(a.len().saturating_mul(b.len().max(1)))?;
    }
    let mut out = Vec::new();
    match f {
        Function::JmesPath => {
            for j in a {
                let json = want_str(f, j)?;
                if json.is_empty() {
                    return Err("JmesPath: the JSON argument is empty".to_string());
                }
                let data = ctx.parse_json(json)?;
                for q in b {
                    let query = want_str(f, q)?;
                    let compiled;
                    let expr = match ctx.queries.get(query) {
                        Some(expr) => expr,
                        None => {
                            compiled = jmes_runtime()
                                .compile(query)
                                .map_err(|e| format!("JmesPath: invalid query: {}", e.reason))?;
                            &compiled
                        }
                    };
                    let mut jctx = jmespath::Context::new(expr.as_str(), jmes_runtime());
                    let result = jmespath::interpret(&data, expr.as_ast(), &mut jctx)
                        .map_err(|e| format!("JmesPath: {}", e.reason))?;
                    let text = serde_json::to_string(&*result)
                        .map_err(|e| format!("JmesPath: result is not JSON ({e})"))?;
                    out.push(ClaimValue::String(text));
                }
            }
        }
        Function::JsonToClaimValue => {
            for j in a {
                let json = want_str(f, j)?;
                let v: Value = serde_json::from_str(json)
                    .map_err(|e| format!("JsonToClaimValue: not JSON ({e})"))?;
                match v {
                    Value::Array(items) => {
                        for item in items {
                            if let Some(cv) = json_scalar(&item)? {
                                out.push(cv);
                            } else if !item.is_null() {
                                return Err(
                                    "JsonToClaimValue: arrays may hold only numbers, booleans, strings and null"
                                        .to_string(),
                                );
                            }
                        }
                    }
                    Value::Object(_) => {
                        return Err(
                            "JsonToClaimValue: JSON objects cannot be claim values".to_string()
                        )
                    }
                    other => {
                        if let Some(cv) = json_scalar(&other)? {
                            out.push(cv);
                        }
                    }
                }
            }
        }
        Function::IsSubsetOf => {
            out.push(ClaimValue::Boolean(a.iter().all(|x| b.contains(x))));
        }
        Function::AppendString => {
            for x in a {
                let x = want_str(f, x)?;
                for y in b {
                    let y = want_str(f, y)?;
                    out.push(ClaimValue::String(format!("{x}{y}")));
                }
            }
        }
        Function::NegateBool => {
            for x in a {
                match x {
                    ClaimValue::Boolean(v) => out.push(ClaimValue::Boolean(!v)),
                    other => {
                        return Err(format!(
                            "NegateBool takes a boolean, not {}",
                            other.value_type()
                        ))
                    }
                }
            }
        }
        Function::ContainsOnlyValue => {
            let [v] = b.as_slice() else {
                return Err(format!(
                    "ContainsOnlyValue: the second argument must be one value, not {}",
                    b.len()
                ));
            };
            out.push(ClaimValue::Boolean(
                !a.is_empty() && a.iter().all(|x| x == v),
            ));
        }
    }
    check_size(out.len())?;
    Ok(out)
}

/// A JSON scalar as a claim value; `Ok(None)` for null and for non-scalars.
fn json_scalar(v: &Value) -> Result<Option<ClaimValue>, String> {
    Ok(match v {
        Value::Bool(b) => Some(ClaimValue::Boolean(*b)),
        Value::String(s) => Some(ClaimValue::String(s.clone())),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Some(ClaimValue::Integer(i)),
            None => {
                return Err(format!(
                    "JsonToClaimValue: {n} is not an integer; claim values have no fractions"
                ))
            }
        },
        _ => None,
    })
}
