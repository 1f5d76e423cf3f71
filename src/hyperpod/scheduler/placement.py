"""Pure pod placement: which nodes a pod fits on, which one is best, and why the others fail.

The filters follow kube-scheduler's default plugins in their order (NodeUnschedulable,
TaintToleration, NodeAffinity incl. nodeSelector, NodeResourcesFit) and produce its messages,
so ``FailedScheduling`` reads exactly as on EKS: ``0/3 nodes are available: 2 Insufficient
nvidia.com/gpu, 1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }.``
Scoring is LeastAllocated over cpu and memory, plus preferred node affinity (weight 2), minus
a penalty per untolerated ``PreferNoSchedule`` taint. Nothing here does I/O; the scheduler component feeds it from caches.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hyperpod.api.tolerations import Toleration
from hyperpod.apiserver.quantity import bytes_of, cpu_millis

DEFAULT_SCHEDULER = "default-scheduler"
MSG_UNSCHEDULABLE = "node(s) were unschedulable"
MSG_AFFINITY = "node(s) didn't match Pod's node affinity/selector"
MSG_TOO_MANY_PODS = "Too many pods"
MSG_NO_NODES = "no nodes available to schedule pods"

Resources = dict[str, int]


def resource_units(name: str, value: Any) -> int:
    """A quantity as the integer the scheduler compares: milli-cpu, bytes, or a count."""
    if name == "cpu":
        return cpu_millis(value)
    return bytes_of(value)


def _container_requests(container: Mapping[str, Any]) -> Resources:
    res = container.get("resources") or {}
    # Like the API server's defaulting: a limit without a request is the request.
    merged = dict(res.get("limits") or {})
    merged.update(res.get("requests") or {})
    return {k: resource_units(k, v) for k, v in merged.items()}


def pod_requests(pod: Mapping[str, Any]) -> Resources:
    """Effective requests: max(sum of app containers, each init container) + overhead, +1 pod."""
    spec = pod.get("spec") or {}
    total: Resources = {}
    for c in spec.get("containers") or []:
        for k, v in _container_requests(c).items():
            total[k] = total.get(k, 0) + v
    for c in spec.get("initContainers") or []:
        for k, v in _container_requests(c).items():
            if v > total.get(k, 0):
                total[k] = v
    for k, v in (spec.get("overhead") or {}).items():
        total[k] = total.get(k, 0) + resource_units(k, v)
    total["pods"] = 1
    return total


def tolerations_of(pod: Mapping[str, Any]) -> list[Toleration]:
    return [Toleration.from_dict(t) for t in (pod.get("spec") or {}).get("tolerations") or []]


def untolerated(
    taints: Iterable[Mapping[str, Any]], tolerations: list[Toleration], effects: tuple[str, ...]
) -> list[Mapping[str, Any]]:
    """The taints with one of ``effects`` that no toleration covers."""
    return [
        t
        for t in taints
        if t.get("effect") in effects and not any(tol.tolerates(t) for tol in tolerations)
    ]


def _match_expression(labels: Mapping[str, str], expr: Mapping[str, Any]) -> bool:
    key = expr.get("key", "")
    op = expr.get("operator", "")
    values = expr.get("values") or []
    present = key in labels
    if op == "In":
        return present and labels[key] in values
    if op == "NotIn":
        return not present or labels[key] not in values
    if op == "Exists":
        return present
    if op == "DoesNotExist":
        return not present
    if op in ("Gt", "Lt"):
        if not present or len(values) != 1:
            return False
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def _match_fields(name: str, expr: Mapping[str, Any]) -> bool:
    if expr.get("key") != "metadata.name":
        return False
    return _match_expression({"metadata.name": name}, expr)


def _match_term(name: str, labels: Mapping[str, str], term: Mapping[str, Any]) -> bool:
    exprs = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not exprs and not fields:
        return False  # an empty term matches nothing
    return all(_match_expression(labels, e) for e in exprs) and all(
        _match_fields(name, f) for f in fields
    )


@dataclass
class PodInfo:
    """What placement needs from a pod, parsed once."""

    key: str
    requests: Resources
    node_selector: dict[str, str]
    required_terms: list[dict[str, Any]] | None
    tolerations: list[Toleration]
    priority: int = 0
    scheduler_name: str = DEFAULT_SCHEDULER
    creation: str = ""
    preferred: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    @classmethod
    def from_pod(cls, pod: Mapping[str, Any]) -> PodInfo:
        meta = pod.get("metadata") or {}
        spec = pod.get("spec") or {}
        node_affinity = (spec.get("affinity") or {}).get("nodeAffinity") or {}
        affinity = node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution")
        terms = None if affinity is None else list(affinity.get("nodeSelectorTerms") or [])
        preferred = [
            (int(p.get("weight") or 0), p.get("preference") or {})
            for p in node_affinity.get("preferredDuringSchedulingIgnoredDuringExecution") or []
        ]
        return cls(
            key=f"{meta.get('namespace', '')}/{meta.get('name', '')}",
            requests=pod_requests(pod),
            node_selector=dict(spec.get("nodeSelector") or {}),
            required_terms=terms,
            tolerations=tolerations_of(pod),
            priority=int(spec.get("priority") or 0),
            scheduler_name=spec.get("schedulerName") or DEFAULT_SCHEDULER,
            creation=meta.get("creationTimestamp") or "",
            preferred=preferred,
        )


_ALLOCATABLE: dict[tuple[tuple[str, str], ...], Resources] = {}


def _allocatable(alloc: Mapping[str, Any]) -> Resources:
    """Parsed allocatable, shared by every node with the same quantities (one instance type).

    Thousands of nodes of a few instance types parse a handful of distinct maps; the result is
    read-only for callers.
    """
    key = tuple(sorted((str(k), str(v)) for k, v in alloc.items()))
    hit = _ALLOCATABLE.get(key)
    if hit is not None:
        return hit
    out: Resources = {}
    for k, v in alloc.items():
        try:
            out[k] = resource_units(k, v)
        except ValueError:
            continue
    if len(_ALLOCATABLE) > 1024:
        _ALLOCATABLE.clear()
    _ALLOCATABLE[key] = out
    return out


@dataclass
class NodeInfo:
    """A node's schedulable view plus the sum of requests of the pods bound to it."""

    name: str
    labels: dict[str, str]
    taints: list[dict[str, Any]]
    allocatable: Resources
    unschedulable: bool = False
    requested: Resources = field(default_factory=dict)
    version: int = 0  # bumped on every change of ``requested``

    @classmethod
    def from_node(cls, node: Mapping[str, Any]) -> NodeInfo:
        meta = node.get("metadata") or {}
        spec = node.get("spec") or {}
        status = node.get("status") or {}
        alloc = status.get("allocatable") or status.get("capacity") or {}
        allocatable = _allocatable(alloc)
        return cls(
            name=meta.get("name", ""),
            labels=dict(meta.get("labels") or {}),
            taints=list(spec.get("taints") or []),
            allocatable=allocatable,
            unschedulable=bool(spec.get("unschedulable")),
        )

    def same_view(self, other: NodeInfo) -> bool:
        """Whether placement sees no difference (usage aside) between the two views."""
        return (
            self.allocatable == other.allocatable
            and self.unschedulable == other.unschedulable
            and self.labels == other.labels
            and self.taints == other.taints
        )

    def add(self, requests: Mapping[str, int], sign: int = 1) -> None:
        self.version += 1
        for k, v in requests.items():
            self.requested[k] = self.requested.get(k, 0) + sign * v


