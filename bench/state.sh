#!/usr/bin/env bash
# bench/state.sh: what the key-value store costs a request. Writes
# bench/state.md and puts it into BENCHMARKS.md (bench/run.sh keeps it there).
#
#   bench/state.sh
#   BENCH_DURATION=3s BENCH_SKIP_BUILD=1 bench/state.sh   # quick, with what is built
#
# What it does:
#  1. builds serverless-wasm (release) and the wasi:http components hello and
#     counter (examples/wasi-http/rust); starts a redis-server on a free
#     loopback port (persistence off);
#  2. load: two serverless-wasm servers, each serving GET /hello (hello.wasm)
#     and GET /counter (counter.wasm: one wasi:keyvalue `increment` of one
#     key per request): one with the embedded store (durable: a request is
#     answered once its increment is committed to disk), one with every
#     app's store on the Redis. wrk runs against the four routes in turn at
#     each concurrency; the report gives counter / hello in the same server;
#  3. checks that the counter counted every answered request;
#  4. unless BENCH_SKIP_CRITERION=1, `cargo bench --bench kv`: the cost of
#     one classic `db_get` of a present key inside a request.
#
# Environment (defaults in brackets):
#   BENCH_DURATION      wrk duration per run [10s]
#   BENCH_CONCURRENCY   wrk connection counts [1 16 64]
#   BENCH_THREADS       wrk threads (1 at c=1, never more than c) [nproc]
#   BENCH_ROUNDS        runs per route and concurrency; the report shows the median [1]
#   BENCH_WARMUP        wrk warm-up per route, at c=16 [2s]
#   BENCH_SKIP_BUILD=1  use the binary and components already built
#   BENCH_SKIP_CRITERION=1  skip the db_get micro-benchmark
#   BENCH_SERVER        the serverless-wasm binary [target/release/serverless-wasm]
#
# Needs wrk and redis-server (apt-get install wrk redis-server). Output:
# bench/state.md, BENCHMARKS.md; raw output in target/bench-state/. Not part
# of `cargo test`; CI only checks this script's syntax.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# free_port.
source "$REPO/scripts/reference-wasmtime.sh"
# log, die, start_bg, stop, wait_listening, check_alive, parse_wrk, splice.
source "$REPO/bench/lib.sh"
SCRIPT=bench/state.sh

DURATION=${BENCH_DURATION:-10s}
read -r -a CONCURRENCY <<<"${BENCH_CONCURRENCY:-1 16 64}"
THREADS=${BENCH_THREADS:-$(nproc)}
ROUNDS=${BENCH_ROUNDS:-1}
WARMUP=${BENCH_WARMUP:-2s}
SERVER=$(realpath -m "${BENCH_SERVER:-$REPO/target/release/serverless-wasm}")
COMPONENTS=$REPO/examples/wasi-http/rust/target/wasm32-wasip2/release
RESULTS=$REPO/target/bench-state
SECTION=$REPO/bench/state.md
MARKDOWN=$REPO/BENCHMARKS.md
START_TIMEOUT=300
# The goals of issue 9: counter / hello at c=64.
GOAL_EMBEDDED=0.5
GOAL_REDIS=0.4

ROUTES=(embedded-hello embedded-counter redis-hello redis-counter)
declare -A URL=()
BACKGROUND=()
STARTED=$SECONDS

trap stop_background EXIT
trap 'exit 130' INT TERM

build() {
  if [[ ${BENCH_SKIP_BUILD:-0} == 1 ]]; then
    log "BENCH_SKIP_BUILD=1: using what is built"
  else
    [[ -n ${BENCH_SERVER:-} ]] || (cd "$REPO" && cargo build --release --quiet)
    (cd "$REPO/examples/wasi-http/rust" && cargo build --release --quiet -p hello -p counter)
  fi
  local file
  for file in "$SERVER" "$COMPONENTS/hello.wasm" "$COMPONENTS/counter.wasm"; do
    [[ -f $file ]] || die "$file is missing (run without BENCH_SKIP_BUILD=1)"
  done
}

start_redis() {
  local port
  port=$(free_port)
  mkdir -p "$RESULTS/redis"
  start_bg "$RESULTS/logs/redis.log" redis-server --bind 127.0.0.1 --port "$port" \
    --save '' --appendonly no --dir "$RESULTS/redis"
  REDIS_URL="redis://127.0.0.1:$port/0"
  local deadline=$((SECONDS + 10))
  until redis-cli -p "$port" ping >/dev/null 2>&1; do
    check_alive redis-server "$LAST_PID" "$RESULTS/logs/redis.log"
    ((SECONDS < deadline)) || die "redis-server did not answer on port $port"
    sleep 0.05
  done
  log "redis-server on port $port (pid $LAST_PID)"
}

