#!/usr/bin/env bash
# Writes what the .deb installs besides the binary, from the release binary itself: the manual
# page and the bash, zsh and fish completions, into target/assets.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/keyward
mkdir -p target/assets
"$bin" man | gzip -9n > target/assets/keyward.1.gz
"$bin" completions bash > target/assets/keyward.bash
"$bin" completions zsh > target/assets/_keyward
"$bin" completions fish > target/assets/keyward.fish
