"""What every controller is built from: informers (list + watch + cache), work queues, events.

Controllers read through an :class:`Informer` and write through the registry, so their writes
take the same validated path as kubectl's. A :class:`Controller` runs ``reconcile(key)`` for
queued keys, one at a time, de-duplicated, with retries and requeue-after.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import logging
import time
import weakref
from collections.abc import Awaitable, Callable
from typing import Any

from hyperpod.api.meta import set_condition as set_condition
from hyperpod.apiserver.errors import AlreadyExists, ApiError, Conflict, Expired, NotFound
from hyperpod.apiserver.metadata import micro_now, new_uid, now_rfc3339
from hyperpod.apiserver.registry import Registry
from hyperpod.storage.watchcache import ADDED, DELETED, MODIFIED

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Handler = Callable[[str, Obj, Obj | None], None]


def object_key(obj: Obj) -> str:
    """``namespace/name`` for namespaced objects, ``name`` otherwise."""
    md = obj.get("metadata") or {}
    ns = md.get("namespace")
    return f"{ns}/{md.get('name')}" if ns else str(md.get("name"))


def split_key(key: str) -> tuple[str | None, str]:
    ns, _, name = key.rpartition("/")
    return (ns or None), name


# Kueue Workloads: Kueue, its metrics and the dashboard each kept a decoded copy of every one,
# and decoded every change three times (15,000 of them in Kueue's baseline scenario).
SHARED_RESOURCES = frozenset({"pods", "nodes", "workloads.kueue.x-k8s.io"})


class Informer:
    """A cache of one resource kept current by a watch; handlers run on every change.

    Informers of a resource in :data:`SHARED_RESOURCES` (pods: a dozen components watch them;
    nodes: five, ~9 KB decoded per node; Kueue Workloads: three)
    with the same registry, namespace and selectors share one watch and one cache, like
    client-go's shared informers: each object is decoded once, not once per component. Objects
    in the cache and those handed to handlers are therefore shared: read them, never change
    them in place (copy first, as the controllers already do before writing).
    """

    def __init__(
        self,
        reg: Registry,
        resource: str,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> None:
        self.reg = reg
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self._handlers: list[Handler] = []
        self.synced = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._shared: _SharedWatch | None = None
        if resource in SHARED_RESOURCES:
            self._shared = _SharedWatch.of(self)
            self.cache: dict[str, Obj] = self._shared.cache
        else:
            self.cache = {}

    def add_handler(self, fn: Handler) -> None:
        self._handlers.append(fn)

    def get(self, key: str) -> Obj | None:
        return self.cache.get(key)

    def list(self) -> list[Obj]:
        return list(self.cache.values())

    def start(self) -> asyncio.Task[None]:
        if self._shared is not None:
            self._task = self._shared.join(self)
            return self._task
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"informer:{self.resource}"
            )
        return self._task

    async def stop(self) -> None:
        if self._shared is not None:
            self._task = None
            await self._shared.leave(self)
            return
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def _emit(self, typ: str, obj: Obj, old: Obj | None) -> None:
        for fn in self._handlers:
            try:
                fn(typ, obj, old)
            except Exception:  # a handler bug must not stop the informer
                log.exception("informer handler for %s failed", self.resource)

    async def _run(self) -> None:
        await _watch_loop(self.reg, self, self.cache, [self])

    def _resync(self, seen: set[str]) -> None:
        """After the initial listing: forget objects that vanished while we were away."""
        _resync(self.cache, seen, [self])


def _resync(cache: dict[str, Obj], seen: set[str], members: list[Informer]) -> None:
    for key in [k for k in cache if k not in seen]:
        old = cache.pop(key)
        for m in members:
            m._emit(DELETED, old, old)
    for m in members:
        m.synced.set()


async def _watch_loop(
    reg: Registry, spec: Informer, cache: dict[str, Obj], members: list[Informer]
) -> None:
    """List + watch ``spec``'s resource into ``cache``, emitting every change to ``members``."""
    while True:
        try:
            # Start from current state: the watch sends ADDED for everything first.
            seen: set[str] = set()
            watch = reg.watch(
                spec.resource,
                spec.namespace,
                label_selector=spec.label_selector,
                field_selector=spec.field_selector,
            )
            backlog = len(watch._backlog)
            count = 0
            if backlog == 0:
                _resync(cache, seen, members)
            async for ev in watch:
                key = object_key(ev.object)
                old = cache.get(key)
                if ev.type == DELETED:
                    cache.pop(key, None)
                    for m in members:
                        m._emit(DELETED, ev.object, old)
                else:
                    cache[key] = ev.object
                    typ = MODIFIED if old is not None else ADDED
                    for m in members:
                        m._emit(typ, ev.object, old)
                if count < backlog:
                    seen.add(key)
                    count += 1
                    if count == backlog:
                        _resync(cache, seen, members)
            return
        except Expired:
            continue
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("informer for %s failed; restarting", spec.resource)
            await asyncio.sleep(0.5)


