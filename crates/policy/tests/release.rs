//! Azure Key Vault secure-key-release policies, with the real CVM release
//! policy and the real AzureGuest token of the shared test vectors.

use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest_policy::{PolicyError, ReleasePolicy};

fn cvm_policy() -> ReleasePolicy {
    let text = tee_attest_testkit::vector("maa/skr-release-policy-cvm.json");
    ReleasePolicy::parse(std::str::from_utf8(&text).unwrap()).unwrap()
}

fn token_claims() -> Value {
    let jwt = tee_attest_testkit::vector("maa/azureguest-snp-token.jwt");
    let jwt = String::from_utf8(jwt).unwrap();
    let payload = jwt.trim().split('.').nth(1).unwrap();
    let body = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[test]
fn real_cvm_policy_releases_to_the_real_token() {
    let p = cvm_policy();
    assert_eq!(p.version, "1.0.0");
    assert_eq!(p.rules.len(), 26);
    let claims = token_claims();
    // iss is "https://sharedweu.weu.attest.azure.net"; the policy's rule
    // says ".../" with a trailing slash: still the same authority.
    let d = p.evaluate(&claims);
    assert!(d.released, "{d}");
    let i = d.rule.unwrap();
    assert_eq!(
        p.rules[i].authority,
        "https://sharedweu.weu.attest.azure.net/"
    );
}

#[test]
fn refusals_say_which_condition_failed() {
    let p = cvm_policy();
    let mut claims = token_claims();
    claims["x-ms-isolation-tee"]["x-ms-compliance-status"] = json!("nope");
    let d = p.evaluate(&claims);
    assert!(!d.released);
    let why = d.to_string();
    assert!(
        why.contains("x-ms-isolation-tee.x-ms-compliance-status"),
        "{why}"
    );
    assert!(why.contains("\"nope\""), "{why}");
    assert!(why.contains(".allOf[1]"), "{why}");

    let mut claims = token_claims();
    claims["x-ms-isolation-tee"]["x-ms-attestation-type"] = json!("sgx");
    let why = p.evaluate(&claims).to_string();
    assert!(
        why.contains("none of anyOf[10].allOf[0].anyOf holds"),
        "{why}"
    );

    let mut claims = token_claims();
    claims["x-ms-isolation-tee"]
        .as_object_mut()
        .unwrap()
        .remove("x-ms-compliance-status");
    let why = p.evaluate(&claims).to_string();
    assert!(why.contains("is missing"), "{why}");

    let mut claims = token_claims();
    claims["iss"] = json!("https://evil.example");
    let d = p.evaluate(&claims);
    assert!(!d.released);
    assert!(d.to_string().contains("no rule has the token issuer"));

    let mut claims = token_claims();
    claims.as_object_mut().unwrap().remove("iss");
    assert!(p.evaluate(&claims).to_string().contains("no `iss`"));
}

#[test]
fn operators() {
    let policy = |cond: Value| {
        ReleasePolicy::from_json(&json!({
            "version": "1.0.0",
            "anyOf": [{"authority": "https://a.example", "allOf": [cond]}]
        }))
        .unwrap()
    };
    let claims = json!({
        "iss": "https://A.example/",
        "svn": 5, "name": "x", "flag": true,
        "nested": {"deep": {"v": 2}}, "dotted.name": "top"
    });
    let cases = [
        (json!({"claim": "svn", "equals": 5}), true),
        (json!({"claim": "svn", "equals": 5.0}), true),
        (json!({"claim": "svn", "notEquals": 5}), false),
        (json!({"claim": "svn", "less": 6}), true),
        (json!({"claim": "svn", "less": 5}), false),
        (json!({"claim": "svn", "lessOrEquals": 5}), true),
        (json!({"claim": "svn", "greater": 4}), true),
        (json!({"claim": "svn", "greaterOrEquals": 6}), false),
        (json!({"claim": "name", "greater": 1}), false),
        (json!({"claim": "name", "equals": "x"}), true),
        (json!({"claim": "name", "equals": "X"}), false),
        (json!({"claim": "flag", "equals": true}), true),
        (json!({"claim": "flag", "equals": "true"}), false),
        (json!({"claim": "nested.deep.v", "equals": 2}), true),
        (json!({"claim": "dotted.name", "equals": "top"}), true),
        (json!({"claim": "missing", "notEquals": "x"}), false),
        (json!({"claim": "missing", "exists": false}), true),
        (json!({"claim": "missing", "exists": true}), false),
        (json!({"claim": "svn", "exists": true}), true),
        (
            json!({"anyOf": [{"claim": "svn", "equals": 1}, {"claim": "name", "equals": "x"}]}),
            true,
        ),
        (
            json!({"allOf": [{"claim": "svn", "equals": 5}, {"claim": "name", "equals": "y"}]}),
            false,
        ),
    ];
    for (cond, want) in cases {
        let d = policy(cond.clone()).evaluate(&claims);
        assert_eq!(d.released, want, "{cond} → {d}");
    }
}

#[test]
fn malformed_release_policies_are_refused_with_their_path() {
    let bad = [
        (json!([]), "$", "JSON object"),
        (json!({"anyOf": []}), "$", "missing `version`"),
        (
            json!({"version": "2.0.0", "anyOf": []}),
            "version",
            "unsupported version",
        ),
        (json!({"version": "1.0.0"}), "$", "missing `anyOf`"),
        (
            json!({"version": "1.0.0", "anyOf": []}),
            "anyOf",
            "at least one",
        ),
        (
            json!({"version": "1.0.0", "anyOf": [{"allOf": []}]}),
            "anyOf[0]",
            "authority",
        ),
        (
            json!({"version": "1.0.0", "anyOf": [{"authority": "a"}]}),
            "anyOf[0]",
            "needs `allOf` or `anyOf`",
        ),
        (
            json!({"version": "1.0.0", "anyOf": [{"authority": "a", "allOf": [{"claim": "x"}]}]}),
            "anyOf[0].allOf[0]",
            "needs one operator",
        ),
        (
            json!({"version": "1.0.0", "anyOf": [{"authority": "a", "allOf": [{"claim": "x", "equals": 1, "less": 2}]}]}),
            "anyOf[0].allOf[0]",
            "exactly one operator",
        ),
        (
            json!({"version": "1.0.0", "anyOf": [{"authority": "a", "allOf": [{"claim": "x", "less": "2"}]}]}),
            "anyOf[0].allOf[0]",
            "compares numbers",
        ),
        (
            json!({"version": "1.0.0", "anyOf": [{"authority": "a", "allOf": [{"claim": "x", "exists": "yes"}]}]}),
            "anyOf[0].allOf[0]",
            "true or false",
        ),
        (
            json!({"version": "1.0.0", "anyOf": [{"authority": "a", "allOf": [{"claim": "x", "equal": 1}]}]}),
            "anyOf[0].allOf[0]",
            "unknown member `equal`",
        ),
        (
            json!({"version": "1.0.0", "anyOf": [{"authority": "a", "allOf": [{"claim": "a..b", "equals": 1}]}]}),
            "anyOf[0].allOf[0]",
            "empty parts",
        ),
        (
            json!({"version": "1.0.0", "anyOf": [{"authority": "a", "allOf": [{"claim": "x", "equals": {"o": 1}}]}]}),
            "anyOf[0].allOf[0]",
            "a string, a number or a boolean",
        ),
        (
            json!({"version": "1.0.0", "anyOf": [{"authority": "a", "allOf": [{"anyOf": []}]}]}),
            "anyOf[0].allOf[0].anyOf",
            "must not be empty",
        ),
    ];
    for (v, path, msg) in bad {
        match ReleasePolicy::from_json(&v) {
            Err(PolicyError::ReleasePolicy { path: p, message }) => {
                assert_eq!(p, path, "{v}");
                assert!(message.contains(msg), "{v}: {message}");
            }
            other => panic!("{v}: {other:?}"),
        }
    }
    assert!(ReleasePolicy::parse("{not json").is_err());
}
