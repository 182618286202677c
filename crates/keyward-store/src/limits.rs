//! Rate limits (on keys and users) and usage quotas (credits, on keys): how they are stored,
//! set and spent.
//!
//! Credits live in the database, which is the one place every node already shares and which
//! keeps them across restarts: a request spends one with a single conditional `UPDATE` (refill
//! and spend in one statement), so two nodes can never spend the same last credit. Spending is
//! not a change the caches hear of: it writes neither a limit nor a refill setting. Rate limits
//! are counted elsewhere (keyward-auth); the store only keeps what each key and user is allowed.

use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{Acquire, Row};

use crate::Store;
use crate::error::StoreError;
use crate::invalidation::Invalidation;
use crate::model::{Actor, ApiKey, Credits, KeyOwner, RateLimit, Refill};

/// The most requests a rate limit may allow per window.
pub const MAX_RATE_LIMIT_REQUESTS: u32 = 1_000_000;
/// The longest rate-limit window, in ms (30 days).
pub const MAX_RATE_LIMIT_WINDOW_MS: u64 = 30 * 86_400 * 1000;
/// The most credits a key may hold.
pub const MAX_CREDITS: i64 = 1_000_000_000_000;
/// The shortest refill interval, in ms (one second).
pub const MIN_REFILL_INTERVAL_MS: i64 = 1000;
/// The longest refill interval, in ms (400 days).
pub const MAX_REFILL_INTERVAL_MS: i64 = 400 * 86_400 * 1000;

impl RateLimit {
    /// A rate limit of `requests` per `window_ms`, when both are within bounds (1 to
    /// [`MAX_RATE_LIMIT_REQUESTS`] requests, 1 s to [`MAX_RATE_LIMIT_WINDOW_MS`]).
    pub fn new(requests: u32, window_ms: u64) -> Option<Self> {
        let fits = (1..=MAX_RATE_LIMIT_REQUESTS).contains(&requests)
            && (1000..=MAX_RATE_LIMIT_WINDOW_MS).contains(&window_ms);
        fits.then_some(RateLimit { requests, window_ms })
    }

    /// The limit in the row's `<prefix>rate_limit_requests` and `..._window_ms` columns.
    pub(crate) fn from_row(row: &AnyRow, prefix: &str) -> Result<Option<Self>, sqlx::Error> {
        let requests: Option<i64> = row.try_get(format!("{prefix}rate_limit_requests").as_str())?;
        let window: Option<i64> = row.try_get(format!("{prefix}rate_limit_window_ms").as_str())?;
        Ok(match (requests, window) {
            (Some(requests), Some(window)) => RateLimit::new(
                u32::try_from(requests).unwrap_or(u32::MAX),
                u64::try_from(window).unwrap_or(0),
            ),
            _ => None,
        })
    }

    fn columns(limit: Option<Self>) -> (Option<i64>, Option<i64>) {
        match limit {
            Some(limit) => (Some(i64::from(limit.requests)), i64::try_from(limit.window_ms).ok()),
            None => (None, None),
        }
    }
}

impl Credits {
    /// Credits with a refill, when every figure is within bounds.
    pub fn new(remaining: i64, refill: Option<Refill>) -> Option<Self> {
        let refill_fits = refill.is_none_or(|refill| {
            (0..=MAX_CREDITS).contains(&refill.amount)
                && (MIN_REFILL_INTERVAL_MS..=MAX_REFILL_INTERVAL_MS).contains(&refill.interval_ms)
        });
        ((0..=MAX_CREDITS).contains(&remaining) && refill_fits)
            .then_some(Credits { remaining, refill })
    }

    /// The credits in the row's `credits_*` columns, as of `now_ms` (a refill due is shown as
    /// done: it is what the next request sees).
    pub(crate) fn from_row(row: &AnyRow, now_ms: i64) -> Result<Option<Self>, sqlx::Error> {
        let Some(remaining) = row.try_get::<Option<i64>, _>("credits_remaining")? else {
            return Ok(None);
        };
        let refill = match (
            row.try_get::<Option<i64>, _>("credits_refill_amount")?,
            row.try_get::<Option<i64>, _>("credits_refill_interval_ms")?,
        ) {
            (Some(amount), Some(interval_ms)) => Some(Refill { amount, interval_ms }),
            _ => None,
        };
        let refilled_at: i64 =
            row.try_get::<Option<i64>, _>("credits_refilled_at_ms")?.unwrap_or(0);
        let remaining = match refill {
            Some(refill) if now_ms >= refilled_at.saturating_add(refill.interval_ms) => {
                refill.amount
            }
            _ => remaining,
        };
        Ok(Some(Credits { remaining, refill }))
    }
}

/// A key's rate limit and credits, as set together.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct KeyLimits {
    /// The rate limit, or none.
    pub rate_limit: Option<RateLimit>,
    /// The quota, or none.
    pub credits: Option<Credits>,
}

impl KeyLimits {
    /// The audit record's detail: what the key may do now.
    pub(crate) fn audit_detail(&self) -> serde_json::Value {
        json!({ "rate_limit": self.rate_limit, "credits": self.credits })
    }
}

/// What spending a credit found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Spend {
    /// The key has no quota.
    Unlimited,
    /// One credit spent; this many are left.
    Spent {
        /// Credits left after this one.
        remaining: i64,
    },
    /// None left.
    Exhausted {
        /// When the next refill comes, epoch ms, if the credits refill.
        refill_at_ms: Option<i64>,
    },
}