def matches_node_affinity(pod: PodInfo, node: NodeInfo) -> bool:
    labels = node.labels
    for k, v in pod.node_selector.items():
        if labels.get(k) != v:
            return False
    if pod.required_terms is None:
        return True
    return any(_match_term(node.name, labels, t) for t in pod.required_terms)


def _taint_text(taint: Mapping[str, Any]) -> str:
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value') or ''}}}"


def static_reason(pod: PodInfo, node: NodeInfo) -> str | None:
    """The first failing filter that does not depend on node usage (cordon, taints, affinity)."""
    if node.unschedulable and not any(
        t.tolerates({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
        for t in pod.tolerations
    ):
        return MSG_UNSCHEDULABLE
    if node.taints:
        bad = untolerated(node.taints, pod.tolerations, ("NoSchedule", "NoExecute"))
        if bad:
            return _taint_text(bad[0])
    if (pod.node_selector or pod.required_terms is not None) and not matches_node_affinity(
        pod, node
    ):
        return MSG_AFFINITY
    return None


def signature(pod: PodInfo) -> str:
    """Pods with equal signatures pass the same static filters on every node."""
    return repr(
        (
            sorted(pod.node_selector.items()),
            pod.required_terms,
            pod.preferred,
            [(t.key, t.operator, t.value, t.effect) for t in pod.tolerations],
        )
    )


def filter_node(pod: PodInfo, node: NodeInfo) -> list[str]:
    """Why ``pod`` cannot go on ``node`` (kube-scheduler's words); empty when it fits."""
    if node.unschedulable and not any(
        t.tolerates({"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"})
        for t in pod.tolerations
    ):
        return [MSG_UNSCHEDULABLE]
    if node.taints:
        bad = untolerated(node.taints, pod.tolerations, ("NoSchedule", "NoExecute"))
        if bad:
            return [_taint_text(bad[0])]
    if (pod.node_selector or pod.required_terms is not None) and not matches_node_affinity(
        pod, node
    ):
        return [MSG_AFFINITY]
    alloc, used = node.allocatable, node.requested
    reasons: list[str] | None = None
    for name, want in pod.requests.items():
        if want > 0 and alloc.get(name, 0) - used.get(name, 0) < want:
            if reasons is None:
                reasons = []
            reasons.append(MSG_TOO_MANY_PODS if name == "pods" else f"Insufficient {name}")
    return reasons or _FITS


_FITS: list[str] = []


def score_node(pod: PodInfo, node: NodeInfo) -> float:
    """LeastAllocated on cpu and memory (0..100), minus 10 per untolerated PreferNoSchedule."""
    alloc, used, req = node.allocatable, node.requested, pod.requests
    total = 0.0
    cap = alloc.get("cpu", 0)
    if cap > 0:
        total += max(0.0, (cap - used.get("cpu", 0) - req.get("cpu", 0)) * 100.0 / cap)
    cap = alloc.get("memory", 0)
    if cap > 0:
        total += max(0.0, (cap - used.get("memory", 0) - req.get("memory", 0)) * 100.0 / cap)
    score = total / 2
    if node.taints:
        score -= 10.0 * len(untolerated(node.taints, pod.tolerations, ("PreferNoSchedule",)))
    if pod.preferred:
        # NodeAffinity's preference score (0..100), weighted 2 as in kube-scheduler's defaults.
        weights = sum(w for w, _ in pod.preferred) or 1
        matched = sum(w for w, t in pod.preferred if _match_term(node.name, node.labels, t))
        score += 2 * 100.0 * matched / weights
    return score


@dataclass
class Placement:
    node: str | None
    message: str = ""
    reasons: dict[str, int] = field(default_factory=dict)


def fit_error(total: int, reasons: Counter[str]) -> str:
    """kube-scheduler's FitError text from a histogram of reasons."""
    if total == 0:
        return f"0/0 nodes are available: {MSG_NO_NODES}."
    parts = [f"{n} {r}" for r, n in sorted(reasons.items(), key=lambda kv: (-kv[1], kv[0]))]
    return f"0/{total} nodes are available: {', '.join(parts)}."


def place(pod: PodInfo, nodes: Iterable[NodeInfo]) -> Placement:
    """The best node for ``pod``, or None with the FailedScheduling message."""
    best: NodeInfo | None = None
    best_score = float("-inf")
    reasons: Counter[str] = Counter()
    total = 0
    for node in nodes:
        total += 1
        why = filter_node(pod, node)
        if why:
            reasons.update(why)
            continue
        s = score_node(pod, node)
        if s > best_score or (s == best_score and best is not None and node.name < best.name):
            best, best_score = node, s
    if best is not None:
        return Placement(best.name)
    return Placement(None, fit_error(total, reasons), dict(reasons))


def queue_order(pod: PodInfo) -> tuple[int, str, str]:
    """Sort key for the active queue: higher priority first, then older first."""
    return (-pod.priority, pod.creation, pod.key)
