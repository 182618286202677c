//! The in-memory credential cache: a known key or token is verified without a database read.
//!
//! Keys are cached by token with their secrets' HMAC schedules precomputed, access tokens and
//! plain API keys by digest; unknown identifiers are remembered in a bounded negative cache, so a flood of
//! made-up keys does not reach the database either. A miss is loaded once however many
//! requests wait for it (single flight): a thousand requests for a cold key make one read.
//!
//! Every change the store makes is told to the cache ([`keyward_store::Invalidation`]), which
//! drops exactly the entries that depend on the changed identity: a key's entry and the tokens
//! minted from it; a user's tokens, the keys rooted in the user and their tokens; everything of
//! a disabled domain. The next request on this node sees the change. A load that raced a change
//! can never put what it read back over it: every invalidation moves a generation counter, and
//! a load that finds the counter moved while it read removes what it inserted. Entries also
//! expire after a while, which bounds how long a change made elsewhere (another node, the
//! `keyward admin` command) can go unseen.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use keyward_sig::certificate::ClientCertificate;
use keyward_sig::token::TokenDigest;
use keyward_sig::{AccessGrant, CredentialLookup, CredentialRef, KeyMaterial};
use keyward_store::{
    AccessToken, ApiKey, Invalidation, KeyCredentials, KeyVerification, Store, StoreError,
    TokenSubject,
};
use moka::sync::Cache;
use tokio::sync::OnceCell;

use crate::metrics::Meters;
use crate::usage::{UsageRecorder, UsageRetention};

/// A key as the verifier needs it.
#[derive(Debug)]
pub struct CachedKey {
    /// The key's record, its permissions narrowed by its root user's.
    pub key: ApiKey,
    material: KeyMaterial,
    /// When this node last noted the key's use (epoch ms): at most once a second.
    last_recorded_use_ms: AtomicI64,
    /// When the entry was read from the store (epoch ms).
    loaded_at_ms: i64,
}

/// How old an entry must be before a signature mismatch may reload it: a key changed
/// elsewhere (another node, `keyward admin`) is seen at once, and bad signatures cannot make
/// every request read the database.
const RELOAD_AFTER_MS: i64 = 10_000;

/// How often a key's use is noted, at most (the notes are written in batches, [`UsageRecorder`]).
const USE_RECORD_INTERVAL_MS: i64 = 1_000;

impl CachedKey {
    fn new(credentials: KeyCredentials, loaded_at_ms: i64) -> Self {
        let KeyCredentials { key, verification } = credentials;
        let material = match verification {
            KeyVerification::Secret { current, previous: None } => {
                KeyMaterial::new(key.kind, current.0.as_bytes())
            }
            KeyVerification::Secret { current, previous: Some(previous) } => {
                KeyMaterial::new(key.kind, current.0.as_bytes())
                    .with_previous_secret(previous.0.as_bytes())
            }
            KeyVerification::PublicKey(public_key) => KeyMaterial::public(key.kind, *public_key),
            KeyVerification::Certificate(binding) => KeyMaterial::certificate(key.kind, binding),
            KeyVerification::Plain => KeyMaterial::plain(key.kind),
        };
        CachedKey { key, material, last_recorded_use_ms: AtomicI64::new(i64::MIN), loaded_at_ms }
    }

    /// Whether a signature that did not match may be checked again against a fresh read.
    pub fn may_reload(&self, now_ms: i64) -> bool {
        now_ms.saturating_sub(self.loaded_at_ms) >= RELOAD_AFTER_MS
    }

    /// The key material, for checks made before the body is read.
    pub fn material(&self) -> &KeyMaterial {
        &self.material
    }

