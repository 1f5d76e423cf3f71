"""Change notifications for the live pages, fed by the registry's watch.

One in-process watch per resource the pages show (started with the control plane, not per
browser): each event updates that resource's cache (an informer's: listed once, then kept by
the watch, so a render decodes nothing), bumps its counter and wakes every open page stream,
which re-renders if a resource it depends on moved. Nothing is polled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Iterable
from typing import Any

from hyperpod.apiserver.errors import ApiError
from hyperpod.apiserver.registry import Registry
from hyperpod.runtime.machinery import SHARED_RESOURCES, Informer

log = logging.getLogger(__name__)
Obj = dict[str, Any]


class ChangeFeed:
    def __init__(self, reg: Registry, resources: Iterable[str], cached: Iterable[str] = ()) -> None:
        self.reg = reg
        self.resources = list(resources)
        self.cached = set(cached)
        # resource -> key -> object, for the cached resources whose watch is running
        self._cache: dict[str, dict[str, Obj]] = {}
        self.versions: Counter[str] = Counter()
        self.epoch = secrets.token_hex(4)  # tells this process's counts from a previous one's
        self.last_change = 0.0
        self._event = asyncio.Event()

    def objects(self, resource: str, namespace: str | None = None) -> list[Obj] | None:
        """The cached objects of ``resource`` (in ``namespace``), or None when not cached."""
        cache = self._cache.get(resource)
        if cache is None:
            return None
        if namespace is None:
            return list(cache.values())
        return [o for o in cache.values() if o["metadata"].get("namespace") == namespace]

    def snapshot(self, deps: Iterable[str]) -> dict[str, int]:
        return {d: self.versions[d] for d in deps}

    def bump(self, resource: str) -> None:
        self.versions[resource] += 1
        self.last_change = time.monotonic()
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def changed(self, seen: dict[str, int], timeout: float) -> bool:
        """Wait until a resource in ``seen`` moved past its count (True) or ``timeout`` (False)."""
        deadline = time.monotonic() + timeout
        while not any(self.versions[d] != n for d, n in seen.items()):
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self._event.wait(), left)
            except TimeoutError:
                return False
        return True

    async def run(self, stopping: asyncio.Event) -> None:
        tasks = [asyncio.ensure_future(self._watch(r, stopping)) for r in self.resources]
        try:
            await stopping.wait()
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await t

    async def _watch(self, resource: str, stopping: asyncio.Event) -> None:
        """Follow one resource; a resource not served yet (a CRD) is looked for again later."""
        shared = resource in SHARED_RESOURCES and resource in self.cached
        if shared and self.reg.catalog.get(resource) is not None:
            await self._follow_shared(resource, stopping)
            return
        while not stopping.is_set():
            if self.reg.catalog.get(resource) is None:
                await asyncio.sleep(2.0)
                continue
            try:
                # List and subscribe in one synchronous step: no change falls in between.
                revision = str(self.reg.revision)
                if resource in self.cached:
                    self._cache[resource] = {_key(o): o for o in self.reg.list(resource)}
                watch = self.reg.watch(resource, resource_version=revision)
                self.bump(resource)
                async for ev in watch:
                    cache = self._cache.get(resource)
                    if cache is not None:
                        if ev.type == "DELETED":
                            cache.pop(_key(ev.object), None)
                        else:
                            cache[_key(ev.object)] = ev.object
                    self.bump(resource)
            except ApiError as err:  # fell behind (410) or the CRD went away: start over
                log.debug("dashboard watch of %s restarts: %s", resource, err)
                await asyncio.sleep(0.5)
            finally:
                self._cache.pop(resource, None)

    async def _follow_shared(self, resource: str, stopping: asyncio.Event) -> None:
        """Pods, nodes, Workloads: the controllers' shared informer, not a watch and a cache of our
        own, so the control plane decodes and holds each object once (at 50,000 pods a second
        copy was hundreds of MB and a decode per pod event)."""
        inf = Informer(self.reg, resource)
        inf.add_handler(lambda _typ, _obj, _old: self.bump(resource))
        self._cache[resource] = inf.cache
        inf.start()
        self.bump(resource)
        try:
            await stopping.wait()
        finally:
            self._cache.pop(resource, None)
            await inf.stop()


def _key(obj: Obj) -> str:
    md = obj.get("metadata") or {}
    return f"{md.get('namespace') or ''}/{md.get('name')}"
