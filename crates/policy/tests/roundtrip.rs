//! Property tests: the parser never panics, and pretty-printing a parsed
//! policy then parsing it again yields the same tree.

use proptest::prelude::*;
use tee_attest_policy::ast::*;
use tee_attest_policy::{Policy, Span};

/// Fragments from which plausible-but-broken policies are assembled.
const FRAGMENTS: &[&str] = &[
    "version",
    "=",
    "==",
    "1.0",
    "1.2",
    ";",
    "authorizationrules",
    "issuancerules",
    "configurationrules",
    "{",
    "}",
    "[",
    "]",
    "(",
    ")",
    "type",
    "value",
    "issuer",
    "\"x\"",
    "\"",
    "\\",
    "c",
    ":",
    ".",
    ",",
    "&&",
    "!",
    "=>",
    "permit",
    "deny",
    "add",
    "issue",
    "issueproperty",
    "claim",
    "JmesPath",
    "JsonToClaimValue",
    "NegateBool",
    "true",
    "42",
    "-7",
    "<",
    ">=",
    "!=",
    "//",
    "/*",
    "*/",
    "\n",
    " ",
    "é",
    "\u{0}",
    "99999999999999999999",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parser_never_panics_on_arbitrary_text(s in any::<String>()) {
        let _ = Policy::parse(&s);
    }

    #[test]
    fn parser_never_panics_on_token_soup(parts in proptest::collection::vec(proptest::sample::select(FRAGMENTS), 0..60)) {
        let text = parts.concat();
        if let Err(e) = Policy::parse(&text) {
            if let Some(s) = e.syntax() {
                prop_assert!(s.line >= 1 && s.col >= 1);
                prop_assert!(s.line as usize <= text.lines().count().max(1) + 1);
            }
        }
    }

    #[test]
    fn prefix_of_a_valid_policy_never_panics(cut in 0usize..400) {
        let text = VALID;
        let cut: String = text.chars().take(cut).collect();
        let _ = Policy::parse(&cut);
    }

    #[test]
    fn print_then_parse_is_identity(ast in policy_strategy()) {
        let printed = ast.to_string();
        let reparsed = match Policy::parse(&printed) {
            Ok(p) => p,
            Err(e) => return Err(TestCaseError::fail(format!("{e}\n{printed}"))),
        };
        prop_assert_eq!(reparsed.ast(), &ast);
        // Printing is stable.
        prop_assert_eq!(reparsed.ast().to_string(), printed);
    }
}

const VALID: &str = r#"version=1.2;
configurationrules { => issueproperty(type="required_pcr_mask", value=15); };
authorizationrules {
  c:[type=="a", value>=3] && ![type=="b"] => add(type="d", value=AppendString("x", "y"));
  [type=="d", issuer=="AttestationPolicy"] => permit();
};
issuancerules { c:[type=="e"] => issue(type="f", value=JsonToClaimValue(JmesPath(c.value, "a.b"))); };
"#;

#[test]
fn the_valid_sample_roundtrips() {
    let p = Policy::parse(VALID).unwrap();
    let again = Policy::parse(&p.to_string()).unwrap();
    assert_eq!(p.ast(), again.ast());
}

#[test]
fn different_policies_are_not_equal() {
    let a =
        Policy::parse("version=1.0; authorizationrules { [type==\"a\"] => permit(); };").unwrap();
    let b =
        Policy::parse("version=1.0; authorizationrules { [type==\"b\"] => permit(); };").unwrap();
    assert_ne!(a.ast(), b.ast());
}

// ---- generators of valid trees -------------------------------------------

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9_.$-]{0,12}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
        Just("quote\" back\\slash\nnew\tline\r".to_string()),
    ]
}

fn literal() -> impl Strategy<Value = Expr> {
    prop_oneof![
        text().prop_map(Expr::Str),
        any::<i64>().prop_map(Expr::Int),
        any::<bool>().prop_map(Expr::Bool),
    ]
}

/// A value expression; `refs` are the identifiers in scope.
fn value_expr(refs: Vec<String>) -> BoxedStrategy<Expr> {
    let lit = literal().boxed();
    if refs.is_empty() {
        return prop_oneof![
            3 => lit,
            1 => any::<bool>().prop_map(|b| call(Function::NegateBool, vec![Expr::Bool(b)])),
            1 => (text(), text()).prop_map(|(a, b)| call(Function::AppendString, vec![Expr::Str(a), Expr::Str(b)])),
        ]
        .boxed();
    }
    let r = proptest::sample::select(refs);
    let prop = prop_oneof![
        Just(ClaimProperty::Value),
        Just(ClaimProperty::Type),
        Just(ClaimProperty::Issuer),
        Just(ClaimProperty::ValueType)
    ];
    let reference = (r.clone(), prop).prop_map(|(ident, property)| Expr::Ref {
        ident,
        property,
        span: Span::default(),
    });
    let vref = r.prop_map(|ident| Expr::Ref {
        ident,
        property: ClaimProperty::Value,
        span: Span::default(),
    });
    prop_oneof![
        3 => lit,
        2 => reference,
        1 => (vref.clone(), literal()).prop_map(|(a, b)| call(Function::ContainsOnlyValue, vec![a, b])),
        1 => (vref.clone(), vref.clone()).prop_map(|(a, b)| call(Function::IsSubsetOf, vec![a, b])),
        1 => (vref.clone(), "[a-zA-Z0-9_-]{1,8}").prop_map(|(a, q)| call(Function::JsonToClaimValue, vec![call(Function::JmesPath, vec![a, Expr::Str(format!("\"{q}\""))])])),
        1 => (text(), vref).prop_map(|(a, b)| call(Function::AppendString, vec![Expr::Str(a), b])),
    ]
    .boxed()
}