    /// Whether the entry was read while a previous secret (or plain key value) still counted,
    /// and that overlap has ended since: it must be read again. (One read after the overlap
    /// holds nothing of it, however long the key keeps the date.)
    fn overlap_ended(&self, now_ms: i64) -> bool {
        self.key
            .previous_secret_until_ms
            .is_some_and(|until| self.loaded_at_ms < until && now_ms >= until)
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

impl CachedToken {
    /// Whether the token depends on user `id`: its user, or the root user of its key.
    fn depends_on_user(&self, id: i64) -> bool {
        match &self.token.subject {
            TokenSubject::User(user) => user.id == id,
            TokenSubject::Key(key) => key.root_user_id == Some(id),
        }
    }

    /// Whether the token was minted from key `id`.
    fn minted_from(&self, id: i64) -> bool {
        matches!(&self.token.subject, TokenSubject::Key(key) if key.id == id)
    }
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
    /// How often the keys' last uses and usage counts noted on this node are written, in one
    /// transaction.
    pub use_flush_interval: Duration,
    /// How long keys' usage is kept, by resolution.
    pub usage_retention: UsageRetention,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            capacity: 100_000,
            negative_capacity: 100_000,
            time_to_live: Duration::from_secs(300),
            negative_time_to_live: Duration::from_secs(30),
            use_flush_interval: Duration::from_secs(5),
            usage_retention: UsageRetention::default(),
        }
    }
}

fn bounded<K, V>((capacity, time_to_live): (u64, Duration)) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(capacity)
        .time_to_live(time_to_live)
        .support_invalidation_closures()
        .build()
}

/// What the cache found for a presented credential: a key, a token, or neither (unknown,
/// revoked or disabled). Answers the verifier's lookup with it.
#[derive(Clone, Debug, Default)]
pub struct Found {
    /// The key, for signed schemes.
    pub key: Option<KeyHandle>,
    /// The access token, for bearer.
    pub token: Option<TokenHandle>,
    /// The keys a request's other RFC 9421 signatures name, when every signature is verified.
    pub others: Vec<KeyHandle>,
}

impl CredentialLookup for Found {
    type Key = KeyHandle;
    type Grant = TokenHandle;

    fn api_key(&self, token: &str) -> Option<KeyHandle> {
        if self.others.is_empty() {
            // One key, found by this very token.
            return self.key.clone();
        }
        self.key.iter().chain(&self.others).find(|key| key.0.key.token == token).cloned()
    }

    fn access_token(&self, _: &TokenDigest) -> Option<TokenHandle> {
        self.token.clone()
    }

    fn certificate(&self, _: &ClientCertificate) -> Option<KeyHandle> {
        // Found by this very certificate.
        self.key.clone()
    }

    fn plain_api_key(&self, _: &TokenDigest) -> Option<KeyHandle> {
        // Found by this very digest.
        self.key.clone()
    }
}

/// A load in flight, shared by every request waiting for the same credential.
type InFlight = Arc<OnceCell<Found>>;

/// What is being loaded.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Loading {
    Key(String),
    Token(TokenDigest),
    Certificate(Box<ClientCertificate>),
    PlainKey(TokenDigest),
}

impl From<CredentialRef<'_>> for Loading {
    fn from(credential: CredentialRef<'_>) -> Self {
        match credential {
            CredentialRef::ApiKey(token) => Loading::Key(token.to_owned()),
            CredentialRef::AccessToken(digest) => Loading::Token(*digest),
            CredentialRef::Certificate(certificate) => {
                Loading::Certificate(Box::new(certificate.clone()))
            }
            CredentialRef::PlainApiKey(digest) => Loading::PlainKey(*digest),
        }
    }
}

/// Where a certificate's key is remembered, beside keys by token: its fingerprint after this
/// prefix (keys' tokens never start with it).
const CERTIFICATE_ENTRY: &str = "x5t:";

fn certificate_entry(certificate: &ClientCertificate) -> String {
    format!("{CERTIFICATE_ENTRY}{}", certificate.thumbprint())
}

/// Keys and access tokens, from memory when known.
#[derive(Clone, Debug)]
pub struct CredentialCache {
    store: Store,
    keys: Cache<String, Arc<CachedKey>>,
    unknown_keys: Cache<String, ()>,
    /// Plain API keys by their value's digest, and the unknown ones (made-up keys with a valid
    /// checksum are cheap to make: they are remembered too).
    plain_keys: Cache<TokenDigest, Arc<CachedKey>>,
    unknown_plain_keys: Cache<TokenDigest, ()>,
    tokens: Cache<TokenDigest, Arc<CachedToken>>,
    unknown_tokens: Cache<TokenDigest, ()>,
    /// Moved by every invalidation, before it drops entries.
    generation: Arc<AtomicU64>,
    in_flight: Arc<Mutex<HashMap<Loading, InFlight>>>,
    /// Reads from the store so far.
    loads: Arc<AtomicU64>,
    /// Keys' last uses and usage counts, written in batches.
    usage: UsageRecorder,
    /// Hits, loads and the pipeline's other counts.
    meters: Meters,
}

