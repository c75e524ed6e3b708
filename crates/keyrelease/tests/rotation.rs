//! Signing-key rotation (issue 16) on loopback: the next key is published
//! before it signs, a validator that cached the JWKS before the activation
//! keeps validating, a token of the previous key still releases until the
//! previous key retires, and then its kid leaves the published set. The
//! rotation times come from an injected clock.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use tee_attest_keyrelease::client::{release_key, ClientConfig};
use tee_attest_keyrelease::service::ReleaseState;
use tee_attest_keyrelease::{Enc, Kek, KeyReleaseError, KeySpec, KeyStore};
use tee_attest_maa::{HttpConfig, Jwks, TokenValidator};
use tee_attest_verifier::keyset::{NEXT_KEY_FILE, PREVIOUS_CERT_FILE, ROTATION_FILE};
use tee_attest_verifier::{KeySet, TokenSigner};

const ISSUER: &str = "http://127.0.0.1:8700";
const MAX_VALIDITY: u64 = 3600;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A token as the verifier issues it, with a wrap key for the release.
fn token(keys: &KeySet, wrap_jwk: &Value) -> String {
    let t = now();
    keys.current()
        .sign(
            &json!({"iss": ISSUER, "iat": t, "nbf": t, "exp": t + 600, "jti": "j",
                "x-ms-ver": "1.0", "x-ms-runtime": {"keys": [wrap_jwk]}}),
            &format!("{ISSUER}/certs"),
            false,
        )
        .unwrap()
}

fn kid_of(token: &str) -> String {
    tee_attest_core::AttestationToken::parse(token)
        .unwrap()
        .header()["kid"]
        .as_str()
        .unwrap()
        .to_string()
}

fn kids(jwks: &Value) -> Vec<String> {
    jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rotation_keeps_cached_validators_and_previous_tokens_working_until_retirement() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let t0 = now();
    let clock = Arc::new(AtomicU64::new(t0));
    let c = clock.clone();
    let keys = Arc::new(
        KeySet::open_with_clock(
            &dir,
            MAX_VALIDITY,
            Arc::new(move || c.load(Ordering::SeqCst)),
        )
        .unwrap(),
    );
    let old_kid = keys.current().kid().to_string();
    let mut wrap = TokenSigner::generate().unwrap().jwks()["keys"][0].clone();
    wrap["kid"] = json!("TpmEphemeralEncryptionKey");
    let old_token = token(&keys, &wrap);
    assert_eq!(kid_of(&old_token), old_kid);

    // The release service validates against the live set, from a validator
    // that only knew the first key.
    let store = Arc::new(KeyStore::in_memory(Kek::generate().unwrap()).unwrap());
    let policy = json!({"version": "1.0.0", "anyOf": [{"authority": ISSUER, "allOf": [
        {"claim": "x-ms-ver", "equals": "1.0"}]}]})
    .to_string();
    store.create("k", KeySpec::Oct256, &policy).await.unwrap();
    let first = Jwks::parse(keys.jwks().to_string().as_bytes()).unwrap();
    let state = ReleaseState::with_key_set(
        store,
        Arc::new(TokenValidator::with_jwks(Some(ISSUER), first)),
        keys.clone(),
        ISSUER,
        None,
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(tee_attest_keyrelease::service::serve(
        listener,
        state,
        async {
            let _ = stopped.await;
        },
    ));
    let http = reqwest::Client::new();
    let certs = || async {
        http.get(format!("{base}/keyrelease/certs"))
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .map(|b| serde_json::from_slice::<Value>(&b).unwrap())
            .unwrap()
    };
    let client = |jwks: Value| {
        ClientConfig::default()
            .with_http(HttpConfig::fast(
                std::time::Duration::from_secs(30),
                1,
                std::time::Duration::from_millis(10),
                std::time::Duration::from_millis(10),
            ))
            .with_trusted_jwks(jwks)
    };
    let release = |token: String, jwks: Value| {
        let base = base.clone();
        async move {
            release_key(
                &base,
                "k",
                None,
                &token,
                Enc::RsaAesKeyWrap256,
                None,
                &client(jwks),
            )
            .await
        }
    };
    assert_eq!(kids(&certs().await), std::slice::from_ref(&old_kid));
    release(old_token.clone(), certs().await).await.unwrap();

    // Stage the next key: published at the next look, not signing yet.
    let activate_at = t0 + 100;
    let new_kid = KeySet::stage_next(&dir, activate_at).unwrap();
    assert!(
        KeySet::stage_next(&dir, activate_at).is_err(),
        "one staged key at a time"
    );
    clock.store(t0 + 1, Ordering::SeqCst);
    let cached = certs().await;
    assert_eq!(kids(&cached), [old_kid.clone(), new_kid.clone()]);
    assert_eq!(
        kid_of(&token(&keys, &wrap)),
        old_kid,
        "not signing before activation"
    );
    let relying_party = TokenValidator::with_jwks(
        Some(ISSUER),
        Jwks::parse(cached.to_string().as_bytes()).unwrap(),
    );

    // Activation: the new key signs; the cached JWKS validates its tokens.
    clock.store(activate_at, Ordering::SeqCst);
    let new_token = token(&keys, &wrap);
    assert_eq!(kid_of(&new_token), new_kid);
    relying_party.validate(&new_token, None).await.unwrap();
    relying_party.validate(&old_token, None).await.unwrap();
    assert_eq!(kids(&certs().await), [new_kid.clone(), old_kid.clone()]);
    // Both tokens release; the responses are signed with the new key.
    for t in [&old_token, &new_token] {
        let resp = release(t.clone(), cached.clone()).await.unwrap();
        assert!(!resp.key_hsm.is_empty());
    }
    // The data directory followed: the next key's files are gone, the old
    // certificate (only) kept, all 0600; a restart sees the same set.
    assert!(!dir.join(NEXT_KEY_FILE).exists());
    {
        use std::os::unix::fs::PermissionsExt as _;
        for f in [
            "signing-key.pk8",
            "signing-cert.der",
            PREVIOUS_CERT_FILE,
            ROTATION_FILE,
        ] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    let c = clock.clone();
    let restarted = KeySet::open_with_clock(
        &dir,
        MAX_VALIDITY,
        Arc::new(move || c.load(Ordering::SeqCst)),
    )
    .unwrap();
    assert_eq!(restarted.kids(), [new_kid.clone(), old_kid.clone()]);

    // Retirement, max validity after the activation: the old kid is gone
    // and its tokens no longer release.
    clock.store(activate_at + MAX_VALIDITY, Ordering::SeqCst);
    assert_eq!(kids(&certs().await), std::slice::from_ref(&new_kid));
    let e = release(old_token.clone(), cached.clone())
        .await
        .unwrap_err();
    assert!(
        matches!(&e, KeyReleaseError::HttpStatus { status: 400, message, .. }
            if message.contains("no key with kid")),
        "{e}"
    );
    release(new_token, cached).await.unwrap();
    assert!(!dir.join(PREVIOUS_CERT_FILE).exists());
    assert_eq!(restarted.kids(), [new_kid]);

    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
