"""Evictions: an admitted Workload loses its quota and goes back in line.

Why: preempted by a higher-priority or fairer workload (:mod:`admission` passes the victims),
its ClusterQueue or LocalQueue stopped with HoldAndDrain, its pods not ready in time under
waitForPodsReady (requeued with backoff, deactivated past the limit), or ``spec.active`` set
false. Conditions and an event say which.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from hyperpod.apiserver.errors import ApiError, NotFound
from hyperpod.controllers.kueue import podsready
from hyperpod.controllers.kueue.snapshot import condition, is_true, timestamp
from hyperpod.controllers.kueue.state import COMPONENT, WORKLOADS, KueueState, Obj
from hyperpod.controllers.kueue.workload_reconciler import WorkloadReconciler
from hyperpod.runtime.machinery import record_event, set_condition


class Evictor:
    """Evicts admitted Workloads and finds the ones that must go."""

    def __init__(self, state: KueueState, workloads: WorkloadReconciler) -> None:
        self.s = state
        self.workloads = workloads

    def evict(
        self,
        key: str,
        reason: str,
        message: str,
        *,
        preempted_reason: str | None = None,
        requeue_state: Obj | None = None,
        deactivate: bool = False,
    ) -> None:
        """Evict a workload: conditions say why, its quota is released, it goes back in line."""
        s = self.s
        obj = s.fresh_workload(key)
        if obj is None:
            return
        status = obj.setdefault("status", {})
        conds = status.setdefault("conditions", [])
        set_condition(conds, "Evicted", "True", reason, message)
        if preempted_reason:
            set_condition(conds, "Preempted", "True", preempted_reason, message)
        set_condition(conds, "QuotaReserved", "False", reason, message)
        set_condition(
            conds, "Admitted", "False", "NoReservation", "The workload has no reservation"
        )
        if is_true(obj, "PodsReady"):
            set_condition(
                conds, "PodsReady", "False", "PodsReady", "Not all pods are ready or succeeded"
            )
        set_condition(conds, "Requeued", "False" if deactivate else "True", reason, message)
        status.pop("admission", None)
        if requeue_state is not None:
            status["requeueState"] = requeue_state
        try:
            out = s.write_status(obj)
        except NotFound:
            return
        prev = s.admitted.pop(key, None)
        if prev is not None:
            s.snapshot.remove_workload(prev)
            self.workloads.freed(prev.cluster_queue)
        s.status_dirty = True
        record_event(
            s.reg,
            out,
            "Normal",
            reason if not preempted_reason else "Preempted",
            message,
            COMPONENT,
        )
        if deactivate:
            fresh = s.fresh_workload(key)
            if fresh is not None:
                fresh["spec"]["active"] = False
                with contextlib.suppress(ApiError):
                    s.reg.update(WORKLOADS, fresh, fresh["metadata"].get("namespace"))
        s.notify(out)

    def evict_deactivated(self) -> None:
        """Admitted workloads whose ``spec.active`` went false."""
        deactivated, self.s.deactivated = self.s.deactivated, set()
        for key in deactivated:
            if key in self.s.admitted:
                self.evict(key, "Deactivated", "The workload is deactivated (spec.active is false)")

    def drain_stopped(self) -> None:
        """Admitted workloads of a ClusterQueue or LocalQueue stopped with HoldAndDrain."""
        s = self.s
        for key, info in list(s.admitted.items()):
            cq = s.snapshot.cluster_queues.get(info.cluster_queue or "")
            if cq is not None and cq.stop_policy == "HoldAndDrain":
                self.evict(key, "ClusterQueueStopped", f"The ClusterQueue {cq.name} is stopped")
                continue
            lq = s.local_queue(info.namespace, info.queue_name)
            if lq is not None and (lq.get("spec") or {}).get("stopPolicy") == "HoldAndDrain":
                self.evict(key, "LocalQueueStopped", f"The LocalQueue {info.queue_name} is stopped")

    def check_pods_ready(self) -> None:
        """waitForPodsReady: evict (or deactivate) admitted workloads whose pods are late."""
        s = self.s
        if not s.pods_ready.enable:
            return
        now = time.time()
        inf = s.informers[WORKLOADS]
        soonest: float | None = None
        for key in list(s.admitted):
            obj = inf.get(key)
            if obj is None:
                continue
            d = self._pods_ready_decision(obj, now)
            if d.action == "wait" and d.recheck_after_s is not None:
                soonest = d.recheck_after_s if soonest is None else min(soonest, d.recheck_after_s)
            elif d.action == "evict":
                self.evict(
                    key,
                    "PodsReadyTimeout",
                    d.message,
                    requeue_state={
                        "count": d.requeue_count,
                        "requeueAt": time.strftime(
                            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(d.requeue_at or now)
                        ),
                    },
                )
            elif d.action == "deactivate":
                self.evict(key, "Deactivated", d.message, deactivate=True)
        if soonest is not None:
            asyncio.get_running_loop().call_later(soonest + 0.05, s.wake)

    def _pods_ready_decision(self, obj: Obj, now: float) -> podsready.Decision:
        admitted_c = condition(obj, "Admitted")
        admitted_at = timestamp((admitted_c or {}).get("lastTransitionTime")) or now
        ready_c = condition(obj, "PodsReady")
        ready = ready_c is not None and ready_c.get("status") == "True"
        lost_at = None
        if (
            ready_c is not None
            and ready_c.get("status") == "False"
            and ready_c.get("reason") == "PodsReadyLost"
        ):
            lost_at = timestamp(ready_c.get("lastTransitionTime"))
        count = int(((obj.get("status") or {}).get("requeueState") or {}).get("count") or 0)
        return podsready.check(now, admitted_at, ready, count, self.s.pods_ready, lost_at)
