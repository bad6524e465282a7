#!/usr/bin/env bash
# The npm aws-cdk CLI (the toolkit that runs cdk.json's app, synthesizes and
# deploys the stack in infra/), for the infra checks of scripts/test and for
# scripts/deploy. Protocol: scripts/test.d/README.md. It starts no server:
#
#   aws-cdk.sh start STATE_DIR   install aws-cdk@2.1148.1 into _tools/aws-cdk
#                                if needed and print MODELREG_CDK=PATH-OF-ITS-CLI
#   aws-cdk.sh stop STATE_DIR    nothing to stop
#
# The toolkit must read the cloud-assembly schema of awscdk v2.276.0
# (infra/go.mod); 2.1148.1 does. Needs npm (Node.js 20+; the CDK warns on
# 20 and prefers 22 or 24).
set -euo pipefail
plugin=aws-cdk.sh
# shellcheck source=lib/plugin.bash
. "$(dirname "$0")/lib/plugin.bash"
plugin_args "$@"

version=2.1148.1
cache="$root/_tools/aws-cdk"
pkg="$cache/node_modules/aws-cdk"
bin="$cache/node_modules/.bin/cdk"

install() {
  mkdir -p "$root/_tools"
  exec 9>"$cache.lock"
  flock 9 2>/dev/null || true # flock may be missing on a minimal machine
  if [ -x "$bin" ] && [ -f "$pkg/package.json" ] && grep -q "\"version\": \"$version\"" "$pkg/package.json"; then
    exec 9>&-
    return
  fi
  command -v npm >/dev/null || die "npm not found: install Node.js 20+"
  log "installing npm aws-cdk@$version into $cache"
  mkdir -p "$cache"
  npm install --prefix "$cache" --no-audit --no-fund --no-save --loglevel=error "aws-cdk@$version" >&2 ||
    die "npm install aws-cdk@$version failed"
  exec 9>&-
}

case $cmd in
start)
  install
  echo "MODELREG_CDK=$bin"
  ;;
stop) ;;
*) usage ;;
esac
