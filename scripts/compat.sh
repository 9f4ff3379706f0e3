#!/usr/bin/env bash
# compat.sh: does serverless-wasm answer like `wasmtime serve`?
#
# Serves each example wasi:http/proxy@0.2 component with both hosts, sends
# both the same requests with curl, and compares what comes back: the status,
# the headers a guest controls (content-type, x-echo-*) and the body bytes
# (sha256). Framing (content-length vs chunked) is compared separately,
# because HTTP lets a server pick either; the known framing-only differences
# are on an allow-list below, each with its reason.
#
#   scripts/compat.sh                    # all components
#   scripts/compat.sh rust-echo js-echo  # only these
#
# Environment:
#   COMPAT_REINSTALL_WASMTIME=1  reinstall the reference wasmtime (cargo install --force)
#   COMPAT_SKIP_BUILD=1          use the binaries and components already built
#   COMPAT_KEEP_SCRATCH=1        keep the scratch directory (every response's headers and body)
#
# Exit status: 0 when every answer matches (or differs only as allowed),
# 1 when any does not, 2 when the setup itself failed.
# Not part of `cargo test`: it builds the Python and JS guests and runs two
# servers per component (about a minute once everything is built).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# WASMTIME_VERSION, WASMTIME; install_wasmtime, ensure_wasip2_target, free_port.
source "$REPO/scripts/reference-wasmtime.sh"

SERVER=$REPO/target/release/serverless-wasm

# name -> component, in the order they run.
COMPONENT_NAMES=(rust-hello rust-echo python-echo js-echo rust-p3-hello rust-p3-echo)
declare -A COMPONENT=(
  [rust-hello]=$REPO/examples/wasi-http/rust/target/wasm32-wasip2/release/hello.wasm
  [rust-echo]=$REPO/examples/wasi-http/rust/target/wasm32-wasip2/release/echo.wasm
  [python-echo]=$REPO/examples/wasi-http/python/echo.wasm
  [js-echo]=$REPO/examples/wasi-http/js/echo.wasm
  [rust-p3-hello]=$REPO/examples/wasi-http/rust-p3/target/wasm32-wasip2/release/hello.wasm
  [rust-p3-echo]=$REPO/examples/wasi-http/rust-p3/target/wasm32-wasip2/release/echo.wasm
)

# The requests, in order; request_args() says what each one is.
REQUESTS=(
  get-root get-query head-root delete custom
  post-0 post-0-ct post-1k post-1k-ct post-10m post-10m-ct
  chunked-1k chunked-10m
)

# Framing-only differences that are fine: "component/request" globs, each
# with a comment saying why, e.g.
#   "js-echo/get-*"  # <why this framing difference does not matter>
# Only a request whose status, compared headers and body are all the same
# can be let through here; any other difference always fails.
# Empty because in every measured run both hosts framed every response alike
# (both are hyper underneath: content-length when the body's size is known
# up front, e.g. the JS echo's empty GET answers, chunked otherwise; no
# framing headers at all for HEAD).
ALLOWED_FRAMING=()

# Both hosts compile the component before they answer: the 18 MB Python one
# takes up to a minute on 2 busy cores.
READY_TIMEOUT=120
# curl --max-time: small requests, and the 10 MiB ones.
SMALL_TIMEOUT=30
LARGE_TIMEOUT=180
CONTENT_TYPE='text/plain; charset=utf-8'

PIDS=()      # servers currently running, killed on exit
SCRATCH=''   # mktemp -d, removed on exit
FAILED=0     # set when any comparison fails

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'compat.sh: error: %s\n' "$*" >&2; exit 2; }

# --- servers -----------------------------------------------------------------

stop_servers() {
  local pid
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}

cleanup() {
  stop_servers
  if [[ -z $SCRATCH ]]; then
    return
  elif [[ ${COMPAT_KEEP_SCRATCH:-0} == 1 ]]; then
    log "kept $SCRATCH"
  else
    rm -rf "$SCRATCH"
  fi
}

# start_server LOGFILE COMMAND...: runs it in the background, remembered in PIDS.
start_server() {
  local logfile=$1
  shift
  "$@" </dev/null >"$logfile" 2>&1 &
  PIDS+=("$!")
}

# wait_ready NAME PID URL LOGFILE: until the server answers any HTTP status.
wait_ready() {
  local name=$1 pid=$2 url=$3 logfile=$4 deadline=$((SECONDS + READY_TIMEOUT))
  until [[ $(curl -s -o /dev/null -w '%{http_code}' --noproxy '*' --max-time 5 "$url" || true) != 000 ]]; do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 20 "$logfile" >&2
      die "$name exited before answering (log above)"
    fi
    if ((SECONDS > deadline)); then
      tail -n 20 "$logfile" >&2
      die "$name did not answer $url within ${READY_TIMEOUT}s"
    fi
    sleep 0.5
  done
}

