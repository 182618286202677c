//! Binds every accepted signature (or RFC 9421 nonce) to the request it was first used with.
//!
//! Neither vendor scheme signs the method or the path: query-hmac signs the query only, and
//! header-hmac the key, body and timestamp. Without this guard, the headers of one signed
//! `GET /api/activities` seen in a proxy log would authenticate `POST
//! /api/admin/keys/7/rotate-secret` for the rest of the clock window. So every accepted
//! signature is remembered, with a digest of the method and target (path and query, as sent)
//! it was first accepted for (for query-hmac, whose signature covers the query, the caller
//! passes the path alone):
//!
//! - used again for another method or target: refused, always ([`Reuse::OtherRequest`]);
//! - used again for the same request: refused for POST, PUT, PATCH and DELETE by default, and
//!   for every method under [`ReplayMode::All`] ([`Reuse::SameRequest`]). The identical GET may
//!   repeat by default because published DevResults clients sign with second-resolution
//!   timestamps and may send the same URL twice in a second.
//!
//! Every signed request passes here, so the memory is built for it: shards of plain hash maps
//! behind their own locks, one key hash per check, and expiry by generation instead of per
//! entry. A generation lasts twice the clock window; entries of the current and the previous
//! one are kept (the older are dropped when a shard enters a new generation), so an entry lives
//! at least two windows (after which its request's own timestamp is refused anyway) and at most
//! four. The digest of method and target is a SipHash keyed at random per process, so no one
//! can aim a target at another's digest; signatures are hashed (keyed too) by their first eight
//! bytes, which are as random as the rest. The memory holds at most [`ReplayGuard::capacity`]
//! entries; past it, new signatures are refused ([`Reuse::MemoryFull`]) rather than let an old
//! one be forgotten. With Redis ([`ReplayGuard::shared`]), every node shares what was first
//! used where ([`crate::SharedReplay`]), and this memory saves the round-trip for repeats.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use axum::http::Method;
//! use keyward_auth::{ReplayGuard, ReplayMode, Reuse};
//! let replay = keyward_sig::ReplayId::new([7; 32], 0);
//! let guard = ReplayGuard::new(ReplayMode::UnsafeMethods, Duration::from_secs(300));
//! let now_ms = 1_732_431_234_567;
//! assert_eq!(guard.check(&replay, &Method::GET, "/api/activities", now_ms), Ok(()));
//! assert_eq!(guard.check(&replay, &Method::GET, "/api/activities", now_ms), Ok(()));
//! assert_eq!(
//!     guard.check(&replay, &Method::POST, "/api/admin/keys/7/rotate-secret", now_ms),
//!     Err(Reuse::OtherRequest)
//! );
//! ```

use std::collections::HashMap;
use std::collections::hash_map::{Entry, RandomState};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::http::Method;
use keyward_sig::ReplayId;

use crate::redis::Redis;
use crate::shared_replay::{Claim, SharedReplay};

/// Which repeats of the very same signed request are refused (a signature reused for another
/// request is refused in every mode).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplayMode {
    /// Repeats of POST, PUT, PATCH and DELETE (the default): the identical safe request may be
    /// sent again within the window.
    #[default]
    UnsafeMethods,
    /// Every repeat, whatever the method.
    All,
}

impl std::str::FromStr for ReplayMode {
    type Err = String;

    /// `unsafe` or `all`.
    fn from_str(name: &str) -> Result<Self, String> {
        match name.trim() {
            "unsafe" => Ok(ReplayMode::UnsafeMethods),
            "all" => Ok(ReplayMode::All),
            "off" => Err("replay protection can no longer be switched off: a signature is always \
                 bound to the request it was first used with; use unsafe (the default, which also \
                 refuses repeats of POST, PUT, PATCH and DELETE) or all (which refuses every repeat)"
                .to_owned()),
            other => Err(format!("replay must be unsafe or all, not {other:?}")),
        }
    }
}

keyward_sig::deserialize_from_str!(ReplayMode);

impl ReplayMode {
    fn refuses_repeat_of(self, method: &Method) -> bool {
        match self {
            ReplayMode::All => true,
            ReplayMode::UnsafeMethods => !method.is_safe(),
        }
    }
}

/// Why a signature was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Used before for this very request, which may not be repeated.
    SameRequest,
    /// Used before for another method or target.
    OtherRequest,
    /// New, but the memory is full: it could not be remembered, so it is not accepted.
    MemoryFull,
    /// Not known here, and the shared memory (Redis) cannot be asked: an unsafe method under
    /// fail-closed.
    SharedUnavailable,
}

/// The number of shards: enough that two cores rarely wait on one lock.
const SHARDS: usize = 16;

/// A signature (or nonce digest), as a map key: compared whole, hashed by its first eight bytes
/// (a MAC or SHA-256 output: as random as the rest, and the map's hasher is keyed anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SignatureId([u8; 32]);

