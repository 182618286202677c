//! A clock a test moves by hand: what keyward's store and auth layer read time from
//! (`keyward_store::Clock`), so a test can step past an expiry or an overlap without waiting.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A clock that stands still until the test moves it. Clones share the time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<AtomicI64>);

impl ManualClock {
    /// Stopped at the current time.
    pub fn now() -> Self {
        let since_epoch = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        ManualClock(Arc::new(AtomicI64::new(since_epoch.as_millis() as i64)))
    }

    /// The time it shows, epoch milliseconds.
    pub fn ms(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Moves it `ms` milliseconds on.
    pub fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::Relaxed);
    }

    /// As the function keyward reads time from.
    pub fn as_fn(&self) -> Arc<dyn Fn() -> i64 + Send + Sync> {
        let now = self.0.clone();
        Arc::new(move || now.load(Ordering::Relaxed))
    }
}
