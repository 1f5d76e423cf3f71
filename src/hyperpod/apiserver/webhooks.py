"""Dynamic admission: calling the webhooks of Mutating- and ValidatingWebhookConfigurations.

The store's admission step (``store_base._admit``) calls :func:`mutate` after the built-in
defaulting hooks and :func:`validate` once built-in validation has passed; ``delete`` calls
both with operation DELETE. As kube-apiserver does:

- a webhook is called when one of its ``rules`` matches the operation, group, version,
  resource and scope, its ``namespaceSelector`` matches the labels of the object's namespace
  (of the Namespace itself for Namespaces; cluster-scoped objects always match) and its
  ``objectSelector`` matches the new or the old object's labels;
- the call is an ``admission.k8s.io/v1`` AdmissionReview POSTed over HTTPS to
  ``clientConfig.url``, or to ``https://<service>.<namespace>.svc:<port><path>`` resolved to a
  ready endpoint of the Service (its EndpointSlices, the routing the service proxy uses), with
  the certificate checked against ``caBundle`` (the system roots without one) for that name;
- mutating webhooks run first, in name order of their configurations, and their JSONPatch is
  applied to the object before validation; no reinvocation;
- a denial answers with the webhook's status message and code (403 when it sets none); a
  webhook that cannot be called, times out (``timeoutSeconds``) or answers nonsense fails the
  request with 500 under ``failurePolicy: Fail`` and is skipped (logged) under ``Ignore``;
- ``dryRun`` is passed on (v1 webhooks declare sideEffects None or NoneOnDryRun);
- writes of the webhook configurations and admission policies themselves are never sent to
  webhooks, so a broken webhook can always be removed.

A write that comes over HTTP runs through :func:`deferred`: when it reaches a webhook it stops
before anything is committed, the webhook is asked on a worker thread while the event loop
serves other requests (so a webhook may call back into the API server), and the write runs
again with the answers so far. A write made in-process by a control-plane component asks its
webhooks synchronously (the loop waits, at most ``timeoutSeconds`` per webhook). Status and
other subresource writes are not sent to webhooks.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import http.client
import logging
import socket
import ssl
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson

from hyperpod.apiserver import errors, patching, schema, selectors, typecheck
from hyperpod.apiserver.errors import ApiError
from hyperpod.apiserver.resources import ResourceType

log = logging.getLogger(__name__)
Obj = dict[str, Any]

GROUP = "admissionregistration.k8s.io"
MUTATING = f"mutatingwebhookconfigurations.{GROUP}"
VALIDATING = f"validatingwebhookconfigurations.{GROUP}"
EXEMPT = frozenset(
    {
        MUTATING,
        VALIDATING,
        f"validatingadmissionpolicies.{GROUP}",
        f"validatingadmissionpolicybindings.{GROUP}",
    }
)
SLICES = "endpointslices.discovery.k8s.io"
MAX_CALLS = 256  # webhook calls one request may make
T = TypeVar("T")
SERVICE_NAME = "kubernetes.io/service-name"
# The user of the request being admitted (set by the HTTP layer); None: the control plane.
REQUEST_USER: ContextVar[tuple[str, tuple[str, ...]] | None] = ContextVar(
    "hyperpod_admission_user", default=None
)


class Denied(ApiError):
    """A webhook's refusal, with the code and reason it chose."""

    def __init__(self, message: str, code: int, reason: str) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason


class CallFailed(Exception):
    """The webhook could not be asked, or its answer could not be used."""


Outcome = tuple[str, "bytes | Exception"]  # (request uid sent, response body or the failure)
# Set by :func:`deferred` for one HTTP request: (its task, the webhook outcomes so far).
DEFER: ContextVar[tuple[object, dict[tuple[Any, ...], Outcome]] | None] = ContextVar(
    "hyperpod_webhook_outcomes", default=None
)


class Pending(Exception):
    """A webhook must be asked first: the write is abandoned (nothing is committed before
    admission) and :func:`deferred` asks it off the event loop, then runs the write again."""

    def __init__(self, key: tuple[Any, ...], call: Callable[[], Outcome]) -> None:
        super().__init__(key)
        self.key = key
        self.call = call


def _current_task() -> object:
    try:
        return asyncio.current_task()
    except RuntimeError:  # no running loop
        return None


