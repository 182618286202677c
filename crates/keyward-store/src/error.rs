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
    /// A stored public key does not parse (the database was edited by hand): the key cannot
    /// verify. Carries the key's id.
    #[error("the stored public key of API key {0} cannot be read")]
    StoredPublicKey(i64),
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
    /// A new password breaks the password rule ([`crate::check_password`]); the text says how.
    #[error("{0}")]
    WeakPassword(&'static str),
    /// Every password-hashing slot stayed taken for the configured wait: the server is busy.
    #[error("password hashing is busy")]
    Busy,
}

impl StoreError {
    /// Whether the database could not serve the query now, though it may shortly: it cannot be
    /// reached, every connection stayed busy for the acquire timeout, SQLite stayed locked by
    /// another writer for the busy timeout, or PostgreSQL is out of resources or shutting down.
    /// The server answers these with 503 and `Retry-After`, not as a fault.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StoreError::Database(
                sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::Io(_)
                | sqlx::Error::WorkerCrashed,
            ) => true,
            StoreError::Database(sqlx::Error::Database(error)) => {
                error.code().is_some_and(|code| is_transient_code(&code))
            }
            _ => false,
        }
    }
}

/// PostgreSQL's SQLSTATE classes 08 (connection exception), 53 (insufficient resources) and
/// 57P (operator intervention: shutting down, cannot connect now), always five characters;
/// SQLite's SQLITE_BUSY (5) and SQLITE_LOCKED (6) with any extended code (a number below
/// 10000 whose low byte is the primary code).
fn is_transient_code(code: &str) -> bool {
    if code.len() == 5 {
        return ["08", "53", "57P"].iter().any(|class| code.starts_with(class));
    }
    code.parse::<u32>().is_ok_and(|sqlite| matches!(sqlite & 0xff, 5 | 6))
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match &error {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict("record"),
            _ => StoreError::Database(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_transient_code;

    #[test]
    fn busy_locked_and_unavailable_codes_are_transient() {
        for code in ["5", "517", "261", "773", "6", "262", "53300", "57P01", "08006"] {
            assert!(is_transient_code(code), "{code}");
        }
        for code in ["19", "2067", "1555", "23505", "42P01", "40001"] {
            assert!(!is_transient_code(code), "{code}");
        }
    }
}
