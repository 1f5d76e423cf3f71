"""1,000 batch/v1 Jobs through Kueue on simulated nodes (issue 14).

Run: .venv/bin/python benchmarks/kueue_batch_jobs.py [--jobs 1000] [--nodes 4] [--duration 500ms]
Starts a real control plane with simulated ml.p5.48xlarge nodes (8 GPUs each), gives team a a
quota of all of them (``hyp create compute-quota``), creates the Jobs over HTTPS with the
official client (1 GPU, ``hyperpod.local/simulate-duration``, label
``kueue.x-k8s.io/queue-name``) and polls until every Job is Complete. Each Job goes through
Kueue (suspended, Workload, admission, flavor injection), the Job controller, the scheduler
and the simulated kubelet. Prints the wall time, Jobs/s and the lower bound set by the quota
(waves of ``nodes * 8`` Jobs of ``duration`` each). Anchor: Kueue's baseline scenario (15,000
workloads in about 6 minutes on a real cluster) measures admission alone.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from _cluster import control_plane, report
from click.testing import CliRunner
from kubernetes import client

from hyperpod.cli.main import cli

NS = "hyperpod-ns-a"


def job(i: int, duration: str) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {
            "name": f"job-{i:05d}",
            "labels": {"kueue.x-k8s.io/queue-name": f"{NS}-localqueue"},
        },
        "spec": {
            "template": {
                "metadata": {"annotations": {"hyperpod.local/simulate-duration": duration}},
                "spec": {
                    "restartPolicy": "Never",
                    "containers": [
                        {
                            "name": "work",
                            "image": "local/python",
                            "resources": {
                                "requests": {"nvidia.com/gpu": "1"},
                                "limits": {"nvidia.com/gpu": "1"},
                            },
                        }
                    ],
                },
            }
        },
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=4)
    ap.add_argument("--duration", default="500ms")
    args = ap.parse_args()
    config = {
        "nodes": {
            "local": {"enabled": False},
            "simulated": [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": args.nodes}],
        },
        "addons": {"trainingOperator": False, "healthAgent": False},
    }
    with tempfile.TemporaryDirectory() as tmp, control_plane(Path(tmp), config) as cp:
        res = CliRunner().invoke(
            cli,
            [
                "--kubeconfig",
                str(cp.kubeconfig),
                "create",
                "compute-quota",
                "--team",
                "a",
                "--instance-type",
                "ml.p5.48xlarge",
                "--count",
                str(args.nodes),
            ],
        )
        assert res.exit_code == 0, res.output
        batch = client.BatchV1Api(cp.api_client())
        t0 = time.perf_counter()
        for i in range(args.jobs):
            batch.create_namespaced_job(NS, job(i, args.duration))
        created_s = time.perf_counter() - t0
        while True:
            items = batch.list_namespaced_job(NS).items
            done = sum(
                1
                for j in items
                if any(
                    c.type == "Complete" and c.status == "True"
                    for c in ((j.status and j.status.conditions) or [])
                )
            )
            if done == args.jobs:
                break
            time.sleep(0.5)
        total_s = time.perf_counter() - t0
        seconds = (
            float(args.duration.removesuffix("ms")) / 1000
            if args.duration.endswith("ms")
            else float(args.duration.removesuffix("s"))
        )
        waves = -(-args.jobs // (args.nodes * 8))
        report(
            [
                ("figure", "measured", "target", "anchor"),
                (f"{args.jobs} Jobs created over HTTPS", f"{created_s:.1f} s", "-", "-"),
                (
                    f"{args.jobs} Jobs through Kueue to Complete ({args.nodes * 8} GPUs of quota)",
                    f"{total_s:.1f} s ({args.jobs / total_s:.0f} Jobs/s)",
                    f">= quota bound {waves * seconds:.1f} s",
                    "Kueue baseline: 15,000 workloads admitted in ~6 min",
                ),
            ]
        )


if __name__ == "__main__":
    main()
