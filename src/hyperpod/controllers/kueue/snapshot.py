"""The admission scheduler's view of the cluster: flavors, queues, cohorts and quota arithmetic.

Everything here is plain data and pure functions over it, built from wire objects by
``from_*`` helpers. Quantities are integers in thousandths (``milli``) so cpu, memory and
GPUs share one arithmetic. Quota flows through a tree: ClusterQueues are leaves, cohorts
inner nodes; a node's *guaranteed* quota (nominal minus lendingLimit) stays private, the rest
is lent to the parent, and a child may borrow from its parent up to its borrowingLimit.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from hyperpod.api import kueue as api

FR = tuple[str, str]  # (flavor, resource)
Obj = dict[str, Any]


class Selector(Protocol):
    def matches(self, labels: Mapping[str, str] | None) -> bool: ...


class _Everything:
    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return True


class _Nothing:
    def matches(self, labels: Mapping[str, str] | None) -> bool:
        return False


EVERYTHING: Selector = _Everything()
NOTHING: Selector = _Nothing()


@dataclass
class Flavor:
    name: str
    node_labels: dict[str, str] = field(default_factory=dict)
    node_taints: list[Obj] = field(default_factory=list)
    tolerations: list[Obj] = field(default_factory=list)


@dataclass
class Quota:
    nominal: int = 0
    borrowing_limit: int | None = None
    lending_limit: int | None = None


@dataclass
class ResourceGroup:
    covered: list[str]
    flavors: list[str]


@dataclass
class Preemption:
    reclaim_within_cohort: str = "Never"
    borrow_within_cohort: str = "Never"
    borrow_max_priority_threshold: int | None = None
    within_cluster_queue: str = "Never"


class Node:
    """A quota node: a ClusterQueue (leaf) or a cohort."""

    def __init__(self, name: str, quotas: dict[FR, Quota] | None = None, weight: float = 1.0):
        self.name = name
        self.quotas: dict[FR, Quota] = quotas or {}
        self.parent: CohortNode | None = None
        self.usage: dict[FR, int] = {}
        self.weight = weight

    def subtree_quota(self, fr: FR) -> int:
        q = self.quotas.get(fr)
        return q.nominal if q else 0

    def guaranteed(self, fr: FR) -> int:
        """Quota that is not lent to the parent."""
        if self.parent is None:
            return self.subtree_quota(fr)
        q = self.quotas.get(fr)
        if q is None or q.lending_limit is None:
            return 0
        return max(0, self.subtree_quota(fr) - q.lending_limit)

    def add_usage(self, fr: FR, delta: int) -> None:
        before = self.usage.get(fr, 0)
        after = before + delta
        self.usage[fr] = after
        if self.parent is not None:
            g = self.guaranteed(fr)
            change = max(0, after - g) - max(0, before - g)
            if change:
                self.parent.add_usage(fr, change)

    def available(self, fr: FR) -> int:
        """How much more of ``fr`` this node can use now (own free quota plus borrowable)."""
        usage = self.usage.get(fr, 0)
        if self.parent is None:
            return self.subtree_quota(fr) - usage
        g = self.guaranteed(fr)
        local = max(0, g - usage)
        parent_available = self.parent.available(fr)
        q = self.quotas.get(fr)
        if q is not None and q.borrowing_limit is not None:
            stored = self.subtree_quota(fr) - g
            used_in_parent = max(0, usage - g)
            parent_available = min(stored - used_in_parent + q.borrowing_limit, parent_available)
        return local + parent_available

    def potential_available(self, fr: FR) -> int:
        """The most of ``fr`` this node could ever hold, if nothing else used the cohort."""
        if self.parent is None:
            return self.subtree_quota(fr)
        avail = self.guaranteed(fr) + self.parent.potential_available(fr)
        q = self.quotas.get(fr)
        if q is not None and q.borrowing_limit is not None:
            avail = min(avail, self.subtree_quota(fr) + q.borrowing_limit)
        return avail

    def borrowing(self, fr: FR) -> bool:
        return self.usage.get(fr, 0) > self.subtree_quota(fr)

    def root(self) -> Node:
        node: Node = self
        while node.parent is not None:
            node = node.parent
        return node


class CohortNode(Node):
    def __init__(self, name: str, quotas: dict[FR, Quota] | None = None, weight: float = 1.0):
        super().__init__(name, quotas, weight)
        self.children: list[Node] = []
        self._subtree: dict[FR, int] = {}

    def subtree_quota(self, fr: FR) -> int:
        cached = self._subtree.get(fr)
        if cached is None:
            own = self.quotas[fr].nominal if fr in self.quotas else 0
            cached = own + sum(c.subtree_quota(fr) - c.guaranteed(fr) for c in self.children)
            self._subtree[fr] = cached
        return cached

    def cluster_queues(self) -> list[ClusterQueue]:
        out: list[ClusterQueue] = []
        for child in self.children:
            if isinstance(child, ClusterQueue):
                out.append(child)
            elif isinstance(child, CohortNode):
                out += child.cluster_queues()
        return out


class ClusterQueue(Node):
    def __init__(
        self,
        name: str,
        *,
        resource_groups: list[ResourceGroup] | None = None,
        quotas: dict[FR, Quota] | None = None,
        cohort: str | None = None,
        namespace_selector: Selector = EVERYTHING,
        strategy: str = "BestEffortFIFO",
        preemption: Preemption | None = None,
        when_can_borrow: str = "MayStopSearch",
        when_can_preempt: str = "TryNextFlavor",
        stop_policy: str = "None",
        weight: float = 1.0,
        inactive_reason: str | None = None,
    ) -> None:
        super().__init__(name, quotas, weight)
        self.resource_groups = resource_groups or []
        self.cohort = cohort
        self.namespace_selector = namespace_selector
        self.strategy = strategy
        self.preemption = preemption or Preemption()
        self.when_can_borrow = when_can_borrow
        self.when_can_preempt = when_can_preempt
        self.stop_policy = stop_policy
        self.inactive_reason = inactive_reason
        self.workloads: dict[str, WorkloadInfo] = {}  # admitted (quota reserved), by key

    @property
    def active(self) -> bool:
        return self.inactive_reason is None and self.stop_policy == "None"

    def group_for(self, resource: str) -> ResourceGroup | None:
        for g in self.resource_groups:
            if resource in g.covered:
                return g
        return None

    def covers(self, resource: str) -> bool:
        return self.group_for(resource) is not None


@dataclass
class PodSet:
    name: str
    count: int
    requests: dict[str, int]  # per pod, thousandths
    node_selector: dict[str, str] = field(default_factory=dict)
    affinity_terms: list[list[Obj]] = field(default_factory=list)  # required node affinity
    tolerations: list[Obj] = field(default_factory=list)


@dataclass
class PodSetAssignment:
    name: str
    flavors: dict[str, str]  # resource -> flavor
    usage: dict[str, int]  # resource -> total for the pod set
    count: int


@dataclass
class WorkloadInfo:
    key: str  # namespace/name
    namespace: str
    name: str
    queue_name: str
    cluster_queue: str | None
    priority: int
    timestamp: float  # queue-order time: creation, or eviction time when requeued by timeout
    uid: str = ""
    pod_sets: list[PodSet] = field(default_factory=list)
    assignments: list[PodSetAssignment] | None = None  # set while quota is reserved
    reserved_at: float = 0.0
    evicted: bool = False

    def usage(self) -> dict[FR, int]:
        out: dict[FR, int] = {}
        for a in self.assignments or []:
            for res, val in a.usage.items():
                fr = (a.flavors[res], res)
                out[fr] = out.get(fr, 0) + val
        return out


class Snapshot:
    """Queues, cohorts and flavors with the usage of every admitted workload applied."""

    def __init__(self) -> None:
        self.flavors: dict[str, Flavor] = {}
        self.cluster_queues: dict[str, ClusterQueue] = {}
        self.cohorts: dict[str, CohortNode] = {}
        self.namespaces: dict[str, dict[str, str]] = {}  # namespace -> labels

    def add_flavor(self, flavor: Flavor) -> None:
        self.flavors[flavor.name] = flavor

    def cohort(self, name: str) -> CohortNode:
        node = self.cohorts.get(name)
        if node is None:
            node = self.cohorts[name] = CohortNode(name)
        return node

    def add_cohort(
        self, name: str, parent: str | None, quotas: dict[FR, Quota], weight: float = 1.0
    ) -> CohortNode:
        node = self.cohort(name)
        node.quotas = quotas
        node.weight = weight
        if parent and parent != name and not self._is_ancestor(node, parent):
            node.parent = self.cohort(parent)
            node.parent.children.append(node)
        return node

    def _is_ancestor(self, node: CohortNode, name: str) -> bool:
        """Whether attaching to ``name`` would make a cycle."""
        target: Node | None = self.cohorts.get(name)
        while target is not None:
            if target is node:
                return True
            target = target.parent
        return False

    def add_cluster_queue(self, cq: ClusterQueue) -> None:
        self.cluster_queues[cq.name] = cq
        if cq.cohort:
            cq.parent = self.cohort(cq.cohort)
            cq.parent.children.append(cq)

    def add_workload(self, wl: WorkloadInfo) -> None:
        """Account an admitted (quota-reserved) workload in its ClusterQueue."""
        cq = self.cluster_queues.get(wl.cluster_queue or "")
        if cq is None or wl.assignments is None:
            return
        if wl.key in cq.workloads:
            self.remove_workload(cq.workloads[wl.key])
        cq.workloads[wl.key] = wl
        for fr, val in wl.usage().items():
            cq.add_usage(fr, val)

    def remove_workload(self, wl: WorkloadInfo) -> None:
        cq = self.cluster_queues.get(wl.cluster_queue or "")
        if cq is None or cq.workloads.pop(wl.key, None) is None:
            return
        for fr, val in wl.usage().items():
            cq.add_usage(fr, -val)


# --------------------------------------------------------------------------------------
# building the snapshot from wire objects


def timestamp(value: str | None) -> float:
    if not value:
        return 0.0
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def _quotas(groups: list[Obj] | None) -> tuple[list[ResourceGroup], dict[FR, Quota]]:
    rgs: list[ResourceGroup] = []
    quotas: dict[FR, Quota] = {}
    for g in groups or []:
        flavors = []
        for f in g.get("flavors") or []:
            flavors.append(f["name"])
            for r in f.get("resources") or []:
                bl = r.get("borrowingLimit")
                ll = r.get("lendingLimit")
                quotas[(f["name"], r["name"])] = Quota(
                    api.milli(r.get("nominalQuota", 0)),
                    None if bl is None else api.milli(bl),
                    None if ll is None else api.milli(ll),
                )
        rgs.append(ResourceGroup(list(g.get("coveredResources") or []), flavors))
    return rgs, quotas


def _weight(spec: Obj) -> float:
    w = (spec.get("fairSharing") or {}).get("weight")
    return 1.0 if w is None else api.milli(w) / 1000


def flavor_from(obj: Obj) -> Flavor:
    spec = obj.get("spec") or {}
    return Flavor(
        obj["metadata"]["name"],
        dict(spec.get("nodeLabels") or {}),
        [t for t in spec.get("nodeTaints") or [] if t.get("effect") in ("NoSchedule", "NoExecute")],
        list(spec.get("tolerations") or []),
    )


def cluster_queue_from(
    obj: Obj, flavors: Collection[str], selector: Selector = EVERYTHING
) -> ClusterQueue:
    """A ClusterQueue from its wire form; ``flavors`` lists the existing ResourceFlavors."""
    spec = obj.get("spec") or {}
    rgs, quotas = _quotas(spec.get("resourceGroups"))
    pre = spec.get("preemption") or {}
    bwc = pre.get("borrowWithinCohort") or {}
    ff = spec.get("flavorFungibility") or {}
    missing = sorted({f for g in rgs for f in g.flavors if f not in flavors})
    inactive = None
    if missing:
        inactive = f"FlavorNotFound: Can't admit new workloads: references missing ResourceFlavor(s): {', '.join(missing)}"
    wcb = ff.get("whenCanBorrow", "MayStopSearch")
    wcp = ff.get("whenCanPreempt", "TryNextFlavor")
    return ClusterQueue(
        obj["metadata"]["name"],
        resource_groups=rgs,
        quotas=quotas,
        cohort=spec.get("cohort") or spec.get("cohortName") or None,
        namespace_selector=selector,
        strategy=spec.get("queueingStrategy") or "BestEffortFIFO",
        preemption=Preemption(
            pre.get("reclaimWithinCohort") or "Never",
            bwc.get("policy") or "Never",
            bwc.get("maxPriorityThreshold"),
            pre.get("withinClusterQueue") or "Never",
        ),
        when_can_borrow="MayStopSearch" if wcb == "Borrow" else wcb,
        when_can_preempt="MayStopSearch" if wcp == "Preempt" else wcp,
        stop_policy=spec.get("stopPolicy") or "None",
        weight=_weight(spec),
        inactive_reason=inactive,
    )


def cohort_args(obj: Obj) -> tuple[str, str | None, dict[FR, Quota], float]:
    spec = obj.get("spec") or {}
    _, quotas = _quotas(spec.get("resourceGroups"))
    return (
        obj["metadata"]["name"],
        spec.get("parentName") or spec.get("parent"),
        quotas,
        _weight(spec),
    )


def pod_requests(pod_spec: Obj) -> dict[str, int]:
    """Effective per-pod requests in thousandths: containers summed, init containers as max."""
    total: dict[str, int] = {}
    for c in pod_spec.get("containers") or []:
        res = c.get("resources") or {}
        req = dict(res.get("limits") or {})
        req.update(res.get("requests") or {})
        for name, q in req.items():
            total[name] = total.get(name, 0) + api.milli(q)
    for c in pod_spec.get("initContainers") or []:
        res = c.get("resources") or {}
        req = dict(res.get("limits") or {})
        req.update(res.get("requests") or {})
        for name, q in req.items():
            total[name] = max(total.get(name, 0), api.milli(q))
    for name, q in (pod_spec.get("overhead") or {}).items():
        total[name] = total.get(name, 0) + api.milli(q)
    total["pods"] = 1000
    return {k: v for k, v in total.items() if v}


def pod_set_from(ps: Obj) -> PodSet:
    template = ps.get("template") or {}
    spec = template.get("spec") or {}
    terms: list[list[Obj]] = []
    required = ((spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    for term in required.get("nodeSelectorTerms") or []:
        terms.append(list(term.get("matchExpressions") or []))
    return PodSet(
        ps.get("name") or "main",
        int(ps.get("count", 1)),
        pod_requests(spec),
        dict(spec.get("nodeSelector") or {}),
        terms,
        list(spec.get("tolerations") or []),
    )


def condition(obj: Obj, type_: str) -> Obj | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == type_:
            return dict(c)
    return None


def is_true(obj: Obj, type_: str) -> bool:
    c = condition(obj, type_)
    return c is not None and c.get("status") == "True"


def workload_from(
    obj: Obj, cluster_queue: str | None, order_by_eviction: bool = True
) -> WorkloadInfo:
    """A Workload from its wire form; ``cluster_queue`` is resolved through its LocalQueue."""
    meta = obj["metadata"]
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    ts = timestamp(meta.get("creationTimestamp"))
    evicted = condition(obj, "Evicted")
    if (
        order_by_eviction
        and evicted
        and evicted.get("status") == "True"
        and evicted.get("reason") == "PodsReadyTimeout"
    ):
        ts = timestamp(evicted.get("lastTransitionTime")) or ts
    assignments = None
    admission = status.get("admission")
    if admission:
        assignments = []
        for psa in admission.get("podSetAssignments") or []:
            assignments.append(
                PodSetAssignment(
                    psa["name"],
                    dict(psa.get("flavors") or {}),
                    {k: api.milli(v) for k, v in (psa.get("resourceUsage") or {}).items()},
                    int(psa.get("count", 1)),
                )
            )
        cluster_queue = admission.get("clusterQueue") or cluster_queue
    reserved = condition(obj, "QuotaReserved")
    return WorkloadInfo(
        key=f"{meta.get('namespace', '')}/{meta['name']}",
        namespace=meta.get("namespace", ""),
        name=meta["name"],
        queue_name=spec.get("queueName") or "",
        cluster_queue=cluster_queue,
        priority=int(spec.get("priority") or 0),
        timestamp=ts,
        uid=meta.get("uid", ""),
        pod_sets=[pod_set_from(ps) for ps in spec.get("podSets") or []],
        assignments=assignments,
        reserved_at=timestamp((reserved or {}).get("lastTransitionTime")) if assignments else 0.0,
        evicted=bool(evicted and evicted.get("status") == "True"),
    )


def admission_wire(cq: str, assignments: list[PodSetAssignment]) -> Obj:
    """``status.admission`` for a set of pod-set assignments."""
    return {
        "clusterQueue": cq,
        "podSetAssignments": [
            {
                "name": a.name,
                "flavors": dict(a.flavors),
                "resourceUsage": {r: api.format_milli(r, v) for r, v in a.usage.items()},
                "count": a.count,
            }
            for a in assignments
        ],
    }