/// Whether a refill is due at `$1`, in SQL.
macro_rules! refill_due {
    () => {
        "(credits_refill_interval_ms IS NOT NULL \
         AND $1 >= credits_refilled_at_ms + credits_refill_interval_ms)"
    };
}

/// Spends one credit of key `$2` at `$1`, refilling first when a refill is due.
const SPEND: &str = concat!(
    "UPDATE api_keys SET credits_remaining = (CASE WHEN ",
    refill_due!(),
    " THEN credits_refill_amount ELSE credits_remaining END) - 1, \
     credits_refilled_at_ms = CASE WHEN ",
    refill_due!(),
    " THEN $1 - (($1 - credits_refilled_at_ms) % credits_refill_interval_ms) \
     ELSE credits_refilled_at_ms END \
     WHERE id = $2 AND credits_remaining IS NOT NULL AND (CASE WHEN ",
    refill_due!(),
    " THEN credits_refill_amount ELSE credits_remaining END) >= 1 RETURNING credits_remaining"
);

impl Store {
    /// Sets key `id`'s rate limit and credits (both, as given: `None` removes). Audited
    /// (`key.limits`); the caches of every node hear of it.
    pub async fn set_key_limits(
        &self,
        actor: &Actor,
        owner: KeyOwner,
        id: i64,
        limits: &KeyLimits,
    ) -> Result<ApiKey, StoreError> {
        let detail = limits.audit_detail();
        self.change_key(actor, owner, id, "key.limits", detail, async |conn, now| {
            write_key_limits(conn, id, limits, now).await
        })
        .await
    }

    /// Spends one credit of key `id` at `now_ms`, refilling first when a refill is due: one
    /// atomic statement, exact however many nodes spend at once.
    pub async fn spend_credit(&self, id: i64, now_ms: i64) -> Result<Spend, StoreError> {
        let row = sqlx::query(SPEND).bind(now_ms).bind(id).fetch_optional(&self.pool).await?;
        if let Some(row) = row {
            return Ok(Spend::Spent { remaining: row.try_get("credits_remaining")? });
        }
        let row = sqlx::query(
            "SELECT credits_remaining, credits_refill_interval_ms, credits_refilled_at_ms \
             FROM api_keys WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(Spend::Unlimited) };
        if row.try_get::<Option<i64>, _>("credits_remaining")?.is_none() {
            return Ok(Spend::Unlimited);
        }
        let refill_at_ms = match (
            row.try_get::<Option<i64>, _>("credits_refill_interval_ms")?,
            row.try_get::<Option<i64>, _>("credits_refilled_at_ms")?,
        ) {
            (Some(interval), Some(at)) => Some(at.saturating_add(interval)),
            _ => None,
        };
        Ok(Spend::Exhausted { refill_at_ms })
    }

    /// Sets user `id`'s rate limit (`None` removes it). Audited (`user.rate_limit`).
    pub async fn set_user_rate_limit(
        &self,
        actor: &Actor,
        domain_id: i64,
        id: i64,
        limit: Option<RateLimit>,
    ) -> Result<crate::User, StoreError> {
        let _invalidate = self.invalidates(Invalidation::User(id));
        let now = self.now_ms();
        let mut tx = self.write_transaction().await?;
        let (requests, window) = RateLimit::columns(limit);
        let row = sqlx::query(
            "UPDATE users SET rate_limit_requests = $1, rate_limit_window_ms = $2 \
             WHERE id = $3 AND domain_id = $4 RETURNING *",
        )
        .bind(requests)
        .bind(window)
        .bind(id)
        .bind(domain_id)
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(StoreError::NotFound("user"))?;
        let user = crate::accounts::user_from_row(&row)?;
        let change = crate::audit::Change {
            action: "user.rate_limit",
            target_type: "user",
            target_id: id.to_string(),
            detail: json!({ "rate_limit": limit }),
            domain_id: Some(domain_id),
            actor,
        };
        crate::audit::record(tx.acquire().await?, now, change).await?;
        tx.commit().await?;
        Ok(user)
    }
}

/// Writes a key's limits (every column, so that PostgreSQL tells the other nodes); the credits
/// count their refill interval from `now_ms`.
pub(crate) async fn write_key_limits(
    conn: &mut sqlx::AnyConnection,
    id: i64,
    limits: &KeyLimits,
    now_ms: i64,
) -> Result<(), StoreError> {
    let (requests, window) = RateLimit::columns(limits.rate_limit);
    let credits = limits.credits;
    let refill = credits.and_then(|credits| credits.refill);
    sqlx::query(
        "UPDATE api_keys SET rate_limit_requests = $1, rate_limit_window_ms = $2, \
         credits_remaining = $3, credits_refill_amount = $4, credits_refill_interval_ms = $5, \
         credits_refilled_at_ms = $6 WHERE id = $7",
    )
    .bind(requests)
    .bind(window)
    .bind(credits.map(|credits| credits.remaining))
    .bind(refill.map(|refill| refill.amount))
    .bind(refill.map(|refill| refill.interval_ms))
    .bind(credits.map(|_| now_ms))
    .bind(id)
    .execute(conn)
    .await?;
    Ok(())
}
