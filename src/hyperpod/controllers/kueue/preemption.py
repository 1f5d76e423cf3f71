"""Preemption: choose the smallest set of admitted workloads whose eviction lets a workload fit.

Candidates come from the preemptor's own ClusterQueue (per ``withinClusterQueue``) and from
other queues of its cohort tree that borrow the contested flavor-resources (per
``reclaimWithinCohort`` and ``borrowWithinCohort``). They are ordered: already evicted first,
other queues before the own one, lower priority, most recently admitted, then UID. Victims
are removed in that order until the workload fits; then the ones not needed are added back in
reverse order. With fair sharing the queue with the highest dominant resource share gives up
workloads first, under the LessThanOrEqualToFinalShare then LessThanInitialShare strategies.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from hyperpod.controllers.kueue.flavors import Assignment, fits
from hyperpod.controllers.kueue.snapshot import (
    FR,
    ClusterQueue,
    CohortNode,
    Node,
    Snapshot,
    WorkloadInfo,
)

IN_CLUSTER_QUEUE = "InClusterQueue"
IN_COHORT_RECLAMATION = "InCohortReclamation"
IN_COHORT_RECLAIM_WHILE_BORROWING = "InCohortReclaimWhileBorrowing"
IN_COHORT_FAIR_SHARING = "InCohortFairSharing"


@dataclass
class Target:
    workload: WorkloadInfo
    reason: str


def dominant_resource_share(node: Node, extra: dict[FR, int] | None = None) -> float:
    """Kueue's DRS: the largest borrowed/lendable ratio (x1000) over resources, over weight."""
    if node.parent is None:
        return 0.0
    borrowed: dict[str, int] = {}
    for fr in set(node.usage) | set(extra or {}):
        used = node.usage.get(fr, 0) + (extra or {}).get(fr, 0)
        over = used - node.subtree_quota(fr)
        if over > 0:
            borrowed[fr[1]] = borrowed.get(fr[1], 0) + over
    if not borrowed:
        return 0.0
    lendable: dict[str, int] = {}
    parent = node.parent
    for fr in _parent_frs(parent):
        lendable[fr[1]] = lendable.get(fr[1], 0) + parent.subtree_quota(fr)
    share = 0.0
    for res, b in borrowed.items():
        lr = lendable.get(res, 0)
        if lr > 0:
            share = max(share, b * 1000 / lr)
    if share == 0:
        return 0.0
    if node.weight == 0:
        return math.inf
    return share / node.weight


def _parent_frs(parent: Node) -> set[FR]:
    frs: set[FR] = set(parent.quotas)
    if isinstance(parent, CohortNode):
        for child in parent.children:
            frs |= set(child.quotas)
            if isinstance(child, CohortNode):
                frs |= _parent_frs(child)
    return frs


def _order_key(preemptor_cq: str) -> Callable[[WorkloadInfo], tuple[int, int, int, float, str]]:
    def key(c: WorkloadInfo) -> tuple[int, int, int, float, str]:
        return (
            0 if c.evicted else 1,
            0 if c.cluster_queue != preemptor_cq else 1,
            c.priority,
            -c.reserved_at,
            c.uid,
        )

    return key


def _uses(c: WorkloadInfo, frs: set[FR]) -> bool:
    return any(fr in frs for fr in c.usage())


def _within_ok(policy: str, c: WorkloadInfo, wl: WorkloadInfo) -> bool:
    if policy == "LowerPriority":
        return c.priority < wl.priority
    if policy == "LowerOrNewerEqualPriority":
        return c.priority < wl.priority or (
            c.priority == wl.priority and c.timestamp > wl.timestamp
        )
    return False


def candidates(
    wl: WorkloadInfo, cq: ClusterQueue, frs: set[FR], snapshot: Snapshot
) -> tuple[list[WorkloadInfo], list[WorkloadInfo]]:
    """(all candidates in preemption order, those of the own queue)."""
    p = cq.preemption
    same = [
        c
        for c in cq.workloads.values()
        if c.key != wl.key and _uses(c, frs) and _within_ok(p.within_cluster_queue, c, wl)
    ]
    others: list[WorkloadInfo] = []
    if cq.parent is not None and p.reclaim_within_cohort != "Never":
        root = cq.root()
        members = root.cluster_queues() if isinstance(root, CohortNode) else []
        for other in members:
            if other is cq or not any(other.borrowing(fr) for fr in frs):
                continue
            for c in other.workloads.values():
                if not _uses(c, frs):
                    continue
                if p.reclaim_within_cohort == "Any" or c.priority < wl.priority:
                    others.append(c)
    key = _order_key(cq.name)
    everything = sorted(same + others, key=key)
    return everything, sorted(same, key=key)


def _under_nominal(cq: ClusterQueue, frs: set[FR]) -> bool:
    return all(cq.usage.get(fr, 0) < cq.subtree_quota(fr) for fr in frs)


