//! The key store and the release service on PostgreSQL (a real, throwaway
//! cluster: `tee_attest_testkit::postgres`): the same behaviours as on
//! SQLite, a nonce spent exactly once across instances, 503 with
//! `Retry-After` while the database is down, and no key material in clear
//! in the database.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tee_attest_keyrelease::service::{ReleaseRequest, ReleaseState};
use tee_attest_keyrelease::store::AuditConfig;
use tee_attest_keyrelease::{AuditRecord, Kek, KeyReleaseError, KeySpec, KeyStore};
use tee_attest_maa::{Jwks, TokenValidator};
use tee_attest_store::{Pg, PgOptions};
use tee_attest_testkit::postgres::PgCluster;
use tee_attest_verifier::TokenSigner;

const ISSUER: &str = "http://127.0.0.1:8700";
const KEK: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

fn policy() -> String {
    json!({"version": "1.0.0", "anyOf": [{"authority": ISSUER, "allOf": [
        {"claim": "x-ms-ver", "equals": "1.0"}]}]})
    .to_string()
}

fn kek() -> Kek {
    Kek::parse(KEK).unwrap()
}

async fn pg(cluster: &PgCluster) -> Pg {
    let mut o = PgOptions::new(cluster.url());
    o.connect_timeout = Duration::from_secs(2);
    Pg::connect(&o).await.unwrap()
}

/// A verifier's signer, a token of it carrying an RSA wrap key, and a
/// release service on `store` trusting that signer.
struct Issuer {
    signer: TokenSigner,
    wrap: Value,
}

impl Issuer {
    fn new() -> Self {
        let mut wrap = TokenSigner::generate().unwrap().jwks()["keys"][0].clone();
        wrap["kid"] = json!("TpmEphemeralEncryptionKey");
        Self {
            signer: TokenSigner::generate().unwrap(),
            wrap,
        }
    }

    fn token(&self) -> String {
        let t = tee_attest_verifier_now();
        self.signer
            .sign(
                &json!({"iss": ISSUER, "iat": t, "nbf": t, "exp": t + 600, "jti": "j-1",
                    "x-ms-ver": "1.0", "x-ms-runtime": {"keys": [self.wrap]}}),
                &format!("{ISSUER}/certs"),
                false,
            )
            .unwrap()
    }

    fn service(&self, store: Arc<KeyStore>) -> Arc<ReleaseState> {
        let jwks = Jwks::parse(self.signer.jwks().to_string().as_bytes()).unwrap();
        ReleaseState::new(
            store,
            Arc::new(TokenValidator::with_jwks(Some(ISSUER), jwks)),
            TokenSigner::generate().unwrap(),
            ISSUER,
        )
    }
}

