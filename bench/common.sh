# Shared by bench/load.sh and bench/instructions.sh (sourced, from the repository's root):
# a scratch directory cleaned up on exit, the loadbench binary built in release mode as BIN and,
# with AGAINST=<commit>, the same built from that commit as BEFORE_BIN.

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

# Starts `BINARY serve on|off` on a free port and waits for NAME.json (url, keys).
start() { # start on|off NAME [BINARY] [launcher...]
    local mode=$1 name=$2 binary=${3:-$BIN}; shift 3 2>/dev/null || shift $#
    "$@" "$binary" serve "$mode" 127.0.0.1:0 > "$WORK/$name.json" &
    PIDS+=($!)
    for _ in $(seq 1 300); do [ -s "$WORK/$name.json" ] && return; sleep 0.1; done
    echo "server $name did not start" >&2; exit 1
}
field() { python3 -c "import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$WORK/$1.json" "$2"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