/// What the store answered for one credential (a key's record is boxed: it is several times
/// a token's size, and a read lives only until it is cached).
enum Read {
    Key(Option<Box<KeyCredentials>>),
    Token(Option<AccessToken>),
}

impl CredentialCache {
    /// An empty cache in front of `store`, told of the store's changes from now on.
    pub fn new(store: Store, settings: CacheSettings) -> Self {
        let positive = (settings.capacity, settings.time_to_live);
        let negative = (settings.negative_capacity, settings.negative_time_to_live);
        let cache = CredentialCache {
            store: store.clone(),
            keys: bounded(positive),
            unknown_keys: bounded(negative),
            plain_keys: bounded(positive),
            unknown_plain_keys: bounded(negative),
            tokens: bounded(positive),
            unknown_tokens: bounded(negative),
            generation: Arc::new(AtomicU64::new(0)),
            in_flight: Arc::new(Mutex::new(HashMap::new())),
            loads: Arc::new(AtomicU64::new(0)),
            usage: UsageRecorder::new(
                store.clone(),
                settings.use_flush_interval,
                settings.usage_retention,
            ),
            meters: Meters::default(),
        };
        let listener = cache.clone();
        store.subscribe(move |change| listener.invalidate(change));
        cache
    }

    /// The key or token `credential` names: from memory, else loaded from the store (once,
    /// however many requests ask at the same time).
    pub async fn find(
        &self,
        credential: CredentialRef<'_>,
        now_ms: i64,
    ) -> Result<Found, StoreError> {
        match self.remembered(credential, now_ms) {
            Some(found) => {
                self.meters.cache_hit();
                Ok(found)
            }
            // Boxed: a load is rare, and its future is large; every request's future stays small.
            None => Box::pin(self.load(Loading::from(credential), now_ms)).await,
        }
    }

    /// What memory knows of `credential`, if anything: known, or known not to exist.
    fn remembered(&self, credential: CredentialRef<'_>, now_ms: i64) -> Option<Found> {
        match credential {
            CredentialRef::ApiKey(token) => match self.keys.get(token) {
                Some(hit) if !hit.overlap_ended(now_ms) => {
                    Some(Found { key: Some(KeyHandle(hit)), ..Found::default() })
                }
                Some(_) => None,
                None => self.unknown_keys.contains_key(token).then(Found::default),
            },
            CredentialRef::AccessToken(digest) => match self.tokens.get(digest) {
                Some(hit) => Some(Found { token: Some(TokenHandle(hit)), ..Found::default() }),
                None => self.unknown_tokens.contains_key(digest).then(Found::default),
            },
            // Unknown certificates are not remembered: a key bound to one may be created at any
            // time, and only certificates the trusted CA issued get this far.
            CredentialRef::Certificate(certificate) => self
                .keys
                .get(&certificate_entry(certificate))
                .map(|hit| Found { key: Some(KeyHandle(hit)), ..Found::default() }),
            CredentialRef::PlainApiKey(digest) => match self.plain_keys.get(digest) {
                Some(hit) if !hit.overlap_ended(now_ms) => {
                    Some(Found { key: Some(KeyHandle(hit)), ..Found::default() })
                }
                Some(_) => None,
                None => self.unknown_plain_keys.contains_key(digest).then(Found::default),
            },
        }
    }

    /// Reads the key whose token is `token` again, whatever memory holds (after a signature
    /// mismatch on an entry old enough, see [`CachedKey::may_reload`]).
    pub async fn reload_key(&self, token: &str, now_ms: i64) -> Result<Found, StoreError> {
        Box::pin(self.load(Loading::Key(token.to_owned()), now_ms)).await
    }

    /// Joins the load of `what` in flight, or starts it.
    async fn load(&self, what: Loading, now_ms: i64) -> Result<Found, StoreError> {
        let cell = {
            let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
            in_flight.entry(what.clone()).or_default().clone()
        };
        // If the request that started the load goes away, a waiting one takes it over.
        let found = cell.get_or_try_init(|| self.load_from_store(&what, now_ms)).await.cloned();
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if in_flight.get(&what).is_some_and(|current| Arc::ptr_eq(current, &cell)) {
            in_flight.remove(&what);
        }
        found
    }

