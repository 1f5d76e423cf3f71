"""The disruption controller: PodDisruptionBudget status from the pods a budget selects.

``expectedPods`` is the replicas of the pods' controllers (ReplicaSet, StatefulSet,
ReplicationController) or, for bare pods, their number; ``currentHealthy`` counts Ready pods
that are not being deleted and not recently evicted (``disruptedPods``, kept 2 minutes at
most); ``desiredHealthy`` follows minAvailable or maxUnavailable (integers or percentages of
the expected pods, rounded up); ``disruptionsAllowed`` is the difference. Evictions spend it
(see ``apiserver/kinds/poddisruptionbudget.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import math
from datetime import UTC, datetime
from typing import Any

from hyperpod.apiserver.errors import NotFound
from hyperpod.apiserver.metadata import parse_time
from hyperpod.apiserver.registry import Registry
from hyperpod.apiserver.selectors import label_selector_from_dict
from hyperpod.controllers import workloads as wl
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import (
    Controller,
    Informer,
    run_controller,
    set_condition,
    split_key,
)

log = logging.getLogger(__name__)

Obj = dict[str, Any]
RESOURCE = "poddisruptionbudgets.policy"
COMPONENT = "disruption-controller"
DISRUPTED_TTL = 120.0
SCALED = {
    "ReplicaSet": "replicasets.apps",
    "StatefulSet": "statefulsets.apps",
    "ReplicationController": "replicationcontrollers",
}


def scaled(value: Any, total: int) -> int:
    if isinstance(value, str) and value.endswith("%"):
        return math.ceil(int(value[:-1]) * total / 100)
    return int(value)


class DisruptionController:
    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.controller = Controller(COMPONENT, self.reconcile)
        self.budgets = Informer(reg, RESOURCE)
        self.pods = Informer(reg, "pods")
        self.budgets.add_handler(self._on_budget)
        self.pods.add_handler(self._on_pod)

    def _on_budget(self, typ: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        self.controller.enqueue(f"{md.get('namespace')}/{md.get('name')}")

    def _on_pod(self, typ: str, obj: Obj, old: Obj | None) -> None:
        ns = (obj.get("metadata") or {}).get("namespace")
        for b in self.budgets.list():
            if b["metadata"].get("namespace") == ns:
                self._on_budget(typ, b, None)

    async def run(self, stopping: asyncio.Event) -> None:
        await run_controller(self.controller, [self.budgets, self.pods], stopping)

    def _expected(self, pods: list[Obj], ns: str | None) -> int:
        owners: dict[tuple[str, str], int] = {}
        bare = 0
        for p in pods:
            ref = wl.controller_ref(p)
            resource = SCALED.get(str((ref or {}).get("kind")))
            if ref is None or resource is None:
                bare += 1
                continue
            key = (resource, str(ref.get("name")))
            if key not in owners:
                owner = self.reg.try_get(resource, key[1], ns)
                owners[key] = int(((owner or {}).get("spec") or {}).get("replicas") or 0)
        return bare + sum(owners.values())

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        pdb = self.reg.try_get(RESOURCE, name, ns)
        if pdb is None or pdb["metadata"].get("deletionTimestamp"):
            return None
        spec = pdb.get("spec") or {}
        sel = label_selector_from_dict(spec.get("selector"))
        pods = [
            p
            for p in self.reg.list("pods", ns, label_selector=str(sel) or None)
            if sel.matches(p["metadata"].get("labels") or {})
            and (p.get("status") or {}).get("phase") not in wl.TERMINAL
        ]
        now = datetime.now(UTC)
        status: Obj = copy.deepcopy(pdb.get("status") or {})
        alive = {
            p["metadata"]["name"]: p for p in pods if not p["metadata"].get("deletionTimestamp")
        }
        disrupted = {
            pod: when
            for pod, when in (status.get("disruptedPods") or {}).items()
            if pod in alive
            and (t := parse_time(when)) is not None
            and (now - t).total_seconds() < DISRUPTED_TTL
        }
        expected = self._expected(pods, ns)
        healthy = sum(
            1 for n, p in alive.items() if n not in disrupted and wl.ready_since(p) is not None
        )
        if "minAvailable" in spec:
            desired = scaled(spec["minAvailable"], expected)
        elif "maxUnavailable" in spec:
            desired = max(0, expected - scaled(spec["maxUnavailable"], expected))
        else:
            desired = expected
        allowed = max(0, healthy - desired)
        status.update(
            observedGeneration=pdb["metadata"].get("generation", 1),
            expectedPods=expected,
            currentHealthy=healthy,
            desiredHealthy=desired,
            disruptionsAllowed=allowed,
        )
        if disrupted:
            status["disruptedPods"] = disrupted
        else:
            status.pop("disruptedPods", None)
        conds = status.setdefault("conditions", [])
        if allowed > 0:
            set_condition(conds, "DisruptionAllowed", "True", "SufficientPods", "")
        else:
            set_condition(conds, "DisruptionAllowed", "False", "InsufficientPods", "")
        if status != pdb.get("status"):
            pdb["status"] = status
            with contextlib.suppress(NotFound):
                self.reg.update(f"{RESOURCE}/status", pdb, ns)
        return DISRUPTED_TTL if disrupted else None


async def _start(ctx: ControlPlaneContext) -> None:
    await DisruptionController(ctx.reg).run(ctx.stopping)


def component() -> Component:
    return Component(name=COMPONENT, start=_start)
