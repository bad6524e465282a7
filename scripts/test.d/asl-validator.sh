#!/usr/bin/env bash
# npm asl-validator (an offline checker of Amazon States Language documents)
# for the promotion workflow's document test (shared/workflow). Protocol:
# scripts/test.d/README.md. It starts no server:
#
#   asl-validator.sh start STATE_DIR   install asl-validator@4.0.0 into
#                                      _tools/asl-validator if needed and print
#                                      MODELREG_ASL_VALIDATOR=PATH-OF-ITS-CLI
#   asl-validator.sh stop STATE_DIR    nothing to stop
#
# The test runs `MODELREG_ASL_VALIDATOR --json-path FILE`, which is what
# `npx asl-validator --json-path FILE` runs. Needs npm (Node.js 20+).
set -euo pipefail
plugin=asl-validator.sh
# shellcheck source=lib/plugin.bash
. "$(dirname "$0")/lib/plugin.bash"
plugin_args "$@"

version=4.0.0
cache="$root/_tools/asl-validator"
pkg="$cache/node_modules/asl-validator"
bin="$cache/node_modules/.bin/asl-validator"

install() {
  mkdir -p "$root/_tools"
  exec 9>"$cache.lock"
  flock 9 2>/dev/null || true # flock may be missing on a minimal machine
  if [ -x "$bin" ] && [ -f "$pkg/package.json" ] && grep -q "\"version\": \"$version\"" "$pkg/package.json"; then
    exec 9>&-
    return
  fi
  command -v npm >/dev/null || die "npm not found: install Node.js 20+"
  log "installing npm asl-validator@$version into $cache"
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-audit --no-fund --no-save --loglevel=error "asl-validator@$version" >&2 ||
    die "npm install asl-validator@$version failed"
  exec 9>&-
}

case $1 in
start)
  install
  echo "MODELREG_ASL_VALIDATOR=$bin"
  ;;
stop) ;;
*) usage ;;
esac
