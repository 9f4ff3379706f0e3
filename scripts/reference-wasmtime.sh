# scripts/reference-wasmtime.sh: what scripts/compat.sh and bench/run.sh share
# to run the reference host, `wasmtime serve`, beside serverless-wasm: the
# pinned wasmtime-cli and where it lives, its installation, the wasm32-wasip2
# target, and a free port for it. Sourced, not run; the sourcing script sets
# REPO and defines log and die first.

WASMTIME_VERSION=48.0.8
WASMTIME_ROOT=$REPO/target/tools/wasmtime-$WASMTIME_VERSION
WASMTIME=$WASMTIME_ROOT/bin/wasmtime

# install_wasmtime [--force]: installs the pinned wasmtime-cli into
# WASMTIME_ROOT (cargo install --locked) unless it is there already, or
# again with --force; then checks that it is the pinned version.
install_wasmtime() {
  if [[ ${1:-} == --force ]]; then
    log "reinstalling wasmtime-cli $WASMTIME_VERSION into $WASMTIME_ROOT"
    cargo install wasmtime-cli --version "$WASMTIME_VERSION" --locked --root "$WASMTIME_ROOT" --force
  elif [[ -x $WASMTIME ]]; then
    log "reusing $WASMTIME"
  else
    log "installing wasmtime-cli $WASMTIME_VERSION into $WASMTIME_ROOT (several minutes, once)"
    cargo install wasmtime-cli --version "$WASMTIME_VERSION" --locked --root "$WASMTIME_ROOT"
  fi
  local version
  version=$("$WASMTIME" --version)
  # "wasmtime 48.0.8", possibly followed by " (commit date)".
  [[ $version == "wasmtime $WASMTIME_VERSION" || $version == "wasmtime $WASMTIME_VERSION "* ]] \
    || die "$WASMTIME is '$version', expected $WASMTIME_VERSION"
  log "$version"
}

# The Rust target the example components build for.
ensure_wasip2_target() {
  if ! rustup target list --installed | grep -qx wasm32-wasip2; then
    rustup target add wasm32-wasip2
  fi
}

# free_port [EXCEPT]: a port nothing listens on, for `wasmtime serve` (it
# cannot take port 0 and say which port it got). Below 32768, so it cannot
# collide with the ephemeral ports of servers bound to port 0 (the e2e tests
# may be running at the same time). EXCEPT: a port not to return.
free_port() {
  local port _
  for _ in $(seq 100); do
    port=$((20000 + RANDOM % 12000))
    [[ $port == "${1:-}" ]] && continue
    # A refused connection means the port is free.
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  die "no free port found"
}
