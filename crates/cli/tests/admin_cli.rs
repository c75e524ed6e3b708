//! `tee-attest admin audit`: reads the service's admin audit log that
//! `tee_attest_verifier::audit::AuditLog` writes in the data directory.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;
use tee_attest_verifier::audit::{AuditConfig, AuditEvent, AuditLog, Outcome, AUDIT_FILE};

fn admin(dir: Option<&Path>, args: &[&str]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tee-attest"));
    c.arg("admin").arg("audit").args(args);
    if let Some(d) = dir {
        c.arg("--data-dir").arg(d);
    }
    c.env_remove("TEE_ATTEST_DATA_DIR").output().unwrap()
}

fn ok_lines(out: &Output) -> Vec<String> {
    assert!(
        out.status.success(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone())
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

fn write_events(dir: &Path) {
    let log = AuditLog::open_in(dir, AuditConfig::default()).unwrap();
    log.record(&AuditEvent {
        actor: "sub=alice iss=https://idp.example",
        action: "policy.set",
        target: "AzureGuest",
        outcome: Outcome::Allowed,
        reason: "",
        old_hash: Some("oldHASH0"),
        new_hash: Some("newHASH1"),
        source: Some("127.0.0.1:50000"),
    })
    .unwrap();
    for _ in 0..3 {
        log.record(&AuditEvent {
            actor: "anonymous",
            action: "policy.reset",
            target: "SevSnpVm",
            outcome: Outcome::Refused,
            reason: "no credentials",
            old_hash: None,
            new_hash: None,
            source: Some("203.0.113.7:4444"),
        })
        .unwrap();
    }
    log.record(&AuditEvent {
        actor: "cert:0a1b2c",
        action: "cert.add",
        target: "AzureGuest",
        outcome: Outcome::Refused,
        reason: "signer not trusted\nsecond line",
        old_hash: None,
        new_hash: None,
        source: None,
    })
    .unwrap();
}

fn is_rfc3339_utc(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'Z'
        && tee_attest_snp::parse_rfc3339(s).is_some()
}

#[test]
fn prints_the_records_as_lines_and_json() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    write_events(&data);

    let lines = ok_lines(&admin(Some(&data), &[]));
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let fields: Vec<Vec<&str>> = lines.iter().map(|l| l.split("  ").collect()).collect();
    // time, count, outcome, actor, action, target, old→new, source, reason
    assert!(is_rfc3339_utc(fields[0][0]), "{}", lines[0]);
    assert_eq!(
        fields[0][1..],
        [
            "1",
            "allowed",
            "\"sub=alice iss=https://idp.example\"",
            "policy.set",
            "AzureGuest",
            "oldHASH0→newHASH1",
            "127.0.0.1:50000",
            "\"\""
        ]
    );
    // Three refusals from one source: one row, count 3.
    assert_eq!(
        fields[1][1..],
        [
            "3",
            "refused",
            "\"anonymous\"",
            "policy.reset",
            "SevSnpVm",
            "-→-",
            "203.0.113.7:4444",
            "\"no credentials\""
        ]
    );
    let t = fields[1][0];
    assert!(
        is_rfc3339_utc(t) || t.split("..").all(is_rfc3339_utc),
        "{t}"
    );
    // No source: `-`; a newline in the reason stays on the line.
    assert_eq!(fields[2][2], "refused");
    assert_eq!(fields[2][3], "\"cert:0a1b2c\"");
    assert_eq!(fields[2][7], "-");
    assert!(
        lines[2].ends_with(r#""signer not trusted\nsecond line""#),
        "{}",
        lines[2]
    );

    // --limit keeps the latest.
    let last = ok_lines(&admin(Some(&data), &["--limit", "1"]));
    assert_eq!(last.len(), 1);
    assert!(last[0].contains("cert.add"), "{}", last[0]);

    // --json: one object per line, the record's fields.
    let json: Vec<Value> = ok_lines(&admin(Some(&data), &["--json"]))
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(json.len(), 3);
    assert_eq!(json[0]["outcome"], "allowed");
    assert_eq!(json[0]["actor"], "sub=alice iss=https://idp.example");
    assert_eq!(json[0]["old_hash"], "oldHASH0");
    assert_eq!(json[0]["new_hash"], "newHASH1");
    assert_eq!(json[0]["count"], 1);
    assert_eq!(json[1]["count"], 3);
    assert_eq!(json[1]["source"], "203.0.113.7:4444");
    assert_eq!(json[2]["source"], Value::Null);
    assert!(json[0]["first_time"].as_i64().unwrap() > 1_700_000_000);

    // The data directory from the environment.
    let out = Command::new(env!("CARGO_BIN_EXE_tee-attest"))
        .args(["admin", "audit", "--json"])
        .env("TEE_ATTEST_DATA_DIR", &data)
        .output()
        .unwrap();
    assert_eq!(ok_lines(&out).len(), 3);
}

#[test]
fn no_log_yet_prints_nothing_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("never-served");
    let out = admin(Some(&data), &[]);
    assert!(ok_lines(&out).is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no admin audit log"));
    assert!(!data.exists());
    // An empty log: nothing either.
    drop(AuditLog::open_in(&data, AuditConfig::default()).unwrap());
    assert!(data.join(AUDIT_FILE).exists());
    assert!(ok_lines(&admin(Some(&data), &["--json"])).is_empty());
}

/// `admin rotate-signing-key` stages the next key (0600 files and the
/// schedule) in a data directory that has a key, refuses a second staging
/// and a directory without a key.
#[test]
fn rotate_signing_key_stages_the_next_key_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    let rotate = |dir: &Path| {
        Command::new(env!("CARGO_BIN_EXE_tee-attest"))
            .args([
                "admin",
                "rotate-signing-key",
                "--activate-after",
                "60",
                "--data-dir",
            ])
            .arg(dir)
            .env_remove("TEE_ATTEST_DATA_DIR")
            .output()
            .unwrap()
    };
    std::fs::create_dir_all(&dir).unwrap();
    assert!(!rotate(&dir).status.success(), "no key yet");
    let current = tee_attest_verifier::TokenSigner::load_or_generate(&dir).unwrap();
    let out = ok_lines(&rotate(&dir));
    assert!(out[0].starts_with("staged signing key "), "{out:?}");
    let schedule = tee_attest_verifier::keyset::RotationSchedule::read(&dir).unwrap();
    assert!(schedule.next_activate_at.is_some());
    {
        use std::os::unix::fs::PermissionsExt as _;
        for f in [
            "signing-key.next.pk8",
            "signing-cert.next.der",
            "rotation.json",
        ] {
            let mode = std::fs::metadata(dir.join(f)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{f}");
        }
    }
    let second = rotate(&dir);
    assert!(!second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already staged"));
    // Before activation the current key still signs; both are published.
    let keys = tee_attest_verifier::KeySet::open(&dir, 3600).unwrap();
    assert_eq!(keys.current().kid(), current.kid());
    assert_eq!(keys.kids().len(), 2);
}
