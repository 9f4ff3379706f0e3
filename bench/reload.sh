#!/usr/bin/env bash
# bench/reload.sh: how long a reload takes on a server of many apps when one
# changed. Writes bench/reload.md and puts it into BENCHMARKS.md (bench/run.sh
# keeps it there).
#
#   bench/reload.sh
#   BENCH_SKIP_BUILD=1 bench/reload.sh
#
# What it does: generates BENCH_APPS apps (half classic WAT modules, half
# copies of the wasi:http hello component, each distinct), starts the
# release server on them with a warm compile cache, then BENCH_RELOADS times:
# rewrites app 0's module (alternating two versions), sends SIGHUP, and
# polls GET /app/0000 until the new version answers. Records the server's own
# "reloaded ... in N ms" (trigger to swap) and the time from the signal to
# the first answer of the new version seen by the client (curl in a loop, so
# a few milliseconds coarse).
#
# Environment (defaults in brackets):
#   BENCH_APPS        apps [100]
#   BENCH_RELOADS     reloads measured [20]
#   BENCH_SKIP_BUILD=1  use the binary and component already built
#   BENCH_SERVER      the serverless-wasm binary [target/release/serverless-wasm]
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# log, die, start_bg, stop, wait_listening, check_alive, parse_wrk.
source "$REPO/bench/lib.sh"
SCRIPT=bench/reload.sh

APPS=${BENCH_APPS:-100}
RELOADS=${BENCH_RELOADS:-20}
SERVER=$(realpath -m "${BENCH_SERVER:-$REPO/target/release/serverless-wasm}")
COMPONENT=$REPO/examples/wasi-http/rust/target/wasm32-wasip2/release/hello.wasm
RESULTS=$REPO/target/bench-reload
SECTION=$REPO/bench/reload.md
MARKDOWN=$REPO/BENCHMARKS.md
START_TIMEOUT=300
GOAL_MS=100
BACKGROUND=()
STARTED=$SECONDS

cleanup() {
  local pid
  for pid in "${BACKGROUND[@]}"; do stop "$pid"; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# version N: app 0's module, answering "version N".
version() {
  printf '(module (import "env" "response_set_body" (func $b (param i32 i64)))
  (memory (export "memory") 1) (data (i32.const 0) "version %04d")
  (func (export "handle") (call $b (i32.const 0) (i64.const 12))))\n' "$1"
}

