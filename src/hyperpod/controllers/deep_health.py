"""Deep health checks of a node: ``deep-health-check-status`` goes InProgress -> Passed | Failed.

While a check runs the node is ``Unschedulable`` (NoSchedule taint). On a simulated node the
check takes ``health.deepHealthCheckSeconds`` and fails when the node carries the annotation
``hyperpod.local/simulate-deep-health-check: fail``. On the local node it is real: the process
``python -m hyperpod.kubelet.deep_check`` (matmul burn with a result check and a memory pattern on
each GPU, or the CPU without one, and a two-process gloo all-reduce). A node that passes becomes
``Schedulable``; one that fails becomes ``UnschedulablePendingReplacement``.
Nodes the cluster starts with join with ``Passed`` (see ``controllers/nodes.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from typing import Any

from hyperpod.api import health as h
from hyperpod.api.health import with_health_taints
from hyperpod.apiserver.errors import NotFound
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.registry import Registry
from hyperpod.runtime.machinery import record_event

log = logging.getLogger(__name__)
Obj = dict[str, Any]
COMPONENT = "deep-health-check"


def _set(reg: Registry, name: str, deep: str, health: str) -> Obj:
    node = reg.get("nodes", name)
    patch = {
        "metadata": {"labels": {h.DEEP_HEALTH_LABEL: deep, h.HEALTH_LABEL: health}},
        "spec": {"taints": with_health_taints(node, health)},
    }
    return reg.patch("nodes", name, patch, PatchType.MERGE)


async def _local_check(timeout: float = 600.0) -> tuple[bool, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "hyperpod.kubelet.deep_check",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        return False, f"deep health check did not finish in {timeout:.0f}s"
    try:
        result = json.loads(out.decode().strip().splitlines()[-1])
        text = "; ".join(c["message"] for c in result["checks"])
        return bool(result["passed"]) and proc.returncode == 0, text
    except (ValueError, IndexError, KeyError, TypeError):
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        return False, f"deep health check crashed (exit {proc.returncode}): {tail[0]}"


async def run(reg: Registry, name: str, *, simulated: bool, seconds: float) -> bool:
    """Run the checks on node ``name``; True when it passed."""
    try:
        node = _set(reg, name, h.DEEP_IN_PROGRESS, h.UNSCHEDULABLE)
    except NotFound:
        return False
    ref = {**node, "kind": "Node", "apiVersion": "v1"}
    kind = "simulated" if simulated else "InstanceStress, InstanceConnectivity"
    record_event(
        reg,
        ref,
        "Normal",
        "DeepHealthCheckStarted",
        f"Deep health checks started ({kind})",
        COMPONENT,
    )
    if simulated:
        await asyncio.sleep(seconds)
        fresh = reg.try_get("nodes", name)
        ann = ((fresh or {}).get("metadata") or {}).get("annotations") or {}
        passed = ann.get(h.DEEP_HEALTH_SIMULATE_ANNOTATION) != "fail"
        detail = f"simulated checks took {seconds:g}s" + (
            "" if passed else f" and failed ({h.DEEP_HEALTH_SIMULATE_ANNOTATION}: fail)"
        )
    else:
        passed, detail = await _local_check()
    with contextlib.suppress(NotFound):
        if passed:
            node = _set(reg, name, h.DEEP_PASSED, h.SCHEDULABLE)
            record_event(
                reg,
                {**node, "kind": "Node", "apiVersion": "v1"},
                "Normal",
                "DeepHealthCheckPassed",
                f"Deep health checks passed: {detail}; node is Schedulable",
                COMPONENT,
            )
        else:
            node = _set(reg, name, h.DEEP_FAILED, h.PENDING_REPLACEMENT)
            record_event(
                reg,
                {**node, "kind": "Node", "apiVersion": "v1"},
                "Warning",
                "DeepHealthCheckFailed",
                f"Deep health checks failed: {detail}; node is {h.PENDING_REPLACEMENT}",
                COMPONENT,
            )
    return passed
