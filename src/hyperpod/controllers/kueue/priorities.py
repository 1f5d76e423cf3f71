"""Workload priorities: a Workload naming a priority class gets its value written to its spec.

A WorkloadPriorityClass is preferred, a Kubernetes PriorityClass is the fallback. A Workload
whose class does not exist yet waits with a note, and is tried again when a priority class
changes.
"""

from __future__ import annotations

import contextlib

from hyperpod.apiserver.errors import ApiError
from hyperpod.controllers.kueue.snapshot import is_true
from hyperpod.controllers.kueue.state import (
    K8S_PRIORITY_CLASSES,
    PC_SOURCE,
    PRIORITY_CLASSES,
    WORKLOADS,
    WPC_SOURCE,
    KueueState,
)
from hyperpod.controllers.kueue.workload_reconciler import WorkloadReconciler


class PriorityResolver:
    """Writes ``spec.priority`` of Workloads that name a priority class and have none."""

    def __init__(self, state: KueueState, workloads: WorkloadReconciler) -> None:
        self.s = state
        self.workloads = workloads
        self._waiting: set[str] = set()  # their priority class does not exist (yet)

    def resolve(self) -> None:
        s = self.s
        inf = s.informers[WORKLOADS]
        keys, s.needs_priority = s.needs_priority, set()
        if s.retry_priorities:
            s.retry_priorities = False
            keys |= self._waiting
            self._waiting = set()
        for key in keys:
            obj = inf.get(key)
            if obj is None:
                continue
            spec = obj.get("spec") or {}
            if not spec.get("priorityClassName") or spec.get("priority") is not None:
                continue
            if (obj.get("status") or {}).get("admission") or is_true(obj, "Finished"):
                continue
            value, source = self.priority_of(
                spec["priorityClassName"], spec.get("priorityClassSource")
            )
            if value is None:
                self._waiting.add(key)
                self.workloads.note(
                    key,
                    obj,
                    "Pending",
                    f"WorkloadPriorityClass {spec['priorityClassName']} doesn't exist;"
                    " create it or remove spec.priorityClassName",
                )
                continue
            fresh = s.fresh_workload(key)
            if fresh is None:
                continue
            fresh["spec"]["priority"] = value
            fresh["spec"]["priorityClassSource"] = source
            with contextlib.suppress(ApiError):
                s.reg.update(WORKLOADS, fresh, fresh["metadata"].get("namespace"))

    def priority_of(self, name: str, source: str | None = None) -> tuple[int | None, str]:
        """Value of a WorkloadPriorityClass (preferred) or a Kubernetes PriorityClass."""
        reg = self.s.reg
        if source != PC_SOURCE:
            wpc = reg.try_get(PRIORITY_CLASSES, name)
            if wpc is not None:
                return int(wpc.get("value") or 0), WPC_SOURCE
        if reg.catalog.get(K8S_PRIORITY_CLASSES) is not None:
            pc = reg.try_get(K8S_PRIORITY_CLASSES, name)
            if pc is not None:
                return int(pc.get("value") or 0), PC_SOURCE
        return None, ""
