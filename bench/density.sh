#!/usr/bin/env bash
# bench/density.sh: how many apps one serverless-wasm process holds. Writes
# bench/density.md and puts it into BENCHMARKS.md (bench/run.sh keeps it there).
#
#   bench/density.sh                                     # 10,000 apps
#   DENSITY_APPS=500 BENCH_SKIP_BUILD=1 BENCH_WAIT_QUIET=0 bench/density.sh   # quick
#
# What it does:
#  1. builds serverless-wasm (release) and the wasi:http hello component if
#     they are missing or older than their sources;
#  2. generates DENSITY_APPS apps over a few hundred distinct modules:
#     classic ones (examples/hello.wat, each with its own greeting) and
#     wasi:http ones (copies of the hello component made distinct by a
#     trailing custom section), assigned to the apps round-robin, each app on
#     its own route GET /app/NNNNN;
#  3. fills a compile cache with `serverless-wasm check --cache-dir`, which
#     compiles every module;
#  4. starts the server with that (warm) cache and measures: the time from
#     starting it to its `listening on` line; its idle RSS 1 s later; the
#     first request to each of DENSITY_COLD apps (one request each, one after
#     another on one keep-alive connection, the apps spread over the table
#     and over distinct modules): p50, p99, max, then the RSS; a warm request
#     rate, wrk cycling over DENSITY_WARM_APPS of those apps; the RSS after.
#
# Environment (defaults in brackets):
#   DENSITY_APPS              apps [10000]
#   DENSITY_CLASSIC_MODULES   distinct classic modules [200]
#   DENSITY_COMPONENT_MODULES distinct wasi:http component modules [100]
#   DENSITY_COLD              apps that get a first request [500, at most DENSITY_APPS]
#   DENSITY_WARM_APPS         apps wrk cycles over [8]
#   BENCH_DURATION            wrk duration [5s]
#   BENCH_CONCURRENCY         wrk connections [16]
#   BENCH_WAIT_QUIET          seconds to wait for other processes to leave the
#                             CPU idle before measuring [60]; the report gives
#                             their share either way
#   BENCH_SKIP_BUILD=1        use what is built, even if stale
#   BENCH_SERVER              the serverless-wasm binary [target/release/serverless-wasm]
#   DENSITY_NO_REPORT=1       leave bench/density.md and BENCHMARKS.md alone (the
#                             section is still written to target/bench-density/)
#
# Needs wrk, curl and python3. Output: bench/density.md, BENCHMARKS.md; the
# apps, logs and raw numbers in target/bench-density/. Exit status: 0 on
# success, 1 when the server fails or a request does not get a 200, 2 on bad
# usage. Not part of `cargo test`.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# ensure_wasip2_target.
source "$REPO/scripts/reference-wasmtime.sh"
# log, die, start_bg, stop, wait_listening, check_alive, parse_wrk, splice.
source "$REPO/bench/lib.sh"
SCRIPT=bench/density.sh

APPS=${DENSITY_APPS:-10000}
CLASSIC_MODULES=${DENSITY_CLASSIC_MODULES:-200}
COMPONENT_MODULES=${DENSITY_COMPONENT_MODULES:-100}
MODULES=$((CLASSIC_MODULES + COMPONENT_MODULES))
COLD=${DENSITY_COLD:-500}
WARM_APPS=${DENSITY_WARM_APPS:-8}
DURATION=${BENCH_DURATION:-5s}
CONNECTIONS=${BENCH_CONCURRENCY:-16}
WAIT_QUIET=${BENCH_WAIT_QUIET:-60}
SERVER=$(realpath -m "${BENCH_SERVER:-$REPO/target/release/serverless-wasm}")
COMPONENT_DIR=$REPO/examples/wasi-http/rust
COMPONENT=$COMPONENT_DIR/target/wasm32-wasip2/release/hello.wasm
RESULTS=$REPO/target/bench-density
SECTION=$REPO/bench/density.md
MARKDOWN=$REPO/BENCHMARKS.md
# The server as it is before lazy loading compiles or links every app at
# start-up: allow minutes for 10,000 on 2 busy cores.
START_TIMEOUT=900
# The targets of issue 13.
TARGET_READY_MS=2000
TARGET_IDLE_RSS_KB=$((400 * 1000))
TARGET_COLD_US=5000

# Measurements, by name, for the report.
declare -A M=()
BACKGROUND=()
STARTED=$SECONDS

trap stop_background EXIT
trap 'exit 130' INT TERM

