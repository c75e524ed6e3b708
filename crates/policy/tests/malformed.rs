//! Malformed policies: each gives a located error (line, column) that says
//! what was expected, what was found, and how to fix it.
//!
//! In each case `¦` marks where the error must be reported; it is removed
//! before the text is parsed.

use tee_attest_policy::{Policy, PolicyError};

const MARK: char = '¦';

/// The text without the mark, and the mark's 1-based line and column.
fn locate(marked: &str) -> (String, u32, u32) {
    let (mut line, mut col) = (1u32, 1u32);
    for c in marked.chars() {
        if c == MARK {
            return (marked.replace(MARK, ""), line, col);
        }
        if c == '\n' {
            line += 1;
            col = 1;
        } else {
            col += 1;
        }
    }
    panic!("case without a mark: {marked}");
}

const V10: &str = "version=1.0;\n";
const V11: &str = "version=1.1;\n";
const V12: &str = "version=1.2;\n";

/// (policy with the error marked, text the message must contain)
fn cases() -> Vec<(String, &'static str)> {
    let auth = |v: &str, body: &str| format!("{v}authorizationrules {{\n{body}\n}};\n");
    let iss = |v: &str, body: &str| {
        format!("{v}authorizationrules {{ => permit(); }};\nissuancerules {{\n{body}\n}};\n")
    };
    let cfg = |body: &str| format!("{V11}configurationrules {{\n{body}\n}};\n");
    vec![
        // version line
        ("¦".into(), "start the policy with a version line"),
        (
            "¦authorizationrules { => permit(); };".into(),
            "version line",
        ),
        (
            "version¦==1.0;".into(),
            "write the version line as `version=1.0;`",
        ),
        ("version=¦2.0;".into(), "versions are 1.0, 1.1 and 1.2"),
        ("version=¦1;".into(), "minor digit"),
        ("version=1.0¦".into(), "end the version line with `;`"),
        ("VERSION = 1.0;\n¦issuance {};".into(), "sections are"),
        // sections
        (
            format!("{V10}¦authorisationrules {{ }};"),
            "did you mean `authorizationrules`?",
        ),
        (
            format!("{V10}¦configurationrules {{ }};"),
            "needs `version=1.1;`",
        ),
        (
            format!("{V11}issuancerules {{ }};\n¦authorizationrules {{ }};"),
            "move `authorizationrules` before `issuancerules`",
        ),
        (
            format!("{V10}authorizationrules {{ }};\n¦authorizationrules {{ }};"),
            "merge the rules",
        ),
        (
            format!("{V10}authorizationrules {{ }}¦"),
            "close each section with `};`",
        ),
        (
            format!("{V10}authorizationrules {{ }}\n¦issuancerules {{ }};"),
            "close each section with `};`",
        ),
        (
            format!("{V10}authorizationrules {{ => permit(); ¦"),
            "close the section",
        ),
        (
            format!("{V10}authorizationrules ¦=> permit(); }};"),
            "open the section",
        ),
        (format!("{V10}¦=> permit();"), "rules go inside a section"),
        // conditions
        (
            auth(V10, "[type¦=\"a\"] => permit();"),
            "use `==` to compare in a condition",
        ),
        (
            auth(V10, "[type==\"a\", value¦=true] => permit();"),
            "use `==` to compare",
        ),
        (
            auth(V10, "[type==\"a\"] => permit()\n¦}"),
            "end each rule with `;`",
        ),
        (
            auth(V10, "[type==\"a\"] ¦permit();"),
            "a rule is `conditions => action;`",
        ),
        (
            auth(V10, "[type==\"a\"] ¦& [type==\"b\"] => permit();"),
            "joined with `&&`",
        ),
        (
            auth(V10, "[type==\"a\"] ¦|| [type==\"b\"] => permit();"),
            "no `||`",
        ),
        (auth(V10, "[type==¦\"abc] => permit();"), "close the string"),
        (
            auth(V10, "[type==\"a¦\\q\"] => permit();"),
            "for a backslash",
        ),
        (auth(V10, "[type==¦'a'] => permit();"), "double quotes"),
        (
            auth(V10, "[¦kind==\"a\"] => permit();"),
            "claim properties are type, value, issuer and valueType",
        ),
        (
            auth(V10, "[¦tpye==\"a\"] => permit();"),
            "did you mean `type`?",
        ),
        (
            auth(V10, "[type¦>\"a\"] => permit();"),
            "compare it with `==` or `!=`",
        ),
        (
            auth(V10, "[type==\"a\", value>=¦\"b\"] => permit();"),
            "compares integers",
        ),
        (
            auth(V10, "[type==\"a\", value<¦true] => permit();"),
            "compares integers",
        ),
        (auth(V10, "[type==¦5] => permit();"), "quote the value"),
        (
            auth(V10, "[type==\"a\", issuer==¦\"Attestation\"] => permit();"),
            "issuers are AttestationService",
        ),
        (
            auth(
                V10,
                "[type==\"a\", issuer==¦\"attestationservice\"] => permit();",
            ),
            "case matters",
        ),
        (
            auth(V10, "[type==\"a\", valueType==¦\"Int\"] => permit();"),
            "value types are String, Integer and Boolean",
        ),
        (auth(V10, "[¦] => permit();"), "empty condition"),
        (
            auth(V10, "[type==\"a\"] ¦[type==\"b\"] => permit();"),
            "join conditions with `&&`",
        ),
        (
            auth(V10, "[type==\"a\" ¦&& value==1] => permit();"),
            "separate properties with `,`",
        ),
        (
            auth(V10, "[type==\"a\" ¦value==1] => permit();"),
            "separate properties with `,`",
        ),
        (
            auth(V10, "c¦[type==\"a\"] => permit();"),
            "name a condition with a colon",
        ),
        (
            auth(V10, "¦type==\"a\" => permit();"),
            "conditions are written in brackets",
        ),
        (
            auth(V10, "c:[type==\"a\"] && ¦c:[type==\"b\"] => permit();"),
            "already names a condition",
        ),
        (
            auth(V10, "¦true:[type==\"a\"] => permit();"),
            "is a boolean value",
        ),
        (
            auth(V10, "[type==\"a\", value==¦d.value] => permit();"),
            "name a condition `d:[…]`",
        ),
        (
            auth(V10, "c:[type==\"a\", value==¦c.value] => permit();"),
            "undefined identifier `c`",
        ),
        (
            auth(
                V10,
                "c:[type==\"a\"] && [type==\"b\", value==¦c] => permit();",
            ),
            "refer to a property of the claim: `c.value`",
        ),
        (
            auth(
                V10,
                "c:[type==\"a\"] && [type==\"b\", value==c.¦val] => permit();",
            ),
            "refer to a property",
        ),
        (
            auth(V10, "[type==¦abc] => permit();"),
            "quote text as a string",
        ),
        (
            auth(V10, "[type==\"a\", value==¦<product-id>] => permit();"),
            "placeholder",
        ),
        (
            auth(V10, "[type==\"a\", value==¦1.5] => permit();"),
            "no fractions",
        ),
        (
            auth(
                V10,
                "[type==\"a\", value==¦99999999999999999999] => permit();",
            ),
            "fits in 64 bits",
        ),
        (
            auth(V10, "¦![type==\"a\"] => permit();"),
            "`!` absence test needs `version=1.2;`",
        ),
        (
            auth(V12, "¦c:![type==\"a\"] => permit();"),
            "cannot be named",
        ),
        // actions
        (
            auth(V10, "=> ¦issue(type=\"a\", value=1);"),
            "`issue` belongs in issuancerules",
        ),
        (
            iss(V10, "=> ¦permit();"),
            "`permit` belongs in authorizationrules",
        ),
        (cfg("=> ¦deny();"), "`deny` belongs in authorizationrules"),
        (
            cfg("=> ¦add(type=\"a\", value=1);"),
            "an action allowed in configurationrules",
        ),
        (auth(V10, "=> ¦permitt();"), "did you mean `permit`?"),
        (auth(V10, "=> permit(¦true);"), "takes no arguments"),
        (auth(V10, "=> permit¦;"), "called with parentheses"),
        (
            iss(V10, "=> issue(type=\"a\"¦);"),
            "needs both type= and value=",
        ),
        (
            iss(V10, "=> issue(type¦==\"a\", value=1);"),
            "use a single `=` to set a property",
        ),
        (
            iss(V10, "=> issue(¦issuer=\"x\", value=1);"),
            "cannot be set",
        ),
        (
            iss(V10, "=> issue(type=¦5, value=1);"),
            "a claim type is a string",
        ),
        (
            iss(V10, "=> issue(type=\"a\", ¦type=\"b\", value=1);"),
            "once each",
        ),
        (iss(V10, "=> issue(claim=¦x);"), "undefined identifier `x`"),
        (
            iss(V10, "=> issue(¦\"PlatformAttested\", value=true);"),
            "type=\"PlatformAttested\"",
        ),
        (
            iss(V10, "c:[type==\"a\"] => issueproperty(¦claim=c);"),
            "issueproperty sets one property",
        ),
        (
            iss(V10, "=> issueproperty(type=¦\"validity\", value=1);"),
            "issuancerules sets report_validity_in_minutes, omit_x5c",
        ),
        (
            iss(
                V10,
                "=> issueproperty(type=¦\"required_pcr_mask\", value=1);",
            ),
            "is set in configurationrules",
        ),
        (
            cfg("=> issueproperty(type=¦\"omit_x5c\", value=true);"),
            "is set in issuancerules",
        ),
        (
            iss(V10, "=> issueproperty(type=\"omit_x5c\", value=¦1);"),
            "`omit_x5c` takes a boolean",
        ),
        (
            iss(
                V10,
                "=> issueproperty(type=\"report_validity_in_minutes\", value=¦600000);",
            ),
            "at most one year",
        ),
        (
            iss(
                V10,
                "=> issueproperty(type=\"report_validity_in_minutes\", value=¦0);",
            ),
            "at most one year",
        ),
        (
            cfg("=> issueproperty(type=\"required_pcr_mask\", value=¦16777216);"),
            "24 PCRs",
        ),
        (
            cfg("=> issueproperty(type=\"require_valid_aik_cert\", value=¦\"no\");"),
            "takes a boolean",
        ),
        // functions
        (
            iss(
                V10,
                "c:[type==\"a\"] => issue(type=\"b\", value=¦JmesPath(c.value, \"x\"));",
            ),
            "functions need `version=1.2;`",
        ),
        (
            iss(
                V12,
                "c:[type==\"a\"] => issue(type=\"b\", value=¦JmesPat(c.value, \"x\"));",
            ),
            "did you mean `JmesPath`?",
        ),
        (
            iss(
                V12,
                "c:[type==\"a\"] => issue(type=\"b\", value=¦Frobnicate(c.value));",
            ),
            "functions are JmesPath",
        ),
        (
            iss(V12, "=> issue(type=\"b\", value=NegateBool(true, false¦));"),
            "`NegateBool` takes 1",
        ),
        (
            iss(V12, "=> issue(type=\"b\", value=AppendString(\"a\"¦));"),
            "`AppendString` takes 2",
        ),
        (
            iss(V12, "=> issue(type=\"b\", value=NegateBool(¦\"yes\"));"),
            "takes a boolean here",
        ),
        (
            iss(V12, "=> issue(type=\"b\", value=AppendString(\"a\", ¦1));"),
            "takes a string here",
        ),
        (
            iss(
                V12,
                "c:[type==\"a\"] => issue(type=\"b\", value=JmesPath(c.value, ¦\"[?\"));",
            ),
            "JMESPath",
        ),
        (
            iss(
                V12,
                "=> issue(type=\"b\", value=JmesPath(¦\"{foo\", \"a\"));",
            ),
            "escape the quotes",
        ),
        (
            iss(
                V12,
                "=> issue(type=\"b\", value=JsonToClaimValue(¦\"[1,\"));",
            ),
            "escape the quotes",
        ),
        (
            iss(V12, "=> issue(type=\"b\", value=NegateBool(true¦;"),
            "separate arguments with `,`",
        ),
        // lexical
        (format!("{V10}¦/* never closed"), "close the `/*` comment"),
        (
            format!("{V10}¦# not a comment"),
            "remove the stray character",
        ),
    ]
}

