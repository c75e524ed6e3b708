//! A throwaway OpenID issuer on loopback for tests: it serves
//! `/.well-known/openid-configuration` and its JWKS (`/keys`), and signs
//! its own access tokens (RS256 or PS256 with an RSA-2048 key), as an
//! Azure AD tenant would for the administrators of a service.
//!
//! It runs on its own thread (with its own runtime), so synchronous tests
//! that start processes can use it as well as async ones; it stops when
//! dropped.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256};
use axum::routing::get;
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::{json, Value};

/// The key id of the issuer's signing key.
pub const KID: &str = "test-issuer-key";

/// A running test issuer.
pub struct TestIssuer {
    url: String,
    key: KeyPair,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for TestIssuer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestIssuer")
            .field("url", &self.url)
            .finish()
    }
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

impl TestIssuer {
    /// Starts an issuer on a free loopback port. Panics when it cannot (a
    /// test that needs it must not pass without it).
    pub fn start() -> Self {
        let key = KeyPair::generate(KeySize::Rsa2048).expect("an RSA-2048 key");
        let pkcs8: Pkcs8V1Der<'_> = key.as_der().expect("PKCS#8");
        let pkcs8 = pkcs8.as_ref().to_vec();
        let rc_key =
            rcgen::KeyPair::from_pkcs8_der_and_sign_algo(&pkcs8.into(), &rcgen::PKCS_RSA_SHA256)
                .expect("rcgen key");
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "tee-attest test issuer");
        let cert = params.self_signed(&rc_key).expect("certificate");
        let jwks = json!({"keys": [{
            "kty": "RSA", "use": "sig", "kid": KID,
            "x5c": [STANDARD.encode(cert.der())],
        }]});
        let std_listener =
            std::net::TcpListener::bind("127.0.0.1:0").expect("a loopback port for the issuer");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let addr: SocketAddr = std_listener.local_addr().expect("address");
        let url = format!("http://{addr}");
        let meta = json!({
            "issuer": url,
            "jwks_uri": format!("{url}/keys"),
            "id_token_signing_alg_values_supported": ["RS256", "PS256"],
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
                let app = Router::new()
                    .route(
                        "/.well-known/openid-configuration",
                        get(move || async move { Json(meta) }),
                    )
                    .route("/keys", get(move || async move { Json(jwks) }));
                let _ = axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await;
            });
        });
        Self {
            url,
            key,
            stop: Some(tx),
            thread: Some(thread),
        }
    }

    /// The issuer URL (`iss`).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Claims of an administrator's access token: `iss`, `sub`, `aud`,
    /// `roles: [role]`, valid from a minute ago for an hour.
    pub fn admin_claims(&self, audience: &str, role: &str) -> Value {
        let t = now();
        json!({
            "iss": self.url, "sub": "admin-1", "aud": audience, "roles": [role],
            "iat": t - 60, "nbf": t - 60, "exp": t + 3600,
        })
    }

    /// A token with `claims`, signed RS256 with the issuer's key.
    pub fn token(&self, claims: &Value) -> String {
        self.signed(&json!({"alg": "RS256", "typ": "JWT", "kid": KID}), claims)
    }

    /// A token with this `header` (its `alg`: `RS256`, `PS256`, or anything
    /// else for an unsigned token with an empty signature) and `claims`.
    pub fn signed(&self, header: &Value, claims: &Value) -> String {
        let msg = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let alg = match header.get("alg").and_then(Value::as_str) {
            Some("RS256") => &RSA_PKCS1_SHA256,
            Some("PS256") => &RSA_PSS_SHA256,
            _ => return format!("{msg}."),
        };
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(alg, &SystemRandom::new(), msg.as_bytes(), &mut sig)
            .expect("signing");
        format!("{msg}.{}", URL_SAFE_NO_PAD.encode(sig))
    }
}

impl Drop for TestIssuer {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
