//! Login throttling: failed logins are counted per account and per client address, and past a
//! limit within a window further attempts are refused with 429 (code 25) and `Retry-After`,
//! before any password is hashed. A successful login clears its account's count.
//!
//! Counting per account stops a guesser spread over many addresses; per address, one address
//! trying many accounts. Behind a reverse proxy every client has the proxy's address: raise the
//! per-address limit, or set it to 0 to count per account only. Counts live in this node's
//! memory and last one window from an account's (or address's) first failure.
//!
//! # Example
//! ```
//! use keyward_server::throttle::{LoginThrottle, ThrottleSettings};
//! let throttle = LoginThrottle::new(ThrottleSettings { per_account: 2, ..Default::default() });
//! let now = 1_000_000;
//! throttle.check("ana", None, now).unwrap();
//! throttle.failed("ana", None, now);
//! throttle.failed("ana", None, now);
//! assert!(throttle.check("ana", None, now).is_err());
//! assert!(throttle.check("bo", None, now).is_ok());
//! ```

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use moka::sync::Cache;
use serde_json::json;

use crate::error::{ApiError, ErrorCode};

/// How many failed logins are allowed, and for how long they count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Failed logins per account within the window (default 10; 0: no limit).
    pub per_account: u32,
    /// Failed logins per client address within the window (default 100; 0: no limit).
    pub per_address: u32,
    /// How long failures count, from the first one (default 15 minutes).
    pub window: Duration,
}

impl Default for ThrottleSettings {
    fn default() -> Self {
        ThrottleSettings { per_account: 10, per_address: 100, window: Duration::from_secs(900) }
    }
}

/// The failures of one account or address since the first one.
#[derive(Debug)]
struct Failures {
    since_ms: i64,
    count: AtomicU32,
}

/// The longest account name kept as a key: a megabyte-long "user name" is counted by its
/// beginning.
const MAX_ACCOUNT_KEY: usize = 256;

/// Failed-login counts, per account and per address.
#[derive(Clone, Debug)]
pub struct LoginThrottle {
    settings: ThrottleSettings,
    accounts: Cache<String, Arc<Failures>>,
    addresses: Cache<IpAddr, Arc<Failures>>,
}

impl LoginThrottle {
    /// Empty counts.
    pub fn new(settings: ThrottleSettings) -> Self {
        fn counts<K: std::hash::Hash + Eq + Send + Sync + 'static>(
            window: Duration,
        ) -> Cache<K, Arc<Failures>> {
            Cache::builder().max_capacity(1_000_000).time_to_live(window).build()
        }
        LoginThrottle {
            settings,
            accounts: counts(settings.window),
            addresses: counts(settings.window),
        }
    }

    fn account_key(account: &str) -> String {
        let mut end = account.len().min(MAX_ACCOUNT_KEY);
        while !account.is_char_boundary(end) {
            end -= 1;
        }
        account[..end].to_owned()
    }

    /// Ok when a login for `account` from `address` may be tried now; else 429 with the
    /// seconds until the oldest count expires.
    pub fn check(
        &self,
        account: &str,
        address: Option<IpAddr>,
        now_ms: i64,
    ) -> Result<(), ApiError> {
        let window_ms = i64::try_from(self.settings.window.as_millis()).unwrap_or(i64::MAX);
        let blocked = |failures: Option<Arc<Failures>>, limit: u32| {
            failures
                .filter(|f| limit > 0 && f.count.load(Ordering::Relaxed) >= limit)
                .map(|f| f.since_ms.saturating_add(window_ms).saturating_sub(now_ms).max(1000))
        };
        let wait_ms =
            blocked(self.accounts.get(&Self::account_key(account)), self.settings.per_account)
                .or_else(|| {
                    blocked(address.and_then(|a| self.addresses.get(&a)), self.settings.per_address)
                });
        match wait_ms {
            None => Ok(()),
            Some(ms) => {
                let seconds = u64::try_from(ms.saturating_add(999) / 1000).unwrap_or(1);
                Err(ApiError::new(ErrorCode::TooManyLoginAttempts)
                    .with_retry_after(seconds)
                    .with_detail(json!({ "retry_after_seconds": seconds })))
            }
        }
    }

    /// Counts a failed login.
    pub fn failed(&self, account: &str, address: Option<IpAddr>, now_ms: i64) {
        let count = |failures: Arc<Failures>| failures.count.fetch_add(1, Ordering::Relaxed);
        let fresh = || Arc::new(Failures { since_ms: now_ms, count: AtomicU32::new(0) });
        count(self.accounts.get_with(Self::account_key(account), fresh));
        if let Some(address) = address {
            count(self.addresses.get_with(address, fresh));
        }
    }

    /// Clears an account's failures after a successful login (its address's stay).
    pub fn succeeded(&self, account: &str) {
        self.accounts.invalidate(&Self::account_key(account));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// Any account name, however long or multi-byte, is counted under a bounded key that
        /// is a prefix of it.
        #[test]
        fn account_keys_are_bounded_prefixes(name in ".{0,400}") {
            let key = LoginThrottle::account_key(&name);
            proptest::prop_assert!(key.len() <= MAX_ACCOUNT_KEY);
            proptest::prop_assert!(name.starts_with(&key));
        }
    }

    #[test]
    fn an_account_past_its_limit_waits_and_a_success_clears_it() {
        let throttle =
            LoginThrottle::new(ThrottleSettings { per_account: 1, ..Default::default() });
        throttle.failed("ana", None, 0);
        let refused = throttle.check("ana", None, 1_000).unwrap_err();
        assert_eq!(refused.retry_after, Some(899), "counted from the first failure");
        throttle.succeeded("ana");
        assert!(throttle.check("ana", None, 1_000).is_ok());
    }
}
