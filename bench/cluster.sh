#!/usr/bin/env bash
# What many nodes cost and gain:
# 1. the replay guard and rate limits counted in Redis against the same in memory, per call
#    (p50, p99, mean ratio), in one run;
# 2. the revocation delay across three nodes on one PostgreSQL (100 changes: p50, p99, max)
#    and the rate-limit accuracy through three nodes on one Redis (largest excess over rounds),
#    from the cluster tests.
#   bench/cluster.sh                      # Redis at redis://127.0.0.1:6379/15 (flushed)
#   KEYWARD_BENCH_REDIS_URL=redis://host:6379/15 bench/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
echo "== Redis against memory, per call"
cargo bench -q -p keyward-server --bench cluster 2>/dev/null
echo
echo "== three nodes on one PostgreSQL and one Redis (debug builds, this machine)"
cargo test -q -p keyward-cli --test cluster -- --nocapture --test-threads 1 2>/dev/null \
    | grep -oE "(change seen|rate limit of|PostgreSQL restarted|a revocation after).*" || true
