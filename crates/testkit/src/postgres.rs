//! A throwaway PostgreSQL cluster for tests: `initdb` in a temporary
//! directory, run as an unprivileged user (tests run as root in CI:
//! PostgreSQL refuses to run as root, so then `runuser -u postgres` — or
//! `nobody` — runs it), listening on a free `127.0.0.1` port only, with
//! password authentication (SCRAM) for a user with a random password, and
//! optionally TLS with a test CA.
//!
//! PostgreSQL comes from Debian's `postgresql` package (`cargo xtask deps`
//! installs it): `initdb` and `pg_ctl` are in
//! `/usr/lib/postgresql/<version>/bin`, the highest version is taken, else
//! `PATH`. Without them the fixture panics saying so: tests that need the
//! database fail, they do not skip.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::pki::TestCa;

/// The database user the fixture creates.
pub const USER: &str = "tee";

/// A running throwaway cluster; stopped (and its files removed) on drop.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    run_as: Option<String>,
    port: u16,
    password: String,
    tls: bool,
    running: bool,
}

impl std::fmt::Debug for PgCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgCluster")
            .field("dir", &self.dir.path())
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("running", &self.running)
            .finish_non_exhaustive()
    }
}

/// The directory of PostgreSQL's server programs: the highest version
/// under `/usr/lib/postgresql`, else where `PATH` has `initdb`.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let v: u32 = e.file_name().to_str()?.parse().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return dir;
            }
        }
    }
    panic!(
        "PostgreSQL is not installed: no initdb/pg_ctl in /usr/lib/postgresql/<version>/bin \
         or on PATH. `cargo xtask deps` installs Debian's postgresql (as root: \
         apt-get install postgresql)"
    );
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `(uid, gid)` of `user`, if it exists.
fn ids(user: &str) -> Option<(u32, u32)> {
    let q = |flag: &str| -> Option<u32> {
        let o = Command::new("id").args([flag, user]).output().ok()?;
        if !o.status.success() {
            return None;
        }
        String::from_utf8_lossy(&o.stdout).trim().parse().ok()
    };
    Some((q("-u")?, q("-g")?))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn random_hex(bytes: usize) -> String {
    let mut b = vec![0u8; bytes];
    aws_lc_rs::rand::fill(&mut b).expect("random bytes");
    hex::encode(b)
}

impl PgCluster {
    /// A cluster without TLS.
    pub fn start() -> PgCluster {
        Self::start_with(false)
    }

    /// A cluster with TLS (`ssl = on`): its server certificate, for
    /// `127.0.0.1` and `localhost`, is issued by a test CA whose
    /// certificate is at [`PgCluster::ca_pem_path`].
    pub fn start_tls() -> PgCluster {
        Self::start_with(true)
    }

    fn start_with(tls: bool) -> PgCluster {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("tee-attest-pg")
            .tempdir()
            .expect("a temporary directory");
        let run_as = if is_root() {
            let user = ["postgres", "nobody"]
                .into_iter()
                .find(|u| ids(u).is_some())
                .expect("an unprivileged user (postgres or nobody) to run PostgreSQL as");
            Some(user.to_string())
        } else {
            None
        };
        let owner = run_as.as_deref().and_then(ids);
        let password = random_hex(16);
        let pwfile = dir.path().join("pwfile");
        std::fs::write(&pwfile, &password).expect("writing the password file");
        let mut cluster = PgCluster {
            dir,
            bin,
            run_as,
            port: free_port(),
            password,
            tls,
            running: false,
        };
        let data = cluster.data_dir();
        if tls {
            let ca = TestCa::new("tee-attest test PostgreSQL CA");
            let server = ca.issue_server();
            std::fs::write(cluster.ca_pem_path(), &ca.cert_pem).expect("CA file");
            std::fs::write(cluster.dir.path().join("server.crt"), &server.cert_pem)
                .expect("server certificate");
            std::fs::write(cluster.dir.path().join("server.key"), &server.key_pem)
                .expect("server key");
        }
        if let Some((uid, gid)) = owner {
            for entry in std::fs::read_dir(cluster.dir.path()).expect("listing the temp dir") {
                let p = entry.expect("an entry").path();
                std::os::unix::fs::chown(&p, Some(uid), Some(gid)).expect("chown");
            }
            std::os::unix::fs::chown(cluster.dir.path(), Some(uid), Some(gid))
                .expect("chown of the temp dir");
        }
        set_mode(&pwfile, 0o600);
        if tls {
            set_mode(&cluster.dir.path().join("server.key"), 0o600);
        }
        cluster.run(
            "initdb",
            &[
                "-D",
                path_str(&data),
                "-U",
                USER,
                "-A",
                "scram-sha-256",
                "--pwfile",
                path_str(&pwfile),
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let mut conf = format!(
            "\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             max_connections = 200\n",
            cluster.dir.path().display()
        );
        if tls {
            conf.push_str(&format!(
                "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n",
                cluster.dir.path().join("server.crt").display(),
                cluster.dir.path().join("server.key").display()
            ));
        }
        use std::io::Write as _;
        std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .and_then(|mut f| f.write_all(conf.as_bytes()))
            .expect("writing postgresql.conf");
        // A port taken between choosing and binding: try others.
        for attempt in 0..5 {
            if cluster.try_start() {
                return cluster;
            }
            if attempt < 4 {
                cluster.port = free_port();
            }
        }
        panic!(
            "PostgreSQL did not start; its log:\n{}",
            std::fs::read_to_string(cluster.log_path()).unwrap_or_default()
        );
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let exe = self.bin.join(program);
        let mut c = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        c.args(args).current_dir(self.dir.path());
        c
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program, args)
            .output()
            .unwrap_or_else(|e| panic!("running {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} failed: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn try_start(&mut self) -> bool {
        let data = self.data_dir();
        let log = self.log_path();
        let port = format!("-p {}", self.port);
        let ok = self
            .command(
                "pg_ctl",
                &[
                    "-D",
                    path_str(&data),
                    "-l",
                    path_str(&log),
                    "-o",
                    &port,
                    "-w",
                    "-t",
                    "60",
                    "start",
                ],
            )
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        self.running = ok;
        ok
    }

    /// The URL of the cluster's `postgres` database as [`USER`] (with
    /// `sslmode=verify-full` for a TLS cluster).
    pub fn url(&self) -> String {
        let tls = if self.tls { "?sslmode=verify-full" } else { "" };
        format!(
            "postgres://{USER}:{}@127.0.0.1:{}/postgres{tls}",
            self.password, self.port
        )
    }

    /// The user's password (to check it never shows in messages).
    pub fn password(&self) -> &str {
        &self.password
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The test CA's certificate (PEM) for a TLS cluster.
    pub fn ca_pem_path(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// Stops the server (`pg_ctl stop -m fast`): connections are closed,
    /// new ones refused.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let data = self.data_dir();
        self.run(
            "pg_ctl",
            &["-D", path_str(&data), "-m", "fast", "-w", "stop"],
        );
        self.running = false;
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&mut self) {
        self.stop();
        assert!(
            self.try_start(),
            "PostgreSQL did not restart; its log:\n{}",
            std::fs::read_to_string(self.log_path()).unwrap_or_default()
        );
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let data = self.data_dir();
            let _ = self
                .command(
                    "pg_ctl",
                    &["-D", path_str(&data), "-m", "immediate", "-w", "stop"],
                )
                .output();
        }
    }
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("a UTF-8 temporary path")
}

fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).expect("chmod");
}
