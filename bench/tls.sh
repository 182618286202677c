#!/usr/bin/env bash
# TLS benchmark, in one run on one machine with one load generator (wrk, OpenSSL):
#
#   keyward serving HTTPS as the gateway (`keyward serve --tls-cert --tls-key`, a public route)
#   beside nginx terminating TLS with `proxy_pass`, with the same ECDSA P-256 certificate, to
#   the same small fast upstream (nginx answering "ok" over plain HTTP):
#
#   1. keep-alive: 16 connections, many requests each (requests/s, p50, p99);
#   2. new connections: every request on a new TCP connection and a full TLS handshake
#      (`Connection: close`; wrk does not resume sessions), so requests/s is handshakes/s;
#   3. the same two servers over plain HTTP, so each one's cost of TLS shows beside the other's;
#   4. keyward's protected route (a bearer token) over TLS, beside its public route.
#
#   bench/tls.sh                          # 3 rounds of 10 s per case, 16 connections
#   DURATION=5 ROUNDS=5 CONNECTIONS=64 bench/tls.sh
#   WORKERS=2 bench/tls.sh                # nginx and keyward with 2 workers each
#
# With WORKERS=1 (the default) the servers under test run on core 1; wrk and the upstream on
# core 0. With more workers nothing is pinned. Each round runs every case back to back; the
# table gives each case's median over the rounds, and each ratio the median of the rounds' own.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-16}
WORKERS=${WORKERS:-1}
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
for tool in wrk openssl curl "$NGINX"; do
    command -v "$tool" >/dev/null || { echo "bench/tls.sh needs $tool (Debian: wrk, openssl, curl, nginx-light)" >&2; exit 1; }
done
source bench/common.sh
cargo build --release -q -p keyward-cli
KEYWARD_BIN=target/release/keyward
if [ "$WORKERS" -gt 1 ]; then SERVER_CPU=(); WRK_CPU=(); fi

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return; sleep 0.1; done; echo "nothing on port $1" >&2; exit 1; }

# One ECDSA P-256 certificate for 127.0.0.1 and localhost, served by both.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' \
    -keyout "$WORK/key.pem" -out "$WORK/cert.pem" 2>/dev/null
# rustls reads PKCS#8, SEC1 or PKCS#1 keys alike; nginx too: one file for both.

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

UPSTREAM_PORT=$(free_port); NGINX_TLS_PORT=$(free_port); NGINX_PLAIN_PORT=$(free_port)
nginx_with upstream "server { listen 127.0.0.1:$UPSTREAM_PORT; location / { return 200 \"ok\\n\"; } }" "${WRK_CPU[@]}"
wait_port "$UPSTREAM_PORT"

# nginx: one worker process per core, TLS and plain HTTP servers in it, as a user would write
# them (TLS 1.2 and 1.3, nginx's defaults otherwise).
NGINX_PROXY_INDEX=${#PIDS[@]}
proxy="location / { proxy_pass http://api; proxy_http_version 1.1; proxy_set_header Connection \"\"; }"
nginx_with proxy "upstream api { server 127.0.0.1:$UPSTREAM_PORT; keepalive 64; }
server { listen 127.0.0.1:$NGINX_TLS_PORT ssl; ssl_certificate $WORK/cert.pem; ssl_certificate_key $WORK/key.pem;
    ssl_protocols TLSv1.2 TLSv1.3; $proxy }
server { listen 127.0.0.1:$NGINX_PLAIN_PORT; $proxy }" "${SERVER_CPU[@]}"

# keyward: the release binary as a user runs it, with as many workers as nginx; one process
# serving HTTPS, one plain HTTP, both with the same two routes.
cat > "$WORK/keyward.toml" <<EOF
workers = $WORKERS
[[route]]
prefix = "/public/"
upstream = "http://127.0.0.1:$UPSTREAM_PORT"
public = true
[[route]]
prefix = "/orders/"
upstream = "http://127.0.0.1:$UPSTREAM_PORT"
schemes = ["bearer"]
EOF
KEYWARD_TLS_PORT=$(free_port); KEYWARD_PLAIN_PORT=$(free_port)
PASSWORD=tls-benchmark-password
keyward() { # keyward NAME PORT [flags...]
    local name=$1 port=$2; shift 2
    KEYWARD_ADMIN_PASSWORD=$PASSWORD "${SERVER_CPU[@]}" "$KEYWARD_BIN" serve --config "$WORK/keyward.toml" \
        --data-dir "$WORK/keyward-$name" --listen "127.0.0.1:$port" "$@" 2> "$WORK/keyward-$name.log" &
    PIDS+=($!)
    echo $! > "$WORK/keyward-$name.pid"
}
keyward tls "$KEYWARD_TLS_PORT" --tls-cert "$WORK/cert.pem" --tls-key "$WORK/key.pem"
keyward plain "$KEYWARD_PLAIN_PORT"
for port in "$NGINX_TLS_PORT" "$NGINX_PLAIN_PORT" "$KEYWARD_TLS_PORT" "$KEYWARD_PLAIN_PORT"; do
    wait_port "$port"
done
TOKEN=$(curl -sf --cacert "$WORK/cert.pem" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$PASSWORD\"}" "https://127.0.0.1:$KEYWARD_TLS_PORT/api/login" \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
# Both answer through the certificate as a client that verifies it sees them.
for port in "$NGINX_TLS_PORT" "$KEYWARD_TLS_PORT"; do
    curl -sf --cacert "$WORK/cert.pem" "https://127.0.0.1:$port/public/x" > /dev/null
done

# The CPU time a server process and its children (nginx's workers) have used, in clock ticks:
# what a case costs the server, whichever side the load generator's own handshakes limit.
cpu_ticks() { # cpu_ticks PID
    local total=0 pid
    for pid in "$1" $(pgrep -P "$1" || true); do
        total=$((total + $(awk '{ print $14 + $15 }' "/proc/$pid/stat")))
    done
    echo "$total"
}
server_of() { # server_of CASE: the PID serving it
    case $1 in
        nginx-*) echo "${PIDS[$NGINX_PROXY_INDEX]}" ;;
        keyward-plain*) cat "$WORK/keyward-plain.pid" ;;
        keyward-tls*) cat "$WORK/keyward-tls.pid" ;;
    esac
}
TICKS_PER_SECOND=$(getconf CLK_TCK)

