#!/usr/bin/env bash
# Builds this Spin app's component the way `spin build` does, for both
# manifests, with the crates pinned in Cargo.lock:
#
#     target/wasm32-wasip1/release/kv_vars.wasm   (spin.toml: a core module)
#     target/wasm32-wasip2/release/kv_vars.wasm   (spin-wasip2.toml: a component)
#
# Needs only the Rust toolchain (1.87 or newer) and crates.io. Safe to re-run;
# a no-op build takes well under a second.
set -euo pipefail
cd "$(dirname "$0")"

die() { echo "build.sh: error: $*" >&2; exit 1; }
command -v cargo >/dev/null || die "cargo not found"

# Settings of an outer cargo (the test suite's) are not this build's.
unset RUSTFLAGS CARGO_TARGET_DIR CARGO_BUILD_TARGET

for target in wasm32-wasip1 wasm32-wasip2; do
  if command -v rustup >/dev/null; then
    rustup target add "$target" >/dev/null 2>&1 || echo "build.sh: could not add $target; building anyway" >&2
  fi
  # The [component.kv-vars.build] command of spin.toml / spin-wasip2.toml.
  cargo build --target "$target" --release --locked
  [ -s "target/$target/release/kv_vars.wasm" ] || die "target/$target/release/kv_vars.wasm was not built"
done
