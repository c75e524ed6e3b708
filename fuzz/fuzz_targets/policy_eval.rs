//! The policy evaluator over a claim set: authorization, issuance (claims,
//! JmesPath, JsonToClaimValue, ...), properties and configuration rules.
//!
//! Input: `split_text(data, 2)` = [policy text, claims JSON (an object of
//! claims, or an array of {type, value, issuer})].
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_fuzz::split_text;
use tee_attest_policy::{ClaimSet, Issuer, Policy};

fuzz_target!(|data: &[u8]| {
    let p = split_text(data, 2);
    let (Ok(text), Ok(claims)) = (std::str::from_utf8(p[0]), serde_json::from_slice(p[1])) else {
        return;
    };
    let Ok(policy) = Policy::parse(text) else {
        return;
    };
    let sets = [
        ClaimSet::from_json(&claims),
        ClaimSet::from_json_object(&claims, Issuer::AttestationPolicy),
    ];
    for set in sets.into_iter().flatten() {
        if let Ok(o) = policy.evaluate(&set) {
            let _ = o.outgoing_json();
            let _ = o.summary();
            let _ = o.properties.validity_minutes();
            let _ = o.properties.omit_x5c();
            let _ = o.configuration.required_pcr_mask();
            let _ = o.configuration.require_valid_aik_cert();
        }
    }
});
