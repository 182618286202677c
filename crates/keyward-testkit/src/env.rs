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
