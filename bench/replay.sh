#!/usr/bin/env bash
# The replay guard's cost per signed request, beside the moka cache it replaced (criterion).
#   bench/replay.sh            # default settings
#   bench/replay.sh --quick    # shorter
set -euo pipefail
cd "$(dirname "$0")/.."
cargo bench -p keyward-server --bench replay -- "$@" 2>&1 | grep -E "^replay/|time:"
