"""core/v1 Pod: graceful deletion through the kubelet, and the binding/eviction subresources.

A pod bound to a node (``spec.nodeName``) and not yet terminal is removed by that node's kubelet
once its containers stopped: deleting it sets ``deletionTimestamp`` and
``deletionGracePeriodSeconds`` (default ``terminationGracePeriodSeconds``, 30) and keeps it.
``pods/binding`` sets ``spec.nodeName`` and the PodScheduled condition; ``pods/eviction`` asks
every kind's eviction admission (disruption budgets) and then deletes the pod gracefully.
Defaults and validation of pods are still in ``podspec.py`` (called from ``validation.py``),
their columns in ``tables.py``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hyperpod.api.meta import now_rfc3339, rfc3339
from hyperpod.apiserver import errors, kinds
from hyperpod.apiserver.errors import BadRequest, Conflict
from hyperpod.apiserver.kinds import Obj, Strategy

TERMINAL_PHASES = ("Succeeded", "Failed")
_CREATED = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}


def needs_kubelet(pod: Obj) -> bool:
    """A bound, non-terminal pod is removed by its kubelet after the containers stop."""
    return bool((pod.get("spec") or {}).get("nodeName")) and (
        (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES
    )


class PodStrategy(Strategy):
    kind = "Pod"

    def lingers(self, obj: Obj) -> bool:
        return needs_kubelet(obj)

    def graceful_delete(self, obj: Obj, grace_period_seconds: int | None) -> tuple[bool, bool]:
        if not needs_kubelet(obj):
            return False, False
        grace = grace_period_seconds
        if grace is None:
            grace = int((obj.get("spec") or {}).get("terminationGracePeriodSeconds", 30))
        if grace <= 0:
            return False, False
        md = obj["metadata"]
        current = md.get("deletionGracePeriodSeconds")
        if current is None or grace < int(current):
            md["deletionGracePeriodSeconds"] = grace
            md["deletionTimestamp"] = rfc3339(datetime.now(UTC) + timedelta(seconds=grace))
            return True, True
        return True, False

    def create_subresource(
        self, store: Any, sub: str, body: Obj, namespace: str | None, dry_run: bool
    ) -> Obj | None:
        if sub == "binding":
            return bind(store, body, namespace, dry_run)
        if sub == "eviction":
            return evict(store, body, namespace, dry_run)
        return None


def bind(store: Any, binding: Obj, namespace: str | None, dry_run: bool) -> Obj:
    """``pods/binding``: put the pod on ``target.name`` (once; never while it is deleted)."""
    md = binding.get("metadata") or {}
    name = md.get("name")
    target = (binding.get("target") or {}).get("name")
    if not name or not target:
        raise errors.invalid(
            "Binding",
            name,
            [errors.cause("target.name", "Required value", "FieldValueRequired")],
        )
    rt, _ = store.resolve("pods")
    ns = store.namespace_of(rt, namespace or md.get("namespace"))
    pod = store.get("pods", name, ns)
    if pod["metadata"].get("deletionTimestamp"):
        raise Conflict(f'pod "{name}" is being deleted, cannot be assigned to a host')
    bound = (pod.get("spec") or {}).get("nodeName")
    if bound:
        raise Conflict(f'pod {name} is already assigned to node "{bound}"', name=name)
    pod["spec"]["nodeName"] = target
    status = pod.setdefault("status", {})
    conds = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    conds.insert(
        0,
        {
            "type": "PodScheduled",
            "status": "True",
            "lastProbeTime": None,
            "lastTransitionTime": now_rfc3339(),
        },
    )
    status["conditions"] = conds
    if dry_run:
        return pod
    store.commit_update(rt, pod)
    return dict(_CREATED)


def evict(store: Any, eviction: Obj, namespace: str | None, dry_run: bool) -> Obj:
    """``pods/eviction``: eviction admission, then a graceful delete with the given options."""
    md = eviction.get("metadata") or {}
    name = md.get("name")
    if not name:
        raise BadRequest("an Eviction needs metadata.name")
    rt, _ = store.resolve("pods")
    ns = store.namespace_of(rt, namespace or md.get("namespace"))
    opts = eviction.get("deleteOptions") or {}
    kinds.admit_eviction(store, store.get("pods", str(name), ns), dry_run)
    store.delete(
        "pods",
        name,
        ns,
        grace_period_seconds=opts.get("gracePeriodSeconds"),
        preconditions=opts.get("preconditions"),
        dry_run=dry_run,
    )
    return dict(_CREATED)


STRATEGY = PodStrategy()
