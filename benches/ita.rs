//! Relying-party validation of Intel Trust Authority tokens: tee-attest-ita
//! against a bare PS384 verify of the same bytes (aws-lc-rs) and against
//! `jsonwebtoken` validating the same token, in the same run.
//!
//! The token is shaped like ITA's v2 TDX tokens (attester and `tdx_*`
//! claims under `"tdx"`, `verifier_nonce`, policies, collateral hashes),
//! signed PS384 with an RSA-3072 key as ITA's are.
//!
//! * `ita/tee-attest`: `ItaValidator::validate_cached` — size, format,
//!   strict header and claims (duplicate names refused at any depth),
//!   alg/typ/crit/kid, iss, exp/nbf/iat, key lookup (parsed once at JWKS
//!   load), signature, `verifier_nonce` equal to the nonce issued, the
//!   expected policy matched.
//! * `ita/tee-attest+claims`: the same, then typed access
//!   (`attester_tcb_status`, MRTD) through `ItaToken::claims`.
//! * `ita/bare-ps384-verify-parsed`: the floor — the PS384 signature alone,
//!   key parsed once (aws-lc-rs `ParsedPublicKey`), as the validator holds
//!   its keys.
//! * `ita/bare-ps384-verify`: the PS384 signature alone from the key's n/e
//!   (`RsaPublicKeyComponents`, key set up per call).
//! * `ita/jsonwebtoken`: `jsonwebtoken::decode` (aws-lc-rs backend) with a
//!   `DecodingKey` from the JWK's n/e made once, PS384 only, `iss`, `exp`,
//!   `nbf` with the same leeway, claims decoded into a `serde_json::Value`,
//!   then the same `verifier_nonce` and policy comparisons.
//! * `ita/jsonwebtoken-typed`: the same, claims decoded straight into
//!   tee-attest-ita's `ItaClaims`.
//!
//! After criterion, an interleaved pass (the variants in turn, several
//! rounds, medians) prints the ratios the issue asks about:
//! tee-attest / bare verify (goal ≥ 0.8×) and tee-attest / jsonwebtoken
//! (goal ≥ 1.5×), as rates.
//!
//! Run: `cargo bench -p tee-attest-benches --bench ita -- --warm-up-time 1 --measurement-time 3`

// criterion_group! generates undocumented items.
#![allow(missing_docs)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{
    self, KeyPair as _, ParsedPublicKey, RsaPublicKeyComponents, RSA_PSS_2048_8192_SHA384,
};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use criterion::{criterion_group, criterion_main, Criterion};
use serde_json::{json, Value};
use tee_attest_ita::{Expectations, FixedClock, ItaClaims, ItaValidator, KeyTrust, VerifierNonce};

const KID: &str = "3fd751f2e0d0f52846c0ecd4972c6e99dfc642051cd339dd9b04381af8c0ddb804514a7a1fee4673ac844fd5db7f15fb";
const POLICY: &str = "c7c49dd2-a96a-43bd-8cee-f2aa99503458";

struct Fixture {
    token: String,
    message: Vec<u8>,
    signature: Vec<u8>,
    n: Vec<u8>,
    e: Vec<u8>,
    validator: ItaValidator,
    nonce: VerifierNonce,
    policies: Vec<String>,
    jwt_key: jsonwebtoken::DecodingKey,
    jwt_validation: jsonwebtoken::Validation,
}

