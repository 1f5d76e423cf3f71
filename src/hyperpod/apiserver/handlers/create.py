"""POST: create in a collection, or answer a create subresource (binding, eviction, token)."""

from __future__ import annotations

import orjson

from hyperpod.apiserver import webhooks
from hyperpod.apiserver.errors import MethodNotAllowed, NotFound
from hyperpod.apiserver.handlers.base import UNSTREAMED, Server
from hyperpod.apiserver.httpio import Receive, Request, Send, obj, read_body, respond
from hyperpod.apiserver.requestinfo import RequestInfo


async def handle(
    srv: Server, req: Request, receive: Receive, send: Send, info: RequestInfo, warnings: list[str]
) -> None:
    rt, name, namespace, sub = info.rt, info.name, info.namespace, info.sub
    if sub in ("exec", *UNSTREAMED):
        await srv._exec_over_http(req)
    body = await read_body(req, receive)
    if sub == "token" and rt.name == "serviceaccounts" and name and namespace:
        if srv.services.get("gate") is None:
            raise NotFound("the TokenRequest API is not served without authentication")
        token = srv.services["gate"].token_request(name, namespace, body)
        await respond(send, 201, orjson.dumps(token))
        return
    if name is not None and sub not in ("binding", "eviction"):
        raise MethodNotAllowed("POST is only allowed on collections")
    if sub in ("binding", "eviction"):
        if isinstance(body, dict):
            body.setdefault("metadata", {}).setdefault("name", name)
        result = srv.reg.create(info.resource, obj(body), namespace, dry_run=info.dry_run)
        await respond(send, 201, orjson.dumps(result))
        return
    made = await webhooks.deferred(
        lambda: srv.reg.create(
            rt.name,
            obj(body),
            namespace,
            dry_run=info.dry_run,
            field_manager=info.field_manager,
            field_validation=info.field_validation,
            warnings=warnings,
            version=info.version,
        ),
        warnings,
    )
    await srv._send_obj(req, send, rt, made, 201, warnings, info.version)
