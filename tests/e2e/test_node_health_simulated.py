"""Health agent, fault injection, eviction and node recovery on simulated p5 nodes (in-process)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from hyperpod.api import health as h
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.registry import Registry
from hyperpod.controllers.node_lifecycle import NodeLifecycle
from hyperpod.controllers.node_recovery import _run as run_health
from hyperpod.controlplane.context import ControlPlaneContext
from hyperpod.kubelet.simulated import SimulatedKubelet
from hyperpod.scheduler.scheduler import Scheduler

pytestmark = pytest.mark.timeout(120)


def config(recovery: str = "Automatic", **health: Any) -> dict[str, Any]:
    return {
        "nodes": {
            "local": {"enabled": False},
            "simulated": [{"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 3}],
        },
        "nodeLifecycle": {"gracePeriodSeconds": 2, "monitorPeriodSeconds": 0.2},
        "kubelet": {"simulatedHeartbeatSeconds": 0.2},
        "nodeRecovery": recovery,
        "health": {
            "pollSeconds": 0.2,
            "rebootSeconds": 0.3,
            "replaceSeconds": 0.3,
            "deepHealthCheckSeconds": 0.5,
            "kubeletStaleSeconds": 1,
            "unresponsiveSeconds": 1,
            "evictionTimeoutSeconds": 1,
            **health,
        },
    }


@contextlib.asynccontextmanager
async def cluster(tmp: Path, cfg: dict[str, Any]) -> AsyncIterator[ControlPlaneContext]:
    reg = Registry(tmp / "state.db")
    reg.ensure_system_namespaces()
    ctx = ControlPlaneContext(reg=reg, config=cfg, data_dir=tmp)
    loop = asyncio.get_running_loop()
    tasks = [
        loop.create_task(SimulatedKubelet(ctx).run()),
        loop.create_task(Scheduler(ctx).run()),
        loop.create_task(NodeLifecycle(ctx).run()),
        loop.create_task(run_health(ctx)),
    ]
    while len(reg.list("nodes")) < 3:
        await asyncio.sleep(0.01)
    try:
        yield ctx
    finally:
        ctx.stopping.set()
        await asyncio.wait_for(asyncio.gather(*tasks), 10)
        reg.close()


async def until(pred: Callable[[], Any], timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not met in {timeout}s")


def label(reg: Registry, node: str, key: str = h.HEALTH_LABEL) -> str | None:
    obj = reg.try_get("nodes", node)
    return None if obj is None else (obj["metadata"].get("labels") or {}).get(key)


def inject(reg: Registry, node: str, fault: str) -> None:
    reg.patch(
        "nodes", node, {"metadata": {"annotations": {h.INJECT_ANNOTATION: fault}}}, PatchType.MERGE
    )


def reasons(reg: Registry, name: str) -> list[str]:
    evs = [e for e in reg.list("events", "default") if e["involvedObject"].get("name") == name]
    evs.sort(key=lambda e: e["metadata"]["name"])
    return [e["reason"] for e in evs]


def test_xid_79_without_recovery_labels_and_taints_the_node(tmp_path: Path) -> None:
    asyncio.run(_xid_79_without_recovery(tmp_path))


async def _xid_79_without_recovery(tmp_path: Path) -> None:
    async with cluster(tmp_path, config("None")) as ctx:
        reg = ctx.reg
        inject(reg, "p5-1", "gpu-xid-79:3")
        await until(lambda: label(reg, "p5-1") == h.PENDING_REPLACEMENT)
        node = reg.get("nodes", "p5-1")
        taints = {(t["key"], t.get("value"), t["effect"]) for t in node["spec"]["taints"]}
        assert (h.HEALTH_LABEL, h.PENDING_REPLACEMENT, "NoSchedule") in taints
        assert (h.HEALTH_LABEL, h.PENDING_REPLACEMENT, "NoExecute") in taints
        gpu = next(c for c in node["status"]["conditions"] if c["type"] == h.GPU_CONDITION)
        assert gpu["status"] == "True" and "XID 79 on GPU 3" in gpu["message"]
        assert h.INJECT_ANNOTATION not in node["metadata"]["annotations"]
        seen = reasons(reg, "p5-1")
        assert (
            seen.index("FaultInjected")
            < seen.index("GpuXidError")
            < seen.index("NodeHealthStatusChanged")
        )
        await asyncio.sleep(1)
        assert label(reg, "p5-1") == h.PENDING_REPLACEMENT  # None: only labelled
