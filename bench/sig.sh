#!/usr/bin/env bash
# Runs keyward-sig's criterion benchmark and prints each scheme's verify time as a ratio of
# the floor: one HMAC-SHA256 over the same bytes, key schedule precomputed, with RustCrypto
# (the implementation keyward-sig uses) and with ring; and, for RFC 9421 with each public-key
# algorithm, keyward's whole verify of the request against the crate's own verify of the same
# signature base (ed25519-dalek, p256, p384, rsa). Also prints heap allocations per verify.
#
#   bench/sig.sh                # default criterion settings
#   bench/sig.sh --quick        # shorter measurement
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
if [ "${1:-}" = "--quick" ]; then args=(--warm-up-time 1 --measurement-time 3); fi
cargo bench -p keyward-sig --bench verify -- "${args[@]}" | tee target/sig-bench.log \
    | grep -E '^[a-z-]+/|time:|allocations'
python3 - <<'PY'
import json, pathlib
root = pathlib.Path("target/criterion")
def mean(group, name):
    return json.loads((root / group / name / "new" / "estimates.json").read_text())["mean"]["point_estimate"]
goals = {"query-hmac": 1.5, "header-hmac": 1.2, "http-signature": 2.0}
print()
print("| scheme | verify (ns) | floor RustCrypto (ns) | ratio | floor ring (ns) | ring/RustCrypto | goal |")
print("|---|---|---|---|---|---|---|")
for scheme, goal in goals.items():
    verify, rc, ring = mean(scheme, "verify"), mean(scheme, "floor-rustcrypto"), mean(scheme, "floor-ring")
    print(f"| {scheme} | {verify:.0f} | {rc:.0f} | {verify / rc:.2f}x | {ring:.0f} | {ring / rc:.2f}x | {goal}x |")
print()
print("| algorithm | keyward verify (us) | crate's own verify (us) | ratio | goal |")
print("|---|---|---|---|---|")
for algorithm in ["ed25519", "ecdsa-p256-sha256", "ecdsa-p384-sha384", "rsa-pss-sha512", "rsa-v1_5-sha256"]:
    group = f"http-signature-{algorithm}"
    verify, floor = mean(group, "verify"), mean(group, "floor")
    print(f"| {algorithm} | {verify / 1000:.1f} | {floor / 1000:.1f} | {verify / floor:.3f}x | 1.1x |")
PY
grep allocations target/sig-bench.log
