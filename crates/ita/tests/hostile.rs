//! Hostile input never panics, and a mutated token is never accepted:
//! property tests over arbitrary and mutated tokens, JWKS documents, nonce
//! answers and claims.

mod common;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use common::*;
use proptest::prelude::*;
use serde_json::json;
use tee_attest_core::CodedError;
use tee_attest_ita::{Expectations, ItaClaims, Jwks, KeyTrust, VerifierNonce};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

/// One good token per run (signing is the slow part).
fn token() -> &'static str {
    static T: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    T.get_or_init(good)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn arbitrary_text_is_refused_without_panicking(s in ".{0,600}") {
        let r = validator().validate_cached(&s, Expectations::none());
        prop_assert!(r.is_err());
        let code = r.unwrap_err().code().number();
        prop_assert!([6, 7, 22, 23].contains(&code), "code {}", code);
    }

    #[test]
    fn arbitrary_three_part_tokens_are_refused(
        h in proptest::collection::vec(any::<u8>(), 0..200),
        p in proptest::collection::vec(any::<u8>(), 0..400),
        sig in proptest::collection::vec(any::<u8>(), 0..400),
    ) {
        let t = format!("{}.{}.{}", b64u(&h), b64u(&p), b64u(&sig));
        prop_assert!(validator().validate_cached(&t, Expectations::none()).is_err());
    }

    #[test]
    fn json_parts_of_any_shape_are_refused(
        alg in prop_oneof![
            Just("PS384".to_string()),
            Just("RS256".to_string()),
            Just("none".to_string()),
            Just("HS256".to_string()),
            ".{0,8}",
        ],
        extra in proptest::collection::btree_map("[a-z]{1,6}", any::<i64>(), 0..6),
        claims_json in prop_oneof![
            Just(claims().to_string()),
            ".{0,200}",
            Just("{\"iss\":\"Intel Trust Authority\",\"exp\":1e308}".to_string()),
        ],
    ) {
        let mut h = json!({"alg": alg, "kid": KID});
        for (k, v) in extra {
            h[k] = json!(v);
        }
        // Signed with a random signature: only well-formed prefixes get
        // as far as the signature check, and none passes it.
        let t = format!(
            "{}.{}.{}",
            b64u(h.to_string().as_bytes()),
            b64u(claims_json.as_bytes()),
            b64u(&[7u8; 384])
        );
        prop_assert!(validator().validate_cached(&t, Expectations::none()).is_err());
    }

    #[test]
    fn a_mutated_token_is_never_accepted(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4)
    ) {
        let original = token();
        let mut bytes = original.as_bytes().to_vec();
        for (at, byte, kind) in edits {
            if bytes.is_empty() {
                break;
            }
            let i = at.index(bytes.len());
            match kind {
                0 => bytes[i] = byte,
                1 => { bytes.remove(i); }
                _ => bytes.insert(i, byte),
            }
        }
        let Ok(s) = String::from_utf8(bytes) else { return Ok(()); };
        // Whitespace at the ends is trimmed; anything else must change the
        // verdict.
        if s.trim() == original {
            return Ok(());
        }
        let r = validator().validate_cached(&s, Expectations::none());
        prop_assert!(r.is_err(), "accepted a mutation: {}", s);
    }

    #[test]
    fn truncations_are_refused(cut in 0usize..2000) {
        let t = token();
        let cut = cut.min(t.len() - 1);
        prop_assert!(validator().validate_cached(&t[..cut], Expectations::none()).is_err());
    }

    #[test]
    fn jwks_documents_never_panic(doc in ".{0,400}", x5c in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..4)) {
        let _ = Jwks::parse(doc.as_bytes(), &KeyTrust::AsServed);
        let chain: Vec<String> = x5c.iter().map(|c| STANDARD.encode(c)).collect();
        let mut k = pki().jwk(KID, None);
        k["x5c"] = json!(chain);
        let d = json!({"keys": [k]}).to_string();
        for trust in [KeyTrust::AsServed, KeyTrust::Pinned(pki().roots())] {
            let set = Jwks::parse(d.as_bytes(), &trust).unwrap();
            prop_assert_eq!(set.len(), 1);
        }
    }

    #[test]
    fn mutated_certificates_never_chain(at in any::<prop::sample::Index>(), byte in any::<u8>(), which in 0usize..3) {
        let p = pki();
        let mut ders = [p.leaf_der.clone(), p.ca_der.clone(), p.root_der.clone()];
        let i = at.index(ders[which].len());
        if ders[which][i] == byte {
            return Ok(());
        }
        ders[which][i] = byte;
        let mut k = p.jwk(KID, None);
        k["x5c"] = json!(ders.iter().map(|d| STANDARD.encode(d)).collect::<Vec<_>>());
        let d = json!({"keys": [k]}).to_string();
        let set = Jwks::parse(d.as_bytes(), &KeyTrust::Pinned(p.roots())).unwrap();
        // A changed root is not the pinned one and does not verify under
        // it; a changed leaf or CA no longer verifies (certificates must be
        // canonical DER, so no change is without meaning).
        prop_assert_ne!(set.is_usable(KID), Some(true), "mutated x5c[{}] accepted", which);
    }

    #[test]
    fn nonce_answers_and_claims_never_panic(body in ".{0,300}", bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = VerifierNonce::parse(body.as_bytes());
        let _ = VerifierNonce::parse(&bytes);
        let _ = ItaClaims::from_json(body.as_bytes());
        let _ = ItaClaims::from_json(&bytes);
    }
}
