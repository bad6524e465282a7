# The project's shared Python virtualenv, _tools/venv. Sourced by plug-ins
# (after lib/plugin.bash) and by scripts/test. `venv_ensure` creates it if
# missing and installs scripts/test.d/requirements.txt when that file changed
# since the last install (a marker holds the file's SHA-256), so a warm start
# only compares a hash. A lock keeps concurrent starts from installing at once.
# Needs python3 with venv (Debian: python3-venv).

venv="$root/_tools/venv"
venv_requirements="$root/scripts/test.d/requirements.txt"

# venv_ensure [DIR REQUIREMENTS] installs the requirements into $venv (or
# into DIR, a second environment under _tools, from REQUIREMENTS) unless
# they are there.
venv_ensure() {
  local venv=${1:-$venv} venv_requirements=${2:-$venv_requirements}
  local want marker start name
  want=$(sha256sum "$venv_requirements" | cut -c1-16)
  marker="$venv/.modelreg-requirements-$want"
  mkdir -p "$root/_tools"
  exec 9>"$venv.lock"
  flock 9 2>/dev/null || true # flock may be missing on a minimal machine
  if [ -f "$marker" ] && [ -x "$venv/bin/python" ]; then
    exec 9>&-
    return
  fi
  command -v python3 >/dev/null || die "python3 not found"
  start=$(date +%s)
  if [ ! -x "$venv/bin/python" ]; then
    log "creating the virtualenv $venv"
    # Created at its physical path (_tools may be a symlink shared by
    # several work trees); tools run as `python -m …`, so no script depends
    # on the path of the tree that created it.
    name=$(basename "$venv")
    python3 -m venv "$(cd "$root/_tools" && pwd -P)/$name" >&2 || die "python3 -m venv failed (on Debian: apt-get install python3-venv)"
  fi
  log "installing $venv_requirements into $venv (a few minutes the first time)"
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input --quiet \
    -r "$venv_requirements" >&2 || die "pip install -r $venv_requirements failed"
  rm -f "$venv"/.modelreg-requirements-* "$venv"/.modelreg-moto-*
  touch "$marker"
  log "installed in $(($(date +%s) - start)) s"
  exec 9>&-
}