# --- setup -------------------------------------------------------------------

build_all() {
  if [[ ${COMPAT_SKIP_BUILD:-0} == 1 ]]; then
    log "COMPAT_SKIP_BUILD=1: not building"
  else
    log "building serverless-wasm (release)"
    (cd "$REPO" && cargo build --release)
    # Cargo reads .cargo/config.toml (which picks wasm32-wasip2) from the
    # working directory, so build from inside the workspace.
    log "building the Rust components"
    ensure_wasip2_target
    (cd "$REPO/examples/wasi-http/rust" && cargo build --release)
    (cd "$REPO/examples/wasi-http/rust-p3" && cargo build --release)
    log "building the Python component"
    "$REPO/examples/wasi-http/python/build.sh"
    log "building the JavaScript component"
    "$REPO/examples/wasi-http/js/build.sh"
  fi
  local name
  [[ -x $SERVER ]] || die "$SERVER is missing"
  for name in "${COMPONENT_NAMES[@]}"; do
    [[ -f ${COMPONENT[$name]} ]] || die "${COMPONENT[$name]} is missing"
  done
}

# Request bodies: random bytes, the same on every run and machine (an AES-CTR
# key stream from a fixed password), so a body mismatch can be reproduced.
make_bodies() {
  : >"$SCRATCH/body-0"
  openssl enc -aes-256-ctr -pbkdf2 -nosalt -pass pass:serverless-wasm-compat </dev/zero 2>/dev/null \
    | head -c $((10 * 1024 * 1024)) >"$SCRATCH/body-10m" || true
  head -c 1024 "$SCRATCH/body-10m" >"$SCRATCH/body-1k"
  [[ $(wc -c <"$SCRATCH/body-10m") -eq $((10 * 1024 * 1024)) ]] || die "could not generate the request bodies"
  log "10 MiB body: sha256 $(sha256sum <"$SCRATCH/body-10m" | cut -c1-16)..."
}

# --- requests ----------------------------------------------------------------

# request_args ID: sets LABEL (for the table), TARGET (path and query),
# TIMEOUT and ARGS (curl options) for request ID.
request_args() {
  local no_ct=(-H 'Content-Type:') # curl adds x-www-form-urlencoded otherwise
  local ct=(-H "Content-Type: $CONTENT_TYPE")
  TARGET=/
  TIMEOUT=$SMALL_TIMEOUT
  case $1 in
    get-root)    LABEL='GET /';                                ARGS=() ;;
    get-query)   LABEL='GET /some/path?x=1&y=two';             ARGS=(); TARGET='/some/path?x=1&y=two' ;;
    # curl never reads a body after --head: there is none to compare.
    head-root)   LABEL='HEAD /';                               ARGS=(--head) ;;
    delete)      LABEL='DELETE /d';                            ARGS=(-X DELETE); TARGET=/d ;;
    custom)      LABEL='PURGE /custom (custom method)';        ARGS=(-X PURGE); TARGET=/custom ;;
    post-0)      LABEL='POST 0 B, no content-type';            ARGS=(--data-binary "@$SCRATCH/body-0" "${no_ct[@]}") ;;
    post-0-ct)   LABEL='POST 0 B, content-type';               ARGS=(--data-binary "@$SCRATCH/body-0" "${ct[@]}") ;;
    post-1k)     LABEL='POST 1 KiB, no content-type';          ARGS=(--data-binary "@$SCRATCH/body-1k" "${no_ct[@]}") ;;
    post-1k-ct)  LABEL='POST 1 KiB, content-type';             ARGS=(--data-binary "@$SCRATCH/body-1k" "${ct[@]}") ;;
    post-10m)    LABEL='POST 10 MiB, no content-type';         ARGS=(--data-binary "@$SCRATCH/body-10m" "${no_ct[@]}"); TIMEOUT=$LARGE_TIMEOUT ;;
    post-10m-ct) LABEL='POST 10 MiB, content-type';            ARGS=(--data-binary "@$SCRATCH/body-10m" "${ct[@]}"); TIMEOUT=$LARGE_TIMEOUT ;;
    chunked-1k)  LABEL='POST 1 KiB chunked, content-type';     ARGS=(-H 'Transfer-Encoding: chunked' --data-binary "@$SCRATCH/body-1k" "${ct[@]}") ;;
    chunked-10m) LABEL='POST 10 MiB chunked, content-type';    ARGS=(-H 'Transfer-Encoding: chunked' --data-binary "@$SCRATCH/body-10m" "${ct[@]}"); TIMEOUT=$LARGE_TIMEOUT ;;
    *) die "unknown request $1" ;;
  esac
}

