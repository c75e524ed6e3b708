//! Test support: a test PKI shaped like ITA's (root CA → signing CA →
//! RSA-3072 token signing certificate, `x5c` leaf first), JWKS documents,
//! tokens in ITA's claim layout signed in the test, and a server on
//! 127.0.0.1.
#![allow(dead_code)]

use std::sync::{Arc, OnceLock};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rsa::{KeyPair, KeySize, PublicKeyComponents};
use aws_lc_rs::signature::{self, KeyPair as _, RsaEncoding};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest_ita::{FixedClock, ItaValidator, Jwks, KeyTrust, PinnedRoots, VerifierNonce};

pub const NOW: i64 = 1_760_000_000;
pub const KID: &str = "3fd751f2e0d0f52846c0ecd4972c6e99dfc642051cd339dd9b04381af8c0ddb804514a7a1fee4673ac844fd5db7f15fb";
pub const POLICY: &str = "c7c49dd2-a96a-43bd-8cee-f2aa99503458";

pub fn b64u(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// An RSA signing key made in the test (private-key operations are for
/// tests only).
pub struct SigningKey {
    pkcs8: Vec<u8>,
    pub n: Vec<u8>,
    pub e: Vec<u8>,
}

impl SigningKey {
    pub fn generate(size: KeySize) -> Self {
        let kp = KeyPair::generate(size).unwrap();
        let der: Pkcs8V1Der<'_> = kp.as_der().unwrap();
        let comps = PublicKeyComponents::<Vec<u8>>::from(kp.public_key());
        Self {
            pkcs8: der.as_ref().to_vec(),
            n: comps.n,
            e: comps.e,
        }
    }

    pub fn sign(&self, alg: &'static dyn RsaEncoding, msg: &[u8]) -> Vec<u8> {
        let kp = signature::RsaKeyPair::from_pkcs8(&self.pkcs8).unwrap();
        let mut sig = vec![0; kp.public_modulus_len()];
        kp.sign(alg, &aws_lc_rs::rand::SystemRandom::new(), msg, &mut sig)
            .unwrap();
        sig
    }

    fn rcgen(&self, alg: &'static rcgen::SignatureAlgorithm) -> rcgen::KeyPair {
        rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&self.pkcs8.clone().into(), alg).unwrap()
    }

    pub fn jwk(&self, kid: &str) -> Value {
        json!({"kty": "RSA", "kid": kid, "n": b64u(&self.n), "e": b64u(&self.e)})
    }
}

/// Root CA → signing CA → token signing certificate.
pub struct Pki {
    pub root_der: Vec<u8>,
    pub ca_der: Vec<u8>,
    pub leaf_der: Vec<u8>,
    pub leaf: &'static SigningKey,
}

fn ca_params(cn: &str) -> rcgen::CertificateParams {
    let mut p = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, cn);
    p.distinguished_name
        .push(rcgen::DnType::OrganizationName, "Test Corporation");
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(1));
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyCertSign,
        rcgen::KeyUsagePurpose::CrlSign,
    ];
    p.not_before = rcgen::date_time_ymd(2024, 1, 1);
    p.not_after = rcgen::date_time_ymd(2034, 1, 1);
    p
}

impl Pki {
    /// A PKI like ITA's: root (ECDSA P-384) → signing CA (RSA, SHA-384) →
    /// leaf holding `leaf` (RSA-3072).
    pub fn new(root_cn: &str, leaf: &'static SigningKey) -> Self {
        let root_key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384).unwrap();
        let root_params = ca_params(root_cn);
        let root = root_params.self_signed(&root_key).unwrap();
        let root_issuer = rcgen::Issuer::new(root_params, root_key);

        let ca_key = ca_key().rcgen(&rcgen::PKCS_RSA_SHA384);
        let mut ca_params = ca_params("Test Trust Authority Signing CA");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
        let ca = ca_params.signed_by(&ca_key, &root_issuer).unwrap();
        let ca_issuer = rcgen::Issuer::new(ca_params, ca_key);

        let leaf_key = leaf.rcgen(&rcgen::PKCS_RSA_SHA384);
        let mut lp = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        lp.distinguished_name.push(
            rcgen::DnType::CommonName,
            "Test Trust Authority Token Signing Certificate",
        );
        lp.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        lp.not_before = rcgen::date_time_ymd(2025, 1, 1);
        lp.not_after = rcgen::date_time_ymd(2027, 1, 1);
        let leaf_cert = lp.signed_by(&leaf_key, &ca_issuer).unwrap();
        Self {
            root_der: root.der().to_vec(),
            ca_der: ca.der().to_vec(),
            leaf_der: leaf_cert.der().to_vec(),
            leaf,
        }
    }

    pub fn x5c(&self) -> Vec<String> {
        [&self.leaf_der, &self.ca_der, &self.root_der]
            .iter()
            .map(|d| STANDARD.encode(d))
            .collect()
    }

    /// The JWK as ITA's portal publishes it: n, e, alg, x5c.
    pub fn jwk(&self, kid: &str, alg: Option<&str>) -> Value {
        let mut k = self.leaf.jwk(kid);
        if let Some(a) = alg {
            k["alg"] = json!(a);
        }
        k["x5c"] = json!(self.x5c());
        k
    }

    pub fn roots(&self) -> PinnedRoots {
        PinnedRoots::from_der([self.root_der.as_slice()]).unwrap()
    }
}

fn ca_key() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::generate(KeySize::Rsa2048))
}

pub fn signing_key() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::generate(KeySize::Rsa3072))
}

