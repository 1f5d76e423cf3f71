"""HTTP side of the dashboard: login links, cookie sessions, pages, static files, live streams.

Mounted by the API server on ``/dashboard/`` (same HTTPS port, no bearer token: a session
cookie instead). Routes:

``POST /dashboard/login-links``   bearer token -> a one-time login path (``hyp get-monitoring``)
``GET  /dashboard/login?token=``  redeem it: session cookie, then on to the overview
``GET  /dashboard/[nodes|queues|jobs|jobs/<kind>/<ns>/<name>]``   server-rendered pages
``GET  /dashboard/stream?page=``  Server-Sent Events: the page's ``<main>`` re-rendered on change
``GET  /dashboard/logs?namespace=&pod=&container=``  Server-Sent Events: a container's log, followed
``GET  /dashboard/static/<file>``  the stylesheet and the script shipped in the package
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any
from urllib.parse import quote, unquote

import orjson

from hyperpod.apiserver.errors import ApiError, BadRequest, MethodNotAllowed, NotFound
from hyperpod.apiserver.gate import ADMIN as GATE_ADMIN
from hyperpod.apiserver.gate import CLIENT_CERT
from hyperpod.apiserver.registry import Registry
from hyperpod.dashboard import pages, views
from hyperpod.dashboard.authz import ADMIN, CanList, RbacCanList, admin_only
from hyperpod.dashboard.feed import ChangeFeed
from hyperpod.dashboard.reader import Reader
from hyperpod.dashboard.sessions import COOKIE, Sessions

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Obj = dict[str, Any]

PREFIX = "/dashboard"
JOB_RESOURCES = [k.resource for k in views.JOB_KINDS]
WATCHED = [
    "nodes",
    "pods",
    "events",
    views.WORKLOADS,
    views.CLUSTER_QUEUES,
    views.LOCAL_QUEUES,
    *JOB_RESOURCES,
]
# What each page depends on: a change of anything else does not re-render it.
DEPS = {
    "": ["nodes", "pods", views.WORKLOADS, views.CLUSTER_QUEUES, *JOB_RESOURCES],
    "nodes": ["nodes", "pods"],
    "queues": [views.WORKLOADS, views.CLUSTER_QUEUES, views.LOCAL_QUEUES],
    "jobs": ["pods", views.WORKLOADS, *JOB_RESOURCES],
    "job": ["pods", "events", views.WORKLOADS, *JOB_RESOURCES],
}
STATIC = {"dashboard.js": b"text/javascript", "dashboard.css": b"text/css"}
DEBOUNCE = 0.1  # seconds a stream waits after a change for the rest of a burst
GPU_REFRESH = 5.0  # GPU telemetry is not an object: the nodes page re-reads it this often
LOGIN_HINT = (
    "Run <code>hyp get-monitoring</code> and open the one-time login link it prints "
    "(each link works once, for a few minutes)."
)
_SECURITY = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"cache-control", b"no-store"),
]


class Dashboard:
    """The ASGI-side handler the API server calls for every path under ``/dashboard``."""

    def __init__(
        self,
        reg: Registry,
        authenticate: Callable[[Any], None],
        services: dict[str, Any] | None = None,
        *,
        can_list: CanList = admin_only,
        sessions: Sessions | None = None,
    ) -> None:
        self.reg = reg
        self.authenticate = authenticate  # raises Unauthorized unless the bearer token is good
        self.services = services if services is not None else {}
        self.can_list = can_list
        self.sessions = sessions or Sessions()
        self.feed = ChangeFeed(reg, WATCHED, cached=[r for r in WATCHED if r != "events"])
        self._gpu_cache: tuple[float, dict[str, list[Obj]]] = (0.0, {})
        self._rendered: dict[tuple[str, str], tuple[tuple[tuple[str, int], ...], str]] = {}

    # ------------------------------------------------------------------ entry
    async def __call__(self, req: Any, receive: Receive, send: Send) -> None:
        path: str = req.path
        rest = path[len(PREFIX) :].strip("/")
        if path == PREFIX:
            await _redirect(send, PREFIX + "/")
            return
        if rest == "login-links":
            await self._mint(req, send)
            return
        if req.method not in ("GET", "HEAD"):
            raise MethodNotAllowed(f"{req.method} is not allowed on {path}")
        if rest.startswith("static/"):
            await self._static(rest[len("static/") :], send)
            return
        if rest == "login":
            await self._login(req, send)
            return
        sid = _cookie(req.headers.get("cookie", ""), COOKIE)
        identity = self.sessions.identity(sid)
        if rest == "logout":
            if sid:
                self.sessions.end(sid)
            await _html(
                send,
                200,
                pages.message_page("Logged out", LOGIN_HINT),
                [(b"set-cookie", _set_cookie("", 0))],
            )
            return
        if identity is None:
            if rest in ("stream", "logs"):
                await _text(send, 401, b"no dashboard session: run hyp get-monitoring\n")
            else:
                await _html(send, 401, pages.message_page("Log in to the dashboard", LOGIN_HINT))
            return
        if rest == "stream":
            await self._stream(req, receive, send, identity)
            return
        if rest == "logs":
            await self._logs(req, receive, send, identity)
            return
        page = "/".join(unquote(p) for p in rest.split("/")) if rest else ""
        deps = DEPS.get("job" if page.startswith("jobs/") else page)
        stamp = self._stamp(deps) if deps else ""
        main, status = self.render(page, identity)
        await _html(send, status, pages.layout(_title(page), rest, main, identity, stamp))

    # ------------------------------------------------------------------ login
    async def _mint(self, req: Any, send: Send) -> None:
        if req.method != "POST":
            raise MethodNotAllowed("login links are created with POST")
        identity = self._identity(req)
        token, seconds = self.sessions.mint_link(identity)
        body = {"path": f"{PREFIX}/login?token={quote(token)}", "expiresInSeconds": int(seconds)}
        await _send(send, 201, orjson.dumps(body), [(b"content-type", b"application/json")])

    def _identity(self, req: Any) -> str:
        """Who asks for a login link: with the request gate and an RBAC ``can_list``, the
        authenticated user (admin token, team member's client certificate, service-account
        token); else the admin, once the bearer token is checked."""
        gate = self.services.get("gate")
        if gate is None or not isinstance(self.can_list, RbacCanList):
            self.authenticate(req)
            return ADMIN
        user = gate.authenticate(req.headers, req.scope.get(CLIENT_CERT))
        return self.can_list.identity_of(user, GATE_ADMIN)

    async def _login(self, req: Any, send: Send) -> None:
        sid = self.sessions.redeem(req.q("token") or "")
        if sid is None:
            await _html(
                send,
                401,
                pages.message_page(
                    "This login link is used up or expired",
                    "Login links work once and only for a few minutes. " + LOGIN_HINT,
                ),
            )
            return
        # A page (not a 302) that moves on: the SameSite=Strict cookie then travels with a
        # same-site navigation even when the link was opened from another site.
        body = (
            "<!doctype html><html><head><meta charset=utf-8>"
            f'<meta http-equiv=refresh content="0;url={PREFIX}/"><title>Logged in</title></head>'
            f'<body><p>Logged in. <a href="{PREFIX}/">Continue to the dashboard</a>.</p></body></html>'
        )
        await _html(
            send, 200, body, [(b"set-cookie", _set_cookie(sid, self.sessions.session_seconds))]
        )

    # ------------------------------------------------------------------ pages
    def render(self, page: str, identity: str) -> tuple[str, int]:
        """(the page's ``<main>`` markup, HTTP status) as ``identity`` may see it."""
        r = Reader(self.reg, identity, self.can_list, self.feed.objects)
        parts = page.split("/") if page else []
        if not parts:
            return pages.overview(views.overview(r), r.hidden), 200
        if parts == ["nodes"]:
            return pages.nodes(views.nodes(r, self._gpu_samples()), r.hidden), 200
        if parts == ["queues"]:
            return pages.queues(views.queues(r), r.hidden), 200
        if parts == ["jobs"]:
            return pages.jobs(views.jobs(r), r.hidden), 200
        if len(parts) == 4 and parts[0] == "jobs":
            kind = views.kind_by_slug(parts[1])
            if kind is not None:
                j = views.job(r, kind, parts[2], parts[3])
                return pages.job(j, r.hidden), 200 if j is not None else 404
        return "<h1>Not found</h1><p>No such dashboard page.</p>", 404

    def _stamp(self, deps: list[str]) -> str:
        """Where the objects a page shows stand: equal stamps, equal pages."""
        return self.feed.epoch + ":" + ".".join(str(self.feed.versions[d]) for d in deps)

    def _render_shared(self, page: str, key: str, identity: str, seen: dict[str, int]) -> str:
        """The page as of ``seen``, rendered once for every stream showing it to ``identity``."""
        if key == "nodes":  # GPU telemetry changes without an object changing
            return self.render(page, identity)[0]
        stamp = tuple(sorted(seen.items()))
        hit = self._rendered.get((page, identity))
        if hit is not None and hit[0] == stamp:
            return hit[1]
        main = self.render(page, identity)[0]
        if len(self._rendered) > 256:
            self._rendered.clear()
        self._rendered[(page, identity)] = (stamp, main)
        return main

    def _gpu_samples(self) -> dict[str, list[Obj]]:
        """Per node, the local GPUs' telemetry (utilisation, memory), re-read every few seconds."""
        usage = self.services.get("resource_metrics")
        if usage is None or not getattr(usage, "gpus", None):
            return {}
        at, cached = self._gpu_cache
        if time.monotonic() - at < GPU_REFRESH:
            return cached
        pods = [p for p in self.reg.list("pods") if (p.get("spec") or {}).get("nodeName")]
        local = [p for p in pods if p["spec"]["nodeName"] == usage.local_node]
        try:
            samples = usage.gpu_samples(usage.containers(local), local)
        except Exception:  # telemetry is best effort: the page still shows the objects
            samples = []
        out = [
            {
                "index": s.device.index,
                "util": round(s.util),
                "memUsedMiB": round(s.fb_used_mib),
                "memTotalMiB": round(s.fb_used_mib + s.fb_free_mib),
                "tempC": round(s.temp_c),
                "pod": f"{holder[0]}/{holder[1]}" if holder[1] else "",
            }
            for s, holder in samples
        ]
        cached = {usage.local_node: out} if usage.local_node else {}
        self._gpu_cache = (time.monotonic(), cached)
        return cached

    # ------------------------------------------------------------------ live streams
    async def _stream(self, req: Any, receive: Receive, send: Send, identity: str) -> None:
        page = (req.q("page") or "").strip("/")
        page = "/".join(unquote(p) for p in page.split("/")) if page else ""
        key = "job" if page.startswith("jobs/") else page
        deps = DEPS.get(key)
        if deps is None:
            raise NotFound(f"no live page {page!r}")
        periodic = GPU_REFRESH if key == "nodes" else 15.0
        await _start_events(send)
        gone = asyncio.ensure_future(_until_disconnect(receive))
        last = ""
        try:
            seen = self.feed.snapshot(deps)
            if key != "nodes" and req.q("stamp") == self._stamp(deps):
                # Nothing moved since the page was rendered: it is current as it is.
                await _event(send, "same", "")
                waiter = asyncio.ensure_future(self.feed.changed(seen, 1e9))
                await asyncio.wait([waiter, gone], return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                await asyncio.sleep(DEBOUNCE)
                seen = self.feed.snapshot(deps)
            while not gone.done():
                started = time.monotonic()
                main = self._render_shared(page, key, identity, seen)
                cost = time.monotonic() - started
                if main != last:
                    await _event(send, "main", main)
                    last = main
                waiter = asyncio.ensure_future(self.feed.changed(seen, periodic))
                await asyncio.wait([waiter, gone], return_when=asyncio.FIRST_COMPLETED)
                if gone.done():
                    waiter.cancel()
                    break
                if not waiter.result() and key != "nodes":
                    await _chunk(send, b": keep-alive\n\n")
                    continue
                # One render for a burst of changes; a page that is costly to render (thousands
                # of rows) waits 2x its cost after the previous render, so rendering keeps
                # under a third of the process's time however fast objects change.
                wait = max(DEBOUNCE, started + 3 * cost - time.monotonic())
                await asyncio.sleep(wait)
                seen = self.feed.snapshot(deps)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            gone.cancel()
        await _end(send)

    async def _logs(self, req: Any, receive: Receive, send: Send, identity: str) -> None:
        ns, name, container = req.q("namespace") or "", req.q("pod") or "", req.q("container")
        r = Reader(self.reg, identity, self.can_list, self.feed.objects)
        pod = r.get("pods", name, ns) if r.allowed("pods/log", ns) else None
        if pod is None:
            raise NotFound(f'pod "{name}" not found in namespace "{ns}" (or not yours to read)')
        names = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        container = container or (names[0] if len(names) == 1 else None)
        if container not in names:
            raise BadRequest(f"choose a container of pod {name}: {', '.join(names)}")
        reader = self.services.get("pod_logs")
        if reader is None:
            raise BadRequest(
                f'pod "{name}" has no logs here: no kubelet runs in this control plane'
            )
        # The same reader the API's pods/log handler streams from (kubectl logs -f --tail=500).
        stream = reader(
            pod,
            container,
            follow=True,
            previous=False,
            tail_lines=500,
            since_seconds=None,
            timestamps=False,
            limit_bytes=None,
        )
        await _start_events(send)
        gone = asyncio.ensure_future(_until_disconnect(receive))
        pending = b""

        async def pump() -> None:
            nonlocal pending
            try:
                async for data in stream:
                    pending += data
                    if b"\n" in pending:
                        done, _, pending = pending.rpartition(b"\n")
                        await _event(send, "log", done.decode("utf-8", "replace"))
            except ApiError as err:  # e.g. the container has not started: say so, then end
                pending += f"\n[{err}]".encode()
            if pending:
                await _event(send, "log", pending.decode("utf-8", "replace"))
            await _event(send, "end", "log ended")

        task = asyncio.ensure_future(pump())
        try:
            await asyncio.wait([task, gone], return_when=asyncio.FIRST_COMPLETED)
        finally:
            for t in (task, gone):
                t.cancel()
            with contextlib.suppress(asyncio.CancelledError, ApiError, OSError, Exception):
                await task
        await _end(send)

    # ------------------------------------------------------------------ static
    async def _static(self, name: str, send: Send) -> None:
        ctype = STATIC.get(name)
        if ctype is None:
            raise NotFound(f"no static file {name!r}")
        body = resources.files("hyperpod.dashboard").joinpath("static", name).read_bytes()
        await _send(
            send,
            200,
            body,
            [(b"content-type", ctype + b"; charset=utf-8"), (b"cache-control", b"no-cache")],
        )


def _title(page: str) -> str:
    if not page:
        return "Overview"
    if page.startswith("jobs/"):
        return page.rsplit("/", 1)[-1]
    return page.capitalize()


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        k, _, v = part.strip().partition("=")
        if k == name:
            return v
    return None


def _set_cookie(value: str, max_age: float) -> bytes:
    return (
        f"{COOKIE}={value}; Path={PREFIX}; Max-Age={int(max_age)}; HttpOnly; Secure; SameSite=Strict"
    ).encode()


async def _send(send: Send, code: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    headers = [*headers, (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _html(
    send: Send, code: int, html: str, extra: list[tuple[bytes, bytes]] | None = None
) -> None:
    headers = [(b"content-type", b"text/html; charset=utf-8"), *_SECURITY, *(extra or [])]
    await _send(send, code, html.encode(), headers)


async def _text(send: Send, code: int, body: bytes) -> None:
    await _send(send, code, body, [(b"content-type", b"text/plain; charset=utf-8")])


async def _redirect(send: Send, location: str) -> None:
    await _send(send, 308, b"", [(b"location", location.encode())])


async def _start_events(send: Send) -> None:
    headers = [
        (b"content-type", b"text/event-stream; charset=utf-8"),
        (b"cache-control", b"no-cache, no-store"),
        (b"x-accel-buffering", b"no"),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await _chunk(send, b"retry: 1000\n\n")


async def _event(send: Send, name: str, data: str) -> None:
    # A bare CR would end an SSE line too: drop it (log progress bars use it to redraw).
    lines = "".join(f"data: {line}\n" for line in data.replace("\r", "").split("\n"))
    await _chunk(send, f"event: {name}\n{lines}\n".encode())


async def _chunk(send: Send, data: bytes) -> None:
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def _end(send: Send) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        await send({"type": "http.response.body", "body": b"", "more_body": False})


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
