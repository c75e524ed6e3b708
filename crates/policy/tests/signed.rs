//! Signed (JWS) policies: verification against an independent signer
//! (openssl), our own signing, and every refusal.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use tee_attest_policy::jws::{
    decode_policy_jws, looks_like_jws, pem_to_der, sign_policy, unsigned_policy_jws,
};
use tee_attest_policy::{load_policy, policy_hash, JwsOptions, Policy, PolicyError};

const KEY: &str = include_str!("data/signer-key.pem");
const CERT: &str = include_str!("data/signer-cert.pem");
const OTHER_KEY: &str = include_str!("data/other-key.pem");
const OTHER_CERT: &str = include_str!("data/other-cert.pem");
const OPENSSL_JWS: &str = include_str!("data/openssl-signed.jws");
const OPENSSL_TEXT: &str = include_str!("data/openssl-signed.policy.txt");

const TEXT: &str = "version=1.0;\nauthorizationrules { => permit(); };\n";

fn cert_der(pem: &str) -> Vec<u8> {
    pem_to_der(pem, &["CERTIFICATE"]).unwrap()
}

#[test]
fn verifies_a_jws_signed_by_openssl() {
    let doc = decode_policy_jws(OPENSSL_JWS, &JwsOptions::default()).unwrap();
    assert_eq!(doc.text, OPENSSL_TEXT);
    assert!(doc.was_jws);
    let signer = doc.signer.expect("signed");
    assert_eq!(signer.certificate_der, cert_der(CERT));
    let claim = signer.claim();
    assert_eq!(claim["jwk"]["kty"], "RSA");
    assert_eq!(claim["jwk"]["e"], "AQAB");
    // 2048-bit modulus: 256 bytes, 342 base64url characters.
    assert_eq!(claim["jwk"]["n"].as_str().unwrap().len(), 342);
    Policy::parse(&doc.text).unwrap();
    // Trusted when its certificate is configured …
    let opts = JwsOptions::default().trust(cert_der(CERT));
    assert!(decode_policy_jws(OPENSSL_JWS, &opts).is_ok());
    // … refused when only another signer is.
    let opts = JwsOptions::default().trust(cert_der(OTHER_CERT));
    assert!(matches!(
        decode_policy_jws(OPENSSL_JWS, &opts),
        Err(PolicyError::UntrustedSigner(_))
    ));
}

#[test]
fn sign_then_verify_and_tamper() {
    let jws = sign_policy(TEXT, KEY, CERT).unwrap();
    assert!(looks_like_jws(&jws));
    let doc = load_policy(&jws, &JwsOptions::default().trust(cert_der(CERT))).unwrap();
    assert_eq!(doc.text, TEXT);
    assert!(doc.signer.is_some());

    // Change one character of the payload: the signature no longer verifies.
    let parts: Vec<&str> = jws.split('.').collect();
    let other_payload = URL_SAFE_NO_PAD.encode(
        serde_json::json!({"AttestationPolicy": URL_SAFE_NO_PAD.encode("version=1.0;\nauthorizationrules { => deny(); };\n")}).to_string(),
    );
    let forged = format!("{}.{}.{}", parts[0], other_payload, parts[2]);
    assert!(matches!(
        decode_policy_jws(&forged, &JwsOptions::default()),
        Err(PolicyError::BadSignature)
    ));
    let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
    sig[10] ^= 1;
    let bad_sig = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(sig));
    assert!(matches!(
        decode_policy_jws(&bad_sig, &JwsOptions::default()),
        Err(PolicyError::BadSignature)
    ));
    // Signed by the other key but claiming our certificate: refused.
    assert!(
        sign_policy(TEXT, OTHER_KEY, CERT).is_err(),
        "key/cert mismatch"
    );
    let other = sign_policy(TEXT, OTHER_KEY, OTHER_CERT).unwrap();
    let o: Vec<&str> = other.split('.').collect();
    let swapped = format!("{}.{}.{}", parts[0], o[1], o[2]);
    assert!(matches!(
        decode_policy_jws(&swapped, &JwsOptions::default()),
        Err(PolicyError::BadSignature)
    ));
}

