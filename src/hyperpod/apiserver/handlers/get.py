"""GET: read one object (or its status/scale), list a collection, or watch it."""

from __future__ import annotations

from hyperpod.apiserver.errors import MethodNotAllowed
from hyperpod.apiserver.handlers.base import UNSTREAMED, Server
from hyperpod.apiserver.httpio import Receive, Request, Send, respond, wants_table
from hyperpod.apiserver.requestinfo import RequestInfo


async def handle(
    srv: Server, req: Request, receive: Receive, send: Send, info: RequestInfo, warnings: list[str]
) -> None:
    rt, name, namespace, version, sub = info.rt, info.name, info.namespace, info.version, info.sub
    if name is None:
        if req.flag("watch"):
            await srv._watch(req, receive, send, rt, namespace, version)
        else:
            await srv._list(req, send, rt, namespace, version)
        return
    if sub == "log":
        await srv._log(req, send, rt, name, namespace)
        return
    if sub in ("exec", *UNSTREAMED):
        await srv._exec_over_http(req)
    if sub not in (None, "status", "scale"):
        raise MethodNotAllowed(f"GET is not supported on {info.plural}/{sub}")
    if sub == "scale":
        obj = srv.reg.get(info.resource, name, namespace, version=version)
        await srv._send_obj(req, send, rt, obj, 200, warnings)
        return
    if version == rt.version and not wants_table(req):
        await respond(send, 200, srv.reg.get_raw(rt, name, namespace))
        return
    obj = srv.reg.get(rt.name, name, namespace, version=version)
    await srv._send_obj(req, send, rt, obj, 200, warnings)
