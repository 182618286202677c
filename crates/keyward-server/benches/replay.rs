//! The replay guard's cost per signed request (every one passes it), beside what it replaced:
//! a `moka` cache with a per-entry time to live and its entry API, keyed the same way and
//! holding the same binding (then a SHA-256 of method and target). `bench/replay.sh` runs this.

use std::hint::black_box;
use std::time::Duration;

use axum::http::Method;
use criterion::{Criterion, criterion_group, criterion_main};
use keyward_server::auth::{ReplayGuard, ReplayMode};
use keyward_sig::ReplayId;
use sha2::{Digest, Sha256};

const NOW_MS: i64 = 1_732_431_234_567;
const TARGET: &str = "/api/activities?page=2&pageSize=50&status=active&sort=name";

/// Distinct signature ids, as a stream of fresh requests would bring.
fn ids(n: usize) -> Vec<ReplayId> {
    (0..n)
        .map(|i| {
            let digest: [u8; 32] = Sha256::digest(i.to_le_bytes()).into();
            ReplayId::new(digest, 0)
        })
        .collect()
}

fn replay(c: &mut Criterion) {
    let window = Duration::from_secs(300);
    let fresh = ids(1 << 20);
    let mut group = c.benchmark_group("replay");

    let guard = ReplayGuard::new(ReplayMode::UnsafeMethods, window);
    let mut next = 0;
    group.bench_function("first use (keyward)", |b| {
        b.iter(|| {
            next = (next + 1) % fresh.len();
            black_box(guard.check(&fresh[next], &Method::GET, black_box(TARGET), NOW_MS)).ok()
        })
    });

    let moka: moka::sync::Cache<[u8; 32], [u8; 16]> =
        moka::sync::Cache::builder().max_capacity(10_000_000).time_to_live(window * 2).build();
    let mut next = 0;
    group.bench_function("first use (moka entry, SHA-256 binding)", |b| {
        b.iter(|| {
            next = (next + 1) % fresh.len();
            let digest =
                Sha256::new().chain_update("GET\n").chain_update(black_box(TARGET)).finalize();
            let mut binding = [0u8; 16];
            binding.copy_from_slice(&digest[..16]);
            let entry = moka.entry(*fresh[next].id()).or_insert(binding);
            black_box(entry.is_fresh() || *entry.value() == binding)
        })
    });

    let repeated = ids(1);
    let guard = ReplayGuard::new(ReplayMode::UnsafeMethods, window);
    group.bench_function("safe repeat (keyward)", |b| {
        b.iter(|| {
            black_box(guard.check(&repeated[0], &Method::GET, black_box(TARGET), NOW_MS)).ok()
        })
    });
    group.finish();
}

criterion_group!(benches, replay);
criterion_main!(benches);
