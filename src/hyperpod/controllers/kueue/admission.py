"""The admission cycle: one step of Kueue's loop, and the Workload writes it leads to.

A step rebuilds a stale snapshot, resolves priorities, evicts what must go (stopped queues,
waitForPodsReady, deactivation), then runs :func:`scheduler.cycle` until nothing more is
admitted or preempted. Admissions become Workload status writes (admission, conditions, an
event); the notes the cycles leave say why the others wait. Every write starts from a fresh
registry read in the same event-loop step, so it never races a client's write.
"""

from __future__ import annotations

import logging
import time

from hyperpod.apiserver.errors import ApiError
from hyperpod.controllers.kueue import podsready, topology
from hyperpod.controllers.kueue.cluster_queues import ClusterQueueReconciler
from hyperpod.controllers.kueue.eviction import Evictor
from hyperpod.controllers.kueue.priorities import PriorityResolver
from hyperpod.controllers.kueue.scheduler import CycleResult, cycle
from hyperpod.controllers.kueue.snapshot import (
    WorkloadInfo,
    admission_wire,
    condition,
    is_true,
    timestamp,
)
from hyperpod.controllers.kueue.state import COMPONENT, FLAVORS, WORKLOADS, KueueState, Obj
from hyperpod.controllers.kueue.workload_reconciler import WorkloadReconciler
from hyperpod.runtime.machinery import record_event, set_condition

log = logging.getLogger(__name__)


class AdmissionCycle:
    """Runs admission cycles over the snapshot and queues, and writes what they decide."""

    def __init__(
        self,
        state: KueueState,
        cluster_queues: ClusterQueueReconciler,
        workloads: WorkloadReconciler,
        priorities: PriorityResolver,
        evictor: Evictor,
    ) -> None:
        self.s = state
        self.cluster_queues = cluster_queues
        self.workloads = workloads
        self.priorities = priorities
        self.evictor = evictor
        self.cycles = 0

    def step(self, max_cycles: int = 200) -> bool:
        """Run admission cycles until nothing more happens (or ``max_cycles``), then write
        pending notes; returns whether the last cycle still changed something."""
        s = self.s
        if s.stale:
            self.cluster_queues.rebuild()
        self.priorities.resolve()
        self.evictor.drain_stopped()
        self.evictor.check_pods_ready()
        self.evictor.evict_deactivated()
        busy = False
        for _ in range(max_cycles):
            result = cycle(
                s.queues,
                s.snapshot,
                fair_sharing=s.fair_sharing,
                blocked=self._blocked(),
                preempting=s.preempting,
            )
            for wl, _ in result.admitted:
                s.preempting.discard(wl.key)
            for p in result.preempted:
                s.preempting.add(p.preemptor.key)
            self.cycles += 1
            self.apply(result)
            busy = bool(result.admitted or result.preempted)
            if not busy:
                break
        self.write_notes()
        return busy

    def _blocked(self) -> set[str] | None:
        """With waitForPodsReady.blockAdmission: every ClusterQueue while a workload is not ready."""
        s = self.s
        if not s.pods_ready.enable or not s.pods_ready.block_admission:
            return None
        ready = [self._pods_ready_of(k) for k in s.admitted]
        if podsready.may_admit(s.pods_ready, ready):
            return None
        return set(s.snapshot.cluster_queues)

    def _pods_ready_of(self, key: str) -> bool:
        obj = self.s.informers[WORKLOADS].get(key)
        return obj is not None and is_true(obj, "PodsReady")

    def apply(self, result: CycleResult) -> None:
        for wl, _ in result.admitted:
            self._admit(wl)
        for p in result.preempted:
            self.evictor.evict(
                p.workload.key,
                "Preempted",
                p.message,
                preempted_reason=p.reason,
            )
        for key, pending in result.pending.items():
            obj = self.s.informers[WORKLOADS].get(key)
            if obj is not None:
                self.workloads.note(key, obj, pending.reason, pending.message)

    def _admit(self, wl: WorkloadInfo) -> None:
        s = self.s
        obj = s.fresh_workload(wl.key)
        if obj is None or (obj.get("status") or {}).get("admission"):
            s.snapshot.remove_workload(wl)
            return
        cq = wl.cluster_queue or ""
        status = obj.setdefault("status", {})
        status["admission"] = admission_wire(cq, wl.assignments or [])
        s.topology.prune(s.admitted)
        flavors = s.informers[FLAVORS].cache
        unplaced = s.topology.place(wl.key, obj, status["admission"], flavors)
        if unplaced is not None:  # a required topology has no domain with room yet
            s.snapshot.remove_workload(wl)
            self.workloads.note(wl.key, obj, "Pending", unplaced)
            self.workloads.later(wl.key, topology.RETRY_SECONDS)
            return
        waited = max(0.0, time.time() - timestamp(obj["metadata"].get("creationTimestamp")))
        _set_admitted_conditions(obj, cq)
        try:
            out = s.write_status(obj)
        except ApiError as exc:
            log.info("admission of %s not written: %s", wl.key, exc)
            s.snapshot.remove_workload(wl)
            return
        wl.reserved_at = time.time()
        s.admitted[wl.key] = wl
        s.pending_notes.pop(wl.key, None)
        s.status_dirty = True
        record_event(
            s.reg,
            out,
            "Normal",
            "Admitted",
            f"Admitted by ClusterQueue {cq}, wait time since queued was {waited:.0f}s",
            COMPONENT,
        )
        s.notify(out)

    def write_notes(self) -> None:
        """Write the QuotaReserved=False messages the cycles left for workloads still waiting."""
        s = self.s
        notes, s.pending_notes = s.pending_notes, {}
        for key, (reason, message) in notes.items():
            if key in s.admitted:
                continue
            obj = s.fresh_workload(key)
            if obj is None or (obj.get("status") or {}).get("admission"):
                continue
            c = condition(obj, "QuotaReserved")
            if c is not None and c.get("status") == "False" and c.get("message") == message:
                continue
            conds = obj.setdefault("status", {}).setdefault("conditions", [])
            set_condition(conds, "QuotaReserved", "False", reason, message)
            try:
                s.write_status(obj)
            except ApiError as exc:
                log.debug("pending note for %s not written: %s", key, exc)


def _set_admitted_conditions(obj: Obj, cq: str) -> None:
    """QuotaReserved and Admitted true; earlier Evicted/Preempted/Requeued say it is over."""
    conds = obj["status"].setdefault("conditions", [])
    set_condition(
        conds, "QuotaReserved", "True", "QuotaReserved", f"Quota reserved in ClusterQueue {cq}"
    )
    set_condition(conds, "Admitted", "True", "Admitted", "The workload is admitted")
    evicted = condition(obj, "Evicted")
    if evicted is not None:
        set_condition(
            conds,
            "Evicted",
            "False",
            "QuotaReserved",
            f"Previously: {evicted.get('message', '')}",
        )
    if condition(obj, "Preempted") is not None:
        set_condition(conds, "Preempted", "False", "QuotaReserved", "")
    if condition(obj, "Requeued") is not None:
        set_condition(conds, "Requeued", "True", "QuotaReserved", "")