# newer_sources OUTPUT DIR...: whether a source under DIR is newer than OUTPUT.
newer_sources() {
  local output=$1
  shift
  [[ -n $(find "$@" -newer "$output" \( -name '*.rs' -o -name 'Cargo.toml' -o -name 'Cargo.lock' -o -name '*.wit' \) -print -quit 2>/dev/null) ]]
}

build() {
  if [[ ${BENCH_SKIP_BUILD:-0} == 1 ]]; then
    log "BENCH_SKIP_BUILD=1: using what is built"
  else
    if [[ -z ${BENCH_SERVER:-} ]] && { [[ ! -x $SERVER ]] || newer_sources "$SERVER" "$REPO/src" "$REPO/Cargo.toml" "$REPO/Cargo.lock"; }; then
      log "building serverless-wasm (release)"
      (cd "$REPO" && cargo build --release --quiet)
    fi
    if [[ ! -f $COMPONENT ]] || newer_sources "$COMPONENT" "$COMPONENT_DIR/hello" "$COMPONENT_DIR/Cargo.lock"; then
      log "building the wasi:http hello component"
      ensure_wasip2_target
      (cd "$COMPONENT_DIR" && cargo build --release --quiet --target wasm32-wasip2 -p hello)
    fi
  fi
  [[ -x $SERVER ]] || die "$SERVER is missing (run without BENCH_SKIP_BUILD=1)"
  [[ -f $COMPONENT ]] || die "$COMPONENT is missing (run without BENCH_SKIP_BUILD=1)"
}

# Waits up to BENCH_WAIT_QUIET seconds for the machine to be quiet (≤ 10 %
# busy); records the share other processes used as M[busy].
wait_quiet() {
  local busy deadline=$((SECONDS + WAIT_QUIET))
  busy=$(cpu_busy)
  while ((busy > 10 && SECONDS < deadline)); do
    log "other processes use ${busy}% of the CPU: waiting for quiet (up to ${WAIT_QUIET}s)"
    sleep 4
    busy=$(cpu_busy)
  done
  M[busy]=$busy
  ((busy <= 10)) || log "warning: other processes use ${busy}% of the CPU: expect noisy numbers"
}

# app_path I: the route of app I.
app_path() { printf '/app/%05d' "$1"; }

# Module M's file name: the first CLASSIC_MODULES are classic, the rest components.
module_file() {
  if (($1 < CLASSIC_MODULES)); then printf 'classic-%04d.wat' "$1"; else printf 'component-%04d.wasm' "$1"; fi
}

generate_apps() {
  local dir=$RESULTS/apps m i config=$RESULTS/apps/config.toml
  mkdir -p "$dir"
  for ((m = 0; m < MODULES; m++)); do
    if ((m < CLASSIC_MODULES)); then
      # "Hello from serverless-wasm!\n" and its replacement are both 28
      # bytes, so the offsets in the code still hold.
      sed "s/Hello from serverless-wasm!\\\\n/Hello from bench-app #$(printf %04d "$m")!\\\\n/" \
        "$REPO/examples/hello.wat" >"$dir/$(module_file "$m")"
    else
      cp "$COMPONENT" "$dir/$(module_file "$m")"
      # A custom section: id 0, size 17, then the name (length 10,
      # "bench-copy") and a 6-digit payload: 1 + 10 + 6 = 17 bytes.
      printf '\x00\x11\x0abench-copy%06d' "$m" >>"$dir/$(module_file "$m")"
    fi
  done
  grep -q 'bench-app #0000' "$dir/$(module_file 0)" || die "could not make the classic modules from examples/hello.wat"
  {
    echo "# generated by bench/density.sh: $APPS apps over $MODULES modules, round-robin"
    echo "[defaults]"
    echo "allowed_outbound_hosts = []"
    for ((i = 0; i < APPS; i++)); do
      printf '\n[[applications]]\nname = "app-%05d"\nfile_path = "%s"\nmethod = "GET"\nurl_path = "%s"\n' \
        "$i" "$(module_file $((i % MODULES)))" "$(app_path "$i")"
    done
  } >"$config"
}

# The apps that get a first request, COLD of them: one of each module in
# turn (so the first MODULES of them use distinct modules), each module's
# apps taken in an order that starts at a different point of the table for
# each module, so that they are spread over it.
cold_apps() {
  awk -v apps="$APPS" -v modules="$MODULES" -v want="$COLD" 'BEGIN {
    for (round = 0; n < want; round++)
      for (m = 0; m < modules && n < want; m++) {
        reps = int((apps - 1 - m) / modules) + 1 # the apps of module m
        if (m >= apps || round >= reps) continue
        printf "/app/%05d\n", m + modules * ((round + 13 * m) % reps)
        n++
      }
  }'
}

