# Source this file: it makes hatch, uv and Python 3.10-3.13 available to the shell.
#
#   source tools/bootstrap.sh
#
# hatch and uv are installed (once) into their own virtual environment under
# ${CNOP_TOOLS_HOME:-~/.cache/cnop-tools}; the four Pythons come from pyenv's
# versions folder when they are not already on PATH. hatch is never allowed to
# download a Python.

_cnop_tools_home="${CNOP_TOOLS_HOME:-$HOME/.cache/cnop-tools}"
_cnop_versions=(3.10 3.11 3.12 3.13)

_cnop_die() { echo "bootstrap: $*" >&2; return 1; }

_cnop_find_python() { # major.minor -> a bin dir whose pythonX.Y really runs, or nothing
  local v=$1 dir cand
  # A pyenv shim is on PATH for every installed version but fails unless that version
  # is enabled, so check that a candidate runs before trusting it.
  for cand in "$(command -v "python$v" 2>/dev/null)" \
              "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/"python$v"; do
    [ -x "$cand" ] && "$cand" -c 'import sys' >/dev/null 2>&1 || continue
    dir=$(dirname "$cand")
    case "$dir" in */shims) continue ;; esac
    echo "$dir"; return 0
  done
  return 1
}

_cnop_bootstrap() {
  local v dir missing=()
  for v in "${_cnop_versions[@]}"; do
    if dir=$(_cnop_find_python "$v"); then
      case ":$PATH:" in *":$dir:"*) ;; *) PATH="$dir:$PATH" ;; esac
    else
      missing+=("$v")
    fi
  done
  ((${#missing[@]} == 0)) || _cnop_die "Python ${missing[*]} not found: install them (e.g. \`pyenv install ${missing[0]}\`) or put them on PATH" || return 1

  local base
  base=$(command -v python3.11 || command -v python3) || _cnop_die "no python3 on PATH" || return 1
  if [ ! -x "$_cnop_tools_home/venv/bin/hatch" ] || [ ! -x "$_cnop_tools_home/venv/bin/uv" ]; then
    echo "bootstrap: installing hatch and uv into $_cnop_tools_home/venv" >&2
    "$base" -m venv "$_cnop_tools_home/venv" || _cnop_die "could not create a venv with $base" || return 1
    if ! "$_cnop_tools_home/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
      'hatch>=1.16,<2' 'uv>=0.5' >"$_cnop_tools_home/install.log" 2>&1; then
      tail -20 "$_cnop_tools_home/install.log" >&2
      _cnop_die "pip install hatch uv failed (log: $_cnop_tools_home/install.log)" || return 1
    fi
  fi
  PATH="$_cnop_tools_home/venv/bin:$PATH"
  export PATH
  export UV_PYTHON_DOWNLOADS=never
}

_cnop_bootstrap
