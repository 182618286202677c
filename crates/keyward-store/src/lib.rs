//! keyward-store keeps keyward's accounts, API keys, access tokens, audit trail and sample
//! activities, on SQLite (the embedded default, a file in the data directory) or PostgreSQL,
//! through one set of queries.
//!
//! ```text
//!   Store ── sqlx::Any ──┬── SQLite   (migrations/sqlite)
//!     │                  └── PostgreSQL (migrations/postgres)
//!     └── MasterKey: API key secrets sealed with AES-256-GCM, key outside the database
//! ```
//!
//! What it guarantees:
//! - every change made on behalf of a principal commits in one transaction with its audit
//!   record: no change without its record, no record without its change;
//! - API key secrets are stored sealed, passwords as argon2id hashes, access tokens as SHA-256
//!   digests;
//! - nothing returned by a query holds a secret in a field `Debug` prints;
//! - credentials die with their source: a rotated secret's access tokens when its overlap
//!   ends, a regenerated or revoked key's tokens at once, a user's other tokens when the
//!   password changes;
//! - every change that affects verification is told to [`Store::subscribe`]rs
//!   ([`Invalidation`]), so caches drop what depends on it; on PostgreSQL, so are the changes
//!   other nodes make ([`Store::follow_changes`], over `LISTEN`/`NOTIFY`);
//! - password hashing runs on a bounded number of blocking threads at once
//!   ([`StoreOptions::password_hashing`]).
//!
//! It does not cache, authenticate requests or check permissions: the server does.

mod accounts;
mod activities;
mod audit;
mod changes;
mod error;
mod invalidation;
mod keys;
mod limits;
mod model;
mod password;

mod permissions;
mod policy;
mod seal;
mod tokens;
mod usage;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor};

pub use accounts::{Bootstrap, UserUpdate, generate_password};
pub use audit::AuditEvent;
pub use changes::ChangeFeedStats;
pub use error::StoreError;
pub use invalidation::Invalidation;
pub use keys::{NewApiKey, NewPublicKey};
pub use limits::{
    KeyLimits, MAX_CREDITS, MAX_RATE_LIMIT_REQUESTS, MAX_RATE_LIMIT_WINDOW_MS,
    MAX_REFILL_INTERVAL_MS, MIN_REFILL_INTERVAL_MS, Spend,
};
pub use model::*;
pub use password::{
    MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, check_password, hash_password, verify_password,
};
pub use permissions::{
    ALL_PERMISSIONS, DeclareError, EVERY_PERMISSION, MAX_PERMISSIONS, declare_permissions,
    known_permissions,
};
pub use policy::{
    MAX_NETWORKS, MAX_ROUTES, PolicyError, ROUTE_GROUPS, checked_expiry, checked_routes,
    parse_networks,
};
pub use seal::MasterKey;
pub use tokens::TokenOwner;
pub use usage::{UsageBucket, UsageCount, UsageRow};

