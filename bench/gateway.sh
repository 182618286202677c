#!/usr/bin/env bash
# Gateway benchmark, in one run on one machine with one load generator (wrk):
#
#   1. keyward as the gateway (a public route) beside nginx proxy_pass and the stack's floor (a
#      minimal hyper proxy with hyper-util's pooled client, `keyward-loadbench floor`), all to
#      the same small fast upstream (nginx answering "ok"): requests/s, p50, p99;
#   2. keyward's protected route in each scheme beside its public route: what authentication
#      costs;
#   3. keyward's forward-auth answer (`/auth/check`, asked as nginx asks) and its own API
#      (a signed `GET /api/me`) beside `/healthz`;
#   4. nginx alone beside nginx + auth_request to keyward, with docs/gateway.md's configuration.
#
#   bench/gateway.sh                      # 3 rounds of 10 s per case, 16 connections
#   DURATION=5 ROUNDS=5 CONNECTIONS=64 bench/gateway.sh
#   WORKERS=2 bench/gateway.sh            # nginx with 2 workers, keyward and the floor with 2
#                                         # workers (--workers)
#
# With WORKERS=1 (the default) the proxies under test (nginx with one worker, keyward and the
# floor with one worker) run on core 1; wrk and the upstream on core 0. With more
# workers nothing is pinned. Each round runs every case back to back; the table gives each
# case's median over the rounds, and each ratio the median of the rounds' own ratios.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-16}
WORKERS=${WORKERS:-1}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for tool in wrk "$NGINX"; do
    command -v "$tool" >/dev/null || { echo "bench/gateway.sh needs $tool (Debian: wrk, nginx-light)" >&2; exit 1; }
done
source bench/common.sh
if [ "$WORKERS" -gt 1 ]; then SERVER_CPU=(); WRK_CPU=(); fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "nothing on port $1" >&2; exit 1; }

# Starts nginx with the `http { }` contents in $2 (name $1) on the CPUs of the launcher after.
nginx_with() { # nginx_with NAME HTTP_BLOCK [launcher...]
    local name=$1 http=$2; shift 2
    local dir="$WORK/nginx-$name"; mkdir -p "$dir"
    cat > "$dir/nginx.conf" <<EOF
daemon off;
master_process $([ "$WORKERS" -gt 1 ] && echo on || echo off);
worker_processes $WORKERS;
worker_rlimit_nofile 8192;
error_log $dir/error.log warn;
pid $dir/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    client_body_temp_path $dir/body; proxy_temp_path $dir/proxy; fastcgi_temp_path $dir/fastcgi;
    uwsgi_temp_path $dir/uwsgi; scgi_temp_path $dir/scgi;
$http
}
EOF
    "$@" "$NGINX" -p "$dir" -c "$dir/nginx.conf" &
    PIDS+=($!)
}

UPSTREAM_PORT=$(free_port); PROXY_PORT=$(free_port); AUTH_PORT=$(free_port)
nginx_with upstream "server { listen 127.0.0.1:$UPSTREAM_PORT; location / { return 200 \"ok\\n\"; } }" "${WRK_CPU[@]}"
wait_port "$UPSTREAM_PORT"
UPSTREAM=http://127.0.0.1:$UPSTREAM_PORT

