"""Kueue topology-aware scheduling (TAS): place a pod set inside one topology domain.

A ``Topology`` (``kueue.x-k8s.io``, cluster-scoped) lists node-label levels from the widest to
the narrowest (``spec.levels[].nodeLabel``); a ResourceFlavor names it in ``spec.topologyName``.
A pod set asks with a pod-template annotation:

- ``kueue.x-k8s.io/podset-required-topology: <level>``: every pod in one domain of that level,
  or the workload is not admitted (it stays pending with a message saying how much room the
  roomiest domain has, and is tried again).
- ``kueue.x-k8s.io/podset-preferred-topology: <level>``: one domain of that level if one has
  room, else one domain of the next wider level, and so on; if none has room, anywhere.

When quota is reserved, :meth:`Placer.place` counts how many pods of the pod set each node can
still hold (allocatable less the requests of the pods bound to it, for nodes that match the
pod set's nodeSelector and the flavor's nodeLabels and whose NoSchedule/NoExecute taints are
tolerated), sums that per domain, and picks the domain with the least room that still fits
(best fit; ties by name). It records ``topologyAssignment`` ``{levels, domains: [{values,
count}]}`` in the pod set's admission; the job integration turns it into a nodeSelector on the
pod template, so the scheduler places each pod inside the domain.

Differences from Kueue, said plainly: the assignment names one domain at the requested level,
not a per-node split (Kueue gates the pods and assigns each a node); pod sets whose flavors have
no ``topologyName`` are placed without topology (Kueue would not admit them on that flavor); a
workload admitted moments ago whose pods are not bound yet holds ``count - bound`` pods of room
in its domain, counted in pods of the shape being placed.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from hyperpod.api import kueue as api
from hyperpod.apiserver.quantity import parse_quantity
from hyperpod.controllers.kueue.flavors import tolerates

Obj = dict[str, Any]
TOPOLOGIES = f"topologies.{api.GROUP}"
REQUIRED = "kueue.x-k8s.io/podset-required-topology"
PREFERRED = "kueue.x-k8s.io/podset-preferred-topology"
RETRY_SECONDS = 5.0  # a workload whose required topology has no room is tried again after this
_TERMINAL = ("Succeeded", "Failed")


@dataclass
class Reservation:
    """Room a just-admitted pod set holds in its domain until its pods are bound."""

    namespace: str
    owner: str  # the job's name (its pods' owner)
    selector: dict[str, str]
    count: int


def _requests(template: Obj) -> dict[str, float]:
    total: dict[str, float] = {"pods": 1.0}
    for c in (template.get("spec") or {}).get("containers") or []:
        for res, qty in ((c.get("resources") or {}).get("requests") or {}).items():
            total[res] = total.get(res, 0.0) + float(parse_quantity(str(qty)))
    return total


def _eligible(node: Obj, template: Obj, flavor: Obj) -> bool:
    labels = node["metadata"].get("labels") or {}
    spec = template.get("spec") or {}
    wanted = {**(spec.get("nodeSelector") or {}), **(flavor.get("nodeLabels") or {})}
    if any(labels.get(k) != v for k, v in wanted.items()):
        return False
    if (node.get("spec") or {}).get("unschedulable"):
        return False
    tolerations = [*(spec.get("tolerations") or []), *(flavor.get("tolerations") or [])]
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(tolerations, taint):
            return False
    return True


def _room(node: Obj, used: dict[str, float], per_pod: dict[str, float]) -> int:
    """How many pods of shape ``per_pod`` still fit on ``node``."""
    allocatable = (node.get("status") or {}).get("allocatable") or {}
    fit: int | None = None
    for res, amount in per_pod.items():
        if amount <= 0:
            continue
        have = float(parse_quantity(str(allocatable.get(res, "0")))) - used.get(res, 0.0)
        n = max(0, int(have // amount))
        fit = n if fit is None else min(fit, n)
    return fit or 0


class Placer:
    """Topology placement at admission time for one Kueue manager (keeps its reservations)."""

    def __init__(self, reg: Any) -> None:
        self.reg = reg
        self.reservations: dict[str, list[Reservation]] = {}  # workload key -> its pod sets

    def prune(self, admitted: Collection[str]) -> None:
        """Drop the reservations of workloads no longer admitted."""
        for key in [k for k in self.reservations if k not in admitted]:
            del self.reservations[key]

    def place(self, key: str, workload: Obj, admission: Obj, flavors: dict[str, Obj]) -> str | None:
        """Add ``topologyAssignment`` to the pod sets of ``admission`` that ask for a topology;
        a message when a required topology has no domain with room (then nothing is added)."""
        pod_sets = {
            str(ps.get("name")): ps for ps in (workload.get("spec") or {}).get("podSets") or []
        }
        plans: list[tuple[Obj, list[str], list[str], int]] = []
        for psa in admission.get("podSetAssignments") or []:
            ps = pod_sets.get(str(psa.get("name")))
            if ps is None:
                continue
            template = ps.get("template") or {}
            notes = (template.get("metadata") or {}).get("annotations") or {}
            request = (ps.get("topologyRequest") or {}) or {}
            required = notes.get(REQUIRED) or request.get("required")
            preferred = notes.get(PREFERRED) or request.get("preferred")
            if not required and not preferred:
                continue
            flavor = self._tas_flavor(psa, flavors)
            if flavor is None:
                continue
            levels = self._levels(flavor)
            level = str(required or preferred)
            if level not in levels:
                if required:
                    return (
                        f"pod set {psa.get('name')}: {level} is not a level of topology "
                        f"{flavor.get('topologyName')} ({', '.join(levels) or 'no levels'})"
                    )
                continue
            count = int(psa.get("count") or ps.get("count") or 1)
            rooms = self._domains(levels, template, flavor, key)
            depth = levels.index(level) + 1
            tried = [depth] if required else list(range(depth, 0, -1))
            chosen: tuple[tuple[str, ...], int] | None = None
            for d in tried:
                fitting = sorted(
                    (room, values) for values, room in _by_depth(rooms, d).items() if room >= count
                )
                if fitting:
                    chosen = (fitting[0][1], d)
                    break
            if chosen is None:
                if required:
                    best = max(_by_depth(rooms, depth).values(), default=0)
                    return (
                        f"pod set {psa.get('name')}: no {level} domain has room for {count} "
                        f"pods (the roomiest has room for {best})"
                    )
                continue  # preferred: anywhere
            values, d = chosen
            plans.append((psa, levels[:d], list(values), count))
        refs: list[Obj] = workload["metadata"].get("ownerReferences") or []
        owner = str(refs[0].get("name", "")) if refs else ""
        namespace = str(workload["metadata"].get("namespace", ""))
        held: list[Reservation] = []
        for psa, names, path, size in plans:
            domain = {"values": path, "count": size}
            psa["topologyAssignment"] = {"levels": names, "domains": [domain]}
            held.append(Reservation(namespace, owner, dict(zip(names, path, strict=True)), size))
        if held:
            self.reservations[key] = held
        return None

    def _tas_flavor(self, psa: Obj, flavors: dict[str, Obj]) -> Obj | None:
        for name in sorted(set((psa.get("flavors") or {}).values())):
            spec = (flavors.get(name) or {}).get("spec") or {}
            if spec.get("topologyName"):
                return dict(spec)
        return None

    def _levels(self, flavor: Obj) -> list[str]:
        topo = self.reg.try_get(TOPOLOGIES, str(flavor.get("topologyName")))
        levels = ((topo or {}).get("spec") or {}).get("levels") or []
        return [str(lv.get("nodeLabel")) for lv in levels if lv.get("nodeLabel")]

    def _domains(
        self, levels: list[str], template: Obj, flavor: Obj, key: str
    ) -> dict[tuple[str, ...], int]:
        """Room (in pods of this pod set's shape) per full-depth domain path."""
        per_pod = _requests(template)
        used: dict[str, dict[str, float]] = {}
        bound: dict[tuple[str, str], int] = {}
        for pod in self.reg.list("pods"):
            node = (pod.get("spec") or {}).get("nodeName")
            if not node or (pod.get("status") or {}).get("phase") in _TERMINAL:
                continue
            mine = used.setdefault(node, {})
            for res, amount in _requests(pod).items():
                mine[res] = mine.get(res, 0.0) + amount
            for ref in pod["metadata"].get("ownerReferences") or []:
                owner = (pod["metadata"].get("namespace", ""), str(ref.get("name")))
                bound[owner] = bound.get(owner, 0) + 1
        rooms: dict[tuple[str, ...], int] = {}
        for node in self.reg.list("nodes"):
            labels = node["metadata"].get("labels") or {}
            if any(lv not in labels for lv in levels) or not _eligible(node, template, flavor):
                continue
            path = tuple(labels[lv] for lv in levels)
            room = _room(node, used.get(node["metadata"]["name"], {}), per_pod)
            rooms[path] = rooms.get(path, 0) + room
        for other, held in self.reservations.items():
            if other == key:
                continue
            for r in held:
                waiting = max(0, r.count - bound.get((r.namespace, r.owner), 0))
                for path in rooms:
                    if waiting and all(
                        dict(zip(levels, path, strict=True)).get(k) == v
                        for k, v in r.selector.items()
                    ):
                        take = min(waiting, rooms[path])
                        rooms[path] -= take
                        waiting -= take
        return rooms


def _by_depth(rooms: dict[tuple[str, ...], int], depth: int) -> dict[tuple[str, ...], int]:
    out: dict[tuple[str, ...], int] = {}
    for path, room in rooms.items():
        out[path[:depth]] = out.get(path[:depth], 0) + room
    return out


def node_selector(assignment: Obj) -> dict[str, str]:
    """The nodeSelector that keeps a pod set inside its assigned domain."""
    domains = assignment.get("domains") or []
    if not domains:
        return {}
    return dict(zip(assignment.get("levels") or [], domains[0].get("values") or [], strict=False))