def _minimal(
    wl: WorkloadInfo,
    cq: ClusterQueue,
    usage: dict[FR, int],
    frs: set[FR],
    cands: list[WorkloadInfo],
    snapshot: Snapshot,
    allow_borrowing: bool,
    threshold: int | None,
) -> list[WorkloadInfo]:
    removed: list[WorkloadInfo] = []
    fit = False
    for c in cands:
        ccq = snapshot.cluster_queues.get(c.cluster_queue or "")
        if ccq is None:
            continue
        if ccq is not cq:
            if not any(ccq.borrowing(fr) for fr in frs if fr in c.usage()):
                continue
            if threshold is not None and c.priority > threshold:
                continue
        snapshot.remove_workload(c)
        removed.append(c)
        if fits(cq, usage, allow_borrowing):
            fit = True
            break
    if not fit:
        for c in removed:
            snapshot.add_workload(c)
        return []
    targets = list(removed)
    for c in reversed(removed[:-1]):
        snapshot.add_workload(c)
        if fits(cq, usage, allow_borrowing):
            targets.remove(c)
        else:
            snapshot.remove_workload(c)
    for c in targets:
        snapshot.add_workload(c)
    return targets


def _reason(c: WorkloadInfo, cq: ClusterQueue, usage: dict[FR, int]) -> str:
    if c.cluster_queue == cq.name:
        return IN_CLUSTER_QUEUE
    borrowing = any(cq.usage.get(fr, 0) + v > cq.subtree_quota(fr) for fr, v in usage.items())
    return IN_COHORT_RECLAIM_WHILE_BORROWING if borrowing else IN_COHORT_RECLAMATION


def targets(
    wl: WorkloadInfo,
    assignment: Assignment,
    cq: ClusterQueue,
    snapshot: Snapshot,
    fair_sharing: bool = False,
) -> list[Target]:
    """The workloads to evict so that ``wl`` fits with ``assignment``; [] when none would do."""
    frs = assignment.needs_preemption or set(assignment.usage())
    usage = assignment.usage()
    cands, same = candidates(wl, cq, frs, snapshot)
    if not cands:
        return []
    if fair_sharing and cq.parent is not None:
        return _fair(wl, cq, usage, frs, cands, snapshot)
    if cq.parent is None:
        chosen = _minimal(wl, cq, usage, frs, cands, snapshot, True, None)
        return [Target(c, _reason(c, cq, usage)) for c in chosen]
    p = cq.preemption
    if p.borrow_within_cohort != "Never":
        threshold = p.borrow_max_priority_threshold
        pool = cands
        if not _under_nominal(cq, frs):
            pool = [
                c
                for c in cands
                if c.cluster_queue == cq.name
                or (c.priority < wl.priority and (threshold is None or c.priority <= threshold))
            ]
        chosen = _minimal(wl, cq, usage, frs, pool, snapshot, True, threshold)
        return [Target(c, _reason(c, cq, usage)) for c in chosen]
    if _under_nominal(cq, frs):
        chosen = _minimal(wl, cq, usage, frs, cands, snapshot, False, None)
        if chosen:
            return [Target(c, _reason(c, cq, usage)) for c in chosen]
    chosen = _minimal(wl, cq, usage, frs, same, snapshot, True, None)
    return [Target(c, IN_CLUSTER_QUEUE) for c in chosen]


def _fair(
    wl: WorkloadInfo,
    cq: ClusterQueue,
    usage: dict[FR, int],
    frs: set[FR],
    cands: list[WorkloadInfo],
    snapshot: Snapshot,
) -> list[Target]:
    by_cq: dict[str, list[WorkloadInfo]] = {}
    for c in cands:
        by_cq.setdefault(c.cluster_queue or "", []).append(c)
    removed: list[Target] = []

    def preemptor_share() -> float:
        return dominant_resource_share(cq, usage)

    def run(
        strategy: int, pools: dict[str, list[WorkloadInfo]]
    ) -> tuple[bool, dict[str, list[WorkloadInfo]]]:
        retry: dict[str, list[WorkloadInfo]] = {}
        while pools:
            if fits(cq, usage):
                return True, retry
            # the queue with the highest share gives up first; the own queue is always eligible
            name = max(
                pools,
                key=lambda n: (
                    dominant_resource_share(snapshot.cluster_queues[n]) if n != cq.name else -1.0
                ),
            )
            c = pools[name].pop(0)
            if not pools[name]:
                del pools[name]
            target_cq = snapshot.cluster_queues[name]
            if name == cq.name:
                snapshot.remove_workload(c)
                removed.append(Target(c, IN_CLUSTER_QUEUE))
                continue
            if not any(target_cq.borrowing(fr) for fr in frs):
                continue
            before = dominant_resource_share(target_cq)
            snapshot.remove_workload(c)
            after = dominant_resource_share(target_cq)
            mine = preemptor_share()
            ok = mine <= after if strategy == 1 else mine < before
            if ok:
                removed.append(Target(c, IN_COHORT_FAIR_SHARING))
            else:
                snapshot.add_workload(c)
                retry.setdefault(name, []).append(c)
        return fits(cq, usage), retry

    ok, retry = run(1, by_cq)
    if not ok and retry:
        ok, _ = run(2, retry)
    if not ok:
        for t in removed:
            snapshot.add_workload(t.workload)
        return []
    chosen = list(removed)
    for t in reversed(removed[:-1]):
        snapshot.add_workload(t.workload)
        if fits(cq, usage):
            chosen.remove(t)
        else:
            snapshot.remove_workload(t.workload)
    for t in chosen:
        snapshot.add_workload(t.workload)
    return chosen