nginx_with proxy "upstream api { server 127.0.0.1:$UPSTREAM_PORT; keepalive 64; }
server { listen 127.0.0.1:$PROXY_PORT; location / { proxy_pass http://api; proxy_http_version 1.1; proxy_set_header Connection \"\"; } }" "${SERVER_CPU[@]}"

# keyward and the floor, with as many workers as nginx.
KEYWARD_PORT=$(free_port)
KEYWARD_WORKERS=$WORKERS "${SERVER_CPU[@]}" "$BIN" serve on "127.0.0.1:$KEYWARD_PORT" "$UPSTREAM" > "$WORK/keyward.json" &
PIDS+=($!)
KEYWARD_WORKERS=$WORKERS "${SERVER_CPU[@]}" "$BIN" floor 127.0.0.1:0 "$UPSTREAM" > "$WORK/floor.json" &
PIDS+=($!)
for name in keyward floor; do
    for _ in $(seq 1 300); do [ -s "$WORK/$name.json" ] && break; sleep 0.1; done
done
KEYWARD=$(field keyward url); FLOOR=$(field floor url)

# nginx + auth_request to keyward: docs/gateway.md's configuration, this run's ports.
guide=$(awk '/<!-- tested: nginx -->/ { found = 1; next } found && /^```nginx/ { inside = 1; next } inside && /^```/ { exit } inside' docs/gateway.md)
guide=${guide//127.0.0.1:8000/127.0.0.1:$AUTH_PORT}
guide=${guide//127.0.0.1:8080/127.0.0.1:$KEYWARD_PORT}
guide=${guide//127.0.0.1:9000/127.0.0.1:$UPSTREAM_PORT}
nginx_with auth "$guide" "${SERVER_CPU[@]}"
wait_port "$PROXY_PORT"; wait_port "$AUTH_PORT"

sign() { # sign SCHEME URL > file: a GET signed with the benchmark key (bearer: the admin's token)
    local token; token=$(field keyward token)
    [ "$1" = bearer ] && token=$(field keyward bearer)
    [ "$1" = api-key ] && token=$(field keyward plain)
    "$BIN" sign "$1" "$2" "$token" "$(field keyward secret)"
}
# A forward-auth check as nginx sends it for the signed request in file $1: the original's
# method, target and (absent) body length in headers, the credentials' headers as they came.
check() { # check SIGNED_REQUEST_FILE > file
    local url; url=$(head -n 1 "$1")
    local target="/${url#*://*/}"
    printf '%s\n' "$KEYWARD/auth/check" "X-Original-Method: GET" "X-Original-URI: $target" \
        "X-Original-Content-Length: 0"
    tail -n +2 "$1"
}
SCHEMES="bearer api-key query-hmac header-hmac http-signature"
CHECKED="bearer api-key query-hmac header-hmac"
CASES="nginx-proxy floor-proxy keyward-public"
for scheme in $SCHEMES; do CASES="$CASES keyward-$scheme"; done
CASES="$CASES keyward-healthz"
for scheme in $CHECKED; do CASES="$CASES check-$scheme"; done
for scheme in $CHECKED; do CASES="$CASES api-$scheme"; done
CASES="$CASES nginx-alone"
for scheme in $SCHEMES; do CASES="$CASES auth_request-$scheme"; done

pinning=", nothing pinned"
[ -n "${SERVER_CPU[*]}" ] && pinning=", proxies on core 1, wrk and upstream on core 0"
echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency, median of $ROUNDS rounds, $(nproc) cores, $WORKERS worker(s) per proxy$pinning"
for round in $(seq 1 "$ROUNDS"); do
    # Signed anew each round: a signature is good for the clock window.
    printf '%s\n' "http://127.0.0.1:$PROXY_PORT/public/x" > "$WORK/nginx-proxy.req"
    printf '%s\n' "$KEYWARD/public/x" > "$WORK/keyward-public.req"
    printf '%s\n' "$FLOOR/public/x" > "$WORK/floor-proxy.req"
    printf '%s\n' "$KEYWARD/healthz" > "$WORK/keyward-healthz.req"
    printf '%s\n' "http://127.0.0.1:$PROXY_PORT/orders/x" > "$WORK/nginx-alone.req"
    for scheme in $SCHEMES; do
        sign "$scheme" "$KEYWARD/orders/x" > "$WORK/keyward-$scheme.req"
        sign "$scheme" "http://127.0.0.1:$AUTH_PORT/orders/x" > "$WORK/auth_request-$scheme.req"
    done
    for scheme in $CHECKED; do
        check "$WORK/keyward-$scheme.req" > "$WORK/check-$scheme.req"
        sign "$scheme" "$KEYWARD/api/me" > "$WORK/api-$scheme.req"
    done
    for case in $CASES; do
        read -r rps p50 p99 < <(run "$WORK/$case.req")
        echo "$round $case $rps $p50 $p99" >> "$WORK/results"
    done
done

value() { awk -v c="$1" -v f="$2" '$2 == c { print $f }' "$WORK/results" | median; }
ratio() { # median over rounds of CASE_A's field / CASE_B's field
    awk -v a="$1" -v b="$2" -v f="$3" '$2 == a { x[$1] = $f } $2 == b { y[$1] = $f }
        END { for (r in x) print x[r] / y[r] }' "$WORK/results" | median
}
row() { # row LABEL CASE BASE_CASE
    awk -v l="$1" -v r="$(value "$2" 3)" -v p50="$(value "$2" 4)" -v p99="$(value "$2" 5)" \
        -v q="$(ratio "$2" "$3" 3)" -v d="$(ratio "$2" "$3" 5)" \
        'BEGIN { printf "| %s | %d | %d µs | %d µs | %.3f | %.2f |\n", l, r, p50, p99, q, d }'
}
printf '\n| case | req/s | p50 | p99 | req/s ratio | p99 ratio |\n|---|---|---|---|---|---|\n'
row "nginx proxy_pass (the base)" nginx-proxy nginx-proxy
row "floor: hyper + hyper-util client / nginx proxy_pass" floor-proxy nginx-proxy
row "keyward gateway, public route / nginx proxy_pass" keyward-public nginx-proxy
row "keyward gateway, public route / floor" keyward-public floor-proxy
for scheme in $SCHEMES; do row "keyward gateway, $scheme / public route" "keyward-$scheme" keyward-public; done
for scheme in $SCHEMES; do row "keyward gateway, $scheme / nginx proxy_pass" "keyward-$scheme" nginx-proxy; done
row "keyward /healthz (the base)" keyward-healthz keyward-healthz
for scheme in $CHECKED; do row "keyward /auth/check, $scheme / /healthz" "check-$scheme" keyward-healthz; done
for scheme in $CHECKED; do row "keyward GET /api/me, $scheme / /healthz" "api-$scheme" keyward-healthz; done
row "nginx alone (the base)" nginx-alone nginx-alone
for scheme in $SCHEMES; do row "nginx + auth_request, $scheme / nginx alone" "auth_request-$scheme" nginx-alone; done
