"""Helpers shared by the workload controllers (ReplicaSet, Deployment, Job): owned pods,
readiness, availability and pods made from templates."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

from hyperpod.apiserver.metadata import owner_reference, parse_time

Obj = dict[str, Any]
TERMINAL = ("Succeeded", "Failed")


def d(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def controller_uid(obj: Obj) -> str | None:
    for ref in d(obj.get("metadata")).get("ownerReferences") or []:
        if d(ref).get("controller"):
            return str(ref.get("uid"))
    return None


def controller_ref(obj: Obj) -> Obj | None:
    for ref in d(obj.get("metadata")).get("ownerReferences") or []:
        if d(ref).get("controller"):
            return d(ref)
    return None


def is_active(pod: Obj) -> bool:
    """Counted as a replica: not finished and not being deleted."""
    return d(pod.get("status")).get("phase") not in TERMINAL and not d(pod.get("metadata")).get(
        "deletionTimestamp"
    )


def ready_since(pod: Obj) -> datetime | None:
    """When the pod's Ready condition last turned True, or None when it is not ready."""
    for c in d(pod.get("status")).get("conditions") or []:
        c = d(c)
        if c.get("type") == "Ready" and c.get("status") == "True":
            return parse_time(c.get("lastTransitionTime")) or datetime.now(UTC)
    return None


def is_available(pod: Obj, min_ready_seconds: int, now: datetime) -> bool:
    since = ready_since(pod)
    if since is None:
        return False
    return min_ready_seconds <= 0 or (now - since).total_seconds() >= min_ready_seconds


def pod_from_template(
    owner: Obj, template: Obj, *, name: str | None = None, generate_name: str | None = None
) -> Obj:
    """A pod built from ``template`` and controlled by ``owner``."""
    tmd = d(template.get("metadata"))
    md: Obj = {
        "namespace": owner["metadata"].get("namespace"),
        "labels": dict(d(tmd.get("labels"))),
        "ownerReferences": [owner_reference(owner)],
    }
    if tmd.get("annotations"):
        md["annotations"] = dict(tmd["annotations"])
    if tmd.get("finalizers"):
        md["finalizers"] = list(tmd["finalizers"])
    if name:
        md["name"] = name
    else:
        md["generateName"] = generate_name or f"{owner['metadata']['name']}-"
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": md,
        "spec": copy.deepcopy(d(template.get("spec"))),
    }


def pods_to_delete(pods: list[Obj], count: int) -> list[Obj]:
    """The ``count`` pods to remove first: unscheduled, pending, not ready, most restarts,
    newest (as the ReplicaSet controller ranks them)."""

    def rank(pod: Obj) -> tuple[int, int, int, int]:
        spec, status = d(pod.get("spec")), d(pod.get("status"))
        restarts = sum(
            int(d(c).get("restartCount") or 0) for c in status.get("containerStatuses") or []
        )
        return (
            0 if not spec.get("nodeName") else 1,
            {"Pending": 0, "Unknown": 1}.get(str(status.get("phase")), 2),
            0 if ready_since(pod) is None else 1,
            -restarts,
        )

    newest_first = sorted(
        pods, key=lambda p: str(d(p.get("metadata")).get("creationTimestamp") or ""), reverse=True
    )
    return sorted(newest_first, key=rank)[: max(0, count)]
