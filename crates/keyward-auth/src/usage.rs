//! Keys' usage, recorded without a write per request: each key's last use, and per key, minute,
//! route and outcome (accepted, or the refusal's code) the requests counted. Each node keeps
//! them in memory and writes them all in one transaction every
//! [`CacheSettings::use_flush_interval`] (5 s by default), adding its counts to the stored ones,
//! so that counts from several nodes add up exactly. A crash loses at most one interval; a
//! graceful stop writes them first ([`UsageRecorder::flush`]). About once an hour a node prunes
//! the minute and hour rows older than their [`UsageRetention`].
//!
//! A request is counted once, at the end of its way: a refusal by the pipeline's exit, an
//! admitted request when its [`Counted`] is dropped (accepted, unless the caller refused it
//! after all: a route's permissions, the verify API's).
//!
//! [`CacheSettings::use_flush_interval`]: crate::CacheSettings::use_flush_interval

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use keyward_store::{Store, StoreError, UsageBucket, UsageCount};

use crate::error::ErrorCode;

/// How long usage is kept at each resolution; day rows are kept for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UsageRetention {
    /// Minute rows.
    pub minutes: Duration,
    /// Hour rows.
    pub hours: Duration,
}

impl Default for UsageRetention {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        UsageRetention {
            minutes: Duration::from_secs(7 * DAY),
            hours: Duration::from_secs(90 * DAY),
        }
    }
}

/// How often a node prunes, at most.
const PRUNE_EVERY_MS: i64 = 3_600_000;

/// A key's outcomes in one minute: route, code (0: accepted), requests. A key meets few routes
/// and codes in a minute; a short list is quicker to search than a map.
type Outcomes = Vec<(Arc<str>, u16, u64)>;

/// What is not written yet.
#[derive(Debug, Default)]
struct Noted {
    /// Key id to its latest use (epoch ms).
    last_use: HashMap<i64, i64>,
    /// (key id, minute's start) to its outcomes.
    counts: HashMap<(i64, i64), Outcomes>,
}

#[derive(Debug, Default)]
struct Pending {
    noted: Mutex<Noted>,
    /// When this node last pruned (epoch ms).
    pruned_at_ms: Mutex<i64>,
}

impl Pending {
    fn noted(&self) -> std::sync::MutexGuard<'_, Noted> {
        self.noted.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn count(&self, key_id: i64, route: &Arc<str>, code: u16, requests: u64, at_ms: i64) {
        let minute = UsageBucket::Minute.start(at_ms);
        let mut noted = self.noted();
        let outcomes = noted.counts.entry((key_id, minute)).or_default();
        let same = |(r, c, _): &&mut (Arc<str>, u16, u64)| {
            *c == code && (Arc::ptr_eq(r, route) || **r == **route)
        };
        match outcomes.iter_mut().find(same) {
            Some((_, _, n)) => *n = n.saturating_add(requests),
            None => outcomes.push((route.clone(), code, requests)),
        }
    }
}

/// Notes keys' uses and counts, and writes them in batches.
#[derive(Clone, Debug)]
pub struct UsageRecorder {
    store: Store,
    pending: Arc<Pending>,
}

