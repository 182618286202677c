//! The replay guard's memory shared by every node, in Redis: a signature accepted on one node
//! is known on all of them, bound to the request it was first used for.
//!
//! One round-trip per signature a node has not seen itself: a script sets the signature's key
//! to the request's binding if it is new (`SET NX` with an expiry of two clock windows) and
//! otherwise says whether the binding is the same. The binding is the first 16 bytes of the
//! SHA-256 of method and target, the same on every node. A node remembers what Redis told it,
//! so a repeat it has seen costs no round-trip. When Redis cannot be asked, [`crate::Redis`]
//! logs and counts it, and the guard applies [`crate::RedisFailure`].

use std::sync::Arc;
use std::time::Duration;

use axum::http::Method;
use sha2::{Digest, Sha256};

use crate::redis::{Redis, Use};

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

/// The shared memory.
#[derive(Clone, Debug)]
pub(crate) struct SharedReplay {
    pub(crate) redis: Redis,
    script: Arc<redis::Script>,
    expiry_ms: u64,
}

impl SharedReplay {
    /// The memory in `redis`, its entries expiring after two clock windows.
    pub(crate) fn new(redis: Redis, window: Duration) -> Self {
        SharedReplay {
            redis,
            script: Arc::new(redis::Script::new(CLAIM)),
            expiry_ms: u64::try_from(window.as_millis()).unwrap_or(u64::MAX / 4).saturating_mul(2),
        }
    }

    /// Claims signature `id` for `method` and `target`; `None` when Redis cannot be asked.
    pub(crate) async fn claim(
        &self,
        id: &[u8; 32],
        method: &Method,
        target: &str,
    ) -> Option<Claim> {
        let mut key = Vec::with_capacity(15 + 32);
        key.extend_from_slice(b"keyward:replay:");
        key.extend_from_slice(id);
        let binding = &Sha256::new()
            .chain_update(method.as_str().as_bytes())
            .chain_update([0])
            .chain_update(target.as_bytes())
            .finalize()[..16];
        let mut invocation = self.script.key(key);
        invocation.arg(binding).arg(self.expiry_ms);
        Some(match self.redis.run::<u8>(&invocation, Use::Replay, method).await? {
            0 => Claim::First,
            1 => Claim::SameRequest,
            _ => Claim::OtherRequest,
        })
    }
}
