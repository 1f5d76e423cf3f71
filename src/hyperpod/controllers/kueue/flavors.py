"""Flavor assignment: pick a ResourceFlavor for every pod set and resource group of a workload.

Flavors of a resource group are tried in the order the ClusterQueue lists them. A flavor is
skipped when its taints are not tolerated or its node labels contradict the pod set's
nodeSelector / required node affinity. For each resource the outcome is *Fit* (fits in what
is available now, maybe by borrowing), *Preempt* (fits only if others are evicted) or *NoFit*
(more than the queue could ever hold). ``flavorFungibility`` decides whether the search stops
at the first flavor that borrows or needs preemption.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from hyperpod.api.kueue import format_milli
from hyperpod.controllers.kueue.snapshot import (
    FR,
    ClusterQueue,
    Flavor,
    PodSet,
    PodSetAssignment,
    Snapshot,
    WorkloadInfo,
)


class Mode(IntEnum):
    NO_FIT = 0
    PREEMPT = 1
    FIT = 2


@dataclass
class Assignment:
    """The outcome of flavor assignment for one workload."""

    mode: Mode
    pod_sets: list[PodSetAssignment] = field(default_factory=list)
    borrows: bool = False
    messages: list[str] = field(default_factory=list)
    needs_preemption: set[FR] = field(default_factory=set)  # flavor-resources in Preempt mode

    def usage(self) -> dict[FR, int]:
        out: dict[FR, int] = {}
        for a in self.pod_sets:
            for res, val in a.usage.items():
                fr = (a.flavors[res], res)
                out[fr] = out.get(fr, 0) + val
        return out

    def message(self) -> str:
        return "; ".join(self.messages)


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for t in tolerations:
        effect = t.get("effect")
        if effect and effect != taint.get("effect"):
            continue
        key = t.get("key")
        op = t.get("operator") or "Equal"
        if not key:
            if op == "Exists":
                return True
            continue
        if key != taint.get("key"):
            continue
        if op == "Exists" or (t.get("value") or "") == (taint.get("value") or ""):
            return True
    return False


def _expr_ok(expr: dict[str, Any], labels: dict[str, str]) -> bool:
    key = expr.get("key", "")
    op = expr.get("operator")
    values = expr.get("values") or []
    if op == "In":
        return key in labels and labels[key] in values
    if op == "NotIn":
        return key not in labels or labels[key] not in values
    if op == "Exists":
        return key in labels
    if op == "DoesNotExist":
        return key not in labels
    if op in ("Gt", "Lt") and key in labels and values:
        try:
            have, want = int(labels[key]), int(values[0])
        except ValueError:
            return False
        return have > want if op == "Gt" else have < want
    return False


def flavor_mismatch(flavor: Flavor, ps: PodSet) -> str | None:
    """Why ``flavor`` cannot host ``ps`` (taints, selector, affinity), or None."""
    for taint in flavor.node_taints:
        if not tolerates(ps.tolerations, taint) and not tolerates(flavor.tolerations, taint):
            return (
                f"untolerated taint {{{taint.get('key')}: {taint.get('value', '')}}}"
                f" in flavor {flavor.name}"
            )
    labels = flavor.node_labels
    for key, value in ps.node_selector.items():
        if key in labels and labels[key] != value:
            return f"flavor {flavor.name} doesn't match node affinity"
    if ps.affinity_terms:
        matched = False
        for term in ps.affinity_terms:
            exprs = [e for e in term if e.get("key") in labels]
            if all(_expr_ok(e, labels) for e in exprs):
                matched = True
                break
        if not matched:
            return f"flavor {flavor.name} doesn't match node affinity"
    return None


def _may_preempt(cq: ClusterQueue, fr: FR, val: int) -> bool:
    p = cq.preemption
    if val <= cq.subtree_quota(fr) and (
        p.within_cluster_queue != "Never" or p.reclaim_within_cohort != "Never"
    ):
        return True
    return p.borrow_within_cohort != "Never"


def fits_resource(cq: ClusterQueue, fr: FR, val: int) -> tuple[Mode, bool, str | None]:
    """Mode, whether it borrows, and a message when it does not simply fit."""
    flavor, resource = fr
    available = cq.available(fr)
    potential = cq.potential_available(fr)
    borrows = cq.usage.get(fr, 0) + val > cq.subtree_quota(fr)
    if val > potential:
        return (
            Mode.NO_FIT,
            borrows,
            f"insufficient quota for {resource} in flavor {flavor}, request > maximum capacity"
            f" ({format_milli(resource, val)} > {format_milli(resource, potential)})",
        )
    if val <= available:
        return Mode.FIT, borrows, None
    msg = (
        f"insufficient unused quota for {resource} in flavor {flavor},"
        f" {format_milli(resource, val - max(available, 0))} more needed"
    )
    if _may_preempt(cq, fr, val):
        return Mode.PREEMPT, borrows, msg
    return Mode.NO_FIT, borrows, msg


def assign(wl: WorkloadInfo, cq: ClusterQueue, snapshot: Snapshot) -> Assignment:
    """Choose flavors for every pod set of ``wl`` against the current snapshot usage."""
    result = Assignment(Mode.FIT)
    taken: dict[FR, int] = {}  # usage of earlier pod sets of this workload
    for ps in wl.pod_sets:
        flavors: dict[str, str] = {}
        usage: dict[str, int] = {}
        requests = {r: v * ps.count for r, v in ps.requests.items()}
        for res in list(requests):
            if res == "pods" and not cq.covers("pods"):
                del requests[res]
            elif not cq.covers(res):
                result.mode = Mode.NO_FIT
                result.messages.append(
                    f"couldn't assign flavors to pod set {ps.name}: resource {res} unavailable"
                    f" in ClusterQueue"
                )
                return result
        done: set[str] = set()
        for res in requests:
            if res in done:
                continue
            group = cq.group_for(res)
            assert group is not None
            wanted = [r for r in group.covered if r in requests]
            done.update(wanted)
            best: tuple[Mode, bool, str, set[FR]] | None = None
            reasons: list[str] = []
            for fname in group.flavors:
                flavor = snapshot.flavors.get(fname)
                if flavor is None:
                    reasons.append(f"flavor {fname} not found")
                    continue
                why = flavor_mismatch(flavor, ps)
                if why:
                    reasons.append(why)
                    continue
                mode, borrows, preempt_frs = Mode.FIT, False, set()
                for r in wanted:
                    fr = (fname, r)
                    m, b, msg = fits_resource(cq, fr, taken.get(fr, 0) + requests[r])
                    borrows |= b
                    if m < mode:
                        mode = m
                    if m == Mode.PREEMPT:
                        preempt_frs.add(fr)
                    if msg:
                        reasons.append(msg)
                if mode == Mode.NO_FIT:
                    continue
                candidate = (mode, borrows, fname, preempt_frs)
                if best is None or (mode, not borrows) > (best[0], not best[1]):
                    best = candidate
                if mode == Mode.FIT and (not borrows or cq.when_can_borrow == "MayStopSearch"):
                    break
                if mode == Mode.PREEMPT and cq.when_can_preempt == "MayStopSearch":
                    break
            if best is None:
                result.mode = Mode.NO_FIT
                detail = ", ".join(reasons) if reasons else "no flavor in ClusterQueue"
                result.messages.append(f"couldn't assign flavors to pod set {ps.name}: {detail}")
                return result
            mode, borrows, fname, preempt_frs = best
            if mode == Mode.PREEMPT:
                result.messages.append(
                    f"couldn't assign flavors to pod set {ps.name}: {', '.join(reasons)}"
                )
            result.mode = min(result.mode, mode)
            result.borrows |= borrows
            result.needs_preemption |= preempt_frs
            for r in wanted:
                flavors[r] = fname
                usage[r] = requests[r]
                taken[(fname, r)] = taken.get((fname, r), 0) + requests[r]
        result.pod_sets.append(PodSetAssignment(ps.name, flavors, usage, ps.count))
    return result


def fits(cq: ClusterQueue, usage: dict[FR, int], allow_borrowing: bool = True) -> bool:
    """Whether ``usage`` fits in what ``cq`` has available now."""
    for fr, val in usage.items():
        if val > cq.available(fr):
            return False
        if not allow_borrowing and cq.usage.get(fr, 0) + val > cq.subtree_quota(fr):
            return False
    return True