#[test]
fn every_malformed_policy_gives_its_located_error() {
    let cases = cases();
    assert!(cases.len() >= 40, "only {} cases", cases.len());
    let mut failures = Vec::new();
    for (marked, want) in &cases {
        let (text, line, col) = locate(marked);
        match Policy::parse(&text) {
            Ok(_) => failures.push(format!("accepted:\n{text}")),
            Err(PolicyError::Syntax(e)) => {
                let msg = e.to_string();
                if (e.line, e.col) != (line, col) || !msg.contains(want) {
                    failures.push(format!(
                        "want {line}:{col} containing {want:?}\n got {msg}\n in:\n{text}"
                    ));
                }
                assert!(!e.expected.is_empty() && !e.found.is_empty() && !e.hint.is_empty());
                assert_eq!(
                    tee_attest_core::CodedError::code(&PolicyError::Syntax(e)).number(),
                    9
                );
            }
            Err(other) => failures.push(format!("not a syntax error: {other}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let deep = format!(
        "version=1.2;\nissuancerules {{ => issue(type=\"x\", value={}true{}); }};",
        "NegateBool(".repeat(10_000),
        ")".repeat(10_000)
    );
    let e = Policy::parse(&deep).unwrap_err();
    assert!(e.to_string().contains("nested at most 32 deep"), "{e}");
    let q = format!(
        "version=1.2;\nissuancerules {{ c:[type==\"a\"] => issue(type=\"x\", value=JmesPath(c.value, \"{}a{}\")); }};",
        "(".repeat(100_000),
        ")".repeat(100_000)
    );
    let e = Policy::parse(&q).unwrap_err();
    assert!(e.to_string().contains("JMESPath query nested"), "{e}");
    // Nesting within the limit is fine.
    let ok = format!(
        "version=1.2;\nissuancerules {{ => issue(type=\"x\", value={}true{}); }};",
        "NegateBool(".repeat(31),
        ")".repeat(31)
    );
    Policy::parse(&ok).unwrap();
}

#[test]
fn policy_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Policy>();
    assert_send_sync::<tee_attest_policy::ReleasePolicy>();
}
