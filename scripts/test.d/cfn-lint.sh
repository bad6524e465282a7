#!/usr/bin/env bash
# cfn-lint (PyPI cfn-lint==1.58.0, pinned in requirements.txt, in the shared
# virtualenv _tools/venv) for the infra checks: the synthesized CloudFormation
# template must be clean under it. Protocol: scripts/test.d/README.md. It
# starts no server:
#
#   cfn-lint.sh start STATE_DIR   install the virtualenv if needed and print
#                                 MODELREG_CFN_LINT=PATH-OF-cfn-lint
#   cfn-lint.sh stop STATE_DIR    nothing to stop
#
# cfn-lint works offline: its resource specifications ship in the package.
set -euo pipefail
plugin=cfn-lint.sh
# shellcheck source=lib/plugin.bash
. "$(dirname "$0")/lib/plugin.bash"
# shellcheck source=lib/venv.bash
. "$(dirname "$0")/lib/venv.bash"
plugin_args "$@"

case $cmd in
start)
  venv_ensure
  [ -x "$venv/bin/cfn-lint" ] || die "$venv/bin/cfn-lint missing after installing $venv_requirements"
  echo "MODELREG_CFN_LINT=$venv/bin/cfn-lint"
  ;;
stop) ;;
*) usage ;;
esac