generate() {
  local dir=$RESULTS/apps i name
  mkdir -p "$dir"
  printf '[defaults]\nallowed_outbound_hosts = []\n' >"$dir/config.toml"
  for ((i = 0; i < APPS; i++)); do
    if ((i % 2 == 0)); then
      name=$(printf 'classic-%04d.wat' "$i")
      version "$i" >"$dir/$name"
    else
      name=$(printf 'component-%04d.wasm' "$i")
      cp "$COMPONENT" "$dir/$name"
      # A custom section (id 0, 17 bytes: name "bench-copy", 6 digits)
      # makes each copy a distinct module.
      printf '\x00\x11\x0abench-copy%06d' "$i" >>"$dir/$name"
    fi
    printf '\n[[applications]]\nfile_path = "%s"\nmethod = "GET"\nurl_path = "/app/%04d"\n' \
      "$name" "$i" >>"$dir/config.toml"
  done
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

measure() {
  local url=$1 pid=$2 logfile=$3 i target sent seen body
  : >"$RESULTS/reloads.tsv"
  for ((i = 1; i <= RELOADS; i++)); do
    # Two versions in turn, so each is in the compile cache after the first two.
    target=$((9000 + i % 2))
    version "$target" >"$RESULTS/apps/classic-0000.wat.new"
    mv "$RESULTS/apps/classic-0000.wat.new" "$RESULTS/apps/classic-0000.wat"
    sent=$(now_ms)
    kill -HUP "$pid"
    while :; do
      body=$(curl -s --noproxy '*' --max-time 5 "$url" || true)
      [[ $body == "version $target" ]] && break
      (($(now_ms) - sent < 10000)) || die "reload $i: the new version did not answer within 10 s (last: $body)"
    done
    seen=$(now_ms)
    until (($(grep -c 'reloaded (SIGHUP)' "$logfile") >= i)); do sleep 0.01; done
    printf '%s\t%s\t%s\n' "$i" "$((seen - sent))" \
      "$(grep 'reloaded (SIGHUP)' "$logfile" | sed -n "${i}p" | sed 's/.* in \([0-9.]*\) ms.*/\1/')" \
      >>"$RESULTS/reloads.tsv"
    sleep 0.2
  done
}

# stat COLUMN: median, 90th percentile and maximum of a column of reloads.tsv.
stat() {
  cut -f"$1" "$RESULTS/reloads.tsv" | sort -g | awk '{ v[NR] = $1 }
    END { p = int(NR * 0.9 + 0.999); if (p > NR) p = NR
          printf "%s\t%s\t%s\n", v[int((NR + 1) / 2)], v[p], v[NR] }'
}

write_section() {
  local git swap seen summary
  git=$(git -C "$REPO" rev-parse --short HEAD)
  [[ -z $(git -C "$REPO" status --porcelain) ]] || git="$git + uncommitted changes"
  swap=$(stat 3)
  seen=$(stat 2)
  summary=$(grep 'reloaded (SIGHUP)' "$RESULTS/logs/server.log" | tail -n 1 | sed 's/.*: \([0-9]* added.*\)/\1/')
  {
    echo "<!-- bench/reload.sh: written by it, kept by bench/run.sh -->"
    echo "## Reload: $APPS apps, one changed"
    echo
    echo "Written by \`bench/reload.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); serverless-wasm $git; $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores."
    echo "$APPS apps (half classic WAT modules, half distinct copies of the wasi:http hello component), compile cache warm. $RELOADS times: app 0's module is rewritten (two versions in turn), \`SIGHUP\` sent, and \`GET /app/0000\` polled with curl until the new version answers. Each reload: $summary."
    echo
    echo "| measurement | median | p90 | max | goal |"
    echo "| --- | ---: | ---: | ---: | --- |"
    IFS=$'\t' read -r a b c <<<"$swap"
    printf '| the server'"'"'s own reload time (config read, modules read and hashed, the changed one loaded, swap) | %s ms | %s ms | %s ms | |\n' "$a" "$b" "$c"
    IFS=$'\t' read -r a b c <<<"$seen"
    local mark
    mark=$(awk -v v="$a" -v g="$GOAL_MS" 'BEGIN { print (v <= g) ? "✓" : "✗" }')
    printf '| SIGHUP to the first answer of the new version (client side, curl in a loop) | %s ms | %s ms | %s ms | median ≤ %s ms %s |\n' "$a" "$b" "$c" "$GOAL_MS" "$mark"
    echo "<!-- /bench/reload.sh -->"
  } >"$SECTION"
}

# Puts bench/reload.md into BENCHMARKS.md, in place of the last copy.
splice() {
  awk -v section="$SECTION" '
    /^<!-- bench\/reload.sh:/ { skipping = 1; while ((getline line < section) > 0) print line; done = 1; next }
    /^<!-- \/bench\/reload.sh -->/ { skipping = 0; next }
    !skipping { print }
    END { if (!done) { print ""; while ((getline line < section) > 0) print line } }' "$MARKDOWN" >"$MARKDOWN.new"
  mv "$MARKDOWN.new" "$MARKDOWN"
}

main() {
  if (($# > 0)); then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    [[ $1 == -h || $1 == --help ]] && exit 0
    exit 2
  fi
  if [[ ${BENCH_SKIP_BUILD:-0} != 1 ]]; then
    [[ -n ${BENCH_SERVER:-} ]] || (cd "$REPO" && cargo build --release --quiet)
    (cd "$REPO/examples/wasi-http/rust" && cargo build --release --quiet -p hello)
  fi
  [[ -f $SERVER && -f $COMPONENT ]] || die "build first (run without BENCH_SKIP_BUILD=1)"
  rm -rf "$RESULTS"
  mkdir -p "$RESULTS/logs"
  generate
  local cache=$RESULTS/cache pid logfile=$RESULTS/logs/server.log
  # A first start fills the compile cache.
  start_bg "$RESULTS/logs/warm-up.log" "$SERVER" serve "$RESULTS/apps/config.toml" \
    --listen 127.0.0.1:0 --cache-dir "$cache"
  wait_listening warm-up "$LAST_PID" "$RESULTS/logs/warm-up.log"
  stop "$LAST_PID"
  start_bg "$logfile" env RUST_LOG=info,access=warn "$SERVER" serve "$RESULTS/apps/config.toml" \
    --listen 127.0.0.1:0 --cache-dir "$cache"
  pid=$LAST_PID
  wait_listening server "$pid" "$logfile"
  log "serving $APPS apps on $ADDR (pid $pid); $RELOADS reloads"
  measure "http://$ADDR/app/0000" "$pid" "$logfile"
  write_section
  splice
  cat "$SECTION"
}

main "$@"