async def deferred(write: Callable[[], T], warnings: list[str] | None = None) -> T:
    """Run one request's registry ``write`` so that its webhooks are asked on a worker thread:
    each webhook the write reaches stops it (:class:`Pending`), is asked while the event loop
    serves other requests, and the write runs again with every answer so far (mutating
    webhooks in order, each seeing the object the earlier patches made)."""
    outcomes: dict[tuple[Any, ...], Outcome] = {}
    token = DEFER.set((_current_task(), outcomes))
    try:
        for _ in range(MAX_CALLS):
            seen = len(warnings) if warnings is not None else 0
            try:
                return write()
            except Pending as pending:
                if warnings is not None:
                    del warnings[seen:]  # the next run adds them again
                outcomes[pending.key] = await asyncio.to_thread(pending.call)
        raise errors.InternalError(
            f"Internal error occurred: the write reached more than {MAX_CALLS} webhooks"
        )
    finally:
        DEFER.reset(token)


# ---------------------------------------------------------------------------- entry points
def mutate(
    store: Any, rt: ResourceType, obj: Obj, old: Obj | None, dry_run: bool, warnings: Any
) -> None:
    """Call the matching mutating webhooks; their patches are applied to ``obj`` in place,
    and a patched object is type-checked again (against the CRD's schema for custom
    resources), so a webhook cannot store what a client could not."""
    if _run(store, MUTATING, rt, obj, old, dry_run, warnings):
        if rt.crd and rt.schemas.get(rt.version):
            causes, _ = schema.apply_schema(obj, rt.schemas[rt.version], prune=True)
        else:
            causes = typecheck.precheck(rt.kind, obj, builtin=not rt.crd)
        if causes:
            name = (obj.get("metadata") or {}).get("name")
            raise errors.invalid(rt.kind, name, causes, rt.group)


def validate(
    store: Any, rt: ResourceType, obj: Obj | None, old: Obj | None, dry_run: bool, warnings: Any
) -> None:
    """Call the matching validating webhooks; raises :class:`Denied` or a 500 on failure."""
    _run(store, VALIDATING, rt, obj, old, dry_run, warnings)


def admit_delete(store: Any, rt: ResourceType, old: Obj, dry_run: bool) -> None:
    """A DELETE: mutating then validating webhooks see ``oldObject`` only."""
    _run(store, MUTATING, rt, None, old, dry_run, None)
    _run(store, VALIDATING, rt, None, old, dry_run, None)


def _run(
    store: Any,
    resource: str,
    rt: ResourceType,
    obj: Obj | None,
    old: Obj | None,
    dry_run: bool,
    warnings: Any,
) -> bool:
    """Call the matching webhooks of ``resource``; whether any patch was applied to ``obj``."""
    if rt.name in EXEMPT or rt.virtual or not store._objects.get(resource):
        return False  # the fast path: no configuration of this kind is stored
    operation = "DELETE" if obj is None else "CREATE" if old is None else "UPDATE"
    mutating = resource == MUTATING
    patched = False
    for config in sorted(store.list(resource), key=lambda c: str(c["metadata"]["name"])):
        for hook in config.get("webhooks") or []:
            if not _matches(store, hook, rt, operation, obj, old):
                continue
            try:
                patch = _call(
                    store,
                    f"{resource}/{config['metadata']['name']}",
                    hook,
                    rt,
                    operation,
                    obj,
                    old,
                    dry_run,
                    warnings,
                    mutating,
                )
                if patch is not None and obj is not None:
                    _apply(obj, patch)
                    patched = True
            except (ApiError, Pending):
                raise
            except CallFailed as exc:
                name = hook.get("name")
                if hook.get("failurePolicy", "Fail") == "Ignore":
                    log.warning("failed calling webhook %r (failurePolicy Ignore): %s", name, exc)
                    continue
                raise errors.InternalError(
                    f'Internal error occurred: failed calling webhook "{name}": {exc}'
                ) from exc
    return patched


# ---------------------------------------------------------------------------- matching
def _matches(
    store: Any, hook: Obj, rt: ResourceType, op: str, obj: Obj | None, old: Obj | None
) -> bool:
    if not any(_rule_matches(r, rt, op) for r in hook.get("rules") or []):
        return False
    try:
        ns_sel = selectors.label_selector_from_dict(hook.get("namespaceSelector") or {})
        obj_sel = selectors.label_selector_from_dict(hook.get("objectSelector") or {})
    except ValueError:
        return False
    subject = obj if obj is not None else old
    assert subject is not None
    if not obj_sel.empty and not any(
        obj_sel.matches(_labels(o)) for o in (obj, old) if o is not None
    ):
        return False
    if ns_sel.empty:
        return True
    if rt.name == "namespaces":
        return ns_sel.matches(_labels(subject))
    if not rt.namespaced:
        return True
    ns = (subject.get("metadata") or {}).get("namespace") or ""
    namespace = store.object_by_key("namespaces", f"/namespaces/{ns}")
    return ns_sel.matches(_labels(namespace or {}))


