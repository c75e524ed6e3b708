//! The foundation against a real PostgreSQL (a throwaway cluster).

use std::time::{Duration, Instant};

use tee_attest_store::{Pg, PgOptions, StoreError, MIGRATIONS, SCHEMA_TABLE};
use tee_attest_testkit::pki::TestCa;
use tee_attest_testkit::postgres::PgCluster;

fn no_secret(cluster: &PgCluster, e: &StoreError) {
    let shown = format!("{e} | {e:?}");
    assert!(
        !shown.contains(cluster.password()),
        "the password shows in {shown}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_instances_starting_together_migrate_once() {
    let cluster = PgCluster::start();
    let opts = PgOptions::new(cluster.url());
    let connects = (0..4).map(|_| {
        let o = opts.clone();
        tokio::spawn(async move { Pg::connect(&o).await })
    });
    let mut pgs = Vec::new();
    for c in connects {
        pgs.push(c.await.unwrap().expect("every instance connects"));
    }
    let expected: Vec<i64> = MIGRATIONS.iter().map(|m| m.version).collect();
    for pg in &pgs {
        assert_eq!(pg.applied_migrations().await.unwrap(), expected);
        pg.ping().await.unwrap();
    }
    let client = pgs[0].client().await.unwrap();
    let rows = client
        .query(
            &format!(
                "SELECT version, count(*) FROM {SCHEMA_TABLE} GROUP BY version ORDER BY version"
            ),
            &[],
        )
        .await
        .unwrap();
    let counts: Vec<(i64, i64)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        counts,
        expected.iter().map(|v| (*v, 1)).collect::<Vec<_>>(),
        "each version recorded once"
    );
    // The tables of every migration are there.
    for table in [
        "meta",
        "keyrelease_keys",
        "keyrelease_nonces",
        "keyrelease_audit",
    ] {
        let n: i64 = client
            .query_one(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = $1",
                &[&table],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1, "{table}");
    }
    // A fifth start later finds nothing to do.
    let again = Pg::connect(&opts).await.unwrap();
    assert_eq!(again.applied_migrations().await.unwrap(), expected);
}

#[tokio::test]
async fn tls_verifies_against_the_test_ca_and_refuses_another() {
    let cluster = PgCluster::start_tls();
    let mut opts = PgOptions::new(cluster.url());
    assert!(opts.url.contains("sslmode=verify-full"));
    opts.ca_file = Some(cluster.ca_pem_path());
    let pg = Pg::connect(&opts).await.expect("TLS with the test CA");
    let client = pg.client().await.unwrap();
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl, "the connection is TLS");

    // Another CA: refused, as a TLS failure (not "unavailable").
    let dir = tempfile::tempdir().unwrap();
    let other = dir.path().join("other-ca.pem");
    std::fs::write(&other, TestCa::new("another CA").cert_pem).unwrap();
    let mut bad = opts.clone();
    bad.ca_file = Some(other);
    let e = Pg::connect(&bad).await.unwrap_err();
    assert!(matches!(e, StoreError::Tls(_)), "{e:?}");
    no_secret(&cluster, &e);

    // TLS asked for without a CA file: refused before connecting.
    let mut none = opts.clone();
    none.ca_file = None;
    let e = Pg::connect(&none).await.unwrap_err();
    assert!(matches!(e, StoreError::Config(_)), "{e:?}");
    no_secret(&cluster, &e);
}

#[tokio::test]
async fn a_stopped_cluster_is_unavailable_quickly_and_back_after_restart() {
    let mut cluster = PgCluster::start();
    let mut opts = PgOptions::new(cluster.url());
    opts.connect_timeout = Duration::from_secs(2);
    let pg = Pg::connect(&opts).await.unwrap();
    pg.ping().await.unwrap();

    cluster.stop();
    let t = Instant::now();
    let e = pg.ping().await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    assert_eq!(e.code(), tee_attest_core::ErrorCode::SendRequestFailed);
    no_secret(&cluster, &e);
    let e = Pg::connect(&opts).await.unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    no_secret(&cluster, &e);
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "bounded by the connect time-out: {:?}",
        t.elapsed()
    );

    // Nothing listens on a closed port either: bounded too.
    let mut gone = opts.clone();
    gone.url = format!("postgres://tee:{}@127.0.0.1:1/postgres", cluster.password());
    let e = Pg::connect(&gone).await.unwrap_err();
    assert!(e.is_unavailable(), "{e:?}");
    no_secret(&cluster, &e);

    cluster.restart();
    let mut ok = false;
    for _ in 0..50 {
        if pg.ping().await.is_ok() {
            ok = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(ok, "the same pool answers again after the restart");
}

#[tokio::test]
async fn the_password_never_shows() {
    let cluster = PgCluster::start();
    // A wrong password: refused (not unavailable), and neither password shows.
    let wrong = cluster
        .url()
        .replace(cluster.password(), "not-the-password-42");
    let e = Pg::connect(&PgOptions::new(wrong)).await.unwrap_err();
    assert!(!e.is_unavailable(), "{e:?}");
    no_secret(&cluster, &e);
    assert!(!format!("{e} {e:?}").contains("not-the-password-42"));
    // A bad option, a bad scheme, a bad sslmode.
    for url in [
        format!("{}?nonsense=1", cluster.url()),
        cluster.url().replace("postgres://", "mysql://"),
        format!("{}?sslmode=sometimes", cluster.url()),
    ] {
        let e = Pg::connect(&PgOptions::new(url)).await.unwrap_err();
        no_secret(&cluster, &e);
    }
    // The options and the pool print redacted.
    let opts = PgOptions::new(cluster.url());
    assert!(!format!("{opts:?}").contains(cluster.password()));
    let pg = Pg::connect(&opts).await.unwrap();
    assert!(!format!("{pg:?} {}", pg.url()).contains(cluster.password()));
    let choice: tee_attest_store::StoreChoice = cluster.url().parse().unwrap();
    assert!(!format!("{choice} {choice:?}").contains(cluster.password()));
}
