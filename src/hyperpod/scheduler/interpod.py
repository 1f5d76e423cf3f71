"""Required inter-pod affinity and anti-affinity (kube-scheduler's InterPodAffinity filter).

A term is a label selector over pods (in the pod's namespace, ``namespaces``, or every namespace
with ``namespaceSelector: {}``) and a ``topologyKey``: nodes sharing that label's value form one
domain. Anti-affinity keeps a pod out of domains holding a matching pod; affinity keeps it in
domains that do (the first pod of a group may match itself). Existing pods' anti-affinity
terms keep matching newcomers out of their domains too. Preferred terms are not scored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hyperpod.apiserver.selectors import LabelSelector, label_selector_from_dict

MSG_AFFINITY = "node(s) didn't match pod affinity rules"
MSG_ANTI_AFFINITY = "node(s) didn't match pod anti-affinity rules"
MSG_EXISTING_ANTI = "node(s) didn't satisfy existing pods anti-affinity rules"


@dataclass(frozen=True)
class Term:
    selector: LabelSelector | None  # None matches no pod
    namespaces: frozenset[str] | None  # None: every namespace
    topology_key: str

    def matches(self, namespace: str, labels: Mapping[str, str]) -> bool:
        if self.selector is None:
            return False
        if self.namespaces is not None and namespace not in self.namespaces:
            return False
        return self.selector.matches(dict(labels))


def required_terms(pod: Mapping[str, Any], kind: str) -> list[Term]:
    """The required terms of ``kind`` ("podAffinity" or "podAntiAffinity"); bad selectors match nothing."""
    spec = pod.get("spec") or {}
    block = (spec.get("affinity") or {}).get(kind) or {}
    own_ns = (pod.get("metadata") or {}).get("namespace", "default")
    out = []
    for raw in block.get("requiredDuringSchedulingIgnoredDuringExecution") or []:
        sel_raw = raw.get("labelSelector")
        try:
            selector = None if sel_raw is None else label_selector_from_dict(sel_raw)
        except ValueError:
            selector = None
        if raw.get("namespaceSelector") == {}:
            namespaces: frozenset[str] | None = None
        else:
            namespaces = frozenset(raw.get("namespaces") or [own_ns])
        out.append(Term(selector, namespaces, str(raw.get("topologyKey") or "")))
    return out


@dataclass
class Placed:
    """A pod already bound: where, and what it says about others."""

    node_labels: Mapping[str, str]
    namespace: str
    labels: Mapping[str, str]
    anti: list[Term]


class InterPodCheck:
    """Answers, for one incoming pod, which nodes the inter-pod rules allow."""

    def __init__(self, pod: Mapping[str, Any], placed: Iterable[Placed]) -> None:
        md = pod.get("metadata") or {}
        self.ns = md.get("namespace", "default")
        self.labels = dict(md.get("labels") or {})
        self.affinity = required_terms(pod, "podAffinity")
        self.anti = required_terms(pod, "podAntiAffinity")
        placed = list(placed)
        # Domains (topology key, value) that hold a pod matching each of our terms.
        self.aff_domains = [self._domains(t, placed) for t in self.affinity]
        self.aff_anywhere = [bool(d) for d in self.aff_domains]
        self.anti_domains = [self._domains(t, placed) for t in self.anti]
        # Domains closed to us by existing pods' anti-affinity.
        self.closed: set[tuple[str, str]] = set()
        for p in placed:
            for t in p.anti:
                # The term's namespaces were resolved relative to its own pod.
                if t.matches(self.ns, self.labels):
                    value = p.node_labels.get(t.topology_key)
                    if value is not None:
                        self.closed.add((t.topology_key, value))

    @staticmethod
    def _domains(term: Term, placed: list[Placed]) -> set[str]:
        out = set()
        for p in placed:
            if term.matches(p.namespace, p.labels):
                value = p.node_labels.get(term.topology_key)
                if value is not None:
                    out.add(value)
        return out

    def reason(self, node_labels: Mapping[str, str]) -> str | None:
        """Why a node with these labels is out, in kube-scheduler's words; None when allowed."""
        for key, closed_value in self.closed:
            if node_labels.get(key) == closed_value:
                return MSG_EXISTING_ANTI
        for term, domains in zip(self.anti, self.anti_domains, strict=True):
            value = node_labels.get(term.topology_key)
            if value is not None and value in domains:
                return MSG_ANTI_AFFINITY
        for term, domains, anywhere in zip(
            self.affinity, self.aff_domains, self.aff_anywhere, strict=True
        ):
            value = node_labels.get(term.topology_key)
            if value is None:
                return MSG_AFFINITY
            if value in domains:
                continue
            if not anywhere and term.matches(self.ns, self.labels):
                continue  # the first pod of a group that selects itself
            return MSG_AFFINITY
        return None