# The header lines of the last response in a curl -D dump (a "100 Continue"
# comes first when curl sent Expect), lowercased names, no CRs.
final_headers() {
  tr -d '\r' <"$1" | awk '
    /^HTTP\// { out = ""; next }
    /^$/      { next }
    { i = index($0, ":"); v = substr($0, i + 1); sub(/^[ \t]+/, "", v)
      out = out tolower(substr($0, 1, i - 1)) ": " v "\n" }
    END { printf "%s", out }'
}

# How the body was delimited: "chunked", "cl=N" (content-length) or "eof".
framing() {
  local headers=$1
  if grep -qi '^transfer-encoding: .*chunked' <<<"$headers"; then
    echo chunked
  elif grep -q '^content-length: ' <<<"$headers"; then
    echo "cl=$(sed -n 's/^content-length: //p' <<<"$headers" | head -n 1)"
  else
    echo eof
  fi
}

# send ID BASE_URL OUT_PREFIX: sends request ID and writes OUT_PREFIX.cmp
# (what must be equal), .framing, .short (a table cell) and .headers.
send() {
  local id=$1 base=$2 out=$3 status rc=0 headers size sha
  request_args "$id"
  status=$(curl -sS --noproxy '*' --max-time "$TIMEOUT" -D "$out.dump" -o "$out.body" \
    -w '%{http_code}' "${ARGS[@]}" "$base$TARGET" 2>"$out.err") || rc=$?
  [[ $id == head-root ]] && : >"$out.body" # --head writes the headers there
  [[ -f $out.dump ]] || : >"$out.dump"
  [[ -f $out.body ]] || : >"$out.body"
  ((rc == 0)) || status="$status/curl-exit-$rc"
  headers=$(final_headers "$out.dump")
  size=$(wc -c <"$out.body")
  sha=$(sha256sum <"$out.body" | cut -d' ' -f1)
  {
    echo "status: $status"
    grep -E '^(content-type|x-echo-[^:]*): ' <<<"$headers" | sort || true
    echo "body: $size bytes, sha256 $sha"
  } >"$out.cmp"
  framing "$headers" >"$out.framing"
  printf '%s %s %s %s' "$status" "$(human_size "$size")" "${sha:0:8}" "$(cat "$out.framing")" >"$out.short"
  grep -v '^date: ' <<<"$headers" >"$out.headers" || true
}

human_size() {
  if (($1 >= 1048576)); then
    echo "$(($1 / 1048576))MiB"
  elif (($1 >= 1024)); then
    echo "$(($1 / 1024))KiB"
  else
    echo "${1}B"
  fi
}

framing_allowed() {
  local key=$1 pattern
  for pattern in "${ALLOWED_FRAMING[@]}"; do
    # shellcheck disable=SC2053 # the allow-list entries are globs
    [[ $key == $pattern ]] && return 0
  done
  return 1
}

# --- one component -----------------------------------------------------------

# run_component NAME: serves it with both hosts, sends every request to
# both, prints the table and the details of every difference.
run_component() {
  local name=$1 wasm=${COMPONENT[$1]} dir="$SCRATCH/$1" wport sport config
  mkdir -p "$dir/wasmtime" "$dir/sw"
  wport=$(free_port)
  sport=$(free_port "$wport")

  config=$dir/config.toml
  cat >"$config" <<EOF
# generated by scripts/compat.sh: one app for every method and path
[[applications]]
file_path = '$wasm'
method = "*"
url_path = "/..."
EOF

  log "$name: wasmtime serve on 127.0.0.1:$wport, serverless-wasm on 127.0.0.1:$sport"
  start_server "$dir/wasmtime.log" "$WASMTIME" serve -S cli --addr "127.0.0.1:$wport" "$wasm"
  local wpid=${PIDS[-1]}
  start_server "$dir/sw.log" "$SERVER" serve "$config" --listen "127.0.0.1:$sport"
  local spid=${PIDS[-1]}
  wait_ready "wasmtime serve ($name)" "$wpid" "http://127.0.0.1:$wport/" "$dir/wasmtime.log"
  wait_ready "serverless-wasm ($name)" "$spid" "http://127.0.0.1:$sport/" "$dir/sw.log"

  local id
  for id in "${REQUESTS[@]}"; do
    send "$id" "http://127.0.0.1:$wport" "$dir/wasmtime/$id"
    send "$id" "http://127.0.0.1:$sport" "$dir/sw/$id"
  done
  stop_servers

  print_table "$name" "$dir"
}

