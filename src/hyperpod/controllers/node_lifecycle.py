"""Node lifecycle: nodes whose heartbeat stops become Unknown, get tainted, and lose their pods.

Every ``nodeLifecycle.monitorPeriodSeconds`` (5) the controller compares each node's Lease
``renewTime`` with ``nodeLifecycle.gracePeriodSeconds`` (40, kube-controller-manager's
node-monitor-grace-period). A node past it gets its conditions set to ``Unknown``
("Kubelet stopped posting node status.") and the taints ``node.kubernetes.io/unreachable``
NoSchedule and NoExecute; a node whose Lease is fresh again loses them. The taint manager part
evicts pods of a NoExecute-tainted node: at once when a pod does not tolerate the taint,
after ``tolerationSeconds`` when it does (pods without a toleration for unreachable/not-ready
get 300 s, as the DefaultTolerationSeconds admission plugin gives them). Since an unreachable
node's kubelet cannot confirm the deletion, the controller removes such pods itself once their
grace period has passed (locally there is no kubelet to come back and do it). Like PodGC,
pods bound to a node that no longer exists are deleted after the grace period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from hyperpod.api.meta import epoch_of as parse_time
from hyperpod.api.tolerations import UNREACHABLE, eviction_delay
from hyperpod.apiserver.errors import ApiError, Conflict, NotFound
from hyperpod.apiserver.metadata import now_rfc3339
from hyperpod.apiserver.patching import PatchType
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import Informer, record_event
from hyperpod.runtime.nodes import LEASE_NS

log = logging.getLogger(__name__)
Obj = dict[str, Any]
COMPONENT = "node-controller"


class NodeLifecycle:
    def __init__(self, ctx: ControlPlaneContext) -> None:
        self.ctx = ctx
        self.reg = ctx.reg
        self.grace = ctx.config.node_lifecycle.grace_period_seconds
        self.period = ctx.config.node_lifecycle.monitor_period_seconds
        self.nodes = Informer(self.reg, "nodes")
        self.leases = Informer(self.reg, "leases.coordination.k8s.io", LEASE_NS)
        self.pods = Informer(self.reg, "pods")
        self.started = time.time()
        self.orphans: dict[str, float] = {}  # pod key -> when its node was first missing

    def _unreachable(self, name: str, now: float) -> bool:
        lease = self.leases.cache.get(f"{LEASE_NS}/{name}")
        renew = parse_time(((lease or {}).get("spec") or {}).get("renewTime"))
        # Every node gets the grace period from our own start (after a control-plane restart).
        return now - max(renew or 0.0, self.started) > self.grace

    def _set_unknown(self, node: Obj) -> None:
        now = now_rfc3339()
        conds = []
        for c in (node.get("status") or {}).get("conditions") or []:
            c = dict(c)
            if c.get("status") != "Unknown":
                c["lastTransitionTime"] = now
            c.update(
                status="Unknown",
                reason="NodeStatusUnknown",
                message="Kubelet stopped posting node status.",
            )
            conds.append(c)
        self.reg.patch(
            "nodes/status",
            node["metadata"]["name"],
            {"status": {"conditions": conds}},
            PatchType.MERGE,
        )
        record_event(
            self.reg,
            {**node, "kind": "Node", "apiVersion": "v1"},
            "Normal",
            "NodeNotReady",
            f"Node {node['metadata']['name']} status is now: NodeNotReady",
            COMPONENT,
        )

    def _set_taints(self, node: Obj, unreachable: bool) -> None:
        taints = [
            t for t in (node.get("spec") or {}).get("taints") or [] if t.get("key") != UNREACHABLE
        ]
        if unreachable:
            now = now_rfc3339()
            taints += [
                {"key": UNREACHABLE, "effect": "NoSchedule", "timeAdded": now},
                {"key": UNREACHABLE, "effect": "NoExecute", "timeAdded": now},
            ]
        self.reg.patch(
            "nodes", node["metadata"]["name"], {"spec": {"taints": taints}}, PatchType.MERGE
        )

    def monitor(self) -> None:
        now = time.time()
        for node in list(self.nodes.cache.values()):
            name = node["metadata"]["name"]
            has_taint = any(
                t.get("key") == UNREACHABLE for t in (node.get("spec") or {}).get("taints") or []
            )
            ready: dict[str, Any] = next(
                (
                    c
                    for c in (node.get("status") or {}).get("conditions") or []
                    if c.get("type") == "Ready"
                ),
                {},
            )
            try:
                if self._unreachable(name, now):
                    if ready.get("status") != "Unknown":
                        self._set_unknown(node)
                    if not has_taint:
                        self._set_taints(node, True)
                elif has_taint and ready.get("status") == "True":
                    self._set_taints(node, False)
            except (Conflict, NotFound):
                continue
            except ApiError:
                log.exception("node lifecycle: updating %s failed", name)
        self.evict(now)
        self.collect_orphans(now)

    def collect_orphans(self, now: float) -> None:
        """PodGC: pods bound to a node that no longer exists go after the grace period."""
        if not self.nodes.synced.is_set():
            return
        seen: set[str] = set()
        for key, pod in list(self.pods.cache.items()):
            node = (pod.get("spec") or {}).get("nodeName")
            if not node or node in self.nodes.cache:
                continue
            seen.add(key)
            first = self.orphans.setdefault(key, now)
            if now - first < self.grace:
                continue
            md = pod["metadata"]
            record_event(
                self.reg,
                {**pod, "kind": "Pod", "apiVersion": "v1"},
                "Normal",
                "PodGC",
                f"Deleting pod {md['namespace']}/{md['name']}: its node {node} no longer exists",
                "pod-garbage-collector",
            )
            with contextlib.suppress(NotFound, Conflict):
                self.reg.delete("pods", md["name"], md["namespace"], grace_period_seconds=0)
        for key in [k for k in self.orphans if k not in seen]:
            del self.orphans[key]

    def evict(self, now: float) -> None:
        tainted: dict[str, list[Obj]] = {}
        for node in self.nodes.cache.values():
            ts = [
                t
                for t in (node.get("spec") or {}).get("taints") or []
                if t.get("effect") == "NoExecute"
            ]
            if ts:
                tainted[node["metadata"]["name"]] = ts
        if not tainted:
            return
        for pod in list(self.pods.cache.values()):
            node_name = str((pod.get("spec") or {}).get("nodeName") or "")
            if node_name not in tainted or (pod.get("status") or {}).get("phase") in (
                "Succeeded",
                "Failed",
            ):
                continue
            md = pod["metadata"]
            if md.get("deletionTimestamp"):
                due = parse_time(md["deletionTimestamp"])
                if (
                    any(t.get("key") == UNREACHABLE for t in tainted[node_name])
                    and due is not None
                    and now >= due
                ):
                    with contextlib.suppress(NotFound, Conflict):
                        self.reg.delete("pods", md["name"], md["namespace"], grace_period_seconds=0)
                continue
            delay = eviction_delay(pod, tainted[node_name])
            if delay is None:
                continue
            added = min((parse_time(t.get("timeAdded")) or now) for t in tainted[node_name])
            if now < added + delay:
                continue
            record_event(
                self.reg,
                {**pod, "kind": "Pod", "apiVersion": "v1"},
                "Normal",
                "TaintManagerEviction",
                f"Marking for deletion Pod {md['namespace']}/{md['name']}",
                "taint-eviction-controller",
            )
            with contextlib.suppress(NotFound, Conflict):
                self.reg.delete("pods", md["name"], md["namespace"])

    async def run(self) -> None:
        for inf in (self.nodes, self.leases, self.pods):
            inf.start()
        try:
            while not self.ctx.stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.ctx.stopping.wait(), self.period)
                if not self.ctx.stopping.is_set():
                    self.monitor()
        finally:
            for inf in (self.nodes, self.leases, self.pods):
                await inf.stop()


async def _run(ctx: ControlPlaneContext) -> None:
    await NodeLifecycle(ctx).run()


def component() -> Component:
    return Component(name="node-lifecycle", start=_run)
