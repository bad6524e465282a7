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
bin="$root/_tools/aws-cdk/node_modules/.bin/cdk"

case $cmd in
start)
  npm_ensure aws-cdk "$version"
  [ -x "$bin" ] || die "npm aws-cdk@$version installed no $bin"
  echo "MODELREG_CDK=$bin"
  ;;
stop) ;;
*) usage ;;
esac
