"""Garbage collection through ownerReferences: background, foreground and orphan deletion.

Dependents of a deleted owner are deleted (background). An owner deleted with
``propagationPolicy=Foreground`` carries the ``foregroundDeletion`` finalizer until its
dependents are gone; with ``Orphan`` it carries ``orphan`` until its dependents no longer
point at it. The registry's owner index makes each check a dictionary lookup.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import orjson

from hyperpod.apiserver.errors import ApiError, NotFound
from hyperpod.apiserver.registry import Registry
from hyperpod.runtime.machinery import Controller
from hyperpod.storage.watchcache import DELETED, Event

log = logging.getLogger(__name__)


class GarbageCollector:
    def __init__(self, reg: Registry) -> None:
        self.reg = reg
        self.controller = Controller("garbage-collector", self._reconcile)
        reg.add_listener(self._on_event)

    def _on_event(self, ev: Event) -> None:
        if ev.type == DELETED:
            uid = _uid_of(ev.value)
            if uid:
                self.controller.enqueue(f"owner-gone:{uid}")
            return
        if b'"deletionTimestamp"' in ev.value and (
            b'"foregroundDeletion"' in ev.value or b'"orphan"' in ev.value
        ):
            uid = _uid_of(ev.value)
            if uid:
                self.controller.enqueue(f"finalize:{uid}")
        # A dependent created (or changed) whose owners are already gone is collected too.
        if b'"ownerReferences"' in ev.value:
            key = (
                f"/{ev.resource}/{ev.namespace}/{ev.name}"
                if ev.namespace
                else f"/{ev.resource}/{ev.name}"
            )
            self.controller.enqueue(f"dependent:{ev.resource}:{key}")

    async def _reconcile(self, item: str) -> float | None:
        kind, _, rest = item.partition(":")
        if kind == "owner-gone":
            self._collect_dependents(rest)
        elif kind == "finalize":
            self._finalize(rest)
        elif kind == "dependent":
            resource, _, key = rest.partition(":")
            self._check_dependent(resource, key)
        return None

    def _delete_key(self, resource: str, key: str, policy: str | None = None) -> None:
        parts = key.strip("/").split("/")
        rt, _ = self.reg.resolve(resource)
        try:
            if rt.namespaced:
                self.reg.delete(resource, parts[-1], parts[-2], propagation_policy=policy)
            else:
                self.reg.delete(resource, parts[-1], propagation_policy=policy)
        except NotFound:
            pass

    def _check_dependent(self, resource: str, key: str) -> None:
        obj = self.reg.object_by_key(resource, key)
        if obj is None or obj["metadata"].get("deletionTimestamp"):
            return
        refs = obj["metadata"].get("ownerReferences") or []
        if refs and all(not self.reg.exists_uid(r.get("uid", "")) for r in refs):
            self._delete_key(resource, key)

    def _collect_dependents(self, uid: str) -> None:
        for resource, key in self.reg.dependents(uid):
            obj = self.reg.object_by_key(resource, key)
            if obj is None:
                continue
            refs = obj["metadata"].get("ownerReferences") or []
            alive = [
                r for r in refs if r.get("uid") != uid and self.reg.exists_uid(r.get("uid", ""))
            ]
            if alive:
                # Other owners remain: drop only the reference to the deleted owner.
                obj["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
                try:
                    self.reg.update(resource, obj, _skip_rv_check=True)
                except ApiError:
                    log.exception("could not drop owner %s from %s", uid, key)
                continue
            if not obj["metadata"].get("deletionTimestamp"):
                self._delete_key(resource, key)

    def _finalize(self, uid: str) -> None:
        owner = self.reg.lookup_uid(uid)
        if owner is None:
            return
        md = owner["metadata"]
        finalizers = list(md.get("finalizers") or [])
        rt = self.reg.catalog.by_kind(owner["apiVersion"], owner["kind"])
        if rt is None:
            return
        deps = self.reg.dependents(uid)
        if "orphan" in finalizers:
            for resource, key in deps:
                obj = self.reg.object_by_key(resource, key)
                if obj is None:
                    continue
                obj["metadata"]["ownerReferences"] = [
                    r for r in obj["metadata"].get("ownerReferences") or [] if r.get("uid") != uid
                ]
                if not obj["metadata"]["ownerReferences"]:
                    obj["metadata"].pop("ownerReferences")
                self.reg.update(resource, obj, _skip_rv_check=True)
            finalizers.remove("orphan")
        elif "foregroundDeletion" in finalizers:
            if deps:
                for resource, key in deps:
                    obj = self.reg.object_by_key(resource, key)
                    if obj is not None and not obj["metadata"].get("deletionTimestamp"):
                        self._delete_key(resource, key, "Foreground")
                # Re-checked when each dependent goes (owner-gone events re-enqueue us).
                self.controller.enqueue_after(f"finalize:{uid}", 0.5)
                return
            finalizers.remove("foregroundDeletion")
        else:
            return
        md["finalizers"] = finalizers
        self.reg.update(rt.name, owner, _skip_rv_check=True)

    async def run(self, stopping: asyncio.Event) -> None:
        await self.controller.run(stopping)


def _uid_of(value: bytes) -> str:
    obj: dict[str, Any] = orjson.loads(value)
    return str((obj.get("metadata") or {}).get("uid") or "")
