//! Phase 7: every rate limit that applies (the key's, its user's, the route's per caller), then
//! a credit if the key has a quota; only a request every limit lets through spends one.

use keyward_sig::Principal as Verified;
use keyward_store::{Spend, TokenSubject};

use super::{AuthSettings, Known, Refusal};
use crate::cache::{KeyHandle, TokenHandle};
use crate::error::{ApiError, ErrorCode};
use crate::rate_limit::{Allowance, Limit, Limited, PolicyName, RouteLimit};

/// What the limits allow, for the answer's headers; or the refusal.
pub(super) async fn apply(
    settings: &AuthSettings,
    verified: &Verified<KeyHandle, TokenHandle>,
    known: Known,
    method: &axum::http::Method,
    expires_at_ms: Option<i64>,
    now_ms: i64,
) -> Result<Allowance, Refusal> {
    let meters = settings.cache.meters();
    let (limits, credited) = limits_of(verified, settings.route_limit.as_ref());
    let mut allowance = Allowance { key_expires_at_ms: expires_at_ms, ..Allowance::default() };
    if !limits.is_empty() {
        allowance = match settings.limiter.check(&limits, method, now_ms).await {
            Ok(allowance) => allowance,
            Err(limited) => {
                let (refusal, label) = limit_refusal(known, limited, expires_at_ms);
                meters.rate_limited(label);
                return Err(refusal);
            }
        };
    }
    let Some(id) = credited else { return Ok(allowance) };
    match settings.cache.store().spend_credit(id, now_ms).await {
        Ok(Spend::Spent { remaining }) => allowance.credits_remaining = Some(remaining),
        Ok(Spend::Unlimited) => {}
        Ok(Spend::Exhausted { refill_at_ms }) => {
            meters.rate_limited("credits");
            allowance.credits_remaining = Some(0);
            let error = credits_refusal(refill_at_ms, now_ms);
            return Err(known.refuse_with(error, "credits-exhausted", Some(allowance)));
        }
        Err(error) => {
            meters.store_failed();
            return Err(known.tag(Refusal::store(error)));
        }
    }
    Ok(allowance)
}

/// The refusal of a request a rate limit refused, with the rate limits' headers, and the
/// limit's label in the metrics.
fn limit_refusal(
    known: Known,
    limited: Limited,
    expires_at_ms: Option<i64>,
) -> (Refusal, &'static str) {
    match limited {
        Limited::Exceeded { policy, retry_after, allowance } => {
            let error = ApiError::new(ErrorCode::RateLimited)
                .with_retry_after(retry_after)
                .with_detail(serde_json::json!({
                    "policy": policy.as_str(),
                    "retry_after_seconds": retry_after,
                }));
            let allowance = Allowance { key_expires_at_ms: expires_at_ms, ..allowance };
            (known.refuse_with(error, "rate-limited", Some(allowance)), policy.as_str())
        }
        Limited::SharedUnavailable => {
            let error = ApiError::new(ErrorCode::Unavailable)
                .with_message(
                    "The shared rate-limit counts (Redis) cannot be reached: POST, PUT, PATCH \
                     and DELETE requests are refused until they are back",
                )
                .with_retry_after(1);
            (known.refuse(error, "rate-limit-store-unavailable"), "shared_unavailable")
        }
    }
}

/// The answer to a key whose credits are spent: when they refill, if they do.
fn credits_refusal(refill_at_ms: Option<i64>, now_ms: i64) -> ApiError {
    let wait = refill_at_ms.map(|at| u64::try_from((at - now_ms + 999) / 1000).unwrap_or(0).max(1));
    let error = ApiError::new(ErrorCode::CreditsExhausted).with_detail(
        serde_json::json!({ "refill_at_ms": refill_at_ms, "retry_after_seconds": wait }),
    );
    match wait {
        Some(seconds) => error.with_retry_after(seconds),
        None => error,
    }
}

/// The rate limits a request counts against, and the key whose credits it spends (if the key
/// has a quota): the key's limit, its user's (the token's user, or the key's root user), and
/// the route's, per caller.
fn limits_of(
    verified: &Verified<KeyHandle, TokenHandle>,
    route: Option<&RouteLimit>,
) -> (Vec<Limit>, Option<i64>) {
    let (key, user) = match verified {
        Verified::ApiKey { key, .. } => (Some(&key.0.key), None),
        Verified::AccessToken { grant, .. } => match &grant.0.token.subject {
            TokenSubject::Key(key) => (Some(&**key), None),
            TokenSubject::User(user) => (None, Some(user)),
        },
    };
    let mut limits = Vec::new();
    if let Some(key) = key {
        if let Some(limit) = key.rate_limit {
            limits.push(Limit::new(PolicyName::Key, format!("k:{}", key.id), limit));
        }
        if let (Some(limit), Some(root)) = (key.root_rate_limit, key.root_user_id) {
            limits.push(Limit::new(PolicyName::User, format!("u:{root}"), limit));
        }
    }
    if let Some(limit) = user.and_then(|user| user.rate_limit.map(|limit| (user.id, limit))) {
        limits.push(Limit::new(PolicyName::User, format!("u:{}", limit.0), limit.1));
    }
    if let Some(route) = route {
        let caller = match (key, user) {
            (Some(key), _) => format!("k:{}", key.id),
            (None, Some(user)) => format!("u:{}", user.id),
            (None, None) => String::new(),
        };
        let counter = format!("r:{}:{caller}", route.route);
        limits.push(Limit::new(PolicyName::Route, counter, route.limit));
    }
    let credited = key.filter(|key| key.credits.is_some()).map(|key| key.id);
    (limits, credited)
}