_SHARED: weakref.WeakKeyDictionary[
    Registry, dict[tuple[str, str | None, str | None, str | None], _SharedWatch]
] = weakref.WeakKeyDictionary()


class _SharedWatch:
    """One watch and cache for every started informer with the same registry and selectors."""

    def __init__(self, reg: Registry, key: tuple[str, str | None, str | None, str | None]) -> None:
        self.reg = reg
        self.key = key
        self.cache: dict[str, Obj] = {}
        self.members: list[Informer] = []
        self.task: asyncio.Task[None] | None = None

    @classmethod
    def of(cls, inf: Informer) -> _SharedWatch:
        key = (inf.resource, inf.namespace, inf.label_selector, inf.field_selector)
        by_key = _SHARED.setdefault(inf.reg, {})
        shared = by_key.get(key)
        if shared is None:
            shared = by_key[key] = cls(inf.reg, key)
        return shared

    def join(self, inf: Informer) -> asyncio.Task[None]:
        if self.task is not None and self.task.done():
            self.task = None  # its loop ended: start over
            self.members.clear()
            self.cache.clear()
        if inf not in self.members:
            # What the others have seen so far arrives first, as a fresh watch would send it.
            for obj in list(self.cache.values()):
                inf._emit(ADDED, obj, None)
            self.members.append(inf)
            if self.task is not None and self.members[0].synced.is_set():
                inf.synced.set()
        if self.task is None:
            self.task = asyncio.get_running_loop().create_task(
                _watch_loop(self.reg, inf, self.cache, self.members),
                name=f"informer:{inf.resource}",
            )
        return self.task

    async def leave(self, inf: Informer) -> None:
        if inf in self.members:
            self.members.remove(inf)
        if self.members or self.task is None:
            return
        task, self.task = self.task, None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        self.cache.clear()


Reconcile = Callable[[str], Awaitable[float | None]]


# Every live work queue of this process, for /metrics.
QUEUES: weakref.WeakSet[Controller] = weakref.WeakSet()


class Controller:
    """A de-duplicating work queue of keys, processed one at a time by ``reconcile``."""

    def __init__(
        self,
        name: str,
        reconcile: Reconcile,
        *,
        max_backoff: float = 30.0,
        on_error: Callable[[str, Exception], None] | None = None,
    ) -> None:
        self.name = name
        self.reconcile = reconcile
        # Called on the first failure of a key (e.g. to put a Warning Event on the object).
        self.on_error = on_error
        self.max_backoff = max_backoff
        self._queue: list[str] = []
        self._queued: set[str] = set()
        self._delayed: list[tuple[float, int, str]] = []
        self._seq = 0
        self._failures: dict[str, int] = {}
        self._wake = asyncio.Event()
        self.adds = 0  # workqueue_adds_total
        QUEUES.add(self)  # workqueue_depth on /metrics (controlplane/state_metrics.py)

    def enqueue(self, key: str) -> None:
        self.adds += 1
        if key not in self._queued:
            self._queued.add(key)
            self._queue.append(key)
            self._wake.set()

    def enqueue_after(self, key: str, seconds: float) -> None:
        self._seq += 1
        heapq.heappush(self._delayed, (time.monotonic() + max(0.0, seconds), self._seq, key))
        self._wake.set()

    def __len__(self) -> int:
        return len(self._queue)

    async def run(self, stopping: asyncio.Event | None = None) -> None:
        while stopping is None or not stopping.is_set():
            now = time.monotonic()
            while self._delayed and self._delayed[0][0] <= now:
                _, _, key = heapq.heappop(self._delayed)
                self.enqueue(key)
            if not self._queue:
                timeout = (self._delayed[0][0] - now) if self._delayed else 1.0
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.001, min(timeout, 1.0)))
                continue
            key = self._queue.pop(0)
            self._queued.discard(key)
            try:
                after = await self.reconcile(key)
                self._failures.pop(key, None)
                if after is not None:
                    self.enqueue_after(key, after)
            except Conflict:
                self.enqueue_after(key, 0.01)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                n = self._failures.get(key, 0) + 1
                self._failures[key] = n
                if n == 1 and self.on_error is not None:
                    try:
                        self.on_error(key, exc)
                    except Exception:  # reporting must never stop the queue
                        log.exception("%s: reporting the failure of %s failed", self.name, key)
                delay = min(self.max_backoff, 0.05 * (2 ** min(n, 12)))
                log.exception(
                    "%s: reconcile of %s failed (attempt %d); retry in %.2fs",
                    self.name,
                    key,
                    n,
                    delay,
                )
                self.enqueue_after(key, delay)
            # Let HTTP requests and other controllers run between items.
            await asyncio.sleep(0)


