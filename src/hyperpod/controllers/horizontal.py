"""The horizontal pod autoscaler status writer (it does not scale yet).

Scaling needs pod metrics, and this cluster serves no ``metrics.k8s.io`` API yet, so for each
HorizontalPodAutoscaler this controller only reports what upstream's controller reports when
metrics are missing: ``currentReplicas``/``desiredReplicas`` from the target's scale,
AbleToScale (whether the target exists) and ScalingActive=False with reason
FailedGetResourceMetric. The target's replicas are never changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from typing import Any

from hyperpod.apiserver.errors import ApiError
from hyperpod.apiserver.registry import Registry
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import Controller, Informer, set_condition, split_key

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "horizontal-pod-autoscaler"
RESOURCE = "horizontalpodautoscalers.autoscaling"
RESYNC = 15.0
SCALABLE = {
    "Deployment": "deployments.apps",
    "StatefulSet": "statefulsets.apps",
    "ReplicaSet": "replicasets.apps",
    "ReplicationController": "replicationcontrollers",
}
NO_METRICS = (
    "the HPA was unable to compute the replica count: failed to get {name} utilization: unable "
    "to get metrics for resource {name}: no metrics returned from resource metrics API"
)


class HorizontalController:
    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.controller = Controller(COMPONENT, self.reconcile)
        self.hpas = Informer(reg, RESOURCE)
        self.hpas.add_handler(self._on_hpa)

    def _on_hpa(self, typ: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        self.controller.enqueue(f"{md.get('namespace')}/{md.get('name')}")

    async def run(self, stopping: asyncio.Event) -> None:
        self.hpas.start()
        worker = asyncio.get_running_loop().create_task(self.controller.run(stopping))
        try:
            while not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), RESYNC)
                for h in self.hpas.list():
                    self._on_hpa("RESYNC", h, None)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            await self.hpas.stop()

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        hpa = self.reg.try_get(RESOURCE, name, ns)
        if hpa is None or hpa["metadata"].get("deletionTimestamp"):
            return None
        spec = hpa.get("spec") or {}
        ref = spec.get("scaleTargetRef") or {}
        status: Obj = copy.deepcopy(hpa.get("status") or {})
        conds = status.setdefault("conditions", [])
        resource = SCALABLE.get(str(ref.get("kind")))
        target = self.reg.try_get(resource, str(ref.get("name")), ns) if resource else None
        if target is None:
            plural = (resource or str(ref.get("kind", "")).lower() + "s").split(".")[0]
            set_condition(
                conds,
                "AbleToScale",
                "False",
                "FailedGetScale",
                f'the HPA controller was unable to get the target\'s current scale: {plural} "{ref.get("name")}" not found',
            )
        else:
            replicas = int((target.get("spec") or {}).get("replicas") or 0)
            status["currentReplicas"] = int((target.get("status") or {}).get("replicas") or 0)
            status["desiredReplicas"] = replicas
            set_condition(
                conds,
                "AbleToScale",
                "True",
                "SucceededGetScale",
                "the HPA controller was able to get the target's current scale",
            )
        metric = ((spec.get("metrics") or [{}])[0].get("resource") or {}).get("name", "cpu")
        set_condition(
            conds,
            "ScalingActive",
            "False",
            "FailedGetResourceMetric",
            NO_METRICS.format(name=metric),
        )
        if status != hpa.get("status"):
            hpa["status"] = status
            with contextlib.suppress(ApiError):
                self.reg.update(f"{RESOURCE}/status", hpa, ns)
        return None


async def _start(ctx: ControlPlaneContext) -> None:
    await HorizontalController(ctx.reg).run(ctx.stopping)


def component() -> Component:
    return Component(name=COMPONENT, start=_start)
