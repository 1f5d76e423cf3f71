"""DELETE: one object, or a collection (``deletecollection``), with DeleteOptions."""

from __future__ import annotations

import orjson

from hyperpod.apiserver import webhooks
from hyperpod.apiserver.errors import BadRequest, MethodNotAllowed
from hyperpod.apiserver.handlers.base import Server
from hyperpod.apiserver.httpio import Receive, Request, Send, read_body, respond
from hyperpod.apiserver.requestinfo import RequestInfo


async def handle(
    srv: Server, req: Request, receive: Receive, send: Send, info: RequestInfo, warnings: list[str]
) -> None:
    rt, name, namespace, version = info.rt, info.name, info.namespace, info.version
    opts = await read_body(req, receive, allow_empty=True) or {}
    if not isinstance(opts, dict):
        raise BadRequest("the DELETE body must be a DeleteOptions object")
    policy = req.q("propagationPolicy") or opts.get("propagationPolicy")
    if opts.get("orphanDependents") is True or req.q("orphanDependents") == "true":
        policy = policy or "Orphan"
    grace = req.int_q("gracePeriodSeconds")
    if grace is None and opts.get("gracePeriodSeconds") is not None:
        grace = int(opts["gracePeriodSeconds"])
    dry_run = info.dry_run or opts.get("dryRun") == ["All"]
    if name is None:
        items = await webhooks.deferred(
            lambda: srv.reg.delete_collection(
                rt.name,
                namespace,
                label_selector=req.q("labelSelector"),
                field_selector=req.q("fieldSelector"),
                propagation_policy=policy,
                grace_period_seconds=grace,
                dry_run=dry_run,
            )
        )
        listed = {
            "apiVersion": rt.api_version_for(version),
            "kind": rt.list_kind,
            "metadata": {"resourceVersion": str(srv.reg.revision)},
            "items": items,
        }
        await respond(send, 200, orjson.dumps(listed))
        return
    if info.sub is not None:
        raise MethodNotAllowed(f"DELETE is not supported on {info.plural}/{info.sub}")
    gone = await webhooks.deferred(
        lambda: srv.reg.delete(
            rt.name,
            name,
            namespace,
            propagation_policy=policy,
            grace_period_seconds=grace,
            preconditions=opts.get("preconditions"),
            dry_run=dry_run,
        )
    )
    await srv._send_obj(req, send, rt, gone, 200, warnings, version)
