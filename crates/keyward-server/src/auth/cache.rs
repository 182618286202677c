//! The in-memory credential cache: a known key or token is verified without a database read.
//!
//! Keys are cached by token with their secrets' HMAC schedules precomputed; unknown tokens are
//! remembered in a bounded negative cache, so a flood of made-up keys does not reach the
//! database either. Every change made through this server invalidates the entries it affects
//! at once; entries also expire after a while, which bounds how long a change made elsewhere
//! (another node, the `keyward admin` command) can go unseen.

use std::sync::Arc;
use std::time::Duration;

use keyward_sig::token::TokenDigest;
use keyward_sig::{AccessGrant, KeyMaterial};
use keyward_store::{AccessToken, ApiKey, KeyCredentials, Store, StoreError};
use moka::future::Cache;

/// A key as the verifier needs it.
#[derive(Debug)]
pub struct CachedKey {
    /// The key's record.
    pub key: ApiKey,
    material: KeyMaterial,
}

impl CachedKey {
    fn new(credentials: KeyCredentials) -> Self {
        let KeyCredentials { key, secret, previous_secret } = credentials;
        let material = KeyMaterial::new(key.kind, secret.0.as_bytes());
        let material = match previous_secret {
            Some(previous) => material.with_previous_secret(previous.0.as_bytes()),
            None => material,
        };
        CachedKey { key, material }
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

/// Keys and access tokens, from memory when known.
#[derive(Clone, Debug)]
pub struct CredentialCache {
    store: Store,
    keys: Cache<String, Arc<CachedKey>>,
    unknown_keys: Cache<String, ()>,
    tokens: Cache<TokenDigest, Arc<CachedToken>>,
    unknown_tokens: Cache<TokenDigest, ()>,
    /// Keys whose last use was recorded in the past minute: at most one write per key and
    /// minute, off the request's path.
    touched: Cache<i64, ()>,
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
            touched: Cache::builder()
                .max_capacity(settings.capacity)
                .time_to_live(Duration::from_secs(60))
                .build(),
        }
    }

    /// The active key whose token is `token`.
    pub async fn key(&self, token: &str, now_ms: i64) -> Result<Option<KeyHandle>, StoreError> {
        if let Some(hit) = self.keys.get(token).await {
            if !hit.overlap_ended(now_ms) {
                return Ok(Some(KeyHandle(hit)));
            }
            self.keys.invalidate(token).await;
        }
        if self.unknown_keys.contains_key(token) {
            return Ok(None);
        }
        match self.store.key_credentials(token).await? {
            Some(credentials) => {
                let entry = Arc::new(CachedKey::new(credentials));
                self.keys.insert(token.to_owned(), entry.clone()).await;
                Ok(Some(KeyHandle(entry)))
            }
            None => {
                self.unknown_keys.insert(token.to_owned(), ()).await;
                Ok(None)
            }
        }
    }

    /// The live access token with this digest.
    pub async fn token(&self, digest: &TokenDigest) -> Result<Option<TokenHandle>, StoreError> {
        if let Some(hit) = self.tokens.get(digest).await {
            return Ok(Some(TokenHandle(hit)));
        }
        if self.unknown_tokens.contains_key(digest) {
            return Ok(None);
        }
        match self.store.access_token(digest).await? {
            Some(token) => {
                let grant = AccessGrant { expires_at_ms: token.expires_at_ms };
                let entry = Arc::new(CachedToken { token, grant });
                self.tokens.insert(*digest, entry.clone()).await;
                Ok(Some(TokenHandle(entry)))
            }
            None => {
                self.unknown_tokens.insert(*digest, ()).await;
                Ok(None)
            }
        }
    }

    /// Records that key `id` was used at `now_ms`, at most once a minute, without waiting.
    pub async fn touch_key(&self, id: i64, now_ms: i64) {
        // A read first: on the hot path the key was touched a moment ago.
        if self.touched.contains_key(&id) {
            return;
        }
        if self.touched.entry(id).or_insert(()).await.is_fresh() {
            let store = self.store.clone();
            tokio::spawn(async move {
                if let Err(error) = store.touch_api_key(id, now_ms).await {
                    tracing::warn!(error = ?error, key_id = id, "could not record a key's last use");
                }
            });
        }
    }

    /// Forgets a key token (after its key changed) and any negative entry for it.
    pub async fn invalidate_key(&self, token: &str) {
        self.keys.invalidate(token).await;
        self.unknown_keys.invalidate(token).await;
    }

    /// Forgets an access token (after logout).
    pub async fn invalidate_token(&self, digest: &TokenDigest) {
        self.tokens.invalidate(digest).await;
    }

    /// Forgets every cached access token and key (after a user's or domain's rights changed).
    pub fn invalidate_all(&self) {
        self.tokens.invalidate_all();
        self.keys.invalidate_all();
    }
}
