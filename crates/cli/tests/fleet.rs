//! Three `serve` processes on one PostgreSQL database behave as one
//! service (issue 16): one signing key, policies in force everywhere within
//! the poll bound, attestation from the cache while the database is away,
//! writes refused with 503 and `Retry-After` until it is back, and the
//! policy's history in step with the policy. A throwaway cluster on
//! loopback (`tee_attest_testkit::postgres`), a mock bare-metal TDX guest.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{cli, ok, serve, Mock};
use tee_attest_testkit::postgres::PgCluster;

const DENY: &str = "version=1.0; authorizationrules { => deny(); };";

/// `attest` at `url`: the exit code.
fn attest(m: &Mock, url: &str) -> Option<i32> {
    m.run(&[
        "attest",
        "--tee",
        "tdx",
        "--verifier",
        &format!("maa={url}"),
    ])
    .status
    .code()
}

/// How long until `attest` at `url` exits `want`; panics after 10 s.
fn until_attest(m: &Mock, url: &str, want: i32, since: Instant) -> Duration {
    loop {
        if attest(m, url) == Some(want) {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < Duration::from_secs(10),
            "{url} did not pick the change up within 10 s"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn policy(url: &str, args: &[&str]) -> std::process::Output {
    cli()
        .args(["policy"])
        .args(args)
        .args(["--url", url, "--type", "TdxVm"])
        .output()
        .unwrap()
}

fn get(url: &str) -> (u16, Option<String>, String) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = reqwest::get(url).await.unwrap();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), retry, r.text().await.unwrap())
    })
}

fn put_policy(url: &str, text: &str) -> (u16, Option<String>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let r = reqwest::Client::new()
            .put(format!("{url}/policies/TdxVm?api-version=2022-08-01"))
            .body(text.to_string())
            .send()
            .await
            .unwrap();
        let retry = r
            .headers()
            .get("retry-after")
            .map(|v| v.to_str().unwrap().to_string());
        (r.status().as_u16(), retry)
    })
}

fn psql(pg: &PgCluster, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([&pg.url(), "-tAc", sql])
        .output()
        .unwrap();
    ok(&out).trim().to_string()
}

