//! Binds every accepted signature (or RFC 9421 nonce) to the request it was first used with.
//!
//! Neither vendor scheme signs the method or the path: query-hmac signs the query only, and
//! header-hmac the key, body and timestamp. Without this guard, the headers of one signed
//! `GET /api/activities` seen in a proxy log would authenticate `POST
//! /api/admin/keys/7/rotate-secret` for the rest of the clock window. So every accepted
//! signature is remembered, with a digest of the method and target (path and query, as sent)
//! it was first accepted for:
//!
//! - used again for another method or target: refused, always ([`Reuse::OtherRequest`]);
//! - used again for the same request: refused for POST, PUT, PATCH and DELETE by default, and
//!   for every method under [`ReplayMode::All`] ([`Reuse::SameRequest`]). The identical GET may
//!   repeat by default because published DevResults clients sign with second-resolution
//!   timestamps and may send the same URL twice in a second.
//!
//! Entries are kept for twice the clock window: after that, the request's own timestamp is
//! outside the window and it is refused anyway. One node's memory; a cluster-wide guard
//! (Redis) comes with the scale-out work.
//!
//! # Example
//! ```
//! use std::time::Duration;
//! use axum::http::Method;
//! use keyward_server::auth::{ReplayGuard, ReplayMode, Reuse};
//! let replay = keyward_sig::ReplayId::new([7; 32], 0);
//! let guard = ReplayGuard::new(ReplayMode::UnsafeMethods, Duration::from_secs(300));
//! assert_eq!(guard.check(&replay, &Method::GET, "/api/activities"), Ok(()));
//! assert_eq!(guard.check(&replay, &Method::GET, "/api/activities"), Ok(()));
//! assert_eq!(
//!     guard.check(&replay, &Method::POST, "/api/admin/keys/7/rotate-secret"),
//!     Err(Reuse::OtherRequest)
//! );
//! ```

use std::time::Duration;

use axum::http::Method;
use keyward_sig::ReplayId;
use moka::sync::Cache;
use sha2::{Digest, Sha256};

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

impl ReplayMode {
    /// `unsafe` or `all`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "unsafe" => Some(ReplayMode::UnsafeMethods),
            "all" => Some(ReplayMode::All),
            _ => None,
        }
    }

    fn refuses_repeat_of(self, method: &Method) -> bool {
        match self {
            ReplayMode::All => true,
            ReplayMode::UnsafeMethods => !method.is_safe(),
        }
    }
}

/// Why a signature was refused as already used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reuse {
    /// Used before for this very request, which may not be repeated.
    SameRequest,
    /// Used before for another method or target.
    OtherRequest,
}

/// A digest of the method and target a signature was first used with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Binding([u8; 16]);

impl Binding {
    fn of(method: &Method, target: &str) -> Self {
        let digest = Sha256::new()
            .chain_update(method.as_str())
            .chain_update(b"\n")
            .chain_update(target)
            .finalize();
        let mut binding = [0; 16];
        binding.copy_from_slice(&digest[..16]);
        Binding(binding)
    }
}

/// Remembers accepted signatures and the request each was first used with.
#[derive(Clone, Debug)]
pub struct ReplayGuard {
    mode: ReplayMode,
    seen: Cache<[u8; 32], Binding>,
}

impl ReplayGuard {
    /// A guard for a clock window of `window`.
    pub fn new(mode: ReplayMode, window: Duration) -> Self {
        let seen = Cache::builder().max_capacity(10_000_000).time_to_live(window * 2).build();
        ReplayGuard { mode, seen }
    }

    /// Accepts the first use of `replay` (and remembers it with `method` and `target`), and a
    /// repeat of the same request when the mode allows it; refuses any other use.
    pub fn check(&self, replay: &ReplayId, method: &Method, target: &str) -> Result<(), Reuse> {
        let binding = Binding::of(method, target);
        let entry = self.seen.entry(*replay.id()).or_insert(binding);
        if entry.is_fresh() {
            Ok(())
        } else if *entry.value() != binding {
            Err(Reuse::OtherRequest)
        } else if self.mode.refuses_repeat_of(method) {
            Err(Reuse::SameRequest)
        } else {
            Ok(())
        }
    }
}
