# Shared by the benchmarks (sourced, from the repository's root): a scratch directory cleaned up
# on exit, the loadbench binary built in release mode as BIN and, with AGAINST=<commit>, the same
# built from that commit as BEFORE_BIN; servers started on core 1 and wrk on core 0; one wrk run.

WORK=$(mktemp -d)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -n "${AGAINST:-}" ]; then git worktree remove --force "$WORK/against" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# The earlier commit is built in a worktree, into a target directory of its own: two
# checkouts of one workspace must not share one, or cargo may take one's artifacts for the
# other's.
BEFORE_BIN=
if [ -n "${AGAINST:-}" ]; then
    git worktree add -q --detach "$WORK/against" "$AGAINST"
    CARGO_TARGET_DIR="$PWD/target/against" cargo build --release -q -p keyward-loadbench \
        --manifest-path "$WORK/against/Cargo.toml"
    BEFORE_BIN="$WORK/keyward-loadbench-against"
    cp target/against/release/keyward-loadbench "$BEFORE_BIN"
fi
cargo build --release -q -p keyward-loadbench
BIN=target/release/keyward-loadbench

# Starts `BINARY serve on|off` on a free port and waits for NAME.json (url, keys);
# floor: the minimal proxy to $UPSTREAM instead (its JSON has only the url). One worker
# unless KEYWARD_WORKERS says otherwise.
start() { # start on|off|floor NAME [BINARY] [launcher...]
    local mode=$1 name=$2 binary=${3:-$BIN}; shift 3 2>/dev/null || shift $#
    local command=(serve "$mode"); [ "$mode" = floor ] && command=(floor)
    KEYWARD_WORKERS=${KEYWARD_WORKERS:-1} "$@" "$binary" "${command[@]}" 127.0.0.1:0 ${UPSTREAM:+"$UPSTREAM"} > "$WORK/$name.json" &
    PIDS+=($!)
    for _ in $(seq 1 300); do [ -s "$WORK/$name.json" ] && return; sleep 0.1; done
    echo "server $name did not start" >&2; exit 1
}
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$WORK/$1.json" "$2"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }

# With two cores or more, the servers run on core 1 and wrk on core 0, so they do not steal
# each other's time and a ratio measures the server's own cost per request.
SERVER_CPU=(); WRK_CPU=()
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
    SERVER_CPU=(taskset -c 1); WRK_CPU=(taskset -c 0)
fi

# Prints "rps p50_us p99_us" for one wrk run on a signed request file (URL, then headers);
# fails on any non-2xx answer.
run() { # run REQUEST_FILE [extra wrk args]
    local request=$1; shift
    local url; url=$(head -n 1 "$request")
    local args=()
    while IFS= read -r header; do args+=(-H "$header"); done < <(tail -n +2 "$request")
    "${WRK_CPU[@]}" wrk -t1 -c"${CONNECTIONS:-16}" -d"${DURATION:-10}s" --latency "${args[@]}" "$@" "$url" | awk '
        function us(v) { if (v ~ /us$/) return v+0; if (v ~ /ms$/) return (v+0)*1000; if (v ~ /s$/) return (v+0)*1000000; return v }
        $1 == "50%" { p50 = us($2) } $1 == "99%" { p99 = us($2) }
        $1 == "Requests/sec:" { rps = $2 }
        /Non-2xx/ { bad = $NF }
        END { if (bad > 0) { print "non-2xx responses: " bad > "/dev/stderr"; exit 1 } printf "%.0f %.0f %.0f\n", rps, p50, p99 }'
}