/// The database behind a store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file.
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl Backend {
    /// The backend a database URL names.
    pub fn from_url(url: &str) -> Result<Self, StoreError> {
        if url.starts_with("sqlite:") {
            Ok(Backend::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else {
            Err(StoreError::UnsupportedDatabase)
        }
    }

    /// `SQLite` or `PostgreSQL`.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }

    fn migrator(self) -> Migrator {
        // Each backend's migrations, with the same numbers and names; the fourth, change
        // notifications for other nodes, is PostgreSQL's alone.
        let migrations: Vec<(i64, &str, &'static str)> = match self {
            Backend::Sqlite => vec![
                (1, "initial", include_str!("../migrations/sqlite/0001_initial.sql")),
                (
                    2,
                    "credential lineage",
                    include_str!("../migrations/sqlite/0002_credential_lineage.sql"),
                ),
                (
                    3,
                    "every permission",
                    include_str!("../migrations/sqlite/0003_every_permission.sql"),
                ),
                (5, "limits", include_str!("../migrations/sqlite/0005_limits.sql")),
                (
                    6,
                    "public keys and policies",
                    include_str!("../migrations/sqlite/0006_public_keys_and_policies.sql"),
                ),
                (
                    7,
                    "certificate keys",
                    include_str!("../migrations/sqlite/0007_certificate_keys.sql"),
                ),
                (8, "plain api keys", include_str!("../migrations/sqlite/0008_plain_api_keys.sql")),
                (9, "key usage", include_str!("../migrations/sqlite/0009_key_usage.sql")),
            ],
            Backend::Postgres => vec![
                (1, "initial", include_str!("../migrations/postgres/0001_initial.sql")),
                (
                    2,
                    "credential lineage",
                    include_str!("../migrations/postgres/0002_credential_lineage.sql"),
                ),
                (
                    3,
                    "every permission",
                    include_str!("../migrations/postgres/0003_every_permission.sql"),
                ),
                (
                    4,
                    "change notifications",
                    include_str!("../migrations/postgres/0004_change_notifications.sql"),
                ),
                (5, "limits", include_str!("../migrations/postgres/0005_limits.sql")),
                (
                    6,
                    "public keys and policies",
                    include_str!("../migrations/postgres/0006_public_keys_and_policies.sql"),
                ),
                (
                    7,
                    "certificate keys",
                    include_str!("../migrations/postgres/0007_certificate_keys.sql"),
                ),
                (
                    8,
                    "plain api keys",
                    include_str!("../migrations/postgres/0008_plain_api_keys.sql"),
                ),
                (9, "key usage", include_str!("../migrations/postgres/0009_key_usage.sql")),
            ],
        };
        Migrator::with_migrations(
            migrations
                .into_iter()
                .map(|(version, description, sql)| {
                    Migration::new(
                        version,
                        Cow::Borrowed(description),
                        MigrationType::Simple,
                        sqlx::SqlStr::from_static(sql),
                        false,
                    )
                })
                .collect(),
        )
    }
}

/// The current time in epoch milliseconds; replaceable in tests.
pub type Clock = Arc<dyn Fn() -> i64 + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(|| {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        i64::try_from(now.as_millis()).unwrap_or(i64::MAX)
    })
}

/// How a store uses its database and its CPU.
#[derive(Clone, Copy, Debug)]
pub struct StoreOptions {
    /// Database connections, at most (default 8 for SQLite, 16 for PostgreSQL).
    pub max_connections: Option<u32>,
    /// How long a query waits for a free connection before the store answers
    /// [`StoreError::is_unavailable`] (default 5 s).
    pub acquire_timeout: Duration,
    /// How long an SQLite write waits for another writer before it fails as busy (default 5 s).
    pub busy_timeout: Duration,
    /// Password hashes (argon2id, about 19 MiB and tens of milliseconds each) computed at once,
    /// at most (default: half the CPUs, at least 1): a flood of logins cannot take every core
    /// or much memory.
    pub password_hashing: usize,
    /// How long a login waits for a hashing slot before it is refused as busy (default 5 s).
    pub password_hashing_wait: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        StoreOptions {
            max_connections: None,
            acquire_timeout: Duration::from_secs(5),
            busy_timeout: Duration::from_secs(5),
            password_hashing: (cpus / 2).max(1),
            password_hashing_wait: Duration::from_secs(5),
        }
    }
}

/// keyward's persistence. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Shared: the AES key schedule is large, and stores are cloned per request.
    master: Arc<MasterKey>,
    clock: Clock,
    listeners: invalidation::Listeners,
    hashing: Arc<tokio::sync::Semaphore>,
    hashing_wait: Duration,
    /// PostgreSQL's URL, for the connection that hears other nodes' changes.
    postgres_url: Option<Arc<str>>,
    /// That connection's task and what it heard, once [`Store::follow_changes`] started it.
    feed: Arc<tokio::sync::Mutex<Option<ChangeFeed>>>,
}