# A client for the cold requests: GETs each path of a file once, one after
# another on one keep-alive connection, and prints "PATH STATUS MICROSECONDS"
# per request, the time from sending it to having read the whole body.
write_client() {
  cat >"$RESULTS/first-requests.py" <<'EOF'
import http.client, sys, time
host, port = sys.argv[1].rsplit(":", 1)
conn = http.client.HTTPConnection(host, int(port), timeout=60)
conn.connect()
for path in open(sys.argv[2]).read().split():
    started = time.perf_counter_ns()
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        status = response.status
    except (http.client.HTTPException, OSError):
        status = 0
    elapsed = (time.perf_counter_ns() - started) // 1000
    print(path, status, elapsed, flush=True)
    if status == 0 or response.will_close:
        conn.close()
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
EOF
}

# status_kb PID FIELD: a field of /proc/PID/status (VmRSS, VmHWM), in kB.
status_kb() { awk -v field="$2:" '$1 == field { print $2 }' "/proc/$1/status"; }
# rss_after PID: VmRSS once what just happened has settled.
rss_after() { sleep 1; status_kb "$1" VmRSS; }

# percentile P FILE: the P-th percentile (nearest rank) of a file of numbers.
percentile() {
  sort -n "$2" | awk -v p="$1" '{ v[NR] = $1 } END { i = int((p * NR + 99) / 100); if (i < 1) i = 1; print v[i] }'
}

fill_cache() {
  local started ms
  rm -rf "$RESULTS/cache"
  log "check: compiling the $MODULES modules into an empty compile cache"
  started=${EPOCHREALTIME/./}
  env -u RUST_LOG "$SERVER" check "$RESULTS/apps/config.toml" --cache-dir "$RESULTS/cache" \
    >"$RESULTS/logs/check.log" 2>&1 || { tail -n 20 "$RESULTS/logs/check.log" >&2; die "check failed (log above)"; }
  ms=$(((${EPOCHREALTIME/./} - started) / 1000))
  M[check_ms]=$ms
  log "check: ${ms} ms"
}

start_server() {
  local logfile=$RESULTS/logs/server.log started ms
  started=${EPOCHREALTIME/./}
  start_bg "$logfile" env -u RUST_LOG "$SERVER" serve "$RESULTS/apps/config.toml" \
    --listen 127.0.0.1:0 --cache-dir "$RESULTS/cache" --data-dir "$RESULTS/data"
  PID=$LAST_PID
  wait_listening "serverless-wasm ($APPS apps)" "$PID" "$logfile"
  ms=$(((${EPOCHREALTIME/./} - started) / 1000))
  M[ready_ms]=$ms
  M[ready_detail]=$(grep -o 'loaded [0-9]* modules.*' "$logfile" | head -n 1 || true)
  log "ready after ${ms} ms on $ADDR (pid $PID)${M[ready_detail]:+: ${M[ready_detail]}}"
  M[idle_rss_kb]=$(rss_after "$PID")
  log "idle RSS $((M[idle_rss_kb] / 1000)) MB"
}

first_requests() {
  local out=$RESULTS/first-requests.txt failed
  cold_apps >"$RESULTS/cold-paths.txt"
  log "first requests to $COLD apps, one after another"
  python3 "$RESULTS/first-requests.py" "$ADDR" "$RESULTS/cold-paths.txt" >"$out" \
    || die "the first-request client failed"
  check_alive serverless-wasm "$PID" "$RESULTS/logs/server.log"
  failed=$(awk '$2 != 200' "$out" | wc -l)
  ((failed == 0)) || { awk '$2 != 200' "$out" | head >&2; die "$failed of the first requests did not get a 200 (above)"; }
  # Split by whether the app's module had served another app before.
  awk -v modules="$MODULES" '{ n = substr($1, 6) + 0; m = n % modules; print $3 > (seen[m]++ ? FILENAME ".shared" : FILENAME ".new") }' "$out"
  cut -d' ' -f3 "$out" >"$out.all"
  local set
  for set in all new shared; do
    [[ -s $out.$set ]] || continue
    M[cold_${set}_n]=$(wc -l <"$out.$set")
    M[cold_${set}_p50]=$(percentile 50 "$out.$set")
    M[cold_${set}_p99]=$(percentile 99 "$out.$set")
    M[cold_${set}_max]=$(percentile 100 "$out.$set")
  done
  log "first requests: p50 ${M[cold_all_p50]} µs, p99 ${M[cold_all_p99]} µs, max ${M[cold_all_max]} µs"
  M[cold_rss_kb]=$(rss_after "$PID")
  log "RSS after them $((M[cold_rss_kb] / 1000)) MB"
}

