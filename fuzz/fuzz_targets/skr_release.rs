//! Key Vault SKR release policies: parse (`anyOf`/`allOf` trees, authority
//! rules, claim conditions) and evaluation over a token's claims.
//!
//! Input: `split_text(data, 3)` = [policy JSON, token claims JSON, a
//! dotted claim path].
#![no_main]

use libfuzzer_sys::fuzz_target;
use tee_attest_fuzz::split_text;
use tee_attest_policy::release::claim_at;
use tee_attest_policy::ReleasePolicy;

fuzz_target!(|data: &[u8]| {
    let p = split_text(data, 3);
    let claims: serde_json::Value = serde_json::from_slice(p[1]).unwrap_or_default();
    if let Ok(path) = std::str::from_utf8(p[2]) {
        let _ = claim_at(&claims, path);
    }
    let Ok(text) = std::str::from_utf8(p[0]) else {
        return;
    };
    let Ok(policy) = ReleasePolicy::parse(text) else {
        return;
    };
    let d = policy.evaluate(&claims);
    let _ = d.to_string();
    if d.released {
        assert!(
            d.reasons.is_empty(),
            "a release with reasons against it: {d}"
        );
    }
});