impl Hash for SignatureId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        let mut prefix = [0u8; 8];
        prefix.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(prefix));
    }
}

/// What a signature was first used for, and in which generation.
#[derive(Clone, Copy, Debug)]
struct FirstUse {
    binding: u64,
    generation: u64,
}

/// One shard of the memory.
#[derive(Debug, Default)]
struct Shard {
    /// The generation this shard is in.
    generation: u64,
    seen: HashMap<SignatureId, FirstUse>,
}

/// Remembers accepted signatures and the request each was first used with. Clones share it.
#[derive(Clone, Debug)]
pub struct ReplayGuard {
    mode: ReplayMode,
    generation_ms: i64,
    capacity: usize,
    shards: Arc<[Mutex<Shard>; SHARDS]>,
    entries: Arc<AtomicUsize>,
    /// Keys the digest of method and target.
    binding: RandomState,
    /// The memory every node shares, when there is one.
    shared: Option<SharedReplay>,
}

impl ReplayGuard {
    /// A guard for a clock window of `window`, holding up to 10 million signatures.
    pub fn new(mode: ReplayMode, window: Duration) -> Self {
        Self::with_capacity(mode, window, 10_000_000)
    }

    /// A guard holding up to `capacity` signatures.
    pub fn with_capacity(mode: ReplayMode, window: Duration, capacity: usize) -> Self {
        let window_ms = i64::try_from(window.as_millis()).unwrap_or(i64::MAX / 4);
        ReplayGuard {
            mode,
            generation_ms: window_ms.saturating_mul(2).max(1),
            capacity,
            shards: Arc::new(std::array::from_fn(|_| Mutex::new(Shard::default()))),
            entries: Arc::new(AtomicUsize::new(0)),
            binding: RandomState::new(),
            shared: None,
        }
    }

    /// The same guard, sharing its memory with every node through `redis`.
    pub fn shared(mut self, redis: Redis) -> Self {
        let window = Duration::from_millis(u64::try_from(self.generation_ms / 2).unwrap_or(0));
        self.shared = Some(SharedReplay::new(redis, window));
        self
    }

    /// [`ReplayGuard::check`], against every node's memory when the guard is shared: a
    /// signature this node has not seen is claimed in Redis, once.
    pub async fn check_everywhere(
        &self,
        replay: &ReplayId,
        method: &Method,
        target: &str,
        now_ms: i64,
    ) -> Result<(), Reuse> {
        let Some(shared) = &self.shared else { return self.check(replay, method, target, now_ms) };
        if self.known(replay, method, target, now_ms)? {
            return Ok(());
        }
        match shared.claim(replay.id(), method, target).await {
            Some(Claim::First) => self.check(replay, method, target, now_ms),
            Some(Claim::SameRequest) if self.mode.refuses_repeat_of(method) => {
                Err(Reuse::SameRequest)
            }
            Some(Claim::SameRequest) => self.check(replay, method, target, now_ms),
            Some(Claim::OtherRequest) => Err(Reuse::OtherRequest),
            None if shared.redis.on_failure().refuses(method) => Err(Reuse::SharedUnavailable),
            None => self.check(replay, method, target, now_ms),
        }
    }

    /// Whether this node has seen `replay` for this very request and may accept it again;
    /// refused if it saw it for another request, or for this one and the mode refuses repeats.
    fn known(
        &self,
        replay: &ReplayId,
        method: &Method,
        target: &str,
        now_ms: i64,
    ) -> Result<bool, Reuse> {
        let (id, binding, generation, shard) = self.locate(replay, method, target, now_ms);
        match shard.seen.get(&id) {
            Some(first) if first.generation.saturating_add(1) < generation => Ok(false),
            Some(first) if first.binding != binding => Err(Reuse::OtherRequest),
            Some(_) if self.mode.refuses_repeat_of(method) => Err(Reuse::SameRequest),
            Some(_) => Ok(true),
            None => Ok(false),
        }
    }

    /// The most signatures remembered at once.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Accepts the first use of `replay` (and remembers it with `method` and `target`), and a
    /// repeat of the same request when the mode allows it; refuses any other use.
    pub fn check(
        &self,
        replay: &ReplayId,
        method: &Method,
        target: &str,
        now_ms: i64,
    ) -> Result<(), Reuse> {
        let (id, binding, generation, mut shard) = self.locate(replay, method, target, now_ms);
        if shard.generation != generation {
            self.enter(&mut shard, generation);
        }
        match shard.seen.entry(id) {
            Entry::Occupied(first) if first.get().binding != binding => Err(Reuse::OtherRequest),
            Entry::Occupied(_) if self.mode.refuses_repeat_of(method) => Err(Reuse::SameRequest),
            Entry::Occupied(_) => Ok(()),
            Entry::Vacant(slot) => {
                if self.entries.fetch_add(1, Ordering::Relaxed) >= self.capacity {
                    self.entries.fetch_sub(1, Ordering::Relaxed);
                    return Err(Reuse::MemoryFull);
                }
                slot.insert(FirstUse { binding, generation });
                Ok(())
            }
        }
    }