    /// The store the cache reads from.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The pipeline's meters, which count the cache's hits and loads.
    pub fn meters(&self) -> &Meters {
        &self.meters
    }

    /// How many times a credential was read from the store, since start.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    /// Reads `what` from the store into memory, unless an invalidation raced the read.
    async fn load_from_store(&self, what: &Loading, now_ms: i64) -> Result<Found, StoreError> {
        let generation = self.generation.load(Ordering::SeqCst);
        let read = self.read(what).await?;
        Ok(self.remember(what, read, generation, now_ms))
    }

    async fn read(&self, what: &Loading) -> Result<Read, StoreError> {
        self.loads.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let read = match what {
            Loading::Key(token) => {
                self.store.key_credentials(token).await.map(|read| Read::Key(read.map(Box::new)))
            }
            Loading::Token(digest) => self.store.access_token(digest).await.map(Read::Token),
            Loading::Certificate(certificate) => self
                .store
                .key_by_certificate(certificate)
                .await
                .map(|read| Read::Key(read.map(Box::new))),
            Loading::PlainKey(digest) => self
                .store
                .key_by_plain_digest(digest)
                .await
                .map(|read| Read::Key(read.map(Box::new))),
        };
        match &read {
            Ok(_) => self.meters.cache_miss(started.elapsed().as_secs_f64()),
            Err(_) => self.meters.store_failed(),
        }
        read
    }

    /// Puts what was read (when the generation was `generation`) into memory, and takes it out
    /// again if a change was told meanwhile: what was read may predate that change, and must
    /// not outlive it. (An invalidation after this check drops the entry itself.)
    fn remember(&self, what: &Loading, read: Read, generation: u64, now_ms: i64) -> Found {
        let found = match (what, read) {
            (Loading::Key(token), Read::Key(Some(credentials))) => {
                let entry = Arc::new(CachedKey::new(*credentials, now_ms));
                self.keys.insert(token.clone(), entry.clone());
                Found { key: Some(KeyHandle(entry)), ..Found::default() }
            }
            (Loading::Key(token), _) => {
                self.keys.invalidate(token);
                self.unknown_keys.insert(token.clone(), ());
                Found::default()
            }
            (Loading::Token(digest), Read::Token(Some(token))) => {
                let grant = AccessGrant { expires_at_ms: token.expires_at_ms };
                let entry = Arc::new(CachedToken { token, grant });
                self.tokens.insert(*digest, entry.clone());
                Found { token: Some(TokenHandle(entry)), ..Found::default() }
            }
            (Loading::Token(digest), _) => {
                self.unknown_tokens.insert(*digest, ());
                Found::default()
            }
            (Loading::Certificate(certificate), Read::Key(Some(credentials))) => {
                let entry = Arc::new(CachedKey::new(*credentials, now_ms));
                self.keys.insert(certificate_entry(certificate), entry.clone());
                Found { key: Some(KeyHandle(entry)), ..Found::default() }
            }
            (Loading::Certificate(_), _) => Found::default(),
            (Loading::PlainKey(digest), Read::Key(Some(credentials))) => {
                let entry = Arc::new(CachedKey::new(*credentials, now_ms));
                self.plain_keys.insert(*digest, entry.clone());
                Found { key: Some(KeyHandle(entry)), ..Found::default() }
            }
            (Loading::PlainKey(digest), _) => {
                self.plain_keys.invalidate(digest);
                self.unknown_plain_keys.insert(*digest, ());
                Found::default()
            }
        };
        if self.generation.load(Ordering::SeqCst) != generation {
            self.forget(what);
        }
        found
    }

    fn forget(&self, what: &Loading) {
        match what {
            Loading::Key(token) => {
                self.keys.invalidate(token);
                self.unknown_keys.invalidate(token);
            }
            Loading::Token(digest) => {
                self.tokens.invalidate(digest);
                self.unknown_tokens.invalidate(digest);
            }
            Loading::Certificate(certificate) => {
                self.keys.invalidate(&certificate_entry(certificate))
            }
            Loading::PlainKey(digest) => {
                self.plain_keys.invalidate(digest);
                self.unknown_plain_keys.invalidate(digest);
            }
        }
    }

