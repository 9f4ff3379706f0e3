#!/usr/bin/env bash
# Builds echo.wasm from echo.c with zig's C compiler, from PyPI's `ziglang`
# package (version pinned in requirements.txt), installed into .venv here.
# Safe to run again: the venv is made only when it is missing or stale.
#
# The first compile also builds zig's wasi-libc (about half a minute) into
# zig's global cache (~/.cache/zig; ZIG_GLOBAL_CACHE_DIR moves it).
set -euo pipefail
cd "$(dirname "$0")"

die() { echo "build.sh: $*" >&2; exit 1; }

venv=.venv
python=$venv/bin/python
# The venv is up to date when it was made from this requirements.txt.
if ! cmp -s requirements.txt "$venv/requirements.txt" 2>/dev/null; then
    command -v python3 >/dev/null || die "python3 is needed to install zig"
    rm -rf "$venv"
    python3 -m venv "$venv" || die "could not create $venv (on Debian: apt-get install python3-venv)"
    "$python" -m pip install --quiet --disable-pip-version-check -r requirements.txt \
        || die "could not install $(cat requirements.txt) from PyPI"
    cp requirements.txt "$venv/requirements.txt"
fi

"$python" -m ziglang cc --target=wasm32-wasi -Os -Wall -Wextra -Werror \
    echo.c -o echo.wasm || die "compiling echo.c failed"
echo "built $(pwd)/echo.wasm"
