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
# Then, unless BENCH_SKIP_S3=1, start-up from S3: the same apps uploaded to a
# local moto S3 server (moto_server on PATH or in .venv), served as
# s3://bucket/key sources, started cold (empty module and compile caches),
# warm (both filled: one revalidation per module), and warm with every
# module pinned by digest (no request at all); the time to "listening".
#
# Environment (defaults in brackets):
#   BENCH_APPS        apps [100]
#   BENCH_RELOADS     reloads measured [20]
#   BENCH_SKIP_BUILD=1  use the binary and component already built
#   BENCH_SERVER      the serverless-wasm binary [target/release/serverless-wasm]
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# log, die, start_bg, stop, wait_listening, check_alive, parse_wrk, splice.
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

trap stop_background EXIT
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
    if [[ -s $RESULTS/s3-startup.tsv ]]; then
      echo
      echo "**Start-up from S3**: the same $APPS modules uploaded to a local moto S3 server and served as \`s3://\` sources; time from starting the process to its \`listening\` line (goal with warm caches: ≤ 1 s)."
      echo
      echo "| start-up | time | goal |"
      echo "| --- | ---: | --- |"
      local name ms mark
      while IFS=$'\t' read -r name ms; do
        mark=''
        [[ $name == warm* ]] && mark="≤ 1000 ms $(awk -v v="$ms" 'BEGIN { print (v <= 1000) ? "✓" : "✗" }')"
        printf '| %s | %s ms | %s |\n' "$name" "$ms" "$mark"
      done <"$RESULTS/s3-startup.tsv"
    fi
    echo "<!-- /bench/reload.sh -->"
  } >"$SECTION"
}


# time_start ID LABEL CONFIG CACHE [ENV...]: ms from starting the server to
# its "listening" line; appended to s3-startup.tsv, the server stopped again.
time_start() {
  local name=$2 config=$3 cache=$4 logfile=$RESULTS/logs/s3-$1.log started
  shift 4
  started=$(now_ms)
  start_bg "$logfile" env "$@" RUST_LOG=info,access=warn "$SERVER" serve "$config" \
    --listen 127.0.0.1:0 --cache-dir "$cache"
  wait_listening "$name" "$LAST_PID" "$logfile"
  printf '%s\t%s\n' "$name" "$(($(now_ms) - started))" >>"$RESULTS/s3-startup.tsv"
  stop "$LAST_PID"
}

s3_startup() {
  [[ ${BENCH_SKIP_S3:-0} == 1 ]] && return
  local moto port endpoint dir=$RESULTS/apps s3=$RESULTS/s3 file key digest
  moto=$(command -v moto_server || echo "$REPO/.venv/bin/moto_server")
  [[ -x $moto ]] || die "moto_server is missing (python3 -m venv .venv && .venv/bin/pip install 'moto[server]')"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  start_bg "$RESULTS/logs/moto.log" "$moto" -H 127.0.0.1 -p "$port"
  endpoint="http://127.0.0.1:$port"
  until curl -s -o /dev/null --noproxy '*' "$endpoint"; do sleep 0.1; done
  curl -s --noproxy '*' -X PUT "$endpoint/modules" >/dev/null
  mkdir -p "$s3"
  {
    echo "s3_endpoint = \"$endpoint\""
    echo "data_dir = \"$s3/data\""
  } >"$s3/config.toml"
  cp "$s3/config.toml" "$s3/pinned.toml"
  for file in "$dir"/*.wat "$dir"/*.wasm; do
    key=$(basename "$file")
    curl -s --noproxy '*' -X PUT -H 'content-type: application/wasm' --data-binary "@$file" \
      "$endpoint/modules/$key" >/dev/null
    digest=$(sha256sum "$file" | cut -d' ' -f1)
    printf '\n[[applications]]\nsource = "s3://modules/%s"\nmethod = "GET"\nurl_path = "/app/%s"\nallowed_outbound_hosts = []\n' \
      "$key" "${key%.*}" | tee -a "$s3/config.toml" >/dev/null
    printf '\n[[applications]]\nsource = "s3://modules/%s"\ndigest = "sha256:%s"\nmethod = "GET"\nurl_path = "/app/%s"\nallowed_outbound_hosts = []\n' \
      "$key" "$digest" "${key%.*}" >>"$s3/pinned.toml"
  done
  local credentials=(AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1)
  : >"$RESULTS/s3-startup.tsv"
  time_start cold "cold (module cache and compile cache empty)" "$s3/config.toml" "$s3/cache" "${credentials[@]}"
  time_start warm "warm (both filled; one revalidation per module)" "$s3/config.toml" "$s3/cache" "${credentials[@]}"
  time_start pinned "warm, every module pinned by digest (no request)" "$s3/pinned.toml" "$s3/cache" "${credentials[@]}"
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
  stop "$pid"
  s3_startup
  write_section
  splice "$SCRIPT" "$SECTION" "$MARKDOWN"
  cat "$SECTION"
}

main "$@"
