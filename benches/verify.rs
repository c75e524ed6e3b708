//! The verifier's paths, each next to its floor measured in the same run.
//!
//! - `appraise/local-verifier`: one AzureGuest appraisal in process on
//!   evidence from the mock Azure CVM — SNP report (validated chain cached),
//!   binding, quote and certification, TCG log replay, policy, claims, RS256
//!   token — vs `appraise/crypto-floor`: the public-key work it cannot skip
//!   (one ECDSA-P384 verify, two RSA-2048 verifies, one RSA-2048 signature,
//!   all aws-lc-rs).
//!
//! - `validate/tee-attest`: a relying party validating one of those tokens
//!   (`TokenValidator`, static JWKS: header and claim checks, RS256
//!   signature, issuer, expiry, nonce) vs two floors, the token's RS256
//!   signature checked alone with aws-lc-rs: `validate/bare-rsa2048-verify`
//!   from the key's n/e (parsed on each call, as one-shot verifiers do) and
//!   `validate/bare-rsa2048-verify-parsed` with the key parsed once (as the
//!   validator holds its JWKS keys) — the stricter floor.
//!   `validate/tee-attest+claims-tree` adds what a caller pays on first
//!   reading the claims as a `serde_json::Value` tree (the validator hands
//!   them over as checked JSON text, decoded on first use), and
//!   `validate/tee-attest+claims-as` a typed read of a few claims instead.
//!
//! Figures: docs/PERFORMANCE.md. Run: `cargo bench -p tee-attest-benches --bench verify`.

// criterion_group! generates undocumented items.
#![allow(missing_docs)]

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{
    EcdsaKeyPair, KeyPair as _, UnparsedPublicKey, ECDSA_P384_SHA384_FIXED,
    ECDSA_P384_SHA384_FIXED_SIGNING, RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256,
};
use criterion::{criterion_group, criterion_main, Criterion};
use tee_attest::mock::MockProvider;
use tee_attest::{EvidenceProvider, EvidenceRequest, VerifyOptions};
use tee_attest_verifier::{LocalVerifier, LocalVerifierConfig, TokenSigner};

fn appraise(c: &mut Criterion) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let provider = MockProvider::start().expect("swtpm must be installed (cargo xtask deps)");
    let evidence = rt
        .block_on(provider.evidence(&EvidenceRequest::with_nonce(b"bench-nonce".to_vec())))
        .expect("evidence");
    let mut cfg = LocalVerifierConfig::new("http://127.0.0.1:8700");
    cfg.appraisers = tee_attest::verifiers::appraisers(true).expect("appraisers");
    let verifier =
        LocalVerifier::new(cfg, TokenSigner::generate().expect("signer")).expect("verifier");
    let options = VerifyOptions::default();
    verifier
        .attest(&evidence, &options)
        .expect("the evidence verifies");

    // The floor: the same kinds and sizes of public-key operations.
    let rng = SystemRandom::new();
    let p384 = EcdsaKeyPair::from_pkcs8(
        &ECDSA_P384_SHA384_FIXED_SIGNING,
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P384_SHA384_FIXED_SIGNING, &rng)
            .expect("p384")
            .as_ref(),
    )
    .expect("p384");
    let msg = [0x5au8; 672];
    let p384_sig = p384.sign(&rng, &msg).expect("sign");
    let p384_pub = UnparsedPublicKey::new(
        &ECDSA_P384_SHA384_FIXED,
        p384.public_key().as_ref().to_vec(),
    );
    let rsa = KeyPair::generate(KeySize::Rsa2048).expect("rsa");
    let mut rsa_sig = vec![0u8; rsa.public_modulus_len()];
    rsa.sign(&RSA_PKCS1_SHA256, &rng, &msg[..161], &mut rsa_sig)
        .expect("sign");
    let rsa_pub = UnparsedPublicKey::new(
        &RSA_PKCS1_2048_8192_SHA256,
        rsa.public_key().as_ref().to_vec(),
    );

    let mut g = c.benchmark_group("appraise");
    g.bench_function("local-verifier", |b| {
        b.iter(|| verifier.attest(&evidence, &options).expect("token"))
    });
    g.bench_function("crypto-floor", |b| {
        b.iter(|| {
            p384_pub.verify(&msg, p384_sig.as_ref()).expect("p384");
            rsa_pub.verify(&msg[..161], &rsa_sig).expect("quote");
            rsa_pub.verify(&msg[..161], &rsa_sig).expect("certify");
            let mut sig = vec![0u8; rsa.public_modulus_len()];
            rsa.sign(&RSA_PKCS1_SHA256, &rng, &msg[..600], &mut sig)
                .expect("token");
        })
    });
    g.finish();

    // Relying-party validation of the token just issued.
    let jwt = verifier
        .attest(&evidence, &options)
        .expect("token")
        .raw()
        .to_string();
    let jwks = tee_attest_maa::Jwks::parse(verifier.jwks().to_string().as_bytes()).expect("jwks");
    let validator =
        tee_attest_maa::TokenValidator::with_jwks(Some(verifier.issuer()), jwks).allow_mock(true);
    let local = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("runtime");
    local
        .block_on(validator.validate(&jwt, None))
        .expect("valid");
    let key = tee_attest_tpm::RsaPublic::from_jwk(&verifier.jwks()["keys"][0]).expect("jwk");
    let (signed, sig) = jwt.rsplit_once('.').expect("jws");
    let sig = base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, sig)
        .expect("b64");
    let bare = aws_lc_rs::signature::RsaPublicKeyComponents {
        n: key.n.as_slice(),
        e: key.e.as_slice(),
    };
    let parsed = aws_lc_rs::signature::ParsedPublicKey::new(
        &RSA_PKCS1_2048_8192_SHA256,
        key.to_pkcs1_der().expect("der"),
    )
    .expect("key");
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Decisive {
        #[serde(rename = "x-ms-attestation-type")]
        attestation_type: String,
        #[serde(rename = "x-ms-isolation-tee")]
        tee: Tee,
    }
    #[derive(serde::Deserialize)]
    #[allow(dead_code)]
    struct Tee {
        #[serde(rename = "x-ms-compliance-status")]
        compliance: Option<String>,
        #[serde(rename = "x-ms-attestation-type")]
        kind: String,
    }
    let mut g = c.benchmark_group("validate");
    g.bench_function("tee-attest", |b| {
        b.iter(|| {
            local
                .block_on(validator.validate(&jwt, None))
                .expect("valid")
        })
    });
    g.bench_function("tee-attest+claims-tree", |b| {
        b.iter(|| {
            let t = local
                .block_on(validator.validate(&jwt, None))
                .expect("valid");
            assert!(t.claims().is_object());
            t
        })
    });
    g.bench_function("tee-attest+claims-as", |b| {
        b.iter(|| {
            let t = local
                .block_on(validator.validate(&jwt, None))
                .expect("valid");
            t.claims_as::<Decisive>().expect("claims")
        })
    });
    g.bench_function("bare-rsa2048-verify-parsed", |b| {
        b.iter(|| {
            parsed
                .verify_sig(signed.as_bytes(), &sig)
                .expect("verifies")
        })
    });
    g.bench_function("bare-rsa2048-verify", |b| {
        b.iter(|| {
            bare.verify(&RSA_PKCS1_2048_8192_SHA256, signed.as_bytes(), &sig)
                .expect("verifies")
        })
    });
    g.finish();
}

criterion_group!(benches, appraise);
criterion_main!(benches);
