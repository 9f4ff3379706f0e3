# bench/lib.sh: what bench/run.sh, state.sh, reload.sh and density.sh share:
# logging, background processes (started, waited for, stopped by process
# id), reading wrk's output, and putting a section into BENCHMARKS.md.
# Sourced; expects STARTED (the script's start, in SECONDS), SCRIPT (its
# name, for errors), START_TIMEOUT and a BACKGROUND array.

log() { printf '[%3ds] %s\n' $((SECONDS - STARTED)) "$*" >&2; }
die() { printf '%s: error: %s\n' "$SCRIPT" "$*" >&2; exit 1; }

# start_bg LOGFILE COMMAND...: runs it in the background, stdout and stderr
# to LOGFILE; sets LAST_PID.
start_bg() {
  local logfile=$1
  shift
  : >"$logfile" # exists before the process opens it, for whoever polls it
  "$@" </dev/null >>"$logfile" 2>&1 &
  LAST_PID=$!
  BACKGROUND+=("$LAST_PID")
}

# stop PID: SIGTERM, then SIGKILL if it is still there after 10 s
# (serverless-wasm drains in-flight requests first; there are none). Forgets
# the PID, so that cleanup never signals a reused one.
stop() {
  local pid=$1 _ kept=() other
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
  fi
  wait "$pid" 2>/dev/null || true
  for other in "${BACKGROUND[@]}"; do
    [[ $other == "$pid" ]] || kept+=("$other")
  done
  BACKGROUND=("${kept[@]}")
}

# stop_background: stops every process start_bg started and nothing stopped
# yet; scripts run it on exit (`trap stop_background EXIT`), failure or not.
stop_background() {
  local pid
  for pid in "${BACKGROUND[@]}"; do stop "$pid"; done
}

# Percent of all CPU time that was busy over one second. Taken while our
# servers are idle, it is what other processes are using: a busy machine
# makes the numbers noisy, and the reports say so.
cpu_busy() {
  local before after
  before=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat)
  sleep 1
  after=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat)
  awk -v a="$before" -v b="$after" 'BEGIN {
    split(a, x, " "); split(b, y, " ")
    busy = y[1] - x[1]; total = busy + y[2] - x[2]
    printf "%.0f\n", (total > 0 ? 100 * busy / total : 0) }'
}

# wait_listening NAME PID LOGFILE: waits for the "listening on http://ADDR"
# line both serverless-wasm and native-hello print; sets ADDR.
wait_listening() {
  local name=$1 pid=$2 logfile=$3 deadline=$((SECONDS + START_TIMEOUT))
  until grep -q 'listening on http://' "$logfile"; do
    check_alive "$name" "$pid" "$logfile"
    ((SECONDS < deadline)) || { tail -n 20 "$logfile" >&2; die "$name did not start within ${START_TIMEOUT}s"; }
    sleep 0.01
  done
  ADDR=$(sed -n 's#.*listening on http://\([0-9.]*:[0-9]*\).*#\1#p' "$logfile" | head -n 1)
  [[ -n $ADDR ]] || die "$name: cannot read the address in $logfile"
}

check_alive() {
  if ! kill -0 "$2" 2>/dev/null; then
    tail -n 20 "$3" >&2
    die "$1 failed to start or exited (its log is above, and in $3)"
  fi
}

# Pulls req/s, p50 and p99 (in µs), requests and errors out of wrk --latency
# output, tab-separated; fails when a number is missing.
parse_wrk() {
  awk -v OFS='\t' '
    function us(v) {
      if (v ~ /us$/) return v + 0
      if (v ~ /ms$/) return v * 1000
      if (v ~ /s$/)  return v * 1000000
      if (v ~ /m$/)  return v * 60000000
      if (v ~ /h$/)  return v * 3600000000
      return v + 0
    }
    $1 == "50%" { p50 = us($2) }
    $1 == "99%" { p99 = us($2) }
    $1 == "Requests/sec:" { rps = $2 }
    / requests in / { requests = $1 }
    /Socket errors:/ { gsub(",", ""); errors += $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { errors += $NF }
    END {
      if (rps == "" || p50 == "" || p99 == "") exit 1
      print rps, p50, p99, requests + 0, errors + 0
    }' "$1"
}

# splice SCRIPT SECTION MARKDOWN: puts the file SECTION (which begins with
# `<!-- SCRIPT: ...` and ends with `<!-- /SCRIPT -->`) into MARKDOWN, in
# place of its last copy, or at the end.
splice() {
  local script=$1 section=$2 markdown=$3
  [[ -f $markdown ]] || { cp "$section" "$markdown"; return; }
  awk -v section="$section" -v begin="<!-- $script:" -v end="<!-- /$script -->" '
    index($0, begin) == 1 { skipping = 1; while ((getline line < section) > 0) print line; done = 1; next }
    $0 == end { skipping = 0; next }
    !skipping { print }
    END { if (!done) { print ""; while ((getline line < section) > 0) print line } }' "$markdown" >"$markdown.new"
  mv "$markdown.new" "$markdown"
}
