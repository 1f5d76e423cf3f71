"""Pod topology spread constraints (kube-scheduler's PodTopologySpread filter).

Only ``whenUnsatisfiable: DoNotSchedule`` constraints filter (``ScheduleAnyway`` ones are not
scored). Domains are the values of ``topologyKey`` on the nodes that pass the pod's
nodeSelector and required node affinity; a node is allowed when placing the pod there keeps
``count(domain) + selfMatch - min(count) <= maxSkew``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hyperpod.apiserver.selectors import LabelSelector, label_selector_from_dict
from hyperpod.scheduler.interpod import Placed

MSG_SPREAD = "node(s) didn't match pod topology spread constraints"
MSG_SPREAD_LABEL = "node(s) didn't match pod topology spread constraints (missing required label)"


@dataclass(frozen=True)
class Constraint:
    max_skew: int
    topology_key: str
    selector: LabelSelector | None


def constraints(pod: Mapping[str, Any]) -> list[Constraint]:
    out = []
    for raw in (pod.get("spec") or {}).get("topologySpreadConstraints") or []:
        if raw.get("whenUnsatisfiable", "DoNotSchedule") != "DoNotSchedule":
            continue
        try:
            selector = (
                None
                if raw.get("labelSelector") is None
                else label_selector_from_dict(raw["labelSelector"])
            )
        except ValueError:
            selector = None
        out.append(
            Constraint(
                max(1, int(raw.get("maxSkew") or 1)), str(raw.get("topologyKey") or ""), selector
            )
        )
    return out


class SpreadCheck:
    """For one incoming pod: which nodes keep every DoNotSchedule constraint within its skew."""

    def __init__(
        self,
        pod: Mapping[str, Any],
        placed: Iterable[Placed],
        eligible_node_labels: Iterable[Mapping[str, str]],
    ) -> None:
        md = pod.get("metadata") or {}
        ns = md.get("namespace", "default")
        labels = dict(md.get("labels") or {})
        self.constraints = constraints(pod)
        eligible = list(eligible_node_labels)
        placed = [p for p in placed if p.namespace == ns]
        self.counts: list[dict[str, int]] = []
        self.minimum: list[int] = []
        self.self_match: list[int] = []
        for c in self.constraints:
            counts = {n[c.topology_key]: 0 for n in eligible if c.topology_key in n}
            for p in placed:
                value = p.node_labels.get(c.topology_key)
                if (
                    value in counts
                    and c.selector is not None
                    and c.selector.matches(dict(p.labels))
                ):
                    counts[value] += 1
            self.counts.append(counts)
            self.minimum.append(min(counts.values()) if counts else 0)
            self.self_match.append(
                1 if c.selector is not None and c.selector.matches(labels) else 0
            )

    def reason(self, node_labels: Mapping[str, str]) -> str | None:
        for c, counts, low, own in zip(
            self.constraints, self.counts, self.minimum, self.self_match, strict=True
        ):
            value = node_labels.get(c.topology_key)
            if value is None:
                return MSG_SPREAD_LABEL
            if counts.get(value, 0) + own - low > c.max_skew:
                return MSG_SPREAD
        return None
