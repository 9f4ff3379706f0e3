#!/usr/bin/env bash
# bench/run.sh: how fast is serverless-wasm, against a native hyper server
# and against `wasmtime serve`? Writes BENCHMARKS.md and bench/chart.svg.
#
#   bench/run.sh                                        # the whole benchmark
#   BENCH_DURATION=3s BENCH_SKIP_BUILD=1 bench/run.sh   # quick, with what is built
#
# What it does:
#  1. builds serverless-wasm (release), the harness crate bench/harness
#     (native-hello, hold-connections, report) and the wasi:http hello
#     component; installs wasmtime-cli into target/tools/ if it is missing;
#  2. load: starts four servers on 127.0.0.1, each answering GET /hello
#       native          bench/harness native-hello (hyper, no wasm)
#       sw-classic      serverless-wasm examples/config.toml (hello.wat, classic ABI)
#       sw-wasi-http    serverless-wasm with the wasi:http hello component
#       wasmtime-serve  wasmtime serve -S cli with the same component
#       sw-wasi-http-reuse, wasmtime-serve-reuse
#                       the same two, each instance serving up to
#                       BENCH_REUSE requests (`reuse`, and wasmtime serve's
#                       --max-instance-reuse-count)
#       sw-wasi-http-creuse, wasmtime-serve-p3
#                       the WASI 0.3 hello component (examples/wasi-http/rust-p3),
#                       instances shared by concurrent requests: serverless-wasm
#                       with `reuse = BENCH_REUSE` and `concurrent_reuse =
#                       BENCH_CONCURRENT_REUSE`, wasmtime serve with its own
#                       defaults for 0.3 components (128 in all, 16 at once)
#     and, for each concurrency, runs wrk against each server in turn
#     (interleaved), recording req/s, p50, p99 and the server's peak RSS;
#  3. start-up: generates a config of BENCH_APPS distinct modules, times the
#     server's start-up without the compile cache, cold and warm (where the
#     binary has --cache-dir), its idle RSS, and the RSS that
#     BENCH_CONNECTIONS idle keep-alive connections add to it (and, for
#     comparison, to native-hello);
#  4. writes BENCHMARKS.md and bench/chart.svg from the results.
#
# Environment (defaults in brackets):
#   BENCH_DURATION      wrk duration per run [10s]
#   BENCH_CONCURRENCY   wrk connection counts [1 16 64 256]
#   BENCH_THREADS       wrk threads (1 at c=1, never more than c) [nproc]
#   BENCH_ROUNDS        runs per server and concurrency; the report shows the median [1]
#   BENCH_WARMUP        wrk warm-up per server, at c=16 [2s]
#   BENCH_REUSE         requests per instance in the two -reuse servers [128, wasmtime
#                       serve's default for WASI 0.3 components]
#   BENCH_CONCURRENT_REUSE  requests at once per instance in sw-wasi-http-creuse [16,
#                       wasmtime serve's default for WASI 0.3 components]
#   BENCH_APPS          apps in the start-up test [100]
#   BENCH_COMPONENT_APPS  how many of them are wasi:http components [BENCH_APPS/2]
#   BENCH_CONNECTIONS   idle connections in the memory test [10000]
#   BENCH_WAIT_QUIET    seconds to wait, before the load and the start-up tests, for
#                       other processes to leave the CPU idle [60]; the report warns
#                       when they did not, and gives each run's "other CPU" share
#   BENCH_SKIP_BUILD=1  build only the harness; use the serverless-wasm binary and
#                       component already built (a release build of the server takes
#                       ~10 minutes on 2 cores)
#   BENCH_SKIP_LOAD=1   skip the load test     BENCH_SKIP_STARTUP=1  skip start-up and memory
#   BENCH_KEEP_LOGS=1   keep the servers' whole logs (the access logs get large)
#   BENCH_SERVER        the serverless-wasm binary [target/release/serverless-wasm]; not
#                       built by the script when set
#
# Takes about 4 minutes with the defaults once everything is built, plus up
# to twice BENCH_WAIT_QUIET on a busy machine. Output:
# BENCHMARKS.md, bench/chart.svg; raw wrk output, TSVs and server logs in
# target/bench/. Exit status: 0 on success, 1 when a server fails to start or
# a measurement fails (the message says which), 2 on bad usage.
# Not part of `cargo test`; CI only builds the harness and checks this
# script's syntax.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# WASMTIME_VERSION, WASMTIME; install_wasmtime, ensure_wasip2_target, free_port.
source "$REPO/scripts/reference-wasmtime.sh"
# log, die, start_bg, stop, wait_listening, check_alive, parse_wrk.
source "$REPO/bench/lib.sh"
SCRIPT=bench/run.sh

