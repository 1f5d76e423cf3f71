"""The health-agent component: the node health agent and node recovery, started together.

The agent (kubelet side: it reads the node's devices) polls and labels nodes; recovery (a
controller) reboots or replaces the nodes the agent marked. This module wires the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from hyperpod.apiserver.errors import ApiError
from hyperpod.controllers.node_recovery import NodeRecovery
from hyperpod.kubelet.health_agent import HealthAgent
from hyperpod.runtime.context import Component, ControlPlaneContext

log = logging.getLogger(__name__)


async def _run(ctx: ControlPlaneContext) -> None:
    try:
        agent = HealthAgent(ctx)
    except ValueError as exc:  # pydantic ValidationError is a ValueError
        log.error("health agent not started: bad health config: %s", exc)
        return
    recovery = NodeRecovery(ctx, agent)
    await agent.start()
    last = 0.0
    try:
        while not ctx.stopping.is_set():
            try:
                if time.monotonic() - last >= agent.config.poll_seconds:
                    last = time.monotonic()
                    agent.poll()
                recovery.scan()
            except ApiError:
                log.exception("health agent poll failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(ctx.stopping.wait(), min(1.0, agent.config.poll_seconds))
    finally:
        await recovery.stop()
        await agent.stop()


def component() -> Component:
    return Component(name="health-agent", start=_run, addon="healthAgent")