def _rule_matches(rule: Any, rt: ResourceType, op: str) -> bool:
    if not isinstance(rule, dict):
        return False
    ops = rule.get("operations") or []
    if op not in ops and "*" not in ops:
        return False
    groups = rule.get("apiGroups") or []
    if rt.group not in groups and "*" not in groups:
        return False
    versions = rule.get("apiVersions") or []
    if "*" not in versions and not any(v in versions for v in rt.versions):
        return False  # matchPolicy Equivalent: any served version of the resource
    resources = rule.get("resources") or []
    if rt.plural not in resources and "*" not in resources and "*/*" not in resources:
        return False
    scope = rule.get("scope") or "*"
    return scope == "*" or (scope == "Namespaced") == rt.namespaced


def _labels(obj: Obj) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


# ---------------------------------------------------------------------------- the call
def _review(rt: ResourceType, op: str, obj: Obj | None, old: Obj | None, dry_run: bool) -> Obj:
    subject = obj if obj is not None else old
    assert subject is not None
    md = subject.get("metadata") or {}
    user = REQUEST_USER.get()
    name, groups = user if user is not None else ("system:apiserver", ("system:masters",))
    kind = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    resource = {"group": rt.group, "version": rt.version, "resource": rt.plural}
    options_kind = {"CREATE": "CreateOptions", "UPDATE": "UpdateOptions"}.get(op, "DeleteOptions")
    request: Obj = {
        "uid": str(uuid.uuid4()),
        "kind": kind,
        "resource": resource,
        "requestKind": kind,
        "requestResource": resource,
        "name": md.get("name", ""),
        "operation": op,
        "userInfo": {"username": name, "groups": list(groups)},
        "object": obj,
        "oldObject": old,
        "dryRun": dry_run,
        "options": {"apiVersion": "meta.k8s.io/v1", "kind": options_kind},
    }
    if rt.namespaced:
        request["namespace"] = md.get("namespace", "")
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request}


def _call(
    store: Any,
    config: str,
    hook: Obj,
    rt: ResourceType,
    op: str,
    obj: Obj | None,
    old: Obj | None,
    dry_run: bool,
    warnings: Any,
    mutating: bool,
) -> list[Any] | None:
    """POST the review; None, or the JSONPatch operations of an allowing mutating webhook."""
    timeout = float(hook.get("timeoutSeconds") or 10)
    cc = hook.get("clientConfig") or {}
    host, port, path = _target(cc)
    sep = "&" if "?" in path else "?"
    where = f'Post "https://{host}:{port}{path}{sep}timeout={int(timeout)}s"'
    svc = cc.get("service")
    try:
        address = (host, port) if not svc else _endpoint(store, svc, port)
    except CallFailed as exc:
        raise CallFailed(f"failed to call webhook: {where}: {exc}") from exc
    review = _review(rt, op, obj, old, dry_run)
    uid = str(review["request"]["uid"])
    ca = cc.get("caBundle")

    def post() -> tuple[str, bytes | Exception]:
        try:
            return uid, _post(
                address, host, _tls(ca), f"{path}{sep}timeout={int(timeout)}s", review, timeout
            )
        except Exception as exc:  # judged below, on the loop, under the failurePolicy
            return uid, exc

    waiting = DEFER.get()
    if waiting is None or waiting[0] is not _current_task():
        uid, outcome = post()  # an in-process write (a controller): asked synchronously
    else:
        subject = obj if obj is not None else old
        md = (subject or {}).get("metadata") or {}
        key = (config, str(hook.get("name")), rt.name, md.get("namespace"), md.get("name"), op)
        if key not in waiting[1]:
            raise Pending(key, post)
        uid, outcome = waiting[1][key]
    if isinstance(outcome, TimeoutError):
        raise CallFailed(f"failed to call webhook: {where}: context deadline exceeded")
    if isinstance(outcome, Exception):
        raise CallFailed(f"failed to call webhook: {where}: {outcome}")
    body = outcome
    try:
        answer = orjson.loads(body)
        response = answer["response"]
        if not isinstance(response, dict):
            raise TypeError("response is not an object")
    except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
        raise CallFailed(f"received invalid webhook response: {exc}") from exc
    try:
        return _answer(hook, response, uid, warnings, mutating)
    except (TypeError, ValueError, AttributeError) as exc:
        raise CallFailed(f"received invalid webhook response: {exc}") from exc


