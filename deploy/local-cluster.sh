#!/usr/bin/env bash
# deploy/local-cluster.sh: a serverless-wasm cluster on one machine, and the
# checks that it behaves as one. Starts, on 127.0.0.1 and free ports, moto's
# S3 server, redis-server, three serverless-wasm nodes with one config (every
# module from s3://, every key-value store on Redis, poll_seconds = 1) and
# nginx balancing across them; then checks, printing what it measured:
#
#   1. every node serves every app through nginx;
#   2. a key-value write through one node is read through the others, and
#      3 nodes x 64 concurrent increments of one key land exactly;
#   3. a new module version uploaded to S3 reaches all three nodes within
#      poll_seconds + 2 s, with 0 failed requests under load meanwhile;
#   4. kill -9 of a node under load: only its in-flight requests fail
#      (counted), nginx routes around it, and restarted it rejoins, serving
#      from its caches;
#   5. SIGTERM of a node under load (GETs; see check 5 for why): /readyz
#      turns 503 first, its in-flight uploads finish, 0 requests fail
#      through nginx.
#
# Everything it starts is stopped by process id when it exits, also on
# failure. Exit status: 0 when every check passed, 1 otherwise.
#
# Usage: deploy/local-cluster.sh [SERVERLESS_WASM_BINARY]
#
# Environment:
#   SERVERLESS_WASM   the binary (default: target/release/serverless-wasm,
#                     else target/debug/serverless-wasm)
#   NOTES_WASM        examples/rust/notes built (default: built here with cargo)
#   COUNTER_WASM      examples/wasi-http/rust/counter built (likewise)
#   MOTO_SERVER       moto_server (default: on PATH, else .venv/bin/moto_server)
#   CLUSTER_KEEP=1    keep the scratch directory (configs, logs) afterwards
#
# Needs: curl, python3 (to find free ports), redis-server, nginx and
# moto_server; see docs/cluster.md for installing them.
set -euo pipefail

SCRIPT=deploy/local-cluster.sh
REPO=$(cd "$(dirname "$0")/.." && pwd)
POLL_SECONDS=1
# Load generator: curl requests in flight at once, per load.
LOAD_CONCURRENCY=4

# ---------------------------------------------------------------- helpers

STARTED=$EPOCHREALTIME
log() { printf '[%6.2fs] %s\n' "$(elapsed "$STARTED")" "$*"; }
fail() {
  printf '%s: FAILED: %s\n' "$SCRIPT" "$*" >&2
  exit 1
}
# elapsed START: seconds since START (an $EPOCHREALTIME), two decimals.
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.2f", b - a }'; }
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
need() { command -v "$1" >/dev/null || fail "$1 is not installed; $2"; }

