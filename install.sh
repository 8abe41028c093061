#!/usr/bin/env bash
# Installs cvpipe and its pinned dependencies into a virtual environment (default: .venv).
# Usage: ./install.sh [VENV_DIR]
# TFX 1.16.0 declares Requires-Python <3.11 but runs on 3.11 (requirements/compile_lock.sh says why),
# so the lock is installed with --no-deps --ignore-requires-python; `pip check` then proves the
# environment is consistent.
set -euo pipefail
cd "$(dirname "$0")"
venv="${1:-.venv}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"cvpipe needs Python 3.11, found {sys.version}"'
[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade "pip>=24" setuptools wheel
"$venv/bin/python" -m pip install --quiet --no-deps --ignore-requires-python -r requirements/lock.txt
"$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e .
"$venv/bin/python" -m pip check
# Infrastructure checkers (checkov, kubernetes-validate, gcp-storage-emulator) live in their own
# environment: their dependencies conflict with the TFX lock and the pipelines never import them.
tools="${CVPIPE_TOOLS_VENV:-.venv-tools}"
[ -x "$tools/bin/python" ] || "$python" -m venv "$tools"
"$tools/bin/python" -m pip install --quiet -r requirements/tools.txt
echo "cvpipe installed in $venv: activate with 'source $venv/bin/activate', then run 'cvpipe run classification'"
