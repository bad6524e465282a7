#!/usr/bin/env bash
# MinIO for the S3 adapter's tests (shared/s3). Protocol: scripts/test.d/README.md.
#
#   minio.sh start STATE_DIR   install MinIO into _tools/bin if missing, start it
#                              on 127.0.0.1 with a data dir under STATE_DIR and
#                              print MODELREG_S3_ENDPOINT, MODELREG_S3_ACCESS_KEY
#                              and MODELREG_S3_SECRET_KEY on stdout
#   minio.sh stop STATE_DIR    stop it by its saved pid and remove its data dir
#   minio.sh install STATE_DIR only build and cache the binary (scripts/test
#                              runs this in the background at the start of a run)
#
# Logs go to stderr (MinIO's own log to STATE_DIR/minio.log). The binary is
# built from source with the Go toolchain (about two minutes the first time)
# and cached in _tools/bin, which is git-ignored and ignored by Go.
set -euo pipefail
plugin=minio.sh
# shellcheck source=lib/plugin.bash
. "$(dirname "$0")/lib/plugin.bash"
plugin_args "$@"

MINIO_MODULE=github.com/minio/minio
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c

tools="$root/_tools/bin"
minio="$tools/minio"

[ "$cmd" != start ] || mkdir -p "$state"
if [ -d "$state" ]; then
  state=$(cd "$state" && pwd) # absolute, as saved in minio.dir
fi

# install builds MinIO unless the cached binary is there. A lock keeps two
# concurrent starts from building over each other; the binary is built
# elsewhere and moved in place, so a half-built file is never cached.
install_minio() {
  mkdir -p "$tools"
  exec 9>"$tools/.minio.lock"
  flock 9 2>/dev/null || true # flock may be missing on a minimal machine
  if [ -x "$minio" ]; then
    exec 9>&-
    return
  fi
  command -v go >/dev/null || die "go is not installed; it is needed to build MinIO"
  local tmp start
  tmp=$(mktemp -d "$tools/.minio-build.XXXXXX")
  start=$(date +%s)
  log "installing $MINIO_MODULE@$MINIO_VERSION (a few minutes the first time)"
  # GOFLAGS is cleared so that the repository's flags (if any) do not apply
  # to a build outside its module.
  if ! GOBIN="$tmp" GOFLAGS= CGO_ENABLED=0 go install "$MINIO_MODULE@$MINIO_VERSION" >&2; then
    rm -rf "$tmp"
    die "go install $MINIO_MODULE@$MINIO_VERSION failed"
  fi
  mv -f "$tmp/minio" "$minio"
  rm -rf "$tmp"
  log "installed $minio in $(($(date +%s) - start)) s"
  exec 9>&-
}

# live reports whether MinIO answers its liveness probe on port $1.
live() {
  if command -v curl >/dev/null; then
    curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$1/minio/health/live" 2>/dev/null
    return
  fi
  ( # a subshell, so that a refused connection cannot end this script
    exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
    printf 'GET /minio/health/live HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    IFS= read -r -t 2 line <&3 || exit 1
    [[ $line == *" 200 "* ]]
  ) 2>/dev/null
}

random_secret() {
  od -An -N18 -tx1 /dev/urandom | tr -d ' \n'
}

start() {
  if [ -f "$state/minio.pid" ] && kill -0 "$(cat "$state/minio.pid")" 2>/dev/null; then
    die "MinIO is already running for $state (pid $(cat "$state/minio.pid"))"
  fi
  install_minio

  local user=modelreg pass data port console pid attempt deadline
  pass=$(random_secret)
  data=$(mktemp -d "$state/minio-data.XXXXXX")
  echo "$data" >"$state/minio.dir"
  for attempt in 1 2 3; do
    port=$(free_port)
    console=$(free_port)
    [ "$port" != "$console" ] || continue
    log "starting MinIO on 127.0.0.1:$port (console $console), data in $data"
    # setsid detaches MinIO from the caller's terminal and process group;
    # its output goes to a log file, so it holds none of our pipes open.
    MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$pass MINIO_UPDATE=off MINIO_BROWSER=off \
      setsid "$minio" server --quiet --address "127.0.0.1:$port" --console-address "127.0.0.1:$console" "$data" \
      </dev/null >>"$state/minio.log" 2>&1 &
    pid=$!
    echo "$pid" >"$state/minio.pid"
    deadline=$((SECONDS + 60))
    while [ $SECONDS -lt $deadline ]; do
      if ! kill -0 "$pid" 2>/dev/null; then
        break # exited: the port may have been taken meanwhile; try another
      fi
      if live "$port"; then
        log "MinIO is live (pid $pid)"
        echo "MODELREG_S3_ENDPOINT=http://127.0.0.1:$port"
        echo "MODELREG_S3_ACCESS_KEY=$user"
        echo "MODELREG_S3_SECRET_KEY=$pass"
        return
      fi
      sleep 0.3
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid" 2>/dev/null || true
      tail -n 50 "$state/minio.log" >&2 || true
      die "MinIO did not become live within 60 s"
    fi
    log "MinIO exited during start (attempt $attempt); its log:"
    tail -n 20 "$state/minio.log" >&2 || true
  done
  die "MinIO did not start"
}

stop() {
  local data
  if [ -f "$state/minio.pid" ]; then
    stop_pid "$state/minio.pid" minio
  fi
  if [ -f "$state/minio.dir" ]; then
    data=$(cat "$state/minio.dir")
    case "$data" in
    "$state"/minio-data.*) rm -rf "$data" ;;
    *) log "not removing unexpected data dir $data" ;;
    esac
    rm -f "$state/minio.dir"
  fi
}

case "$cmd" in
start) start ;;
stop) stop ;;
install) install_minio ;;
*) usage ;;
esac
