//! What a change to the store invalidates, told to whoever caches credentials.
//!
//! Every method that changes something verification depends on (a key's token, secret, state
//! or name; a user's rights, state or password; a domain's state; an access token) tells the
//! store's listeners which identity changed, so a cache can drop exactly what depends on it.
//! The store does the telling, not its callers, so no caller can forget; and it does so when
//! the method ends however it ends (returned, failed, or its future dropped mid-way), after the
//! commit. A spurious invalidation costs a cache miss; a missed one would leave a revoked
//! credential usable.
//!
//! On PostgreSQL, the changes other nodes make (and `keyward admin`) arrive the same way
//! ([`Store::follow_changes`](crate::Store::follow_changes)).
//!
//! # Example
//! ```
//! # async fn demo(store: keyward_store::Store) {
//! use keyward_store::Invalidation;
//! store.subscribe(|change: &Invalidation| println!("forget what depends on {change:?}"));
//! # }
//! ```

use std::sync::{Arc, RwLock};

use keyward_sig::token::TokenDigest;

/// An identity whose credentials changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Invalidation {
    /// An API key (by id): renamed, its token regenerated, its secret rotated, revoked. The
    /// access tokens minted from it depend on it too.
    Key(i64),
    /// A user (by id): permissions, state or password changed. Its access tokens depend on it,
    /// and so do the keys whose root it is, and their tokens.
    User(i64),
    /// A domain (by id), disabled or enabled: everything in it.
    Domain(i64),
    /// One access token, revoked (a logout or a console sign-out).
    AccessToken(TokenDigest),
    /// Anything may have changed: the changes of other nodes could not be heard for a while.
    Everything,
}

impl Invalidation {
    /// The change a PostgreSQL notification names (`key:<id>`, `user:<id>`, `domain:<id>`,
    /// `token:<digest>`, as migration 0004's triggers send them); `None` for anything else.
    pub fn from_notification(payload: &str) -> Option<Self> {
        let (kind, value) = payload.split_once(':')?;
        let id = || value.parse::<i64>().ok();
        match kind {
            "key" => id().map(Invalidation::Key),
            "user" => id().map(Invalidation::User),
            "domain" => id().map(Invalidation::Domain),
            "token" => TokenDigest::from_hex(value).map(Invalidation::AccessToken),
            _ => None,
        }
    }
}

type Listener = Arc<dyn Fn(&Invalidation) + Send + Sync>;

/// The listeners of a store and its clones.
#[derive(Clone, Default)]
pub(crate) struct Listeners(Arc<RwLock<Vec<Listener>>>);

impl Listeners {
    pub(crate) fn add(&self, listener: Listener) {
        self.0.write().unwrap_or_else(|poisoned| poisoned.into_inner()).push(listener);
    }

    pub(crate) fn notify(&self, change: &Invalidation) {
        let listeners = self.0.read().unwrap_or_else(|poisoned| poisoned.into_inner());
        for listener in listeners.iter() {
            listener(change);
        }
    }
}

/// Tells the listeners about `change` when dropped: held across a change's transaction, it
/// fires after the commit, or when the change failed or was abandoned mid-way.
#[must_use = "the invalidation fires when this is dropped"]
pub(crate) struct Pending<'s> {
    listeners: &'s Listeners,
    change: Invalidation,
}

impl<'s> Pending<'s> {
    pub(crate) fn new(listeners: &'s Listeners, change: Invalidation) -> Self {
        Pending { listeners, change }
    }
}

impl Drop for Pending<'_> {
    fn drop(&mut self) {
        self.listeners.notify(&self.change);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notifications_name_the_change_and_nothing_else() {
        let digest = TokenDigest::of("kwtok_x");
        assert_eq!(Invalidation::from_notification("key:17"), Some(Invalidation::Key(17)));
        assert_eq!(Invalidation::from_notification("user:3"), Some(Invalidation::User(3)));
        assert_eq!(Invalidation::from_notification("domain:2"), Some(Invalidation::Domain(2)));
        assert_eq!(
            Invalidation::from_notification(&format!("token:{}", digest.to_hex())),
            Some(Invalidation::AccessToken(digest))
        );
        for junk in ["", "key", "key:", "key:x", "token:00", "reseller:1", "KEY:1"] {
            assert_eq!(Invalidation::from_notification(junk), None, "{junk}");
        }
    }
}
