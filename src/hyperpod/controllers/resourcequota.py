"""The resource quota controller: ``status.hard`` and ``status.used`` of every ResourceQuota.

It also installs the admission hooks at start: LimitRange defaults and bounds for pods and
claims, then the quota check for creates of every namespaced built-in resource (see
``apiserver/kinds/resourcequota.py`` and ``limitrange.py``). Usage is recounted when a
quota, pod or claim changes, and every ``RESYNC`` seconds for the other counted objects.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from typing import Any

from hyperpod.apiserver.errors import NotFound
from hyperpod.apiserver.kinds import limitrange, resourcequota
from hyperpod.apiserver.registry import Registry
from hyperpod.runtime.context import Component, ControlPlaneContext
from hyperpod.runtime.machinery import Controller, Informer, split_key

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "resourcequota-controller"
RESOURCE = resourcequota.RESOURCE
RESYNC = 10.0


_INSTALLED: weakref.WeakSet[Registry] = weakref.WeakSet()


def install_admission(reg: Registry) -> None:
    """LimitRange first (its defaults feed the quota), then quota for every namespaced kind.

    Once per registry: a restarted component must not add its hooks twice.
    """
    if reg in _INSTALLED:
        return
    _INSTALLED.add(reg)

    def limit_default(obj: Obj) -> None:
        limitrange.apply_defaults(reg, obj)

    def limit_pod(obj: Obj, old: Obj | None) -> list[dict[str, str]]:
        if old is None:
            limitrange.admit_pod(reg, obj)
        return []

    def limit_claim(obj: Obj, old: Obj | None) -> list[dict[str, str]]:
        if old is None:
            limitrange.admit_claim(reg, obj)
        return []

    reg.add_admission("pods", limit_default, limit_pod)
    reg.add_admission("persistentvolumeclaims", None, limit_claim)
    for rt in reg.catalog.all():
        if not rt.namespaced or rt.virtual:
            continue

        def quota(obj: Obj, old: Obj | None, resource: str = rt.name) -> list[dict[str, str]]:
            if old is None:
                resourcequota.admit(reg, resource, obj)
            return []

        reg.add_admission(rt.name, None, quota)


class ResourceQuotaController:
    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.controller = Controller(COMPONENT, self.reconcile)
        self.quotas = Informer(reg, RESOURCE)
        self.pods = Informer(reg, "pods")
        self.claims = Informer(reg, "persistentvolumeclaims")
        self.quotas.add_handler(self._on_quota)
        self.pods.add_handler(self._on_namespaced)
        self.claims.add_handler(self._on_namespaced)

    def _on_quota(self, typ: str, obj: Obj, old: Obj | None) -> None:
        md = obj.get("metadata") or {}
        self.controller.enqueue(f"{md.get('namespace')}/{md.get('name')}")

    def _on_namespaced(self, typ: str, obj: Obj, old: Obj | None) -> None:
        ns = (obj.get("metadata") or {}).get("namespace")
        for q in self.quotas.list():
            if q["metadata"].get("namespace") == ns:
                self._on_quota(typ, q, None)

    async def run(self, stopping: asyncio.Event) -> None:
        informers = (self.quotas, self.pods, self.claims)
        for informer in informers:
            informer.start()
        worker = asyncio.get_running_loop().create_task(self.controller.run(stopping))
        try:
            while not stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), RESYNC)
                for q in self.quotas.list():
                    self._on_quota("RESYNC", q, None)
        finally:
            worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await worker
            for informer in informers:
                await informer.stop()

    async def reconcile(self, key: str) -> float | None:
        ns, name = split_key(key)
        quota = self.reg.try_get(RESOURCE, name, ns)
        if quota is None or quota["metadata"].get("deletionTimestamp") or not ns:
            return None
        hard = dict((quota.get("spec") or {}).get("hard") or {})
        used = resourcequota.usage(self.reg, ns, hard, quota.get("spec") or {})
        status = {
            "hard": hard,
            "used": {k: resourcequota.show(k, v) for k, v in used.items()},
        }
        if status != quota.get("status"):
            quota["status"] = status
            with contextlib.suppress(NotFound):
                self.reg.update(f"{RESOURCE}/status", quota, ns)
        return None


async def _start(ctx: ControlPlaneContext) -> None:
    install_admission(ctx.reg)
    await ResourceQuotaController(ctx.reg).run(ctx.stopping)


def component() -> Component:
    return Component(name=COMPONENT, start=_start)
