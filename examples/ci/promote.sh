#!/usr/bin/env bash
# promote.sh: the CI path of a model through the registry, one step per
# subcommand, with the modelreg CLI only. promote.yml (GitHub Actions)
# calls it; the tests run it against a local `modelreg serve`.
#
# Environment: MODELREG_URL and MODELREG_TOKEN (repository secrets; a
# publisher token suffices, and rolls back where the model's policy says
# rollback_role publisher). Optional: GITHUB_SHA, GITHUB_SERVER_URL,
# GITHUB_REPOSITORY, GITHUB_RUN_ID (lineage), GITHUB_OUTPUT (step outputs),
# MODELREG (the CLI, default `modelreg` on PATH).
#
# `promote.sh commands` prints the subcommands with their arguments, one
# a line; the tests check promote.yml's steps against it.
set -euo pipefail

mr="${MODELREG:-modelreg}"

commands() {
  cat <<'USAGE'
register MODEL ARTIFACT [METRIC=VALUE...]
staging MODEL VERSION
check MODEL VERSION DIR
production MODEL VERSION
rollback MODEL REASON [VERSION]
USAGE
}

die() { echo "promote.sh: $*" >&2; exit 2; }

# output NAME VALUE: a step output (GitHub Actions) and a line on stdout.
output() {
  echo "$1=$2"
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then echo "$1=$2" >>"$GITHUB_OUTPUT"; fi
}

# field JSON KEY: the top-level string or number KEY of the CLI's JSON.
field() { jq -er --arg k "$2" '.[$k]' <<<"$1"; }

need() { (( $1 >= $2 )) || { echo "usage: promote.sh $(commands | grep "^$3 ")" >&2; exit 2; }; }

[[ $# -ge 1 ]] || die "usage: promote.sh COMMAND ARGS (promote.sh commands lists them)"
cmd=$1
shift
case "$cmd" in
  commands) commands ;;
  register)
    need $# 2 register
    model=$1 artifact=$2
    shift 2
    args=(register "$model" --artifact "$artifact" --output json)
    for m in "$@"; do args+=(--metric "$m"); done
    # Lineage: the commit and repository this workflow runs on, and its run.
    if [[ -n "${GITHUB_SHA:-}" ]]; then
      args+=(--git-commit "$GITHUB_SHA" --git-repo "${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY:-unknown}")
    fi
    if [[ -n "${GITHUB_RUN_ID:-}" ]]; then args+=(--run-id "gha-$GITHUB_RUN_ID"); fi
    v=$("$mr" "${args[@]}")
    output version "$(field "$v" version)"
    ;;
  staging)
    need $# 2 staging
    "$mr" promote "$1" "$2" --to Staging --reason "CI: registered by run ${GITHUB_RUN_ID:-local}" >/dev/null
    output stage Staging
    ;;
  check)
    # The files come down with their SHA-256 verified; then the model's
    # own checks run on them (here: every file is non-empty).
    need $# 3 check
    rm -rf "$3" && mkdir -p "$3"
    "$mr" download "$1" "$2" --dest "$3" >/dev/null
    n=0
    while IFS= read -r -d '' f; do
      [[ -s "$f" ]] || die "check: $f is empty"
      n=$((n + 1))
    done < <(find "$3" -type f -print0)
    (( n > 0 )) || die "check: version $2 of $1 has no files"
    output checked "$n"
    ;;
  production)
    # Requests Production; the policy's checks run and approvers decide.
    need $# 2 production
    a=$("$mr" promote "$1" "$2" --to Production --reason "CI: checks passed in run ${GITHUB_RUN_ID:-local}" --output json)
    output approval_id "$(field "$a" approval_id)"
    ;;
  rollback)
    need $# 2 rollback
    args=(rollback "$1" --reason "$2" --output json)
    if [[ $# -ge 3 && -n "$3" ]]; then args+=(--to "$3"); fi
    v=$("$mr" "${args[@]}")
    output version "$(field "$v" version)"
    ;;
  *) die "unknown command $cmd (promote.sh commands lists them)" ;;
esac
