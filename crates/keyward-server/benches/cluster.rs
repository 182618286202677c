//! What sharing costs per request: the replay guard and a rate limit counted in Redis (one
//! round-trip each) beside the same counted in this node's memory, as p50, p99 and mean over
//! sequential calls, with the ratios. `bench/cluster.sh` runs this against a local Redis
//! (`KEYWARD_BENCH_REDIS_URL`, default `redis://127.0.0.1:6379/15`; the database is flushed).

use std::future::Future;
use std::time::{Duration, Instant};

use axum::http::Method;
use keyward_server::auth::{
    Limit, PolicyName, RateLimiter, Redis, RedisFailure, ReplayGuard, ReplayMode,
};
use keyward_sig::ReplayId;
use keyward_store::RateLimit;
use sha2::{Digest, Sha256};

const TARGET: &str = "/api/activities?page=2&pageSize=50&status=active&sort=name";
const CALLS: usize = 20_000;

/// Latencies of `CALLS` sequential calls of `call(i)`: (p50, p99, mean), in microseconds.
async fn measure<F, Fut>(mut call: F) -> (f64, f64, f64)
where
    F: FnMut(usize) -> Fut,
    Fut: Future<Output = bool>,
{
    for i in 0..CALLS / 10 {
        assert!(call(usize::MAX - i).await, "warm-up call refused");
    }
    let mut times = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let started = Instant::now();
        let accepted = call(i).await;
        times.push(started.elapsed());
        assert!(accepted, "call {i} refused");
    }
    times.sort();
    let micros = |d: Duration| d.as_secs_f64() * 1e6;
    let mean = times.iter().map(|d| micros(*d)).sum::<f64>() / times.len() as f64;
    (micros(times[CALLS / 2]), micros(times[CALLS * 99 / 100]), mean)
}

fn id(i: usize, salt: u8) -> ReplayId {
    let digest: [u8; 32] =
        Sha256::new().chain_update([salt]).chain_update(i.to_le_bytes()).finalize().into();
    ReplayId::new(digest, 0)
}

fn limits(n: usize, i: usize) -> Vec<Limit> {
    // A limit no call reaches: every call is counted and let through.
    let limit = RateLimit::new(1_000_000, 1000).expect("within bounds");
    let names = [PolicyName::Key, PolicyName::User, PolicyName::Route];
    names[..n]
        .iter()
        .map(|&name| Limit::new(name, format!("bench:{}:{}", name.as_str(), i % 100), limit))
        .collect()
}

fn main() {
    let url = std::env::var("KEYWARD_BENCH_REDIS_URL")
        .unwrap_or_else(|_| "redis://127.0.0.1:6379/15".to_owned());
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    runtime.block_on(async {
        let redis = match Redis::connect(&url, RedisFailure::FailClosed).await {
            Ok(redis) => redis,
            Err(error) => {
                eprintln!("cannot connect to Redis at {url}: {error}");
                std::process::exit(2);
            }
        };
        let client = redis::Client::open(url.as_str()).expect("a Redis URL");
        let mut connection = client.get_multiplexed_async_connection().await.expect("a connection");
        let _: () = redis::cmd("FLUSHDB").query_async(&mut connection).await.expect("FLUSHDB");

        let window = Duration::from_secs(300);
        let now_ms = keyward_store::system_clock()();
        let post = Method::POST;
        let here = ReplayGuard::new(ReplayMode::UnsafeMethods, window);
        let shared = ReplayGuard::new(ReplayMode::UnsafeMethods, window).shared(redis.clone());
        let replay_here =
            measure(|i| {
                let here = &here;
                async move {
                    here.check_everywhere(&id(i, 1), &Method::POST, TARGET, now_ms).await.is_ok()
                }
            })
            .await;
        let replay_shared = measure(|i| {
            let shared = &shared;
            async move {
                shared.check_everywhere(&id(i, 2), &Method::POST, TARGET, now_ms).await.is_ok()
            }
        })
        .await;
        let limiter_here = RateLimiter::new();
        let limiter_shared = RateLimiter::new().shared(redis.clone());
        let mut rows = vec![("replay guard, first use", replay_here, replay_shared)];
        for n in [1, 3] {
            let here = measure(|i| {
                let (limiter, limits, post) = (&limiter_here, limits(n, i), &post);
                async move { limiter.check(&limits, post, now_ms).await.is_ok() }
            })
            .await;
            let shared = measure(|i| {
                let (limiter, limits, post) = (&limiter_shared, limits(n, i), &post);
                async move { limiter.check(&limits, post, now_ms).await.is_ok() }
            })
            .await;
            let name = if n == 1 {
                "rate limit, 1 limit (key)"
            } else {
                "rate limit, 3 limits (key, user, route)"
            };
            rows.push((name, here, shared));
        }
        let _: () = redis::cmd("FLUSHDB").query_async(&mut connection).await.expect("FLUSHDB");
        println!("{CALLS} sequential calls each, Redis at {url}; times in µs");
        println!();
        println!(
            "| check | memory p50 | memory p99 | Redis p50 | Redis p99 | Redis mean / memory mean |"
        );
        println!("|---|---|---|---|---|---|");
        for (name, here, shared) in rows {
            println!(
                "| {name} | {:.2} | {:.2} | {:.1} | {:.1} | {:.0}x |",
                here.0,
                here.1,
                shared.0,
                shared.1,
                shared.2 / here.2
            );
        }
    });
}
