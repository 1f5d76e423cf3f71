"""The HTTP layer: a plain ASGI application serving the Kubernetes API from the registry.

Request path: authentication (bearer token) -> routing -> body decoding (JSON or YAML, 3 MiB
at most) -> registry (admission + storage) -> encoding (JSON, or a meta.k8s.io Table when the
client asks for one). Watches and followed logs are streamed as chunked responses.
Every failure becomes a ``Status`` body; client input never yields a 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from hyperpod import __version__
from hyperpod.apiserver import (
    discovery,
    flowcontrol,
    kinds,
    openapi,
    portforward,
    requestinfo,
    reviews,
    streaming,
    swagger,
    tables,
    watchlist,
    webhooks,
)
from hyperpod.apiserver.errors import (
    ApiError,
    BadRequest,
    Expired,
    InternalError,
    MethodNotAllowed,
    NotFound,
    Unauthorized,
)
from hyperpod.apiserver.handlers import BY_METHOD
from hyperpod.apiserver.handlers.base import UNSTREAMED as _UNSTREAMED
from hyperpod.apiserver.httpio import MAX_BODY as MAX_BODY
from hyperpod.apiserver.httpio import Receive, Request, Scope, Send
from hyperpod.apiserver.httpio import chunk as _chunk
from hyperpod.apiserver.httpio import obj as _obj
from hyperpod.apiserver.httpio import read_body as _read_body
from hyperpod.apiserver.httpio import respond as _respond
from hyperpod.apiserver.httpio import start_stream as _start_stream
from hyperpod.apiserver.httpio import until_disconnect as _until_disconnect
from hyperpod.apiserver.httpio import wants_table as _wants_table
from hyperpod.apiserver.metrics import CONTENT_TYPE as METRICS_CONTENT_TYPE
from hyperpod.apiserver.metrics import ApiMetrics
from hyperpod.apiserver.metrics_api import GROUP as METRICS_GROUP
from hyperpod.apiserver.metrics_api import answer as metrics_answer
from hyperpod.apiserver.registry import Registry
from hyperpod.apiserver.resources import ResourceType
from hyperpod.storage.watchcache import BOOKMARK, ERROR, Subscriber

log = logging.getLogger(__name__)

LogReader = Callable[..., AsyncIterator[bytes]]

_JSON = [(b"content-type", b"application/json")]
_PUBLIC = {"/healthz", "/livez", "/readyz", "/version"}
ROOT_PATHS = (
    "/api",
    "/api/v1",
    "/apis",
    "/healthz",
    "/livez",
    "/metrics",
    "/readyz",
    "/version",
    "/openapi/v2",
    "/openapi/v3",
)


class ApiServer:
    """The ASGI app. ``ready`` turns /readyz green once the components are up."""

    def __init__(
        self,
        reg: Registry,
        token: str | None,
        *,
        log_reader: LogReader | None = None,
        services: dict[str, Any] | None = None,
        bookmark_interval: float = 5.0,
    ) -> None:
        self.reg = reg
        self.token = token
        self.ready = False
        self._log_reader = log_reader
        # Components register shared handles here (the kubelet's "pod_logs" reader).
        self.services = services if services is not None else {}
        self.bookmark_interval = bookmark_interval
        self.requests = 0
        # GET /metrics (Prometheus); components register their own collectors here.
        self.metrics = ApiMetrics(reg.object_counts)
        # The web dashboard (hyperpod.dashboard) mounts itself here; it serves /dashboard/
        # with its own cookie sessions instead of the bearer token.
        self.dashboard: Callable[[Request, Receive, Send], Awaitable[None]] | None = None

    # ------------------------------------------------------------------ ASGI entry
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                msg = await receive()
                if msg["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif msg["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] == "websocket":
            await self._websocket(scope, receive, send)
            return
        if scope["type"] != "http":
            return
        self.requests += 1
        req = Request(scope)
        tracked = self.metrics.begin(req, send)
        send = tracked.send
        warnings: list[str] = []
        gate = self.services.get("gate")  # authn -> authz -> audit (apiserver/gate.py)
        if gate is not None:
            send = gate.audited(scope, send)
        try:
            if self.dashboard is not None and (req.path + "/").startswith("/dashboard/"):
                await self.dashboard(req, receive, send)  # its own login and session cookie
                return
            flow = None
            if gate is not None:
                user = gate.admit(scope, req.method, req.path, req.query, req.headers)
                webhooks.REQUEST_USER.set((user.name, user.groups))  # for AdmissionReviews
                fc = self.services.get("flowcontrol")  # priority and fairness (flowcontrol.py)
                if fc is not None:
                    flow = fc.classify(user, scope["hyperpod.audit"]["attrs"])
                    send = flow.headers(send)
                    if not flowcontrol.long_running(scope):
                        await flow.acquire()
            elif req.path not in _PUBLIC:
                self._authenticate(req)
            try:
                await self._dispatch(req, receive, send, warnings)
            finally:
                if flow is not None:
                    flow.release()
        except ApiError as err:
            await _respond(send, err.code, orjson.dumps(err.status()), warnings=warnings)
        except Exception:  # a bug of ours: say so as a Status, never crash the server
            log.exception("internal error serving %s %s", req.method, req.path)
            internal = InternalError("an internal error occurred; see the control-plane log")
            await _respond(send, 500, orjson.dumps(internal.status()))
        finally:
            tracked.finish()

    async def _websocket(self, scope: Scope, receive: Receive, send: Send) -> None:
        """WebSocket upgrades: ``pods/exec`` only (see streaming.py)."""
        req = Request(scope)
        msg = await receive()
        if msg["type"] != "websocket.connect":
            return
        if req.path.rstrip("/").endswith("/portforward"):
            await self._port_forward(req, scope, receive, send)
            return
        try:
            gate = self.services.get("gate")
            if gate is not None:
                gate.admit(scope, "GET", req.path, req.query, req.headers)
            else:
                self._authenticate(req)
            pod, backend, container = await self._exec_target(req)
            opts = streaming.ExecOptions.from_query(scope.get("query_string", b"").decode())
            protocol = streaming.choose_protocol(list(scope.get("subprotocols") or []))
            if protocol is None:
                raise BadRequest(
                    "exec speaks the WebSocket subprotocols "
                    + ", ".join(streaming.PROTOCOLS)
                    + "; the client offered none of them"
                )
        except ApiError as err:
            await streaming.deny(scope, send, err)
            return
        except Exception:
            log.exception("internal error upgrading %s", req.path)
            await streaming.deny(
                scope, send, InternalError("an internal error occurred; see the control-plane log")
            )
            return
        await send({"type": "websocket.accept", "subprotocol": protocol})
        failure: ApiError
        try:
            session = await backend.open(
                pod, container, opts.command, tty=opts.tty, stdin=opts.stdin
            )
        except ApiError as err:  # e.g. the executable is not on the container's PATH
            failure = err
        except Exception:
            log.exception("internal error starting exec for %s", req.path)
            failure = InternalError("an internal error occurred; see the control-plane log")
        else:
            await streaming.relay(session, opts, receive, send)
            return
        body = bytes([streaming.ERROR]) + orjson.dumps(failure.status())
        await send({"type": "websocket.send", "bytes": body})
        await send({"type": "websocket.close", "code": 1000})

    async def _port_forward(self, req: Request, scope: Scope, receive: Receive, send: Send) -> None:
        """``pods/portforward`` over WebSocket (see portforward.py)."""
        query = scope.get("query_string", b"").decode()
        try:
            self._authenticate(req)
            parts = [p for p in req.path.split("/") if p]
            if len(parts) != 7 or parts[:3] != ["api", "v1", "namespaces"] or parts[4] != "pods":
                raise NotFound("the server could not find the requested resource")
            pod = self.reg.get("pods", parts[5], parts[3])
            offered = list(scope.get("subprotocols") or [])
            protocol = portforward.check(pod, portforward.choose(offered), query)
        except ApiError as err:
            await streaming.deny(scope, send, err)
            return
        await send({"type": "websocket.accept", "subprotocol": protocol})
        try:
            await portforward.serve(pod, protocol, query, receive, send)
        except ApiError as err:
            body = bytes([1]) + orjson.dumps(err.status())
            with contextlib.suppress(OSError, RuntimeError):
                await send({"type": "websocket.send", "bytes": body})
        with contextlib.suppress(OSError, RuntimeError):
            await send({"type": "websocket.close", "code": 1000})

    async def _exec_target(self, req: Request) -> tuple[dict[str, Any], streaming.ExecBackend, str]:
        """(pod, backend, container) of an exec request, or the API error that refuses it."""
        parts = [p for p in req.path.split("/") if p]
        if len(parts) != 7 or parts[:3] != ["api", "v1", "namespaces"] or parts[4] != "pods":
            raise NotFound("the server could not find the requested resource")
        if parts[6] == "portforward":  # reached over HTTP: kubectl's SPDY retry
            portforward.target(self.reg.get("pods", parts[5], parts[3]))
            raise BadRequest(portforward.HTTP_REFUSAL)
        if parts[6] in _UNSTREAMED:
            self.reg.get("pods", parts[5], parts[3])  # a missing pod is still a 404
            raise BadRequest(_UNSTREAMED[parts[6]])
        if parts[6] != "exec":
            raise NotFound(f"the server could not find the requested resource (pods/{parts[6]})")
        pod = self.reg.get("pods", parts[5], parts[3])
        backend = self.services.get("pod_exec")
        if backend is None:
            raise BadRequest(
                f'pod "{parts[5]}" cannot be exec\'d into: no kubelet runs in this control plane'
            )
        container = await backend.check(pod, req.q("container"))
        return pod, backend, container

    def _authenticate(self, req: Request) -> None:
        if self.token is None:
            return
        auth = req.headers.get("authorization", "")
        # The scheme is case-insensitive (RFC 7235), as kube-apiserver reads it.
        if auth[:7].lower() == "bearer " and hmac.compare_digest(auth[7:].strip(), self.token):
            return
        raise Unauthorized("Unauthorized")

    # ------------------------------------------------------------------ routing
    async def _dispatch(
        self, req: Request, receive: Receive, send: Send, warnings: list[str]
    ) -> None:
        path = req.path.rstrip("/") or "/"
        if await self._plain_endpoint(req, path, send):
            return
        parts = [p for p in path.split("/") if p]
        if parts[0] == "openapi":
            await self._openapi(req, parts, send)
            return
        if parts[0] in ("api", "apis") and len(parts) == 1:
            agg = discovery.aggregated_version(req.headers.get("accept") or "")
            if agg is not None:
                doc = discovery.aggregated(self.reg.catalog, core=parts[0] == "api", version=agg)
                ctype = discovery.content_type(agg).encode()
                await _respond(send, 200, orjson.dumps(doc), content_type=ctype)
                return
        if parts[0] == "api":
            if len(parts) == 1:
                await _respond(send, 200, orjson.dumps(discovery.api_versions()))
                return
            group, version, rest = "", parts[1], parts[2:]
        elif parts[0] == "apis":
            if len(parts) == 1:
                await _respond(send, 200, orjson.dumps(discovery.api_group_list(self.reg.catalog)))
                return
            if len(parts) == 2:
                grp = discovery.api_group(self.reg.catalog, parts[1])
                if grp is None:
                    raise NotFound("the server could not find the requested resource")
                await _respond(send, 200, orjson.dumps(grp))
                return
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise NotFound("the server could not find the requested resource")
        if (
            group not in self.reg.catalog.groups()
            or version not in self.reg.catalog.groups()[group]
        ):
            raise NotFound("the server could not find the requested resource")
        if not rest:
            if req.method != "GET":
                raise MethodNotAllowed(f"{req.method} is not allowed here")
            await _respond(
                send,
                200,
                orjson.dumps(discovery.api_resource_list(self.reg.catalog, group, version)),
            )
            return
        await self._resource(req, receive, send, group, version, rest, warnings)

    async def _plain_endpoint(self, req: Request, path: str, send: Send) -> bool:
        """Health, version, metrics, OIDC discovery and the path list; False for API paths."""
        if path in ("/healthz", "/livez"):
            await _respond(send, 200, b"ok", content_type=b"text/plain")
            return True
        if path == "/readyz":
            if self.ready:
                await _respond(send, 200, b"ok", content_type=b"text/plain")
            else:
                await _respond(
                    send, 503, b"not ready: components starting", content_type=b"text/plain"
                )
            return True
        if path == "/version":
            await _respond(send, 200, orjson.dumps(version_info()))
            return True
        if path == "/metrics":
            if req.method != "GET":
                raise MethodNotAllowed(f"{req.method} is not allowed on /metrics")
            body = self.metrics.render()
            await _respond(send, 200, body, content_type=METRICS_CONTENT_TYPE)
            return True
        gate = self.services.get("gate")
        if gate is not None and path in ("/.well-known/openid-configuration", "/openid/v1/jwks"):
            await _respond(send, 200, orjson.dumps(gate.discovery(path, req.headers)))
            return True
        if path == "/":
            await _respond(send, 200, orjson.dumps({"paths": sorted(ROOT_PATHS)}))
            return True
        return False

    async def _openapi(self, req: Request, parts: list[str], send: Send) -> None:
        if len(parts) >= 2 and parts[1] == "v3":
            served = self.reg.catalog.all()
            if len(parts) == 2:
                body = openapi.openapi_index(served)
            else:
                gv = openapi.parse_gv_path("/".join(parts[2:]))
                doc = openapi.openapi_document(served, *gv) if gv else None
                if doc is None:
                    raise NotFound(f"openapi document for {'/'.join(parts[2:])} not found")
                body = doc
            await _respond(send, 200, orjson.dumps(body))
            return
        if len(parts) == 2 and parts[1] == "v2":
            pb = swagger.PROTOBUF_ACCEPT in (req.headers.get("accept") or "")
            payload = swagger.document_bytes(self.reg.catalog.all(), protobuf=pb)
            ctype = swagger.PROTOBUF if pb else "application/json"
            await _respond(send, 200, payload, content_type=ctype.encode())
            return
        raise NotFound("the server could not find the requested resource")

    async def _resource(
        self,
        req: Request,
        receive: Receive,
        send: Send,
        group: str,
        version: str,
        rest: list[str],
        warnings: list[str],
    ) -> None:
        """Request-info parsing, then the handler of the request's verb."""
        info = requestinfo.parse(self.reg.catalog, req, group, version, rest)
        rt, namespace, name, m = info.rt, info.namespace, info.name, req.method
        if rt.group == METRICS_GROUP:  # kubectl top: answered from live usage, never stored
            body = metrics_answer(self.services, rt, namespace, name, m, req.query)
            await _respond(send, 200, orjson.dumps(body))
            return
        if rt.virtual:
            if m != "POST" or name is not None:
                raise MethodNotAllowed(f"{rt.plural}.{rt.group} can only be created")
            review = reviews.answer(
                rt,
                _obj(await _read_body(req, receive)),
                user=req.scope.get("hyperpod.user"),
                authorizer=getattr(self.services.get("gate"), "authorizer", None),
                namespace=namespace,
            )
            await _respond(send, 201, orjson.dumps(review))
            return
        handler = BY_METHOD.get(m)
        if handler is None:
            raise MethodNotAllowed(f"{m} is not supported")
        await handler(self, req, receive, send, info, warnings)

    # ------------------------------------------------------------------ encoders
    async def _send_obj(
        self,
        req: Request,
        send: Send,
        rt: ResourceType,
        obj: dict[str, Any],
        code: int,
        warnings: list[str],
        version: str | None = None,
    ) -> None:
        if version and version != rt.version and obj.get("kind") == rt.kind:
            obj["apiVersion"] = rt.api_version_for(version)
            kinds.from_storage(rt.kind, obj, version)
        if _wants_table(req) and obj.get("kind") == rt.kind:
            body = orjson.dumps(self._table(req, rt, [obj], version))
        else:
            body = orjson.dumps(obj)
        await _respond(send, code, body, warnings=warnings)

    def _table(
        self,
        req: Request,
        rt: ResourceType,
        objs: list[dict[str, Any]],
        version: str | None,
        list_meta: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        include = req.q("includeObject") or "Metadata"
        cols = rt.printer_columns.get(version or rt.version) if rt.crd else None
        table = tables.to_table(
            rt.kind, objs, printer_columns=cols, include_object=include, now=datetime.now(UTC)
        )
        if list_meta:
            table["metadata"] = list_meta
        return table

    async def _list(
        self, req: Request, send: Send, rt: ResourceType, namespace: str | None, version: str
    ) -> None:
        watchlist.check(req.query, watch=False)
        values, rv, token, remaining = self.reg.list_raw(
            rt,
            namespace,
            label_selector=req.q("labelSelector"),
            field_selector=req.q("fieldSelector"),
            limit=req.int_q("limit"),
            continue_=req.q("continue") or None,
        )
        meta: dict[str, Any] = {"resourceVersion": rv}
        if token:
            meta["continue"] = token
            meta["remainingItemCount"] = remaining
        if _wants_table(req):
            objs = [orjson.loads(v) for v in values]
            await _respond(send, 200, orjson.dumps(self._table(req, rt, objs, version, meta)))
            return
        api_version = rt.api_version_for(version)
        head = orjson.dumps({"apiVersion": api_version, "kind": rt.list_kind, "metadata": meta})
        if version != rt.version:
            fixed = []
            for v in values:
                o = orjson.loads(v)
                o["apiVersion"] = api_version
                kinds.from_storage(rt.kind, o, version)
                fixed.append(orjson.dumps(o))
            values = fixed
        body = head[:-1] + b',"items":[' + b",".join(values) + b"]}"
        await _respond(send, 200, body)

    # ------------------------------------------------------------------ watch
    async def _watch(
        self,
        req: Request,
        receive: Receive,
        send: Send,
        rt: ResourceType,
        namespace: str | None,
        version: str,
    ) -> None:
        timeout = req.int_q("timeoutSeconds")
        bookmarks = req.flag("allowWatchBookmarks")
        table = _wants_table(req)
        rv = req.q("resourceVersion")
        initial = watchlist.check(req.query, watch=True)
        if initial is not None:
            # WatchList: the current state (NotOlderThan any rv) or, when false, only changes.
            if initial:
                await watchlist.wait_until_fresh(rv, lambda: self.reg.revision)
                rv = None
            elif rv in (None, "", "0"):
                rv = str(self.reg.revision)
        snapshot = self.reg.revision
        try:
            sub, backlog = self.reg.subscribe(
                rt, namespace, req.q("labelSelector"), req.q("fieldSelector"), rv
            )
        except ApiError as err:
            if err.code != 410:
                raise
            # An expired resourceVersion: a 200 stream carrying one ERROR event, as kube does.
            await _start_stream(send, "application/json")
            await _chunk(send, orjson.dumps({"type": ERROR, "object": err.status()}) + b"\n")
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        api_version = rt.api_version_for(version)
        convert = version != rt.version

        def frame(typ: str, value: bytes) -> bytes:
            if table or convert:
                obj = orjson.loads(value)
                if convert:
                    obj["apiVersion"] = api_version
                if table:
                    obj = self._table(req, rt, [obj], version)
                return orjson.dumps({"type": typ, "object": obj}) + b"\n"
            return b'{"type":"' + typ.encode() + b'","object":' + value + b"}\n"

        deadline = time.monotonic() + timeout if timeout else None
        # A client that goes away ends its watch at once, not at the next event or bookmark.
        left = asyncio.ensure_future(_until_disconnect(receive))
        left.add_done_callback(lambda _f: sub.close())
        await _start_stream(send, "application/json")
        try:
            if backlog:
                await _chunk(send, b"".join(frame(t, e.value) for t, e in backlog))
            if initial and bookmarks:
                end = watchlist.end_bookmark(rt.kind, api_version, snapshot)
                await _chunk(send, orjson.dumps(end) + b"\n")
            await self._pump(send, sub, frame, rt.kind, api_version, bookmarks, deadline)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            left.cancel()
            self.reg.hub.unsubscribe(sub)
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (OSError, RuntimeError):
            pass

    async def _pump(
        self,
        send: Send,
        sub: Subscriber,
        frame: Callable[[str, bytes], bytes],
        kind: str,
        api_version: str,
        bookmarks: bool,
        deadline: float | None,
    ) -> None:
        """Send a watch's events as they come, and bookmarks, until it ends or times out."""
        last_bookmark = time.monotonic()
        while True:
            if sub.queue:
                out = []
                while sub.queue:
                    typ, ev = sub.queue.popleft()
                    out.append(frame(typ, ev.value))
                await _chunk(send, b"".join(out))
                continue
            if sub.closed:
                if sub.overflowed:
                    gone = Expired("watch fell behind and was closed; relist")
                    await _chunk(
                        send, orjson.dumps({"type": ERROR, "object": gone.status()}) + b"\n"
                    )
                break
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            wait = self.bookmark_interval if bookmarks else 30.0
            if deadline is not None:
                wait = min(wait, deadline - now)
            await sub.wait(wait)
            if (
                bookmarks
                and not sub.queue
                and time.monotonic() - last_bookmark >= self.bookmark_interval
            ):
                last_bookmark = time.monotonic()
                bm = {
                    "type": BOOKMARK,
                    "object": {
                        "kind": kind,
                        "apiVersion": api_version,
                        "metadata": {"resourceVersion": str(self.reg.revision)},
                    },
                }
                await _chunk(send, orjson.dumps(bm) + b"\n")

    # ------------------------------------------------------------------ logs
    async def _exec_over_http(self, req: Request) -> None:
        """An exec that did not upgrade to WebSocket (kubectl's SPDY retry, curl): the reason
        the WebSocket attempt was refused, or else that only WebSocket is spoken here."""
        await self._exec_target(req)
        streaming.ExecOptions.from_query(req.scope.get("query_string", b"").decode())
        raise BadRequest(
            "exec is served over WebSocket only (subprotocols "
            + ", ".join(streaming.PROTOCOLS)
            + "); SPDY is not spoken here: use kubectl 1.30 or newer, or the kubernetes "
            "client's stream()"
        )

    async def _log(
        self, req: Request, send: Send, rt: ResourceType, name: str, namespace: str | None
    ) -> None:
        if rt.kind != "Pod":
            raise NotFound("logs are served for pods only")
        pod = self.reg.get("pods", name, namespace)
        containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        init = [c["name"] for c in (pod.get("spec") or {}).get("initContainers") or []]
        container = req.q("container")
        if not container:
            if len(containers) != 1:
                raise BadRequest(
                    f"a container name must be specified for pod {name}, choose one of: "
                    f"{containers}" + (f" or one of the init containers: {init}" if init else "")
                )
            container = containers[0]
        if container not in containers + init:
            raise BadRequest(f"container {container} is not valid for pod {name}")
        reader = self._log_reader or self.services.get("pod_logs")
        if reader is None:
            raise BadRequest(
                f'container "{container}" in pod "{name}" has no logs here: the '
                "pod does not run on a node of this control plane"
            )
        stream = reader(
            pod,
            container,
            follow=req.flag("follow"),
            previous=req.flag("previous"),
            tail_lines=req.int_q("tailLines"),
            since_seconds=req.int_q("sinceSeconds"),
            timestamps=req.flag("timestamps"),
            limit_bytes=req.int_q("limitBytes"),
        )
        first = True
        try:
            async for data in stream:
                if first:
                    await _start_stream(send, "text/plain")
                    first = False
                if data:
                    await _chunk(send, data)
        except ApiError:
            if first:
                raise
        except (OSError, asyncio.CancelledError):
            pass
        if first:
            await _start_stream(send, "text/plain")
        try:
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        except (OSError, RuntimeError):
            pass


def version_info() -> dict[str, str]:
    return {
        "major": "1",
        "minor": "32",
        "gitVersion": f"v1.32.0-hyperpod.{__version__}",
        "gitCommit": "hyperpod",
        "gitTreeState": "clean",
        "buildDate": "2026-11-28T00:00:00Z",
        "goVersion": "python",
        "compiler": "cpython",
        "platform": "linux/amd64",
    }


__all__ = ["ApiServer", "version_info"]
