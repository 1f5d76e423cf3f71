"""The Workload reconciler: places each observed Workload in Kueue's bookkeeping.

An admitted Workload holds quota in the snapshot; a pending one waits in its ClusterQueue's
queue; one that cannot queue yet (no queue name, a missing or stopped LocalQueue, a priority
class still to read, a requeue time in the future) gets a QuotaReserved=False note saying why,
or a timer. Nothing here writes to the registry except through those notes, which
:mod:`admission` writes after each cycle.
"""

from __future__ import annotations

import asyncio
import re
import time

from hyperpod.controllers.kueue.snapshot import (
    CohortNode,
    condition,
    is_true,
    timestamp,
    workload_from,
)
from hyperpod.controllers.kueue.state import (
    WORKLOADS,
    KueueState,
    Obj,
    resource_version,
)
from hyperpod.runtime.machinery import object_key
from hyperpod.storage.watchcache import DELETED

TRANSIENT = "Workload no longer fits after processing another workload"
_DIGITS = re.compile(r"[0-9.]+[a-zA-Z]*")


def _shape(message: str) -> str:
    """A message with its amounts blanked, to tell a new reason from a new amount."""
    return _DIGITS.sub("#", message)


class WorkloadReconciler:
    """Workload and LocalQueue events into queue, snapshot and note changes."""

    def __init__(self, state: KueueState) -> None:
        self.s = state
        self._timers: dict[str, asyncio.TimerHandle] = {}

    def stop(self) -> None:
        for t in self._timers.values():
            t.cancel()

    # ------------------------------------------------------------------ events
    def on_workload(self, typ: str, obj: Obj, old: Obj | None) -> None:
        s = self.s
        key = object_key(obj)
        s.status_dirty = True
        if typ == DELETED:
            s.preempting.discard(key)
            s.rv.pop(key, None)
            s.queues.remove(key)
            s.pending_notes.pop(key, None)
            prev = s.admitted.pop(key, None)
            if prev is not None:
                s.snapshot.remove_workload(prev)
                self.freed(prev.cluster_queue)
            s.wake()
            return
        rv = resource_version(obj)
        if rv < s.rv.get(key, 0):
            return  # older than something we already acted on
        s.rv[key] = rv
        self.observe(key, obj)
        s.notify(obj)

    def on_local_queue(self, typ: str, obj: Obj, old: Obj | None) -> None:
        """A LocalQueue changed: the Workloads that name it are placed again."""
        s = self.s
        if typ != DELETED and old is not None and old.get("spec") == obj.get("spec"):
            return  # a status write of ours
        s.stale = True
        s.status_dirty = True
        ns = (obj.get("metadata") or {}).get("namespace")
        name = (obj.get("metadata") or {}).get("name")
        wls = s.informers.get(WORKLOADS)
        if wls is not None:
            for wl in wls.list():
                md = wl.get("metadata") or {}
                if md.get("namespace") == ns and (wl.get("spec") or {}).get("queueName") == name:
                    self.observe(object_key(wl), wl)
        s.wake()

    # ------------------------------------------------------------------ placing a workload
    def observe(self, key: str, obj: Obj) -> None:
        """Place a workload: quota holder in the snapshot, pending in its queue, or neither."""
        s = self.s
        spec = obj.get("spec") or {}
        admission = (obj.get("status") or {}).get("admission")
        finished = is_true(obj, "Finished")
        active = spec.get("active", True) is not False
        if admission and not finished:
            self._hold_quota(key, obj, admission.get("clusterQueue"), active)
            return
        prev = s.admitted.pop(key, None)
        if prev is not None:
            s.snapshot.remove_workload(prev)
            self.freed(prev.cluster_queue)
        if finished or not active:
            s.queues.remove(key)
            s.pending_notes.pop(key, None)
            s.wake()
            return
        self._queue(key, obj)

    def _hold_quota(self, key: str, obj: Obj, cluster_queue: str | None, active: bool) -> None:
        """An admitted workload: its usage counts in the snapshot."""
        s = self.s
        s.queues.remove(key)
        s.pending_notes.pop(key, None)
        info = workload_from(obj, cluster_queue)
        prev = s.admitted.get(key)
        if prev is None or prev.usage() != info.usage() or prev.cluster_queue != info.cluster_queue:
            if prev is not None:
                s.snapshot.remove_workload(prev)
            s.admitted[key] = info
            s.snapshot.add_workload(info)
        else:
            prev.priority = info.priority
        if not active:
            s.deactivated.add(key)
            s.wake()

    def _queue(self, key: str, obj: Obj) -> None:
        """A pending workload: in its ClusterQueue's queue, or a note saying why it cannot be."""
        s = self.s
        spec = obj.get("spec") or {}
        md = obj.get("metadata") or {}
        queue_name = spec.get("queueName") or ""
        if not queue_name:
            s.queues.remove(key)
            self.note(key, obj, "Pending", "Workload has no spec.queueName; set it to a LocalQueue")
            return
        lq = s.local_queue(md.get("namespace", ""), queue_name)
        if lq is None:
            s.queues.remove(key)
            self.note(
                key,
                obj,
                "Pending",
                f"LocalQueue {queue_name} doesn't exist in namespace {md.get('namespace')}",
            )
            return
        lq_stop = (lq.get("spec") or {}).get("stopPolicy") or "None"
        if lq_stop != "None":
            s.queues.remove(key)
            self.note(key, obj, "Pending", f"LocalQueue {queue_name} is stopped")
            return
        if spec.get("priorityClassName") and spec.get("priority") is None:
            s.queues.remove(key)
            s.needs_priority.add(key)  # resolved in the loop
            s.wake()
            return
        requeue_state = (obj.get("status") or {}).get("requeueState") or {}
        delay = timestamp(requeue_state.get("requeueAt")) - time.time()
        if delay > 0:
            s.queues.remove(key)
            self.later(key, delay)
            return
        cq = (lq.get("spec") or {}).get("clusterQueue") or ""
        info = workload_from(
            obj, cq, order_by_eviction=s.pods_ready.requeuing_timestamp == "Eviction"
        )
        s.queues.push(cq, info)
        if cq not in s.snapshot.cluster_queues and not s.stale:
            self.note(key, obj, "Pending", f"ClusterQueue {cq} doesn't exist")
        s.wake()

    def note(self, key: str, obj: Obj, reason: str, message: str) -> None:
        """Queue a QuotaReserved=False message; amounts alone changing is not worth a write."""
        c = condition(obj, "QuotaReserved")
        if (
            c is not None
            and c.get("status") == "False"
            and (message == TRANSIENT or _shape(c.get("message", "")) == _shape(message))
        ):
            return
        self.s.pending_notes[key] = (reason, message)
        self.s.wake()

    def later(self, key: str, delay: float) -> None:
        """Place the workload again after ``delay`` seconds (requeue backoff, topology retry)."""
        old = self._timers.pop(key, None)
        if old is not None:
            old.cancel()

        def fire() -> None:
            self._timers.pop(key, None)
            obj = self.s.cached_workload(key)
            if obj is not None:
                self.observe(key, obj)

        self._timers[key] = asyncio.get_running_loop().call_later(delay, fire)

    # ------------------------------------------------------------------ freed quota
    def _cohort_members(self, cq_name: str | None) -> set[str]:
        cq = self.s.snapshot.cluster_queues.get(cq_name or "")
        if cq is None or cq.parent is None:
            return {cq_name or ""}
        root = cq.root()
        if isinstance(root, CohortNode):
            return {c.name for c in root.cluster_queues()}
        return {cq.name}

    def freed(self, cq_name: str | None) -> None:
        """Quota came free in ``cq_name``: workloads of its cohort found inadmissible retry."""
        self.s.queues.requeue_inadmissible(self._cohort_members(cq_name))
        self.s.wake()
