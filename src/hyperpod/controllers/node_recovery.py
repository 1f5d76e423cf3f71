"""Node recovery: reboot or replace faulty nodes, and the health-agent component that runs it all.

With ``nodeRecovery: Automatic`` (the default) a node labelled ``UnschedulablePendingReboot`` is
rebooted and one labelled ``UnschedulablePendingReplacement`` replaced; with ``None`` they are
only labelled. ``hyp reboot node`` / ``hyp replace node`` (the annotation
``hyperpod.local/recovery: reboot|replace``) ask for it by hand in either mode, and
``hyperpod.local/deep-health-check: requested`` runs deep health checks on a node.

- Reboot: the node's pods are evicted first (they are already, by the agent), the heartbeat stops
  (``NotReady``) for ``health.rebootSeconds``, the device state and recorded faults are reset,
  then the node is ``Ready`` and ``Schedulable`` again. On the local node this resets the agent's
  view of the devices (a fake NVML is power-cycled, a real one re-read); it does not reboot the
  machine.
- Replace (simulated nodes): the node and its Lease are deleted, and after
  ``health.replaceSeconds`` a new node ``<group>-<random>`` of the same instance group joins,
  runs deep health checks and becomes ``Schedulable``. The annotation
  ``hyperpod.local/replaced-nodes`` on it lists the names it replaced, so a control-plane restart
  does not bring the old node back. The local machine cannot be replaced: it is cordoned and a
  Warning event says so.

Pods of the node that are still there ``health.evictionTimeoutSeconds`` after their grace period
(or at once when the node's kubelet is down) are force-deleted before the node goes.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import secrets
import time
from typing import Any, Protocol

from hyperpod.api import health as h
from hyperpod.api import wellknown as wk
from hyperpod.api.health import HealthConfig, with_health_taints
from hyperpod.api.instance_types import GPU
from hyperpod.api.tolerations import UNREACHABLE
from hyperpod.apiserver.errors import Conflict, NotFound
from hyperpod.apiserver.patching import PatchType
from hyperpod.controllers import deep_health
from hyperpod.runtime import health_eviction
from hyperpod.runtime.context import ControlPlaneContext
from hyperpod.runtime.machinery import Informer, record_event
from hyperpod.runtime.nodes import (
    GROUP_LABEL,
    LEASE_NS,
    SIMULATED_LABEL,
    ready_conditions,
)

log = logging.getLogger(__name__)
Obj = dict[str, Any]
COMPONENT = "node-recovery"


def _ref(node: Obj) -> Obj:
    return {**node, "kind": "Node", "apiVersion": "v1"}


def replacement_for(old: Obj, name: str) -> Obj:
    """A new simulated Node like ``old``: same group, instance type and capacity; new name."""
    md = old["metadata"]
    labels = dict(md.get("labels") or {})
    labels[wk.HOSTNAME_LABEL] = name
    labels[h.HEALTH_LABEL] = h.UNSCHEDULABLE
    labels[h.DEEP_HEALTH_LABEL] = h.DEEP_IN_PROGRESS
    old_ann = md.get("annotations") or {}
    lineage = [n for n in (old_ann.get(h.REPLACED_ANNOTATION) or "").split(",") if n]
    ann = {k: v for k, v in old_ann.items() if not k.startswith("hyperpod.local/")}
    ann[h.REPLACED_ANNOTATION] = ",".join([*lineage, md["name"]])
    for key in (wk.KWOK_NODE_ANNOTATION,):
        if key in old_ann:
            ann[key] = old_ann[key]
    taints = [
        t
        for t in (old.get("spec") or {}).get("taints") or []
        if t.get("key") not in (h.HEALTH_LABEL, UNREACHABLE, wk.TAINT_NOT_READY)
    ]
    taints += with_health_taints({"spec": {"taints": []}}, h.UNSCHEDULABLE)
    status = copy.deepcopy(old.get("status") or {})
    status["allocatable"] = dict(status.get("capacity") or {})
    status["conditions"] = ready_conditions()
    status["addresses"] = [
        {"type": "InternalIP", "address": "127.0.0.1"},
        {"type": "Hostname", "address": name},
    ]
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": labels, "annotations": ann},
        "spec": {"taints": taints},
        "status": {
            k: status[k]
            for k in (
                "capacity",
                "allocatable",
                "conditions",
                "addresses",
                "nodeInfo",
                "daemonEndpoints",
            )
            if k in status
        },
    }


class HealthAgentView(Protocol):
    """What recovery needs of the health agent: its config, caches, and the nodes it must skip."""

    config: HealthConfig
    nodes: Informer
    pods: Informer
    busy: set[str]

    def reset(self, name: str) -> None: ...


class NodeRecovery:
    def __init__(self, ctx: ControlPlaneContext, agent: HealthAgentView) -> None:
        self.ctx = ctx
        self.reg = ctx.reg
        self.agent = agent
        self.config = agent.config
        self.automatic = ctx.config.node_recovery == "Automatic"
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.refused: set[str] = set()  # local node: replacement refused once already
        self.checking: set[str] = set()  # nodes whose deep health checks run now

    # ------------------------------------------------------------------ decisions
    def scan(self) -> None:
        for node in list(self.agent.nodes.cache.values()):
            name = node["metadata"]["name"]
            if name in self.tasks or node["metadata"].get("deletionTimestamp"):
                continue
            labels = node["metadata"].get("labels") or {}
            ann = node["metadata"].get("annotations") or {}
            asked = ann.get(h.RECOVERY_ANNOTATION)
            status = labels.get(h.HEALTH_LABEL)
            action = None
            if asked in ("reboot", "replace"):
                action = asked
            elif self.automatic and status == h.PENDING_REBOOT:
                action = "reboot"
            elif self.automatic and status == h.PENDING_REPLACEMENT:
                action = "replace"
            if ann.get(h.DEEP_HEALTH_REQUEST_ANNOTATION) and action is None:
                action = "deep-health-check"
            if (
                action is None
                and labels.get(h.DEEP_HEALTH_LABEL) == h.DEEP_IN_PROGRESS
                and name not in self.checking
            ):
                action = "deep-health-check"  # interrupted (control-plane restart): run again
            if action is None:
                continue
            if action == "replace" and labels.get(SIMULATED_LABEL) != "true":
                self._refuse_replace(node, manual=asked == "replace")
                continue
            self._start(name, action)

    def _start(self, name: str, action: str) -> None:
        coro = {
            "reboot": self.reboot,
            "replace": self.replace,
            "deep-health-check": self.deep_check,
        }[action](name)
        task = asyncio.get_running_loop().create_task(coro, name=f"{action}:{name}")
        self.tasks[name] = task
        self.agent.busy.add(name)

        def done(t: asyncio.Task[None]) -> None:
            self.tasks.pop(name, None)
            self.agent.busy.discard(name)
            if not t.cancelled() and t.exception() is not None:
                log.error("node recovery %s of %s failed: %s", action, name, t.exception())

        task.add_done_callback(done)

    def _refuse_replace(self, node: Obj, manual: bool) -> None:
        name = node["metadata"]["name"]
        patch: Obj = {"spec": {"unschedulable": True}}
        if manual:
            patch["metadata"] = {"annotations": {h.RECOVERY_ANNOTATION: None}}
        if name in self.refused and not manual:
            return
        self.refused.add(name)
        with contextlib.suppress(NotFound, Conflict):
            self.reg.patch("nodes", name, patch, PatchType.MERGE)
        record_event(
            self.reg,
            _ref(node),
            "Warning",
            "NodeReplacementImpossible",
            f"Node {name} is this machine and cannot be replaced: it is cordoned. Fix the "
            f"machine, then `hyp reboot node --node {name}` clears the fault (uncordon alone "
            "does not)",
            COMPONENT,
        )

    # ------------------------------------------------------------------ steps
    def _patch(self, name: str, patch: Obj) -> Obj:
        return self.reg.patch("nodes", name, patch, PatchType.MERGE)

    async def _drain(self, name: str) -> None:
        """Wait until the node's pods are gone; force-delete the ones its kubelet cannot stop."""
        deadline = time.monotonic() + self.config.eviction_timeout_seconds
        while True:
            pods = list(self.agent.pods.cache.values())
            left = health_eviction.remaining(pods, name)
            if not left:
                return
            node = self.reg.try_get("nodes", name)
            ann = ((node or {}).get("metadata") or {}).get("annotations") or {}
            dead = ann.get(h.HEARTBEAT_ANNOTATION) == "false"
            timeout = 0.0 if dead else self.config.eviction_timeout_seconds
            if time.monotonic() > deadline:
                timeout = -1e9  # past the eviction timeout: clear whatever is left
            for pod in left:
                if not pod["metadata"].get("deletionTimestamp"):
                    with contextlib.suppress(NotFound, Conflict):
                        self.reg.delete(
                            "pods", pod["metadata"]["name"], pod["metadata"]["namespace"]
                        )
            health_eviction.force_clear(self.reg, left, name, timeout)
            await asyncio.sleep(0.2)

    async def reboot(self, name: str) -> None:
        node = self.reg.get("nodes", name)
        cause = (node["metadata"].get("labels") or {}).get(h.HEALTH_LABEL, "")
        record_event(
            self.reg,
            _ref(node),
            "Normal",
            "RebootingNode",
            f"Rebooting node {name} ({cause})",
            COMPONENT,
        )
        await self._drain(name)
        self._patch(
            name,
            {
                "metadata": {
                    "annotations": {h.HEARTBEAT_ANNOTATION: "false", h.RECOVERY_ANNOTATION: None}
                }
            },
        )
        fresh = self.reg.get("nodes", name)
        conds = [
            {**c, "status": "False", "reason": "NodeRebooting", "message": "node is rebooting"}
            if c.get("type") == "Ready"
            else c
            for c in (fresh.get("status") or {}).get("conditions") or []
        ]
        self.reg.patch("nodes/status", name, {"status": {"conditions": conds}}, PatchType.MERGE)
        await asyncio.sleep(self.config.reboot_seconds)
        self.agent.reset(name)
        fresh = self.reg.get("nodes", name)
        self._patch(
            name,
            {
                "metadata": {
                    "labels": {h.HEALTH_LABEL: h.SCHEDULABLE},
                    "annotations": {
                        h.HEARTBEAT_ANNOTATION: None,
                        h.UNHEALTHY_DEVICES_ANNOTATION: None,
                        h.INJECT_ANNOTATION: None,
                    },
                },
                "spec": {"taints": with_health_taints(fresh, h.SCHEDULABLE)},
            },
        )
        cap = (fresh.get("status") or {}).get("capacity") or {}
        status: Obj = {"conditions": ready_conditions()}
        if GPU in cap:
            status["allocatable"] = {GPU: cap[GPU]}
        self.reg.patch("nodes/status", name, {"status": status}, PatchType.MERGE)
        record_event(
            self.reg,
            _ref(fresh),
            "Normal",
            "NodeRebooted",
            f"Node {name} rebooted: faults cleared, node is Ready and Schedulable",
            COMPONENT,
        )

    async def replace(self, name: str) -> None:
        node = self.reg.get("nodes", name)
        group = (node["metadata"].get("labels") or {}).get(GROUP_LABEL, "node")
        new_name = f"{group}-{secrets.token_hex(3)}"
        record_event(
            self.reg,
            _ref(node),
            "Normal",
            "ReplacingNode",
            f"Replacing node {name} of instance group {group} with {new_name}",
            COMPONENT,
        )
        await self._drain(name)
        node = self.reg.get("nodes", name)
        with contextlib.suppress(NotFound):
            self.reg.delete("leases.coordination.k8s.io", name, LEASE_NS)
        with contextlib.suppress(NotFound):
            self.reg.delete("nodes", name)
        record_event(
            self.reg,
            _ref(node),
            "Normal",
            "RemovingNode",
            f"Node {name} removed from the cluster",
            COMPONENT,
        )
        self.agent.reset(name)
        await asyncio.sleep(self.config.replace_seconds)
        self.checking.add(new_name)
        self.agent.busy.add(new_name)
        try:
            await self._join(node, name, new_name, group)
        finally:
            self.checking.discard(new_name)
            self.agent.busy.discard(new_name)

    async def _join(self, node: Obj, name: str, new_name: str, group: str) -> None:
        created = self.reg.create("nodes", replacement_for(node, new_name))
        record_event(
            self.reg,
            _ref(created),
            "Normal",
            "RegisteredNode",
            f"Node {new_name} joined instance group {group}, replacing {name}",
            COMPONENT,
        )
        await deep_health.run(
            self.reg, new_name, simulated=True, seconds=self.config.deep_health_check_seconds
        )

    async def deep_check(self, name: str) -> None:
        self.checking.add(name)
        try:
            await self._deep_check(name)
        finally:
            self.checking.discard(name)

    async def _deep_check(self, name: str) -> None:
        node = self.reg.get("nodes", name)
        self._patch(name, {"metadata": {"annotations": {h.DEEP_HEALTH_REQUEST_ANNOTATION: None}}})
        simulated = (node["metadata"].get("labels") or {}).get(SIMULATED_LABEL) == "true"
        await deep_health.run(
            self.reg, name, simulated=simulated, seconds=self.config.deep_health_check_seconds
        )

    async def stop(self) -> None:
        for t in list(self.tasks.values()):
            t.cancel()
        for t in list(self.tasks.values()):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
