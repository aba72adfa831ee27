#!/usr/bin/env bash
# Makes (or refreshes) the venv the Python tests and Mininet's examples run
# under: Debian's /usr/bin/python3 with --system-site-packages (so
# Debian's mininet package, with its examples, is importable), in which
# nlab's `mininet` package (installed editable from ./python) comes first
# and shadows Debian's. Also installs pytest and ruff from PyPI.
#
# Usage: python/venv.sh [VENV]      (default: target/pyvenv)
# Needs the network (PyPI) the first time; later runs reuse the venv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-target/pyvenv}
if [ ! -x "$venv/bin/python" ]; then
  /usr/bin/python3 -m venv --system-site-packages "$venv"
fi
stamp="$venv/.nlab-installed"
if [ ! -f "$stamp" ] || [ python/pyproject.toml -nt "$stamp" ]; then
  "$venv/bin/pip" install -q --disable-pip-version-check --config-settings editable_mode=compat -e ./python pytest ruff
  install -m 0644 /dev/null "$stamp"
fi
echo "$venv/bin/python"