_EVENT_NAMES: dict[str, str] = {}


def event_on_error(
    reg: Registry, resource: str, component: str
) -> Callable[[str, Exception], None]:
    """An ``on_error`` for a Controller of ``resource``: a Warning Event ``ReconcileError``."""

    def report(key: str, exc: Exception) -> None:
        ns, _, name = key.rpartition("/")
        obj = reg.try_get(resource, name, ns or None)
        if obj is not None:
            message = f"{component} could not reconcile this object: {type(exc).__name__}: {exc}"
            record_event(reg, obj, "Warning", "ReconcileError", message[:1024], component)

    return report


def record_event(
    reg: Registry,
    obj: Obj,
    type_: str,
    reason: str,
    message: str,
    component: str,
    *,
    host: str | None = None,
) -> None:
    """Write a core/v1 Event about ``obj``; a repeat of the same event bumps its count."""
    md = obj.get("metadata") or {}
    ns = md.get("namespace") or "default"
    involved = {
        "apiVersion": obj.get("apiVersion", "v1"),
        "kind": obj.get("kind", ""),
        "name": md.get("name", ""),
        "namespace": md.get("namespace", ""),
        "uid": md.get("uid", ""),
        "resourceVersion": md.get("resourceVersion", ""),
    }
    if not involved["namespace"]:
        involved.pop("namespace")
    # Aggregate identical events on the same object, as the kubelet's recorder does.
    # Kubernetes names events <object>.<creation time in hex nanoseconds>, so a listing is in
    # time order; repeats of one event (same object, type, reason, message) bump its count.
    digest = hashlib.blake2b(
        "\x00".join([str(involved["uid"]), type_, reason, message, component]).encode(),
        digest_size=8,
    ).hexdigest()
    agg_name = _EVENT_NAMES.get(digest)
    if agg_name is None:
        agg_name = f"{md.get('name', 'unknown')}.{time.time_ns():x}"[:253]
        if len(_EVENT_NAMES) > 20_000:
            _EVENT_NAMES.clear()
        _EVENT_NAMES[digest] = agg_name
    now = now_rfc3339()
    existing = reg.try_get("events", agg_name, ns)
    try:
        if existing is not None:
            existing["count"] = int(existing.get("count") or 1) + 1
            existing["lastTimestamp"] = now
            reg.update("events", existing, ns)
            return
        source: dict[str, str] = {"component": component}
        if host:
            source["host"] = host
        reg.create(
            "events",
            {
                "apiVersion": "v1",
                "kind": "Event",
                "metadata": {"name": agg_name, "namespace": ns},
                "involvedObject": involved,
                "reason": reason,
                "message": message,
                "type": type_,
                "source": source,
                "count": 1,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "eventTime": None,
                "reportingComponent": component,
                "reportingInstance": host or "",
            },
            ns,
            typed=True,
        )
    except (AlreadyExists, Conflict, NotFound):
        pass  # events are best effort, like in Kubernetes
    except ApiError:
        log.exception("could not record event %s on %s", reason, involved["name"])


__all__ = [
    "Controller",
    "Informer",
    "micro_now",
    "new_uid",
    "object_key",
    "record_event",
    "set_condition",
    "split_key",
]


async def run_controller(
    controller: Controller, informers: list[Informer], stopping: asyncio.Event
) -> None:
    """Start ``informers``, run ``controller`` until ``stopping``, then stop both in order."""
    for informer in informers:
        informer.start()
    worker = asyncio.get_running_loop().create_task(controller.run(stopping))
    try:
        await stopping.wait()
    finally:
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await worker
        for informer in informers:
            await informer.stop()
