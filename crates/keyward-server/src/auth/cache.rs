//! The in-memory credential cache: a known key or token is verified without a database read.
//! Lookups are synchronous and never wait on I/O; loading from the store is a separate, async
//! step taken only on a miss.
//!
//! Keys are cached by token with their secrets' HMAC schedules precomputed; unknown tokens are
//! remembered in a bounded negative cache, so a flood of made-up keys does not reach the
//! database either. Every change made through this server invalidates the entries it affects
//! at once; entries also expire after a while, which bounds how long a change made elsewhere
//! (another node, the `keyward admin` command) can go unseen.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use keyward_sig::token::TokenDigest;
use keyward_sig::{AccessGrant, KeyMaterial};
use keyward_store::{AccessToken, ApiKey, KeyCredentials, Store, StoreError};
use moka::sync::Cache;

/// A key as the verifier needs it.
#[derive(Debug)]
pub struct CachedKey {
    /// The key's record.
    pub key: ApiKey,
    material: KeyMaterial,
    /// When this node last recorded the key's use (epoch ms): at most one write a minute.
    last_recorded_use_ms: AtomicI64,
    /// When the entry was read from the store (epoch ms).
    loaded_at_ms: i64,
}

/// How old an entry must be before a signature mismatch may reload it: a key changed
/// elsewhere (another node, `keyward admin`) is seen at once, and bad signatures cannot make
/// every request read the database.
const RELOAD_AFTER_MS: i64 = 10_000;

/// How often a key's last use is written to the store, at most.
const USE_RECORD_INTERVAL_MS: i64 = 60_000;

impl CachedKey {
    fn new(credentials: KeyCredentials, loaded_at_ms: i64) -> Self {
        let KeyCredentials { key, secret, previous_secret } = credentials;
        let material = KeyMaterial::new(key.kind, secret.0.as_bytes());
        let material = match previous_secret {
            Some(previous) => material.with_previous_secret(previous.0.as_bytes()),
            None => material,
        };
        CachedKey { key, material, last_recorded_use_ms: AtomicI64::new(i64::MIN), loaded_at_ms }
    }

    /// Whether a signature that did not match may be checked again against a fresh read.
    pub fn may_reload(&self, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.loaded_at_ms) >= RELOAD_AFTER_MS
    }

    /// Records that the key was used at `now_ms`: in the store at most once a minute per
    /// node, without making the request wait.
    pub fn record_use(&self, store: &Store, now_ms: i64) {
        let last = self.last_recorded_use_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < USE_RECORD_INTERVAL_MS {
            return;
        }
        // One request wins the right to write; the others go on.
        if self
            .last_recorded_use_ms
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
        {
            return;
        }
        let (store, id) = (store.clone(), self.key.id);
        tokio::spawn(async move {
            if let Err(error) = store.touch_api_key(id, now_ms).await {
                tracing::warn!(error = ?error, key_id = id, "could not record a key's last use");
            }
        });
    }

    /// Whether the entry carries a previous secret whose overlap has ended.
    fn overlap_ended(&self, now_ms: i64) -> bool {
        self.key.previous_secret_until_ms.is_some_and(|until| now_ms >= until)
    }
}

/// The handle verification borrows key material through.
#[derive(Clone, Debug)]
pub struct KeyHandle(pub Arc<CachedKey>);

impl AsRef<KeyMaterial> for KeyHandle {
    fn as_ref(&self) -> &KeyMaterial {
        &self.0.material
    }
}

/// An access token as the verifier needs it.
#[derive(Debug)]
pub struct CachedToken {
    /// Who it speaks for.
    pub token: AccessToken,
    grant: AccessGrant,
}

/// The handle verification borrows a token's grant through.
#[derive(Clone, Debug)]
pub struct TokenHandle(pub Arc<CachedToken>);

impl AsRef<AccessGrant> for TokenHandle {
    fn as_ref(&self) -> &AccessGrant {
        &self.0.grant
    }
}

/// Sizes and lifetimes of the cache.
#[derive(Clone, Copy, Debug)]
pub struct CacheSettings {
    /// Known keys and tokens kept.
    pub capacity: u64,
    /// Unknown identifiers remembered.
    pub negative_capacity: u64,
    /// How long an entry is trusted before it is read again.
    pub time_to_live: Duration,
    /// How long an unknown identifier stays unknown.
    pub negative_time_to_live: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            capacity: 100_000,
            negative_capacity: 100_000,
            time_to_live: Duration::from_secs(300),
            negative_time_to_live: Duration::from_secs(30),
        }
    }
}

