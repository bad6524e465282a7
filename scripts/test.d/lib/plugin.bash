# What the scripts/test.d plug-ins share. Sourced (not a plug-in: the test
# runner only runs scripts/test.d/*.sh) after the plug-in sets $plugin, its
# name in log lines; then `plugin_args "$@"` checks the arguments every
# plug-in takes and sets $cmd and $state.

# root is the repository (the cache lives in $root/_tools).
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)

log() { echo "$plugin: $*" >&2; }
die() { log "$*"; exit 1; }
usage() { die "usage: $0 start|stop STATE_DIR (minio.sh also: install STATE_DIR)"; }

# plugin_args checks for `start|stop STATE_DIR` and sets cmd and state.
plugin_args() {
  [ $# -eq 2 ] || usage
  cmd=$1 state=$2
}

# port_free reports whether nothing listens on 127.0.0.1:$1.
port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# free_port prints a port in 20000..59999 on which nothing listens.
free_port() {
  local p i
  for ((i = 0; i < 100; i++)); do
    p=$((20000 + RANDOM % 40000))
    if port_free "$p"; then
      echo "$p"
      return
    fi
  done
  die "found no free port"
}

# stop_pid PIDFILE PATTERN stops the process whose pid PIDFILE holds, if it
# is still ours (its command line matches PATTERN, a grep regexp): SIGTERM,
# up to 10 s for a clean exit, then SIGKILL. It removes PIDFILE. Nothing to
# stop is not an error.
stop_pid() {
  local pidfile=$1 pattern=$2 pid i
  [ -f "$pidfile" ] || { log "not running (no $pidfile)"; return 0; }
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null && ps -p "$pid" -o args= 2>/dev/null | grep -q -- "$pattern"; then
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "pid $pid ignored SIGTERM for 10 s; sending SIGKILL"
      kill -9 "$pid" 2>/dev/null || true
      for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
      done
    fi
    log "stopped (pid $pid)"
  else
    log "pid $pid is not running"
  fi
  rm -f "$pidfile"
}

# npm_ensure PACKAGE VERSION installs npm PACKAGE@VERSION into
# $root/_tools/PACKAGE unless that version is there (under a lock, so
# concurrent starts install once). Its CLIs are then in
# $root/_tools/PACKAGE/node_modules/.bin. Needs npm (Node.js 20+).
npm_ensure() {
  local name=$1 version=$2 cache="$root/_tools/$1"
  mkdir -p "$root/_tools"
  exec 9>"$cache.lock"
  flock 9 2>/dev/null || true # flock may be missing on a minimal machine
  if [ -f "$cache/node_modules/$name/package.json" ] &&
    grep -q "\"version\": \"$version\"" "$cache/node_modules/$name/package.json"; then
    exec 9>&-
    return
  fi
  command -v npm >/dev/null || die "npm not found: install Node.js 20+"
  log "installing npm $name@$version into $cache"
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-audit --no-fund --no-save --loglevel=error "$name@$version" >&2 ||
    die "npm install $name@$version failed"
  exec 9>&-
}
