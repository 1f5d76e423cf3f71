#!/usr/bin/env bash
# Install the test dependencies into .venv and run the whole suite (the README's test command).
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# The CPU build of torch lies on this machine's disk; pinning it avoids a multi-GB CUDA download.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e '.[examples,test]'
# The real HyperPod CLI/SDK (PyPI sagemaker-hyperpod) for the contract tests that drive our
# cluster with it unchanged. Its own venv: it installs a console script also named `hyp`.
if [ ! -x .venv-hyperpod-cli/bin/hyp ]; then
  "$PY" -m venv .venv-hyperpod-cli
  .venv-hyperpod-cli/bin/python -m pip install -q sagemaker-hyperpod
fi
echo "== ruff"
.venv/bin/ruff check src tests
echo "== mypy"
.venv/bin/mypy
echo "== pytest"
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
