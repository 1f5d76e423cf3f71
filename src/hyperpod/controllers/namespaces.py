"""Namespace lifecycle: a namespace being deleted empties itself, then goes.

Deleting a namespace marks it Terminating (the registry refuses new content from then on);
this controller deletes every namespaced object in it, and once nothing is left clears the
``kubernetes`` finalizer so the namespace is removed.
"""

from __future__ import annotations

import asyncio
import logging

from hyperpod.apiserver.errors import ApiError, NotFound
from hyperpod.apiserver.registry import Registry
from hyperpod.runtime.machinery import Controller, set_condition
from hyperpod.storage.watchcache import Event

log = logging.getLogger(__name__)


class NamespaceController:
    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.controller = Controller("namespace", self._reconcile)
        reg.add_listener(self._on_event)

    def _on_event(self, ev: Event) -> None:
        if ev.resource == "namespaces" and b'"deletionTimestamp"' in ev.value:
            self.controller.enqueue(ev.name)

    def start_existing(self) -> None:
        for ns in self.reg.list("namespaces"):
            if ns["metadata"].get("deletionTimestamp"):
                self.controller.enqueue(ns["metadata"]["name"])

    async def _reconcile(self, name: str) -> float | None:
        ns = self.reg.try_get("namespaces", name)
        if ns is None or not ns["metadata"].get("deletionTimestamp"):
            return None
        remaining = 0
        for rt in self.reg.catalog.all():
            if not rt.namespaced or "delete" not in rt.verbs:
                continue
            for obj in self.reg.list(rt.name, name):
                remaining += 1
                if obj["metadata"].get("deletionTimestamp"):
                    continue
                try:
                    self.reg.delete(
                        rt.name, obj["metadata"]["name"], name, propagation_policy="Background"
                    )
                except NotFound:
                    remaining -= 1
                except ApiError:
                    log.exception("namespace %s: could not delete %s", name, obj["metadata"])
        if remaining:
            status = ns.setdefault("status", {})
            conds = status.setdefault("conditions", [])
            if set_condition(
                conds,
                "NamespaceContentRemaining",
                "True",
                "SomeResourcesRemain",
                f"{remaining} objects remain",
            ):
                try:
                    self.reg.update("namespaces/status", ns)
                except ApiError:
                    pass
            return 0.2
        ns["spec"] = {**(ns.get("spec") or {}), "finalizers": []}
        try:
            self.reg.update("namespaces/finalize", ns)
        except NotFound:
            pass
        return None

    async def run(self, stopping: asyncio.Event) -> None:
        self.start_existing()
        await self.controller.run(stopping)
