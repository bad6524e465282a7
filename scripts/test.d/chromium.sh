#!/usr/bin/env bash
# Debian's Chromium and npm playwright-core for the web console's browser
# tests (shared/console). Protocol: scripts/test.d/README.md. It starts no
# server (each browser test launches its own headless Chromium):
#
#   chromium.sh start STATE_DIR   apt-get install chromium if /usr/bin/chromium
#                                 is missing (as root, after apt-get update;
#                                 a cached package list is reused for a day),
#                                 npm install playwright-core@1.65.1 into
#                                 _tools/playwright if needed, and print
#                                 MODELREG_CHROMIUM=/usr/bin/chromium and
#                                 MODELREG_PLAYWRIGHT=DIR-OF-ITS-node_modules
#   chromium.sh stop STATE_DIR    nothing to stop
set -euo pipefail
plugin=chromium.sh
# shellcheck source=lib/plugin.bash
. "$(dirname "$0")/lib/plugin.bash"
plugin_args "$@"

version=1.65.1
chromium=${MODELREG_CHROMIUM:-/usr/bin/chromium}
cache="$root/_tools/playwright"
pkg="$cache/node_modules/playwright-core"

install_chromium() {
  [ -x "$chromium" ] && return
  [ "$(id -u)" = 0 ] || die "$chromium is missing and we are not root: apt-get install chromium"
  command -v apt-get >/dev/null || die "$chromium is missing and there is no apt-get: install Chromium and set MODELREG_CHROMIUM"
  exec 8>/tmp/modelreg-chromium-apt.lock
  flock 8 2>/dev/null || true
  if [ ! -x "$chromium" ]; then
    # apt-get update only when the package lists are missing or a day old.
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
      log "apt-get update"
      apt-get update -qq >&2 || die "apt-get update failed"
    fi
    log "installing Debian's chromium"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >&2 ||
      die "apt-get install chromium failed"
  fi
  exec 8>&-
  [ -x "$chromium" ] || die "apt-get installed chromium but $chromium is missing"
}

install_playwright() {
  mkdir -p "$root/_tools"
  exec 9>"$cache.lock"
  flock 9 2>/dev/null || true
  if [ -f "$pkg/package.json" ] && grep -q "\"version\": \"$version\"" "$pkg/package.json"; then
    exec 9>&-
    return
  fi
  command -v npm >/dev/null || die "npm not found: install Node.js 20+"
  log "installing npm playwright-core@$version into $cache"
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-audit --no-fund --no-save --loglevel=error "playwright-core@$version" >&2 ||
    die "npm install playwright-core@$version failed"
  exec 9>&-
}

case $cmd in
start)
  install_chromium
  install_playwright
  echo "MODELREG_CHROMIUM=$chromium"
  echo "MODELREG_PLAYWRIGHT=$cache/node_modules"
  ;;
stop) ;;
*) usage ;;
esac
