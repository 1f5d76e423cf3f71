#!/usr/bin/env bash
# Quick start: install hyperpod into .venv, create the local cluster, run the distributed
# digits training example (a 2-node HyperPodPyTorchJob) to completion and print its result.
# Safe to run again: an existing cluster is reused and the job is replaced.
# Environment: PYTHON (interpreter for the venv, default python3), HYP_API_PORT (API port,
# default 7443), HYPERPOD_HOME (state, default ~/.hyperpod), KUBECONFIG (default ~/.kube/config).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

quiet() {  # run a command, showing its output only if it fails
  local log; log=$(mktemp)
  if ! "$@" >"$log" 2>&1; then cat "$log"; rm -f "$log"; return 1; fi
  rm -f "$log"
}

echo "== 1/4 install hyperpod into .venv"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
# The CPU build of torch; pinning it keeps pip from fetching a multi-GB CUDA build.
quiet .venv/bin/python -m pip install torch==2.13.0
quiet .venv/bin/python -m pip install -e '.[examples]'
# Pods run as local processes with this shell's environment: `python` in a job is .venv's.
export PATH="$PWD/.venv/bin:$PATH" VIRTUAL_ENV="$PWD/.venv"

echo "== 2/4 create the local cluster"
stack="${HYPERPOD_HOME:-$HOME/.hyperpod}/quickstart"
[ -f "$stack/config.yaml" ] || hyp init cluster-stack "$stack"
if [ -n "${HYP_API_PORT:-}" ]; then hyp configure -c "$stack/config.yaml" --api-port "$HYP_API_PORT"; fi
hyp create -c "$stack/config.yaml" || {
  echo "(another API port: HYP_API_PORT=17443 ./quickstart.sh)" >&2
  exit 1
}

echo "== 3/4 run the distributed training example (2 nodes, ranks 0 and 1)"
hyp delete hyp-pytorch-job --job-name digits >/dev/null 2>&1 || true
hyp create hyp-pytorch-job --job-name digits --image local/python \
  --command '[python, -m, hyperpod.examples.digits]' --args '[--epochs, 5]' \
  --node-count 2 --wait --timeout 600

echo "== 4/4 result (rank 0's last log lines)"
hyp get-logs hyp-pytorch-job --job-name digits --tail 3
echo
echo "Done. Try: kubectl get pods; hyp list hyp-pytorch-job; hyp describe cluster-stack local"
