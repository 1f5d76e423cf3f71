"""A 100-replica Deployment on simulated nodes: apply to all ready, then a rolling update (issue 14).

Run: .venv/bin/python benchmarks/deployment_rollout.py [--replicas 100] [--nodes 10]
Starts a real control plane with simulated nodes (ml.g5.48xlarge), creates the Deployment over
HTTPS with the official client and polls its status until ``availableReplicas`` equals
``replicas`` (every pod scheduled, bound, Running and Ready through the ReplicaSet controller);
then changes the image and times the rolling update (maxSurge 25 %, maxUnavailable 25 %) to
completion. Target: <= 10 s to all ready. Anchor: Kubernetes' pod startup SLO (p99 <= 5 s per
pod, excluding image pulls) and the kube-controller-manager's default burst of 500 pod creates.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from _cluster import control_plane, report
from kubernetes import client


def deployment(replicas: int) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "bench"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "bench"}},
            "template": {
                "metadata": {"labels": {"app": "bench"}},
                "spec": {
                    "nodeSelector": {"type": "kwok"},
                    "containers": [{"name": "app", "image": "nginx:1.27"}],
                },
            },
        },
    }


def wait_rolled_out(apps: client.AppsV1Api, replicas: int, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        d = apps.read_namespaced_deployment_status("bench", "default")
        st = d.status or client.V1DeploymentStatus()
        if (
            (st.observed_generation or 0) >= d.metadata.generation
            and (st.updated_replicas or 0) == replicas
            and (st.available_replicas or 0) == replicas
            and (st.replicas or 0) == replicas
        ):
            return
        time.sleep(0.05)
    raise SystemExit("timed out waiting for the rollout")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--replicas", type=int, default=100)
    ap.add_argument("--nodes", type=int, default=10)
    args = ap.parse_args()
    config = {
        "nodes": {
            "local": {"enabled": False},
            "simulated": [{"group": "sim", "instanceType": "ml.g5.48xlarge", "count": args.nodes}],
        },
        "addons": {"trainingOperator": False, "kueue": False, "healthAgent": False},
    }
    with tempfile.TemporaryDirectory() as tmp, control_plane(Path(tmp), config) as cp:
        api = cp.api_client()
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        while len(core.list_node().items) < args.nodes:
            time.sleep(0.1)
        t0 = time.perf_counter()
        apps.create_namespaced_deployment("default", deployment(args.replicas))
        wait_rolled_out(apps, args.replicas)
        create_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        apps.patch_namespaced_deployment(
            "bench",
            "default",
            {
                "spec": {
                    "template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.28"}]}}
                }
            },
        )
        wait_rolled_out(apps, args.replicas)
        roll_s = time.perf_counter() - t1
        report(
            [
                ("figure", "measured", "target", "anchor"),
                (
                    f"apply -> all {args.replicas} replicas available ({args.nodes} simulated nodes)",
                    f"{create_s:.2f} s",
                    "<= 10 s",
                    "pod startup SLO p99 <= 5 s per pod",
                ),
                (
                    f"rolling update of {args.replicas} replicas (25 % surge / 25 % unavailable)",
                    f"{roll_s:.2f} s",
                    "-",
                    "-",
                ),
            ]
        )


if __name__ == "__main__":
    main()
