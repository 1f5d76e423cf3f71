"""The dashboard component: mounts :class:`Dashboard` on the API server and runs its watches."""

from __future__ import annotations

from hyperpod.dashboard.authz import RbacCanList, admin_only
from hyperpod.dashboard.server import Dashboard
from hyperpod.runtime.context import Component, ControlPlaneContext


async def start(ctx: ControlPlaneContext) -> None:
    app = ctx.services.get("api")
    if app is None:
        return
    gate = ctx.services.get("gate")
    can_list = RbacCanList(gate.authorizer) if gate is not None else admin_only
    dash = Dashboard(ctx.reg, app._authenticate, ctx.services, can_list=can_list)
    app.dashboard = dash
    try:
        await dash.feed.run(ctx.stopping)
    finally:
        app.dashboard = None


def component() -> Component:
    return Component(name="dashboard", start=start, addon="dashboard")
