//! Rate limits per key, per user and per gateway route, counted with GCRA (the generic cell
//! rate algorithm): a limit of `N` requests per window `W` allows a burst of `N`, then one
//! request every `W / N`. A request counts against every limit that applies to it (its key's,
//! its user's, its route's) and is let through only if all of them allow it; a refused request
//! spends none of them.
//!
//! Without Redis, each node counts in its own memory (a limit of `N` then allows up to `N` per
//! node). With Redis ([`RateLimiter::shared`]), every node counts in one place: one script
//! checks and spends every limit of a request at once, on Redis's clock, so the limit is exact
//! however many nodes serve the key. When Redis cannot be asked, [`crate::RedisFailure`]
//! decides: fail-closed refuses unsafe methods (503) and counts safe ones here; fail-open
//! counts everything here.
//!
//! The state of a limit is one number, its theoretical arrival time (TAT), in microseconds:
//! with `T = ceil(W / N)` and `C = N * T`, a request at `now` moves the TAT to
//! `max(TAT, now) + T` and is allowed when that is at most `now + C`. Its answer carries the
//! IETF draft's `RateLimit-Policy` and `RateLimit` headers ([`Allowance`]).
//!
//! # Example
//! ```
//! use keyward_auth::{Limit, PolicyName, RateLimiter};
//! use keyward_store::RateLimit;
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let limiter = RateLimiter::new();
//! let limit = Limit::new(PolicyName::Key, "k:7".into(), RateLimit::new(2, 60_000).unwrap());
//! let get = axum::http::Method::GET;
//! assert!(limiter.check(std::slice::from_ref(&limit), &get, 0).await.is_ok());
//! assert!(limiter.check(std::slice::from_ref(&limit), &get, 0).await.is_ok());
//! assert!(limiter.check(std::slice::from_ref(&limit), &get, 0).await.is_err());
//! # });
//! ```

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderValue, Method};
use keyward_store::RateLimit;

use crate::redis::{Redis, Use};

/// Which limit a policy is, as named in the `RateLimit-Policy` header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PolicyName {
    /// The key's own limit.
    Key,
    /// The limit of the user behind the request (its user, or its key's root user).
    User,
    /// A gateway route's limit, per caller.
    Route,
}

impl PolicyName {
    /// `key`, `user` or `route`.
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyName::Key => "key",
            PolicyName::User => "user",
            PolicyName::Route => "route",
        }
    }
}

/// One limit a request counts against: its policy, what it counts (`k:<key id>`,
/// `u:<user id>`, `r:<route>:k:<key id>`...), and the limit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limit {
    name: PolicyName,
    counter: String,
    limit: RateLimit,
}

impl Limit {
    /// A limit named `name` on `counter`.
    pub fn new(name: PolicyName, counter: String, limit: RateLimit) -> Self {
        Limit { name, counter, limit }
    }

    /// GCRA's emission interval `T` and capacity `C`, in microseconds.
    fn cell(&self) -> (i64, i64) {
        let window_us = i64::try_from(self.limit.window_ms).unwrap_or(i64::MAX / 1_000_000) * 1000;
        let requests = i64::from(self.limit.requests.max(1));
        let interval = (window_us + requests - 1) / requests;
        (interval, interval * requests)
    }
}

/// A gateway route's limit, counted per caller (key or user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteLimit {
    /// The route, as it names its counters (its host and prefix).
    pub route: Arc<str>,
    /// The limit.
    pub limit: RateLimit,
}

/// What a request that was let through may still do: per rate limit, and the key's credits.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Allowance {
    /// Per limit: its name, its limit, the requests left now, and the seconds until it is
    /// whole again.
    pub policies: Vec<(PolicyName, RateLimit, u64, u64)>,
    /// The key's credits left, when it has a quota.
    pub credits_remaining: Option<i64>,
    /// When the key expires, epoch ms, when that is near (see `AuthSettings::expiry_warning_ms`).
    pub key_expires_at_ms: Option<i64>,
}

impl Allowance {
    /// Whether there is nothing to say: no limit, no quota, no expiry near.
    pub fn is_empty(&self) -> bool {
        self.policies.is_empty()
            && self.credits_remaining.is_none()
            && self.key_expires_at_ms.is_none()
    }

    fn push(&mut self, limit: &Limit, ahead_us: i64) {
        let (interval, capacity) = limit.cell();
        let remaining = u64::try_from((capacity - ahead_us).max(0) / interval).unwrap_or(0);
        let reset = u64::try_from((ahead_us + 999_999) / 1_000_000).unwrap_or(0);
        self.policies.push((limit.name, limit.limit, remaining, reset));
    }