# verdict NAME DIR ID: prints the verdict; returns 1 when it is a failure.
verdict() {
  local w=$2/wasmtime/$3 s=$2/sw/$3
  if ! cmp -s "$w.cmp" "$s.cmp"; then
    echo "DIFFERENT ($(what_differs "$w.cmp" "$s.cmp"))"
    return 1
  elif cmp -s "$w.framing" "$s.framing"; then
    echo same
  elif framing_allowed "$1/$3"; then
    echo 'same (framing: allowed)'
  else
    echo 'FRAMING DIFFERS'
    return 1
  fi
}

# what_differs A.cmp B.cmp: "status", "headers", "body", comma-separated.
what_differs() {
  local part parts=()
  for part in status headers body; do
    if ! cmp -s <(cmp_part "$part" "$1") <(cmp_part "$part" "$2"); then parts+=("$part"); fi
  done
  (IFS=,; echo "${parts[*]}")
}

# cmp_part PART FILE: that part of a .cmp file (see send).
cmp_part() {
  case $1 in
    status) grep '^status: ' "$2" || true ;;
    body) grep '^body: ' "$2" || true ;;
    headers) grep -v -e '^status: ' -e '^body: ' "$2" || true ;;
  esac
}

print_table() {
  local name=$1 dir=$2 id v failed=()
  printf '\n%s  (cells: status, body size, sha256 prefix, framing)\n' "$name"
  printf '%-36s | %-34s | %-34s | %s\n' request 'wasmtime serve' serverless-wasm verdict
  printf '%s\n' "$(printf -- '-%.0s' $(seq 130))"
  for id in "${REQUESTS[@]}"; do
    request_args "$id"
    v=$(verdict "$name" "$dir" "$id") || { failed+=("$id"); FAILED=1; }
    printf '%-36s | %-34s | %-34s | %s\n' "$LABEL" \
      "$(cat "$dir/wasmtime/$id.short")" "$(cat "$dir/sw/$id.short")" "$v"
  done
  for id in "${failed[@]}"; do
    print_difference "$name" "$dir" "$id"
  done
  print_extra_headers "$dir"
}

# Not compared, but worth knowing: header names only one host ever sent
# (serverless-wasm adds x-request-id, for one).
print_extra_headers() {
  local dir=$1 w s
  w=$(cut -d: -f1 "$dir"/wasmtime/*.headers | sort -u)
  s=$(cut -d: -f1 "$dir"/sw/*.headers | sort -u)
  printf 'headers not compared, sent only by wasmtime serve: %s; only by serverless-wasm: %s\n' \
    "$(comm -23 <(echo "$w") <(echo "$s") | paste -sd, - | sed 's/^$/none/')" \
    "$(comm -13 <(echo "$w") <(echo "$s") | paste -sd, - | sed 's/^$/none/')"
}

# The compared fields and the full headers (date left out) of both answers.
print_difference() {
  local name=$1 dir=$2 id=$3 side
  request_args "$id"
  printf '\n  %s: %s\n' "$LABEL" "$(verdict "$name" "$dir" "$id" || true)"
  for side in wasmtime sw; do
    printf '    %s:\n' "$([[ $side == sw ]] && echo serverless-wasm || echo 'wasmtime serve')"
    sed 's/^/      /' "$dir/$side/$id.cmp"
    sed 's/^/      | /' "$dir/$side/$id.headers"
    if [[ -s $dir/$side/$id.err ]]; then sed 's/^/      curl: /' "$dir/$side/$id.err"; fi
    if [[ $(wc -c <"$dir/$side/$id.body") -gt 0 && $(wc -c <"$dir/$side/$id.body") -le 200 ]]; then
      printf '      body: %q\n' "$(cat "$dir/$side/$id.body")"
    fi
  done
}

# --- main --------------------------------------------------------------------

main() {
  local names=("$@") name
  ((${#names[@]})) || names=("${COMPONENT_NAMES[@]}")
  for name in "${names[@]}"; do
    [[ -n ${COMPONENT[$name]:-} ]] || die "unknown component '$name' (known: ${COMPONENT_NAMES[*]})"
  done
  command -v curl >/dev/null || die "curl not found"
  command -v openssl >/dev/null || die "openssl not found (generates the request bodies)"

  trap cleanup EXIT
  trap 'exit 2' INT TERM
  SCRATCH=$(mktemp -d)

  if [[ ${COMPAT_REINSTALL_WASMTIME:-0} == 1 ]]; then
    install_wasmtime --force
  else
    install_wasmtime
  fi
  build_all
  make_bodies

  local started=$SECONDS
  for name in "${names[@]}"; do
    run_component "$name"
  done
  printf '\n%d components x %d requests compared in %ds: %s\n' "${#names[@]}" "${#REQUESTS[@]}" \
    $((SECONDS - started)) "$( ((FAILED)) && echo 'DIFFERENCES FOUND' || echo 'all the same')"
  return "$FAILED"
}

main "$@"
