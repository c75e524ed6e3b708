//! Scenario 3 — the relying-party handshake. A secrets manager hands out a
//! nonce; the CVM attests with `{"Nonce": …}` in its client payload and
//! presents the token; the secrets manager validates it (signature and
//! issuer by OpenID discovery at the verifier, expiry, the nonce it issued,
//! once), encrypts the secret to the token's ephemeral key, and only the
//! CVM's vTPM can open it; the CVM bootstraps with it.
//!
//! usage: relying_party VERIFIER_URL   (an MAA-compatible service, e.g. `tee-attest serve`)
//! Both parties run in this one program, talking HTTP on 127.0.0.1.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use tee_attest::EncryptionType;
use tee_attest_maa::{HttpConfig, TokenValidator};

/// The secret the secrets manager keeps for attested CVMs.
const SECRET: &[u8] = b"db-password: correct horse battery staple";

struct SecretsManager {
    validator: TokenValidator,
    issued: Mutex<HashSet<String>>,
}

async fn nonce(State(sm): State<Arc<SecretsManager>>) -> Json<Value> {
    let mut n = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut n);
    let n: String = n.iter().map(|b| format!("{b:02x}")).collect();
    if let Ok(mut issued) = sm.issued.lock() {
        issued.insert(n.clone());
    }
    Json(json!({ "nonce": n }))
}

async fn secret(
    State(sm): State<Arc<SecretsManager>>,
    Json(req): Json<Value>,
) -> Result<Json<Value>, (StatusCode, String)> {
    let refuse = |m: String| (StatusCode::FORBIDDEN, m);
    let jwt = req["token"]
        .as_str()
        .ok_or_else(|| (StatusCode::BAD_REQUEST, "no token".to_string()))?;
    let token = sm
        .validator
        .validate(jwt, None)
        .await
        .map_err(|e| refuse(format!("token refused: {e}")))?;
    // The nonce must be one this service issued, and is good once.
    let n = token
        .nonce()
        .ok_or_else(|| refuse("the token carries no nonce".into()))?
        .to_string();
    let fresh = sm.issued.lock().map(|mut s| s.remove(&n)).unwrap_or(false);
    if !fresh {
        return Err(refuse("nonce unknown or already used".into()));
    }
    if !common::platform_failures(&token).is_empty() {
        return Err(refuse("the platform does not meet the policy".into()));
    }
    let (data, metadata) = tee_attest::encrypt(EncryptionType::Envelope, &token, SECRET)
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(Json(
        json!({ "data": STANDARD.encode(data), "metadata": STANDARD.encode(metadata) }),
    ))
}

async fn run(verifier_url: String) -> Result<(), String> {
    // The relying party: trusts the verifier's published keys.
    let validator = TokenValidator::with_discovery(&verifier_url, HttpConfig::default())
        .map_err(|e| e.to_string())?
        .allow_mock(common::trust_mock());
    let sm = Arc::new(SecretsManager {
        validator,
        issued: Mutex::new(HashSet::new()),
    });
    let app = Router::new()
        .route("/nonce", get(nonce))
        .route("/secret", post(secret))
        .with_state(sm);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    let sm_url = format!(
        "http://{}",
        listener.local_addr().map_err(|e| e.to_string())?
    );
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!("secrets manager: listening on {sm_url}");

    // The CVM.
    let http = reqwest::Client::new();
    let n: Value = http
        .get(format!("{sm_url}/nonce"))
        .send()
        .await
        .map_err(|e| e.to_string())?
        .json()
        .await
        .map_err(|e| e.to_string())?;
    let n = n["nonce"].as_str().ok_or("no nonce")?.to_string();
    println!("cvm: got nonce {n}");
    let (attester, _) = common::attester(Some(&verifier_url))?;
    let params = tee_attest::ClientParameters::new(verifier_url.clone()).with_payload("Nonce", n);
    let token = attester.attest(&params).await.map_err(|e| e.to_string())?;
    println!("cvm: attested ({} bytes of token)", token.raw().len());
    let resp = http
        .post(format!("{sm_url}/secret"))
        .json(&json!({"token": token.raw()}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!(
            "secrets manager refused: {}",
            resp.text().await.unwrap_or_default()
        ));
    }
    let sealed: Value = resp.json().await.map_err(|e| e.to_string())?;
    let data = STANDARD
        .decode(sealed["data"].as_str().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let metadata = STANDARD
        .decode(sealed["metadata"].as_str().unwrap_or_default())
        .map_err(|e| e.to_string())?;
    let decryptor = attester.decryptor().map_err(|e| e.to_string())?;
    let secret = tee_attest::decrypt(
        EncryptionType::Envelope,
        decryptor.as_ref(),
        &data,
        &metadata,
    )
    .await
    .map_err(|e| e.to_string())?;
    if secret.as_slice() != SECRET {
        return Err("the opened secret differs".into());
    }
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, &secret);
    let hex: String = digest.as_ref()[..8]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    println!(
        "cvm: secret opened inside the vTPM ({} bytes, sha256 {hex}…); bootstrapping",
        secret.len()
    );

    // A replayed token is refused: its nonce was good once.
    let replay = http
        .post(format!("{sm_url}/secret"))
        .json(&json!({"token": token.raw()}))
        .send()
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "secrets manager: replayed token -> {}",
        replay.status().as_u16()
    );
    if replay.status().is_success() {
        return Err("a replayed token was accepted".into());
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: relying_party VERIFIER_URL");
        return std::process::ExitCode::from(2);
    };
    let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
    match rt.block_on(run(url)) {
        Ok(()) => {
            println!("handshake: OK");
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("handshake: FAILED: {e}");
            std::process::ExitCode::from(1)
        }
    }
}