# start_server NAME STORES: serverless-wasm with /hello and /counter, the
# TOML lines STORES deciding where the counter's store lives.
start_server() {
  local name=$1 config=$RESULTS/$1.toml
  cat >"$config" <<EOF
data_dir = "$RESULTS/data-$name"
$2
[[applications]]
name = "hello"
file_path = "$COMPONENTS/hello.wasm"
method = "GET"
url_path = "/hello"

[[applications]]
name = "counter"
file_path = "$COMPONENTS/counter.wasm"
method = "GET"
url_path = "/counter"
EOF
  rm -rf "$RESULTS/data-$name"
  start_bg "$RESULTS/logs/$name.log" env -u RUST_LOG "$SERVER" serve "$config" \
    --listen 127.0.0.1:0 --cache-dir "$RESULTS/cache"
  wait_listening "$name" "$LAST_PID" "$RESULTS/logs/$name.log"
  URL[$name-hello]="http://$ADDR/hello"
  URL[$name-counter]="http://$ADDR/counter"
  log "$name on $ADDR (pid $LAST_PID)"
}

threads_for() {
  if (($1 <= 1)); then echo 1; elif (($1 < THREADS)); then echo "$1"; else echo "$THREADS"; fi
}

# wrk_run ROUTE C DURATION OUT: one wrk run; prints parse_wrk's numbers.
wrk_run() {
  wrk --latency -t "$(threads_for "$2")" -c "$2" -d "$3" --timeout 5s "${URL[$1]}" >"$4" 2>&1 \
    || { cat "$4" >&2; die "wrk failed against $1 at c=$2"; }
  parse_wrk "$4" || { cat "$4" >&2; die "no result from wrk against $1 at c=$2"; }
}

load_test() {
  local route c round numbers
  : >"$RESULTS/runs.tsv"
  for route in "${ROUTES[@]}"; do
    numbers=$(wrk_run "$route" 16 "$WARMUP" "$RESULTS/wrk/$route-warmup.txt")
    ANSWERED[$route]=$(cut -f4 <<<"$numbers")
  done
  for round in $(seq "$ROUNDS"); do
    for c in "${CONCURRENCY[@]}"; do
      for route in "${ROUTES[@]}"; do
        numbers=$(wrk_run "$route" "$c" "$DURATION" "$RESULTS/wrk/$route-c$c-r$round.txt")
        printf '%s\t%s\t%s\t%s\n' "$route" "$c" "$round" "$numbers" >>"$RESULTS/runs.tsv"
        ANSWERED[$route]=$((ANSWERED[$route] + $(cut -f4 <<<"$numbers")))
        ERRORS=$((ERRORS + $(cut -f5 <<<"$numbers")))
        log "$(printf '%-17s c=%-3s %10s req/s  p99 %8.0f µs' "$route" "$c" \
          "$(cut -f1 <<<"$numbers")" "$(cut -f3 <<<"$numbers")")"
      done
    done
  done
}

