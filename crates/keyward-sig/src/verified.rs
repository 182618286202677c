//! What verification proves: [`Verified`] (only this crate builds one), the [`Principal`] it
//! speaks for and the [`ReplayId`] to remember.

use sha2::{Digest, Sha256};

use crate::scheme::{KeyKind, Scheme};
use crate::time::ClockWindow;
use crate::token::TokenDigest;

/// Who a verified request speaks for.
#[derive(Debug)]
pub enum Principal<K, G> {
    /// An API key, by a signed scheme.
    ApiKey {
        /// The caller's handle for the key, as its lookup returned it.
        key: K,
        /// The key's kind (the caller decides which kinds a route accepts).
        kind: KeyKind,
    },
    /// An access token, by the bearer scheme.
    AccessToken {
        /// The caller's handle for the token, as its lookup returned it.
        grant: G,
        /// The token's digest, by which it is stored and revoked.
        digest: TokenDigest,
    },
}

/// What to remember to refuse a replay: an identifier of this signature (or RFC 9421 nonce),
/// and until when it matters (after that, the clock window refuses the request anyway).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ReplayId {
    id: [u8; 32],
    remember_until_ms: i64,
}

impl ReplayId {
    /// A replay identity (for callers that keep replay memory of their own, and their tests).
    pub fn new(id: [u8; 32], remember_until_ms: i64) -> Self {
        ReplayId { id, remember_until_ms }
    }

    /// The identifier: the signature itself, or a digest of key id and nonce.
    pub fn id(&self) -> &[u8; 32] {
        &self.id
    }

    /// Until when to remember it, epoch milliseconds.
    pub fn remember_until_ms(&self) -> i64 {
        self.remember_until_ms
    }

    pub(crate) fn from_signature(tag: [u8; 32], timestamp_ms: i64, window: ClockWindow) -> Self {
        ReplayId { id: tag, remember_until_ms: timestamp_ms.saturating_add(window.as_millis()) }
    }

    pub(crate) fn from_nonce(key_id: &str, nonce: &str, timestamp_ms: i64, w: ClockWindow) -> Self {
        let mut hasher = Sha256::new();
        for part in [b"nonce\0".as_slice(), key_id.as_bytes(), b"\0", nonce.as_bytes()] {
            hasher.update(part);
        }
        let id = hasher.finalize().into();
        ReplayId { id, remember_until_ms: timestamp_ms.saturating_add(w.as_millis()) }
    }
}

/// Proof that a request verified. Only this crate can build one, so code that holds a
/// `Verified` cannot have skipped verification.
#[derive(Debug)]
pub struct Verified<K, G> {
    scheme: Scheme,
    principal: Principal<K, G>,
    replay: Option<ReplayId>,
}

impl<K, G> Verified<K, G> {
    pub(crate) fn new(
        scheme: Scheme,
        principal: Principal<K, G>,
        replay: Option<ReplayId>,
    ) -> Self {
        Verified { scheme, principal, replay }
    }

    /// The scheme the request used.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// Who the request speaks for.
    pub fn principal(&self) -> &Principal<K, G> {
        &self.principal
    }

    /// Takes the principal out of the proof.
    pub fn into_principal(self) -> Principal<K, G> {
        self.principal
    }

    /// The replay identity to remember, for signed schemes (bearer has none).
    pub fn replay_id(&self) -> Option<&ReplayId> {
        self.replay.as_ref()
    }

    /// The key's kind, for signed schemes.
    pub fn key_kind(&self) -> Option<KeyKind> {
        match &self.principal {
            Principal::ApiKey { kind, .. } => Some(*kind),
            Principal::AccessToken { .. } => None,
        }
    }
}
