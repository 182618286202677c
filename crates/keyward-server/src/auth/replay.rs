//! Refuses a signature (or RFC 9421 nonce) already accepted within the clock window.
//!
//! query-hmac signs no body and no method: a signed URL seen by anyone could carry any body.
//! Refusing a second use of the same signature for unsafe methods is what contains that.
//! Entries are kept for twice the clock window: after that, the request's own timestamp is
//! outside the window and it is refused anyway. One node's memory; a cluster-wide guard
//! (Redis) comes with the scale-out work.

use std::time::Duration;

use axum::http::Method;
use keyward_sig::ReplayId;
use moka::sync::Cache;

/// Which requests the replay guard applies to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReplayMode {
    /// No replay protection.
    Off,
    /// POST, PUT, PATCH and DELETE (the default).
    #[default]
    UnsafeMethods,
    /// Every method.
    All,
}

impl ReplayMode {
    /// `off`, `unsafe` or `all`.
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "off" => Some(ReplayMode::Off),
            "unsafe" => Some(ReplayMode::UnsafeMethods),
            "all" => Some(ReplayMode::All),
            _ => None,
        }
    }

    fn applies_to(self, method: &Method) -> bool {
        match self {
            ReplayMode::Off => false,
            ReplayMode::All => true,
            ReplayMode::UnsafeMethods => !(method.is_safe()),
        }
    }
}

/// Remembers accepted signatures.
#[derive(Clone, Debug)]
pub struct ReplayGuard {
    mode: ReplayMode,
    seen: Cache<[u8; 32], ()>,
}

impl ReplayGuard {
    /// A guard for a clock window of `window`.
    pub fn new(mode: ReplayMode, window: Duration) -> Self {
        let seen = Cache::builder().max_capacity(10_000_000).time_to_live(window * 2).build();
        ReplayGuard { mode, seen }
    }

    /// Whether this is the first use of `replay` for `method` (and remembers it if so).
    pub fn first_use(&self, method: &Method, replay: &ReplayId) -> bool {
        if !self.mode.applies_to(method) {
            return true;
        }
        self.seen.entry(*replay.id()).or_insert(()).is_fresh()
    }
}