impl UsageRecorder {
    /// A recorder writing to `store` every `interval` and pruning by `retention`, from a task
    /// that ends when the last clone of the recorder is dropped. Outside a Tokio runtime, usage
    /// is written only by [`UsageRecorder::flush`].
    pub fn new(store: Store, interval: Duration, retention: UsageRetention) -> Self {
        let recorder = UsageRecorder { store, pending: Arc::default() };
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let pending = Arc::downgrade(&recorder.pending);
            runtime.spawn(write_every(recorder.store.clone(), pending, interval, retention));
        }
        recorder
    }

    /// Notes that key `id` was used at `at_ms`.
    pub fn note(&self, id: i64, at_ms: i64) {
        let mut noted = self.pending.noted();
        let latest = noted.last_use.entry(id).or_insert(at_ms);
        *latest = (*latest).max(at_ms);
    }

    /// Counts a request of key `key_id` on `route` at `at_ms`, refused with `code` (none:
    /// accepted).
    pub fn count(&self, key_id: i64, route: &Arc<str>, code: Option<ErrorCode>, at_ms: i64) {
        let code = code.map_or(0, ErrorCode::number);
        self.pending.count(key_id, route, code, 1, at_ms);
    }

    /// The count of an admitted request of key `key_id`, made when it is dropped.
    pub fn admitted(&self, key_id: i64, route: &Arc<str>, at_ms: i64) -> Counted {
        Counted {
            pending: self.pending.clone(),
            key_id,
            route: route.clone(),
            at_ms,
            refused: None,
        }
    }

    /// Writes what was noted so far.
    pub async fn flush(&self) -> Result<(), StoreError> {
        write(&self.store, &self.pending).await
    }
}

/// An admitted request's count, made once when dropped: accepted, unless
/// [`Counted::refuse`]d.
#[derive(Debug)]
pub struct Counted {
    pending: Arc<Pending>,
    key_id: i64,
    route: Arc<str>,
    at_ms: i64,
    refused: Option<ErrorCode>,
}

impl Counted {
    /// The request was refused after all, with `code`.
    pub fn refuse(&mut self, code: ErrorCode) {
        self.refused = Some(code);
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        let code = self.refused.map_or(0, ErrorCode::number);
        self.pending.count(self.key_id, &self.route, code, 1, self.at_ms);
    }
}

/// Writes what is pending; on failure it stays pending, for the next write.
async fn write(store: &Store, pending: &Pending) -> Result<(), StoreError> {
    let (uses, counts) = {
        let mut noted = pending.noted();
        (std::mem::take(&mut noted.last_use), std::mem::take(&mut noted.counts))
    };
    let uses: Vec<(i64, i64)> = uses.into_iter().collect();
    let rows: Vec<UsageCount> = counts
        .iter()
        .flat_map(|(&(key_id, minute_ms), outcomes)| {
            outcomes.iter().map(move |(route, code, requests)| UsageCount {
                key_id,
                minute_ms,
                route: route.to_string(),
                code: *code,
                requests: *requests,
            })
        })
        .collect();
    let written = store.record_usage(&uses, &rows).await;
    if written.is_err() {
        for (id, at_ms) in uses {
            let mut noted = pending.noted();
            let latest = noted.last_use.entry(id).or_insert(at_ms);
            *latest = (*latest).max(at_ms);
        }
        for ((key_id, minute), outcomes) in counts {
            for (route, code, requests) in outcomes {
                pending.count(key_id, &route, code, requests, minute);
            }
        }
    }
    written
}

/// Prunes what `retention` no longer keeps, when this node has not for an hour.
async fn prune(store: &Store, pending: &Pending, retention: UsageRetention) {
    let now = store.now_ms();
    {
        let mut pruned_at = pending.pruned_at_ms.lock().unwrap_or_else(|p| p.into_inner());
        if now - *pruned_at < PRUNE_EVERY_MS {
            return;
        }
        *pruned_at = now;
    }
    let before = |kept: Duration| now.saturating_sub(i64::try_from(kept.as_millis()).unwrap_or(0));
    match store.prune_usage(before(retention.minutes), before(retention.hours)).await {
        Ok(rows) => tracing::debug!(target: "keyward::usage", rows, "pruned usage rows"),
        Err(error) => {
            tracing::warn!(target: "keyward::usage", error = ?error, "could not prune usage rows")
        }
    }
}

async fn write_every(
    store: Store,
    pending: Weak<Pending>,
    interval: Duration,
    retention: UsageRetention,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(pending) = pending.upgrade() else { return };
        if let Err(error) = write(&store, &pending).await {
            tracing::warn!(target: "keyward::usage", error = ?error, "could not record keys' usage");
        }
        prune(&store, &pending, retention).await;
    }
}
