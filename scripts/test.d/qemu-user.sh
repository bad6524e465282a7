#!/usr/bin/env bash
# Debian's qemu-user-static, so the function tests (shared/lambdatest) run
# each arm64 Lambda binary under emulation beside the native amd64 build.
# Protocol: scripts/test.d/README.md. It starts no server:
#
#   qemu-user.sh start STATE_DIR   apt-get install qemu-user-static if
#                                  qemu-aarch64-static is missing (as root),
#                                  print MODELREG_QEMU_AARCH64=PATH
#   qemu-user.sh stop STATE_DIR    nothing to stop
#
# On an arm64 machine nothing is needed: the binaries run natively.
set -euo pipefail
plugin=qemu-user.sh
# shellcheck source=lib/plugin.bash
. "$(dirname "$0")/lib/plugin.bash"
plugin_args "$@"

case $cmd in
start)
  [ "$(uname -m)" = aarch64 ] && exit 0
  if ! command -v qemu-aarch64-static >/dev/null; then
    [ "$(id -u)" = 0 ] || die "qemu-aarch64-static missing and not root: apt-get install qemu-user-static"
    log "installing Debian qemu-user-static"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q qemu-user-static >&2 ||
      { apt-get update -q >&2 && apt-get install -y -q qemu-user-static >&2; } ||
      die "apt-get install qemu-user-static failed"
  fi
  echo "MODELREG_QEMU_AARCH64=$(command -v qemu-aarch64-static)"
  ;;
stop) ;;
*) usage ;;
esac
