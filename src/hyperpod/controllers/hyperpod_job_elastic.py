"""Elastic scaling of a HyperPodPyTorchJob (``spec.elasticPolicy``), as pure plan steps.

Only jobs with one replica spec scale. The current size lives in the job annotation
``hyperpod.local/elastic-replicas`` (default: the group's ``replicas``); allowed sizes are
``replicaDiscreteValues`` or ``minReplicas`` upwards in ``replicaIncrementStep`` (default 1) up
to ``maxReplicas``.

- Down: a rank pod that stays unschedulable for ``faultyScaleDownTimeoutInSeconds`` (default
  30) shrinks the job to the largest allowed size that fits the pods already placed.
- Up: while the job runs below ``maxReplicas``, the operator probes for capacity with stand-in
  pods (label ``hyperpod.local/role=scale-probe``, running the spare standby) for the next
  size; when all of them run, the job grows; probes unscheduled after
  ``scalingTimeoutInSeconds`` (default 60) are removed and the next probe waits
  ``restartPolicy.scaleUpSnoozeTimeInSeconds`` (default 30) after the last change.

A size change recreates every rank pod with the new ``WORLD_SIZE`` (graceful: pods get
``terminationGracePeriodSeconds: gracefulShutdownTimeoutInSeconds``, so a trainer's SIGTERM
handler can checkpoint); it is not counted as a fault.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

Obj = dict[str, Any]
ANNOTATION_SIZE = "hyperpod.local/elastic-replicas"
ANNOTATION_CHANGED = "hyperpod.local/elastic-changed-at"
ROLE_PROBE = "scale-probe"
DEFAULT_FAULTY_SCALE_DOWN = 30
DEFAULT_SCALING_TIMEOUT = 60
DEFAULT_SNOOZE = 30


def policy(job: Obj) -> Obj | None:
    spec = job.get("spec") or {}
    pol = spec.get("elasticPolicy")
    groups = spec.get("replicaSpecs") or []
    if not isinstance(pol, dict) or len(groups) != 1:
        return None
    if not isinstance(pol.get("minReplicas"), int) or not isinstance(pol.get("maxReplicas"), int):
        return None
    return pol


def sizes(pol: Obj) -> list[int]:
    low, high = int(pol["minReplicas"]), int(pol["maxReplicas"])
    discrete = pol.get("replicaDiscreteValues")
    if isinstance(discrete, list) and discrete:
        return sorted({int(v) for v in discrete if low <= int(v) <= high})
    step = pol.get("replicaIncrementStep")
    step = step if isinstance(step, int) and step > 0 else 1
    return list(range(low, high + 1, step))


def current_size(job: Obj, default: int) -> int:
    pol = policy(job)
    if pol is None:
        return default
    raw = ((job.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_SIZE)
    size = int(str(raw)) if str(raw).isdigit() else default
    return max(int(pol["minReplicas"]), min(int(pol["maxReplicas"]), size))


def unschedulable_since(pod: Obj) -> datetime | None:
    from hyperpod.controllers.pytorchjob_rules import parse_time

    if (pod.get("status") or {}).get("phase") != "Pending":
        return None
    for cond in (pod.get("status") or {}).get("conditions") or []:
        if (
            cond.get("type") == "PodScheduled"
            and cond.get("status") == "False"
            and cond.get("reason") == "Unschedulable"
        ):
            return parse_time(cond.get("lastTransitionTime"))
    return None


def _seconds(pol: Obj, key: str, default: int) -> int:
    value = pol.get(key)
    return value if isinstance(value, int) and value >= 0 else default


def decide(
    job: Obj, ranks: list[Obj], probes: list[Obj], running: bool, now: datetime
) -> tuple[str, int | float]:
    """What to do now: ("down", size), ("up", size), ("probe", pods to add), ("drop-probes", 0),
    ("wait", seconds until the next look) or ("none", 0)."""
    from hyperpod.controllers.pytorchjob_rules import parse_time

    pol = policy(job)
    if pol is None:
        return "none", 0
    allowed = sizes(pol)
    group = ((job.get("spec") or {}).get("replicaSpecs") or [{}])[0]
    size = current_size(job, int(group.get("replicas") or 1))
    stuck = [t for t in (unschedulable_since(x) for x in ranks) if t is not None]
    if stuck:
        limit = _seconds(pol, "faultyScaleDownTimeoutInSeconds", DEFAULT_FAULTY_SCALE_DOWN)
        waited = (now - min(stuck)).total_seconds()
        placed = sum(1 for x in ranks if (x.get("spec") or {}).get("nodeName"))
        fits = [s for s in allowed if s <= placed and s < size]
        if fits and waited >= limit:
            return "down", max(fits)
        return ("wait", limit - waited) if fits else ("none", 0)
    bigger = [s for s in allowed if s > size]
    if not running or not bigger:
        return ("drop-probes", 0) if probes else ("none", 0)
    target = min(bigger)
    if probes:
        if len(probes) >= target - size and all(
            (x.get("status") or {}).get("phase") == "Running" for x in probes
        ):
            return "up", target
        timeout = _seconds(pol, "scalingTimeoutInSeconds", DEFAULT_SCALING_TIMEOUT)
        created = [parse_time((x.get("metadata") or {}).get("creationTimestamp")) for x in probes]
        oldest = min((c for c in created if c is not None), default=now)
        age = (now - oldest).total_seconds()
        return ("drop-probes", 0) if age >= timeout else ("wait", timeout - age)
    restart = ((job.get("spec") or {}).get("runPolicy") or {}).get("restartPolicy") or {}
    snooze = restart.get("scaleUpSnoozeTimeInSeconds")
    snooze = snooze if isinstance(snooze, int) and snooze >= 0 else DEFAULT_SNOOZE
    changed = parse_time(
        ((job.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_CHANGED)
    )
    if changed is not None and (now - changed).total_seconds() < snooze:
        return "wait", snooze - (now - changed).total_seconds()
    return "probe", target - size
