//! MAA policy evaluation against the same policy in Rego, evaluated by
//! `regorus`, over the claims of a real AzureGuest SEV-SNP token.
//!
//! Run: `cargo bench -p tee-attest-benches --bench policy -- --warm-up-time 1 --measurement-time 3`
#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tee_attest_policy::jws::unverified_payload;
use tee_attest_policy::{ClaimSet, Issuer, Policy};

/// A typical CVM policy: refuse debuggable VMs, require a compliant SEV-SNP
/// CVM with secure boot, and issue five claims.
const MAA_POLICY: &str = r#"version=1.0;
authorizationrules
{
    [type=="x-ms-isolation-tee.x-ms-sevsnpvm-is-debuggable", value==true] => deny();
    [type=="x-ms-azurevm-bootdebug-enabled", value==true] => deny();
    [type=="x-ms-isolation-tee.x-ms-attestation-type", value=="sevsnpvm"] &&
    [type=="x-ms-isolation-tee.x-ms-compliance-status", value=="azure-compliant-cvm"] &&
    [type=="secureboot", value==true] => permit();
};
issuancerules
{
    c:[type=="x-ms-azurevm-vmid"] => issue(type="vmid", value=c.value);
    c:[type=="x-ms-isolation-tee.x-ms-compliance-status"] => issue(type="compliance", value=c.value);
    c:[type=="x-ms-isolation-tee.x-ms-sevsnpvm-launchmeasurement"] => issue(type="launch-measurement", value=c.value);
    c:[type=="x-ms-isolation-tee.x-ms-sevsnpvm-is-debuggable"] => issue(type="is-debuggable", value=c.value);
    c:[type=="x-ms-isolation-tee.x-ms-runtime.vm-configuration.secure-boot"] => issue(type="secure-boot", value=c.value);
};
"#;

/// The same policy, written for policy version 1.2 with JmesPath over the
/// `x-ms-isolation-tee` JSON claim.
const MAA_POLICY_1_2: &str = r#"version=1.2;
authorizationrules
{
    c:[type=="x-ms-isolation-tee"] => add(type="tee", value=JsonToClaimValue(JmesPath(c.value, "[\"x-ms-attestation-type\", \"x-ms-compliance-status\"] | join(',', @)")));
    c:[type=="x-ms-isolation-tee"] => add(type="debuggable", value=JsonToClaimValue(JmesPath(c.value, "\"x-ms-sevsnpvm-is-debuggable\"")));
    [type=="debuggable", value==true] => deny();
    [type=="x-ms-azurevm-bootdebug-enabled", value==true] => deny();
    [type=="tee", value=="sevsnpvm,azure-compliant-cvm"] && [type=="secureboot", value==true] => permit();
};
issuancerules
{
    c:[type=="x-ms-azurevm-vmid"] => issue(type="vmid", value=c.value);
    c:[type=="x-ms-isolation-tee"] => issue(type="compliance", value=JsonToClaimValue(JmesPath(c.value, "\"x-ms-compliance-status\"")));
    c:[type=="x-ms-isolation-tee"] => issue(type="launch-measurement", value=JsonToClaimValue(JmesPath(c.value, "\"x-ms-sevsnpvm-launchmeasurement\"")));
    c:[type=="debuggable"] => issue(type="is-debuggable", value=c.value);
    c:[type=="x-ms-isolation-tee"] => issue(type="secure-boot", value=JsonToClaimValue(JmesPath(c.value, "\"x-ms-runtime\".\"vm-configuration\".\"secure-boot\"")));
};
"#;

/// The same policy in Rego.
const REGO_POLICY: &str = r#"package cvm

import rego.v1

tee := input["x-ms-isolation-tee"]

deny if tee["x-ms-sevsnpvm-is-debuggable"] == true

deny if input["x-ms-azurevm-bootdebug-enabled"] == true

default allow := false

allow if {
	not deny
	tee["x-ms-attestation-type"] == "sevsnpvm"
	tee["x-ms-compliance-status"] == "azure-compliant-cvm"
	input.secureboot == true
}

issued := {
	"vmid": input["x-ms-azurevm-vmid"],
	"compliance": tee["x-ms-compliance-status"],
	"launch-measurement": tee["x-ms-sevsnpvm-launchmeasurement"],
	"is-debuggable": tee["x-ms-sevsnpvm-is-debuggable"],
	"secure-boot": tee["x-ms-runtime"]["vm-configuration"]["secure-boot"],
} if allow

result := {"allow": allow, "claims": issued}
"#;

fn token_claims() -> serde_json::Value {
    let jwt = tee_attest_testkit::vector("maa/azureguest-snp-token.jwt");
    let jwt = String::from_utf8(jwt).expect("token is text");
    unverified_payload(&jwt).expect("token body")
}

fn bench(c: &mut Criterion) {
    let json = token_claims();
    let claims = ClaimSet::from_json_object(&json, Issuer::AttestationService).expect("claims");
    let policy = Policy::parse(MAA_POLICY).expect("policy");
    let policy_1_2 = Policy::parse(MAA_POLICY_1_2).expect("policy 1.2");

    // Both engines must agree before they are timed.
    let outcome = policy.evaluate(&claims).expect("evaluate");
    assert!(outcome.authorized);
    assert_eq!(outcome.outgoing.len(), 5);
    let outcome_1_2 = policy_1_2.evaluate(&claims).expect("evaluate 1.2");
    assert!(outcome_1_2.authorized);
    assert_eq!(outcome_1_2.outgoing_json(), outcome.outgoing_json());

    let mut engine = regorus::Engine::new();
    engine
        .add_policy("cvm.rego".to_string(), REGO_POLICY.to_string())
        .expect("rego policy");
    let input = regorus::Value::from(json.clone());
    engine.set_input(input.clone());
    let r = engine
        .eval_rule("data.cvm.result".to_string())
        .expect("rego eval");
    assert_eq!(r["allow"], regorus::Value::from(true));
    let rego_claims: serde_json::Value =
        serde_json::from_str(&r["claims"].to_json_str().expect("json")).expect("json");
    assert_eq!(
        rego_claims,
        serde_json::Value::Object(outcome.outgoing_json())
    );

    let mut g = c.benchmark_group("policy");
    g.bench_function("maa_parse", |b| {
        b.iter(|| Policy::parse(black_box(MAA_POLICY)).expect("parse"))
    });
    g.bench_function("maa_eval", |b| {
        b.iter(|| policy.evaluate(black_box(&claims)).expect("eval"))
    });
    g.bench_function("maa_claims_from_json_and_eval", |b| {
        b.iter(|| {
            let set = ClaimSet::from_json_object(black_box(&json), Issuer::AttestationService)
                .expect("claims");
            policy.evaluate(&set).expect("eval")
        })
    });
    g.bench_function("maa_eval_1_2_jmespath", |b| {
        b.iter(|| policy_1_2.evaluate(black_box(&claims)).expect("eval"))
    });
    g.bench_function("regorus_eval", |b| {
        b.iter(|| {
            engine.set_input(black_box(input.clone()));
            engine
                .eval_rule("data.cvm.result".to_string())
                .expect("eval")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
