#!/usr/bin/env bash
# cfn-lint (PyPI cfn-lint==1.58.0, pinned in requirements.txt, in the shared
# virtualenv _tools/venv) for the infra checks: the synthesized CloudFormation
# template must be clean under it. Protocol: scripts/test.d/README.md. It
# starts no server:
#
#   cfn-lint.sh start STATE_DIR   install the virtualenv if needed, write
#                                 STATE_DIR/cfn-lint (runs cfn-lint in it) and
#                                 print MODELREG_CFN_LINT=STATE_DIR/cfn-lint
#   cfn-lint.sh stop STATE_DIR    nothing to stop
#
# The wrapper runs the package through the venv's python rather than its
# console script, whose #! line names the path of the work tree that
# created the shared venv. cfn-lint works offline: its resource
# specifications ship in the package.
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
  "$venv/bin/python" -c 'import cfnlint.runner' || die "cfn-lint missing after installing $venv_requirements"
  mkdir -p "$state"
  cat >"$state/cfn-lint" <<WRAPPER
#!/bin/sh
exec "$venv/bin/python" -c 'import sys; from cfnlint.runner import main; sys.argv[0] = "cfn-lint"; sys.exit(main())' "\$@"
WRAPPER
  chmod +x "$state/cfn-lint"
  echo "MODELREG_CFN_LINT=$state/cfn-lint"
  ;;
stop) ;;
*) usage ;;
esac
