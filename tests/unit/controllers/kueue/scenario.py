"""Small builders for scheduler scenarios: queues, flavors and workloads written by hand."""

from __future__ import annotations

from typing import Any

from hyperpod.api.kueue import milli
from hyperpod.controllers.kueue.queues import QueueManager
from hyperpod.controllers.kueue.scheduler import CycleResult, cycle
from hyperpod.controllers.kueue.snapshot import (
    ClusterQueue,
    Flavor,
    PodSet,
    PodSetAssignment,
    Preemption,
    Quota,
    ResourceGroup,
    Snapshot,
    WorkloadInfo,
)


def cq(
    name: str,
    quotas: dict[str, dict[str, Any]] | None = None,
    *,
    cohort: str | None = None,
    flavors: list[str] | None = None,
    borrowing: dict[str, str] | None = None,
    lending: dict[str, str] | None = None,
    **kwargs: Any,
) -> ClusterQueue:
    """A ClusterQueue; ``quotas`` maps flavor -> resource -> nominal quota."""
    quotas = quotas or {"default": {"cpu": "10"}}
    flavors = flavors or list(quotas)
    covered = sorted({r for q in quotas.values() for r in q})
    qmap = {}
    for f, res in quotas.items():
        for r, v in res.items():
            qmap[(f, r)] = Quota(
                milli(v),
                None if borrowing is None or r not in borrowing else milli(borrowing[r]),
                None if lending is None or r not in lending else milli(lending[r]),
            )
    pre = kwargs.pop("preemption", None) or Preemption()
    return ClusterQueue(
        name,
        resource_groups=[ResourceGroup(covered, flavors)],
        quotas=qmap,
        cohort=cohort,
        preemption=pre,
        **kwargs,
    )


def snap(*queues: ClusterQueue, flavors: list[Flavor] | None = None) -> Snapshot:
    s = Snapshot()
    names = {f for q in queues for g in q.resource_groups for f in g.flavors}
    for f in flavors or []:
        s.add_flavor(f)
    for n in names:
        if n not in s.flavors:
            s.add_flavor(Flavor(n))
    for q in queues:
        s.add_cluster_queue(q)
    return s


def wl(
    name: str,
    queue: str,
    cpu: str = "1",
    *,
    priority: int = 0,
    t: float = 0.0,
    count: int = 1,
    extra: dict[str, str] | None = None,
    node_selector: dict[str, str] | None = None,
    tolerations: list[dict[str, Any]] | None = None,
    pod_sets: list[PodSet] | None = None,
) -> WorkloadInfo:
    requests = {"cpu": milli(cpu)}
    for k, v in (extra or {}).items():
        requests[k] = milli(v)
    return WorkloadInfo(
        key=f"ns/{name}",
        namespace="ns",
        name=name,
        queue_name="lq",
        cluster_queue=queue,
        priority=priority,
        timestamp=t,
        uid=name,
        pod_sets=pod_sets
        or [
            PodSet("main", count, requests, dict(node_selector or {}), [], list(tolerations or []))
        ],
    )


def admitted(
    s: Snapshot, w: WorkloadInfo, flavor: str = "default", at: float = 0.0
) -> WorkloadInfo:
    """Put ``w`` in the snapshot as already admitted in ``flavor``."""
    w.assignments = [
        PodSetAssignment(
            ps.name,
            {r: flavor for r in ps.requests},
            {r: v * ps.count for r, v in ps.requests.items()},
            ps.count,
        )
        for ps in w.pod_sets
    ]
    for a in w.assignments:
        a.flavors.pop("pods", None)
        a.usage.pop("pods", None)
    w.reserved_at = at
    s.add_workload(w)
    return w


def run(
    s: Snapshot, *pending: WorkloadInfo, fair_sharing: bool = False, cycles: int = 10
) -> list[CycleResult]:
    """Queue ``pending`` and run cycles until nothing changes; returns each cycle's result."""
    q = QueueManager()
    for name, c in s.cluster_queues.items():
        q.set_strategy(name, c.strategy)
    for w in pending:
        q.push(w.cluster_queue or "", w)
    out = []
    for _ in range(cycles):
        r = cycle(q, s, fair_sharing=fair_sharing)
        out.append(r)
        if not r.admitted and not r.preempted and not q.heads(list(s.cluster_queues)):
            break
    return out


def admitted_names(results: list[CycleResult]) -> list[str]:
    return [w.name for r in results for w, _ in r.admitted]


def last_message(results: list[CycleResult], name: str) -> str:
    for r in reversed(results):
        p = r.pending.get(f"ns/{name}")
        if p is not None:
            return p.message
    raise AssertionError(f"no pending message for {name}")
