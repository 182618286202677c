//! Keys' usage: their last use, and how many requests each made, per bucket of time, route and
//! outcome. Nodes count in memory and add their counts here in batches ([`Store::record_usage`]);
//! a count is added to the minute, hour and UTC day it falls in, in one transaction, so the
//! roll-ups are exact and counts from every node add up. Minute and hour rows are pruned after
//! their retention ([`Store::prune_usage`]); day rows are kept.

use serde::Deserialize;
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::Store;
use crate::error::StoreError;
use crate::model::KeyOwner;

/// The length of a usage bucket: minute, hour, or UTC day.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[cfg_attr(feature = "schema", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum UsageBucket {
    /// 60 s.
    Minute,
    /// 3,600 s.
    #[default]
    Hour,
    /// 86,400 s, from midnight UTC.
    Day,
}

impl UsageBucket {
    /// Every bucket, shortest first: a count is added to each.
    pub const ALL: [UsageBucket; 3] = [UsageBucket::Minute, UsageBucket::Hour, UsageBucket::Day];

    /// The bucket's length, in ms.
    pub fn ms(self) -> i64 {
        match self {
            UsageBucket::Minute => 60_000,
            UsageBucket::Hour => 3_600_000,
            UsageBucket::Day => 86_400_000,
        }
    }

    /// `minute`, `hour` or `day`.
    pub fn as_str(self) -> &'static str {
        match self {
            UsageBucket::Minute => "minute",
            UsageBucket::Hour => "hour",
            UsageBucket::Day => "day",
        }
    }

    /// The start of the bucket `at_ms` falls in.
    pub fn start(self, at_ms: i64) -> i64 {
        at_ms - at_ms.rem_euclid(self.ms())
    }
}

/// Requests one node counted for one key in one minute, on one route, with one outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageCount {
    /// The key.
    pub key_id: i64,
    /// The minute's start, epoch ms.
    pub minute_ms: i64,
    /// The route (`api`, `admin`, `provisioning`, `forward-auth`, or a gateway route's name).
    pub route: String,
    /// 0 for accepted, else the refusal's error code.
    pub code: u16,
    /// How many.
    pub requests: u64,
}

/// A bucket's count of one key's requests on one route with one outcome, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UsageRow {
    /// The key.
    pub key_id: i64,
    /// The bucket's start, epoch ms.
    pub start_ms: i64,
    /// The route.
    pub route: String,
    /// 0 for accepted, else the refusal's error code.
    pub code: u16,
    /// How many.
    pub requests: u64,
}

fn from_row(row: &AnyRow) -> Result<UsageRow, sqlx::Error> {
    let code: i64 = row.try_get("code")?;
    let requests: i64 = row.try_get("requests")?;
    Ok(UsageRow {
        key_id: row.try_get("key_id")?,
        start_ms: row.try_get("start_ms")?,
        route: row.try_get("route")?,
        code: u16::try_from(code).unwrap_or(u16::MAX),
        requests: u64::try_from(requests).unwrap_or(0),
    })
}

const ADD: &str = "INSERT INTO key_usage (key_id, bucket_ms, start_ms, route, code, requests) \
     VALUES ($1, $2, $3, $4, $5, $6) \
     ON CONFLICT (key_id, bucket_ms, start_ms, route, code) \
     DO UPDATE SET requests = key_usage.requests + excluded.requests";