fn bounded<K, V>((capacity, time_to_live): (u64, Duration)) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder().max_capacity(capacity).time_to_live(time_to_live).build()
}

/// What memory knows of a credential.
#[derive(Clone, Debug)]
pub enum Remembered<T> {
    /// Known and usable.
    Known(T),
    /// Known not to exist (the negative cache).
    Unknown,
    /// Not in memory: ask the store.
    Absent,
}

/// Keys and access tokens, from memory when known.
#[derive(Clone, Debug)]
pub struct CredentialCache {
    store: Store,
    keys: Cache<String, Arc<CachedKey>>,
    unknown_keys: Cache<String, ()>,
    tokens: Cache<TokenDigest, Arc<CachedToken>>,
    unknown_tokens: Cache<TokenDigest, ()>,
}

impl CredentialCache {
    /// An empty cache in front of `store`.
    pub fn new(store: Store, settings: CacheSettings) -> Self {
        let positive = (settings.capacity, settings.time_to_live);
        let negative = (settings.negative_capacity, settings.negative_time_to_live);
        CredentialCache {
            store,
            keys: bounded(positive),
            unknown_keys: bounded(negative),
            tokens: bounded(positive),
            unknown_tokens: bounded(negative),
        }
    }

    /// What memory knows of the key whose token is `token`, without any I/O.
    pub fn cached_key(&self, token: &str, now_ms: i64) -> Remembered<KeyHandle> {
        if let Some(hit) = self.keys.get(token) {
            if !hit.overlap_ended(now_ms) {
                return Remembered::Known(KeyHandle(hit));
            }
            self.keys.invalidate(token);
        }
        if self.unknown_keys.contains_key(token) { Remembered::Unknown } else { Remembered::Absent }
    }

    /// Reads the key whose token is `token` from the store into memory.
    pub async fn load_key(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<Option<KeyHandle>, StoreError> {
        match self.store.key_credentials(token).await? {
            Some(credentials) => {
                let entry = Arc::new(CachedKey::new(credentials, now_ms));
                self.keys.insert(token.to_owned(), entry.clone());
                Ok(Some(KeyHandle(entry)))
            }
            None => {
                self.keys.invalidate(token);
                self.unknown_keys.insert(token.to_owned(), ());
                Ok(None)
            }
        }
    }

    /// What memory knows of the access token with this digest, without any I/O.
    pub fn cached_token(&self, digest: &TokenDigest) -> Remembered<TokenHandle> {
        match self.tokens.get(digest) {
            Some(hit) => Remembered::Known(TokenHandle(hit)),
            None if self.unknown_tokens.contains_key(digest) => Remembered::Unknown,
            None => Remembered::Absent,
        }
    }

    /// Reads the access token with this digest from the store into memory.
    pub async fn load_token(
        &self,
        digest: &TokenDigest,
    ) -> Result<Option<TokenHandle>, StoreError> {
        match self.store.access_token(digest).await? {
            Some(token) => {
                let grant = AccessGrant { expires_at_ms: token.expires_at_ms };
                let entry = Arc::new(CachedToken { token, grant });
                self.tokens.insert(*digest, entry.clone());
                Ok(Some(TokenHandle(entry)))
            }
            None => {
                self.unknown_tokens.insert(*digest, ());
                Ok(None)
            }
        }
    }

    /// Records a verified key's use (see [`CachedKey::record_use`]).
    pub fn record_use(&self, key: &CachedKey, now_ms: i64) {
        key.record_use(&self.store, now_ms);
    }

    /// Forgets a key token (after its key changed) and any negative entry for it.
    pub fn invalidate_key(&self, token: &str) {
        self.keys.invalidate(token);
        self.unknown_keys.invalidate(token);
    }

    /// Forgets an access token (after logout).
    pub fn invalidate_token(&self, digest: &TokenDigest) {
        self.tokens.invalidate(digest);
    }

    /// Forgets everything, known and unknown (after a user's rights or a domain's state
    /// changed: a re-enabled domain's keys must not stay "unknown").
    pub fn invalidate_all(&self) {
        self.tokens.invalidate_all();
        self.keys.invalidate_all();
        self.unknown_tokens.invalidate_all();
        self.unknown_keys.invalidate_all();
    }
}