pub fn other_key() -> &'static SigningKey {
    static K: OnceLock<SigningKey> = OnceLock::new();
    K.get_or_init(|| SigningKey::generate(KeySize::Rsa3072))
}

/// The trusted PKI of the tests.
pub fn pki() -> &'static Pki {
    static P: OnceLock<Pki> = OnceLock::new();
    P.get_or_init(|| Pki::new("Test Trust Authority Root CA", signing_key()))
}

/// A JWKS with the trusted key, as the portal's `/certs`.
pub fn jwks_doc() -> Value {
    json!({"keys": [pki().jwk(KID, None)]})
}

pub fn jwks() -> Jwks {
    Jwks::parse(
        jwks_doc().to_string().as_bytes(),
        &KeyTrust::Pinned(pki().roots()),
    )
    .unwrap()
}

pub fn validator() -> ItaValidator {
    ItaValidator::with_jwks(jwks()).with_clock(Arc::new(FixedClock(NOW)))
}

pub fn nonce() -> VerifierNonce {
    VerifierNonce::from_bytes(
        b"g0Hgf1W2vk2zV0wfO2nT4JxO9Hx2EJ5o3H3xvFa8c0M=",
        b"2025-10-09 08:53:20.000000000 +0000 UTC",
        &[0x5a; 384],
    )
}

pub fn header() -> Value {
    json!({"alg": "PS384", "jku": "https://portal.trustauthority.intel.com/certs", "kid": KID, "typ": "JWT"})
}

/// A v2 TDX token's claims in ITA's layout (ITA docs' token examples,
/// intel/trustauthority-kbs `model/attestation_token.go`).
pub fn claims() -> Value {
    let n = nonce().to_json();
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
                "qeidcerthash": "b2ca71b8e849d5e79945",
                "qeidcrlhash": "f454dc1b9bd4ce36c0",
                "qeidhash": "665b5e4a8c34c2493",
                "quotehash": "ac5efbb7ac2815acdd6",
                "tcbinfocerthash": "b2ca71b8e849d5e79",
                "tcbinfocrlhash": "f454dc1b9bd4ce36c",
                "tcbinfohash": "0bc7962b158eaeb896"
            },
            "tdx_is_debuggable": false,
            "tdx_mrconfigid": "00".repeat(48),
            "tdx_mrowner": "00".repeat(48),
            "tdx_mrownerconfig": "00".repeat(48),
            "tdx_mrseam": "5b38e33a6487958b72c3c12a938eaa5e3fd4510c51aeeab58c7d5ecee41d7c436489d6c8e4f92f160b7cad34207b00c1",
            "tdx_mrsignerseam": "00".repeat(48),
            "tdx_mrtd": "a3".repeat(48),
            "tdx_report_data": "7c".repeat(64),
            "tdx_rtmr0": "01".repeat(48),
            "tdx_rtmr1": "02".repeat(48),
            "tdx_rtmr2": "03".repeat(48),
            "tdx_rtmr3": "00".repeat(48),
            "tdx_seam_attributes": "0000000000000000",
            "tdx_seamsvn": 261,
            "tdx_td_attributes": "0000001000000000",
            "tdx_td_attributes_debug": false,
            "tdx_td_attributes_key_locker": false,
            "tdx_td_attributes_perfmon": false,
            "tdx_td_attributes_protection_keys": false,
            "tdx_td_attributes_septve_disable": true,
            "tdx_tee_tcb_svn": "05010200000000000000000000000000",
            "tdx_xfam": "e742060000000000",
            "verifier_nonce": n
        },
        "verifier_nonce": nonce().to_json(),
        "policy_ids_matched": [{"id": POLICY, "version": "v1", "hash": "PApC1bnOL3KvC4IieSU6m"}],
        "policy_ids_unmatched": null,
        "policy_defined_claims": {},
        "verifier_instance_ids": [
            "605a1fb4-4831-487b-9422-980c16ae0585",
            "08696fd9-c544-497b-bf6f-913effdfa579"
        ],
        "ver": "2.0.0",
        "exp": NOW + 300,
        "jti": "0c1b3de7-2487-485f-9f7b-066e299d83fc",
        "iat": NOW - 10,
        "iss": "Intel Trust Authority",
        "nbf": NOW - 10
    })
}

/// `header.payload.signature` from raw JSON texts.
pub fn sign_raw(
    header: &[u8],
    claims: &[u8],
    key: &SigningKey,
    alg: &'static dyn RsaEncoding,
) -> String {
    let msg = format!("{}.{}", b64u(header), b64u(claims));
    let sig = key.sign(alg, msg.as_bytes());
    format!("{msg}.{}", b64u(&sig))
}

/// Signs with the algorithm the header names (PS384 by default).
pub fn sign_json(header: &Value, claims: &Value, key: &SigningKey) -> String {
    let alg: &'static dyn RsaEncoding = match header["alg"].as_str() {
        Some("RS256") => &signature::RSA_PKCS1_SHA256,
        Some("RS384") => &signature::RSA_PKCS1_SHA384,
        Some("PS256") => &signature::RSA_PSS_SHA256,
        _ => &signature::RSA_PSS_SHA384,
    };
    sign_raw(
        header.to_string().as_bytes(),
        claims.to_string().as_bytes(),
        key,
        alg,
    )
}

pub fn good() -> String {
    sign_json(&header(), &claims(), signing_key())
}

/// Serves `app` on 127.0.0.1 (an ephemeral port); returns its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}