DURATION=${BENCH_DURATION:-10s}
read -r -a CONCURRENCY <<<"${BENCH_CONCURRENCY:-1 16 64 256}"
THREADS=${BENCH_THREADS:-$(nproc)}
ROUNDS=${BENCH_ROUNDS:-1}
WARMUP=${BENCH_WARMUP:-2s}
REUSE=${BENCH_REUSE:-128}
CONCURRENT_REUSE=${BENCH_CONCURRENT_REUSE:-16}
APPS=${BENCH_APPS:-100}
COMPONENT_APPS=${BENCH_COMPONENT_APPS:-$((APPS / 2))}
CONNECTIONS=${BENCH_CONNECTIONS:-10000}
WAIT_QUIET=${BENCH_WAIT_QUIET:-60}

# With a backtrace requested, wasmtime captures one for every error it makes,
# and dropping a component's store makes one: a third of a wasi:http
# request's time in both servers. Measure what a deployment runs.
unset RUST_BACKTRACE RUST_LIB_BACKTRACE

# BENCH_SERVER: another serverless-wasm binary (e.g. target/debug/...) to test the script.
SERVER=$(realpath -m "${BENCH_SERVER:-$REPO/target/release/serverless-wasm}")
BIN=$REPO/target/release # the harness binaries
COMPONENT_DIR=$REPO/examples/wasi-http/rust
COMPONENT=$COMPONENT_DIR/target/wasm32-wasip2/release/hello.wasm
P3_COMPONENT_DIR=$REPO/examples/wasi-http/rust-p3
P3_COMPONENT=$P3_COMPONENT_DIR/target/wasm32-wasip2/release/hello.wasm
RESULTS=$REPO/target/bench
MARKDOWN=$REPO/BENCHMARKS.md
CHART=$REPO/bench/chart.svg

# Start-up of many apps compiles them all: allow minutes on 2 busy cores.
START_TIMEOUT=300
SERVER_IDS=(native sw-classic sw-wasi-http wasmtime-serve sw-wasi-http-reuse wasmtime-serve-reuse
  sw-wasi-http-creuse wasmtime-serve-p3)

declare -A PID=() URL=() PEAK=() # per server id
BACKGROUND=()                    # every process started, killed on exit
HOLD_PID=''                      # the hold-connections coprocess
STARTED=$SECONDS
CLK_TCK=$(getconf CLK_TCK)

# meta KEY VALUE: one fact for the report (one line, no tabs).
meta() { printf '%s\t%s\n' "$1" "${2//$'\n'/ }" >>"$RESULTS/meta.tsv"; }

# --- processes ---------------------------------------------------------------

