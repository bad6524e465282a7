#!/usr/bin/env bash
# moto's server (a third-party AWS emulator with a Step Functions ASL
# interpreter) for the Step Functions adapter's and the promotion workflow's
# tests (shared/sfn, shared/workflow). Protocol: scripts/test.d/README.md.
#
#   moto.sh start STATE_DIR   install the shared virtualenv if needed, start
#                             moto's server on 127.0.0.1 and
#                             print MODELREG_MOTO_ENDPOINT=http://127.0.0.1:PORT
#   moto.sh stop STATE_DIR    stop it by the pid saved in STATE_DIR
#
# moto comes from the project's shared virtualenv (lib/venv.bash, pinned in
# requirements.txt). Needs python3 with venv and curl.
#
# Logs go to stderr and STATE_DIR/moto.log; stdout carries only the KEY=VALUE line.
set -euo pipefail
plugin=moto.sh
# shellcheck source=lib/plugin.bash
. "$(dirname "$0")/lib/plugin.bash"
plugin_args "$@"

# shellcheck source=lib/venv.bash
. "$(dirname "$0")/lib/venv.bash"

pidfile="$state/moto.pid"
logfile="$state/moto.log"

start() {
  mkdir -p "$state"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    die "already running (pid $(cat "$pidfile")); stop it first"
  fi
  venv_ensure
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
