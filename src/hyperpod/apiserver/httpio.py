"""HTTP plumbing of the API server: the request view, bounded body reading, responses.

Bodies are JSON, YAML (where the verb allows it) or kubectl's protobuf, 3 MiB at most, and
bounded in depth and size (``decoding.check_bounds``); responses are JSON, or chunked streams.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, unquote

import orjson

from hyperpod.apiserver import decoding, protobuf
from hyperpod.apiserver.errors import BadRequest, RequestEntityTooLarge

MAX_BODY = 3 * 1024 * 1024

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Request:
    __slots__ = ("headers", "method", "path", "query", "scope")

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self.method: str = scope.get("method", "GET")
        self.path: str = unquote(scope["path"])
        raw_qs = scope.get("query_string", b"").decode("latin-1")
        self.query = {k: v[-1] for k, v in parse_qs(raw_qs, keep_blank_values=True).items()}
        self.headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }

    def q(self, name: str) -> str | None:
        return self.query.get(name)

    def flag(self, name: str) -> bool:
        return (self.query.get(name) or "").lower() in ("true", "1")

    def int_q(self, name: str) -> int | None:
        v = self.query.get(name)
        if v in (None, ""):
            return None
        try:
            return int(v)
        except ValueError as exc:
            raise BadRequest(f"{name} must be an integer, got {v!r}") from exc


def wants_table(req: Request) -> bool:
    accept = req.headers.get("accept", "")
    return "as=Table" in accept


def obj(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


async def read_body(
    req: Request, receive: Receive, *, yaml_ok: bool = True, allow_empty: bool = False
) -> Any:
    declared = req.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > MAX_BODY:
        raise RequestEntityTooLarge("the request body is larger than 3 MiB")
    chunks = []
    size = 0
    while True:
        msg = await receive()
        if msg["type"] == "http.disconnect":
            raise BadRequest("the client went away")
        data = msg.get("body", b"")
        size += len(data)
        if size > MAX_BODY:
            raise RequestEntityTooLarge("the request body is larger than 3 MiB")
        chunks.append(data)
        if not msg.get("more_body"):
            break
    raw = b"".join(chunks)
    if not raw.strip():
        if allow_empty:
            return None
        raise BadRequest("the request body is empty")
    ctype = req.headers.get("content-type", "")
    return decoding.check_bounds(await decode_body(raw, ctype, yaml_ok))


async def decode_body(raw: bytes, ctype: str, yaml_ok: bool) -> Any:
    if "yaml" in ctype and yaml_ok:
        return await load_yaml(raw)
    if "protobuf" in ctype:
        return protobuf.decode(raw)
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        if yaml_ok and "json" not in ctype:
            try:
                return await load_yaml(raw)
            except BadRequest:
                pass
        raise BadRequest(f"the request body is not valid JSON: {exc}") from exc


async def load_yaml(raw: bytes) -> Any:
    """Bounded YAML; large documents are parsed off the event loop."""
    if len(raw) < 16 * 1024:
        return decoding.load_yaml(raw)
    return await asyncio.to_thread(decoding.load_yaml, raw)


async def until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def respond(
    send: Send,
    code: int,
    body: bytes,
    *,
    content_type: bytes = b"application/json",
    warnings: list[str] | None = None,
) -> None:
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    for w in warnings or []:
        headers.append((b"warning", f'299 - "{w}"'.encode()))
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def start_stream(send: Send, content_type: str) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [
                (b"content-type", content_type.encode()),
                (b"cache-control", b"no-cache, private"),
            ],
        }
    )


async def chunk(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})
