#!/usr/bin/env bash
# Builds target/wasm32-wasip1/release/cgi.wasm the way `spin build` does
# (spin.toml's command). No dependencies. Safe to re-run; a no-op build takes
# well under a second.
set -euo pipefail
cd "$(dirname "$0")"

die() { echo "build.sh: error: $*" >&2; exit 1; }
command -v cargo >/dev/null || die "cargo not found"
if command -v rustup >/dev/null; then
  rustup target add wasm32-wasip1 >/dev/null 2>&1 || echo "build.sh: could not add wasm32-wasip1; building anyway" >&2
fi
# Settings of an outer cargo (the test suite's) are not this build's.
unset RUSTFLAGS CARGO_TARGET_DIR CARGO_BUILD_TARGET

cargo build --target wasm32-wasip1 --release --locked
[ -s target/wasm32-wasip1/release/cgi.wasm ] || die "target/wasm32-wasip1/release/cgi.wasm was not built"
