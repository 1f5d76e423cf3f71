"""`hyp` one-call job commands against `kubectl` doing the same call, in interleaved pairs (issue 20).

Run: .venv/bin/python benchmarks/cli_vs_kubectl.py [--pairs 10] [--help-runs 20]
Starts a real control plane (training operator on), creates one PyTorchJob, then times each
pair of subprocesses back to back in alternating order (so load changes hit both sides):
`hyp list hyp-pytorch-job -A` vs `kubectl get pytorchjobs -A`, `hyp describe hyp-pytorch-job`
vs `kubectl get pytorchjob NAME -o yaml`, `hyp list-pods hyp-pytorch-job` vs
`kubectl get pods -l ...`. Reported: the median of the per-pair ratios (target <= 2x) and
`hyp --help` (median of ``--help-runs``, target <= 0.15 s).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _cluster import compile_package, control_plane, report

HYP = str(Path(sys.executable).with_name("hyp"))
KUBECTL = "kubectl"
JOB = """apiVersion: kubeflow.org/v1
kind: PyTorchJob
metadata: {name: bench, namespace: default}
spec:
  pytorchReplicaSpecs:
    Master:
      replicas: 1
      template:
        spec:
          containers: [{name: pytorch, image: local, command: [sleep, "600"]}]
"""


def timed(cmd: list[str], env: dict[str, str]) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - t0
    if res.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed: {res.stderr.strip()[:300]}")
    return elapsed


def pairs(a: list[str], b: list[str], env: dict[str, str], n: int) -> tuple[float, float, float]:
    """(median ratio a/b over n interleaved pairs, median a, median b)."""
    timed(a, env), timed(b, env)  # warm the page cache
    ratios, ta, tb = [], [], []
    for i in range(n):
        if i % 2 == 0:
            x, y = timed(a, env), timed(b, env)
        else:
            y, x = timed(b, env), timed(a, env)
        ratios.append(x / y)
        ta.append(x)
        tb.append(y)
    return statistics.median(ratios), statistics.median(ta), statistics.median(tb)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=10)
    ap.add_argument("--help-runs", type=int, default=20)
    args = ap.parse_args()
    compile_package()
    rows = [("figure", "measured", "target", "anchor")]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "HYPERPOD_HOME": tmp}
        helps = [timed([HYP, "--help"], env) for _ in range(args.help_runs)]
        rows.append(
            (
                f"hyp --help (median of {args.help_runs})",
                f"{statistics.median(helps):.3f} s",
                "<= 0.15 s",
                "",
            )
        )
        with control_plane(Path(tmp) / "cp", {"addons": {"kueue": False}}) as cp:
            env["KUBECONFIG"] = str(cp.kubeconfig)
            subprocess.run(
                [KUBECTL, "apply", "-f", "-"],
                input=JOB,
                text=True,
                env=env,
                check=True,
                capture_output=True,
            )
            cases = [
                (
                    "list hyp-pytorch-job -A",
                    [HYP, "list", "hyp-pytorch-job", "-A"],
                    [KUBECTL, "get", "pytorchjobs", "-A"],
                ),
                (
                    "describe hyp-pytorch-job",
                    [HYP, "describe", "hyp-pytorch-job", "--job-name", "bench"],
                    [KUBECTL, "get", "pytorchjob", "bench", "-o", "yaml"],
                ),
                (
                    "list-pods hyp-pytorch-job",
                    [HYP, "list-pods", "hyp-pytorch-job", "--job-name", "bench"],
                    [KUBECTL, "get", "pods", "-l", "training.kubeflow.org/job-name=bench"],
                ),
            ]
            for label, hyp, kubectl in cases:
                ratio, a, b = pairs(hyp, kubectl, env, args.pairs)
                rows.append(
                    (
                        f"hyp {label} / kubectl ({args.pairs} pairs)",
                        f"{ratio:.2f}x ({a:.3f} s vs {b:.3f} s)",
                        "<= 2x",
                        f"kubectl {b:.3f} s",
                    )
                )
    report(rows)
    print(f"load average: {os.getloadavg()}")


if __name__ == "__main__":
    main()
