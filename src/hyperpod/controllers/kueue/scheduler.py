"""One admission cycle over a snapshot: heads in, admissions, preemptions and messages out.

A pure function: it reads and updates only the :class:`Snapshot` it is given (admitted heads
are added to it, so a later head sees their usage). The controller turns the result into
Workload status writes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hyperpod.controllers.kueue import preemption
from hyperpod.controllers.kueue.flavors import Assignment, Mode, assign, fits
from hyperpod.controllers.kueue.queues import QueueManager
from hyperpod.controllers.kueue.snapshot import FR, ClusterQueue, Snapshot, WorkloadInfo


@dataclass
class Pending:
    message: str
    inadmissible: bool = True  # set aside until something changes (False: retry next cycle)
    reason: str = "Pending"


@dataclass
class Preempted:
    workload: WorkloadInfo
    reason: str  # InClusterQueue, InCohortReclamation, ...
    message: str
    preemptor: WorkloadInfo


@dataclass
class CycleResult:
    admitted: list[tuple[WorkloadInfo, Assignment]] = field(default_factory=list)
    preempted: list[Preempted] = field(default_factory=list)
    pending: dict[str, Pending] = field(default_factory=dict)


@dataclass
class _Entry:
    wl: WorkloadInfo
    cq: ClusterQueue
    assignment: Assignment
    targets: list[preemption.Target] = field(default_factory=list)


def nominate(wl: WorkloadInfo, snapshot: Snapshot, fair_sharing: bool) -> _Entry | Pending:
    """Check a head against its queue and choose flavors (and victims when it must preempt)."""
    if not wl.cluster_queue:
        return Pending(f"LocalQueue {wl.queue_name} doesn't exist")
    cq = snapshot.cluster_queues.get(wl.cluster_queue)
    if cq is None:
        return Pending(f"ClusterQueue {wl.cluster_queue} doesn't exist")
    if cq.inactive_reason:
        return Pending(f"ClusterQueue {cq.name} is inactive: {cq.inactive_reason}")
    if cq.stop_policy != "None":
        return Pending(f"ClusterQueue {cq.name} is stopped (stopPolicy {cq.stop_policy})")
    if not cq.namespace_selector.matches(snapshot.namespaces.get(wl.namespace)):
        return Pending("Workload namespace doesn't match ClusterQueue selector")
    if not wl.pod_sets:
        return Pending("Workload has no pod sets")
    assignment = assign(wl, cq, snapshot)
    if assignment.mode == Mode.NO_FIT:
        return Pending(assignment.message())
    entry = _Entry(wl, cq, assignment)
    if assignment.mode == Mode.PREEMPT:
        entry.targets = preemption.targets(wl, assignment, cq, snapshot, fair_sharing)
        if not entry.targets:
            return Pending(assignment.message())
    return entry


def _classic_key(e: _Entry) -> tuple[bool, int, float, str]:
    return (e.assignment.borrows, -e.wl.priority, e.wl.timestamp, e.wl.uid)


def schedule(
    heads: list[WorkloadInfo],
    snapshot: Snapshot,
    *,
    fair_sharing: bool = False,
    preempting: set[str] | None = None,
) -> CycleResult:
    """Run one cycle: admit the heads that fit, in Kueue's order, and choose preemptions.

    ``preempting`` names workloads whose victims were just evicted: they go first, so the
    quota freed for them is not taken by another head (Kueue keeps it for the preemptor).
    """
    result = CycleResult()
    entries: list[_Entry] = []
    for wl in heads:
        nominated = nominate(wl, snapshot, fair_sharing)
        if isinstance(nominated, Pending):
            result.pending[wl.key] = nominated
        else:
            entries.append(nominated)
    if fair_sharing:
        shares = {
            e.wl.key: preemption.dominant_resource_share(e.cq, e.assignment.usage())
            for e in entries
        }
        entries.sort(key=lambda e: (shares[e.wl.key], -e.wl.priority, e.wl.timestamp, e.wl.uid))
    else:
        entries.sort(key=_classic_key)
    if preempting:
        entries.sort(key=lambda e: e.wl.key not in preempting)  # stable: order otherwise kept
    preempted_keys: set[str] = set()
    reserved: list[tuple[ClusterQueue, dict[FR, int]]] = []
    try:
        for e in entries:
            _place(e, snapshot, result, preempted_keys, reserved)
    finally:
        for cq, net in reserved:  # the reservations last one cycle, as Kueue's snapshot does
            for fr, val in net.items():
                cq.add_usage(fr, -val)
    return result


def _net_usage(e: _Entry) -> dict[FR, int]:
    """What a preemptor needs beyond what its victims free (Kueue's net usage)."""
    usage = e.assignment.usage()
    for t in e.targets:
        for fr, val in t.workload.usage().items():
            if fr in usage:
                usage[fr] = max(0, usage[fr] - val)
    return usage


def _place(
    e: _Entry,
    snapshot: Snapshot,
    result: CycleResult,
    preempted_keys: set[str],
    reserved: list[tuple[ClusterQueue, dict[FR, int]]],
) -> None:
    """Admit one nominated head, or issue its preemptions, or say why it waits this cycle.

    A preemptor reserves what it needs beyond its victims' usage for the rest of the cycle,
    so a head after it cannot take the free quota it counted on: without that, the victims
    and the other heads refill the cohort every cycle and the preemptor never fits.
    """
    usage = e.assignment.usage()
    if e.assignment.mode == Mode.PREEMPT:
        if any(t.workload.key in preempted_keys for t in e.targets):
            result.pending[e.wl.key] = Pending(
                "Workload has overlapping preemption targets with another workload",
                inadmissible=False,
            )
            return
        net = _net_usage(e)
        if not fits(e.cq, net):
            result.pending[e.wl.key] = Pending(
                "Workload no longer fits after processing another workload", inadmissible=False
            )
            return
        for fr, val in net.items():
            e.cq.add_usage(fr, val)
        reserved.append((e.cq, net))
        names = ", ".join(t.workload.key for t in e.targets)
        for t in e.targets:
            preempted_keys.add(t.workload.key)
            result.preempted.append(
                Preempted(
                    t.workload,
                    t.reason,
                    _preempted_message(t.reason, e.wl, e.cq.name),
                    e.wl,
                )
            )
        result.pending[e.wl.key] = Pending(
            f"Pending the preemption of {len(e.targets)} workload(s): {names}",
            reason="Preempting",
        )
        return
    if not fits(e.cq, usage):
        result.pending[e.wl.key] = Pending(
            "Workload no longer fits after processing another workload", inadmissible=False
        )
        return
    e.wl.assignments = e.assignment.pod_sets
    snapshot.add_workload(e.wl)
    result.admitted.append((e.wl, e.assignment))


def _preempted_message(reason: str, preemptor: WorkloadInfo, cq: str) -> str:
    where = {
        preemption.IN_CLUSTER_QUEUE: "in the ClusterQueue",
        preemption.IN_COHORT_RECLAMATION: "in the cohort, reclaiming quota",
        preemption.IN_COHORT_RECLAIM_WHILE_BORROWING: "in the cohort, reclaiming while borrowing",
        preemption.IN_COHORT_FAIR_SHARING: "in the cohort by fair sharing",
    }.get(reason, "")
    return (
        f"Preempted to accommodate a workload (UID: {preemptor.uid}, name: {preemptor.key},"
        f" ClusterQueue: {cq}) {where}"
    )


def cycle(
    queues: QueueManager,
    snapshot: Snapshot,
    *,
    fair_sharing: bool = False,
    blocked: set[str] | None = None,
    preempting: set[str] | None = None,
) -> CycleResult:
    """Take the head of every active queue, schedule them, and update the queues.

    Admitted heads leave their queue; inadmissible ones are set aside (BestEffortFIFO) or
    block their queue (StrictFIFO) until :meth:`QueueManager.requeue_inadmissible`.
    ``blocked`` names queues that may not admit now (for example waitForPodsReady).
    """
    names = [n for n in snapshot.cluster_queues if not (blocked and n in blocked)]
    for n in queues.queue_names():
        if n not in snapshot.cluster_queues:
            names.append(n)  # heads of missing queues get a message
    heads = queues.heads(names)
    result = schedule(heads, snapshot, fair_sharing=fair_sharing, preempting=preempting)
    for wl, _ in result.admitted:
        queues.pop(wl.key)
    for key, pending in result.pending.items():
        if pending.inadmissible:
            queues.set_aside(key)
    return result
