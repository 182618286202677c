#!/usr/bin/env bash
# Load benchmark: keyward verifying each scheme on a known key, beside the very same router
# with authentication switched off, driven by the same load generator (wrk) in one run.
# Reports requests/s as a ratio and the latency authentication adds at p50 and p99; then a cold
# key (first request after start), logins (argon2id) and the verify API (a plain key).
#
#   bench/load.sh                 # 3 rounds of 10 s per run, 16 connections
#   DURATION=30 ROUNDS=5 CONNECTIONS=64 bench/load.sh
#   AGAINST=97d6ea4 bench/load.sh # the same, beside an earlier commit, in one run
#
# Each round measures the unauthenticated router, then the authenticated one, back to back;
# the table gives the median of the rounds, which tames a noisy machine. With AGAINST, each
# round measures the earlier commit's pair too, just before this one's, and the table gives
# both ratios: a change to authentication must not lower its ratio.
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
source bench/common.sh

start on auth "$BIN" "${SERVER_CPU[@]}"
start off noauth "$BIN" "${SERVER_CPU[@]}"
AUTH_URL=$(field auth url); NOAUTH_URL=$(field noauth url)
TOKEN=$(field auth token); SECRET=$(field auth secret); BEARER=$(field auth bearer)
if [ -n "${AGAINST:-}" ]; then
    start on before-auth "$BEFORE_BIN" "${SERVER_CPU[@]}"
    start off before-noauth "$BEFORE_BIN" "${SERVER_CPU[@]}"
fi

# Writes NAME-on.req and NAME-off.req: one signed request, to the authenticated server NAME
# and, with the very same bytes, to its unauthenticated twin (only verification differs).
requests() { # requests NAME AUTH_SERVER NOAUTH_SERVER SCHEME PATH
    local auth_url; auth_url=$(field "$2" url)
    local token; token=$(field "$2" token)
    [ "$4" = bearer ] && token=$(field "$2" bearer)
    "$BIN" sign "$4" "$auth_url$5" "$token" "$(field "$2" secret)" > "$WORK/$1-on.req"
    { head -n 1 "$WORK/$1-on.req" | sed "s#^$auth_url#$(field "$3" url)#"; tail -n +2 "$WORK/$1-on.req"; } > "$WORK/$1-off.req"
    if [ "$4" = http-signature ]; then # @authority is signed: keep the signed host
        sed -i "1a Host: ${auth_url#http://}" "$WORK/$1-off.req"
    fi
}

echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency, median of $ROUNDS rounds, $(nproc) cores${SERVER_CPU:+, server on core 1, wrk on core 0}${AGAINST:+, beside $AGAINST}"
if [ -n "${AGAINST:-}" ]; then
    printf '| GET | scheme | ratio at %s | ratio now | change (paired) | req/s auth on, now / then |\n|---|---|---|---|---|---|\n' "$AGAINST"
else
    printf '| GET | scheme | req/s auth off | req/s auth on | ratio | p50 added | p99 added |\n|---|---|---|---|---|---|---|\n'
fi
for PATH_UNDER_TEST in $PATHS; do
for scheme in bearer query-hmac header-hmac http-signature; do
    : > "$WORK/rounds"
    for _ in $(seq 1 "$ROUNDS"); do
        # Signed anew for every round: the replay guard refuses nothing a client signs afresh.
        requests now auth noauth "$scheme" "$PATH_UNDER_TEST"
        if [ -n "${AGAINST:-}" ]; then
            requests before before-auth before-noauth "$scheme" "$PATH_UNDER_TEST"
            read -r b_off _ _ < <(run "$WORK/before-off.req")
            read -r b_on _ _ < <(run "$WORK/before-on.req")
        fi
        read -r off_rps off_p50 off_p99 < <(run "$WORK/now-off.req")
        read -r on_rps on_p50 on_p99 < <(run "$WORK/now-on.req")
        echo "$off_rps $on_rps $off_p50 $on_p50 $off_p99 $on_p99 ${b_off:-0} ${b_on:-0}" >> "$WORK/rounds"
    done
    if [ -n "${AGAINST:-}" ]; then
        # Each ratio is the median of its rounds; the change is the median of the rounds'
        # own changes (paired: a slow spell of the machine hits both builds of a round).
        before=$(awk '{ print $8 / $7 }' "$WORK/rounds" | median)
        now=$(awk '{ print $2 / $1 }' "$WORK/rounds" | median)
        change=$(awk '{ print $2 / $1 - $8 / $7 }' "$WORK/rounds" | median)
        speed=$(awk '{ print $2 / $8 }' "$WORK/rounds" | median)
        awk -v p="$PATH_UNDER_TEST" -v s="$scheme" -v b="$before" -v n="$now" -v c="$change" -v r="$speed" \
            'BEGIN { printf "| %s | %s | %.3f | %.3f | %+.3f | %.3f |\n", p, s, b, n, c, r }'
    else
        # The round with the median ratio stands for the scheme.
        awk '{ print $2 / $1, $0 }' "$WORK/rounds" | sort -n | awk -v s="$scheme" -v n="$ROUNDS" -v p="$PATH_UNDER_TEST" '
            NR == int((n + 1) / 2) { printf "| %s | %s | %d | %d | %.3f | %d µs | %d µs |\n", p, s, $2, $3, $1, $5 - $4, $7 - $6 }'
    fi
done
done

# A cold key: the first request after start reads the key from the database and unseals it.
kill "${PIDS[0]}"; start on cold "$BIN" "${SERVER_CPU[@]}"
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

# The verify API: an application asking about a plain key, beside a GET /api/me with the same
# caller (both pass the caller's bearer token through the pipeline; verify runs it again for
# the key asked about, and counts the key's use).
bearer=$(field cold bearer)
printf '%s\n' "$COLD_URL/api/keys/verify" "Authorization: Bearer $bearer" > "$WORK/verify.req"
printf '%s\n' "$COLD_URL/api/me" "Authorization: Bearer $bearer" > "$WORK/me.req"
read -r me_rps _ me_p99 < <(run "$WORK/me.req")
read -r verify_rps verify_p50 verify_p99 < <(KEYWARD_VERIFY_KEY=$(field cold plain) run "$WORK/verify.req" -s bench/verify.lua)
awk -v v="$verify_rps" -v m="$me_rps" -v p50="$verify_p50" -v p99="$verify_p99" -v mp99="$me_p99" 'BEGIN {
    printf "verify API (a plain key, bearer caller): %d req/s, p50 %d µs, p99 %d µs; GET /api/me %d req/s (ratio %.3f), p99 %d µs\n", v, p50, p99, m, v / m, mp99 }'
