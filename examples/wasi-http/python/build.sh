#!/usr/bin/env bash
# Build echo.wasm (a wasi:http/proxy@0.2 component) from app.py with
# componentize-py, pinned in requirements.txt. Safe to re-run.
#
#   ./build.sh            -> echo.wasm
#   PYTHON=python3.12 ./build.sh
set -euo pipefail
cd "$(dirname "$0")"

WIT=../wit          # WASI 0.2.12 WIT copied from wasmtime-wasi-http 48.0.8
WORLD=proxy
OUT=echo.wasm
PYTHON=${PYTHON:-python3}

die() { echo "build.sh: error: $*" >&2; exit 1; }

command -v "$PYTHON" >/dev/null || die "$PYTHON not found (need Python >= 3.10 to run componentize-py)"
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "$PYTHON is $("$PYTHON" -V 2>&1); componentize-py needs Python >= 3.10"
[ -f "$WIT/world.wit" ] || die "WIT not found at $WIT"

want=$(sed -n 's/^componentize-py==//p' requirements.txt)
[ -n "$want" ] || die "requirements.txt must pin componentize-py==VERSION"

# 1. Virtualenv with the pinned componentize-py.
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  "$PYTHON" -m venv .venv || die "could not create .venv (on Debian: apt-get install python3-venv)"
fi
have=$(.venv/bin/componentize-py --version 2>/dev/null | awk '{print $2}' || true)
if [ "$have" != "$want" ]; then
  echo "==> installing componentize-py $want into .venv"
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt \
    || die "pip install -r requirements.txt failed"
fi
CPY=.venv/bin/componentize-py

# 2. Bindings. componentize generates its own internally, so these are only
#    for editors / type checkers (PYTHONPATH=bindings). Regenerated when the
#    WIT or the tool version changes.
stamp="bindings/.stamp"
sig="$want $(cat "$WIT"/*.wit "$WIT"/deps/*.wit | cksum)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$sig" ]; then
  echo "==> generating bindings/"
  rm -rf bindings
  "$CPY" -d "$WIT" -w "$WORLD" bindings bindings || die "componentize-py bindings failed"
  echo "$sig" > "$stamp"
fi

# 3. The component. Written to a temp file first so a failed build never
#    leaves a stale or truncated echo.wasm behind.
echo "==> componentize app.py -> $OUT"
rm -f "$OUT.tmp"
"$CPY" -d "$WIT" -w "$WORLD" componentize app -o "$OUT.tmp" \
  || { rm -f "$OUT.tmp"; die "componentize-py componentize failed"; }
mv "$OUT.tmp" "$OUT"
echo "==> built $(pwd)/$OUT ($(wc -c < "$OUT") bytes)"
