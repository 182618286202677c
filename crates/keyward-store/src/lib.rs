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
//! - nothing returned by a query holds a secret in a field `Debug` prints.
//!
//! It does not cache, authenticate requests or check permissions: the server does.

mod accounts;
mod activities;
mod audit;
pub mod error;
mod keys;
pub mod model;
mod password;
pub mod seal;
mod tokens;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AnyPool, Executor};

pub use accounts::{Bootstrap, UserUpdate};
pub use error::StoreError;
pub use keys::{KeyOwner, NewApiKey};
pub use model::*;
pub use password::{hash_password, verify_password};
pub use seal::MasterKey;
pub use tokens::TokenOwner;

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
        // Each backend's migrations, with the same numbers and names.
        let (version, description, sql) = match self {
            Backend::Sqlite => {
                (1, "initial", include_str!("../migrations/sqlite/0001_initial.sql"))
            }
            Backend::Postgres => {
                (1, "initial", include_str!("../migrations/postgres/0001_initial.sql"))
            }
        };
        Migrator::with_migrations(vec![Migration::new(
            version,
            Cow::Borrowed(description),
            MigrationType::Simple,
            sqlx::SqlStr::from_static(sql),
            false,
        )])
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

/// keyward's persistence. Cheap to clone: clones share the pool.
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// Shared: the AES key schedule is large, and stores are cloned per request.
    master: Arc<MasterKey>,
    clock: Clock,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("backend", &self.backend).finish_non_exhaustive()
    }
}

impl Store {
    /// Connects to `url` (`sqlite://path?mode=rwc` or `postgres://...`) and applies pending
    /// migrations.
    pub async fn open(url: &str, master: MasterKey) -> Result<Self, StoreError> {
        install_default_drivers();
        let backend = Backend::from_url(url)?;
        let options = match backend {
            // SQLite: one writer at a time anyway; WAL lets readers go on beside it.
            Backend::Sqlite => AnyPoolOptions::new().max_connections(8).after_connect(|conn, _| {
                Box::pin(async move {
                    conn.execute("PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 10000;").await?;
                    Ok(())
                })
            }),
            Backend::Postgres => AnyPoolOptions::new().max_connections(16),
        };
        let pool = options.connect(url).await?;
        if backend == Backend::Sqlite {
            pool.execute("PRAGMA journal_mode = WAL;").await?;
        }
        backend.migrator().run(&pool).await.map_err(StoreError::Migration)?;
        Ok(Store { pool, backend, master: Arc::new(master), clock: system_clock() })
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

    /// Closes the pool, waiting for connections to be returned.
    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Random bytes for credentials.
pub(crate) fn random_30() -> [u8; 30] {
    let mut bytes = [0u8; 30];
    getrandom::fill(&mut bytes).expect("the operating system provides randomness");
    bytes
}
