#!/usr/bin/env bash
# Instructions per request, counted by callgrind: the same servers and requests as
# bench/load.sh (keyward verifying each scheme, beside the same router with authentication
# off), but counted, not timed, so the figures repeat whatever else the machine is doing. The
# ratio (instructions with authentication off / on) is the counted twin of load.sh's req/s
# ratio; "auth" is what authentication adds per request.
#
#   bench/instructions.sh                  # this tree
#   AGAINST=97d6ea4 bench/instructions.sh  # beside an earlier commit
#   REQUESTS=2000 bench/instructions.sh    # more requests per count (default 1000)
#   GATEWAY=1 bench/instructions.sh        # the gateway: a public route and a protected one
#                                          # in each scheme, to a small local upstream
#
# Needs valgrind and python3. Under valgrind, SHA-256 runs without the CPU's SHA extensions, so
# HMACs weigh more than on real hardware; compare builds, not schemes.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS=${REQUESTS:-1000}
PATHS=${PATHS:-/api/me /api/activities}
command -v valgrind >/dev/null || { echo "bench/instructions.sh needs valgrind" >&2; exit 1; }
source bench/common.sh

# Sends N requests from REQUEST_FILE (URL, then headers) on one kept-alive connection.
cat > "$WORK/client.py" <<'PY'
import http.client, sys
n, lines = int(sys.argv[1]), open(sys.argv[2]).read().splitlines()
rest = lines[0].split("//", 1)[1]
host, path = rest[:rest.index("/")], rest[rest.index("/"):]
headers = dict(line.split(": ", 1) for line in lines[1:] if line)
connection = http.client.HTTPConnection(host)
for _ in range(n):
    connection.request("GET", path, headers=headers)
    response = connection.getresponse()
    response.read()
    if response.status != 200:
        sys.exit(f"status {response.status}")
PY

# Prints the instructions one request costs the server: 300 requests to warm up, then the
# counters are zeroed and REQUESTS requests counted.
count() { # count BINARY on|off SCHEME PATH
    local name=cg-$RANDOM
    start "$2" "$name" "$1" valgrind -q --log-file="$WORK/$name.log" --tool=callgrind \
        --callgrind-out-file="$WORK/$name.out"
    local pid=${PIDS[-1]} token
    token=$(field "$name" token); [ "$3" = bearer ] && token=$(field "$name" bearer)
    if [ "$3" = none ]; then
        echo "$(field "$name" url)$4" > "$WORK/$name.req"
    else
        "$BIN" sign "$3" "$(field "$name" url)$4" "$token" "$(field "$name" secret)" > "$WORK/$name.req"
    fi
    python3 "$WORK/client.py" 300 "$WORK/$name.req"
    callgrind_control -z "$pid" > /dev/null 2>&1
    python3 "$WORK/client.py" "$REQUESTS" "$WORK/$name.req"
    callgrind_control -d "$pid" > /dev/null 2>&1
    kill "$pid"; wait "$pid" 2>/dev/null || true
    awk -v n="$REQUESTS" '/^(summary|totals):/ { print $2 / n; exit }' "$WORK/$name.out.1"
}

if [ -n "${GATEWAY:-}" ]; then
    # A small HTTP/1.1 upstream answering "ok"; its instructions are not counted.
    cat > "$WORK/upstream.py" <<'PY'
import http.server, sys
class Ok(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        self.send_response(200); self.send_header("content-length", "3"); self.end_headers()
        self.wfile.write(b"ok\n")
    def log_message(self, *args): pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Ok)
print(server.server_address[1], flush=True)
server.serve_forever()
PY
    python3 "$WORK/upstream.py" > "$WORK/upstream.port" &
    PIDS+=($!)
    for _ in $(seq 1 100); do [ -s "$WORK/upstream.port" ] && break; sleep 0.1; done
    UPSTREAM=http://127.0.0.1:$(cat "$WORK/upstream.port")
    echo "callgrind, $REQUESTS GET requests per count on one connection, keyward as the gateway"
    printf '| route | scheme | instructions per request | / public route |\n|---|---|---|---|\n'
    public=$(count "$BIN" on none /public/x)
    printf '| /public/x | none | %.0f | 1.000 |\n' "$public"
    for scheme in bearer query-hmac header-hmac http-signature; do
        on=$(count "$BIN" on "$scheme" /orders/x)
        awk -v s="$scheme" -v on="$on" -v p="$public" 'BEGIN { printf "| /orders/x | %s | %.0f | %.3f |\n", s, on, on / p }'
    done
    exit 0
fi

echo "callgrind, $REQUESTS GET requests per count on one connection${AGAINST:+, beside $AGAINST}"
if [ -n "${AGAINST:-}" ]; then
    printf '| GET | scheme | ratio at %s | ratio now | change | auth then | auth now |\n|---|---|---|---|---|---|---|\n' "$AGAINST"
else
    printf '| GET | scheme | instructions auth off | auth on | ratio | auth |\n|---|---|---|---|---|---|\n'
fi
for path in $PATHS; do
for scheme in bearer query-hmac header-hmac http-signature; do
    on=$(count "$BIN" on "$scheme" "$path"); off=$(count "$BIN" off "$scheme" "$path")
    if [ -n "${AGAINST:-}" ]; then
        b_on=$(count "$BEFORE_BIN" on "$scheme" "$path"); b_off=$(count "$BEFORE_BIN" off "$scheme" "$path")
        awk -v p="$path" -v s="$scheme" -v on="$on" -v off="$off" -v bon="$b_on" -v boff="$b_off" 'BEGIN {
            printf "| %s | %s | %.3f | %.3f | %+.3f | %.0f | %.0f |\n", p, s, boff / bon, off / on, off / on - boff / bon, bon - boff, on - off }'
    else
        awk -v p="$path" -v s="$scheme" -v on="$on" -v off="$off" 'BEGIN {
            printf "| %s | %s | %.0f | %.0f | %.3f | %.0f |\n", p, s, off, on, off / on, on - off }'
    fi
done
done
