"""What a resource request addresses, read from its path and query before any verb runs.

``/api/v1/namespaces/<ns>/<plural>[/<name>[/<sub>]]`` and ``/apis/<group>/<version>/...``
become a :class:`RequestInfo`: the resource type, namespace, name, subresource and the write
options every verb shares (``dryRun``, ``fieldValidation``, ``fieldManager``).
"""

from __future__ import annotations

from dataclasses import dataclass

from hyperpod.apiserver.errors import BadRequest, NotFound
from hyperpod.apiserver.httpio import Request
from hyperpod.apiserver.resources import Catalog, ResourceType


@dataclass
class RequestInfo:
    rt: ResourceType
    version: str
    plural: str
    namespace: str | None
    name: str | None
    sub: str | None
    dry_run: bool
    field_validation: str
    field_manager: str | None

    @property
    def resource(self) -> str:
        """The registry's name for what is addressed: ``pods``, ``pods/status``, ..."""
        return self.rt.name + (f"/{self.sub}" if self.sub else "")


def _split_namespace(group: str, rest: list[str]) -> tuple[str | None, list[str]]:
    if rest[0] == "namespaces" and len(rest) >= 3 and group == "":
        # /api/v1/namespaces/<ns>/<plural>/... (but not /namespaces/<name>/status|finalize)
        if rest[2] not in ("status", "finalize") or len(rest) > 3:
            return rest[1], rest[2:]
    elif rest[0] == "namespaces" and len(rest) >= 3 and group != "":
        return rest[1], rest[2:]
    return None, rest


def parse(catalog: Catalog, req: Request, group: str, version: str, rest: list[str]) -> RequestInfo:
    """The request info of a resource path (``rest`` follows the group/version)."""
    namespace, rest = _split_namespace(group, rest)
    plural = rest[0]
    rt = catalog.by_path(group, version, plural)
    if rt is None:
        raise NotFound(f"the server could not find the requested resource ({plural})")
    if namespace is not None and not rt.namespaced:
        raise NotFound("the server could not find the requested resource")
    name = rest[1] if len(rest) > 1 else None
    sub = rest[2] if len(rest) > 2 else None
    if len(rest) > 3:
        raise NotFound("the server could not find the requested resource")
    if sub is not None and sub not in rt.subresources:
        raise NotFound(f"the server could not find the requested resource ({plural}/{sub})")
    dry_run = req.q("dryRun") == "All"
    if req.q("dryRun") not in (None, "", "All"):
        raise BadRequest(f"unsupported dryRun value {req.q('dryRun')!r}: only All is supported")
    fv = req.q("fieldValidation") or "Ignore"
    if fv not in ("Ignore", "Warn", "Strict"):
        raise BadRequest(f"fieldValidation must be one of Ignore, Warn, Strict, got {fv!r}")
    return RequestInfo(
        rt, version, plural, namespace, name, sub, dry_run, fv, req.q("fieldManager")
    )
