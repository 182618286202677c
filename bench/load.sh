#!/usr/bin/env bash
# Load benchmark: keyward verifying each scheme on a known key, beside the very same router
# with authentication switched off, driven by the same load generator (wrk) in one run.
# Reports requests/s as a ratio and the latency authentication adds at p50 and p99; then a cold
# key (first request after start) and logins (argon2id).
#
#   bench/load.sh                 # 3 rounds of 10 s per run, 16 connections
#   DURATION=30 ROUNDS=5 CONNECTIONS=64 bench/load.sh
#
# Each round measures the unauthenticated router, then the authenticated one, back to back;
# the table gives the median of the rounds, which tames a noisy machine.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-16}
# /api/me answers from memory: the harshest case for authentication's share of the work.
# /api/activities reads the database, like most API routes.
PATHS=${PATHS:-/api/me /api/activities}

if ! command -v wrk >/dev/null; then
    echo "bench/load.sh needs wrk (Debian: apt-get install wrk)" >&2
    exit 1
fi
cargo build --release -q -p keyward-loadbench
BIN=target/release/keyward-loadbench
WORK=$(mktemp -d)
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

# With two cores or more, the servers run on core 1 and wrk on core 0, so they do not steal
# each other's time and the ratio measures the server's own cost per request.
SERVER_CPU=(); WRK_CPU=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    SERVER_CPU=(taskset -c 1); WRK_CPU=(taskset -c 0)
fi

start() { # start on|off NAME: serves on a free port, writes NAME.json
    "${SERVER_CPU[@]}" "$BIN" serve "$1" 127.0.0.1:0 > "$WORK/$2.json" &
    PIDS+=($!)
    for _ in $(seq 1 100); do [ -s "$WORK/$2.json" ] && return; sleep 0.1; done
    echo "server $2 did not start" >&2; exit 1
}
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$WORK/$1.json" "$2"; }

# Prints "rps p50_us p99_us" for one wrk run on a signed request file (URL, then headers).
run() { # run REQUEST_FILE [extra wrk args]
    local request=$1; shift
    local url; url=$(head -n 1 "$request")
    local args=()
    while IFS= read -r header; do args+=(-H "$header"); done < <(tail -n +2 "$request")
    "${WRK_CPU[@]}" wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "${args[@]}" "$@" "$url" | awk '
        function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1000000; return v }
        $1 == "50%" { p50 = us($2) } $1 == "99%" { p99 = us($2) }
        $1 == "Requests/sec:" { rps = $2 }
        /Non-2xx/ { bad = $NF }
        END { if (bad > 0) { print "non-2xx responses: " bad > "/dev/stderr"; exit 1 } printf "%.0f %.0f %.0f\n", rps, p50, p99 }'
}

start on auth
start off noauth
AUTH_URL=$(field auth url); NOAUTH_URL=$(field noauth url)
TOKEN=$(field auth token); SECRET=$(field auth secret); BEARER=$(field auth bearer)

echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency, median of $ROUNDS rounds, $(nproc) cores${SERVER_CPU:+, server on core 1, wrk on core 0}"
printf '| GET | scheme | req/s auth off | req/s auth on | ratio | p50 added | p99 added |\n|---|---|---|---|---|---|---|\n'
for PATH_UNDER_TEST in $PATHS; do
for scheme in bearer query-hmac header-hmac http-signature; do
    secret=$SECRET; token=$TOKEN
    [ "$scheme" = bearer ] && token=$BEARER
    "$BIN" sign "$scheme" "$AUTH_URL$PATH_UNDER_TEST" "$token" "$secret" > "$WORK/on.req"
    # The same request bytes to the unauthenticated router: only verification differs.
    { head -n 1 "$WORK/on.req" | sed "s#^$AUTH_URL#$NOAUTH_URL#"; tail -n +2 "$WORK/on.req"; } > "$WORK/off.req"
    if [ "$scheme" = http-signature ]; then # @authority is signed: keep the signed host
        sed -i "1a Host: ${AUTH_URL#http://}" "$WORK/off.req"
    fi
    : > "$WORK/rounds"
    for _ in $(seq 1 "$ROUNDS"); do
        read -r off_rps off_p50 off_p99 < <(run "$WORK/off.req")
        read -r on_rps on_p50 on_p99 < <(run "$WORK/on.req")
        echo "$off_rps $on_rps $off_p50 $on_p50 $off_p99 $on_p99" >> "$WORK/rounds"
    done
    # The round with the median ratio stands for the scheme.
    awk '{ print $2 / $1, $0 }' "$WORK/rounds" | sort -n | awk -v s="$scheme" -v n="$ROUNDS" -v p="$PATH_UNDER_TEST" '
        NR == int((n + 1) / 2) { printf "| %s | %s | %d | %d | %.3f | %d µs | %d µs |\n", p, s, $2, $3, $1, $5 - $4, $7 - $6 }'
done
done

# A cold key: the first request after start reads the key from the database and unseals it.
kill "${PIDS[0]}"; start on cold
COLD_URL=$(field cold url)
"$BIN" sign header-hmac "$COLD_URL/api/me" "$(field cold token)" "$(field cold secret)" > "$WORK/cold.req"
curl_args=(); while IFS= read -r h; do curl_args+=(-H "$h"); done < <(tail -n +2 "$WORK/cold.req")
first=$(curl -s -o /dev/null -w '%{time_total}' "${curl_args[@]}" "$(head -n 1 "$WORK/cold.req")")
second=$(curl -s -o /dev/null -w '%{time_total}' "${curl_args[@]}" "$(head -n 1 "$WORK/cold.req")")
awk -v a="$first" -v b="$second" 'BEGIN { printf "\ncold key (header-hmac, curl): first request %.0f µs, second %.0f µs\n", a*1000000, b*1000000 }'

# Logins: argon2id on every request.
printf '%s\n' "$COLD_URL/api/login" > "$WORK/login.req"
read -r login_rps login_p50 login_p99 < <(CONNECTIONS=2 run "$WORK/login.req" -s bench/login.lua)
echo "login (argon2id, 2 connections): $login_rps req/s, p50 $((login_p50 / 1000)) ms, p99 $((login_p99 / 1000)) ms"