fn kids(url: &str) -> Vec<String> {
    let (status, _, body) = get(&format!("{url}/certs"));
    assert_eq!(status, 200, "{body}");
    let jwks: serde_json::Value = serde_json::from_str(&body).unwrap();
    let mut kids: Vec<String> = jwks["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap().to_string())
        .collect();
    kids.sort();
    kids
}

fn instance(dir: &Path, name: &str, pg: &PgCluster) -> (common::Serve, String) {
    serve(
        &dir.join(name),
        &["--store", &pg.url(), "--insecure-admin", "--trust-mock"],
    )
}

#[test]
fn three_instances_on_one_database_behave_as_one() {
    let mut pg = PgCluster::start();
    let m = Mock::up("tdx");
    let dir = m.dir.path().to_path_buf();
    let (_a, a) = instance(&dir, "a", &pg);
    let (_b, b) = instance(&dir, "b", &pg);
    let (_c, c) = instance(&dir, "c", &pg);

    // One signing key: the first instance's, every instance publishes it.
    let published = kids(&a);
    assert_eq!(published, kids(&b));
    assert_eq!(published, kids(&c));
    // A token from A validates against C's JWKS.
    let out = m.run(&[
        "attest",
        "--tee",
        "tdx",
        "--verifier",
        &format!("maa={a}"),
        "--payload",
        r#"{"Nonce":"fleet"}"#,
    ]);
    let token = dir.join("a.jwt");
    std::fs::write(&token, ok(&out).trim()).unwrap();
    let (_, _, c_jwks) = get(&format!("{c}/certs"));
    let jwks = dir.join("c-jwks.json");
    std::fs::write(&jwks, c_jwks).unwrap();
    ok(&cli()
        .args(["token", "verify"])
        .arg(&token)
        .arg("--jwks")
        .arg(&jwks)
        .args(["--allow-mock", "--nonce", "fleet"])
        .output()
        .unwrap());

    // A policy set at A is in force at B and C within the poll bound.
    let deny = dir.join("deny.txt");
    std::fs::write(&deny, DENY).unwrap();
    let set = Instant::now();
    ok(&policy(&a, &["set", deny.to_str().unwrap()]));
    let at_b = until_attest(&m, &b, 6, set);
    let at_c = until_attest(&m, &c, 6, set);
    eprintln!("a policy set at A refused attestation at B after {at_b:?}, at C after {at_c:?}");
    assert!(ok(&policy(&c, &["get"])).contains("deny"));
    // A reset at B: A and C attest again.
    let reset = Instant::now();
    ok(&policy(&b, &["reset"]));
    let at_a = until_attest(&m, &a, 0, reset);
    let at_c = until_attest(&m, &c, 0, reset);
    eprintln!("a reset at B was in force at A after {at_a:?}, at C after {at_c:?}");

    // The database goes away: attestation goes on from the cache; an
    // authorized write is refused with 503 and Retry-After, and nothing is
    // written.
    pg.stop();
    assert_eq!(attest(&m, &c), Some(0));
    let (status, retry) = put_policy(&a, DENY);
    assert_eq!(status, 503);
    assert!(retry.is_some(), "503 without Retry-After");
    let (status, _, body) = get(&format!("{b}/readyz"));
    assert_eq!(status, 503, "{body}");
    // Back: the write succeeds (after a retry or two while the pool
    // reconnects), and every instance applies it.
    pg.restart();
    let back = Instant::now();
    loop {
        let (status, _) = put_policy(&a, DENY);
        if status == 200 {
            break;
        }
        assert_eq!(status, 503);
        assert!(back.elapsed() < Duration::from_secs(15), "still 503");
        std::thread::sleep(Duration::from_millis(200));
    }
    until_attest(&m, &b, 6, back);
    until_attest(&m, &c, 6, back);

    // Nothing half-written: one history row per version, the last one the
    // policy in force.
    let version = psql(
        &pg,
        "SELECT version FROM verifier_policies WHERE kind = 'TdxVm'",
    );
    let rows = psql(
        &pg,
        "SELECT count(*) FROM verifier_policy_history WHERE kind = 'TdxVm'",
    );
    assert_eq!(
        version, rows,
        "the policy's version and its history disagree"
    );
    assert_eq!(version, "3", "set, reset, set");
    let agree = psql(
        &pg,
        "SELECT count(*) FROM verifier_policies p JOIN verifier_policy_history h \
         ON h.kind = p.kind AND h.version = p.version AND h.doc IS NOT DISTINCT FROM p.doc \
         WHERE p.kind = 'TdxVm'",
    );
    assert_eq!(agree, "1");
    let actors = psql(
        &pg,
        "SELECT string_agg(action, ',' ORDER BY version) FROM verifier_policy_history \
         WHERE kind = 'TdxVm'",
    );
    assert_eq!(actors, "policy.set,policy.reset,policy.set");
    // The admin audit is the fleet's: the writes at A and B, in order.
    let audit = ok(&cli()
        .args(["admin", "audit", "--json", "--store", &pg.url()])
        .output()
        .unwrap());
    let actions: Vec<String> = audit
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .filter(|r| r["outcome"] == "allowed")
        .map(|r| r["action"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        actions,
        ["policy.set", "policy.reset", "policy.set"],
        "{audit}"
    );
    // The key is sealed in the store, never in clear.
    let sealed = psql(
        &pg,
        "SELECT count(*) FROM verifier_signing_keys WHERE slot = 'verifier'",
    );
    assert_eq!(sealed, "1");
    let stored = psql(
        &pg,
        "SELECT encode(sealed_key, 'hex') FROM verifier_signing_keys WHERE slot = 'verifier'",
    );
    let pk8 = std::fs::read(dir.join("b/srv/signing-key.pk8")).unwrap();
    let clear = hex::encode(&pk8[pk8.len() - 32..]);
    assert!(!stored.contains(&clear), "the stored key is in clear");
}

const ITA_KEY: &str = "fleet-ita-key-0123456789abcdef";

/// The ITA profile in a fleet: a nonce issued at one instance is accepted
/// at another (one ITA key, shared through the store), and spent once
/// across the fleet — the same request again at a third is refused.
#[test]
fn an_ita_nonce_is_good_at_every_instance_and_spent_once_across_them() {
    use tee_attest_core::{EvidenceProvider, EvidenceRequest};
    use tee_attest_ita::{
        ApiKey, HttpConfig, ItaClient, ItaConfig, ItaError, ItaValidator, KeyTrust, TokenAlg,
    };
    use tee_attest_tdx_guest::{TdxGuestConfig, TdxGuestProvider};

    let pg = PgCluster::start();
    let m = Mock::up("tdx");
    let dir = m.dir.path().to_path_buf();
    let keys = dir.join("ita-api-keys");
    std::fs::write(&keys, format!("{ITA_KEY}\n")).unwrap();
    let start = |name: &str| {
        serve(
            &dir.join(name),
            &[
                "--store",
                &pg.url(),
                "--trust-mock",
                "--ita-api-keys",
                keys.to_str().unwrap(),
            ],
        )
    };
    let (_a, a) = start("a");
    let (_b, b) = start("b");
    let (_c, c) = start("c");
    assert_eq!(kids(&a), kids(&b));
    let client = |url: &str| {
        let mut h = HttpConfig::default();
        h.max_attempts = 1;
        let validator =
            ItaValidator::with_certs_url(&format!("{url}/certs"), KeyTrust::AsServed, h.clone())
                .unwrap()
                .with_issuer(url)
                .with_algorithms(&[TokenAlg::Ps384]);
        ItaClient::new(ItaConfig::new(url, ApiKey::new(ITA_KEY).unwrap()).with_http(h))
            .unwrap()
            .with_validator(validator)
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let provider = TdxGuestProvider::new(
            TdxGuestConfig::default()
                .with_tsm_root(m.var("TEE_ATTEST_TSM_ROOT"))
                .with_ccel_root(m.var("TEE_ATTEST_CCEL_ROOT"))
                .with_dev_root(dir.join("dev")),
        );
        let nonce = client(&a).nonce().await.unwrap();
        let user = br#"{"nonce":"fleet"}"#.to_vec();
        let mut er = EvidenceRequest::with_nonce(b"fleet".to_vec());
        er.runtime_data = user.clone();
        er.report_data = Some(tee_attest_ita::report_data(&nonce, &user));
        let e = provider.evidence(&er).await.unwrap();
        let req = tee_attest_ita::AttestRequest::tdx(e.hardware_report.clone(), user, nonce);
        client(&b).attest(&req).await.unwrap();
        match client(&c).attest(&req).await.unwrap_err() {
            ItaError::Refused {
                status, message, ..
            } => {
                assert_eq!(status, 400);
                assert!(message.contains("verifier_nonce.spent"), "{message}");
            }
            other => panic!("expected a refusal: {other}"),
        }
    });
    let spent = psql(&pg, "SELECT count(*) FROM ita_spent_nonces");
    assert_eq!(spent, "1");
}
