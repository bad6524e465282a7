#!/usr/bin/env bash
# moto's server (a third-party AWS emulator with a Step Functions ASL
# interpreter) for the Step Functions adapter's and the promotion workflow's
# tests (shared/sfn, shared/workflow). Protocol: scripts/test.d/README.md.
#
#   moto.sh start STATE_DIR   install moto into the shared virtualenv if
#                             needed, start moto's server on 127.0.0.1 and
#                             print MODELREG_MOTO_ENDPOINT=http://127.0.0.1:PORT
#   moto.sh stop STATE_DIR    stop it by the pid saved in STATE_DIR
#
# The virtualenv is _tools/venv: one environment for all the project's Python
# tooling (moto now; the MLflow and Python client tests later add their pinned
# packages to the same one). A marker file records what was installed, so a
# warm start only checks it. Needs python3 with venv and curl.
#
# Logs go to stderr and STATE_DIR/moto.log; stdout carries only the KEY=VALUE line.
set -euo pipefail
plugin=moto.sh
# shellcheck source=lib/plugin.bash
. "$(dirname "$0")/lib/plugin.bash"
plugin_args "$@"

MOTO_REQUIREMENT='moto[server]==5.2.5'

venv="$root/_tools/venv"
marker="$venv/.modelreg-moto-5.2.5"

pidfile="$state/moto.pid"
logfile="$state/moto.log"

# install creates the shared virtualenv if missing and installs the pinned
# moto into it unless the marker says it is there. A lock keeps two
# concurrent starts (or another Python plug-in) from installing at once.
install() {
  mkdir -p "$root/_tools"
  exec 9>"$root/_tools/venv.lock"
  flock 9 2>/dev/null || true # flock may be missing on a minimal machine
  if [ -f "$marker" ] && [ -x "$venv/bin/python" ]; then
    exec 9>&-
    return
  fi
  command -v python3 >/dev/null || die "python3 not found"
  local start
  start=$(date +%s)
  if [ ! -x "$venv/bin/python" ]; then
    log "creating the virtualenv $venv"
    # Created at its physical path (_tools may be a symlink shared by
    # several work trees), and moto is run as `python -m moto.server`, so
    # no script depends on the path of the tree that created it.
    python3 -m venv "$(cd "$root/_tools" && pwd -P)/venv" >&2 || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  fi
  log "installing $MOTO_REQUIREMENT into $venv (about 2 minutes the first time)"
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    "$MOTO_REQUIREMENT" >&2 || die "pip install $MOTO_REQUIREMENT failed"
  touch "$marker"
  log "installed in $(($(date +%s) - start)) s"
  exec 9>&-
}

start() {
  mkdir -p "$state"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    die "already running (pid $(cat "$pidfile")); stop it first"
  fi
  install
  local port pid
  port=$(free_port)
  log "starting moto_server on 127.0.0.1:$port (log: $logfile)"
  "$venv/bin/python" -m moto.server -H 127.0.0.1 -p "$port" </dev/null >"$logfile" 2>&1 &
  pid=$!
  echo "$pid" >"$pidfile"
  for ((i = 0; i < 600; i++)); do
    if ! kill -0 "$pid" 2>/dev/null; then
      cat "$logfile" >&2
      rm -f "$pidfile"
      die "moto_server exited during startup"
    fi
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/moto-api/"; then
      log "ready after $((i / 10)).$((i % 10)) s (pid $pid)"
      echo "MODELREG_MOTO_ENDPOINT=http://127.0.0.1:$port"
      return
    fi
    sleep 0.1
  done
  cat "$logfile" >&2
  stop
  die "moto_server did not answer on 127.0.0.1:$port within 60 s"
}

stop() {
  # Only kill what we started: the pid must still be our moto server.
  stop_pid "$pidfile" 'moto\.server'
}

case $cmd in
start) start ;;
stop) stop ;;
*) usage ;;
esac
