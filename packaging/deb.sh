#!/usr/bin/env bash
# Builds the .deb (cargo-deb), installs it with dpkg -i, and checks what it installed: the
# binary runs (keyward --version, keyward check on the packaged configuration), the unit file
# verifies, the manual page and completions are where the system looks. CI runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-deb >/dev/null || cargo install --quiet --locked cargo-deb
cargo build --release --locked -p keyward-cli
packaging/assets.sh
cargo deb --no-build -p keyward-cli --output target/debian/keyward.deb
dpkg -i target/debian/keyward.deb
trap 'dpkg --purge keyward >/dev/null 2>&1 || true' EXIT
keyward --version
keyward check --config /etc/keyward/keyward.toml --data-dir "$(mktemp -d)"
systemd-analyze verify --man=no /lib/systemd/system/keyward.service
test -s /usr/share/man/man1/keyward.1.gz
test -s /usr/share/bash-completion/completions/keyward
grep -q 'ExecReload=/bin/kill -HUP $MAINPID' /lib/systemd/system/keyward.service
test "$(stat -c %a /etc/keyward/keyward.env)" = 600
echo "the .deb installs and runs"