    /// Where `replay` is kept: its id, the binding of `method` and `target`, the generation of
    /// `now_ms`, and its shard, locked.
    fn locate(
        &self,
        replay: &ReplayId,
        method: &Method,
        target: &str,
        now_ms: i64,
    ) -> (SignatureId, u64, u64, MutexGuard<'_, Shard>) {
        // The digest before the lock: no hashing while others wait.
        let binding = self.bind(method, target);
        let id = SignatureId(*replay.id());
        let generation = u64::try_from(now_ms / self.generation_ms).unwrap_or_default();
        let shard = self.shards[usize::from(id.0[8]) % SHARDS].lock();
        (id, binding, generation, shard.unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// The keyed digest of `method` and `target`. A method of eight bytes or fewer (all of
    /// HTTP's own) is written as one word, in which its length is implied, so two writes
    /// suffice; a longer one is written out and ended with a byte no method contains.
    fn bind(&self, method: &Method, target: &str) -> u64 {
        let mut hasher = self.binding.build_hasher();
        let method = method.as_str().as_bytes();
        if method.len() <= 8 {
            let mut word = [0u8; 8];
            word[..method.len()].copy_from_slice(method);
            hasher.write_u64(u64::from_le_bytes(word));
        } else {
            hasher.write(method);
            hasher.write_u8(b' ');
        }
        hasher.write(target.as_bytes());
        hasher.finish()
    }

    /// Moves `shard` into `generation`, forgetting what is older than the one before it.
    fn enter(&self, shard: &mut Shard, generation: u64) {
        let before = shard.seen.len();
        shard.seen.retain(|_, first| first.generation.saturating_add(1) >= generation);
        self.entries.fetch_sub(before - shard.seen.len(), Ordering::Relaxed);
        shard.generation = generation;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(300);
    const NOW: i64 = 1_732_431_234_567;

    fn id(n: u8) -> ReplayId {
        ReplayId::new([n; 32], 0)
    }

    #[test]
    fn a_signature_serves_its_first_request_only() {
        let guard = ReplayGuard::new(ReplayMode::UnsafeMethods, WINDOW);
        let check = |method: Method, target: &str, n: u8| guard.check(&id(n), &method, target, NOW);
        assert_eq!(check(Method::GET, "/a?x=1", 1), Ok(()));
        assert_eq!(check(Method::GET, "/a?x=1", 1), Ok(()), "a safe repeat");
        assert_eq!(check(Method::GET, "/a?x=2", 1), Err(Reuse::OtherRequest));
        assert_eq!(check(Method::POST, "/a?x=1", 1), Err(Reuse::OtherRequest));
        assert_eq!(check(Method::POST, "/b", 2), Ok(()));
        assert_eq!(check(Method::POST, "/b", 2), Err(Reuse::SameRequest));
        let strict = ReplayGuard::new(ReplayMode::All, WINDOW);
        assert_eq!(strict.check(&id(3), &Method::GET, "/a", NOW), Ok(()));
        assert_eq!(strict.check(&id(3), &Method::GET, "/a", NOW), Err(Reuse::SameRequest));
    }

    #[test]
    fn signatures_are_remembered_two_windows_at_least_and_then_forgotten() {
        let guard = ReplayGuard::new(ReplayMode::All, WINDOW);
        let window = 300_000;
        assert_eq!(guard.check(&id(1), &Method::GET, "/", NOW), Ok(()));
        // Still remembered just before two windows have passed, and after a new generation
        // has begun.
        let later = NOW + 2 * window - 1;
        assert_eq!(guard.check(&id(1), &Method::GET, "/", later), Err(Reuse::SameRequest));
        assert_eq!(
            guard.check(&id(1), &Method::GET, "/", NOW + 3 * window),
            Err(Reuse::SameRequest)
        );
        // Forgotten once two generations have passed.
        assert_eq!(guard.check(&id(1), &Method::GET, "/", NOW + 8 * window), Ok(()));
    }

    #[test]
    fn a_full_memory_refuses_new_signatures_and_frees_room_as_generations_pass() {
        let guard = ReplayGuard::with_capacity(ReplayMode::UnsafeMethods, WINDOW, 2);
        for n in [0, 16] {
            // Same shard (ninth byte modulo 16), so the counts below are exact.
            assert_eq!(guard.check(&id(n), &Method::GET, "/", NOW), Ok(()));
        }
        assert_eq!(guard.check(&id(32), &Method::GET, "/", NOW), Err(Reuse::MemoryFull));
        assert_eq!(guard.check(&id(0), &Method::GET, "/", NOW), Ok(()), "known ones still pass");
        assert_eq!(guard.check(&id(32), &Method::GET, "/", NOW + 5 * 600_000), Ok(()));
    }
}