#[test]
fn alg_allow_list_and_unsigned_policies() {
    let unsigned = unsigned_policy_jws(TEXT);
    let doc = load_policy(&unsigned, &JwsOptions::default()).unwrap();
    assert_eq!(doc.text, TEXT);
    assert!(doc.signer.is_none());
    // Unsigned refused when signers are configured, or `none` not allowed.
    assert!(matches!(
        load_policy(&unsigned, &JwsOptions::default().trust(cert_der(CERT))),
        Err(PolicyError::UntrustedSigner(_))
    ));
    assert!(matches!(
        load_policy(TEXT, &JwsOptions::default().trust(cert_der(CERT))),
        Err(PolicyError::UntrustedSigner(_))
    ));
    assert!(matches!(
        load_policy(&unsigned, &JwsOptions::default().allow_only(&["RS256"])),
        Err(PolicyError::AlgorithmNotAllowed(a)) if a == "none"
    ));
    // Other algorithms are refused.
    let hs = format!(
        "{}.{}.c2ln",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256"}"#),
        unsigned.split('.').nth(1).unwrap()
    );
    assert!(matches!(
        load_policy(&hs, &JwsOptions::default()),
        Err(PolicyError::AlgorithmNotAllowed(a)) if a == "HS256"
    ));
    // `none` with a signature is malformed.
    let with_sig = format!("{unsigned}c2ln");
    assert!(matches!(
        load_policy(&with_sig, &JwsOptions::default()),
        Err(PolicyError::Jws(_))
    ));
    // Every refusal is code 9.
    let e: tee_attest_core::Error = load_policy(&hs, &JwsOptions::default()).unwrap_err().into();
    assert_eq!(e.code().number(), 9);
}

#[test]
fn raw_text_in_the_payload_is_accepted() {
    let jws = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#),
        URL_SAFE_NO_PAD.encode(serde_json::json!({ "AttestationPolicy": TEXT }).to_string())
    );
    let doc = load_policy(&jws, &JwsOptions::default()).unwrap();
    assert_eq!(doc.text, TEXT);
}

#[test]
fn docs_unsigned_policy_jwt_sample() {
    // "Unsigned Policy for an SGX enclave with PolicyFormat=JWT" (MAA policy
    // examples); its payload JSON has a space after the colon.
    let jws = "eyJhbGciOiJub25lIn0.eyJBdHRlc3RhdGlvblBvbGljeSI6ICJkbVZ5YzJsdmJqMGdNUzR3TzJGMWRHaHZjbWw2WVhScGIyNXlkV3hsYzN0ak9sdDBlWEJsUFQwaUpHbHpMV1JsWW5WbloyRmliR1VpWFNBOVBpQndaWEp0YVhRb0tUdDlPMmx6YzNWaGJtTmxjblZzWlhON1l6cGJkSGx3WlQwOUlpUnBjeTFrWldKMVoyZGhZbXhsSWwwZ1BUNGdhWE56ZFdVb2RIbHdaVDBpYVhNdFpHVmlkV2RuWVdKc1pTSXNJSFpoYkhWbFBXTXVkbUZzZFdVcE8yTTZXM1I1Y0dVOVBTSWtjMmQ0TFcxeWMybG5ibVZ5SWwwZ1BUNGdhWE56ZFdVb2RIbHdaVDBpYzJkNExXMXljMmxuYm1WeUlpd2dkbUZzZFdVOVl5NTJZV3gxWlNrN1l6cGJkSGx3WlQwOUlpUnpaM2d0YlhKbGJtTnNZWFpsSWwwZ1BUNGdhWE56ZFdVb2RIbHdaVDBpYzJkNExXMXlaVzVqYkdGMlpTSXNJSFpoYkhWbFBXTXVkbUZzZFdVcE8yTTZXM1I1Y0dVOVBTSWtjSEp2WkhWamRDMXBaQ0pkSUQwLUlHbHpjM1ZsS0hSNWNHVTlJbkJ5YjJSMVkzUXRhV1FpTENCMllXeDFaVDFqTG5aaGJIVmxLVHRqT2x0MGVYQmxQVDBpSkhOMmJpSmRJRDAtSUdsemMzVmxLSFI1Y0dVOUluTjJiaUlzSUhaaGJIVmxQV011ZG1Gc2RXVXBPMk02VzNSNWNHVTlQU0lrZEdWbElsMGdQVDRnYVhOemRXVW9kSGx3WlQwaWRHVmxJaXdnZG1Gc2RXVTlZeTUyWVd4MVpTazdmVHMifQ.";
    let doc = load_policy(jws, &JwsOptions::default()).unwrap();
    assert!(doc.text.starts_with("version= 1.0;authorizationrules{"));
    let p = Policy::parse(&doc.text).unwrap();
    assert_eq!(p.hash(), policy_hash(&doc.text));
}

