"""PUT: replace one object (or its status, scale or finalizers)."""

from __future__ import annotations

from hyperpod.apiserver import webhooks
from hyperpod.apiserver.errors import BadRequest, MethodNotAllowed
from hyperpod.apiserver.handlers.base import Server
from hyperpod.apiserver.httpio import Receive, Request, Send, obj, read_body
from hyperpod.apiserver.requestinfo import RequestInfo


async def handle(
    srv: Server, req: Request, receive: Receive, send: Send, info: RequestInfo, warnings: list[str]
) -> None:
    name = info.name
    if name is None:
        raise MethodNotAllowed("PUT is not allowed on collections")
    body = obj(await read_body(req, receive))
    body_name = (body.get("metadata") or {}).get("name")
    if body_name and body_name != name:
        raise BadRequest(
            f"the name of the object ({body_name}) does not match the name on the URL ({name})"
        )
    body.setdefault("metadata", {})["name"] = name
    updated = await webhooks.deferred(
        lambda: srv.reg.update(
            info.resource,
            body,
            info.namespace,
            dry_run=info.dry_run,
            field_manager=info.field_manager,
            field_validation=info.field_validation,
            warnings=warnings,
            version=info.version,
        ),
        warnings,
    )
    await srv._send_obj(req, send, info.rt, updated, 200, warnings, info.version)
