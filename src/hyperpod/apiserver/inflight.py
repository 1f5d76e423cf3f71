"""A max-in-flight limit in front of the API (kube-apiserver's ``--max-requests-inflight``).

Requests beyond the limit are answered at once with 429 ``TooManyRequests`` and a
``Retry-After`` header, which the official clients and kubectl honour by retrying, instead of
queueing without bound while the single event loop is busy. Read-only and mutating requests
have separate budgets (400 and 200 by default, like kube-apiserver), and one client (one
credential) may take at most three quarters of a budget, so others still get through.
Long-running requests (watches, followed logs, exec) and health checks are not counted.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

import orjson

from hyperpod.apiserver.errors import TooManyRequests

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
App = Callable[[Scope, Receive, Send], Awaitable[None]]

_READ_ONLY = {"GET", "HEAD", "OPTIONS"}
_UNCOUNTED_PATHS = {"/healthz", "/livez", "/readyz", "/version"}
_STREAMS = ("/exec", "/attach", "/portforward")


def long_running(scope: Scope) -> bool:
    path: str = scope.get("path", "")
    if path in _UNCOUNTED_PATHS or path.endswith(_STREAMS):
        return True
    qs: bytes = scope.get("query_string", b"")
    return b"watch=true" in qs or b"watch=1" in qs or (path.endswith("/log") and b"follow=" in qs)


def _client(scope: Scope) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == b"authorization":
            return hashlib.blake2b(value, digest_size=8).hexdigest()
    client = scope.get("client")
    return str(client[0]) if client else ""


class InFlightLimit:
    """ASGI middleware: at most ``read_only`` + ``mutating`` requests in flight."""

    def __init__(self, app: App, *, read_only: int = 400, mutating: int = 200) -> None:
        self.app = app
        self.limits = {True: read_only, False: mutating}
        self.in_flight: Counter[tuple[bool, str]] = Counter()
        self.totals: Counter[bool] = Counter()
        self.rejected = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or long_running(scope):
            await self.app(scope, receive, send)
            return
        kind = scope.get("method", "GET") in _READ_ONLY
        who = (kind, _client(scope))
        limit = self.limits[kind]
        if self.totals[kind] >= limit or self.in_flight[who] >= max(1, limit * 3 // 4):
            self.rejected += 1
            await _too_many(send)
            return
        self.totals[kind] += 1
        self.in_flight[who] += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.totals[kind] -= 1
            self.in_flight[who] -= 1
            if not self.in_flight[who]:
                del self.in_flight[who]


async def _too_many(send: Send) -> None:
    err = TooManyRequests("Too many requests, please try again later.", retry_after=1)
    body = orjson.dumps(err.status())
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"retry-after", b"1"),
    ]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
