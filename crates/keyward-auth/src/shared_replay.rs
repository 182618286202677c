//! The replay guard's memory shared by every node, in Redis (`--redis-url`): a signature
//! accepted on one node is known on all of them, bound to the request it was first used for.
//!
//! One round-trip per signature a node has not seen itself: a script sets the signature's key
//! to the request's binding if it is new (`SET NX` with an expiry of two clock windows) and
//! otherwise says whether the binding is the same. The binding is the first 16 bytes of the
//! SHA-256 of method and target, the same on every node. A node remembers what Redis told it,
//! so a repeat it has seen costs no round-trip.
//!
//! When Redis cannot be reached (or answers slower than 250 ms), [`RedisFailure`] decides:
//! fail-closed refuses signed POST, PUT, PATCH and DELETE requests (503, code 51, with
//! `Retry-After`) and lets safe ones be decided by the node's own memory; fail-open lets every
//! request be decided by the node's own memory. Either is logged on `keyward::replay` and
//! counted ([`SharedReplay::failures`]). The connection is made again by itself when Redis
//! comes back.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

/// What to do with a signed request when Redis cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RedisFailure {
    /// Refuse unsafe methods (503); safe ones are decided by this node's memory (the default).
    #[default]
    FailClosed,
    /// Decide every request with this node's memory.
    FailOpen,
}

impl RedisFailure {
    /// `fail-closed` or `fail-open`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "fail-closed" => Some(RedisFailure::FailClosed),
            "fail-open" => Some(RedisFailure::FailOpen),
            _ => None,
        }
    }
}

/// What Redis knows of a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Claim {
    /// Not seen before: now remembered with this request.
    First,
    /// Seen before with this very request.
    SameRequest,
    /// Seen before with another request.
    OtherRequest,
}

/// Sets the key to the binding if new; 0 when it was new, 1 when it holds the same binding,
/// 2 when it holds another.
const CLAIM: &str = r"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
if redis.call('GET', KEYS[1]) == ARGV[1] then return 1 end
return 2
";

/// How long a Redis answer may take before Redis counts as unreachable.
const TIMEOUT: Duration = Duration::from_millis(250);

/// The shared memory.
#[derive(Clone)]
pub struct SharedReplay {
    connection: ConnectionManager,
    script: Arc<redis::Script>,
    expiry_ms: u64,
    pub(crate) on_failure: RedisFailure,
    failures: Arc<AtomicU64>,
}

impl std::fmt::Debug for SharedReplay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedReplay").field("on_failure", &self.on_failure).finish_non_exhaustive()
    }
}

impl SharedReplay {
    /// Connects to the Redis at `url` (`redis://host:port/db`); entries expire after two
    /// clock windows.
    pub async fn connect(
        url: &str,
        window: Duration,
        on_failure: RedisFailure,
    ) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(client, config).await?;
        Ok(SharedReplay {
            connection,
            script: Arc::new(redis::Script::new(CLAIM)),
            expiry_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX / 4).saturating_mul(2),
            on_failure,
            failures: Arc::default(),
        })
    }

    /// Times Redis could not be asked.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// Claims signature `id` for `method` and `target`; `None` when Redis cannot be asked.
    pub(crate) async fn claim(&self, id: &[u8; 32], method: &str, target: &str) -> Option<Claim> {
        let mut key = Vec::with_capacity(15 + 32);
        key.extend_from_slice(b"keyward:replay:");
        key.extend_from_slice(id);
        let binding = &Sha256::new()
            .chain_update(method.as_bytes())
            .chain_update([0])
            .chain_update(target.as_bytes())
            .finalize()[..16];
        let mut connection = self.connection.clone();
        let mut invocation = self.script.key(key);
        invocation.arg(binding).arg(self.expiry_ms);
        let answer: Result<Result<u8, _>, _> =
            tokio::time::timeout(TIMEOUT, invocation.invoke_async(&mut connection)).await;
        match answer {
            Ok(Ok(0)) => Some(Claim::First),
            Ok(Ok(1)) => Some(Claim::SameRequest),
            Ok(Ok(_)) => Some(Claim::OtherRequest),
            Ok(Err(error)) => {
                self.failed(&error.to_string());
                None
            }
            Err(_) => {
                self.failed("no answer within 250 ms");
                None
            }
        }
    }

    fn failed(&self, why: &str) {
        self.failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            target: "keyward::replay",
            error = why,
            on_failure = ?self.on_failure,
            "the shared replay memory (Redis) cannot be reached"
        );
    }
}