def _answer(hook: Obj, response: Obj, uid: str, warnings: Any, mutating: bool) -> list[Any] | None:
    """Read an AdmissionReview response: raise Denied, or the patch of a mutating webhook."""
    if response.get("uid") != uid:
        raise CallFailed(f"expected response.uid={uid!r}, got {response.get('uid')!r}")
    if warnings is not None:
        warnings.extend(str(w) for w in response.get("warnings") or [])
    name = hook.get("name")
    if not response.get("allowed"):
        status = response.get("result") or response.get("status") or {}
        message = str(status.get("message") or "")
        denied = f'admission webhook "{name}" denied the request'
        raise Denied(
            f"{denied}: {message}" if message else f"{denied} without explanation",
            code if 400 <= (code := int(status.get("code") or 403)) < 600 else 403,
            str(status.get("reason") or ("Forbidden" if not status.get("code") else "")),
        )
    if not mutating or not response.get("patch"):
        return None
    if response.get("patchType") != "JSONPatch":
        raise CallFailed(f"unsupported patch type {response.get('patchType')!r}")
    try:
        ops = orjson.loads(base64.b64decode(response["patch"], validate=True))
    except (binascii.Error, orjson.JSONDecodeError, ValueError) as exc:
        raise CallFailed(f"the webhook's patch is not base64 JSON: {exc}") from exc
    if not isinstance(ops, list):
        raise CallFailed("the webhook's patch is not a list of JSONPatch operations")
    return ops


def _apply(obj: Obj, ops: list[Any]) -> None:
    md = obj.get("metadata") or {}
    before = (md.get("name"), md.get("namespace"), md.get("uid"))
    try:
        patched = patching.apply_json_patch(obj, ops)
    except ApiError as exc:
        raise CallFailed(f"the webhook's patch does not apply: {exc.message}") from exc
    pmd = patched.get("metadata") or {}
    if (pmd.get("name"), pmd.get("namespace"), pmd.get("uid")) != before:
        raise CallFailed("the webhook's patch changes metadata.name, namespace or uid")
    obj.clear()
    obj.update(patched)


def _target(cc: Obj) -> tuple[str, int, str]:
    """(TLS server name, port, request path) of a webhook's clientConfig."""
    url = cc.get("url")
    if url:
        parts = urlsplit(str(url))
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return parts.hostname or "", parts.port or 443, path
    svc = cc.get("service") or {}
    host = f"{svc.get('name')}.{svc.get('namespace')}.svc"
    return host, int(svc.get("port") or 443), str(svc.get("path") or "/")


def _endpoint(store: Any, svc_ref: Obj, port: int) -> tuple[str, int]:
    """A ready endpoint (pod IP, target port) of the Service behind ``port``."""
    name, ns = str(svc_ref.get("name")), str(svc_ref.get("namespace"))
    svc = store.object_by_key("services", f"/services/{ns}/{name}")
    if svc is None:
        raise CallFailed(f'service "{name}" not found')
    ports = [p for p in (svc.get("spec") or {}).get("ports") or [] if p.get("port") == port]
    if not ports:
        raise CallFailed(f'service "{name}" has no port {port}')
    port_name = str(ports[0].get("name") or "")
    slices = store.list(SLICES, ns, label_selector=f"{SERVICE_NAME}={name}")
    for sl in sorted(slices, key=lambda s: str(s["metadata"]["name"])):
        numbers = [
            p.get("port") for p in sl.get("ports") or [] if (p.get("name") or "") == port_name
        ]
        if not numbers or not numbers[0]:
            continue
        for ep in sl.get("endpoints") or []:
            if (ep.get("conditions") or {}).get("ready") is False:
                continue
            for addr in (ep.get("addresses") or [])[:1]:
                return str(addr), int(numbers[0])
    raise CallFailed(f'no endpoints available for service "{name}"')


def _tls(ca_bundle: Any) -> ssl.SSLContext:
    if not ca_bundle:
        return ssl.create_default_context()
    try:
        pem = base64.b64decode(str(ca_bundle), validate=True).decode()
        return ssl.create_default_context(cadata=pem)
    except (binascii.Error, UnicodeDecodeError, ssl.SSLError) as exc:
        raise ValueError(f"clientConfig.caBundle is not a base64 PEM bundle: {exc}") from exc


def _post(
    address: tuple[str, int],
    server_name: str,
    ctx: ssl.SSLContext,
    path: str,
    review: Obj,
    timeout: float,
) -> bytes:
    raw = socket.create_connection(address, timeout=timeout)
    try:
        sock = ctx.wrap_socket(raw, server_hostname=server_name)
    except BaseException:
        raw.close()
        raise
    conn = http.client.HTTPConnection(server_name, address[1], timeout=timeout)
    conn.sock = sock
    try:
        conn.request(
            "POST",
            path,
            body=orjson.dumps(review),
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        resp = conn.getresponse()
        body = resp.read(3 * 1024 * 1024)
        if resp.status != 200:
            raise ValueError(f"the webhook answered HTTP {resp.status}: {body[:200]!r}")
        return body
    finally:
        conn.close()