# median ROUTE C COLUMN: the median over the rounds (columns of parse_wrk
# after route, c, round: 4 req/s, 5 p50, 6 p99).
median() {
  awk -F'\t' -v r="$1" -v c="$2" -v col="$3" '$1 == r && $2 == c { print $col }' "$RESULTS/runs.tsv" \
    | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# The counter's value against the requests wrk saw answered: each answered
# request was one increment, so the value is at least their number (a
# request cut off when wrk stopped may still have counted).
check_counts() {
  local backend hits
  for backend in embedded redis; do
    hits=$(curl -s --noproxy '*' --max-time 10 "${URL[$backend-counter]}" | sed -n 's/^hits: //p')
    [[ -n $hits ]] || die "$backend counter gave no count"
    hits=$((hits - 1)) # this request's own increment
    COUNTS[$backend]="$hits increments for ${ANSWERED[$backend-counter]} answered requests"
    ((hits >= ANSWERED[$backend-counter])) || die "$backend: ${COUNTS[$backend]}: increments were lost"
    log "$backend: ${COUNTS[$backend]}"
  done
}

# Criterion's middle estimate for each benchmark of `cargo bench --bench kv`,
# in ns: NAME<TAB>NS.
criterion_times() {
  awk '
    function ns(v, unit) { return unit == "ns" ? v : unit == "µs" ? v * 1e3 : unit == "ms" ? v * 1e6 : v * 1e9 }
    /time:/ {
      line = $0; sub(/.*\[/, "", line); split(line, f, " ")
      name = $0; sub(/ *time:.*/, "", name)
      if (name == "") name = last
      printf "%s\t%.1f\n", name, ns(f[3], f[4])
      next
    }
    NF { last = $0 }' "$1"
}

micro_bench() {
  if [[ ${BENCH_SKIP_CRITERION:-0} == 1 ]]; then
    log "BENCH_SKIP_CRITERION=1: no db_get micro-benchmark"
    return
  fi
  log "cargo bench --bench kv"
  (cd "$REPO" && cargo bench --quiet --bench kv) >"$RESULTS/criterion.txt" 2>&1 \
    || { tail -n 30 "$RESULTS/criterion.txt" >&2; die "cargo bench --bench kv failed"; }
  criterion_times "$RESULTS/criterion.txt" >"$RESULTS/criterion.tsv"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
ns_us() { awk -v v="$1" 'BEGIN { printf "%.2f µs", v / 1000 }'; }
us() { awk -v v="$1" 'BEGIN { if (v >= 1000) printf "%.2f ms", v / 1000; else printf "%.0f µs", v }'; }

write_section() {
  local git backend c hello counter r goal mark
  git=$(git -C "$REPO" rev-parse --short HEAD)
  [[ -z $(git -C "$REPO" status --porcelain) ]] || git="$git + uncommitted changes"
  {
    echo "<!-- bench/state.sh: written by it, kept by bench/run.sh -->"
    echo "## State: a counter (one key-value increment per request) vs hello"
    echo
    echo "Written by \`bench/state.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); serverless-wasm $git."
    echo "Command: \`$COMMAND_LINE\` ($DURATION per run, median of $ROUNDS, wrk warm-up $WARMUP per route)."
    echo "Machine: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores, $(uname -sr); $(redis-server --version | cut -d' ' -f1-3)."
    echo
    echo "Two servers, each with the wasi:http \`hello.wasm\` at \`/hello\` and \`counter.wasm\` at \`/counter\` (\`examples/wasi-http/rust\`): **embedded**, the default store (redb in \`data_dir\`; a request is answered once its increment is committed to disk, concurrent ones sharing a commit), and **Redis**, every app's store on a local \`redis-server\` without persistence. The ratio compares the two routes of the same server in the same run; wrk and the servers share the 2 cores."
    echo
    echo "| store | c | hello req/s | counter req/s | counter / hello | goal at c=64 | hello p99 | counter p99 |"
    echo "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |"
    for backend in embedded redis; do
      for c in "${CONCURRENCY[@]}"; do
        hello=$(median "$backend-hello" "$c" 4)
        counter=$(median "$backend-counter" "$c" 4)
        r=$(ratio "$counter" "$hello")
        goal=''
        if ((c == 64)); then
          [[ $backend == embedded ]] && goal=$GOAL_EMBEDDED || goal=$GOAL_REDIS
          mark=$(awk -v r="$r" -v g="$goal" 'BEGIN { print (r >= g) ? "✓" : "✗" }')
          goal="≥ $goal $mark"
        fi
        printf '| %s | %s | %.0f | %.0f | %s | %s | %s | %s |\n' "$backend" "$c" "$hello" "$counter" "$r" "$goal" \
          "$(us "$(median "$backend-hello" "$c" 6)")" "$(us "$(median "$backend-counter" "$c" 6)")"
      done
    done
    echo
    echo "Every answered counter request was counted: embedded ${COUNTS[embedded]}, Redis ${COUNTS[redis]} (warm-up included; wrk reported $ERRORS errors or non-2xx answers in all)."
    if [[ -s $RESULTS/criterion.tsv ]]; then
      local zero hundred store
      zero=$(awk -F'\t' '$1 == "classic request, 0 db_get" { print $2 }' "$RESULTS/criterion.tsv")
      hundred=$(awk -F'\t' '$1 == "classic request, 100 db_get" { print $2 }' "$RESULTS/criterion.tsv")
      store=$(awk -F'\t' '$1 == "embedded store get, no guest" { print $2 }' "$RESULTS/criterion.tsv")
      echo
      echo "**\`db_get\` of a present key, embedded** (\`cargo bench --bench kv\`, criterion's estimate): a classic request costs $(ns_us "$zero") with no \`db_get\` and $(ns_us "$hundred") with 100, so one \`db_get\` adds **$(awk -v a="$zero" -v b="$hundred" 'BEGIN { printf "%.2f µs", (b - a) / 100 / 1000 }')** (goal ≤ 5 µs). The store's own \`get\`, without a guest: $(ns_us "$store")."
    fi
    echo "<!-- /bench/state.sh -->"
  } >"$SECTION"
}


main() {
  if (($# > 0)); then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    [[ $1 == -h || $1 == --help ]] && exit 0
    exit 2
  fi
  command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
  command -v redis-server >/dev/null || die "redis-server is not installed (apt-get install redis-server)"
  COMMAND_LINE="$(env | grep -o '^BENCH_[A-Z_]*=[^ ]*' | sort | tr '\n' ' ')bench/state.sh"
  rm -rf "$RESULTS"
  mkdir -p "$RESULTS/logs" "$RESULTS/wrk"
  declare -gA ANSWERED=() COUNTS=()
  ERRORS=0
  build
  start_redis
  start_server embedded ""
  start_server redis "[key_value_stores.default]
type = \"redis\"
url = \"$REDIS_URL\""
  load_test
  check_counts
  micro_bench
  write_section
  splice "$SCRIPT" "$SECTION" "$MARKDOWN"
  log "wrote $SECTION and BENCHMARKS.md"
}

main "$@"
