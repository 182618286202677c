#!/usr/bin/env bash
# Instructions and heap allocations per request, counted by callgrind: the same servers and
# requests as bench/load.sh (keyward verifying each scheme, beside the same router with
# authentication off), but counted, not timed, so the figures repeat whatever else the machine
# is doing. The ratio (instructions with authentication off / on) is the counted twin of
# load.sh's req/s ratio; "auth" is what authentication adds per request. Allocations are the
# calls to the allocator (malloc, calloc, realloc, or mimalloc's) while the requests are served.
#
#   bench/instructions.sh                  # this tree
#   AGAINST=97d6ea4 bench/instructions.sh  # beside an earlier commit
#   REQUESTS=2000 bench/instructions.sh    # more requests per count (default 1000)
#   PROFILE=DIR bench/instructions.sh      # also keeps each count's callgrind profile in DIR
#                                          # (for callgrind_annotate --inclusive=yes)
#   GATEWAY=1 bench/instructions.sh        # the gateway: the stack's floor (a minimal hyper
#                                          # proxy), a public route and a protected one in each
#                                          # scheme, to a small local upstream; /healthz and
#                                          # forward-auth's /auth/check
#   CASES="floor bearer" GATEWAY=1 ...     # only those rows (floor, none, a scheme, healthz,
#                                          # check-SCHEME); the public route is always counted
#   AGAINST=a1fc2d5 GATEWAY=1 ...          # each row beside the same at an earlier commit
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

# Per request in a callgrind dump: "instructions allocations".
cat > "$WORK/per_request.py" <<'PY'
import re, sys
path, n = sys.argv[1], int(sys.argv[2])
allocators = {"malloc", "calloc", "realloc", "__libc_malloc", "__libc_calloc", "__libc_realloc",
              "posix_memalign", "aligned_alloc", "mi_malloc", "mi_zalloc", "mi_calloc", "mi_realloc",
              "mi_malloc_aligned", "mi_zalloc_aligned", "mi_realloc_aligned"}
names, callee, instructions, allocations = {}, None, 0, 0
for line in open(path, errors="replace"):
    m = re.match(r"(c?fn)=\((\d+)\)(?: (.*))?", line)
    if m:
        if m.group(3) is not None:
            names[m.group(2)] = m.group(3).strip()
        if m.group(1) == "cfn":
            callee = names.get(m.group(2))
        continue
    if line.startswith("calls=") and callee in allocators:
        allocations += int(line.split("=", 1)[1].split()[0])
    m = re.match(r"(summary|totals): (\d+)", line)
    if m:
        instructions = int(m.group(2))
print(instructions / n, allocations / n)
PY

