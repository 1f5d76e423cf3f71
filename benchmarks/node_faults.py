"""Fault to recovery on simulated p5 nodes, and the health agent's cost with 8 fake GPUs.

Part 1: an in-process control plane (registry on SQLite, scheduler, simulated kubelet, node
lifecycle, PyTorchJob operator, health agent) with 24 simulated ml.p5.48xlarge nodes. 20 times:
an auto-resume PyTorchJob (master + worker, 8 GPUs each) runs; XID 79 is injected on the node of
its master through the Node annotation (what `hyp inject-fault` writes); we time
fault -> node labelled UnschedulablePendingReplacement, -> the job's pod on it evicted
(terminating or gone), -> the job training again (two Running pods, none on that node).
nodeRecovery is None, so faulty nodes stay out and every round lands on fresh ones.

Part 2: one agent poll of a local node with 8 fake GPUs (NVML calls, disk, memory, kubelet
Lease, writing nothing when nothing changed), CPU time per poll, and CPU % at the default
5 s interval; Python heap the agent holds for that node (tracemalloc).

Run: PYTHONPATH=src .venv/bin/python benchmarks/node_faults.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

from hyperpod.api import health as h
from hyperpod.api import pytorchjob as api
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.registry import CRD_RESOURCE, Registry
from hyperpod.controllers.health_agent import HealthAgent
from hyperpod.controllers.node_lifecycle import NodeLifecycle
from hyperpod.controllers.node_recovery import _run as run_health
from hyperpod.controllers.pytorchjob import PyTorchJobOperator, validate
from hyperpod.controlplane.context import ControlPlaneContext
from hyperpod.kubelet.simulated import SimulatedKubelet
from hyperpod.scheduler.scheduler import Scheduler

FAULTS = 20
NODES = 24


def job(name: str) -> dict[str, Any]:
    template = {
        "spec": {
            "containers": [
                {"name": "pytorch", "image": "x", "resources": {"limits": {"nvidia.com/gpu": "8"}}}
            ]
        }
    }
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "metadata": {
            "name": name,
            "namespace": "default",
            "annotations": {
                "sagemaker.amazonaws.com/enable-job-auto-resume": "true",
                "sagemaker.amazonaws.com/job-max-retry-count": "3",
            },
        },
        "spec": {
            "pytorchReplicaSpecs": {
                "Master": {"replicas": 1, "restartPolicy": "OnFailure", "template": template},
                "Worker": {"replicas": 1, "restartPolicy": "OnFailure", "template": template},
            }
        },
    }


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))]


async def part1(tmp: Path) -> dict[str, list[float]]:
    reg = Registry(tmp / "state.db")
    reg.ensure_system_namespaces()
    for crd in api.crds():
        reg.create(CRD_RESOURCE, crd)
    reg.add_admission(api.RESOURCE, api.default, validate)
    cfg = {
        "nodes": {
            "local": {"enabled": False},
            "simulated": [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": NODES}],
        },
        "nodeRecovery": "None",
        "health": {},  # defaults: 5 s poll (injections act at once, through the node watch)
    }
    ctx = ControlPlaneContext(reg=reg, config=cfg, data_dir=tmp)
    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(SimulatedKubelet(ctx).run()),
        loop.create_task(Scheduler(ctx).run()),
        loop.create_task(NodeLifecycle(ctx).run()),
        loop.create_task(PyTorchJobOperator(reg).run(ctx.stopping)),
        loop.create_task(run_health(ctx)),
    ]
    out: dict[str, list[float]] = {"labelled": [], "evicted": [], "training": []}

    def running(name: str) -> list[dict[str, Any]]:
        pods = reg.list("pods", "default", label_selector=f"training.kubeflow.org/job-name={name}")
        return [
            p
            for p in pods
            if p["status"].get("phase") == "Running" and not p["metadata"].get("deletionTimestamp")
        ]

    try:
        for i in range(FAULTS):
            name = f"job-{i}"
            reg.create(api.RESOURCE, job(name), "default")
            while len(running(name)) < 2:
                await asyncio.sleep(0.005)
            pods = running(name)
            victim_pod = next(p for p in pods if "master" in p["metadata"]["name"])
            victim = victim_pod["spec"]["nodeName"]
            old = {p["metadata"]["uid"] for p in pods}
            t0 = time.perf_counter()
            reg.patch(
                "nodes",
                victim,
                {"metadata": {"annotations": {h.INJECT_ANNOTATION: "gpu-xid-79:0"}}},
                PatchType.MERGE,
            )
            marks: dict[str, float] = {}
            while "training" not in marks:
                now = time.perf_counter() - t0
                node = reg.get("nodes", victim)
                if (
                    "labelled" not in marks
                    and node["metadata"]["labels"].get(h.HEALTH_LABEL) == h.PENDING_REPLACEMENT
                ):
                    marks["labelled"] = now
                if "evicted" not in marks:
                    p = reg.try_get("pods", victim_pod["metadata"]["name"], "default")
                    if (
                        p is None
                        or p["metadata"]["uid"] != victim_pod["metadata"]["uid"]
                        or p["metadata"].get("deletionTimestamp")
                    ):
                        marks["evicted"] = now
                fresh = running(name)
                if (
                    len(fresh) == 2
                    and not old & {p["metadata"]["uid"] for p in fresh}
                    and all(p["spec"]["nodeName"] != victim for p in fresh)
                ):
                    marks.setdefault("labelled", now)
                    marks.setdefault("evicted", now)
                    marks["training"] = now
                await asyncio.sleep(0.002)
            for k, v in marks.items():
                out[k].append(v * 1000)
            reg.delete(api.RESOURCE, name, "default")
            for p in reg.list(  # no garbage collector in this in-process cluster
                "pods", "default", label_selector=f"training.kubeflow.org/job-name={name}"
            ):
                reg.delete("pods", p["metadata"]["name"], "default", grace_period_seconds=0)
    finally:
        ctx.stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        reg.close()
    return out


async def part2(tmp: Path) -> tuple[float, float, int]:
    import os

    os.environ["HYPERPOD_FAKE_GPUS"] = "8"
    reg = Registry(tmp / "state2.db")
    reg.ensure_system_namespaces()
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "bench", "labels": {h.HEALTH_LABEL: h.SCHEDULABLE}},
        "status": {
            "capacity": {"nvidia.com/gpu": "8", "vpc.amazonaws.com/efa": "0"},
            "allocatable": {"nvidia.com/gpu": "8"},
        },
    }
    reg.create("nodes", node)
    cfg = {"nodes": {"local": {"name": "bench"}}}
    ctx = ControlPlaneContext(reg=reg, config=cfg, data_dir=tmp)
    agent = HealthAgent(ctx)
    await agent.start()
    tracemalloc.start()
    agent.check(reg.get("nodes", "bench"))  # builds the monitor, writes conditions once
    heap = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    n = 200
    cpu0 = time.process_time()
    for _ in range(n):
        agent.check(agent.nodes.cache.get("bench") or reg.get("nodes", "bench"))
    per_poll = (time.process_time() - cpu0) / n
    await agent.stop()
    reg.close()
    return per_poll * 1000, per_poll / agent.config.poll_seconds * 100, heap


def main() -> int:
    with tempfile.TemporaryDirectory() as d:
        marks = asyncio.run(part1(Path(d)))
        poll_ms, cpu_pct, heap = asyncio.run(part2(Path(d)))
    print(f"{'figure':<52} {'p50':>9} {'p99':>9}  target / anchor")
    anchors = {
        "labelled": "HyperPod: agent reacts to an XID within its poll",
        "evicted": "Kubernetes taint manager: NoExecute evicts at once",
        "training": "HyperPod auto-resume: minutes on real nodes",
    }
    for key, label in (
        ("labelled", "fault injected -> node labelled (ms)"),
        ("evicted", "fault injected -> pod evicted (ms)"),
        ("training", "fault injected -> job training again (ms)"),
    ):
        vals = marks[key]
        print(
            f"{label:<52} {statistics.median(vals):>9.1f} {pct(vals, 0.99):>9.1f}  {anchors[key]}"
        )
    print(f"{'agent poll, local node with 8 fake GPUs (ms CPU)':<52} {poll_ms:>9.2f}")
    print(f"{'agent CPU at the default 5 s interval (%)':<52} {cpu_pct:>9.3f}  target < 1%")
    print(f"{'agent heap for that node (KiB)':<52} {heap / 1024:>9.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
