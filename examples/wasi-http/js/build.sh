#!/usr/bin/env bash
# Build echo.wasm (a wasi:http/proxy@0.2.10 component) from app.js with
# ComponentizeJS, pinned in package.json / package-lock.json. Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")"

WIT=wit            # WASI 0.2.10 WIT; see wit/world.wit for why not ../wit
WORLD=proxy
OUT=echo.wasm

die() { echo "build.sh: error: $*" >&2; exit 1; }

command -v node >/dev/null || die "node not found (need Node.js >= 18)"
command -v npm  >/dev/null || die "npm not found"
node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 18 ? 1 : 0)' \
  || die "node $(node --version) is too old; ComponentizeJS needs Node.js >= 18"
[ -f "$WIT/world.wit" ] || die "WIT not found at $WIT"

# 1. Dependencies, exactly as locked.
if [ ! -x node_modules/.bin/componentize-js ]; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund || die "npm ci failed"
fi

# 2. The component. Written to a temp file first so a failed build never
#    leaves a stale or truncated echo.wasm behind.
echo "==> componentize-js app.js -> $OUT"
rm -f "$OUT.tmp"
node_modules/.bin/componentize-js app.js --wit "$WIT" -n "$WORLD" -o "$OUT.tmp" \
  || { rm -f "$OUT.tmp"; die "componentize-js failed"; }
[ -s "$OUT.tmp" ] || { rm -f "$OUT.tmp"; die "componentize-js produced no output"; }
mv "$OUT.tmp" "$OUT"
echo "==> built $(pwd)/$OUT ($(wc -c < "$OUT") bytes)"
