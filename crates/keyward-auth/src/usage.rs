//! Keys' last use, recorded without a write per request. Each node notes uses in memory and
//! writes them all in one transaction every [`CacheSettings::use_flush_interval`]
//! (5 s by default); a key's uses are noted at most once a second. A crash loses at most one
//! interval of uses; a graceful stop writes them first ([`UseRecorder::flush`]).
//!
//! [`CacheSettings::use_flush_interval`]: crate::CacheSettings::use_flush_interval

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use keyward_store::{Store, StoreError};

/// Uses not yet written: key id to its latest use (epoch ms).
type Pending = Mutex<HashMap<i64, i64>>;

/// Notes keys' uses and writes them in batches.
#[derive(Clone, Debug)]
pub struct UseRecorder {
    store: Store,
    pending: Arc<Pending>,
}

impl UseRecorder {
    /// A recorder writing to `store` every `interval`, from a task that ends when the last
    /// clone of the recorder is dropped. Outside a Tokio runtime, uses are written only by
    /// [`UseRecorder::flush`].
    pub fn new(store: Store, interval: Duration) -> Self {
        let recorder = UseRecorder { store, pending: Arc::default() };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let pending = Arc::downgrade(&recorder.pending);
            runtime.spawn(write_every(recorder.store.clone(), pending, interval));
        }
        recorder
    }

    /// Notes that key `id` was used at `at_ms`.
    pub fn note(&self, id: i64, at_ms: i64) {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        let latest = pending.entry(id).or_insert(at_ms);
        *latest = (*latest).max(at_ms);
    }

    /// Writes the uses noted so far.
    pub async fn flush(&self) -> Result<(), StoreError> {
        write(&self.store, &self.pending).await
    }
}

/// Writes the pending uses; on failure they stay pending, for the next write.
async fn write(store: &Store, pending: &Pending) -> Result<(), StoreError> {
    let uses: Vec<(i64, i64)> = pending.lock().unwrap_or_else(|p| p.into_inner()).drain().collect();
    let written = store.record_key_uses(&uses).await;
    if written.is_err() {
        let mut pending = pending.lock().unwrap_or_else(|p| p.into_inner());
        for (id, at_ms) in uses {
            let latest = pending.entry(id).or_insert(at_ms);
            *latest = (*latest).max(at_ms);
        }
    }
    written
}

async fn write_every(store: Store, pending: Weak<Pending>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(pending) = pending.upgrade() else { return };
        if let Err(error) = write(&store, &pending).await {
            tracing::warn!(target: "keyward::usage", error = ?error, "could not record keys' last use");
        }
    }
}