    /// Writes `RateLimit-Policy` (`"key";q=100;w=60`) and `RateLimit` (`"key";r=99;t=1`), one
    /// item per limit, as the IETF draft (draft-ietf-httpapi-ratelimit-headers) defines them,
    /// and `Keyward-Credits-Remaining` for a key with a quota; `Keyward-Key-Expires` (an
    /// HTTP date) for a key whose expiry is near.
    pub fn write_headers(&self, headers: &mut HeaderMap) {
        if let Some(credits) = self.credits_remaining {
            headers.insert("keyward-credits-remaining", HeaderValue::from(credits));
        }
        if let Some(at) = self.key_expires_at_ms.and_then(|ms| u64::try_from(ms).ok()) {
            let when = std::time::UNIX_EPOCH + std::time::Duration::from_millis(at);
            if let Ok(value) = HeaderValue::try_from(httpdate::fmt_http_date(when)) {
                headers.insert("keyward-key-expires", value);
            }
        }
        if self.policies.is_empty() {
            return;
        }
        let (mut policy, mut state) = (String::new(), String::new());
        for (i, (name, limit, remaining, reset)) in self.policies.iter().enumerate() {
            let separator = if i == 0 { "" } else { ", " };
            let window = limit.window_ms.div_ceil(1000);
            let name = name.as_str();
            let _ = write!(policy, "{separator}\"{name}\";q={};w={window}", limit.requests);
            let _ = write!(state, "{separator}\"{name}\";r={remaining};t={reset}");
        }
        for (header, value) in [("ratelimit-policy", policy), ("ratelimit", state)] {
            if let Ok(value) = HeaderValue::try_from(value) {
                headers.insert(header, value);
            }
        }
    }
}

/// Why a request was not let through.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Limited {
    /// A limit is spent: the first one that refused, and the seconds until the request
    /// would be allowed.
    Exceeded {
        /// The limit that refused.
        policy: PolicyName,
        /// Seconds to wait, at least 1.
        retry_after: u64,
        /// The limits, all with nothing left.
        allowance: Allowance,
    },
    /// Redis cannot be asked, and the request's method is refused meanwhile (fail-closed).
    SharedUnavailable,
}

/// Counts every limit; clones share the counts.
#[derive(Clone, Debug, Default)]
pub struct RateLimiter {
    local: Arc<Mutex<LocalCells>>,
    shared: Option<SharedLimits>,
}

/// This node's counts: each counter's TAT, in microseconds.
#[derive(Debug, Default)]
struct LocalCells {
    tats: HashMap<String, i64>,
    /// The size after the last sweep of spent counters.
    swept_len: usize,
}

impl RateLimiter {
    /// A limiter counting in this node's memory.
    pub fn new() -> Self {
        RateLimiter::default()
    }

    /// The same limiter, counting in `redis` for every node.
    pub fn shared(mut self, redis: Redis) -> Self {
        self.shared = Some(SharedLimits { redis, script: Arc::new(redis::Script::new(GCRA)) });
        self
    }

    /// Counts a request with `method` at `now_ms` against `limits`: let through (and spent
    /// from each), or refused (and spent from none).
    pub async fn check(
        &self,
        limits: &[Limit],
        method: &Method,
        now_ms: i64,
    ) -> Result<Allowance, Limited> {
        if let Some(shared) = &self.shared {
            match shared.check(limits, method).await {
                Some(decided) => return decided,
                None if shared.redis.on_failure().refuses(method) => {
                    return Err(Limited::SharedUnavailable);
                }
                None => {}
            }
        }
        self.check_here(limits, now_ms.saturating_mul(1000))
    }

    /// Counts in this node's memory, at `now_us`.
    fn check_here(&self, limits: &[Limit], now_us: i64) -> Result<Allowance, Limited> {
        let mut cells = self.local.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let mut next = Vec::with_capacity(limits.len());
        let mut refused: Option<(PolicyName, i64)> = None;
        for limit in limits {
            let (interval, capacity) = limit.cell();
            let tat = cells.tats.get(&limit.counter).copied().unwrap_or(now_us).max(now_us);
            let new = tat.saturating_add(interval);
            let wait = new - now_us - capacity;
            if wait > 0 && refused.is_none_or(|(_, longest)| wait > longest) {
                refused = Some((limit.name, wait));
            }
            next.push(new);
        }
        if let Some((policy, wait)) = refused {
            return Err(exceeded(limits, policy, wait));
        }
        let mut allowance = Allowance::default();
        for (limit, new) in limits.iter().zip(next) {
            allowance.push(limit, new - now_us);
            cells.tats.insert(limit.counter.clone(), new);
        }
        // Forget counters whose TAT has passed (they are as good as new), now and then.
        if cells.tats.len() > 2 * cells.swept_len + 1024 {
            cells.tats.retain(|_, tat| *tat > now_us);
            cells.swept_len = cells.tats.len();
        }
        Ok(allowance)
    }
}

/// The refusal for `limits`, the first longest wait being `wait_us` on `policy`.
fn exceeded(limits: &[Limit], policy: PolicyName, wait_us: i64) -> Limited {
    let mut allowance = Allowance::default();
    for limit in limits {
        let (_, capacity) = limit.cell();
        allowance.push(limit, capacity);
    }
    let retry_after = u64::try_from((wait_us + 999_999) / 1_000_000).unwrap_or(1).max(1);
    Limited::Exceeded { policy, retry_after, allowance }
}

