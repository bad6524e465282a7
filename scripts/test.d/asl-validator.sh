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
bin="$root/_tools/asl-validator/node_modules/.bin/asl-validator"

case $1 in
start)
  npm_ensure asl-validator "$version"
  [ -x "$bin" ] || die "npm asl-validator@$version installed no $bin"
  echo "MODELREG_ASL_VALIDATOR=$bin"
  ;;
stop) ;;
*) usage ;;
esac
