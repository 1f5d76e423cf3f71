"""The horizontal pod autoscaler's arithmetic, as upstream's replica calculator does it.

Pure functions over plain figures (no registry, no clock): ``controllers/horizontal.py`` feeds
them pods, their requests and their metrics.k8s.io usage. What is followed:

- one metric proposes ``ceil(ratio * ready pods)`` where ``ratio`` is usage over target
  (utilization of requests, or an average value); within ``tolerance`` (10 %) of 1 it proposes
  the current count;
- pods being deleted or Failed are ignored; Pending pods, and for cpu pods not yet Ready or
  whose usage window still overlaps their becoming Ready, are "unready"; pods without a sample
  are "missing". On a scale up unready and missing pods count as using nothing, on a scale
  down missing pods count as using their full request (or the target), and a proposal that
  changes direction because of them is dropped;
- several metrics: the largest proposal wins;
- without ``spec.behavior``: the highest recommendation of the downscale stabilization window
  (5 minutes upstream), scale-up capped at ``max(2 * current, 4)``, then min/max;
- with ``spec.behavior``: scale-up and scale-down stabilization windows and rate policies
  (Pods / Percent per period, selectPolicy Max / Min / Disabled) over the scale events of the
  last periods, then min/max. The reasons and messages are upstream's condition texts.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

DEFAULT_SCALE_UP: Obj = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
DEFAULT_SCALE_DOWN: Obj = {
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}

WITHIN_RANGE = ("DesiredWithinRange", "the desired count is within the acceptable range")
TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica count")
TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
UP_LIMIT = (
    "ScaleUpLimit",
    "the desired replica count is increasing faster than the maximum scale rate",
)
DOWN_LIMIT = (
    "ScaleDownLimit",
    "the desired replica count is decreasing faster than the maximum scale rate",
)
READY = ("ReadyForNewScale", "recommended size matches current size")
UP_STABILIZED = (
    "ScaleUpStabilized",
    "recent recommendations were lower than current one, applying the lowest recent recommendation",
)
DOWN_STABILIZED = (
    "ScaleDownStabilized",
    "recent recommendations were higher than current one, applying the highest recent recommendation",
)


class MetricError(Exception):
    """A metric gave no proposal (no pods, no samples, a container without a request)."""


@dataclass
class PodFigure:
    """One pod the target selects, with what the autoscaler needs to know of it."""

    name: str
    phase: str
    deleting: bool
    ready: bool | None  # the Ready condition; None when the pod has none
    start_time: float | None
    ready_since: float | None  # the Ready condition's lastTransitionTime
    request: float | None  # sum of the containers' requests; None when one has none
    missing_request: str | None  # "container X" when a container has no request
    usage: float | None  # sum of the containers' usage; None when no sample
    sample_time: float = 0.0
    window: float = 0.0


@dataclass
class Proposal:
    replicas: int
    utilization: int | None  # percent of requests, for Utilization targets
    average: float  # raw average usage per pod


@dataclass
class Timing:
    tolerance: float = 0.1
    cpu_initialization: float = 300.0
    readiness_delay: float = 30.0


def _group(
    pods: list[PodFigure], cpu: bool, now: float, timing: Timing
) -> tuple[list[PodFigure], list[PodFigure], list[PodFigure]]:
    """(ready with a sample, unready, missing); ignored pods are left out."""
    ready: list[PodFigure] = []
    unready: list[PodFigure] = []
    missing: list[PodFigure] = []
    for p in pods:
        if p.deleting or p.phase == "Failed":
            continue
        if p.phase == "Pending":
            unready.append(p)
            continue
        if p.usage is None:
            missing.append(p)
            continue
        if cpu:
            if p.ready is None or p.start_time is None:
                not_ready = True
            elif p.start_time + timing.cpu_initialization > now:
                since = p.ready_since or 0.0
                not_ready = p.ready is False or p.sample_time < since + p.window
            else:
                since = p.ready_since or 0.0
                not_ready = p.ready is False and p.start_time + timing.readiness_delay > since
            if not_ready:
                unready.append(p)
                continue
        ready.append(p)
    return ready, unready, missing


def _tail(
    current: int,
    ratio: float,
    counted: int,
    ready_count: int,
    scale_up_with_unready: bool,
    missing: bool,
    recompute: Callable[[], float],
    tolerance: float,
) -> int:
    if not scale_up_with_unready and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * ready_count)
    new_ratio = recompute()
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    replicas = math.ceil(new_ratio * counted)
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current
    return replicas


def utilization_replicas(
    current: int,
    pods: list[PodFigure],
    resource: str,
    target_percent: int,
    now: float,
    timing: Timing,
) -> Proposal:
    """Replicas for a Utilization target (percent of the pods' requests)."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    ready, unready, missing = _group(pods, resource == "cpu", now, timing)
    if not ready:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    for p in ready + unready + missing:
        if p.request is None or p.request <= 0:
            raise MetricError(
                f"missing request for {resource} in {p.missing_request or 'a container'} "
                f"of Pod {p.name}"
            )
    usage_total = sum(p.usage or 0.0 for p in ready)
    request_total = sum(p.request or 0.0 for p in ready)
    utilization = int(usage_total * 100 / request_total)
    ratio = (usage_total * 100 / request_total) / target_percent
    up_unready = bool(unready) and ratio > 1.0

    def recompute() -> float:
        used = usage_total
        asked = request_total
        for p in missing:
            asked += p.request or 0.0
            if ratio < 1.0:
                used += (p.request or 0.0) * max(100, target_percent) / 100
        if up_unready:
            for p in unready:
                asked += p.request or 0.0
        return (used * 100 / asked) / target_percent

    counted = ready + missing + (unready if up_unready else [])
    replicas = _tail(
        current,
        ratio,
        len(counted),
        len(ready),
        up_unready,
        bool(missing),
        recompute,
        timing.tolerance,
    )
    return Proposal(replicas, utilization, usage_total / len(ready))


def average_value_replicas(
    current: int,
    pods: list[PodFigure],
    resource: str,
    target: float,
    now: float,
    timing: Timing,
) -> Proposal:
    """Replicas for an AverageValue target (usage per pod)."""
    if not pods:
        raise MetricError("no pods returned by selector while calculating replica count")
    if target <= 0:
        raise MetricError(f"the {resource} target averageValue must be greater than zero")
    ready, unready, missing = _group(pods, resource == "cpu", now, timing)
    if not ready:
        raise MetricError("did not receive metrics for targeted pods (pods might be unready)")
    usage_total = sum(p.usage or 0.0 for p in ready)
    ratio = (usage_total / len(ready)) / target
    up_unready = bool(unready) and ratio > 1.0
    counted = ready + missing + (unready if up_unready else [])

    def recompute() -> float:
        used = usage_total + (len(missing) * target if ratio < 1.0 else 0.0)
        return (used / len(counted)) / target

    replicas = _tail(
        current,
        ratio,
        len(counted),
        len(ready),
        up_unready,
        bool(missing),
        recompute,
        timing.tolerance,
    )
    return Proposal(replicas, None, usage_total / len(ready))


# ---------------------------------------------------------------- normalization


@dataclass
class Recommendation:
    replicas: int
    at: float


@dataclass
class ScaleEvent:
    change: int  # replicas added (> 0) or removed (< 0)
    at: float


@dataclass
class Limits:
    replicas: int
    able_reason: tuple[str, str]  # the AbleToScale condition's (reason, message)
    limited: bool  # ScalingLimited status
    limited_reason: tuple[str, str]


def filled_behavior(behavior: Obj | None, downscale_window: float) -> tuple[Obj, Obj]:
    """(scaleUp, scaleDown) rules with upstream's defaults for what ``behavior`` leaves out."""
    behavior = behavior or {}
    up = {**DEFAULT_SCALE_UP, **(behavior.get("scaleUp") or {})}
    down = {**DEFAULT_SCALE_DOWN, **(behavior.get("scaleDown") or {})}
    if down.get("stabilizationWindowSeconds") is None:
        down["stabilizationWindowSeconds"] = downscale_window
    return up, down


def _changed(events: list[ScaleEvent], period: float, now: float, up: bool) -> int:
    return sum(
        abs(e.change) for e in events if e.at > now - period and (e.change > 0) == up and e.change
    )


def _up_limit(current: int, events: list[ScaleEvent], rules: Obj, now: float) -> int:
    if rules.get("selectPolicy") == "Disabled":
        return current
    pick = min if rules.get("selectPolicy") == "Min" else max
    out: int | None = None
    for policy in rules.get("policies") or []:
        period = float(policy.get("periodSeconds") or 15)
        start = current - _changed(events, period, now, True) + _changed(events, period, now, False)
        value = int(policy.get("value") or 0)
        proposed = (
            start + value if policy.get("type") == "Pods" else math.ceil(start * (1 + value / 100))
        )
        out = proposed if out is None else pick(out, proposed)
    return current if out is None else out


def _down_limit(current: int, events: list[ScaleEvent], rules: Obj, now: float) -> int:
    if rules.get("selectPolicy") == "Disabled":
        return current
    pick = max if rules.get("selectPolicy") == "Min" else min
    out: int | None = None
    for policy in rules.get("policies") or []:
        period = float(policy.get("periodSeconds") or 15)
        start = current + _changed(events, period, now, False) - _changed(events, period, now, True)
        value = int(policy.get("value") or 0)
        proposed = start - value if policy.get("type") == "Pods" else int(start * (1 - value / 100))
        out = proposed if out is None else pick(out, proposed)
    return current if out is None else out


def _limited(desired: int, stabilized: int, able: tuple[str, str], why: tuple[str, str]) -> Limits:
    return Limits(desired, able, desired != stabilized, why)


def normalize(
    current: int,
    proposed: int,
    low: int,
    high: int,
    recommendations: list[Recommendation],
    now: float,
    downscale_window: float,
) -> Limits:
    """Upstream's normalizeDesiredReplicas (an HPA without ``spec.behavior``).

    ``recommendations`` is the autoscaler's history; the new one is appended to it.
    """
    kept = [r for r in recommendations if r.at > now - downscale_window]
    stabilized = max([proposed, *(r.replicas for r in kept)])
    recommendations[:] = [*kept, Recommendation(proposed, now)]
    able = DOWN_STABILIZED if stabilized != proposed else READY
    up_limit = max(2 * current, 4)
    if stabilized < low:
        return _limited(low, stabilized, able, TOO_FEW)
    allowed, why = (high, TOO_MANY) if high <= up_limit else (up_limit, UP_LIMIT)
    if stabilized > allowed:
        return _limited(allowed, stabilized, able, why)
    return _limited(stabilized, stabilized, able, WITHIN_RANGE)


def normalize_with_behavior(
    current: int,
    proposed: int,
    low: int,
    high: int,
    behavior: Obj | None,
    recommendations: list[Recommendation],
    events: list[ScaleEvent],
    now: float,
    downscale_window: float,
) -> Limits:
    """Upstream's normalizeDesiredReplicasWithBehaviors."""
    up_rules, down_rules = filled_behavior(behavior, downscale_window)
    up_cut = now - float(up_rules.get("stabilizationWindowSeconds") or 0)
    down_cut = now - float(down_rules.get("stabilizationWindowSeconds") or 0)
    up_rec = down_rec = proposed
    for r in recommendations:
        if r.at > up_cut:
            up_rec = min(up_rec, r.replicas)
        if r.at > down_cut:
            down_rec = max(down_rec, r.replicas)
    stabilized = min(max(current, up_rec), down_rec)
    oldest = min(up_cut, down_cut)
    recommendations[:] = [r for r in recommendations if r.at > oldest]
    recommendations.append(Recommendation(proposed, now))
    if stabilized == proposed:
        able = READY
    else:
        able = UP_STABILIZED if stabilized < proposed else DOWN_STABILIZED
    longest = max(
        [float(p.get("periodSeconds") or 15) for p in up_rules.get("policies") or []]
        + [float(p.get("periodSeconds") or 15) for p in down_rules.get("policies") or []]
        + [0.0]
    )
    events[:] = [e for e in events if e.at > now - longest]
    if stabilized > current:
        limit = max(_up_limit(current, events, up_rules, now), current)
        allowed, why = (high, TOO_MANY) if high <= limit else (limit, UP_LIMIT)
        if stabilized > allowed:
            return _limited(allowed, stabilized, able, why)
    elif stabilized < current:
        limit = min(_down_limit(current, events, down_rules, now), current)
        allowed, why = (low, TOO_FEW) if low >= limit else (limit, DOWN_LIMIT)
        if stabilized < allowed:
            return _limited(allowed, stabilized, able, why)
    return _limited(stabilized, stabilized, able, WITHIN_RANGE)
