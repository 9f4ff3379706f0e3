#!/usr/bin/env bash
# Builds build/echo.wasm from assembly/index.ts with the AssemblyScript
# compiler pinned in package-lock.json (installed by `npm ci` when
# node_modules is missing). Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

die() { echo "build.sh: $*" >&2; exit 1; }

command -v npm >/dev/null || die "node and npm (node >= 20) are needed"
if [ ! -x node_modules/.bin/asc ]; then
    npm ci --no-audit --no-fund || die "npm ci failed"
fi
# The command is package.json's "build" script:
#   asc assembly/index.ts -O3 --runtime stub \
#       --use abort=assembly/index/abort -o build/echo.wasm
npm run --silent build || die "asc failed"
echo "built $(pwd)/build/echo.wasm"