# Prints "instructions allocations" one request costs the server: 300 requests to warm up,
# then the counters are zeroed and REQUESTS requests counted. SCHEME none: a plain GET; check-*:
# forward-auth's check, as nginx asks it, of a GET signed in that scheme; floor: the minimal
# proxy instead of keyward.
count() { # count BINARY on|off SCHEME PATH
    local name=cg-$RANDOM mode=$2
    [ "$3" = floor ] && mode=floor
    start "$mode" "$name" "$1" valgrind -q --log-file="$WORK/$name.log" --tool=callgrind \
        --callgrind-out-file="$WORK/$name.out"
    local pid=${PIDS[-1]} token scheme=${3#check-}
    if [ "$3" = none ] || [ "$3" = floor ] || [ "$3" = healthz ]; then
        echo "$(field "$name" url)$4" > "$WORK/$name.req"
    else
        token=$(field "$name" token); [ "$scheme" = bearer ] && token=$(field "$name" bearer)
        [ "$scheme" = api-key ] && token=$(field "$name" plain)
        "$BIN" sign "$scheme" "$(field "$name" url)$4" "$token" "$(field "$name" secret)" > "$WORK/$name.req"
    fi
    if [ "$scheme" != "$3" ]; then
        local url target; url=$(head -n 1 "$WORK/$name.req"); target="/${url#*://*/}"
        { printf '%s\n' "$(field "$name" url)/auth/check" "X-Original-Method: GET" \
            "X-Original-URI: $target" "X-Original-Content-Length: 0"; tail -n +2 "$WORK/$name.req"; } > "$WORK/$name.check"
        mv "$WORK/$name.check" "$WORK/$name.req"
    fi
    python3 "$WORK/client.py" 300 "$WORK/$name.req"
    callgrind_control -z "$pid" > /dev/null 2>&1
    python3 "$WORK/client.py" "$REQUESTS" "$WORK/$name.req"
    callgrind_control -d "$pid" > /dev/null 2>&1
    kill "$pid"; wait "$pid" 2>/dev/null || true
    if [ -n "${PROFILE:-}" ]; then
        mkdir -p "$PROFILE"; cp "$WORK/$name.out.1" "$PROFILE/$(basename "$1")-$mode-$3${4//\//_}.callgrind"
    fi
    python3 "$WORK/per_request.py" "$WORK/$name.out.1" "$REQUESTS"
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
    echo "callgrind, $REQUESTS GET requests per count on one connection, keyward as the gateway${AGAINST:+, beside $AGAINST}"
    if [ -n "$BEFORE_BIN" ]; then
        printf '| server | GET | scheme | instructions at %s | instructions now | change | allocations then | allocations now |\n|---|---|---|---|---|---|---|---|\n' "$AGAINST"
    else
        printf '| server | GET | scheme | instructions per request | / public route | allocations per request |\n|---|---|---|---|---|---|\n'
    fi
    read -r public public_allocs < <(count "$BIN" on none /public/x)
    row() { # row SERVER PATH SCHEME
        if [ "$3" != none ]; then case " ${CASES:-$3} " in *" $3 "*) ;; *) return ;; esac; fi
        local on allocs; read -r on allocs < <(count "$BIN" on "$3" "$2")
        if [ -n "$BEFORE_BIN" ]; then
            local then then_allocs; read -r then then_allocs < <(count "$BEFORE_BIN" on "$3" "$2")
            awk -v w="$1" -v path="$2" -v s="$3" -v on="$on" -v a="$allocs" -v b="$then" -v ba="$then_allocs" \
                'BEGIN { printf "| %s | %s | %s | %.0f | %.0f | %+.1f%% | %.1f | %.1f |\n", w, path, s, b, on, 100 * (on - b) / b, ba, a }'
        else
            awk -v w="$1" -v path="$2" -v s="$3" -v on="$on" -v a="$allocs" -v p="$public" \
                'BEGIN { printf "| %s | %s | %s | %.0f | %.3f | %.1f |\n", w, path, s, on, on / p, a }'
        fi
    }
    row "floor (hyper + hyper-util)" /public/x floor
    if [ -n "$BEFORE_BIN" ]; then
        row keyward /public/x none
    else
        awk -v on="$public" -v a="$public_allocs" 'BEGIN { printf "| keyward | /public/x | none | %.0f | 1.000 | %.1f |\n", on, a }'
    fi
    for scheme in bearer api-key query-hmac header-hmac http-signature; do row keyward /orders/x "$scheme"; done
    row keyward /healthz healthz
    for scheme in bearer api-key query-hmac header-hmac; do row keyward /orders/x "check-$scheme"; done
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
    read -r on _ < <(count "$BIN" on "$scheme" "$path"); read -r off _ < <(count "$BIN" off "$scheme" "$path")
    if [ -n "${AGAINST:-}" ]; then
        read -r b_on _ < <(count "$BEFORE_BIN" on "$scheme" "$path"); read -r b_off _ < <(count "$BEFORE_BIN" off "$scheme" "$path")
        awk -v p="$path" -v s="$scheme" -v on="$on" -v off="$off" -v bon="$b_on" -v boff="$b_off" 'BEGIN {
            printf "| %s | %s | %.3f | %.3f | %+.3f | %.0f | %.0f |\n", p, s, boff / bon, off / on, off / on - boff / bon, bon - boff, on - off }'
    else
        awk -v p="$path" -v s="$scheme" -v on="$on" -v off="$off" 'BEGIN {
            printf "| %s | %s | %.0f | %.0f | %.3f | %.0f |\n", p, s, off, on, off / on, on - off }'
    fi
done
done