fn tee_attest_verifier_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_on_postgres_creates_rotates_releases_and_audits() {
    let cluster = PgCluster::start();
    let pg = pg(&cluster).await;
    let s = KeyStore::open_postgres(&pg, kek()).await.unwrap();
    assert_eq!(s.backend_name(), "postgres");
    let p = policy();
    let k1 = s.create("k-1", KeySpec::Oct256, &p).await.unwrap();
    assert_eq!(k1.version, 1);
    assert!(matches!(
        s.create("k-1", KeySpec::Oct256, &p).await,
        Err(KeyReleaseError::KeyExists(_))
    ));
    let m1 = s.material(&k1).await.unwrap();
    assert_eq!(m1.len(), 32);
    let k2 = s.rotate("k-1", None).await.unwrap();
    assert_eq!((k2.version, k2.policy.as_str()), (2, p.as_str()));
    assert_ne!(*s.material(&k2).await.unwrap(), *m1);
    assert_eq!(s.get("k-1", None).await.unwrap().unwrap().version, 2);
    assert_eq!(s.get("k-1", Some(1)).await.unwrap().unwrap(), k1);
    for spec in [KeySpec::Rsa2048, KeySpec::EcP256] {
        let k = s
            .create(&format!("k-{}", spec.name()), spec, &p)
            .await
            .unwrap();
        assert_eq!(s.material(&k).await.unwrap()[0], 0x30, "PKCS#8");
    }
    assert_eq!(s.list().await.unwrap().len(), 4);
    assert!(s.use_nonce("k", "n").await.unwrap());
    assert!(!s.use_nonce("k", "n").await.unwrap());
    assert!(s.use_nonce("other", "n").await.unwrap());

    // Data at rest: the material column is ciphertext, never the key.
    let client = pg.client().await.unwrap();
    let rows = client
        .query("SELECT name, version, material FROM keyrelease_keys", &[])
        .await
        .unwrap();
    assert_eq!(rows.len(), 4);
    for r in &rows {
        let (name, version, sealed): (String, i64, Vec<u8>) = (r.get(0), r.get(1), r.get(2));
        let k = s
            .get(&name, Some(u32::try_from(version).unwrap()))
            .await
            .unwrap()
            .unwrap();
        let clear = s.material(&k).await.unwrap();
        assert_ne!(sealed, *clear, "{name} v{version}");
        assert!(
            !sealed.windows(16).any(|w| w == &clear[..16]),
            "{name} v{version}: plaintext in the column"
        );
    }
    drop(client);

    // Another instance with another KEK is refused; with the same, it
    // reads the same keys.
    let e = KeyStore::open_postgres(&pg, Kek::generate().unwrap())
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("different key-encryption key"),
        "{e}"
    );
    let other = KeyStore::open_postgres(&pg, kek()).await.unwrap();
    assert_eq!(*other.material(&k1).await.unwrap(), *m1);

    assert_eq!(s.delete("k-1").await.unwrap(), 2);
    assert!(s.get("k-1", None).await.unwrap().is_none());
    assert!(matches!(
        s.delete("k-1").await,
        Err(KeyReleaseError::KeyNotFound { .. })
    ));

    // Audit: refusals aggregate per key, issuer and reason within the
    // window; releases are rows of their own; the table is bounded.
    let s = KeyStore::open_postgres(&pg, kek())
        .await
        .unwrap()
        .with_audit_config(AuditConfig {
            max_rows: 5,
            max_age: Duration::from_secs(1000),
            refusal_window: Duration::from_secs(60),
        });
    const T0: i64 = 1_750_000_000;
    let rec = |decision: &str, reason: Option<&str>, t: i64, jti: &str| {
        let mut r = AuditRecord::new("k", decision);
        r.time = t;
        r.issuer = Some(ISSUER.into());
        r.reason = reason.map(str::to_string);
        r.jti = Some(jti.into());
        r
    };
    let first = s
        .audit(&rec("refused", Some("sig"), T0, "r0"))
        .await
        .unwrap();
    for i in 1..50 {
        let id = s
            .audit(&rec("refused", Some("sig"), T0 + i / 2, &format!("r{i}")))
            .await
            .unwrap();
        assert_eq!(id, first, "joins the same row");
    }
    s.audit(&rec("refused", Some("sig"), T0 + 24 + 61, "late"))
        .await
        .unwrap();
    for i in 0..6 {
        s.audit(&rec("released", None, T0 + 100 + i, &format!("ok{i}")))
            .await
            .unwrap();
    }
    let log = s.audit_log(100).await.unwrap();
    assert_eq!(log.len(), 5, "{log:#?}");
    let jtis: Vec<&str> = log.iter().filter_map(|r| r.jti.as_deref()).collect();
    assert_eq!(jtis, ["ok1", "ok2", "ok3", "ok4", "ok5"]);
    // Age: 1000 s after, only the new row is left.
    s.audit(&rec("released", None, T0 + 2000, "new"))
        .await
        .unwrap();
    let log = s.audit_log(100).await.unwrap();
    assert_eq!(log.len(), 1);
    // A window's refusals: one row, with its count and last time.
    s.audit(&rec("refused", Some("x"), T0 + 2001, "a"))
        .await
        .unwrap();
    s.audit(&rec("refused", Some("x"), T0 + 2002, "b"))
        .await
        .unwrap();
    let log = s.audit_log(100).await.unwrap();
    let r = log.iter().find(|r| r.decision == "refused").unwrap();
    assert_eq!((r.count, r.time, r.last_time), (2, T0 + 2001, T0 + 2002));
    assert_eq!(r.jti.as_deref(), Some("a"), "the first refusal's jti");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_instances_fifty_concurrent_releases_of_one_nonce_release_once() {
    let cluster = PgCluster::start();
    let issuer = Issuer::new();
    let mut services = Vec::new();
    for _ in 0..2 {
        // Each instance its own pool, as two hosts.
        let pg = pg(&cluster).await;
        let store = Arc::new(KeyStore::open_postgres(&pg, kek()).await.unwrap());
        services.push(issuer.service(store));
    }
    services[0]
        .store()
        .create("k", KeySpec::Oct256, &policy())
        .await
        .unwrap();
    let token = issuer.token();
    let mut tasks = Vec::new();
    for i in 0..100 {
        let s = services[i % 2].clone();
        let mut req = ReleaseRequest::new("k", token.as_str());
        req.nonce = Some("the-one-nonce".into());
        tasks.push(tokio::spawn(async move { s.release(&req).await }));
    }
    let mut ok = 0;
    let mut replayed = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(KeyReleaseError::NonceReplayed) => replayed += 1,
            Err(e) => panic!("unexpected: {e}"),
        }
    }
    assert_eq!((ok, replayed), (1, 99));
    let log = services[1].store().audit_log(1000).await.unwrap();
    let released: Vec<_> = log.iter().filter(|r| r.decision == "released").collect();
    assert_eq!(released.len(), 1, "{log:#?}");
    let refused: u64 = log
        .iter()
        .filter(|r| r.decision == "refused")
        .map(|r| r.count)
        .sum();
    assert_eq!(refused, 99, "every replay is audited: {log:#?}");
    // And a fresh nonce still releases, at either instance.
    let mut req = ReleaseRequest::new("k", token.as_str());
    req.nonce = Some("another".into());
    services[1].release(&req).await.unwrap();
    assert!(matches!(
        services[0].release(&req).await,
        Err(KeyReleaseError::NonceReplayed)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_stopped_mid_run_gives_503_with_retry_after_then_releases_again() {
    let mut cluster = PgCluster::start();
    let issuer = Issuer::new();
    let pg = pg(&cluster).await;
    let store = Arc::new(KeyStore::open_postgres(&pg, kek()).await.unwrap());
    store.create("k", KeySpec::Oct256, &policy()).await.unwrap();
    let state = issuer.service(store.clone());
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
    let token = issuer.token();
    let release = |nonce: &'static str| {
        let http = http.clone();
        let url = format!("{base}/keys/k/release?api-version=7.4");
        let body = json!({"target": token, "nonce": nonce, "enc": "RSA_AES_KEY_WRAP_256"});
        async move {
            http.post(url)
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .unwrap()
        }
    };
    assert_eq!(release("n-1").await.status(), 200);

    cluster.stop();
    let started = std::time::Instant::now();
    let r = release("n-2").await;
    assert_eq!(r.status(), 503, "{:?}", r.text().await);
    assert!(started.elapsed() < Duration::from_secs(10));
    let retry = r
        .headers()
        .get("retry-after")
        .expect("Retry-After")
        .to_str()
        .unwrap()
        .to_string();
    assert!(retry.parse::<u32>().unwrap() > 0);
    let body: Value = serde_json::from_slice(&r.bytes().await.unwrap()).unwrap();
    assert_eq!(body["error"]["code"], "ServiceUnavailable", "{body}");
    assert!(!body.to_string().contains(cluster.password()));
    assert!(store.ping().await.is_err());

    cluster.restart();
    let mut status = 0;
    for _ in 0..50 {
        status = release("n-2").await.status().as_u16();
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 200, "n-2 was not spent while the database was down");
    assert_eq!(release("n-2").await.status(), 403, "and now it is");
    // Every release has its audit row.
    let log = store.audit_log(100).await.unwrap();
    let released = log.iter().filter(|r| r.decision == "released").count();
    assert_eq!(released, 2, "{log:#?}");
    let _ = stop.send(());
    server.await.unwrap().unwrap();
}