/// Checks and spends every limit at once, on Redis's clock (microseconds). `KEYS` are the
/// counters; `ARGV` holds each one's interval and capacity. Answers `{0, i, wait}` when limit
/// `i` (from 1) refuses first with the longest wait, else `{1, ahead_1, ahead_2, ...}`, each
/// counter's new TAT minus now.
const GCRA: &str = r"
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local next = {}
local refused, longest = 0, 0
for i, key in ipairs(KEYS) do
  local interval = tonumber(ARGV[2 * i - 1])
  local capacity = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', key) or now)
  if tat < now then tat = now end
  local new = tat + interval
  local wait = new - now - capacity
  if wait > longest then refused, longest = i, wait end
  next[i] = new
end
if refused > 0 then return {0, refused, longest} end
local answer = {1}
for i, key in ipairs(KEYS) do
  redis.call('SET', key, string.format('%d', next[i]), 'PX', math.ceil((next[i] - now) / 1000) + 1)
  answer[i + 1] = next[i] - now
end
return answer
";

/// The counts every node shares.
#[derive(Clone, Debug)]
struct SharedLimits {
    redis: Redis,
    script: Arc<redis::Script>,
}

impl SharedLimits {
    /// The decision, or `None` when Redis cannot be asked.
    async fn check(&self, limits: &[Limit], method: &Method) -> Option<Result<Allowance, Limited>> {
        let mut invocation = self.script.prepare_invoke();
        for limit in limits {
            let (interval, capacity) = limit.cell();
            invocation.key(format!("keyward:rate:{}", limit.counter)).arg(interval).arg(capacity);
        }
        let answer: Vec<i64> = self.redis.run(&invocation, Use::RateLimit, method).await?;
        Some(match answer.as_slice() {
            [0, refused, wait] => {
                let index = usize::try_from(*refused).unwrap_or(1).saturating_sub(1);
                let policy = limits.get(index).map_or(PolicyName::Key, |limit| limit.name);
                Err(exceeded(limits, policy, *wait))
            }
            [1, ahead @ ..] if ahead.len() == limits.len() => {
                let mut allowance = Allowance::default();
                for (limit, ahead) in limits.iter().zip(ahead) {
                    allowance.push(limit, *ahead);
                }
                Ok(allowance)
            }
            _ => {
                tracing::warn!(target: "keyward::redis", "unexpected answer from the rate-limit script");
                return None;
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(name: PolicyName, counter: &str, requests: u32, window_ms: u64) -> Limit {
        Limit::new(name, counter.into(), RateLimit::new(requests, window_ms).unwrap())
    }

    #[test]
    fn a_burst_of_n_then_one_per_interval() {
        let limiter = RateLimiter::new();
        let limits = [limit(PolicyName::Key, "k:1", 3, 3_000)];
        let now = 1_000_000_000;
        for left in [2, 1, 0] {
            let allowance = limiter.check_here(&limits, now).unwrap();
            assert_eq!(allowance.policies[0].2, left);
        }
        let Err(Limited::Exceeded { retry_after, policy, .. }) = limiter.check_here(&limits, now)
        else {
            panic!("the fourth request in a burst of three is refused");
        };
        assert_eq!((policy, retry_after), (PolicyName::Key, 1));
        // One interval (1 s) later, one more.
        assert!(limiter.check_here(&limits, now + 1_000_000).is_ok());
        assert!(limiter.check_here(&limits, now + 1_000_000).is_err());
    }

    #[test]
    fn a_refusal_by_one_limit_spends_none_of_the_others() {
        let limiter = RateLimiter::new();
        let key = limit(PolicyName::Key, "k:1", 10, 60_000);
        let user = limit(PolicyName::User, "u:1", 1, 60_000);
        let both = [key.clone(), user];
        assert!(limiter.check_here(&both, 0).is_ok());
        let Err(Limited::Exceeded { policy, .. }) = limiter.check_here(&both, 0) else {
            panic!("the user's limit of one is spent");
        };
        assert_eq!(policy, PolicyName::User);
        // The key's own count moved once only: nine more fit.
        for _ in 0..9 {
            assert!(limiter.check_here(std::slice::from_ref(&key), 0).is_ok());
        }
        assert!(limiter.check_here(std::slice::from_ref(&key), 0).is_err());
    }

    #[test]
    fn headers_follow_the_ietf_draft() {
        let limiter = RateLimiter::new();
        let limits = [limit(PolicyName::Key, "k:1", 100, 60_000)];
        let mut headers = HeaderMap::new();
        limiter.check_here(&limits, 0).unwrap().write_headers(&mut headers);
        assert_eq!(headers["ratelimit-policy"], "\"key\";q=100;w=60");
        assert_eq!(headers["ratelimit"], "\"key\";r=99;t=1");
    }
}
