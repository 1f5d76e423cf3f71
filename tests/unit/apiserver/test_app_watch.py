"""The ASGI app's watch handler ends as soon as its client goes away."""

from __future__ import annotations

import asyncio
from typing import Any

from hyperpod.apiserver.app import ApiServer
from hyperpod.apiserver.registry import Registry


def test_a_watch_ends_when_the_client_disconnects_not_at_the_next_event(
    registry: Registry,
) -> None:
    app = ApiServer(registry, token=None)
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/namespaces/default/configmaps",
        "query_string": b"watch=true",
        "headers": [],
    }
    sent: list[dict[str, Any]] = []

    async def go() -> None:
        disconnect = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if not sent:
                return {"type": "http.request", "body": b"", "more_body": False}
            await disconnect.wait()
            return {"type": "http.disconnect"}

        async def send(msg: dict[str, Any]) -> None:
            sent.append(msg)

        task = asyncio.create_task(app(scope, receive, send))
        while not sent:
            await asyncio.sleep(0.01)
        assert sum(len(s) for s in registry.hub._subs.values()) == 1
        disconnect.set()
        await asyncio.wait_for(task, timeout=10)  # a quiet watch would otherwise wait 30 s

    asyncio.run(go())
    assert sent[0]["status"] == 200
    assert sum(len(s) for s in registry.hub._subs.values()) == 0
