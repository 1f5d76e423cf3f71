"""PATCH: JSON, merge, strategic-merge (built-in kinds) and server-side apply patches."""

from __future__ import annotations

from hyperpod.apiserver import webhooks
from hyperpod.apiserver.errors import BadRequest, MethodNotAllowed, UnsupportedMediaType
from hyperpod.apiserver.handlers.base import Server
from hyperpod.apiserver.httpio import Receive, Request, Send, read_body
from hyperpod.apiserver.patching import PatchType
from hyperpod.apiserver.requestinfo import RequestInfo


async def handle(
    srv: Server, req: Request, receive: Receive, send: Send, info: RequestInfo, warnings: list[str]
) -> None:
    name = info.name
    if name is None:
        raise MethodNotAllowed("PATCH is not allowed on collections")
    ptype = PatchType.from_content_type(req.headers.get("content-type", ""))
    if ptype is None:
        raise UnsupportedMediaType(
            "the body of the request was in an unknown format - accepted media types "
            "include: application/json-patch+json, application/merge-patch+json, "
            "application/apply-patch+yaml"
            + ("" if info.rt.crd else ", application/strategic-merge-patch+json")
        )
    patch = await read_body(req, receive, yaml_ok=ptype == PatchType.APPLY)
    force = req.flag("force")
    if ptype != PatchType.APPLY and req.q("force") is not None:
        raise BadRequest("force is only allowed for apply patches")
    patched = await webhooks.deferred(
        lambda: srv.reg.patch(
            info.resource,
            name,
            patch,
            ptype,
            info.namespace,
            dry_run=info.dry_run,
            field_manager=info.field_manager,
            force=force,
            field_validation=info.field_validation,
            warnings=warnings,
            version=info.version,
        ),
        warnings,
    )
    await srv._send_obj(req, send, info.rt, patched, 200, warnings, info.version)