# Every process started here, by pid, for cleanup.
PIDS=()
# stop_pid PID [SIGNAL]: signals it (TERM by default), waits up to 10 s, then
# SIGKILL; forgets it.
stop_pid() {
  local pid=$1 signal=${2:-TERM} _ kept=() other
  if kill "-$signal" "$pid" 2>/dev/null; then
    for _ in $(seq 100); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  # Braces: bash reports a killed job on its own stderr, not wait's.
  { wait "$pid"; } 2>/dev/null || true
  for other in "${PIDS[@]}"; do
    [[ $other == "$pid" ]] || kept+=("$other")
  done
  PIDS=("${kept[@]}")
}
# await_pid PID SECONDS: lets it end by itself within SECONDS, else stops it;
# the caller reads its exit status from what it wrote.
await_pid() {
  local pid=$1 _
  for _ in $(seq $(($2 * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  stop_pid "$pid"
}

cleanup() {
  local status=$? pid
  trap - EXIT INT TERM
  # Load generators first, so that they do not count what stopping causes.
  touch "$RUN"/*.stop 2>/dev/null || true
  for ((pid = ${#PIDS[@]} - 1; pid >= 0; pid--)); do
    stop_pid "${PIDS[pid]}"
  done
  if ((status != 0)) && [[ -d ${RUN:-} ]]; then
    local file
    for file in "$RUN"/node*.log "$RUN"/nginx/error.log; do
      [[ -s $file ]] || continue
      echo "--- last lines of $file" >&2
      tail -n 15 "$file" >&2
    done
  fi
  if [[ ${CLUSTER_KEEP:-} == 1 ]]; then
    echo "kept $RUN" >&2
  elif [[ -d ${RUN:-} ]]; then
    rm -rf "$RUN"
  fi
  exit "$status"
}

# ---------------------------------------------------------------- tools

BIN=${1:-${SERVERLESS_WASM:-}}
if [[ -z $BIN ]]; then
  for BIN in "$REPO/target/release/serverless-wasm" "$REPO/target/debug/serverless-wasm"; do
    [[ -x $BIN ]] && break
  done
fi
[[ -x $BIN ]] || fail "no serverless-wasm binary at '$BIN'; build it with 'cargo build --release' or pass its path"
need curl "apt-get install -y curl"
need python3 "apt-get install -y python3"
need redis-server "apt-get install -y redis-server"
PATH=$PATH:/usr/sbin
need nginx "apt-get install -y nginx"
MOTO=${MOTO_SERVER:-$(command -v moto_server || echo "$REPO/.venv/bin/moto_server")}
[[ -x $MOTO ]] || fail "moto_server not found; python3 -m venv .venv && .venv/bin/pip install 'moto[server]'"

# The guests not written in text are built from examples/ unless given.
if [[ -z ${NOTES_WASM:-} ]]; then
  (cd "$REPO/examples/rust" && cargo build --quiet --release --target wasm32-unknown-unknown -p notes)
  NOTES_WASM=$REPO/examples/rust/target/wasm32-unknown-unknown/release/notes.wasm
fi
if [[ -z ${COUNTER_WASM:-} ]]; then
  (cd "$REPO/examples/wasi-http/rust" && cargo build --quiet --release --target wasm32-wasip2 -p counter)
  COUNTER_WASM=$REPO/examples/wasi-http/rust/target/wasm32-wasip2/release/counter.wasm
fi
[[ -f $NOTES_WASM && -f $COUNTER_WASM ]] || fail "missing $NOTES_WASM or $COUNTER_WASM"

RUN=$(mktemp -d "${TMPDIR:-/tmp}/local-cluster.XXXXXX")
trap cleanup EXIT
trap 'exit 1' INT TERM

# ---------------------------------------------------------------- S3 and Redis

S3_PORT=$(free_port)
S3=http://127.0.0.1:$S3_PORT
"$MOTO" -H 127.0.0.1 -p "$S3_PORT" </dev/null >"$RUN/moto.log" 2>&1 &
PIDS+=($!)
REDIS_PORT=$(free_port)
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' --appendonly no \
  --dir "$RUN" --daemonize no </dev/null >"$RUN/redis.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 300); do
  curl -sf -o /dev/null "$S3" && break
  kill -0 "${PIDS[0]}" 2>/dev/null || fail "moto_server exited: $(tail -n 5 "$RUN/moto.log")"
  sleep 0.1
done
curl -sf -o /dev/null "$S3" || fail "moto_server did not answer on $S3 in 30 s"
log "S3 (moto_server) on $S3, redis-server on 127.0.0.1:$REDIS_PORT"

# S3 requests are signed with the test credentials the nodes use too
# (moto refuses an unsigned overwrite).
s3() { curl -sf -o /dev/null --aws-sigv4 aws:amz:us-east-1:s3 --user test:test "$@"; }
# upload FILE KEY: puts FILE into the bucket (moto needs a content type).
upload() {
  s3 -X PUT -H 'content-type: application/wasm' \
    --data-binary "@$1" "$S3/modules/$2" || fail "upload of $2 to $S3 failed"
}
# A classic guest answering "version N".
version_module() {
  local text="version $1"
  printf '(module\n  (import "env" "response_set_body" (func $body (param i32 i64)))\n'
  printf '  (memory (export "memory") 1)\n  (data (i32.const 0) "%s")\n' "$text"
  printf '  (func (export "handle") (call $body (i32.const 0) (i64.const %d))))\n' "${#text}"
}
s3 -X PUT "$S3/modules" || fail "cannot create the bucket on $S3"
version_module 1 >"$RUN/version-1.wat"
version_module 2 >"$RUN/version-2.wat"
upload "$REPO/examples/hello.wat" hello.wat
upload "$REPO/examples/echo.wat" echo.wat
upload "$RUN/version-1.wat" version.wat
upload "$NOTES_WASM" notes.wasm
upload "$COUNTER_WASM" counter.wasm

# ---------------------------------------------------------------- the nodes

# One config for every node. Each node's --listen, --data-dir and
# --cache-dir are its own; its admin port is the free one it logs. The
# modules that never change here are pinned by digest: fetched once, never
# polled, so that each poll (and each reload) asks S3 about one module only.
pin() { echo "sha256:$(sha256sum "$1" | cut -d' ' -f1)"; }
cat >"$RUN/config.toml" <<EOF
listen_address = "127.0.0.1:0"
admin_address = "127.0.0.1:0"
poll_seconds = $POLL_SECONDS
s3_endpoint = "$S3"

# The URL comes from the environment, as a Kubernetes Secret gives it.
[key_value_stores.default]
type = "redis"
url_env = "REDIS_URL"

[[applications]]
name = "hello"
source = "s3://modules/hello.wat"
digest = "$(pin "$REPO/examples/hello.wat")"
method = "GET"
url_path = "/hello"

[[applications]]
name = "echo"
source = "s3://modules/echo.wat"
digest = "$(pin "$REPO/examples/echo.wat")"
method = ["GET", "POST"]
url_path = "/echo/..."

# The same module again, for the slow uploads of checks 4 and 5, so that
# the nodes' metrics count those apart from the load's.
[[applications]]
name = "upload"
source = "s3://modules/echo.wat"
digest = "$(pin "$REPO/examples/echo.wat")"
method = ["GET", "POST"]
url_path = "/upload"

[[applications]]
name = "version"
source = "s3://modules/version.wat"
method = "GET"
url_path = "/version"

[[applications]]
name = "notes"
source = "s3://modules/notes.wasm"
digest = "$(pin "$NOTES_WASM")"
method = ["GET", "PUT", "DELETE"]
url_path = "/notes/..."

[[applications]]
name = "counter"
source = "s3://modules/counter.wasm"
digest = "$(pin "$COUNTER_WASM")"
method = ["GET", "POST"]
url_path = "/counter"
EOF
APPS=(/hello /echo/x /upload /version /notes/ /counter)

NODE_PORT=() NODE_PID=() NODE_ADMIN=() NODE_STARTS=()
for i in 1 2 3; do
  NODE_PORT[i]=$(free_port)
  NODE_STARTS[i]=0
  mkdir -p "$RUN/node$i"
done

# start_node I: starts node I in the background, its log in node<I>.<n>.log.
start_node() {
  local i=$1
  NODE_STARTS[i]=$((NODE_STARTS[i] + 1))
  AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
    REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0" RUST_LOG=info \
    "$BIN" serve "$RUN/config.toml" --listen "127.0.0.1:${NODE_PORT[i]}" \
    --data-dir "$RUN/node$i/data" --cache-dir "$RUN/node$i/cache" \
    </dev/null >"$RUN/node$i.${NODE_STARTS[i]}.log" 2>&1 &
  NODE_PID[i]=$!
  PIDS+=("${NODE_PID[i]}")
}

# wait_ready I: waits (60 s at most) for node I's admin address in its log,
# then for its /readyz to say 200.
wait_ready() {
  local i=$1 logfile="$RUN/node$1.${NODE_STARTS[$1]}.log" _
  for _ in $(seq 600); do
    kill -0 "${NODE_PID[i]}" 2>/dev/null || fail "node $i exited at start-up: $(tail -n 5 "$logfile")"
    NODE_ADMIN[i]=$(sed -n 's#.*admin listening on http://\([0-9.]*:[0-9]*\).*#\1#p' "$logfile" | head -n 1)
    if [[ -n ${NODE_ADMIN[i]} ]] && [[ $(curl -s -o /dev/null -w '%{http_code}' "http://${NODE_ADMIN[i]}/readyz") == 200 ]]; then
      return
    fi
    sleep 0.1
  done
  fail "node $i was not ready within 60 s: $(tail -n 5 "$logfile")"
}

node_url() { echo "http://127.0.0.1:${NODE_PORT[$1]}"; }

for i in 1 2 3; do start_node "$i"; done
for i in 1 2 3; do wait_ready "$i"; done
for i in 1 2 3; do
  log "node $i (pid ${NODE_PID[i]}): $(node_url "$i"), admin http://${NODE_ADMIN[i]}"
done

# ---------------------------------------------------------------- nginx

NGINX_PORT=$(free_port)
NGINX=http://127.0.0.1:$NGINX_PORT
mkdir -p "$RUN/nginx"
cat >"$RUN/nginx/nginx.conf" <<EOF
worker_processes 1;
error_log $RUN/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $RUN/nginx/client_body;
    proxy_temp_path $RUN/nginx/proxy;
    fastcgi_temp_path $RUN/nginx/fastcgi;
    uwsgi_temp_path $RUN/nginx/uwsgi;
    scgi_temp_path $RUN/nginx/scgi;
    upstream serverless_wasm {
        # A node that refuses a connection is left out for 1 s (passive
        # checks: open-source nginx has no active ones).
        server 127.0.0.1:${NODE_PORT[1]} max_fails=1 fail_timeout=1s;
        server 127.0.0.1:${NODE_PORT[2]} max_fails=1 fail_timeout=1s;
        server 127.0.0.1:${NODE_PORT[3]} max_fails=1 fail_timeout=1s;
    }
    server {
        listen 127.0.0.1:$NGINX_PORT;
        location / {
            proxy_pass http://serverless_wasm;
            # Request bodies stream to the node as they arrive (HTTP/1.1
            # for chunked ones), so that a slow upload is in flight there.
            proxy_http_version 1.1;
            proxy_request_buffering off;
            # nginx's default: on a refused or broken connection, try the
            # next node, except for a non-idempotent request (POST) already
            # sent, which may have run.
            proxy_next_upstream error timeout;
            proxy_connect_timeout 2s;
            # Which node answered (or failed), for the checks.
            add_header X-Upstream \$upstream_addr always;
        }
    }
}
EOF
nginx -p "$RUN/nginx" -c "$RUN/nginx/nginx.conf" -g "daemon off; pid $RUN/nginx/nginx.pid;" \
  </dev/null >"$RUN/nginx/stdout.log" 2>&1 &
PIDS+=($!)
NGINX_PID=$!
for _ in $(seq 100); do
  curl -s -o /dev/null "$NGINX/hello" && break
  kill -0 "$NGINX_PID" 2>/dev/null || fail "nginx exited: $(cat "$RUN/nginx/stdout.log" "$RUN/nginx/error.log" 2>/dev/null)"
  sleep 0.1
done
log "nginx (pid $NGINX_PID) on $NGINX, balancing across the three nodes"

# ---------------------------------------------------------------- load

# load_start NAME [get]: sends GET /hello, GET /version and POST /echo/load
# (with "get": GET /echo/load) through nginx, LOAD_CONCURRENCY at a time, in
# batches until load_stop. One line per request in NAME.load: status,
# method, upstream(s).
load_start() {
  local name=$1 format='%{http_code} %{method} %header{x-upstream}\n' method=POST
  [[ ${2:-} != get ]] || method=GET
  rm -f "$RUN/$name.stop"
  : >"$RUN/$name.load"
  (
    while [[ ! -e $RUN/$name.stop ]]; do
      curl -s --parallel --parallel-max "$LOAD_CONCURRENCY" --max-time 10 \
        -o /dev/null -w "$format" "$NGINX/hello?[1-10]" \
        --next -s --max-time 10 -o /dev/null -w "$format" "$NGINX/version?[1-10]" \
        --next -s --max-time 10 -o /dev/null -w "$format" -X "$method" \
        -H 'content-type: text/plain' --data-binary 'a request body' "$NGINX/echo/load?[1-10]" \
        >>"$RUN/$name.load" 2>/dev/null || true
    done
  ) &
  LOAD_PID=$!
  PIDS+=("$LOAD_PID")
}
# load_stop NAME: stops it after its current batch; sets LOAD_TOTAL and
# LOAD_FAILED (every answer but 200, connection failures included).
load_stop() {
  touch "$RUN/$1.stop"
  await_pid "$LOAD_PID" 30 # it ends after its batch
  LOAD_TOTAL=$(wc -l <"$RUN/$1.load")
  LOAD_FAILED=$(awk '$1 != 200' "$RUN/$1.load" | wc -l)
  ((LOAD_TOTAL > 0)) || fail "the load generator sent nothing"
}

# in_flight I: how many uploads node I is running, from its metrics.
in_flight() {
  curl -s "http://${NODE_ADMIN[$1]}/metrics" |
    sed -n 's/^serverless_wasm_requests_in_flight{app="upload"} \([0-9]*\).*/\1/p'
}
# slow_start NAME I: sends POST /upload through nginx, one every 0.15 s,
# until node I has one in flight (12 at most). Their bodies arrive in two
# parts 2 s apart, so they are still in flight 2 s later. Sets SLOW_SENT and
# SLOW_ON (node I's count).
slow_start() {
  local name=$1 node=$2 k
  SLOW_PIDS=() SLOW_SENT=0 SLOW_ON=0
  for k in $(seq 12); do
    {
      printf 'first half, '
      sleep 2
      printf 'second half'
    } | curl -s -o "$RUN/$name.slow$k.body" -w '%{http_code} POST %header{x-upstream}\n' \
      --max-time 10 -X POST -T - -H 'content-type: text/plain' "$NGINX/upload" \
      >"$RUN/$name.slow$k" 2>/dev/null &
    SLOW_PIDS+=($!)
    PIDS+=($!)
    SLOW_SENT=$k
    sleep 0.15
    SLOW_ON=$(in_flight "$node")
    ((${SLOW_ON:-0} == 0)) || return 0
  done
  fail "none of 12 uploads through nginx reached node $node"
}
# slow_wait NAME: waits for them; NAME.slow has a line per request: status,
# method, upstream; "lost-" before the status if the whole body did not
# come back.
slow_wait() {
  local pid k
  for pid in "${SLOW_PIDS[@]}"; do await_pid "$pid" 15; done
  for k in $(seq "$SLOW_SENT"); do
    if [[ $(cat "$RUN/$1.slow$k.body" 2>/dev/null) == "first half, second half" ]]; then
      cat "$RUN/$1.slow$k"
    else
      echo "lost-$(cat "$RUN/$1.slow$k")"
    fi
  done >"$RUN/$1.slow"
}

CHECKS=0
pass() {
  CHECKS=$((CHECKS + 1))
  log "ok: $*"
}

# ---------------------------------------------------------------- 1

echo
log "check 1: every node serves every app through nginx"
for app in "${APPS[@]}"; do
  seen=""
  for _ in $(seq 30); do
    answer=$(curl -s -o /dev/null -w '%{http_code} %header{x-upstream}' "$NGINX$app")
    [[ ${answer%% *} == 200 ]] || fail "GET $app through nginx answered ${answer}"
    upstream=${answer#* }
    [[ " $seen " == *" $upstream "* ]] || seen="$seen $upstream"
    [[ $(wc -w <<<"$seen") == 3 ]] && break
  done
  [[ $(wc -w <<<"$seen") == 3 ]] || fail "GET $app was served only by$seen"
  log "  GET $app: 200 from$seen"
done
pass "${#APPS[@]} apps x 3 nodes, all 200 through nginx"

# ---------------------------------------------------------------- 2

echo
log "check 2: state is shared through Redis"
note="written through node 1 at $EPOCHREALTIME"
[[ $(curl -s -X PUT --data-binary "$note" "$(node_url 1)/notes/cluster") == stored ]] ||
  fail "PUT /notes/cluster through node 1 failed"
for i in 2 3; do
  read_back=$(curl -s "$(node_url "$i")/notes/cluster")
  [[ $read_back == "$note" ]] || fail "node $i read '$read_back', not '$note'"
done
log "  PUT /notes/cluster through node 1, read back the same through nodes 2 and 3"
pass "a write through one node is read through the others"

hits() { sed -n 's/^hits: \([0-9]*\)$/\1/p' "$1"; }
curl -s -o "$RUN/hits-before" "$(node_url 1)/counter"
before=$(hits "$RUN/hits-before")
[[ -n $before ]] || fail "/counter answered '$(cat "$RUN/hits-before")'"
mkdir -p "$RUN/increments"
increments=()
for i in 1 2 3; do
  curl -s --parallel --parallel-immediate --parallel-max 64 --max-time 30 \
    -o "$RUN/increments/node${i}_#1" -w '%{http_code}\n' "$(node_url "$i")/counter?[1-64]" \
    >"$RUN/increments/node$i.codes" 2>/dev/null &
  increments+=($!)
  PIDS+=($!)
done
for pid in "${increments[@]}"; do await_pid "$pid" 30; done
ok=$(cat "$RUN"/increments/node*.codes | grep -c '^200$' || true)
((ok == 192)) || fail "$((192 - ok)) of 192 increments did not answer 200"
for file in "$RUN"/increments/node*_*; do hits "$file"; done | sort -n >"$RUN/increments/values"
seq $((before + 1)) $((before + 192)) >"$RUN/increments/expected"
cmp -s "$RUN/increments/values" "$RUN/increments/expected" ||
  fail "the 192 increments answered $(sort -n "$RUN/increments/values" | uniq -d | wc -l) duplicate values and $(wc -l <"$RUN/increments/values") in all, not $((before + 1))..$((before + 192)) once each"
curl -s -o "$RUN/hits-after" "$(node_url 2)/counter"
after=$(hits "$RUN/hits-after")
((after == before + 193)) || fail "after 192 increments from $before, the next one answered $after, not $((before + 193))"
log "  192 concurrent increments (64 through each node) answered $((before + 1))..$((before + 192)), each once; the next one $after"
pass "3 nodes x 64 concurrent increments of one key landed exactly"

# ---------------------------------------------------------------- 3

echo
log "check 3: rolling out a new module version through S3"
for i in 1 2 3; do
  [[ $(curl -s "$(node_url "$i")/version") == "version 1" ]] || fail "node $i does not serve version 1"
done
load_start rollout
sleep 1
upload "$RUN/version-2.wat" version.wat
uploaded=$EPOCHREALTIME
bound=$((POLL_SECONDS + 2))
declare -A rolled=()
while ((${#rolled[@]} < 3)); do
  for i in 1 2 3; do
    [[ -z ${rolled[$i]:-} ]] || continue
    if [[ $(curl -s "$(node_url "$i")/version") == "version 2" ]]; then
      rolled[$i]=$(elapsed "$uploaded")
    fi
  done
  if awk -v t="$(elapsed "$uploaded")" -v b="$bound" 'BEGIN { exit !(t > b) }'; then
    fail "after ${bound} s, version 2 is served only by node(s) ${!rolled[*]}"
  fi
  sleep 0.05
done
ROLLOUT=$(printf '%s\n' "${rolled[@]}" | sort -n | tail -n 1)
sleep 1
load_stop rollout
ROLLOUT_TOTAL=$LOAD_TOTAL ROLLOUT_FAILED=$LOAD_FAILED
log "  version 2 served by node 1 after ${rolled[1]} s, node 2 after ${rolled[2]} s, node 3 after ${rolled[3]} s (bound: poll_seconds + 2 = $bound s)"
log "  load through nginx meanwhile: $ROLLOUT_FAILED of $ROLLOUT_TOTAL requests failed"
((ROLLOUT_FAILED == 0)) || fail "$ROLLOUT_FAILED requests failed during the rollout: $(awk '$1 != 200' "$RUN/rollout.load" | sort | uniq -c)"
pass "version 2 on all three nodes ${ROLLOUT} s after the upload, 0 failed requests"

# ---------------------------------------------------------------- 4

echo
log "check 4: kill -9 of node 2 under load"
load_start crash
sleep 0.5
slow_start crash 2
kill -KILL "${NODE_PID[2]}"
killed=$EPOCHREALTIME
stop_pid "${NODE_PID[2]}" 2>/dev/null
slow_wait crash
sleep 0.5
load_stop crash
cat "$RUN/crash.slow" >>"$RUN/crash.load"
CRASH_TOTAL=$((LOAD_TOTAL + SLOW_SENT))
CRASH_FAILED=$(awk '$1 != 200' "$RUN/crash.load" | wc -l)
CRASH_IN_FLIGHT=$SLOW_ON
node2=127.0.0.1:${NODE_PORT[2]}
# A failure must be a request node 2 had (its upstream is node 2 alone):
# POSTs in flight. nginx retries a GET elsewhere, and any request that was
# refused a connection (not yet sent).
others=$(awk -v n="$node2" '$1 != 200 && $3 != n' "$RUN/crash.load" | wc -l)
((others == 0)) || fail "$others failed requests were not node 2's: $(awk -v n="$node2" '$1 != 200 && $3 != n' "$RUN/crash.load" | sort | uniq -c)"
failed_gets=$(awk '$1 != 200 && $2 != "POST"' "$RUN/crash.load" | wc -l)
((failed_gets == 0)) || fail "$failed_gets GET requests failed; nginx should have retried them"
slow_lost=$(awk '$1 != 200' "$RUN/crash.slow" | wc -l)
((slow_lost == CRASH_IN_FLIGHT)) ||
  fail "$slow_lost uploads failed, but node 2 had $CRASH_IN_FLIGHT in flight: $(cat "$RUN/crash.slow")"
((CRASH_FAILED <= LOAD_CONCURRENCY + CRASH_IN_FLIGHT)) ||
  fail "$CRASH_FAILED requests failed, more than node 2 could have had in flight"
rerouted=$(awk -v n="$node2" '$1 == 200 && index($3, n ",") == 1' "$RUN/crash.load" | wc -l)
log "  slow uploads through nginx: $SLOW_SENT, in flight on node 2 when it was killed: $CRASH_IN_FLIGHT;"
log "  failed: $slow_lost (those on node 2), finished whole: $((SLOW_SENT - slow_lost))"
log "  all requests through nginx: $CRASH_FAILED of $CRASH_TOTAL failed, each a POST node 2 had in flight;"
log "  nginx answered $rerouted requests through another node after node 2 failed them"
pass "only node 2's in-flight requests failed ($CRASH_FAILED)"

restarted=$EPOCHREALTIME
start_node 2
wait_ready 2
log "  node 2 started again, ready in $(elapsed "$restarted") s (pid ${NODE_PID[2]}, admin http://${NODE_ADMIN[2]})"
for app in "${APPS[@]}"; do
  code=$(curl -s -o /dev/null -w '%{http_code}' "$(node_url 2)$app")
  [[ $code == 200 ]] || fail "restarted node 2 answered $code to GET $app"
done
[[ $(curl -s "$(node_url 2)/version") == "version 2" ]] || fail "restarted node 2 does not serve version 2"
metrics=$(curl -s "http://${NODE_ADMIN[2]}/metrics")
cache_hits=$(sed -n 's/^serverless_wasm_compile_cache_lookups_total{result="hit"} \([0-9]*\).*/\1/p' <<<"$metrics")
cache_misses=$(sed -n 's/^serverless_wasm_compile_cache_lookups_total{result="miss"} \([0-9]*\).*/\1/p' <<<"$metrics")
((${cache_hits:-0} > 0 && ${cache_misses:-0} == 0)) ||
  fail "restarted node 2's compile cache: ${cache_hits:-0} hits, ${cache_misses:-0} misses (expected misses 0)"
blobs=$(find "$RUN/node2/data/modules" -path '*sha256*' -type f | wc -l)
log "  restarted node 2: compile cache ${cache_hits} hits, ${cache_misses:-0} misses; $blobs module blobs in its data_dir"
rejoined=""
for _ in $(seq 100); do
  upstream=$(curl -s -o /dev/null -w '%header{x-upstream}' "$NGINX/hello")
  if [[ $upstream == "$node2" ]]; then
    rejoined=$(elapsed "$killed")
    break
  fi
  sleep 0.05
done
[[ -n $rejoined ]] || fail "nginx sent nothing to restarted node 2"
pass "node 2 rejoined (nginx sent it a request ${rejoined} s after the kill), serving from its caches"

# ---------------------------------------------------------------- 5

echo
log "check 5: SIGTERM of node 3 under load"
# GETs only: a POST that reaches node 3's listen queue in the instant it
# closes is reset there, and nginx does not retry a POST it has sent (it
# may have run); it retries a GET. The uploads are POSTs already in flight.
load_start drain get
sleep 0.5
slow_start drain 3
DRAIN_IN_FLIGHT=$SLOW_ON
kill -TERM "${NODE_PID[3]}"
signalled=$EPOCHREALTIME
ready=""
for _ in $(seq 200); do
  if [[ $(curl -s -o /dev/null -w '%{http_code}' "http://${NODE_ADMIN[3]}/readyz") == 503 ]]; then
    ready=$(elapsed "$signalled")
    break
  fi
  sleep 0.01
done
[[ -n $ready ]] || fail "node 3's /readyz did not turn 503 within 2 s of SIGTERM"
still=$(in_flight 3)
((${still:-0} > 0)) || fail "node 3 had no upload in flight any more when /readyz turned 503"
log "  /readyz answered 503 ${ready} s after SIGTERM; uploads still in flight on node 3 then: $still"
slow_wait drain
log "  the uploads finished $(elapsed "$signalled") s after SIGTERM"
for _ in $(seq 100); do
  kill -0 "${NODE_PID[3]}" 2>/dev/null || break
  sleep 0.1
done
! kill -0 "${NODE_PID[3]}" 2>/dev/null || fail "node 3 still runs 10 s after SIGTERM"
exit_status=0
wait "${NODE_PID[3]}" || exit_status=$?
stop_pid "${NODE_PID[3]}"
((exit_status == 0)) || fail "node 3 exited with status $exit_status after SIGTERM"
log "  node 3 exited 0"
sleep 0.5
load_stop drain
cat "$RUN/drain.slow" >>"$RUN/drain.load"
DRAIN_TOTAL=$((LOAD_TOTAL + SLOW_SENT))
DRAIN_FAILED=$(awk '$1 != 200' "$RUN/drain.load" | wc -l)
log "  slow uploads through nginx: $SLOW_SENT, in flight on node 3 at SIGTERM: $DRAIN_IN_FLIGHT; all finished whole"
log "  all requests through nginx (GETs, and the uploads): $DRAIN_FAILED of $DRAIN_TOTAL failed"
((DRAIN_FAILED == 0)) || fail "$DRAIN_FAILED requests failed during the drain: $(awk '$1 != 200' "$RUN/drain.load" | sort | uniq -c)"
pass "node 3 drained: 503 on /readyz first, its requests finished, 0 failed requests"

# ---------------------------------------------------------------- summary

echo
log "all $CHECKS checks passed"
printf '  %-34s %s\n' \
  "rollout, S3 upload to 3 nodes" "${ROLLOUT} s (poll_seconds = $POLL_SECONDS); $ROLLOUT_FAILED of $ROLLOUT_TOTAL requests failed" \
  "kill -9 of a node" "$CRASH_FAILED of $CRASH_TOTAL requests failed, all in flight on it (uploads among them: $CRASH_IN_FLIGHT)" \
  "SIGTERM of a node" "/readyz 503 after ${ready} s; $DRAIN_FAILED of $DRAIN_TOTAL requests failed (uploads in flight on it: $DRAIN_IN_FLIGHT)"