fn call(func: Function, args: Vec<Expr>) -> Expr {
    Expr::Call {
        func,
        args,
        span: Span::default(),
    }
}

fn prop_condition(refs: Vec<String>) -> BoxedStrategy<PropertyCondition> {
    let eqne = prop_oneof![Just(CmpOp::Eq), Just(CmpOp::Ne)];
    let any_op = prop_oneof![
        Just(CmpOp::Eq),
        Just(CmpOp::Ne),
        Just(CmpOp::Lt),
        Just(CmpOp::Le),
        Just(CmpOp::Gt),
        Just(CmpOp::Ge)
    ];
    let pc = |property, op, value| PropertyCondition {
        property,
        op,
        value,
        span: Span::default(),
    };
    prop_oneof![
        (eqne.clone(), text()).prop_map(move |(op, t)| pc(ClaimProperty::Type, op, Expr::Str(t))),
        (
            eqne.clone(),
            proptest::sample::select(vec![
                "AttestationService",
                "AttestationPolicy",
                "CustomClaim"
            ])
        )
            .prop_map(move |(op, i)| pc(
                ClaimProperty::Issuer,
                op,
                Expr::Str(i.to_string())
            )),
        (
            eqne.clone(),
            proptest::sample::select(vec!["String", "Integer", "Boolean"])
        )
            .prop_map(move |(op, i)| pc(
                ClaimProperty::ValueType,
                op,
                Expr::Str(i.to_string())
            )),
        (any_op, any::<i64>()).prop_map(move |(op, i)| pc(ClaimProperty::Value, op, Expr::Int(i))),
        (eqne, value_expr(refs)).prop_map(move |(op, v)| pc(ClaimProperty::Value, op, v)),
    ]
    .boxed()
}

/// Conditions with identifiers c0, c1, … in scope for later conditions.
fn conditions() -> BoxedStrategy<(Vec<Condition>, Vec<String>)> {
    proptest::collection::vec((0u8..3, any::<proptest::sample::Index>()), 0..4)
        .prop_flat_map(|shapes| {
            let mut strategies: Vec<BoxedStrategy<Condition>> = Vec::new();
            let mut scope: Vec<String> = Vec::new();
            for (i, (kind, _)) in shapes.iter().enumerate() {
                let (ident, negated) = match kind {
                    0 => (Some(format!("c{i}")), false),
                    1 => (None, false),
                    _ => (None, true),
                };
                let refs = scope.clone();
                let id2 = ident.clone();
                strategies.push(
                    proptest::collection::vec(prop_condition(refs), 1..4)
                        .prop_map(move |props| Condition {
                            ident: id2.clone(),
                            negated,
                            props,
                            span: Span::default(),
                        })
                        .boxed(),
                );
                if let Some(id) = ident {
                    scope.push(id);
                }
            }
            (strategies, Just(scope))
        })
        .boxed()
}

fn claim_spec(scope: Vec<String>) -> BoxedStrategy<ClaimSpec> {
    let new = (text(), value_expr(scope.clone())).prop_map(|(t, value)| ClaimSpec::New {
        claim_type: Expr::Str(t),
        value,
    });
    if scope.is_empty() {
        return new.boxed();
    }
    prop_oneof![
        new,
        proptest::sample::select(scope).prop_map(|ident| ClaimSpec::Claim {
            ident,
            span: Span::default()
        })
    ]
    .boxed()
}

fn rule(kind: SectionKind) -> BoxedStrategy<Rule> {
    conditions()
        .prop_flat_map(move |(conds, scope)| {
            let action: BoxedStrategy<Action> = match kind {
                SectionKind::Configuration => prop_oneof![
                    (0i64..=0xFF_FFFF).prop_map(|m| Action::IssueProperty(ClaimSpec::New {
                        claim_type: Expr::Str("required_pcr_mask".into()),
                        value: Expr::Int(m)
                    })),
                    any::<bool>().prop_map(|b| Action::IssueProperty(ClaimSpec::New {
                        claim_type: Expr::Str("require_valid_aik_cert".into()),
                        value: Expr::Bool(b)
                    })),
                ]
                .boxed(),
                SectionKind::Authorization => prop_oneof![
                    Just(Action::Permit),
                    Just(Action::Deny),
                    claim_spec(scope).prop_map(Action::Add),
                ]
                .boxed(),
                SectionKind::Issuance => prop_oneof![
                    claim_spec(scope.clone()).prop_map(Action::Add),
                    claim_spec(scope).prop_map(Action::Issue),
                    (1i64..=525_600).prop_map(|m| Action::IssueProperty(ClaimSpec::New {
                        claim_type: Expr::Str("report_validity_in_minutes".into()),
                        value: Expr::Int(m)
                    })),
                    any::<bool>().prop_map(|b| Action::IssueProperty(ClaimSpec::New {
                        claim_type: Expr::Str("omit_x5c".into()),
                        value: Expr::Bool(b)
                    })),
                ]
                .boxed(),
            };
            (Just(conds), action)
        })
        .prop_map(|(conditions, action)| Rule {
            conditions,
            action,
            span: Span::default(),
        })
        .boxed()
}

fn section(kind: SectionKind) -> impl Strategy<Value = Section> {
    proptest::collection::vec(rule(kind), 0..4).prop_map(move |rules| Section {
        kind,
        rules,
        span: Span::default(),
    })
}

fn policy_strategy() -> impl Strategy<Value = PolicyAst> {
    (
        proptest::option::of(section(SectionKind::Configuration)),
        proptest::option::of(section(SectionKind::Authorization)),
        proptest::option::of(section(SectionKind::Issuance)),
    )
        .prop_map(|(c, a, i)| PolicyAst {
            version: Version::V1_2,
            sections: [c, a, i].into_iter().flatten().collect(),
        })
}