request() { # request NAME URL [header...]
    local name=$1; shift
    printf '%s\n' "$@" > "$WORK/$name.req"
}
request nginx-tls "https://127.0.0.1:$NGINX_TLS_PORT/public/x"
request keyward-tls "https://127.0.0.1:$KEYWARD_TLS_PORT/public/x"
request nginx-tls-new "https://127.0.0.1:$NGINX_TLS_PORT/public/x" "Connection: close"
request keyward-tls-new "https://127.0.0.1:$KEYWARD_TLS_PORT/public/x" "Connection: close"
request nginx-plain "http://127.0.0.1:$NGINX_PLAIN_PORT/public/x"
request keyward-plain "http://127.0.0.1:$KEYWARD_PLAIN_PORT/public/x"
request nginx-plain-new "http://127.0.0.1:$NGINX_PLAIN_PORT/public/x" "Connection: close"
request keyward-plain-new "http://127.0.0.1:$KEYWARD_PLAIN_PORT/public/x" "Connection: close"
request keyward-tls-bearer "https://127.0.0.1:$KEYWARD_TLS_PORT/orders/x" "Authorization: Bearer $TOKEN"
CASES="nginx-tls keyward-tls nginx-tls-new keyward-tls-new nginx-plain keyward-plain nginx-plain-new"
CASES="$CASES keyward-plain-new keyward-tls-bearer"

pinning=", nothing pinned"
[ -n "${SERVER_CPU[*]}" ] && pinning=", servers on core 1, wrk and upstream on core 0"
protocol=$(curl -sv --cacert "$WORK/cert.pem" "https://127.0.0.1:$KEYWARD_TLS_PORT/public/x" 2>&1 \
    | sed -n 's/.*SSL connection using \(.*\)/\1/p' | head -n 1)
echo "wrk -t1 -c$CONNECTIONS -d${DURATION}s --latency, median of $ROUNDS rounds, $(nproc) cores, $WORKERS worker(s) per server$pinning"
echo "ECDSA P-256 certificate; curl's view of keyward's TLS: $protocol"
for round in $(seq 1 "$ROUNDS"); do
    for case in $CASES; do
        server=$(server_of "$case")
        before=$(cpu_ticks "$server")
        read -r rps p50 p99 < <(run "$WORK/$case.req")
        used=$(( $(cpu_ticks "$server") - before ))
        # The server's CPU time per request, µs (wrk's rate times its duration is its count).
        cpu=$(awk -v t="$used" -v hz="$TICKS_PER_SECOND" -v r="$rps" -v d="$DURATION" \
            'BEGIN { printf "%.1f", t / hz * 1e6 / (r * d) }')
        echo "$round $case $rps $p50 $p99 $cpu" >> "$WORK/results"
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
        -v c="$(value "$2" 6)" -v cq="$(ratio "$2" "$3" 6)" \
        'BEGIN { printf "| %s | %d | %d µs | %d µs | %.1f µs | %.3f | %.2f | %.2f |\n", l, r, p50, p99, c, q, d, cq }'
}
printf '\n| case | req/s | p50 | p99 | server CPU per request | req/s ratio | p99 ratio | CPU ratio |\n'
printf '|---|---|---|---|---|---|---|---|\n'
row "nginx TLS proxy_pass, keep-alive (the base)" nginx-tls nginx-tls
row "keyward TLS gateway, keep-alive / nginx" keyward-tls nginx-tls
row "nginx TLS, a new connection per request (the base)" nginx-tls-new nginx-tls-new
row "keyward TLS, a new connection per request / nginx" keyward-tls-new nginx-tls-new
row "nginx plain proxy_pass (the base)" nginx-plain nginx-plain
row "keyward plain gateway / nginx plain" keyward-plain nginx-plain
row "nginx plain, a new connection per request (the base)" nginx-plain-new nginx-plain-new
row "keyward plain, a new connection per request / nginx" keyward-plain-new nginx-plain-new
row "nginx TLS / nginx plain: what TLS costs nginx" nginx-tls nginx-plain
row "keyward TLS / keyward plain: what TLS costs keyward" keyward-tls keyward-plain
row "keyward TLS, bearer route / its public route" keyward-tls-bearer keyward-tls
