"""The ReplicaSet controller: keeps ``spec.replicas`` active pods per ReplicaSet and reports
replicas, ready, available (after ``minReadySeconds``) and observedGeneration in status.
The same controller runs core/v1 ReplicationControllers (their selector is a plain map).

Reads are straight from the registry (a reconcile never acts on a stale cache); informers
only decide what to reconcile. Pods are named ``<replicaset>-<5 random characters>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from hyperpod.apiserver.errors import ApiError, NotFound
from hyperpod.apiserver.registry import Registry
from hyperpod.apiserver.selectors import (
    LabelSelector,
    label_selector_from_dict,
    selector_from_set,
)
from hyperpod.controllers import workloads as wl
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import Controller, Informer, record_event, run_controller, split_key

log = logging.getLogger(__name__)

Obj = wl.Obj
RESOURCE = "replicasets.apps"
COMPONENT = "replicaset-controller"
BURST = 500  # pods created or deleted per reconcile at most


def selector_of(obj: Obj) -> LabelSelector:
    """A ReplicaSet's ``metav1.LabelSelector`` or a ReplicationController's plain map."""
    sel = (obj.get("spec") or {}).get("selector")
    if obj.get("kind") == "ReplicationController":
        return selector_from_set(sel or {}) if sel else LabelSelector.match_nothing()
    return label_selector_from_dict(sel)


class ReplicaSetController:
    def __init__(self, reg: Registry, resource: str = RESOURCE, kind: str = "ReplicaSet") -> None:
        self.reg = reg
        self.resource = resource
        self.kind = kind
        self.controller = Controller(f"{kind.lower()}-controller", self.reconcile)
        self.sets = Informer(reg, resource)
        self.pods = Informer(reg, "pods")
        self.sets.add_handler(self._on_set)
        self.pods.add_handler(self._on_pod)

    def _on_set(self, typ: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        self.controller.enqueue(f"{md.get('namespace')}/{md.get('name')}")

    def _on_pod(self, typ: str, obj: Obj, old: Obj | None) -> None:
        ref = wl.controller_ref(obj)
        if ref is not None and ref.get("kind") == self.kind:
            ns = (obj.get("metadata") or {}).get("namespace")
            self.controller.enqueue(f"{ns}/{ref.get('name')}")

    async def run(self, stopping: asyncio.Event) -> None:
        await run_controller(self.controller, [self.sets, self.pods], stopping)

    def owned_pods(self, rs: Obj) -> list[Obj]:
        md = rs["metadata"]
        sel = selector_of(rs)
        return [
            p
            for p in self.reg.list("pods", md.get("namespace"), label_selector=str(sel) or None)
            if wl.controller_uid(p) == md.get("uid")
        ]

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        rs = self.reg.try_get(self.resource, name, ns)
        if rs is None or rs["metadata"].get("deletionTimestamp"):
            return None
        spec = rs.get("spec") or {}
        want = int(spec.get("replicas", 1))
        pods = self.owned_pods(rs)
        active = [p for p in pods if wl.is_active(p)]
        diff = want - len(active)
        if diff > 0:
            template = spec.get("template") or {}
            made = 0
            for _ in range(min(diff, BURST)):
                try:
                    self.reg.create("pods", wl.pod_from_template(rs, template), ns)
                    made += 1
                except ApiError as exc:
                    record_event(
                        self.reg, rs, "Warning", "FailedCreate", exc.message, self.controller.name
                    )
                    break
            if made:
                record_event(
                    self.reg,
                    rs,
                    "Normal",
                    "SuccessfulCreate",
                    f"Created {made} pod(s)",
                    self.controller.name,
                )
        elif diff < 0:
            for pod in wl.pods_to_delete(active, min(-diff, BURST)):
                with contextlib.suppress(NotFound):
                    self.reg.delete("pods", pod["metadata"]["name"], ns)
                record_event(
                    self.reg,
                    rs,
                    "Normal",
                    "SuccessfulDelete",
                    f"Deleted pod: {pod['metadata']['name']}",
                    self.controller.name,
                )
        return self._write_status(rs, ns)

    def _write_status(self, rs: Obj, ns: str | None) -> float | None:
        """Status from the pods as they are now; the seconds until a pod becomes available."""
        now = datetime.now(UTC)
        spec = rs.get("spec") or {}
        min_ready = int(spec.get("minReadySeconds") or 0)
        active = [p for p in self.owned_pods(rs) if wl.is_active(p)]
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
        ready = [p for p in active if wl.ready_since(p) is not None]
        available = [p for p in ready if wl.is_available(p, min_ready, now)]
        status: Obj = {
            "replicas": len(active),
            "fullyLabeledReplicas": sum(
                1
                for p in active
                if all((p["metadata"].get("labels") or {}).get(k) == v for k, v in labels.items())
            ),
            "readyReplicas": len(ready),
            "availableReplicas": len(available),
            "observedGeneration": rs["metadata"].get("generation", 1),
        }
        for k in ("readyReplicas", "availableReplicas"):
            if not status[k]:
                status.pop(k)
        conditions = (rs.get("status") or {}).get("conditions")
        if conditions:
            status["conditions"] = conditions
        if status != rs.get("status"):
            rs["status"] = status
            with contextlib.suppress(NotFound):
                self.reg.update(f"{self.resource}/status", rs, ns)
        if len(available) < len(ready):
            waits = [
                min_ready - (now - since).total_seconds()
                for p in ready
                if (since := wl.ready_since(p)) is not None
            ]
            return max(0.05, min(w for w in waits if w > 0)) if any(w > 0 for w in waits) else 0.05
        return None


async def _start(ctx: ControlPlaneContext) -> None:
    await ReplicaSetController(ctx.reg).run(ctx.stopping)


def component() -> Component:
    return Component(name=COMPONENT, start=_start)


async def _start_rc(ctx: ControlPlaneContext) -> None:
    await ReplicaSetController(ctx.reg, "replicationcontrollers", "ReplicationController").run(
        ctx.stopping
    )


def replication_controllers() -> Component:
    return Component(name="replicationcontroller-controller", start=_start_rc)
