"""Components that every control plane runs: garbage collection and namespace lifecycle."""

from __future__ import annotations

from hyperpod.controllers.garbage_collector import GarbageCollector
from hyperpod.controllers.namespaces import NamespaceController
from hyperpod.controlplane.context import Component, ControlPlaneContext


async def _run_gc(ctx: ControlPlaneContext) -> None:
    await GarbageCollector(ctx.reg).run(ctx.stopping)


async def _run_namespaces(ctx: ControlPlaneContext) -> None:
    await NamespaceController(ctx.reg).run(ctx.stopping)


def garbage_collector() -> Component:
    return Component(name="garbage-collector", start=_run_gc)


def namespace_lifecycle() -> Component:
    return Component(name="namespace-lifecycle", start=_run_namespaces)
