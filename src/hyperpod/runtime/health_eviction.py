"""Evicting pods from a node the health agent found faulty, and force-clearing them if it is dead.

A pod that does not tolerate the node's NoExecute health taint gets the pod condition
``DisruptionTarget`` (reason ``DeletionByNodeHealthAgent``, the message names the node, its
status and the fault) and is then deleted gracefully: its kubelet sends SIGTERM, waits the
pod's ``terminationGracePeriodSeconds`` (the time a trainer has to checkpoint), then SIGKILL.
Before the delete, a pod on the local node finds the reason in the JSON file named by its
``HYPERPOD_EVICTION_FILE`` variable (``{"node", "reason", "message", "time"}``), so a trainer's
SIGTERM handler can tell a node fault from an ordinary stop. Pods that tolerate the taint for
``tolerationSeconds`` are left to the taint manager
(``node_lifecycle``); pods that tolerate it for ever stay. A pod still Terminating
``eviction_timeout_seconds`` after its grace period ended (its node never confirmed) is
removed with grace 0, so nothing is stuck on a dead node.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from hyperpod.api.meta import epoch_of as parse_time
from hyperpod.api.tolerations import eviction_delay
from hyperpod.apiserver.errors import ApiError, Conflict, NotFound
from hyperpod.apiserver.metadata import now_rfc3339
from hyperpod.apiserver.registry import Registry
from hyperpod.runtime.machinery import record_event

Obj = dict[str, Any]
DISRUPTION_REASON = "DeletionByNodeHealthAgent"
COMPONENT = "health-agent"


def _mark(reg: Registry, pod: Obj, message: str) -> None:
    md = pod["metadata"]
    try:
        fresh = reg.get("pods", md["name"], md["namespace"])
    except NotFound:
        return
    status = fresh.setdefault("status", {})
    conds = [c for c in status.get("conditions") or [] if c.get("type") != "DisruptionTarget"]
    conds.append(
        {
            "type": "DisruptionTarget",
            "status": "True",
            "reason": DISRUPTION_REASON,
            "message": message,
            "lastTransitionTime": now_rfc3339(),
        }
    )
    status["conditions"] = conds
    with contextlib.suppress(Conflict, NotFound):
        reg.update("pods/status", fresh, md["namespace"])


def _hint(data_dir: Path | None, pod: Obj, node: str, message: str) -> None:
    if data_dir is None:
        return
    sandbox = data_dir / "pods" / str(pod["metadata"].get("uid"))
    if not sandbox.is_dir():
        return  # not a pod of this machine (simulated node), or not started yet
    body = {"node": node, "reason": DISRUPTION_REASON, "message": message, "time": now_rfc3339()}
    tmp = sandbox / "eviction.json.tmp"
    with contextlib.suppress(OSError):
        tmp.write_text(json.dumps(body))
        os.replace(tmp, sandbox / "eviction.json")


def evict(
    reg: Registry,
    pods: Iterable[Obj],
    node: str,
    taints: list[Obj],
    message: str,
    data_dir: Path | None = None,
) -> int:
    """Evict the pods of ``node`` that do not tolerate ``taints`` now; returns how many."""
    n = 0
    for pod in pods:
        spec, md = pod.get("spec") or {}, pod["metadata"]
        if spec.get("nodeName") != node or md.get("deletionTimestamp"):
            continue
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        if eviction_delay(pod, taints) != 0.0:
            continue  # tolerated (for a while or for ever): the taint manager's business
        text = f"Evicting pod from node {node}: {message}"
        _mark(reg, pod, text)
        _hint(data_dir, pod, node, text)
        record_event(
            reg, {**pod, "kind": "Pod", "apiVersion": "v1"}, "Warning", "Evicted", text, COMPONENT
        )
        with contextlib.suppress(NotFound, Conflict):
            reg.delete("pods", md["name"], md["namespace"])
            n += 1
    return n


def force_clear(reg: Registry, pods: Iterable[Obj], node: str, timeout: float) -> int:
    """Remove pods of ``node`` still Terminating ``timeout`` s after their grace period ended."""
    now, n = time.time(), 0
    for pod in pods:
        md = pod["metadata"]
        if (pod.get("spec") or {}).get("nodeName") != node or not md.get("deletionTimestamp"):
            continue
        due = parse_time(md["deletionTimestamp"])
        if due is None or now < due + timeout:
            continue
        record_event(
            reg,
            {**pod, "kind": "Pod", "apiVersion": "v1"},
            "Warning",
            "ForceDeleted",
            f"Pod still terminating {timeout:.0f}s after its grace period on faulty node {node}; "
            "removing it",
            COMPONENT,
        )
        with contextlib.suppress(NotFound, Conflict, ApiError):
            reg.delete("pods", md["name"], md["namespace"], grace_period_seconds=0)
            n += 1
    return n


def remaining(pods: Iterable[Obj], node: str) -> list[Obj]:
    """Pods still bound to ``node`` that have not finished."""
    return [
        p
        for p in pods
        if (p.get("spec") or {}).get("nodeName") == node
        and (p.get("status") or {}).get("phase") not in ("Succeeded", "Failed")
    ]
