"""Evicting pods from a node the health agent found faulty, and force-clearing them if it is dead.

A pod that does not tolerate the node's NoExecute health taint gets the pod condition
``DisruptionTarget`` (reason ``DeletionByNodeHealthAgent``, the message names the node, its
status and the fault) and is then deleted gracefully: its kubelet sends SIGTERM, waits the
pod's ``terminationGracePeriodSeconds`` (the time a trainer has to checkpoint), then SIGKILL.
Pods that tolerate the taint for ``tolerationSeconds`` are left to the taint manager
(``node_lifecycle``); pods that tolerate it for ever stay. A pod still Terminating
``eviction_timeout_seconds`` after its grace period ended (its node never confirmed) is
removed with grace 0, so nothing is stuck on a dead node.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable
from typing import Any

from hyperpod.apiserver.errors import ApiError, Conflict, NotFound
from hyperpod.apiserver.metadata import now_rfc3339
from hyperpod.apiserver.registry import Registry
from hyperpod.controllers.node_lifecycle import eviction_delay, parse_time
from hyperpod.controllers.runtime import record_event

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


def evict(reg: Registry, pods: Iterable[Obj], node: str, taints: list[Obj], message: str) -> int:
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
