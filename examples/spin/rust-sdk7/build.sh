#!/usr/bin/env bash
# Builds the two components of this Spin app the way `spin build` does (the
# command in spin.toml), with the crates pinned in Cargo.lock:
#
#     target/wasm32-wasip2/release/counter.wasm
#     target/wasm32-wasip2/release/greeter.wasm
#
# Needs only the Rust toolchain (1.94 or newer, for spin-sdk 7) and crates.io.
# Safe to re-run; a no-op build takes well under a second.
set -euo pipefail
cd "$(dirname "$0")"

die() { echo "build.sh: error: $*" >&2; exit 1; }
command -v cargo >/dev/null || die "cargo not found"

# The wasm target (a no-op when installed; skipped where rustup is absent).
if command -v rustup >/dev/null; then
  rustup target add wasm32-wasip2 >/dev/null 2>&1 || echo "build.sh: could not add wasm32-wasip2; building anyway" >&2
fi

# Settings of an outer cargo (the test suite's) are not this build's.
unset RUSTFLAGS CARGO_TARGET_DIR CARGO_BUILD_TARGET

# spin.toml's [component.*.build] command, for both workspace members at once.
cargo build --target wasm32-wasip2 --release --locked

for component in counter greeter; do
  [ -s "target/wasm32-wasip2/release/$component.wasm" ] || die "target/wasm32-wasip2/release/$component.wasm was not built"
done
