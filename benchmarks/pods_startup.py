"""Pod create -> Running for a trivial container on the local node (issue 3).

Run: .venv/bin/python benchmarks/pods_startup.py [--pods 40]
Starts a real control plane, creates pods one after another through the API (scheduler ->
binding -> kubelet -> shim -> process) and times create -> status.phase=Running seen by a
watch. Target: p50 <= 300 ms, p99 <= 1 s. Anchor: upstream Kubernetes' pod startup SLO,
p99 <= 5 s for stateless pods with pre-pulled images.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from _cluster import control_plane, percentile, report
from kubernetes import client, watch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=40)
    args = ap.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        control_plane(Path(tmp), {"nodes": {"local": {"name": "bench-node"}}}) as cp,
    ):
        v1 = client.CoreV1Api(cp.api_client())
        while not v1.list_node().items:
            time.sleep(0.05)
        times = []
        for i in range(args.pods):
            body = {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": f"p{i}"},
                "spec": {
                    "restartPolicy": "Never",
                    "terminationGracePeriodSeconds": 0,
                    "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "30"]}],
                },
            }
            t0 = time.perf_counter()
            created = v1.create_namespaced_pod("default", body)
            w = watch.Watch()
            for ev in w.stream(
                v1.list_namespaced_pod,
                "default",
                field_selector=f"metadata.name=p{i}",
                resource_version=created.metadata.resource_version,
                timeout_seconds=30,
            ):
                if ev["object"].status.phase == "Running":
                    times.append(time.perf_counter() - t0)
                    w.stop()
            v1.delete_namespaced_pod(f"p{i}", "default", grace_period_seconds=1)
        ms = [t * 1000 for t in times]
        report(
            [
                ("figure", "measured", "target", "anchor"),
                (
                    "pod create -> Running p50",
                    f"{percentile(ms, 50):.0f} ms",
                    "<= 300 ms",
                    "k8s SLO p99 <= 5 s",
                ),
                (
                    "pod create -> Running p99",
                    f"{percentile(ms, 99):.0f} ms",
                    "<= 1000 ms",
                    "k8s SLO p99 <= 5 s",
                ),
                ("pods measured", str(len(ms)), str(args.pods), ""),
            ]
        )


if __name__ == "__main__":
    main()