# WARM_APPS of the apps that had a first request, classic and component
# ones in turn while both last.
warm_apps() {
  awk -v modules="$MODULES" -v classic="$CLASSIC_MODULES" -v want="$WARM_APPS" '
    { if (substr($1, 6) % modules < classic) c[++nc] = $1; else w[++nw] = $1 }
    END {
      for (k = 0; k < want; k++) {
        if ((k % 2 == 0 && i < nc) || j >= nw) { if (i < nc) print c[++i] }
        else print w[++j]
      }
    }' "$RESULTS/cold-paths.txt"
}

warm_requests() {
  local script=$RESULTS/paths.lua out=$RESULTS/wrk.txt numbers threads
  {
    echo "-- generated by bench/density.sh: each request the next of these paths"
    echo "local paths = {"
    warm_apps | sed 's/.*/  "&",/'
    echo "}"
    echo "local i = 0"
    echo "request = function()"
    echo "  i = i % #paths + 1"
    echo "  return wrk.format(nil, paths[i])"
    echo "end"
  } >"$script"
  threads=$(nproc)
  ((threads <= CONNECTIONS)) || threads=$CONNECTIONS
  log "warm: wrk -c $CONNECTIONS over $WARM_APPS apps for $DURATION"
  wrk -t "$threads" -c "$CONNECTIONS" -d 1s -s "$script" "http://$ADDR" >"$RESULTS/wrk-warmup.txt" 2>&1 \
    || die "the wrk warm-up failed"
  wrk --latency -t "$threads" -c "$CONNECTIONS" -d "$DURATION" --timeout 5s -s "$script" "http://$ADDR" >"$out" 2>&1 \
    || { cat "$out" >&2; die "wrk failed"; }
  check_alive serverless-wasm "$PID" "$RESULTS/logs/server.log"
  numbers=$(parse_wrk "$out") || { cat "$out" >&2; die "no result from wrk (output above)"; }
  read -r 'M[warm_rps]' 'M[warm_p50]' 'M[warm_p99]' 'M[warm_requests]' 'M[warm_errors]' <<<"$numbers"
  ((M[warm_errors] == 0)) || die "wrk saw ${M[warm_errors]} errors or non-2xx answers ($out)"
  log "warm: ${M[warm_rps]} req/s, p50 ${M[warm_p50]} µs, p99 ${M[warm_p99]} µs"
  M[warm_rss_kb]=$(rss_after "$PID")
  M[hwm_kb]=$(status_kb "$PID" VmHWM)
  log "RSS after them $((M[warm_rss_kb] / 1000)) MB (peak $((M[hwm_kb] / 1000)) MB)"
}

# --- the report ----------------------------------------------------------------

