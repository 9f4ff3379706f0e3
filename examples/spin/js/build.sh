#!/usr/bin/env bash
# Builds dist/spin-js-kv.wasm the way `spin build` does (spin.toml's
# `npm install` + `npm run build`), with the packages pinned in
# package-lock.json: esbuild bundles src/index.js, then @spinframework/
# build-tools' j2w (componentize-js 0.19.3) makes the component. Needs node
# >= 20 and npm. Safe to re-run; j2w skips componentizing when neither the
# bundle nor the WIT changed (~1 s).
set -euo pipefail
cd "$(dirname "$0")"

OUT=dist/spin-js-kv.wasm
die() { echo "build.sh: error: $*" >&2; exit 1; }

command -v node >/dev/null || die "node not found (need Node.js >= 20)"
command -v npm  >/dev/null || die "npm not found"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' \
  || die "node $(node --version) is too old; need Node.js >= 20"

# 1. Dependencies, exactly as locked (`npm ci` in place of the template's
#    `npm install`, which may move versions within package.json's ranges).
if [ ! -x node_modules/.bin/j2w ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund || die "npm ci failed"
fi

# 2. The component. j2w reports a failure but still exits 0, so its output
#    is checked too.
log=$(npm run --silent build 2>&1) || { echo "$log" >&2; die "npm run build failed"; }
echo "$log"
if grep -q "An error occurred" <<<"$log"; then
  rm -f "$OUT"
  die "j2w failed"
fi
[ -s "$OUT" ] || die "$OUT was not built"
echo "==> built $(pwd)/$OUT ($(wc -c < "$OUT") bytes)"
