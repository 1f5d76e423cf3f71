"""ClusterQueue and LocalQueue status: pending and reserving counts, flavor usage, Active.

Written at most once a second, and only when something changed (condition times aside).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hyperpod.api import kueue as api
from hyperpod.apiserver.errors import ApiError
from hyperpod.controllers.kueue.preemption import dominant_resource_share
from hyperpod.controllers.kueue.snapshot import ClusterQueue
from hyperpod.controllers.kueue.state import CLUSTER_QUEUES, LOCAL_QUEUES, KueueState, Obj
from hyperpod.runtime.machinery import object_key, set_condition

log = logging.getLogger(__name__)

Usage = dict[tuple[str, str], int]  # (flavor, resource) -> amount in milli-units


class QueueStatusWriter:
    """Keeps ``status`` of every ClusterQueue and LocalQueue in step with the snapshot."""

    def __init__(self, state: KueueState) -> None:
        self.s = state

    async def loop(self, stopping: asyncio.Event) -> None:
        while not stopping.is_set():
            await asyncio.sleep(1.0)
            if not self.s.status_dirty or self.s.stale:
                continue
            self.s.status_dirty = False
            try:
                self.write()
            except Exception:
                log.exception("kueue queue status update failed")

    def write(self) -> None:
        self._write_cluster_queues()
        self._write_local_queues()

    def _write_cluster_queues(self) -> None:
        s = self.s
        for obj in s.informers[CLUSTER_QUEUES].list():
            name = obj["metadata"]["name"]
            cq = s.snapshot.cluster_queues.get(name)
            if cq is None:
                continue
            status = self.cluster_queue_status(cq, obj.get("status") or {})
            if _same_status(obj.get("status") or {}, status):
                continue
            fresh = s.reg.try_get(CLUSTER_QUEUES, name)
            if fresh is None:
                continue
            fresh["status"] = status
            with contextlib.suppress(ApiError):
                s.reg.update(f"{CLUSTER_QUEUES}/status", fresh)

    def _local_queue_tallies(self) -> tuple[dict[str, list[int]], dict[str, Usage]]:
        """Per LocalQueue key: [pending, admitted] counts, and the admitted workloads' usage."""
        counts: dict[str, list[int]] = {}
        usage: dict[str, Usage] = {}
        for info in self.s.queues.all_pending():
            counts.setdefault(f"{info.namespace}/{info.queue_name}", [0, 0])[0] += 1
        for info in self.s.admitted.values():
            lq_key = f"{info.namespace}/{info.queue_name}"
            counts.setdefault(lq_key, [0, 0])[1] += 1
            u = usage.setdefault(lq_key, {})
            for fr, v in info.usage().items():
                u[fr] = u.get(fr, 0) + v
        return counts, usage

    def _write_local_queues(self) -> None:
        s = self.s
        counts, usage = self._local_queue_tallies()
        for obj in s.informers[LOCAL_QUEUES].list():
            key = object_key(obj)
            pending, admitted = counts.get(key, [0, 0])
            old = obj.get("status") or {}
            flavor_usage = _usage_wire(usage.get(key, {}), None)
            status = {
                "pendingWorkloads": pending,
                "reservingWorkloads": admitted,
                "admittedWorkloads": admitted,
                "conditions": self._local_queue_conditions(obj, old),
                "flavorsReservation": flavor_usage,
                "flavorUsage": flavor_usage,
            }
            if _same_status(old, status):
                continue
            ns, _, name = key.partition("/")
            fresh = s.reg.try_get(LOCAL_QUEUES, name, ns)
            if fresh is None:
                continue
            fresh["status"] = status
            with contextlib.suppress(ApiError):
                s.reg.update(f"{LOCAL_QUEUES}/status", fresh, ns)

    def _local_queue_conditions(self, obj: Obj, old: Obj) -> list[Obj]:
        cq_name = (obj.get("spec") or {}).get("clusterQueue")
        cq = self.s.snapshot.cluster_queues.get(cq_name or "")
        conds = [dict(c) for c in old.get("conditions") or []]
        if cq is None:
            set_condition(
                conds,
                "Active",
                "False",
                "ClusterQueueDoesNotExist",
                f"Can't submit new workloads to clusterQueue {cq_name}: it doesn't exist",
            )
        elif not cq.active:
            set_condition(
                conds,
                "Active",
                "False",
                "ClusterQueueIsInactive",
                f"Can't submit new workloads to clusterQueue {cq_name}: it is inactive",
            )
        else:
            set_condition(
                conds, "Active", "True", "Ready", "Can submit new workloads to localQueue"
            )
        return conds

    def cluster_queue_status(self, cq: ClusterQueue, old: Obj) -> Obj:
        conds = [dict(c) for c in old.get("conditions") or []]
        if cq.inactive_reason:
            reason, _, msg = cq.inactive_reason.partition(": ")
            set_condition(conds, "Active", "False", reason, msg)
        elif cq.stop_policy != "None":
            set_condition(
                conds,
                "Active",
                "False",
                "Stopped",
                f"Can't admit new workloads: stopPolicy is {cq.stop_policy}",
            )
        else:
            set_condition(conds, "Active", "True", "Ready", "Can admit new workloads")
        usage: Usage = {}
        for info in cq.workloads.values():
            for fr, v in info.usage().items():
                usage[fr] = usage.get(fr, 0) + v
        wire = _usage_wire(usage, cq)
        status: Obj = {
            "pendingWorkloads": self.s.queues.counts(cq.name),
            "reservingWorkloads": len(cq.workloads),
            "admittedWorkloads": len(cq.workloads),
            "flavorsReservation": wire,
            "flavorsUsage": wire,
            "conditions": conds,
        }
        if self.s.fair_sharing:
            share = dominant_resource_share(cq)
            status["fairSharing"] = {
                "weightedShare": int(share) if share != float("inf") else 2**63 - 1
            }
        return status


def _usage_wire(usage: Usage, cq: ClusterQueue | None) -> list[Obj]:
    order: list[tuple[str, list[str]]] = []
    if cq is not None:
        for g in cq.resource_groups:
            for f in g.flavors:
                order.append((f, list(g.covered)))
    else:
        flavors: dict[str, list[str]] = {}
        for f, r in sorted(usage):
            flavors.setdefault(f, []).append(r)
        order = list(flavors.items())
    out = []
    for f, resources in order:
        rows = []
        for r in resources:
            total = usage.get((f, r), 0)
            row: Obj = {"name": r, "total": api.format_milli(r, total)}
            if cq is not None:
                row["borrowed"] = api.format_milli(r, max(0, total - cq.subtree_quota((f, r))))
            rows.append(row)
        out.append({"name": f, "resources": rows})
    return out


def _same_status(old: Obj, new: Obj) -> bool:
    def strip(s: Obj) -> Obj:
        s = dict(s)
        s["conditions"] = [
            {k: v for k, v in c.items() if k != "lastTransitionTime"}
            for c in s.get("conditions") or []
        ]
        return s

    return strip(old) == strip(new)
