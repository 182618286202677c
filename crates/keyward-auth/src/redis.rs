//! The Redis every node shares (`--redis-url`), for what must be shared: the replay memory
//! ([`crate::ReplayGuard::shared`]) and the rate limits ([`crate::RateLimiter::shared`]).
//!
//! One multiplexed connection, made again by itself when Redis comes back. Every call is one
//! script run (one round-trip), timed and counted ([`RedisMeters`]). A call that fails or takes
//! longer than 250 ms counts as Redis being unreachable, and [`RedisFailure`] decides what the
//! request gets: fail-closed refuses POST, PUT, PATCH and DELETE (503, code 51, with
//! `Retry-After`) and lets safe methods be decided by this node's own memory; fail-open lets
//! every request be decided by this node's own memory. Either is logged and counted.

use std::time::{Duration, Instant};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use redis::aio::ConnectionManager;

/// What to do with a request when Redis cannot be reached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RedisFailure {
    /// Refuse unsafe methods (503); safe ones are decided by this node's memory (the default).
    #[default]
    FailClosed,
    /// Decide every request with this node's memory.
    FailOpen,
}

keyward_sig::named_setting!(RedisFailure, "redis failure mode", {
    "fail-closed" => RedisFailure::FailClosed,
    "fail-open" => RedisFailure::FailOpen,
});

impl RedisFailure {
    /// The setting's name.
    pub fn name(self) -> &'static str {
        match self {
            RedisFailure::FailClosed => "fail-closed",
            RedisFailure::FailOpen => "fail-open",
        }
    }

    /// Whether a request with `method` is refused while Redis cannot be asked.
    pub(crate) fn refuses(self, method: &axum::http::Method) -> bool {
        self == RedisFailure::FailClosed && !method.is_safe()
    }
}

/// What Redis is used for, as a metrics label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Use {
    Replay,
    RateLimit,
}

impl Use {
    fn as_str(self) -> &'static str {
        match self {
            Use::Replay => "replay",
            Use::RateLimit => "rate_limit",
        }
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UseLabel {
    purpose: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FailureLabels {
    purpose: &'static str,
    decision: &'static str,
}

/// Redis round-trips and failures, for `/metrics`.
#[derive(Clone, Debug)]
pub struct RedisMeters {
    duration: Family<UseLabel, Histogram>,
    failures: Family<FailureLabels, Counter>,
}

impl Default for RedisMeters {
    fn default() -> Self {
        RedisMeters {
            // 50 µs to about 400 ms.
            duration: Family::new_with_constructor(|| {
                Histogram::new(exponential_buckets(0.000_05, 2.0, 14))
            }),
            failures: Family::default(),
        }
    }
}

impl RedisMeters {
    /// Registers the meters under `registry` (prefix `keyward`).
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "redis_duration_seconds",
            "Round-trips to Redis that were answered, by purpose (replay, rate_limit)",
            self.duration.clone(),
        );
        registry.register(
            "redis_failures",
            "Times Redis could not be asked (an error, or no answer within 250 ms), by purpose and by what the request got (refused under fail-closed, or decided by this node's memory)",
            self.failures.clone(),
        );
    }
}

/// How long a Redis answer may take before Redis counts as unreachable.
const TIMEOUT: Duration = Duration::from_millis(250);

/// The connection every node's shared state goes through.
#[derive(Clone)]
pub struct Redis {
    connection: ConnectionManager,
    on_failure: RedisFailure,
    meters: RedisMeters,
}

impl std::fmt::Debug for Redis {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Redis").field("on_failure", &self.on_failure).finish_non_exhaustive()
    }
}

impl Redis {
    /// Connects to the Redis at `url` (`redis://host:port/db`).
    pub async fn connect(url: &str, on_failure: RedisFailure) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        let config = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(TIMEOUT)
            .set_response_timeout(TIMEOUT)
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_with_config(client, config).await?;
        Ok(Redis { connection, on_failure, meters: RedisMeters::default() })
    }

    /// What a request gets while Redis cannot be asked.
    pub fn on_failure(&self) -> RedisFailure {
        self.on_failure
    }

    /// The round-trip and failure meters.
    pub fn meters(&self) -> &RedisMeters {
        &self.meters
    }

    /// Runs `invocation` for `purpose`: its answer, or `None` (logged, counted) when Redis
    /// cannot be asked. `method` says what the request then gets, for the log and the count.
    pub(crate) async fn run<T: redis::FromRedisValue>(
        &self,
        invocation: &redis::ScriptInvocation<'_>,
        purpose: Use,
        method: &axum::http::Method,
    ) -> Option<T> {
        let mut connection = self.connection.clone();
        let started = Instant::now();
        let answer = tokio::time::timeout(TIMEOUT, invocation.invoke_async(&mut connection)).await;
        let why = match answer {
            Ok(Ok(value)) => {
                let label = UseLabel { purpose: purpose.as_str() };
                self.meters.duration.get_or_create(&label).observe(started.elapsed().as_secs_f64());
                return Some(value);
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => "no answer within 250 ms".to_owned(),
        };
        let decision = if self.on_failure.refuses(method) { "refused" } else { "local" };
        let labels = FailureLabels { purpose: purpose.as_str(), decision };
        self.meters.failures.get_or_create(&labels).inc();
        tracing::warn!(
            target: "keyward::redis",
            error = why,
            purpose = purpose.as_str(),
            on_failure = self.on_failure.name(),
            decision,
            "Redis cannot be reached"
        );
        None
    }
}