type ChangeFeed = (Arc<changes::ChangeFeedStats>, Arc<changes::FeedTask>);

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`) with the default
    /// [`StoreOptions`] and applies pending migrations.
    pub async fn open(url: &str, master: MasterKey) -> Result<Self, StoreError> {
        Self::open_with(url, master, StoreOptions::default()).await
    }

    /// [`Store::open`] with options.
    pub async fn open_with(
        url: &str,
        master: MasterKey,
        options: StoreOptions,
    ) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = Backend::from_url(url)?;
        let pool = match backend {
            // SQLite: one writer at a time anyway; WAL lets readers go on beside it.
            Backend::Sqlite => {
                let pragmas = format!(
                    "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {};",
                    options.busy_timeout.as_millis()
                );
                AnyPoolOptions::new()
                    .max_connections(options.max_connections.unwrap_or(8))
                    .after_connect(move |conn, _| {
                        // Built from a number, not from input.
                        let pragmas = sqlx::AssertSqlSafe(pragmas.clone());
                        Box::pin(async move {
                            conn.execute(pragmas).await?;
                            Ok(())
                        })
                    })
            }
            Backend::Postgres => {
                AnyPoolOptions::new().max_connections(options.max_connections.unwrap_or(16))
            }
        };
        let pool = pool.acquire_timeout(options.acquire_timeout).connect(url).await?;
        if backend == Backend::Sqlite {
            pool.execute("PRAGMA journal_mode = WAL;").await?;
        }
        backend.migrator().run(&pool).await.map_err(StoreError::Migration)?;
        Ok(Store {
            pool,
            backend,
            master: Arc::new(master),
            clock: system_clock(),
            listeners: invalidation::Listeners::default(),
            hashing: Arc::new(tokio::sync::Semaphore::new(options.password_hashing.max(1))),
            hashing_wait: options.password_hashing_wait,
            postgres_url: (backend == Backend::Postgres).then(|| Arc::from(url)),
            feed: Arc::default(),
        })
    }

    /// Calls `listener` with every [`Invalidation`] from now on, from this store and its
    /// clones, right after the change it describes.
    pub fn subscribe(&self, listener: impl Fn(&Invalidation) + Send + Sync + 'static) {
        self.listeners.add(Arc::new(listener));
    }

    /// Tells the listeners about `change` when the returned guard is dropped.
    pub(crate) fn invalidates(&self, change: Invalidation) -> invalidation::Pending<'_> {
        invalidation::Pending::new(&self.listeners, change)
    }

    /// Runs `work` (argon2id) on a blocking thread once a hashing slot is free; refuses with
    /// [`StoreError::Busy`] when none frees within the configured wait.
    pub(crate) async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, StoreError> {
        let permit = tokio::time::timeout(self.hashing_wait, self.hashing.clone().acquire_owned())
            .await
            .map_err(|_| StoreError::Busy)?
            .map_err(|_| StoreError::Busy)?;
        let result = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            work()
        })
        .await;
        result.map_err(|_| StoreError::PasswordHash)
    }

    /// The same store with another clock (for tests that pin time).
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The current time, epoch ms.
    pub fn now_ms(&self) -> i64 {
        (self.clock)()
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock at once
    /// (`BEGIN IMMEDIATE`): a transaction that reads first and writes later could otherwise
    /// fail outright when another writer commits in between, instead of waiting its turn.
    pub(crate) async fn write_transaction(
        &self,
    ) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.pool.begin().await?,
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.pool.execute("SELECT 1").await?;
        Ok(())
    }

    /// Stops hearing other nodes' changes and closes the pool, waiting for connections to be
    /// returned.
    pub async fn close(&self) {
        self.feed.lock().await.take();
        self.pool.close().await;
    }
}

/// Random bytes for credentials.
pub(crate) fn random_30() -> [u8; 30] {
    let mut bytes = [0u8; 30];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
}

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;

    /// A database with only the first migration applied, holding keys created by a user, by
    /// keys below it, and by nobody; then every migration.
    async fn lineage_after_upgrade(url: &str) {
        install_default_drivers();
        let backend = Backend::from_url(url).unwrap();
        let pool = AnyPoolOptions::new().max_connections(1).connect(url).await.unwrap();
        let mut first = backend.migrator();
        first.migrations = first.migrations.iter().take(1).cloned().collect::<Vec<_>>().into();
        first.run(&pool).await.unwrap();
        for sql in [
            "INSERT INTO resellers (name, created_at_ms) VALUES ('r', 0)",
            "INSERT INTO domains (reseller_id, name, created_at_ms) VALUES (1, 'd', 0)",
            "INSERT INTO users (domain_id, username, password_hash, permissions, created_at_ms) \
             VALUES (1, 'u', 'x', '[]', 0)",
            "INSERT INTO users (domain_id, username, password_hash, permissions, created_at_ms) \
             VALUES (1, 'admin', 'x', '[\"activities:read\",\"activities:write\",\"audit:read\",\
             \"keys:manage\",\"keys:reveal\",\"users:manage\"]', 0)",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        let key = |token: &str, user: Option<i64>, key: Option<i64>| {
            sqlx::query(
                "INSERT INTO api_keys (kind, domain_id, name, token, secret_sealed, permissions, \
                 created_by_user_id, created_by_key_id, created_at_ms) \
                 VALUES ('domain', 1, $1, $1, $2, '[]', $3, $4, 0)",
            )
            .bind(token.to_owned())
            .bind(Vec::<u8>::new())
            .bind(user)
            .bind(key)
        };
        for (token, user, by_key) in [
            ("k1", Some(1), None),
            ("k2", None, Some(1)),
            ("k3", None, Some(2)),
            ("k4", None, None),
        ] {
            key(token, user, by_key).execute(&pool).await.unwrap();
        }
        backend.migrator().run(&pool).await.unwrap();
        let rows = sqlx::query("SELECT token, root_user_id FROM api_keys ORDER BY id")
            .fetch_all(&pool)
            .await
            .unwrap();
        let roots: Vec<(String, Option<i64>)> = rows
            .iter()
            .map(|row| (row.try_get("token").unwrap(), row.try_get("root_user_id").unwrap()))
            .collect();
        assert_eq!(
            roots,
            [
                ("k1".into(), Some(1)),
                ("k2".into(), Some(1)),
                ("k3".into(), Some(1)),
                ("k4".into(), None)
            ]
        );
        pool.close().await;
    }

    #[tokio::test]
    async fn upgrading_gives_keys_their_root_user_and_full_administrators_every_permission() {
        let dir = tempfile::tempdir().unwrap();
        lineage_after_upgrade(&format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display()))
            .await;
        if let Some(db) = keyward_testkit::env::PostgresDatabase::create("lineage_upgrade").await {
            lineage_after_upgrade(&db.url).await;
            db.drop_database().await;
        }
    }
}