    /// Notes a verified key's use at `now_ms`, at most once a second per key, without a
    /// write: the notes are written in batches ([`CredentialCache::usage`]).
    pub fn record_use(&self, key: &CachedKey, now_ms: i64) {
        let last = key.last_recorded_use_ms.load(Ordering::Relaxed);
        if now_ms.saturating_sub(last) < USE_RECORD_INTERVAL_MS {
            return;
        }
        // One request wins the right to note it; the others go on.
        if key
            .last_recorded_use_ms
            .compare_exchange(last, now_ms, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.usage.note(key.key.id, now_ms);
        }
    }

    /// The recorder of keys' last uses and usage counts: flush it before stopping, so nothing
    /// noted is lost.
    pub fn usage(&self) -> &UsageRecorder {
        &self.usage
    }

    /// Drops what depends on `change` (called by the store after every change).
    fn invalidate(&self, change: &Invalidation) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.meters.invalidated(match change {
            Invalidation::Key(_) => "key",
            Invalidation::User(_) => "user",
            Invalidation::Domain(_) => "domain",
            Invalidation::AccessToken(_) => "token",
            Invalidation::Everything => "everything",
        });
        // New requests must not join a load that began before the change.
        self.in_flight.lock().unwrap_or_else(|p| p.into_inner()).clear();
        // `invalidate_entries_if` fails only when closures are not enabled, which `bounded`
        // does; should it ever fail, forgetting everything is the safe answer.
        let dropped = match *change {
            // Every key found by a certificate too: a key newly bound to one (pinned, which comes
            // before a subject) must not wait behind the key it was found as before.
            Invalidation::Key(id) => self
                .keys
                .invalidate_entries_if(move |found_by, entry| {
                    entry.key.id == id || found_by.starts_with(CERTIFICATE_ENTRY)
                })
                .and_then(|_| self.plain_keys.invalidate_entries_if(move |_, e| e.key.id == id))
                .and_then(|_| self.tokens.invalidate_entries_if(move |_, t| t.minted_from(id)))
                .is_ok(),
            Invalidation::User(id) => {
                // A user enabled again brings back the keys rooted in it, which were refused
                // (and remembered as unknown) while it was disabled.
                self.unknown_keys.invalidate_all();
                self.unknown_plain_keys.invalidate_all();
                self.unknown_tokens.invalidate_all();
                let rooted = move |entry: &Arc<CachedKey>| entry.key.root_user_id == Some(id);
                self.keys
                    .invalidate_entries_if(move |_, entry| rooted(entry))
                    .and_then(|_| self.plain_keys.invalidate_entries_if(move |_, e| rooted(e)))
                    .and_then(|_| {
                        self.tokens.invalidate_entries_if(move |_, t| t.depends_on_user(id))
                    })
                    .is_ok()
            }
            Invalidation::AccessToken(digest) => {
                self.tokens.invalidate(&digest);
                true
            }
            // A re-enabled domain's keys must not stay "unknown" either.
            Invalidation::Domain(_) | Invalidation::Everything => false,
        };
        if !dropped {
            self.tokens.invalidate_all();
            self.keys.invalidate_all();
            self.plain_keys.invalidate_all();
            self.unknown_tokens.invalidate_all();
            self.unknown_keys.invalidate_all();
            self.unknown_plain_keys.invalidate_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use keyward_sig::CredentialRef;
    use keyward_store::{Actor, KeyOwner, MasterKey, NewApiKey, Permissions, Store};
    use moka::sync::Cache;

    use super::{CacheSettings, CredentialCache, Loading};

    #[test]
    fn entries_matching_an_invalidation_closure_are_gone_at_once() {
        // What the cache relies on: `get` never answers with an entry a registered predicate
        // matches, even before housekeeping removes it.
        let cache: Cache<u32, u32> = Cache::builder().support_invalidation_closures().build();
        cache.insert(1, 10);
        cache.insert(2, 20);
        cache.invalidate_entries_if(|_, value| *value == 10).expect("closures are enabled");
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.get(&2), Some(20));
        // An entry inserted after the predicate is not affected by it.
        cache.insert(1, 10);
        assert_eq!(cache.get(&1), Some(10));
    }

