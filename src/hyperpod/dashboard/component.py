"""The dashboard component: mounts :class:`Dashboard` on the API server and runs its watches."""

from __future__ import annotations

from hyperpod.dashboard.server import Dashboard
from hyperpod.runtime.context import Component, ControlPlaneContext


async def start(ctx: ControlPlaneContext) -> None:
    app = ctx.services.get("api")
    if app is None:
        return
    dash = Dashboard(ctx.reg, app._authenticate, ctx.services)
    app.dashboard = dash
    try:
        await dash.feed.run(ctx.stopping)
    finally:
        app.dashboard = None


def component() -> Component:
    return Component(name="dashboard", start=start, addon="dashboard")
