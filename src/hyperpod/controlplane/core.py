"""Components every control plane runs: garbage collection, namespace lifecycle, event TTL."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta

from hyperpod.apiserver.errors import NotFound
from hyperpod.apiserver.metadata import parse_time
from hyperpod.controllers.garbage_collector import GarbageCollector
from hyperpod.controllers.namespaces import NamespaceController
from hyperpod.runtime.context import Component, ControlPlaneContext


async def _run_gc(ctx: ControlPlaneContext) -> None:
    await GarbageCollector(ctx.reg).run(ctx.stopping)


async def _run_namespaces(ctx: ControlPlaneContext) -> None:
    await NamespaceController(ctx.reg).run(ctx.stopping)


def garbage_collector() -> Component:
    return Component(name="garbage-collector", start=_run_gc)


def namespace_lifecycle() -> Component:
    return Component(name="namespace-lifecycle", start=_run_namespaces)


async def _expire_events(ctx: ControlPlaneContext) -> None:
    """Delete events whose last occurrence is older than the TTL (Kubernetes keeps 1 hour)."""
    ttl = ctx.config.event_ttl_seconds
    while not ctx.stopping.is_set():
        cutoff = datetime.now(UTC) - timedelta(seconds=ttl)
        for ev in ctx.reg.list("events"):
            md = ev["metadata"]
            last = parse_time(ev.get("lastTimestamp") or md.get("creationTimestamp"))
            if last is not None and last < cutoff:
                with contextlib.suppress(NotFound):
                    ctx.reg.delete("events", md["name"], md["namespace"])
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ctx.stopping.wait(), min(60.0, ttl))


def event_ttl() -> Component:
    return Component(name="event-ttl", start=_expire_events)
