"""Real containers vs processes on the local node (issue 19).

Run (as root, with runc and busybox-static installed): .venv/bin/python benchmarks/containers_oci.py
Starts one real control plane with ``runtime: process`` as the node default and creates pods
alternately as processes and as OCI containers (annotation ``hyperpod.local/runtime: oci``,
a busybox image already on the node), timing create -> Running seen by a watch, then measures
a control-plane kill -9 and restart with 20 running containers: how many are re-adopted
unrestarted, and how long until every pod reads Running again.
Targets: container create -> Running p50 within 2x processes; 20 of 20 re-adopted, 0 restarted.
Anchor: the Kubernetes pod startup SLO, p99 <= 5 s with pre-pulled images.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import time
from pathlib import Path

from _cluster import percentile, report, start_control_plane  # puts tests/ on sys.path
from kubernetes import client, watch

from hyperpod.kubelet.images import ImageStore
from oci_images import BUSYBOX, RUNC, busybox_archive

IMAGE = "localhost/busybox:bench"
CONFIG = {"nodes": {"local": {"name": "bench-node"}}, "kubelet": {"runtime": "auto"}}


def pod(name: str, runtime: str, command: list[str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "annotations": {"hyperpod.local/runtime": runtime}},
        "spec": {
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 0,
            "containers": [
                {
                    "name": "c",
                    "image": IMAGE,
                    "imagePullPolicy": "IfNotPresent",
                    "command": command,
                }
            ],
        },
    }


def until_running(v1: client.CoreV1Api, name: str, rv: str) -> None:
    w = watch.Watch()
    for ev in w.stream(
        v1.list_namespaced_pod,
        "default",
        field_selector=f"metadata.name={name}",
        resource_version=rv,
        timeout_seconds=60,
    ):
        if ev["object"].status.phase == "Running":
            w.stop()
            return
    raise RuntimeError(f"{name} never ran")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pods", type=int, default=20, help="pods of each runtime")
    ap.add_argument("--adopt", type=int, default=20, help="containers running across a restart")
    args = ap.parse_args()
    if RUNC is None or BUSYBOX is None or os.geteuid() != 0:
        sys.exit("needs root, runc and busybox-static (apt-get install runc busybox-static)")
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cp"
        ImageStore(data).load(busybox_archive(Path(tmp) / "bb.tar", IMAGE))
        cp = start_control_plane(data, CONFIG)
        try:
            v1 = client.CoreV1Api(cp.api_client())
            while not v1.list_node().items:
                time.sleep(0.05)
            times: dict[str, list[float]] = {"process": [], "oci": []}
            for i in range(args.pods):
                for runtime, cmd in (("process", ["sleep", "30"]), ("oci", ["sleep", "30"])):
                    name = f"{runtime}-{i}"
                    t0 = time.perf_counter()
                    created = v1.create_namespaced_pod("default", pod(name, runtime, cmd))
                    until_running(v1, name, created.metadata.resource_version)
                    times[runtime].append((time.perf_counter() - t0) * 1000)
                    v1.delete_namespaced_pod(name, "default", grace_period_seconds=0)
            for i in range(args.adopt):
                v1.create_namespaced_pod("default", pod(f"keep-{i}", "oci", ["sleep", "600"]))
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                pods = v1.list_namespaced_pod("default", label_selector="").items
                keep = [p for p in pods if p.metadata.name.startswith("keep-")]
                if len(keep) == args.adopt and all(p.status.phase == "Running" for p in keep):
                    break
                time.sleep(0.2)
            time.sleep(1.0)  # let the last runc start behind its Running
            cp.stop(signal.SIGKILL, keep_pods=True)
            t0 = time.perf_counter()
            cp = start_control_plane(data, CONFIG)
            v1 = client.CoreV1Api(cp.api_client())
            readopted = restarted = 0
            while time.perf_counter() - t0 < 120:
                keep = [
                    p
                    for p in v1.list_namespaced_pod("default").items
                    if p.metadata.name.startswith("keep-")
                ]
                statuses = [(p.status.container_statuses or [None])[0] for p in keep]
                if keep and all(s is not None and s.state.running for s in statuses):
                    readopted = len(keep)
                    restarted = sum(1 for s in statuses if s and s.restart_count)
                    break
                time.sleep(0.2)
            adopt_s = time.perf_counter() - t0
        finally:
            cp.stop()
    report(
        [
            ("figure", "measured", "target", "anchor"),
            *(
                (
                    f"pod create -> Running, {rt} p50 / p99 ({len(ms)} pods)",
                    f"{percentile(ms, 50):.0f} / {percentile(ms, 99):.0f} ms",
                    "oci p50 <= 2x process" if rt == "oci" else "",
                    "k8s SLO p99 <= 5 s",
                )
                for rt, ms in times.items()
            ),
            (
                f"kill -9 + restart with {args.adopt} running containers",
                f"{readopted} re-adopted, {restarted} restarted, all Running after {adopt_s:.1f} s",
                f"{args.adopt} re-adopted, 0 restarted",
                "",
            ),
        ]
    )


if __name__ == "__main__":
    main()
