//! What can go wrong in the store. Callers match on variants, never on message text.

/// A store failure.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database refused or failed a query; the source holds sqlx's error.
    #[error("database error")]
    Database(#[source] sqlx::Error),
    /// A migration could not be applied.
    #[error("database migration failed")]
    Migration(#[source] sqlx::migrate::MigrateError),
    /// The database URL names a backend keyward does not support.
    #[error("unsupported database URL (expected sqlite:// or postgres://)")]
    UnsupportedDatabase,
    /// The master key could not be read or created.
    #[error("master key: {0}")]
    MasterKey(String),
    /// Sealed data could not be opened: a wrong master key or tampered data.
    #[error("sealed data cannot be opened with this master key")]
    Unseal,
    /// The thing asked for does not exist (in the caller's domain).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A unique name is taken.
    #[error("{0} already exists")]
    Conflict(&'static str),
    /// A change is not allowed in the record's current state (a revoked key, say).
    #[error("{0}")]
    InvalidState(&'static str),
    /// A password could not be hashed.
    #[error("password hashing failed")]
    PasswordHash,
}

impl StoreError {
    /// Whether the database could not be reached (as opposed to refusing a query).
    pub fn is_unavailable(&self) -> bool {
        matches!(
            self,
            StoreError::Database(
                sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_)
            )
        )
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict("record"),
            _ => StoreError::Database(error),
        }
    }
}
