"""The max-in-flight limit answers 429 with Retry-After instead of queueing without bound."""

import asyncio
import json
from typing import Any

from hyperpod.apiserver.inflight import InFlightLimit, long_running


def scope(method: str = "GET", path: str = "/api/v1/pods", token: bytes = b"Bearer a") -> dict:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "query_string": b"",
        "headers": [(b"authorization", token)],
    }


def test_requests_past_the_limit_get_429_with_retry_after_and_others_still_pass() -> None:
    release = asyncio.Event()
    answered: list[tuple[int, dict[str, str], Any]] = []

    async def slow_app(scope: dict, receive: Any, send: Any) -> None:
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    async def call(limit: InFlightLimit, sc: dict) -> None:
        start: dict[str, Any] = {}

        async def send(msg: dict) -> None:
            if msg["type"] == "http.response.start":
                start.update(msg)
            else:
                answered.append(
                    (
                        start["status"],
                        {k.decode(): v.decode() for k, v in start["headers"]},
                        msg["body"],
                    )
                )

        async def receive() -> dict:
            return {"type": "http.request", "body": b""}

        await limit(sc, receive, send)

    async def main() -> None:
        limit = InFlightLimit(slow_app, read_only=4, mutating=2)
        # One client may hold 3 of the 4 read-only slots: the 4th of its requests is refused.
        held = [asyncio.create_task(call(limit, scope())) for _ in range(3)]
        await asyncio.sleep(0)
        await call(limit, scope())
        assert answered[-1][0] == 429
        # Another client still gets the last slot; past it everyone is refused.
        other = asyncio.create_task(call(limit, scope(token=b"Bearer b")))
        await asyncio.sleep(0)
        await call(limit, scope(token=b"Bearer c"))
        assert answered[-1][0] == 429
        # Mutating requests have their own budget, and watches are not counted at all.
        writes = [asyncio.create_task(call(limit, scope("POST"))) for _ in range(1)]
        watch = asyncio.create_task(call(limit, {**scope(), "query_string": b"watch=true"}))
        await asyncio.sleep(0)
        assert limit.rejected == 2
        release.set()
        await asyncio.gather(*held, other, *writes, watch)
        assert limit.totals[True] == 0 and not limit.in_flight

    asyncio.run(main())
    refused = [a for a in answered if a[0] == 429]
    assert len(refused) == 2
    _, headers, body = refused[0]
    assert headers["retry-after"] == "1"
    assert json.loads(body)["reason"] == "TooManyRequests"
    assert sum(1 for a in answered if a[0] == 200) == 6


def test_watches_logs_and_health_checks_are_long_running() -> None:
    assert long_running({"path": "/readyz"})
    assert long_running({"path": "/api/v1/pods", "query_string": b"watch=true"})
    assert long_running({"path": "/api/v1/namespaces/d/pods/p/log", "query_string": b"follow=true"})
    assert long_running({"path": "/api/v1/namespaces/d/pods/p/exec", "query_string": b""})
    assert not long_running({"path": "/api/v1/pods", "query_string": b"limit=5"})