fn b64u(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

fn claims(nonce: &VerifierNonce, now: i64) -> Value {
    let hex = |b: u8, n: usize| format!("{b:02x}").repeat(n);
    json!({
        "tdx": {
            "attester_held_data": "eyJub25jZSI6Im4tMSJ9",
            "attester_runtime_data": {"nonce": "n-1", "app": "demo"},
            "attester_tcb_date": "2024-03-13T00:00:00Z",
            "attester_tcb_status": "OutOfDate",
            "attester_advisory_ids": ["INTEL-SA-00837", "INTEL-SA-00960"],
            "attester_type": "TDX",
            "dbgstat": "disabled",
            "eat_profile": "https://portal.trustauthority.intel.com/eat_profile.html",
            "intuse": "generic",
            "tdx_collateral": {
                "qeidcerthash": hex(0xb2, 32), "qeidcrlhash": hex(0xf4, 32),
                "qeidhash": hex(0x66, 32), "quotehash": hex(0xac, 32),
                "tcbinfocerthash": hex(0xb2, 32), "tcbinfocrlhash": hex(0xf4, 32),
                "tcbinfohash": hex(0x0b, 32)
            },
            "tdx_is_debuggable": false,
            "tdx_mrconfigid": hex(0, 48), "tdx_mrowner": hex(0, 48),
            "tdx_mrownerconfig": hex(0, 48), "tdx_mrseam": hex(0x5b, 48),
            "tdx_mrsignerseam": hex(0, 48), "tdx_mrtd": hex(0xa3, 48),
            "tdx_report_data": hex(0x7c, 64),
            "tdx_rtmr0": hex(1, 48), "tdx_rtmr1": hex(2, 48),
            "tdx_rtmr2": hex(3, 48), "tdx_rtmr3": hex(0, 48),
            "tdx_seam_attributes": "0000000000000000", "tdx_seamsvn": 261,
            "tdx_td_attributes": "0000001000000000",
            "tdx_td_attributes_debug": false, "tdx_td_attributes_key_locker": false,
            "tdx_td_attributes_perfmon": false, "tdx_td_attributes_protection_keys": false,
            "tdx_td_attributes_septve_disable": true,
            "tdx_tee_tcb_svn": "05010200000000000000000000000000",
            "tdx_xfam": "e742060000000000",
            "verifier_nonce": nonce.to_json()
        },
        "verifier_nonce": nonce.to_json(),
        "policy_ids_matched": [{"id": POLICY, "version": "v1", "hash": "PApC1bnOL3KvC4IieSU6m"}],
        "policy_ids_unmatched": null,
        "policy_defined_claims": {},
        "verifier_instance_ids": [
            "605a1fb4-4831-487b-9422-980c16ae0585", "08696fd9-c544-497b-bf6f-913effdfa579",
            "657ecb0b-5653-4deb-848b-71df26f8e907", "240426fa-d37a-4dde-8e37-ea236c9c961a"
        ],
        "ver": "2.0.0",
        "exp": now + 3600,
        "jti": "0c1b3de7-2487-485f-9f7b-066e299d83fc",
        "iat": now - 10,
        "iss": "Intel Trust Authority",
        "nbf": now - 10
    })
}

/// Now, as both validators read it (jsonwebtoken reads the system clock).
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .expect("a clock after 1970")
}

fn fixture() -> Fixture {
    let now = now();
    let kp = KeyPair::generate(KeySize::Rsa3072).expect("RSA-3072");
    let pkcs8: Pkcs8V1Der<'_> = kp.as_der().expect("PKCS#8");
    let comps = PublicKeyComponents::<Vec<u8>>::from(kp.public_key());
    let signer = signature::RsaKeyPair::from_pkcs8(pkcs8.as_ref()).expect("signer");
    let nonce = VerifierNonce::from_bytes(
        b"g0Hgf1W2vk2zV0wfO2nT4JxO9Hx2EJ5o3H3xvFa8c0M=",
        b"2025-10-09 08:53:20.000000000 +0000 UTC",
        &[0x5a; 384],
    );
    let header = json!({"alg": "PS384", "jku": "https://portal.trustauthority.intel.com/certs", "kid": KID, "typ": "JWT"});
    let message = format!(
        "{}.{}",
        b64u(header.to_string().as_bytes()),
        b64u(claims(&nonce, now).to_string().as_bytes())
    );
    let mut sig = vec![0; signer.public_modulus_len()];
    signer
        .sign(
            &signature::RSA_PSS_SHA384,
            &aws_lc_rs::rand::SystemRandom::new(),
            message.as_bytes(),
            &mut sig,
        )
        .expect("sign");
    let token = format!("{message}.{}", b64u(&sig));
    let jwks = json!({"keys": [{"kty": "RSA", "kid": KID, "alg": "PS384", "n": b64u(&comps.n), "e": b64u(&comps.e)}]});
    let validator = ItaValidator::from_jwks_bytes(jwks.to_string().as_bytes(), KeyTrust::AsServed)
        .expect("validator")
        .with_clock(Arc::new(FixedClock(now)));
    let jwt_key = jsonwebtoken::DecodingKey::from_rsa_components(&b64u(&comps.n), &b64u(&comps.e))
        .expect("jsonwebtoken key");
    let mut jwt_validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::PS384);
    jwt_validation.set_issuer(&["Intel Trust Authority"]);
    jwt_validation.validate_nbf = true;
    jwt_validation.validate_aud = false;
    jwt_validation.leeway = 60;
    jwt_validation.set_required_spec_claims(&["exp", "iss"]);
    Fixture {
        message: message.into_bytes(),
        signature: sig,
        n: comps.n,
        e: comps.e,
        token,
        validator,
        nonce,
        policies: vec![POLICY.to_string()],
        jwt_key,
        jwt_validation,
    }
}

