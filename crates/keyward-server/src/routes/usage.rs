//! `/api/admin/keys/{id}/usage` and `/api/admin/usage`: how many requests a key (or each key
//! of the domain) made, accepted and refused by code, per minute, hour or day. Every node
//! counts in memory and writes its counts in batches (`keyward_auth::UsageRecorder`), so the
//! last few seconds may not be there yet. Needs `keys:manage`, as the keys themselves do.

use std::collections::{BTreeMap, HashMap};

use axum::Json;
use axum::extract::State;
use keyward_store::{UsageBucket, UsageRow};
use serde::Deserialize;

use super::keys::own_keys;
use crate::AppState;
use crate::auth::Principal;
use crate::authz::Action;
use crate::error::{ApiError, ErrorCode};
use crate::extract::{ApiPath, ApiQuery};
use crate::openapi::{AuthFailures, ErrorBody};
use crate::views::{Data, DomainUsageView, KeyUsageView, TallyView, UsageBucketView};

/// The most buckets one answer holds (a day of minutes is 1,440).
pub const MAX_BUCKETS: i64 = 2_000;

/// The most keys `GET /usage` lists.
pub const MAX_KEYS: usize = 100;

/// The window asked for.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct UsageQuery {
    /// The window's start, epoch ms, rounded down to its bucket [default: 60 minutes, 24 hours
    /// or 30 days before `until_ms`, by bucket].
    since_ms: Option<i64>,
    /// The window's end, epoch ms, rounded up to a bucket's end [default: the end of the
    /// current bucket].
    until_ms: Option<i64>,
    /// `minute`, `hour` or `day` (UTC) [default: hour].
    #[param(inline)]
    bucket: Option<UsageBucket>,
    /// Only this route's requests (`api`, `admin`, `provisioning`, `forward-auth`, or a
    /// gateway route's name).
    route: Option<String>,
    /// How many of the busiest keys `GET /usage` lists, 0 to 100 [default: 10].
    keys: Option<usize>,
}

/// A window of whole buckets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Window {
    bucket: UsageBucket,
    since_ms: i64,
    until_ms: i64,
}

/// The farthest from 1970 a window may reach, either way (about 31,000 years).
const FARTHEST_MS: i64 = 1_000_000_000_000_000;

impl Window {
    /// The window `query` asks for at `now_ms`, or why it cannot be answered (code 34).
    fn of(query: &UsageQuery, now_ms: i64) -> Result<Window, ApiError> {
        let bucket = query.bucket.unwrap_or_default();
        let size = bucket.ms();
        for (name, value) in [("since_ms", query.since_ms), ("until_ms", query.until_ms)] {
            if value.is_some_and(|value| value.unsigned_abs() > FARTHEST_MS.unsigned_abs()) {
                return Err(invalid(format!("{name} must be within {FARTHEST_MS} ms of 1970")));
            }
        }
        if let (Some(since), Some(until)) = (query.since_ms, query.until_ms) {
            if since >= until {
                return Err(invalid("since_ms must come before until_ms".to_owned()));
            }
        }
        let until_ms = match query.until_ms {
            Some(until) => bucket.start(until - 1) + size,
            None => bucket.start(now_ms) + size,
        };
        let default_buckets = match bucket {
            UsageBucket::Minute => 60,
            UsageBucket::Hour => 24,
            UsageBucket::Day => 30,
        };
        let since_ms = match query.since_ms {
            Some(since) => bucket.start(since),
            None => until_ms - default_buckets * size,
        };
        if since_ms >= until_ms {
            return Err(invalid("since_ms must come before the window's end".to_owned()));
        }
        let buckets = (until_ms - since_ms) / size;
        if buckets > MAX_BUCKETS {
            return Err(invalid(format!(
                "the window holds {buckets} {} buckets, more than {MAX_BUCKETS}: ask for a \
                 shorter window or a larger bucket",
                bucket.as_str()
            )));
        }
        Ok(Window { bucket, since_ms, until_ms })
    }

    /// Every bucket's start, oldest first.
    fn starts(self) -> impl Iterator<Item = i64> {
        (self.since_ms..self.until_ms).step_by(self.bucket.ms() as usize)
    }
}

fn invalid(message: String) -> ApiError {
    ApiError::new(ErrorCode::InvalidQuery).with_message(message)
}

