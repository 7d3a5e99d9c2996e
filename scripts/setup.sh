#!/usr/bin/env bash
# Set up a development environment: Debian's Fashion-MNIST package and a virtualenv in .venv
# with nerve installed (editable) plus its test extras (pytest, hypothesis, torch 2.13.0, keras).
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null; then SUDO=sudo; fi
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi
PY=${PYTHON:-python3}
# Debian's python3 makes virtualenvs only with its python3-venv package
if ! "$PY" -c "import ensurepip, venv" 2>/dev/null; then
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq python3-venv >/dev/null
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
LOG=.venv/setup.log
if ! .venv/bin/python -m pip install -q -e ".[${EXTRAS:-test}]" >"$LOG" 2>&1; then
  cat "$LOG"; echo "setup: pip install failed (log above, also in $LOG)" >&2; exit 1
fi
.venv/bin/python -c "import nerve, numpy; print('nerve', nerve.__version__, 'numpy', numpy.__version__)"