# 10000 as 10,000.
thousands() { sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$1"; }
mb() { awk -v kb="$1" 'BEGIN { printf "%.1f MB", kb / 1000 }'; }
ms() { awk -v us="$1" 'BEGIN { printf "%.2f ms", us / 1000 }'; }
seconds() { awk -v ms="$1" 'BEGIN { printf "%.2f s", ms / 1000 }'; }
# mark VALUE LIMIT TEXT: "TEXT ✓" when VALUE ≤ LIMIT, else "TEXT ✗".
mark() { if (($1 <= $2)); then echo "$3 ✓"; else echo "$3 ✗"; fi; }

# cold_row SET WHAT: p50 / p99 / max of one set of first requests.
cold_row() {
  [[ -n ${M[cold_$1_n]:-} ]] || return 0
  printf '| first request, %s (%d): p50 / p99 / max | %s / %s / %s | %s |\n' "$2" "${M[cold_$1_n]}" \
    "$(ms "${M[cold_$1_p50]}")" "$(ms "${M[cold_$1_p99]}")" "$(ms "${M[cold_$1_max]}")" \
    "$(mark "${M[cold_$1_p99]}" "$TARGET_COLD_US" "≤ 5 ms")"
}

write_section() {
  local git file=$RESULTS/density.md classic_apps
  git=$(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo unknown)
  [[ -z $(git -C "$REPO" status --porcelain 2>/dev/null) ]] || git="$git + uncommitted changes"
  classic_apps=$(((APPS / MODULES) * CLASSIC_MODULES + (APPS % MODULES < CLASSIC_MODULES ? APPS % MODULES : CLASSIC_MODULES)))
  {
    echo "<!-- bench/density.sh: written by it, kept by bench/run.sh -->"
    echo "## Density: $(thousands "$APPS") apps in one process"
    echo
    echo "Written by \`bench/density.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'); serverless-wasm $git, binary built $(date -u -r "$SERVER" '+%Y-%m-%d %H:%M UTC')."
    echo "Command: \`$COMMAND_LINE\`."
    echo "Machine: $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(nproc) cores, $(uname -sr). Other processes used ${M[busy]}% of the CPU just before the server started."
    echo
    echo "$(thousands "$APPS") apps, each on its own route (\`GET /app/NNNNN\`), over $MODULES distinct modules assigned round-robin: $CLASSIC_MODULES classic (\`examples/hello.wat\`, each with its own greeting; $classic_apps apps) and $COMPONENT_MODULES wasi:http components (copies of the Rust hello component, each with its own trailing custom section; $((APPS - classic_apps)) apps). The compile cache was filled first by \`serverless-wasm check\` ($(seconds "${M[check_ms]}") for the $MODULES modules). Ready is the time from starting the server to its \`listening on\` line; RSS is VmRSS, read 1 s after what it follows. The first requests go to $COLD apps spread over the table, one request each, one after another on one keep-alive connection (a Python client; the time from sending the request to having read the body), one app of each module in turn: the rows below split them by whether the app's module had already served another app. The warm rate is wrk with $CONNECTIONS connections for $DURATION, cycling over $WARM_APPS of those apps."
    echo
    echo "| measurement | value | target |"
    echo "| --- | ---: | --- |"
    printf '| ready, warm compile cache%s | %s | %s |\n' "${M[ready_detail]:+ (server: “${M[ready_detail]}”)}" \
      "$(seconds "${M[ready_ms]}")" "$(mark "${M[ready_ms]}" "$TARGET_READY_MS" "≤ 2 s")"
    printf '| idle RSS after ready | %s | %s |\n' "$(mb "${M[idle_rss_kb]}")" \
      "$(mark "${M[idle_rss_kb]}" "$TARGET_IDLE_RSS_KB" "≤ 400 MB")"
    cold_row all "all"
    cold_row new "to an app whose module no app had used"
    cold_row shared "to an app whose module another app had used"
    printf '| RSS after the first requests | %s | |\n' "$(mb "${M[cold_rss_kb]}")"
    printf '| warm rate over %d apps (c=%d): req/s, p50, p99 | %.0f, %s, %s | |\n' "$WARM_APPS" "$CONNECTIONS" \
      "${M[warm_rps]}" "$(ms "${M[warm_p50]}")" "$(ms "${M[warm_p99]}")"
    printf '| RSS after the warm requests (peak) | %s (%s) | |\n' "$(mb "${M[warm_rss_kb]}")" "$(mb "${M[hwm_kb]}")"
    echo "<!-- /bench/density.sh -->"
  } >"$file"
}

main() {
  if (($# > 0)); then
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    [[ $1 == -h || $1 == --help ]] && exit 0
    exit 2
  fi
  local tool
  for tool in wrk curl python3; do
    command -v "$tool" >/dev/null || die "$tool is not installed (apt-get install $tool)"
  done
  ((APPS >= 1 && MODULES >= 1 && COLD >= 1 && WARM_APPS >= 1)) || die "DENSITY_APPS, the module counts, DENSITY_COLD and DENSITY_WARM_APPS must be positive"
  ((COLD <= APPS)) || COLD=$APPS
  ((WARM_APPS <= COLD)) || WARM_APPS=$COLD
  COMMAND_LINE="$(env | grep -o '^\(BENCH\|DENSITY\)_[A-Z_]*=[^ ]*' | sort | tr '\n' ' ')bench/density.sh"
  # With a backtrace requested, wasmtime captures one for every error it
  # makes: measure what a deployment runs.
  unset RUST_BACKTRACE RUST_LIB_BACKTRACE
  rm -rf "$RESULTS"
  mkdir -p "$RESULTS/logs"
  build
  log "generating $APPS apps over $MODULES modules ($CLASSIC_MODULES classic, $COMPONENT_MODULES components)"
  generate_apps
  write_client
  fill_cache
  wait_quiet
  start_server
  first_requests
  warm_requests
  stop "$PID"
  write_section
  if [[ ${DENSITY_NO_REPORT:-0} == 1 ]]; then
    log "DENSITY_NO_REPORT=1: wrote $RESULTS/density.md only"
  else
    cp "$RESULTS/density.md" "$SECTION"
    splice "$SCRIPT" "$SECTION" "$MARKDOWN"
    log "wrote bench/density.md and BENCHMARKS.md"
  fi
  cat "$RESULTS/density.md"
}

main "$@"