    /// A fresh SQLite store with one active key; the store, its token and the admin actor.
    async fn store_with_key() -> (Store, String, Actor, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("k.db").display());
        let store = Store::open(&url, MasterKey::from_bytes(&[5; 32])).await.unwrap();
        let admin = store.bootstrap(Some("cache-test-password")).await.unwrap().unwrap().admin;
        let actor = Actor::user("cache", admin.domain_id, admin.id, "admin");
        let new =
            NewApiKey::new(KeyOwner::Domain(admin.domain_id), "app".into(), Permissions::all());
        let (key, _) = store.create_api_key(&actor, &new).await.unwrap();
        (store, key.token, actor, dir)
    }

    #[tokio::test]
    async fn a_key_loaded_just_before_its_revocation_is_not_put_back_after_it() {
        let (store, token, actor, _dir) = store_with_key().await;
        let cache = CredentialCache::new(store.clone(), CacheSettings::default());
        let what = Loading::Key(token.clone());
        // A request misses, and reads the key while it is still active...
        let generation = cache.generation.load(Ordering::SeqCst);
        let read = cache.read(&what).await.unwrap();
        // ...then the key is revoked, and the cache told, before the request puts what it read
        // into memory.
        let id = store.key_credentials(&token).await.unwrap().unwrap().key.id;
        let owner = KeyOwner::Domain(actor.domain_id.unwrap());
        store.revoke_api_key(&actor, owner, id).await.unwrap();
        let found = cache.remember(&what, read, generation, 0);
        assert!(found.key.is_some(), "the racing request itself saw the key active");
        // The next request reads the store again, and is refused.
        let next = cache.find(CredentialRef::ApiKey(&token), 0).await.unwrap();
        assert!(next.key.is_none(), "a revoked key came back from a racing load");
    }

    #[tokio::test]
    async fn a_thousand_requests_for_a_cold_key_make_one_database_read() {
        let (store, token, _, _dir) = store_with_key().await;
        let cache = CredentialCache::new(store, CacheSettings::default());
        let lookups = (0..1000).map(|_| {
            let (cache, token) = (cache.clone(), token.clone());
            tokio::spawn(async move { cache.find(CredentialRef::ApiKey(&token), 0).await })
        });
        for lookup in futures_util::future::join_all(lookups).await {
            assert!(lookup.unwrap().unwrap().key.is_some());
        }
        assert_eq!(cache.loads(), 1);
        // Unknown keys are read once, then remembered as unknown.
        for _ in 0..10 {
            let found = cache.find(CredentialRef::ApiKey("kwkey_unknown"), 0).await.unwrap();
            assert!(found.key.is_none());
        }
        assert_eq!(cache.loads(), 2);
    }

    #[tokio::test]
    async fn plain_keys_known_or_made_up_are_read_once_and_a_roll_is_seen_at_once() {
        let (store, _, actor, _dir) = store_with_key().await;
        let owner = KeyOwner::Domain(actor.domain_id.unwrap());
        let new =
            NewApiKey { plain: true, ..NewApiKey::new(owner, "plain".into(), Permissions::all()) };
        let (key, plain) = store.create_api_key(&actor, &new).await.unwrap();
        let digest = keyward_sig::token::TokenDigest::of(&plain.unwrap().0);
        let cache = CredentialCache::new(store.clone(), CacheSettings::default());
        for _ in 0..10 {
            let found = cache.find(CredentialRef::PlainApiKey(&digest), 0).await.unwrap();
            assert_eq!(found.key.map(|k| k.0.key.id), Some(key.id));
        }
        let made_up = keyward_sig::token::TokenDigest::of("kwapi_made_up");
        for _ in 0..10 {
            let found = cache.find(CredentialRef::PlainApiKey(&made_up), 0).await.unwrap();
            assert!(found.key.is_none());
        }
        assert_eq!(cache.loads(), 2, "one read each, then memory");
        // Rolled with no overlap: the cached value is dropped with the change.
        store.rotate_secret(&actor, owner, key.id, 0).await.unwrap();
        let found = cache.find(CredentialRef::PlainApiKey(&digest), 0).await.unwrap();
        assert!(found.key.is_none(), "a rolled key stayed in memory");
    }
}
