//! The policy hash of MAA's `x-ms-policy-hash` claim.

use aws_lc_rs::digest;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// `BASE64URL(SHA256(UTF8(BASE64URL(UTF8(policy text)))))`, unpadded: the
/// value of `x-ms-policy-hash` for a policy with this text.
///
/// The inner `BASE64URL(UTF8(text))` is also exactly the `AttestationPolicy`
/// member of a policy JWS, so the hash of a signed policy is the hash of the
/// policy text it carries.
pub fn policy_hash(text: &str) -> String {
    let inner = URL_SAFE_NO_PAD.encode(text.as_bytes());
    let d = digest::digest(&digest::SHA256, inner.as_bytes());
    URL_SAFE_NO_PAD.encode(d.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    // Computed independently with python3:
    //   t = "version=1.0;authorizationrules{=>permit();};"
    //   i = base64.urlsafe_b64encode(t.encode()).rstrip(b"=")
    //   base64.urlsafe_b64encode(hashlib.sha256(i).digest()).rstrip(b"=")
    const TEXT: &str = "version=1.0;authorizationrules{=>permit();};";
    const HASH: &str = "E95Y_r0pFtvJNT3sQgH76Kae5PHCIW0NQxT-E-a1TQA";
    // The SPEC.md §6 sample policy, as written there (with its line breaks).
    const SPEC_HASH: &str = "jCS2qH9Y3bi_TOmCgVVZkxHEJ7cUuasrp1pJluhyavU";

    #[test]
    fn hash_matches_independent_computation() {
        assert_eq!(policy_hash(TEXT), HASH);
        assert_eq!(policy_hash(crate::tests_support::SPEC_SAMPLE), SPEC_HASH);
        assert_ne!(policy_hash(TEXT), policy_hash(&format!("{TEXT} ")));
    }
}