impl Store {
    /// Records keys' last uses, `(key id, epoch ms)`, and adds `counts` to every bucket they
    /// fall in, in one transaction (best effort, not audited: it changes nothing a client set).
    /// A use older than the one recorded is ignored.
    pub async fn record_usage(
        &self,
        uses: &[(i64, i64)],
        counts: &[UsageCount],
    ) -> Result<(), StoreError> {
        if uses.is_empty() && counts.is_empty() {
            return Ok(());
        }
        let mut tx = self.write_transaction().await?;
        for &(id, at_ms) in uses {
            sqlx::query("UPDATE api_keys SET last_used_at_ms = $1 WHERE id = $2 AND (last_used_at_ms IS NULL OR last_used_at_ms < $1)")
                .bind(at_ms)
                .bind(id)
                .execute(&mut *tx)
                .await?;
        }
        for (bucket, sum) in rolled_up(counts) {
            sqlx::query(ADD)
                .bind(sum.key_id)
                .bind(bucket.ms())
                .bind(sum.start_ms)
                .bind(sum.route.as_str())
                .bind(i64::from(sum.code))
                .bind(i64::try_from(sum.requests).unwrap_or(i64::MAX))
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Key `key_id`'s counts in `bucket`s starting from `since_ms` (inclusive) to `until_ms`
    /// (exclusive), oldest first.
    pub async fn key_usage(
        &self,
        key_id: i64,
        bucket: UsageBucket,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT * FROM key_usage WHERE key_id = $1 AND bucket_ms = $2 \
             AND start_ms >= $3 AND start_ms < $4 ORDER BY start_ms",
        )
        .bind(key_id)
        .bind(bucket.ms())
        .bind(since_ms)
        .bind(until_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// The counts of every key of a domain or reseller, as [`Store::key_usage`].
    pub async fn owner_usage(
        &self,
        owner: KeyOwner,
        bucket: UsageBucket,
        since_ms: i64,
        until_ms: i64,
    ) -> Result<Vec<UsageRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT u.* FROM key_usage u JOIN api_keys k ON k.id = u.key_id \
             WHERE (k.domain_id = $1 OR k.reseller_id = $2) AND u.bucket_ms = $3 \
             AND u.start_ms >= $4 AND u.start_ms < $5 ORDER BY u.start_ms",
        )
        .bind(owner.domain())
        .bind(owner.reseller())
        .bind(bucket.ms())
        .bind(since_ms)
        .bind(until_ms)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
    }

    /// Deletes minute rows that started before `minutes_before_ms` and hour rows that started
    /// before `hours_before_ms`; answers how many rows went.
    pub async fn prune_usage(
        &self,
        minutes_before_ms: i64,
        hours_before_ms: i64,
    ) -> Result<u64, StoreError> {
        let mut pruned = 0;
        let cuts = [(UsageBucket::Minute, minutes_before_ms), (UsageBucket::Hour, hours_before_ms)];
        for (bucket, before_ms) in cuts {
            pruned += sqlx::query("DELETE FROM key_usage WHERE bucket_ms = $1 AND start_ms < $2")
                .bind(bucket.ms())
                .bind(before_ms)
                .execute(&self.pool)
                .await?
                .rows_affected();
        }
        Ok(pruned)
    }
}

/// `counts` added up per bucket they fall in: every bucket of [`UsageBucket::ALL`], in the order
/// of the table's key, so that concurrent writers take row locks in the same order.
fn rolled_up(counts: &[UsageCount]) -> Vec<(UsageBucket, UsageRow)> {
    let mut sums = std::collections::BTreeMap::<(i64, UsageBucket, i64, &str, u16), u64>::new();
    for count in counts {
        for bucket in UsageBucket::ALL {
            let start = bucket.start(count.minute_ms);
            let sum =
                sums.entry((count.key_id, bucket, start, &count.route, count.code)).or_default();
            *sum = sum.saturating_add(count.requests);
        }
    }
    sums.into_iter()
        .map(|((key_id, bucket, start_ms, route, code), requests)| {
            (bucket, UsageRow { key_id, start_ms, route: route.to_owned(), code, requests })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(key_id: i64, minute_ms: i64, code: u16, requests: u64) -> UsageCount {
        UsageCount { key_id, minute_ms, route: "api".to_owned(), code, requests }
    }

    #[test]
    fn counts_roll_up_into_their_hour_and_day() {
        let hour = 3_600_000;
        let counts =
            [count(1, 0, 0, 2), count(1, 60_000, 0, 3), count(1, hour, 0, 4), count(1, 0, 13, 1)];
        let rows = rolled_up(&counts);
        let find = |bucket, start, code| {
            rows.iter()
                .find(|(b, row)| *b == bucket && row.start_ms == start && row.code == code)
                .map(|(_, row)| row.requests)
        };
        assert_eq!(find(UsageBucket::Minute, 60_000, 0), Some(3));
        assert_eq!(find(UsageBucket::Hour, 0, 0), Some(5));
        assert_eq!(find(UsageBucket::Hour, hour, 0), Some(4));
        assert_eq!(find(UsageBucket::Day, 0, 0), Some(9));
        assert_eq!(find(UsageBucket::Day, 0, 13), Some(1));
        assert_eq!(rows.len(), 4 + 3 + 2);
    }

    #[test]
    fn buckets_start_at_their_boundaries_before_1970_too() {
        assert_eq!(UsageBucket::Day.start(86_400_000 + 5), 86_400_000);
        assert_eq!(UsageBucket::Minute.start(-1), -60_000);
    }
}
