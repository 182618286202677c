//! The changes other nodes make, heard over PostgreSQL `LISTEN`/`NOTIFY`.
//!
//! Migration 0004's triggers send a notification on channel [`CHANNEL`] for every change that
//! affects verification, in the transaction that makes it, whoever makes it (a node, the
//! `keyward admin` command, psql). Each node listens on one connection of its own and tells its
//! store's listeners, as if the change had been made there.
//!
//! Notifications sent while the listening connection is down are lost. So when it drops, the
//! node connects again (retrying with a growing pause, up to 5 s), and only once it listens
//! again tells its listeners that [`Invalidation::Everything`] may have changed: a cache then
//! starts afresh, and nothing it loads can predate a change it missed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sqlx::postgres::PgListener;

use crate::invalidation::{Invalidation, Listeners};
use crate::{Store, StoreError};

/// The channel migration 0004's triggers notify.
pub const CHANNEL: &str = "keyward_changes";

/// What a node's change feed has heard, for its logs and metrics.
#[derive(Debug, Default)]
pub struct ChangeFeedStats {
    received: AtomicU64,
    reconnects: AtomicU64,
}

impl ChangeFeedStats {
    /// Notifications received.
    pub fn received(&self) -> u64 {
        self.received.load(Ordering::Relaxed)
    }

    /// Times the listening connection dropped and was made again (each flushed the caches).
    pub fn reconnects(&self) -> u64 {
        self.reconnects.load(Ordering::Relaxed)
    }
}

/// Stops the feed's task when the last clone of its store is dropped or closed.
#[derive(Debug)]
pub(crate) struct FeedTask(tokio::task::AbortHandle);

impl Drop for FeedTask {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl Store {
    /// On PostgreSQL, hears the changes every node makes and tells this store's listeners
    /// ([`Store::subscribe`]), from the moment this returns: the connection listens before it
    /// does. Calling it again does nothing more. `None` on SQLite, which one node serves.
    pub async fn follow_changes(&self) -> Result<Option<Arc<ChangeFeedStats>>, StoreError> {
        let Some(url) = self.postgres_url.clone() else { return Ok(None) };
        let mut feed = self.feed.lock().await;
        if let Some((stats, _)) = feed.as_ref() {
            return Ok(Some(stats.clone()));
        }
        let listener = listen(&url).await?;
        let stats = Arc::new(ChangeFeedStats::default());
        let task = tokio::spawn(follow(listener, url, self.listeners.clone(), stats.clone()));
        *feed = Some((stats.clone(), Arc::new(FeedTask(task.abort_handle()))));
        Ok(Some(stats))
    }
}

async fn listen(url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(url).await?;
    // Reconnection is ours: the caches must be flushed once listening again, not before.
    listener.eager_reconnect(false);
    listener.listen(CHANNEL).await?;
    Ok(listener)
}

async fn follow(
    mut listener: PgListener,
    url: Arc<str>,
    listeners: Listeners,
    stats: Arc<ChangeFeedStats>,
) {
    loop {
        match listener.try_recv().await {
            Ok(Some(notification)) => {
                stats.received.fetch_add(1, Ordering::Relaxed);
                let change = Invalidation::from_notification(notification.payload())
                    .unwrap_or_else(|| {
                        tracing::warn!(
                            target: "keyward::changes",
                            payload = notification.payload(),
                            "a change notification keyward does not know: dropping every cached credential"
                        );
                        Invalidation::Everything
                    });
                listeners.notify(&change);
            }
            Ok(None) | Err(_) => {
                tracing::warn!(
                    target: "keyward::changes",
                    "lost the PostgreSQL connection that hears other nodes' changes; reconnecting"
                );
                listener = reconnect(&url).await;
                stats.reconnects.fetch_add(1, Ordering::Relaxed);
                listeners.notify(&Invalidation::Everything);
                tracing::warn!(
                    target: "keyward::changes",
                    "hearing other nodes' changes again; cached credentials dropped, since changes made meanwhile were not heard"
                );
            }
        }
    }
}

/// Listens again, retrying with a pause from 100 ms doubling up to 5 s.
async fn reconnect(url: &str) -> PgListener {
    let mut pause = Duration::from_millis(100);
    loop {
        match listen(url).await {
            Ok(listener) => return listener,
            Err(error) => {
                tracing::warn!(target: "keyward::changes", %error, retry_in = ?pause, "reconnecting to hear changes");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}