/// `GET /api/admin/keys/{id}/usage`.
#[utoipa::path(
    get,
    path = "/keys/{id}/usage",
    tag = "keys",
    summary = "A key's requests, accepted and refused by code and by route, in every bucket of a window (empty buckets too). Counts reach it in batches, within seconds. Needs keys:manage.",
    params(("id" = i64, Path, description = "Key id"), UsageQuery),
    responses((status = 200, description = "{data: [bucket]}", body = Data<Vec<UsageBucketView>>), (status = 404, description = "Not found (40)", body = ErrorBody), (status = 400, description = "Invalid query (34)", body = ErrorBody), AuthFailures),
)]
pub async fn key_usage(
    State(state): State<AppState>,
    principal: Principal,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<Data<Vec<UsageBucketView>>>, ApiError> {
    let owner = own_keys(&principal, Action::ManageKeys, Default::default())?;
    let window = Window::of(&query, state.store.now_ms())?;
    let key = state.store.api_key(owner, id).await?;
    let rows =
        state.store.key_usage(key.id, window.bucket, window.since_ms, window.until_ms).await?;
    Ok(Data::of(series(&only_route(rows, query.route.as_deref()), window)))
}

/// `GET /api/admin/usage`.
#[utoipa::path(
    get,
    path = "/usage",
    tag = "keys",
    summary = "The domain's requests over a window: totals, every bucket, and the busiest keys. Needs keys:manage.",
    params(UsageQuery),
    responses((status = 200, description = "{data: usage}", body = Data<DomainUsageView>), (status = 400, description = "Invalid query (34)", body = ErrorBody), AuthFailures),
)]
pub async fn domain_usage(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(query): ApiQuery<UsageQuery>,
) -> Result<Json<Data<DomainUsageView>>, ApiError> {
    let owner = own_keys(&principal, Action::ManageKeys, Default::default())?;
    let window = Window::of(&query, state.store.now_ms())?;
    let listed = query.keys.unwrap_or(10);
    if listed > MAX_KEYS {
        return Err(invalid(format!("keys must be 0 to {MAX_KEYS}")));
    }
    let rows =
        state.store.owner_usage(owner, window.bucket, window.since_ms, window.until_ms).await?;
    let rows = only_route(rows, query.route.as_deref());
    let mut per_key = HashMap::<i64, TallyView>::new();
    for row in &rows {
        add(per_key.entry(row.key_id).or_default(), row);
    }
    let mut busiest: Vec<(i64, TallyView)> = per_key.into_iter().collect();
    busiest.sort_by_key(|(id, tally)| (std::cmp::Reverse(tally.accepted + tally.refused), *id));
    busiest.truncate(listed);
    let names: HashMap<i64, String> =
        state.store.api_keys(owner).await?.into_iter().map(|key| (key.id, key.name)).collect();
    let keys = busiest
        .into_iter()
        .map(|(key_id, tally)| KeyUsageView {
            key_id,
            name: names.get(&key_id).cloned().unwrap_or_default(),
            tally,
        })
        .collect();
    let mut tally = TallyView::default();
    rows.iter().for_each(|row| add(&mut tally, row));
    Ok(Data::of(DomainUsageView {
        since_ms: window.since_ms,
        until_ms: window.until_ms,
        bucket: window.bucket.as_str(),
        tally,
        series: series(&rows, window),
        keys,
    }))
}

fn only_route(mut rows: Vec<UsageRow>, route: Option<&str>) -> Vec<UsageRow> {
    if let Some(route) = route {
        rows.retain(|row| row.route == route);
    }
    rows
}

/// Adds `row` to `tally`.
fn add(tally: &mut TallyView, row: &UsageRow) {
    let on_route = tally.by_route.entry(row.route.clone()).or_default();
    if row.code == 0 {
        tally.accepted += row.requests;
        on_route.accepted += row.requests;
    } else {
        tally.refused += row.requests;
        on_route.refused += row.requests;
        *tally.by_code.entry(row.code).or_default() += row.requests;
    }
}

/// Every bucket of `window`, with what `rows` counted in it.
fn series(rows: &[UsageRow], window: Window) -> Vec<UsageBucketView> {
    let mut tallies = BTreeMap::<i64, TallyView>::new();
    for row in rows {
        add(tallies.entry(row.start_ms).or_default(), row);
    }
    window
        .starts()
        .map(|start_ms| UsageBucketView {
            start_ms,
            tally: tallies.remove(&start_ms).unwrap_or_default(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::views::RouteTallyView;

    fn query(since_ms: Option<i64>, until_ms: Option<i64>, bucket: UsageBucket) -> UsageQuery {
        UsageQuery { since_ms, until_ms, bucket: Some(bucket), route: None, keys: None }
    }

    #[test]
    fn a_window_is_whole_buckets_around_what_was_asked() {
        let window = Window::of(&query(Some(61_000), Some(179_000), UsageBucket::Minute), 0);
        assert_eq!(window.unwrap().starts().collect::<Vec<_>>(), [60_000, 120_000]);
        let window = Window::of(&query(None, None, UsageBucket::Hour), 3_600_000 * 30 + 5).unwrap();
        assert_eq!((window.since_ms, window.until_ms), (3_600_000 * 7, 3_600_000 * 31));
    }

    #[test]
    fn an_empty_reversed_or_too_long_window_is_refused() {
        for (since, until, bucket) in [
            (Some(5), Some(5), UsageBucket::Minute),
            (Some(200_000), Some(100_000), UsageBucket::Minute),
            (Some(0), Some(60_000 * (MAX_BUCKETS + 1)), UsageBucket::Minute),
            (Some(i64::MIN), None, UsageBucket::Day),
            (None, Some(i64::MAX), UsageBucket::Day),
        ] {
            let refused = Window::of(&query(since, until, bucket), 0).unwrap_err();
            assert_eq!(refused.code, ErrorCode::InvalidQuery, "{since:?} {until:?}");
        }
    }

    #[test]
    fn buckets_tally_by_code_and_route_and_empty_ones_are_there() {
        let row = |start_ms, route: &str, code, requests| UsageRow {
            key_id: 1,
            start_ms,
            route: route.to_owned(),
            code,
            requests,
        };
        let rows = [row(0, "api", 0, 5), row(0, "orders", 12, 2), row(120_000, "api", 27, 1)];
        let window = Window { bucket: UsageBucket::Minute, since_ms: 0, until_ms: 180_000 };
        let buckets = series(&rows, window);
        assert_eq!(buckets.len(), 3);
        assert_eq!((buckets[0].tally.accepted, buckets[0].tally.refused), (5, 2));
        assert_eq!(buckets[0].tally.by_code, BTreeMap::from([(12, 2)]));
        assert_eq!(buckets[0].tally.by_route["orders"], RouteTallyView { accepted: 0, refused: 2 });
        assert_eq!(buckets[1].tally, TallyView::default());
        assert_eq!(buckets[2].tally.by_code, BTreeMap::from([(27, 1)]));
    }
}