cleanup() {
  if [[ -n $HOLD_PID ]]; then stop "$HOLD_PID"; fi
  stop_background
  trim_logs
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Access logs grow by a line per request; keep their start and end only.
trim_logs() {
  local file
  [[ ${BENCH_KEEP_LOGS:-0} == 1 || ! -d $RESULTS/logs ]] && return
  for file in "$RESULTS"/logs/*.log; do
    if [[ -f $file ]] && (($(stat -c %s "$file") > 1000000)); then
      { head -n 100 "$file"; echo '[... trimmed by bench/run.sh; BENCH_KEEP_LOGS=1 keeps it all ...]'; tail -n 20 "$file"; } >"$file.trimmed"
      mv "$file.trimmed" "$file"
    fi
  done
}


# wait_answering NAME PID URL LOGFILE: until the server answers at all
# (for `wasmtime serve`, whose port is chosen here).
wait_answering() {
  local name=$1 pid=$2 url=$3 logfile=$4 deadline=$((SECONDS + START_TIMEOUT))
  until [[ $(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 5 "$url" || true) != 000 ]]; do
    check_alive "$name" "$pid" "$logfile"
    ((SECONDS < deadline)) || { tail -n 20 "$logfile" >&2; die "$name did not answer $url within ${START_TIMEOUT}s"; }
    sleep 0.1
  done
}


# status_kb PID FIELD: a field of /proc/PID/status (VmRSS, VmHWM), in kB.
status_kb() { awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status"; }

# Resets VmHWM to the current RSS, so that the next reading is the peak of
# one run only. Returns non-zero where the kernel refuses.
reset_peak() { echo 5 2>/dev/null >"/proc/$1/clear_refs"; }

# supports SUBCOMMAND OPTION: whether this serverless-wasm has the option
# (the compile cache's --cache-dir and --no-cache are recent).
supports() { "$SERVER" "$1" --help 2>&1 | grep -q -- "$2"; }

# check_quiet KEY WHAT: waits up to BENCH_WAIT_QUIET seconds for the
# machine to be quiet (≤ 10% busy), then records cpu_busy as KEY, warning
# when it is still high.
check_quiet() {
  local busy deadline=$((SECONDS + WAIT_QUIET))
  busy=$(cpu_busy)
  while ((busy > 10 && SECONDS < deadline)); do
    log "other processes use ${busy}% of the CPU: waiting for quiet before $2 (up to ${WAIT_QUIET}s)"
    sleep 4
    busy=$(cpu_busy)
  done
  meta "$1" "$busy"
  if ((busy > 10)); then
    log "warning: other processes use ${busy}% of the CPU before $2: expect noisy numbers"
  fi
}

# cpu_counters PID: sets COUNTERS to "BUSY TOTAL SERVER CHILDREN", clock
# ticks of: the machine's busy time (user, nice, system, steal; not interrupts,
# which our own loopback traffic causes), all its CPU time, the server PID's
# time, and this shell's finished children's (wrk, once it has exited). Not
# run in a subshell: `times` must see this shell's children.
cpu_counters() {
  local machine server children
  machine=$(awk '/^cpu / { busy = $2 + $3 + $4 + $9; print busy, busy + $5 + $6 + $7 + $8; exit }' /proc/stat)
  # utime and stime are the 12th and 13th fields after "PID (COMM) ".
  server=$(sed 's/^.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }')
  times >"$RESULTS/times"
  children=$(awk -v hz="$CLK_TCK" 'NR == 2 {
    split($1, u, /[ms]/); split($2, s, /[ms]/)
    printf "%.0f\n", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * hz }' "$RESULTS/times")
  COUNTERS="$machine $server $children"
}

# other_cpu BEFORE AFTER: percent of the machine's CPU that neither the server
# nor wrk used between two cpu_counters: someone else's load, which makes a
# run noisy. Approximate (the shell's own helpers count as wrk).
other_cpu() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    other = (y[1] - x[1]) - (y[3] - x[3]) - (y[4] - x[4]); total = y[2] - x[2]
    printf "%.0f\n", (total > 0 && other > 0 ? 100 * other / total : 0) }'
}

# statuses LOGFILE: how many requests got each status, from an access log:
# "200×12345, 503×2".
statuses() {
  grep -o ' status=[0-9]*' "$1" | sort | uniq -c \
    | awk '{ sub(/status=/, "", $2); printf "%s%s×%s", sep, $2, $1; sep = ", " }'
}

# --- setup -------------------------------------------------------------------

build() {
  if [[ ${BENCH_SKIP_BUILD:-0} == 1 ]]; then
    log "BENCH_SKIP_BUILD=1: using the serverless-wasm binary and component already built"
  else
    if [[ -n ${BENCH_SERVER:-} ]]; then
      log "BENCH_SERVER is set: not building serverless-wasm"
    else
      log "building serverless-wasm (release)"
      (cd "$REPO" && cargo build --release)
    fi
    log "building the wasi:http hello component"
    ensure_wasip2_target
    # Built from inside its own workspace, which has its own Cargo.lock.
    (cd "$COMPONENT_DIR" && cargo build --release --target wasm32-wasip2 -p hello)
    log "building the wasi:http 0.3 hello component"
    (cd "$P3_COMPONENT_DIR" && cargo build --release --target wasm32-wasip2 -p hello)
  fi
  # Always: it takes seconds, and keeps the baseline in step with its source.
  log "building the harness (bench/harness)"
  (cd "$REPO" && cargo build --release -p bench-harness)
  local file
  for file in "$SERVER" "$BIN/native-hello" "$BIN/hold-connections" "$BIN/report"; do
    [[ -x $file ]] || die "$file is missing (build it, or run without BENCH_SKIP_BUILD)"
  done
  [[ -f $COMPONENT ]] || die "$COMPONENT is missing (build it, or run without BENCH_SKIP_BUILD)"
  [[ -f $P3_COMPONENT ]] || die "$P3_COMPONENT is missing (build it, or run without BENCH_SKIP_BUILD)"
}

# The idle-connection test needs a descriptor per connection in the server
# (which inherits this limit) and in hold-connections.
raise_file_limit() {
  local need=$((CONNECTIONS + 1024)) soft hard
  soft=$(ulimit -Sn)
  hard=$(ulimit -Hn)
  if [[ $soft != unlimited ]] && ((soft < need)); then
    if [[ $hard == unlimited ]] || ((hard >= need)); then
      ulimit -Sn "$need"
    else
      ulimit -Sn "$hard"
      CONNECTIONS=$((hard - 1024))
      log "warning: ulimit -n is at most $hard here: holding only $CONNECTIONS connections"
      meta memory.nofile_note "The hard limit on open files (ulimit -Hn) is $hard, so only $CONNECTIONS connections were held."
    fi
  fi
  meta memory.nofile "$(ulimit -Sn)"
  log "ulimit -n $(ulimit -Sn)"
}

# The command line as typed, with the BENCH_ settings it ran with.
command_line() {
  local settings
  settings=$(env | grep '^BENCH_' | sort | tr '\n' ' ' || true)
  echo "${settings}bench/run.sh"
}

record_machine() {
  local git
  git=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ -n $(git -C "$REPO" status --porcelain 2>/dev/null) ]]; then
    git="$git + uncommitted changes"
  fi
  meta date "$(date -u '+%Y-%m-%d %H:%M UTC')"
  meta command "$(command_line)"
  meta cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)"
  meta cores "$(nproc)"
  meta memory "$(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
  meta kernel "$(uname -sr)"
  meta rustc "$(rustc --version)"
  meta wasmtime "$("$WASMTIME" --version); serverless-wasm links wasmtime $(crate_version wasmtime)"
  meta wasmtime_version "$WASMTIME_VERSION"
  meta wrk "$(wrk -v 2>&1 | head -n 1 | sed 's/ *Copyright.*//')"
  meta git "$git"
  local built
  built="$(show "$SERVER"), built $(date -u -r "$SERVER" '+%Y-%m-%d %H:%M UTC')"
  if [[ ${BENCH_SKIP_BUILD:-0} == 1 || -n ${BENCH_SERVER:-} ]]; then
    built="$built (not rebuilt by this run)"
  fi
  meta server_binary "$built"
  meta duration "$DURATION"
  meta threads "$THREADS"
  meta warmup "$WARMUP"
  meta rounds "$ROUNDS"
}

crate_version() {
  awk -v name="$1" '$0 == "name = \"" name "\"" { getline; gsub(/version = |"/, ""); print; exit }' "$REPO/Cargo.lock"
}

# --- load --------------------------------------------------------------------

# Repository paths shown relative to it in the report.
show() { local text="$*"; echo "${text//$REPO\//}"; }

start_load_servers() {
  local logs=$RESULTS/logs port reuse_port p3_port config=$RESULTS/wasi-http.toml reuse_config=$RESULTS/wasi-http-reuse.toml
  local creuse_config=$RESULTS/wasi-http-creuse.toml
  cat >"$config" <<EOF
# generated by bench/run.sh: the wasi:http hello component on GET /hello
[[applications]]
file_path = '$COMPONENT'
method = "GET"
url_path = "/hello"
allowed_outbound_hosts = []
EOF
  { cat "$config"; echo "reuse = $REUSE"; } >"$reuse_config"
  { sed "s|'$COMPONENT'|'$P3_COMPONENT'|" "$config"; echo "reuse = $REUSE"; echo "concurrent_reuse = $CONCURRENT_REUSE"; } >"$creuse_config"
  # serverless-wasm with RUST_LOG unset: its default level, info, writes an
  # access log line per request, as deployed. Its compile cache, where it has
  # one, goes under target/bench rather than the user's ~/.cache.
  local cache=''
  if supports serve --cache-dir; then
    cache=" --cache-dir $RESULTS/cache-load"
  fi
  # Each server keeps its key-value store apart: two beside the same config
  # directory would share (and lock) one.
  local data=''
  if supports serve --data-dir; then
    data=" --data-dir $RESULTS/data-"
  fi
  local -A command=(
    [native]="$BIN/native-hello 127.0.0.1:0"
    [sw-classic]="env -u RUST_LOG $SERVER serve $REPO/examples/config.toml --listen 127.0.0.1:0$cache${data:+${data}classic}"
    [sw-wasi-http]="env -u RUST_LOG $SERVER serve $config --listen 127.0.0.1:0$cache${data:+${data}wasi-http}"
    [sw-wasi-http-reuse]="env -u RUST_LOG $SERVER serve $reuse_config --listen 127.0.0.1:0$cache${data:+${data}wasi-http-reuse}"
    [sw-wasi-http-creuse]="env -u RUST_LOG $SERVER serve $creuse_config --listen 127.0.0.1:0$cache${data:+${data}wasi-http-creuse}"
  )
  port=$(free_port)
  reuse_port=$(free_port "$port")
  p3_port=$(free_port "$reuse_port")
  command[wasmtime-serve]="$WASMTIME serve -S cli --addr 127.0.0.1:$port $COMPONENT"
  command[wasmtime-serve-reuse]="$WASMTIME serve -S cli --max-instance-reuse-count $REUSE --addr 127.0.0.1:$reuse_port $COMPONENT"
  # wasmtime 48 has component-model-async and p3 on by default.
  command[wasmtime-serve-p3]="$WASMTIME serve -S cli --addr 127.0.0.1:$p3_port $P3_COMPONENT"
  meta servers.note "native-hello serves HTTP/1.1 only (hyper's http1 builder); serverless-wasm serves HTTP/1.1 and h2c, telling them apart by peeking at a connection's first bytes, once per connection. \`wasmtime serve\` runs with its defaults, plus \`-S cli\` because Rust's standard library makes the component import wasi:cli. The two -reuse servers let one instance serve up to $REUSE requests in turn (serverless-wasm's \`reuse = $REUSE\`, wasmtime serve's \`--max-instance-reuse-count $REUSE\`); the WASI 0.3 pair serves the 0.3 hello component (examples/wasi-http/rust-p3) with instances shared by concurrent requests: serverless-wasm's \`reuse = $REUSE\` and \`concurrent_reuse = $CONCURRENT_REUSE\`, \`wasmtime serve\` with its own defaults for 0.3 components (\`--max-instance-reuse-count\` 128, \`--max-instance-concurrent-reuse-count\` 16); every other wasm server gives each request a fresh instance, as the targets ask."
  local id
  for id in "${SERVER_IDS[@]}"; do
    meta "server.$id.command" "$(show "${command[$id]}")"
    # The paths have no spaces (checked in main), so word splitting is safe.
    # shellcheck disable=SC2086
    start_bg "$logs/$id.log" ${command[$id]}
    PID[$id]=$LAST_PID
  done
  for id in native sw-classic sw-wasi-http sw-wasi-http-reuse sw-wasi-http-creuse; do
    wait_listening "$id" "${PID[$id]}" "$logs/$id.log"
    URL[$id]="http://$ADDR/hello"
  done
  URL[wasmtime-serve]="http://127.0.0.1:$port/hello"
  URL[wasmtime-serve-reuse]="http://127.0.0.1:$reuse_port/hello"
  URL[wasmtime-serve-p3]="http://127.0.0.1:$p3_port/hello"
  for id in wasmtime-serve wasmtime-serve-reuse wasmtime-serve-p3; do
    wait_answering "$id" "${PID[$id]}" "${URL[$id]}" "$logs/$id.log"
  done
  for id in "${SERVER_IDS[@]}"; do
    check_hello "$id"
  done
}

# check_hello ID: the server answers GET /hello with 200 and a body.
check_hello() {
  local id=$1 out=$RESULTS/logs/$1.hello status
  status=$(curl -s --noproxy '*' --max-time 10 -o "$out" -w '%{http_code}' "${URL[$id]}" || true)
  [[ $status == 200 ]] || die "$id answered GET ${URL[$id]} with status $status, not 200"
  log "$id on ${URL[$id]} (pid ${PID[$id]}): 200, $(wc -c <"$out") bytes: $(head -c 60 "$out" | tr -d '\n')"
}

# threads_for C: wrk threads for C connections.
threads_for() {
  if (($1 <= 1)); then echo 1; elif (($1 < THREADS)); then echo "$1"; else echo "$THREADS"; fi
}


# run_wrk ID C ROUND: one measured run; appends a line to runs.tsv.
run_wrk() {
  local id=$1 c=$2 round=$3 threads out numbers peak before other
  threads=$(threads_for "$c")
  out=$RESULTS/wrk/$id-c$c-r$round.txt
  reset_peak "${PID[$id]}" || true
  cpu_counters "${PID[$id]}"
  before=$COUNTERS
  wrk --latency -t "$threads" -c "$c" -d "$DURATION" --timeout 5s "${URL[$id]}" >"$out" 2>&1 \
    || { cat "$out" >&2; die "wrk failed against $id at c=$c"; }
  check_alive "$id" "${PID[$id]}" "$RESULTS/logs/$id.log"
  cpu_counters "${PID[$id]}"
  other=$(other_cpu "$before" "$COUNTERS")
  peak=$(status_kb "${PID[$id]}" VmHWM)
  numbers=$(parse_wrk "$out") || { cat "$out" >&2; die "no result from wrk against $id at c=$c (output above)"; }
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$c" "$round" "$threads" "$peak" "$other" "$numbers" \
    | awk -v OFS='\t' '{ print $1, $2, $3, $4, $7, $8, $9, $5, $11, $10, $6 }' >>"$RESULTS/runs.tsv"
  if ((peak > ${PEAK[$id]:-0})); then PEAK[$id]=$peak; fi
  log "$(printf '%-15s c=%-4s %10s req/s  p50 %8.0f µs  p99 %8.0f µs  peak RSS %6d kB  other CPU %3d%%' \
    "$id" "$c" "$(cut -f1 <<<"$numbers")" "$(cut -f2 <<<"$numbers")" "$(cut -f3 <<<"$numbers")" "$peak" "$other")"
}

# rotated OFFSET: the server ids, starting at OFFSET, so that no server is
# always first after a pause or always right after the same neighbour.
rotated() {
  local n=${#SERVER_IDS[@]} i
  for ((i = 0; i < n; i++)); do echo "${SERVER_IDS[(i + $1) % n]}"; done
}

load_test() {
  if [[ ${BENCH_SKIP_LOAD:-0} == 1 ]]; then
    log "BENCH_SKIP_LOAD=1: no load test"
    return
  fi
  mkdir -p "$RESULTS/wrk"
  start_load_servers
  if reset_peak "${PID[native]}"; then meta rss_reset yes; else meta rss_reset no; fi
  check_quiet busy_before_load "the load test"
  local id c round order step=0
  log "warming up every server for $WARMUP at c=16"
  for id in "${SERVER_IDS[@]}"; do
    wrk -t "$(threads_for 16)" -c 16 -d "$WARMUP" "${URL[$id]}" >"$RESULTS/wrk/$id-warmup.txt" 2>&1 \
      || die "the warm-up of $id failed"
  done
  printf 'server\tconcurrency\tround\tthreads\trps\tp50_us\tp99_us\tpeak_rss_kb\terrors\trequests\tother_cpu_pct\n' >"$RESULTS/runs.tsv"
  for c in "${CONCURRENCY[@]}"; do
    for ((round = 1; round <= ROUNDS; round++)); do
      order=$(rotated "$step")
      step=$((step + 1))
      for id in $order; do
        run_wrk "$id" "$c" "$round"
        sleep 0.5 # let the last run's connections and log lines drain
      done
    done
  done
  for id in "${SERVER_IDS[@]}"; do
    meta "server.$id.hwm_kb" "${PEAK[$id]}"
    stop "${PID[$id]}"
  done
  for id in sw-classic sw-wasi-http sw-wasi-http-reuse sw-wasi-http-creuse; do
    meta "server.$id.statuses" "$(statuses "$RESULTS/logs/$id.log")"
  done
}

# --- start-up and memory -----------------------------------------------------

# generate_apps DIR: APPS distinct modules and a config serving each on
# GET /app/NNN. Classic ones are examples/hello.wat with its own greeting
# (same length, so the offsets in the code still hold); components are the
# hello component with a trailing custom section holding the number.
generate_apps() {
  local dir=$1 i name config=$1/config.toml classic=$((APPS - COMPONENT_APPS))
  mkdir -p "$dir"
  {
    echo "# generated by bench/run.sh: $APPS apps, each a distinct module"
    echo "[defaults]"
    echo "allowed_outbound_hosts = []"
  } >"$config"
  for ((i = 0; i < APPS; i++)); do
    if ((i < classic)); then
      name=$(printf 'classic-%04d.wat' "$i")
      # "Hello from serverless-wasm!\n" and its replacement are both 28 bytes.
      sed "s/Hello from serverless-wasm!\\\\n/Hello from bench-app #$(printf %04d "$i")!\\\\n/" \
        "$REPO/examples/hello.wat" >"$dir/$name"
      grep -q "bench-app #" "$dir/$name" || die "could not make $name from examples/hello.wat"
    else
      name=$(printf 'component-%04d.wasm' "$i")
      cp "$COMPONENT" "$dir/$name"
      # A custom section: id 0, size 17, then the name (length 10,
      # "bench-copy") and a 6-digit payload: 1 + 10 + 6 = 17 bytes.
      printf '\x00\x11\x0abench-copy%06d' "$i" >>"$dir/$name"
    fi
    printf '\n[[applications]]\nfile_path = "%s"\nmethod = "GET"\nurl_path = "/app/%04d"\n' \
      "$name" "$i" >>"$config"
  done
  meta startup.apps "$APPS"
  meta startup.classic_apps "$classic"
  meta startup.component_apps "$COMPONENT_APPS"
}

# time_start NAME CONFIG [OPTION...]: starts serverless-wasm and measures the
# milliseconds until its "listening on" line; records them as
# startup.NAME_ms, with the server's own "loaded N modules" line if it logs
# one. Sets LAST_PID, ADDR and SERVER_LOG.
time_start() {
  local name=$1 config=$2 logfile=$RESULTS/logs/startup-$1.log started ms
  shift 2
  started=${EPOCHREALTIME/./}
  start_bg "$logfile" env -u RUST_LOG "$SERVER" serve "$config" --listen 127.0.0.1:0 "$@"
  wait_listening "start-up ($name)" "$LAST_PID" "$logfile"
  ms=$(((${EPOCHREALTIME/./} - started) / 1000))
  SERVER_LOG=$logfile
  meta "startup.${name}_ms" "$ms"
  meta "startup.${name}_detail" "$(grep -o -e 'loaded [0-9]* modules.*' -e 'checked [0-9]* apps.*' "$logfile" | head -n 1 || true)"
  log "start-up ($name): listening after ${ms} ms"
}

# preloaded PID LOGFILE: waits for the server's "preloaded N apps" line;
# records it and the RSS with every app loaded.
preloaded() {
  local pid=$1 logfile=$2 deadline=$((SECONDS + 600)) line
  until line=$(grep -o 'preloaded [0-9]* apps.*' "$logfile"); do
    check_alive "the --preload start" "$pid" "$logfile"
    ((SECONDS < deadline)) || die "no 'preloaded' line from the --preload start in 600 s"
    sleep 0.1
  done
  meta startup.preloaded_detail "$line"
  meta memory.preloaded_rss_kb "$(idle_rss "$pid")"
  log "start-up (preload): $line"
}

# idle_rss PID: VmRSS once the start-up's leftovers have settled.
idle_rss() {
  sleep 1
  status_kb "$1" VmRSS
}

startup_test() {
  if [[ ${BENCH_SKIP_STARTUP:-0} == 1 ]]; then
    log "BENCH_SKIP_STARTUP=1: no start-up or memory test"
    meta startup.skipped "BENCH_SKIP_STARTUP=1"
    return
  fi
  local config=$RESULTS/apps/config.toml cache=$RESULTS/cache
  check_quiet busy_before_startup "the start-up test"
  log "generating $APPS apps ($COMPONENT_APPS components)"
  generate_apps "$RESULTS/apps"
  if supports serve --cache-dir; then
    meta startup.cache_dir yes
    if supports serve --no-cache; then
      time_start nocache "$config" --no-cache
      stop "$LAST_PID"
    fi
    rm -rf "$cache"
    mkdir -p "$cache"
    time_start cold "$config" --cache-dir "$cache"
    meta memory.cold_idle_rss_kb "$(idle_rss "$LAST_PID")"
    stop "$LAST_PID"
    # Apps load on their first request; --preload loads them all at once,
    # which is what every start did before lazy loading.
    time_start preload "$config" --cache-dir "$cache" --preload
    preloaded "$LAST_PID" "$SERVER_LOG"
    stop "$LAST_PID"
    time_start warm "$config" --cache-dir "$cache"
  else
    log "warning: this serverless-wasm has no 'serve --cache-dir': measuring one uncached start-up"
    meta startup.cache_dir no
    meta startup.note "This serverless-wasm binary has no \`serve --cache-dir\` option, so only an uncached start-up was measured; rebuild it with the compile cache and run again for the cold and warm numbers."
    time_start nocache "$config"
  fi
  local pid=$LAST_PID log=$SERVER_LOG
  meta memory.idle_rss_kb "$(idle_rss "$pid")"
  connections_test memory "the $APPS-app server" "$pid" "$ADDR" /app/0000 "$log"
  stop "$pid"
  # The same connections on the native baseline: what hyper itself needs.
  start_bg "$RESULTS/logs/native-connections.log" "$BIN/native-hello" 127.0.0.1:0
  pid=$LAST_PID
  wait_listening native-hello "$pid" "$RESULTS/logs/native-connections.log"
  connections_test native_memory native-hello "$pid" "$ADDR" /hello "$RESULTS/logs/native-connections.log"
  stop "$pid"
}

# connections_test PREFIX NAME PID ADDR PATH LOGFILE: the RSS that
# CONNECTIONS idle keep-alive connections (one GET PATH each) add to the
# server PID, after one request of its own; recorded as PREFIX.* in meta.
connections_test() {
  local prefix=$1 name=$2 pid=$3 addr=$4 path=$5 server_log=$6 status
  local logfile=$RESULTS/logs/hold-$prefix.log deadline=$((SECONDS + 180)) ready
  status=$(curl -s --noproxy '*' --max-time 10 -o /dev/null -w '%{http_code}' "http://$addr$path" || true)
  [[ $status == 200 ]] || die "$name answered GET $path with $status, not 200"
  meta "$prefix.path" "$path"
  meta "$prefix.one_request_rss_kb" "$(idle_rss "$pid")"
  log "$name: opening $CONNECTIONS idle keep-alive connections"
  # A coprocess: its stdin is a pipe from here, and closing it ends the hold.
  coproc HOLD { exec "$BIN/hold-connections" "$addr" "$CONNECTIONS" "$path" 2>"$logfile"; }
  until ready=$(grep '^ready: ' "$logfile" 2>/dev/null); do
    if ! kill -0 "$HOLD_PID" 2>/dev/null || ((SECONDS > deadline)); then
      tail -n 20 "$logfile" >&2
      die "hold-connections did not get its connections to $name open (log above)"
    fi
    sleep 0.1
  done
  log "hold-connections: $ready"
  check_alive "$name" "$pid" "$server_log"
  meta "$prefix.held" "$(awk '{ print $2 }' <<<"$ready")"
  meta "$prefix.held_failed" "$(awk '{ print $4 }' <<<"$ready")"
  meta "$prefix.held_rss_kb" "$(idle_rss "$pid")"
  local stdin_fd=${HOLD[1]}
  exec {stdin_fd}>&-
  wait "$HOLD_PID" 2>/dev/null || true
  HOLD_PID=''
}

# --- main --------------------------------------------------------------------

main() {
  if (($# > 0)); then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    [[ $1 == -h || $1 == --help ]] && exit 0
    exit 2
  fi
  [[ $REPO != *[[:space:]]* ]] || die "the repository path has a space in it; the server commands do not quote"
  command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
  mkdir -p "$RESULTS"
  rm -rf "${RESULTS:?}"/{logs,wrk,apps,cache,cache-load,data-*,meta.tsv,runs.tsv,times,wasi-http.toml}
  mkdir -p "$RESULTS/logs"
  build
  install_wasmtime
  raise_file_limit
  record_machine
  log "results in $(show "$RESULTS")"
  load_test
  startup_test
  meta elapsed_minutes "$(((SECONDS - STARTED + 30) / 60))"
  # The sections of bench/state.sh (key-value), bench/reload.sh and
  # bench/density.sh (10,000 apps) are kept, and the criterion results
  # written by hand in bench/criterion.md.
  cat "$REPO/bench/notes.md" >"$RESULTS/notes.md"
  local section
  for section in "$REPO/bench/state.md" "$REPO/bench/reload.md" "$REPO/bench/density.md" "$REPO/bench/criterion.md"; do
    if [[ -f $section ]]; then
      printf '\n' >>"$RESULTS/notes.md"
      cat "$section" >>"$RESULTS/notes.md"
    fi
  done
  "$BIN/report" "$RESULTS" "$MARKDOWN" "$CHART" bench/chart.svg "$RESULTS/notes.md"
  log "wrote $(show "$MARKDOWN") and $(show "$CHART")"
}

main "$@"
