"""The DaemonSet controller: one pod per eligible node, rolled node by node.

A node is eligible when its labels match the template's ``nodeSelector`` and the pod
tolerates its NoSchedule/NoExecute taints (simulated nodes included; required node affinity
is not evaluated). Pods are bound by the controller itself (``spec.nodeName``) and carry the
``controller-revision-hash`` of their template; each template is kept as a ControllerRevision
(``<daemonset>-<hash>``) so ``kubectl rollout history|undo ds/...`` work. RollingUpdate
replaces old pods while at most ``maxUnavailable`` nodes lack an available pod; OnDelete
replaces a pod only once someone deletes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from hyperpod.api import wellknown as wk
from hyperpod.apiserver.errors import ApiError, NotFound
from hyperpod.apiserver.kinds.deployment import int_or_percent
from hyperpod.apiserver.registry import Registry
from hyperpod.apiserver.selectors import label_selector_from_dict
from hyperpod.controllers import workloads as wl
from hyperpod.controllers.deployment_rules import template_hash
from hyperpod.controllers.revisions import HASH_LABEL, record_revision
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import Controller, Informer, record_event, split_key

log = logging.getLogger(__name__)

Obj = dict[str, Any]
RESOURCE = "daemonsets.apps"
COMPONENT = "daemonset-controller"
# Tolerations Kubernetes adds to every daemon pod, so node conditions do not evict it.
DAEMON_TOLERATIONS = [
    {"key": wk.TAINT_NOT_READY, "operator": "Exists", "effect": "NoExecute"},
    {"key": wk.TAINT_UNREACHABLE, "operator": "Exists", "effect": "NoExecute"},
    {"key": "node.kubernetes.io/disk-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/memory-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": "node.kubernetes.io/pid-pressure", "operator": "Exists", "effect": "NoSchedule"},
    {"key": wk.TAINT_UNSCHEDULABLE, "operator": "Exists", "effect": "NoSchedule"},
]


def tolerated(tolerations: list[Obj], taint: Obj) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        if t.get("operator") == "Exists":
            if not t.get("key") or t.get("key") == taint.get("key"):
                return True
        elif t.get("key") == taint.get("key") and t.get("value", "") == taint.get("value", ""):
            return True
    return False


def eligible(node: Obj, template: Obj) -> bool:
    spec = template.get("spec") or {}
    labels = (node.get("metadata") or {}).get("labels") or {}
    for k, v in (spec.get("nodeSelector") or {}).items():
        if labels.get(k) != v:
            return False
    tolerations = [*(spec.get("tolerations") or []), *DAEMON_TOLERATIONS]
    return all(
        tolerated(tolerations, t)
        for t in (node.get("spec") or {}).get("taints") or []
        if t.get("effect") in ("NoSchedule", "NoExecute")
    )


class DaemonSetController:
    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.controller = Controller(COMPONENT, self.reconcile)
        self.sets = Informer(reg, RESOURCE)
        self.nodes = Informer(reg, "nodes")
        self.pods = Informer(reg, "pods")
        self.sets.add_handler(self._on_set)
        self.nodes.add_handler(self._on_node)
        self.pods.add_handler(self._on_pod)

    def _on_set(self, typ: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        self.controller.enqueue(f"{md.get('namespace')}/{md.get('name')}")

    def _on_node(self, typ: str, obj: Obj, old: Obj | None) -> None:
        if (
            old is not None
            and (old.get("metadata") or {}).get("labels")
            == (obj.get("metadata") or {}).get("labels")
            and (old.get("spec") or {}).get("taints") == (obj.get("spec") or {}).get("taints")
        ):
            return  # heartbeats do not change eligibility
        for ds in self.sets.list():
            self._on_set("MODIFIED", ds, None)

    def _on_pod(self, typ: str, obj: Obj, old: Obj | None) -> None:
        ref = wl.controller_ref(obj)
        if ref is not None and ref.get("kind") == "DaemonSet":
            ns = (obj.get("metadata") or {}).get("namespace")
            self.controller.enqueue(f"{ns}/{ref.get('name')}")

    async def run(self, stopping: asyncio.Event) -> None:
        informers = (self.sets, self.nodes, self.pods)
        for informer in informers:
            informer.start()
        worker = asyncio.get_running_loop().create_task(self.controller.run(stopping))
        try:
            await stopping.wait()
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            for informer in informers:
                await informer.stop()

    # --- one reconcile ----------------------------------------------------------------------

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        ds = self.reg.try_get(RESOURCE, name, ns)
        if ds is None or ds["metadata"].get("deletionTimestamp"):
            return None
        spec = ds.get("spec") or {}
        template = spec.get("template") or {}
        h = template_hash(template)
        record_revision(self.reg, ds, h)
        sel = label_selector_from_dict(spec.get("selector"))
        pods = [
            p
            for p in self.reg.list("pods", ns, label_selector=str(sel) or None)
            if wl.controller_uid(p) == ds["metadata"]["uid"] and wl.is_active(p)
        ]
        nodes = {n["metadata"]["name"]: n for n in self.reg.list("nodes")}
        wanted = sorted(n for n, node in nodes.items() if eligible(node, template))
        by_node: dict[str, list[Obj]] = {}
        for p in pods:
            by_node.setdefault(str((p.get("spec") or {}).get("nodeName") or ""), []).append(p)
        # Pods on nodes that are gone or no longer eligible, and duplicates, go.
        for node, on_node in by_node.items():
            extra = on_node if node not in wanted else wl.pods_to_delete(on_node, len(on_node) - 1)
            self._delete(extra)
        now = datetime.now(UTC)
        min_ready = int(spec.get("minReadySeconds") or 0)
        current = {n: by_node[n][0] for n in wanted if by_node.get(n)}
        for node in wanted:
            if node not in current:
                self._create(ds, template, h, node)
        strategy = spec.get("updateStrategy") or {}
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            budget = (
                int_or_percent(
                    (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1),
                    len(wanted),
                    round_up=True,
                )
                or 1
            )
            unavailable = sum(
                1
                for n in wanted
                if n not in current or not wl.is_available(current[n], min_ready, now)
            )
            old = [
                p
                for p in current.values()
                if (p["metadata"].get("labels") or {}).get(HASH_LABEL) != h
            ]
            old.sort(key=lambda p: wl.is_available(p, min_ready, now))  # unavailable ones first
            for p in old:
                if not wl.is_available(p, min_ready, now):
                    self._delete([p])
                elif unavailable < budget:
                    self._delete([p])
                    unavailable += 1
        return self._write_status(ds, h, wanted, ns, min_ready)

    def _create(self, ds: Obj, template: Obj, h: str, node: str) -> None:
        pod = wl.pod_from_template(ds, template)
        pod["metadata"]["labels"][HASH_LABEL] = h
        pod["spec"]["nodeName"] = node
        tols = pod["spec"].setdefault("tolerations", [])
        for t in DAEMON_TOLERATIONS:
            if t not in tols:
                tols.append(dict(t))
        try:
            made = self.reg.create("pods", pod, ds["metadata"].get("namespace"))
        except ApiError as exc:
            record_event(self.reg, ds, "Warning", "FailedCreate", exc.message, COMPONENT)
            return
        record_event(
            self.reg,
            ds,
            "Normal",
            "SuccessfulCreate",
            f"Created pod: {made['metadata']['name']}",
            COMPONENT,
        )

    def _delete(self, pods: list[Obj]) -> None:
        for p in pods:
            with contextlib.suppress(NotFound):
                self.reg.delete("pods", p["metadata"]["name"], p["metadata"].get("namespace"))

    def _write_status(
        self, ds: Obj, h: str, wanted: list[str], ns: str | None, min_ready: int
    ) -> float | None:
        now = datetime.now(UTC)
        sel = label_selector_from_dict((ds.get("spec") or {}).get("selector"))
        pods = [
            p
            for p in self.reg.list("pods", ns, label_selector=str(sel) or None)
            if wl.controller_uid(p) == ds["metadata"]["uid"] and wl.is_active(p)
        ]
        on = {str(p["spec"].get("nodeName")): p for p in pods}
        scheduled = [n for n in wanted if n in on]
        ready = [n for n in scheduled if wl.ready_since(on[n]) is not None]
        available = [n for n in scheduled if wl.is_available(on[n], min_ready, now)]
        updated = [
            n for n in scheduled if (on[n]["metadata"].get("labels") or {}).get(HASH_LABEL) == h
        ]
        status: Obj = {
            "currentNumberScheduled": len(scheduled),
            "numberMisscheduled": len([n for n in on if n not in wanted]),
            "desiredNumberScheduled": len(wanted),
            "numberReady": len(ready),
            "observedGeneration": ds["metadata"].get("generation", 1),
            "updatedNumberScheduled": len(updated),
            "numberAvailable": len(available),
            "numberUnavailable": len(wanted) - len(available),
        }
        for k in ("numberAvailable", "numberUnavailable", "updatedNumberScheduled"):
            if not status[k]:
                status.pop(k)
        if status != ds.get("status"):
            ds["status"] = status
            with contextlib.suppress(NotFound):
                self.reg.update(f"{RESOURCE}/status", ds, ns)
        if len(available) < len(ready):
            return 0.5
        return None


async def _start(ctx: ControlPlaneContext) -> None:
    await DaemonSetController(ctx.reg).run(ctx.stopping)


def component() -> Component:
    return Component(name=COMPONENT, start=_start)
