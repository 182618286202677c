//! Real services for tests: PostgreSQL, Redis, a browser, other languages. A test that needs
//! one asks here; when it is missing, the test is skipped with a printed reason, unless
//! `KEYWARD_TEST_REQUIRE_ALL=1` is set (as CI sets it), in which case it fails.

use std::sync::atomic::{AtomicU32, Ordering};

use sqlx::{Connection, Executor, PgConnection};

/// Whether every optional service is required (`KEYWARD_TEST_REQUIRE_ALL=1`).
pub fn require_all() -> bool {
    std::env::var("KEYWARD_TEST_REQUIRE_ALL").is_ok_and(|v| v == "1")
}

/// Skips (returns `None` after printing why) or, under `KEYWARD_TEST_REQUIRE_ALL=1`, fails.
pub fn missing<T>(what: &str, why: impl std::fmt::Display) -> Option<T> {
    if require_all() {
        panic!("{what} is required (KEYWARD_TEST_REQUIRE_ALL=1) but unavailable: {why}");
    }
    eprintln!("skipped: {what} unavailable: {why}");
    None
}

/// The PostgreSQL server tests use: `KEYWARD_TEST_POSTGRES_URL`, by default the local one.
pub fn postgres_admin_url() -> String {
    std::env::var("KEYWARD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A fresh PostgreSQL database for one test, dropped by [`PostgresDatabase::drop_database`].
#[derive(Debug)]
pub struct PostgresDatabase {
    /// Its URL.
    pub url: String,
    name: String,
}

impl PostgresDatabase {
    /// Creates a database named after `test`, or skips (see [`missing`]).
    pub async fn create(test: &str) -> Option<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let admin_url = postgres_admin_url();
        let mut admin = match PgConnection::connect(&admin_url).await {
            Ok(conn) => conn,
            Err(e) => return missing("PostgreSQL", format!("{admin_url}: {e}")),
        };
        let name = format!(
            "keyward_{}_{}_{}",
            test.chars().filter(char::is_ascii_alphanumeric).take(24).collect::<String>(),
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        )
        .to_ascii_lowercase();
        let create = format!("CREATE DATABASE {name}");
        admin.execute(sqlx::AssertSqlSafe(create)).await.expect("CREATE DATABASE");
        let base = admin_url.rsplit_once('/').map_or(admin_url.as_str(), |(base, _)| base);
        Some(PostgresDatabase { url: format!("{base}/{name}"), name })
    }

    /// Drops the database (call at the end of the test).
    pub async fn drop_database(self) {
        if let Ok(mut admin) = PgConnection::connect(&postgres_admin_url()).await {
            let drop = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
            let _ = admin.execute(sqlx::AssertSqlSafe(drop)).await;
        }
    }
}

/// Runs `python3 -c script` with `input` on its standard input; `None` (skipped, or failed
/// under [`require_all`]) when python3 cannot import `module`.
pub fn python(module: &str, script: &str, input: &[u8]) -> Option<std::process::Output> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let probe = Command::new("python3").args(["-c", &format!("import {module}")]).status();
    if !probe.is_ok_and(|status| status.success()) {
        return missing(&format!("the Python package {module}"), "not importable (pip install it)");
    }
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python3 runs");
    child.stdin.take().expect("piped").write_all(input).expect("python3 reads its input");
    Some(child.wait_with_output().expect("python3 ends"))
}

/// A PostgreSQL server of one test's own (`initdb` and `pg_ctl` from the machine's
/// PostgreSQL), on a free port, which the test may stop and start again. Run as the
/// `postgres` user when the test runs as root, since PostgreSQL refuses to run as root.
#[derive(Debug)]
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: std::path::PathBuf,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// A URL for its database `postgres`, user `postgres`, trust authentication.
    pub url: String,
}

impl PrivatePostgres {
    /// Creates and starts the server, or skips (see [`missing`]).
    pub fn start() -> Option<Self> {
        let bindir = std::process::Command::new("pg_config").arg("--bindir").output().ok();
        let bin = bindir
            .filter(|output| output.status.success())
            .map(|output| String::from_utf8_lossy(&output.stdout).trim().to_owned().into())
            .or_else(|| {
                let versions = std::fs::read_dir("/usr/lib/postgresql").ok()?;
                versions
                    .flatten()
                    .map(|v| v.path().join("bin"))
                    .find(|bin| bin.join("initdb").exists())
            })
            .filter(|bin: &std::path::PathBuf| bin.join("initdb").exists());
        let Some(bin) = bin else {
            return missing("PostgreSQL's initdb and pg_ctl", "install the postgresql package");
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        if Self::as_root() {
            let uid = Self::postgres_ids()?;
            std::os::unix::fs::chown(dir.path(), Some(uid.0), Some(uid.1)).expect("chown");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").ok()?.local_addr().ok()?.port();
        let server = PrivatePostgres {
            url: format!("postgres://postgres@127.0.0.1:{port}/postgres"),
            dir,
            bin,
            port,
        };
        let data = server.data().display().to_string();
        let created = server.run("initdb", &["-D", &data, "-A", "trust", "-U", "postgres"]);
        if !created {
            return missing("a private PostgreSQL", "initdb failed");
        }
        server.start_again();
        Some(server)
    }

    /// Starts the server (again), waiting until it accepts connections.
    pub fn start_again(&self) {
        let data = self.data().display().to_string();
        let socket = self.dir.path().display().to_string();
        let options =
            format!("-p {} -k {socket} -c listen_addresses=127.0.0.1 -c fsync=off", self.port);
        let log = self.dir.path().join("log").display().to_string();
        assert!(
            self.run("pg_ctl", &["-D", &data, "-o", &options, "-l", &log, "-w", "start"]),
            "pg_ctl start failed: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// Stops the server at once (`pg_ctl stop -m fast`: every session is cut).
    pub fn stop(&self) {
        let data = self.data().display().to_string();
        assert!(self.run("pg_ctl", &["-D", &data, "-m", "fast", "-w", "stop"]), "pg_ctl stop");
    }

    fn data(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    fn as_root() -> bool {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|output| output.stdout.trim_ascii() == b"0")
    }

    /// The uid and gid of user `postgres`.
    fn postgres_ids() -> Option<(u32, u32)> {
        let id = |flag: &str| {
            let output = std::process::Command::new("id").args([flag, "postgres"]).output().ok()?;
            String::from_utf8_lossy(&output.stdout).trim().parse::<u32>().ok()
        };
        match (id("-u"), id("-g")) {
            (Some(uid), Some(gid)) => Some((uid, gid)),
            _ => missing(
                "user postgres",
                "PostgreSQL refuses to run as root, and there is no postgres user",
            ),
        }
    }

    /// Runs one of PostgreSQL's programs (as `postgres` when root); whether it succeeded.
    fn run(&self, program: &str, args: &[&str]) -> bool {
        let program = self.bin.join(program);
        let mut command = if Self::as_root() {
            let mut command = std::process::Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            std::process::Command::new(program)
        };
        command
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        let data = self.data().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-m", "immediate", "-w", "stop"]);
    }
}

/// Whether Python's `http-message-signatures` package (the independent RFC 9421
/// implementation the interoperability tests use) can be imported; when not, the test is
/// skipped with a printed reason, or fails under `KEYWARD_TEST_REQUIRE_ALL=1`.
pub fn python_http_message_signatures() -> bool {
    let imported = std::process::Command::new("python3")
        .args(["-c", "import http_message_signatures"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    imported
        || missing::<()>(
            "the Python package http-message-signatures",
            "not importable (pip install http-message-signatures==3.0.0)",
        )
        .is_some()
}
