"""Pure decisions of the Deployment controller: template hashes, revisions, rolling-update
arithmetic (maxSurge/maxUnavailable) and the Available/Progressing conditions."""

from __future__ import annotations

import copy
import json
from typing import Any

from hyperpod.apiserver.kinds.deployment import int_or_percent

Obj = dict[str, Any]
HASH_LABEL = "pod-template-hash"
REVISION = "deployment.kubernetes.io/revision"
DESIRED = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE = "kubernetes.io/change-cause"
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def d(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def template_hash(template: Obj, collisions: int = 0) -> str:
    """A short, stable, label-safe hash of a pod template (FNV-1a 32 over its JSON)."""
    h = 0x811C9DC5
    data = json.dumps(template, sort_keys=True, separators=(",", ":")).encode()
    if collisions:
        data += str(collisions).encode()
    for byte in data:
        h ^= byte
        h = (h * 0x01000193) & 0xFFFFFFFF
    out = ""
    while h:
        h, r = divmod(h, len(_ALPHABET))
        out += _ALPHABET[r]
    return out or _ALPHABET[0]


def without_hash(template: Obj) -> Obj:
    """A ReplicaSet's template as its Deployment wrote it (the hash label removed)."""
    t = copy.deepcopy(template)
    labels = d(t.get("metadata")).get("labels")
    if isinstance(labels, dict):
        labels.pop(HASH_LABEL, None)
    return t


def revision_of(rs: Obj) -> int:
    try:
        return int(d(d(rs.get("metadata")).get("annotations")).get(REVISION) or 0)
    except ValueError:
        return 0


def limits(deploy: Obj) -> tuple[int, int]:
    """(maxSurge, maxUnavailable) as pod counts; (0, 0) under Recreate (every replica must be
    available for the Available condition)."""
    spec = d(deploy.get("spec"))
    replicas = int(spec.get("replicas", 1))
    strategy = d(spec.get("strategy"))
    if strategy.get("type") == "Recreate":
        return 0, 0
    ru = d(strategy.get("rollingUpdate"))
    surge = int_or_percent(ru.get("maxSurge", "25%"), replicas, round_up=True)
    unavailable = int_or_percent(ru.get("maxUnavailable", "25%"), replicas, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, min(unavailable, replicas)


def spec_replicas(rs: Obj) -> int:
    return int(d(rs.get("spec")).get("replicas") or 0)


def status_count(rs: Obj, field: str) -> int:
    return int(d(rs.get("status")).get(field) or 0)


def scale_up_new(deploy: Obj, new: Obj, all_sets: list[Obj]) -> int:
    """The new ReplicaSet's replicas after one rolling-update scale-up step."""
    replicas = int(d(deploy.get("spec")).get("replicas", 1))
    current = spec_replicas(new)
    if current >= replicas:
        return replicas
    surge, _ = limits(deploy)
    total = sum(spec_replicas(rs) for rs in all_sets)
    room = replicas + surge - total
    if room <= 0:
        return current
    return min(current + room, replicas)


def scale_down_old(deploy: Obj, new: Obj | None, old: list[Obj]) -> dict[str, int]:
    """Old ReplicaSet name -> its replicas after one rolling-update scale-down step.

    Unhealthy old replicas go first, then available ones while at least
    ``replicas - maxUnavailable`` pods stay available (as Kubernetes' rolling updater does).
    """
    replicas = int(d(deploy.get("spec")).get("replicas", 1))
    _, unavailable = limits(deploy)
    min_available = replicas - unavailable
    all_sets = [*old, *([new] if new is not None else [])]
    total = sum(spec_replicas(rs) for rs in all_sets)
    new_unavailable = (
        spec_replicas(new) - status_count(new, "availableReplicas") if new is not None else 0
    )
    budget = total - min_available - max(0, new_unavailable)
    out = {rs["metadata"]["name"]: spec_replicas(rs) for rs in old}
    if budget <= 0:
        return out
    oldest_first = sorted(old, key=lambda rs: str(rs["metadata"].get("creationTimestamp")))
    for rs in oldest_first:
        name = rs["metadata"]["name"]
        unhealthy = out[name] - status_count(rs, "availableReplicas")
        cut = max(0, min(budget, unhealthy))
        out[name] -= cut
        budget -= cut
        if budget <= 0:
            return out
    available = sum(status_count(rs, "availableReplicas") for rs in all_sets)
    room = available - min_available
    for rs in oldest_first:
        name = rs["metadata"]["name"]
        if room <= 0:
            break
        cut = min(out[name], room)
        out[name] -= cut
        room -= cut
    return out


def complete(deploy: Obj, new: Obj | None, old: list[Obj]) -> bool:
    """Every replica is updated and available and no old pod remains."""
    replicas = int(d(deploy.get("spec")).get("replicas", 1))
    if new is None:
        return False
    return (
        status_count(new, "replicas") == replicas
        and spec_replicas(new) == replicas
        and status_count(new, "availableReplicas") >= replicas
        and all(status_count(rs, "replicas") == 0 and spec_replicas(rs) == 0 for rs in old)
    )