impl Fixture {
    fn ours(&self) -> bool {
        self.validator
            .validate_cached(
                &self.token,
                Expectations::nonce(&self.nonce).with_policy_ids(&self.policies),
            )
            .is_ok()
    }

    fn ours_with_claims(&self) -> bool {
        let t = self
            .validator
            .validate_cached(
                &self.token,
                Expectations::nonce(&self.nonce).with_policy_ids(&self.policies),
            )
            .expect("valid");
        t.attester_tcb_status() == Some("OutOfDate") && t.tdx().and_then(|t| t.mrtd()).is_some()
    }

    fn bare_parsed(&self, key: &ParsedPublicKey) -> bool {
        key.verify_sig(&self.message, &self.signature).is_ok()
    }

    fn bare(&self) -> bool {
        RsaPublicKeyComponents {
            n: &self.n,
            e: &self.e,
        }
        .verify(&RSA_PSS_2048_8192_SHA384, &self.message, &self.signature)
        .is_ok()
    }

    /// The nonce and policy checks, as a jsonwebtoken user writes them.
    fn jwt_checks(&self, claims: &Value) -> bool {
        let nonce = &claims["verifier_nonce"];
        let field = |n: &str| nonce[n].as_str().and_then(|s| STANDARD.decode(s).ok());
        field("val").as_deref() == Some(self.nonce.val())
            && field("iat").as_deref() == Some(self.nonce.iat())
            && field("signature").as_deref() == Some(self.nonce.signature())
            && claims["policy_ids_matched"]
                .as_array()
                .is_some_and(|m| m.iter().any(|p| p["id"] == POLICY))
    }

    fn jwt(&self) -> bool {
        match jsonwebtoken::decode::<Value>(&self.token, &self.jwt_key, &self.jwt_validation) {
            Ok(d) => self.jwt_checks(&d.claims),
            Err(_) => false,
        }
    }

    fn jwt_typed(&self) -> bool {
        match jsonwebtoken::decode::<ItaClaims>(&self.token, &self.jwt_key, &self.jwt_validation) {
            Ok(d) => {
                let c = d.claims;
                c.verifier_nonce()
                    .is_some_and(|n| self.nonce.matches(&n.val, &n.iat, &n.signature))
                    && c.matched_policy_ids().any(|id| id == POLICY)
                    && c.attester_tcb_status() == Some("OutOfDate")
            }
            Err(_) => false,
        }
    }
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    let parsed =
        ParsedPublicKey::new(&RSA_PSS_2048_8192_SHA384, rsa_der(&f.n, &f.e)).expect("parsed key");
    // Every variant must accept the token before it is measured.
    assert!(f.ours(), "tee-attest-ita refuses the token");
    assert!(f.ours_with_claims());
    assert!(f.bare_parsed(&parsed) && f.bare());
    assert!(f.jwt(), "jsonwebtoken refuses the token");
    assert!(f.jwt_typed(), "jsonwebtoken (typed) refuses the token");
    println!(
        "token: {} bytes (header+payload {} bytes, RSA-3072 PS384 signature)",
        f.token.len(),
        f.message.len()
    );