#[test]
fn docs_signed_sample_alg_rsa256_is_read_as_rs256() {
    // The "Signed Policy … with PolicyFormat=JWT" sample's header says
    // `"alg":"RSA256"`, which is not a JWS algorithm but what MAA's docs and
    // Microsoft's Python SDK write: it is read as RS256, so the signature
    // is checked (this sample's is not a real one) — and refused where
    // RS256 is not allowed.
    let header = "eyJhbGciOiJSU0EyNTYiLCJ4NWMiOlsiTUlJQzFqQ0NBYjZnQXdJQkFnSUlTUUdEOUVGakJcdTAwMkJZd0RRWUpLb1pJaHZjTkFRRUxCUUF3SWpFZ01CNEdBMVVFQXhNWFFYUjBaWE4wWVhScGIyNURaWEowYVdacFkyRjBaVEF3SGhjTk1qQXhNVEl6TVRneU1EVXpXaGNOTWpFeE1USXpNVGd5TURVeldqQWlNU0F3SGdZRFZRUURFeGRCZEhSbGMzUmhkR2x2YmtObGNuUnBabWxqWVhSbE1EQ0NBU0l3RFFZSktvWklodmNOQVFFQkJRQURnZ0VQQURDQ0FRb0NnZ0VCQUpyRWVNSlo3UE01VUJFbThoaUNLRGh6YVA2Y2xYdkhmd0RIUXJ5L3V0L3lHMUFuMGJ3MVU2blNvUEVtY2FyMEc1WmYxTUR4alZOdEF5QjZJWThKLzhaQUd4eFFnVVZsd1dHVmtFelpGWEJVQTdpN1B0NURWQTRWNlx1MDAyQkJnanhTZTBCWVpGYmhOcU5zdHhraUNybjYwVTYwQUU1WFx1MDAyQkE1M1JvZjFUUkNyTXNLbDRQVDRQeXAzUUtNVVlDaW9GU3d6TkFQaU8vTy9cdTAwMkJIcWJIMXprU0taUXh6bm5WUGVyYUFyMXNNWkptRHlyUU8vUFlMTHByMXFxSUY2SmJsbjZEenIzcG5uMXk0Wi9OTzJpdFBxMk5Nalx1MDAyQnE2N1FDblNXOC9xYlpuV3ZTNXh2S1F6QVR5VXFaOG1PSnNtSThUU05rLzBMMlBpeS9NQnlpeDdmMTYxQ2tjRm1LU3kwQ0F3RUFBYU1RTUE0d0RBWURWUjBUQkFVd0F3RUIvekFOQmdrcWhraUc5dzBCQVFzRkFBT0NBUUVBZ1ZKVWRCaXRud3ZNdDdvci9UMlo4dEtCUUZsejFVcVVSRlRUTTBBcjY2YWx2Y2l4VWJZR3gxVHlTSk5pbm9XSUJROU9QamdMa1dQMkVRRUtvUnhxN1NidGxqNWE1RUQ2VjRyOHRsejRISjY0N3MyM2V0blJFa2o5dE9Gb3ZNZjhOdFNVeDNGTnBhRUdabDJMUlZHd3dcdTAwMkJsVThQd0gzL2IzUmVCZHRhQTdrZmFWNVx1MDAyQml4ZWRjZFN5S1F1VkFUbXZNSTcxM1A4VlBsNk1XbXNNSnRrVjNYVi9ZTUVzUVx1MDAyQkdZcU1yN2tLWGwxM3lldUVmVTJWVkVRc1ovMXRnb29iZVZLaVFcdTAwMkJUcWIwdTJOZHNcdTAwMkJLamRIdmFNYngyUjh6TDNZdTdpR0pRZnd1aU1tdUxSQlJwSUFxTWxRRktLNmRYOXF6Nk9iT01zUjlpczZ6UDZDdmxGcEV6bzVGUT09Il19";
    let jws = format!("{header}.e30.c2ln");
    assert!(looks_like_jws(&jws));
    assert!(matches!(
        load_policy(&jws, &JwsOptions::default()),
        Err(PolicyError::BadSignature)
    ));
    assert!(matches!(
        load_policy(&jws, &JwsOptions::default().allow_only(&["none"])),
        Err(PolicyError::AlgorithmNotAllowed(a)) if a == "RS256"
    ));
}

#[test]
fn text_is_not_mistaken_for_a_jws() {
    assert!(!looks_like_jws(TEXT));
    assert!(!looks_like_jws("a.b.c"));
    assert!(!looks_like_jws(""));
    assert!(load_policy(TEXT, &JwsOptions::default())
        .unwrap()
        .signer
        .is_none());
}
