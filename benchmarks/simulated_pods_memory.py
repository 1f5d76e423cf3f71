"""1,000 simulated pods on 100 simulated nodes: time to Succeeded and control-plane memory (issue 3).

Run: .venv/bin/python benchmarks/simulated_pods_memory.py [--pods 1000] [--nodes 100]
Starts a real control plane with simulated nodes (ml.g5.48xlarge), creates the pods through
the API (annotation ``hyperpod.local/simulate-duration: 2s``), waits until all have
Succeeded and reports the control plane's peak resident memory (sampled) and the time taken.
Target: all Succeeded with <= 1 GiB. Anchor: kwok runs thousands of fake pods per node at a
few MB of memory per 1,000 pods (its own process; the API server's memory comes on top).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import psutil
from _cluster import control_plane, report
from kubernetes import client


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=1000)
    ap.add_argument("--nodes", type=int, default=100)
    args = ap.parse_args()
    config = {
        "nodes": {
            "local": {"enabled": False},
            "simulated": [{"group": "sim", "instanceType": "ml.g5.48xlarge", "count": args.nodes}],
        },
        "addons": {"trainingOperator": False, "kueue": False, "healthAgent": False},
    }
    with tempfile.TemporaryDirectory() as tmp, control_plane(Path(tmp), config) as cp:
        proc = psutil.Process(cp.proc.pid)
        peak = [proc.memory_info().rss]
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                try:
                    peak[0] = max(peak[0], proc.memory_info().rss)
                except psutil.Error:
                    return
                time.sleep(0.1)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        v1 = client.CoreV1Api(cp.api_client())
        while len(v1.list_node().items) < args.nodes:
            time.sleep(0.1)
        t0 = time.perf_counter()
        for i in range(args.pods):
            v1.create_namespaced_pod(
                "default",
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {
                        "name": f"sim-{i}",
                        "annotations": {"hyperpod.local/simulate-duration": "2s"},
                    },
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "main",
                                "image": "trainer:1",
                                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
                            }
                        ],
                    },
                },
            )
        created = time.perf_counter() - t0
        succeeded = 0
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline:
            succeeded = len(
                v1.list_namespaced_pod("default", field_selector="status.phase=Succeeded").items
            )
            if succeeded >= args.pods:
                break
            time.sleep(0.5)
        elapsed = time.perf_counter() - t0
        done.set()
        sampler.join()
        report(
            [
                ("figure", "measured", "target", "anchor"),
                (
                    f"{args.pods} simulated pods on {args.nodes} nodes: Succeeded",
                    f"{succeeded}/{args.pods} in {elapsed:.1f} s (created in {created:.1f} s)",
                    "all",
                    "",
                ),
                (
                    "control-plane peak RSS",
                    f"{peak[0] / 2**20:.0f} MiB",
                    "<= 1024 MiB",
                    "kwok: a few MB per 1,000 fake pods (plus the API server)",
                ),
            ]
        )


if __name__ == "__main__":
    main()