    let mut g = c.benchmark_group("ita");
    g.bench_function("tee-attest", |b| b.iter(|| black_box(f.ours())));
    g.bench_function("tee-attest+claims", |b| {
        b.iter(|| black_box(f.ours_with_claims()))
    });
    g.bench_function("bare-ps384-verify-parsed", |b| {
        b.iter(|| black_box(f.bare_parsed(&parsed)))
    });
    g.bench_function("bare-ps384-verify", |b| b.iter(|| black_box(f.bare())));
    g.bench_function("jsonwebtoken", |b| b.iter(|| black_box(f.jwt())));
    g.bench_function("jsonwebtoken-typed", |b| {
        b.iter(|| black_box(f.jwt_typed()))
    });
    g.finish();

    ratios(&f, &parsed);
}

/// The interleaved pass: each variant in turn for a batch, several rounds;
/// the median time per call of each, and the ratios as rates.
fn ratios(f: &Fixture, parsed: &ParsedPublicKey) {
    type Variant<'a> = (&'static str, Box<dyn Fn() -> bool + 'a>);
    let variants: Vec<Variant<'_>> = vec![
        ("tee-attest", Box::new(|| f.ours())),
        ("tee-attest+claims", Box::new(|| f.ours_with_claims())),
        (
            "bare-ps384-verify-parsed",
            Box::new(|| f.bare_parsed(parsed)),
        ),
        ("bare-ps384-verify", Box::new(|| f.bare())),
        ("jsonwebtoken", Box::new(|| f.jwt())),
        ("jsonwebtoken-typed", Box::new(|| f.jwt_typed())),
    ];
    let batch = 200;
    let rounds = 15;
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); variants.len()];
    for _ in 0..rounds {
        for (i, (_, run)) in variants.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..batch {
                black_box(run());
            }
            samples[i].push(start.elapsed() / batch);
        }
    }
    let median = |s: &mut Vec<Duration>| {
        s.sort();
        s[s.len() / 2]
    };
    let med: Vec<Duration> = samples.iter_mut().map(median).collect();
    println!("\ninterleaved pass ({rounds} rounds of {batch} calls each; median per call):");
    for ((name, _), m) in variants.iter().zip(&med) {
        println!(
            "  {name:<26} {:>8.1} µs  {:>8.0}/s",
            m.as_secs_f64() * 1e6,
            1.0 / m.as_secs_f64()
        );
    }
    let rate = |i: usize| 1.0 / med[i].as_secs_f64();
    println!(
        "  tee-attest vs bare PS384 verify (parsed key): {:.2}×  (n/e per call: {:.2}×)  goal ≥ 0.8×",
        rate(0) / rate(2),
        rate(0) / rate(3)
    );
    println!(
        "  tee-attest vs jsonwebtoken: {:.2}×  (vs jsonwebtoken-typed: {:.2}×)  goal ≥ 1.5×",
        rate(0) / rate(4),
        rate(0) / rate(5)
    );
    println!(
        "  tee-attest+claims vs jsonwebtoken-typed: {:.2}×",
        rate(1) / rate(5)
    );
}

/// DER `RSAPublicKey` from big-endian n and e (both < 2^16 bytes).
fn rsa_der(n: &[u8], e: &[u8]) -> Vec<u8> {
    fn int(out: &mut Vec<u8>, v: &[u8]) {
        let v = &v[v.iter().position(|b| *b != 0).unwrap_or(v.len())..];
        let pad = v.first().is_none_or(|b| b & 0x80 != 0);
        let len = v.len() + usize::from(pad);
        out.push(0x02);
        len_of(out, len);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
    }
    fn len_of(out: &mut Vec<u8>, len: usize) {
        match len {
            0..=0x7f => out.push(len as u8),
            0x80..=0xff => out.extend_from_slice(&[0x81, len as u8]),
            _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
        }
    }
    let mut body = Vec::new();
    int(&mut body, n);
    int(&mut body, e);
    let mut out = vec![0x30];
    len_of(&mut out, body.len());
    out.extend_from_slice(&body);
    out
}

criterion_group!(benches, bench);
criterion_main!(benches);
