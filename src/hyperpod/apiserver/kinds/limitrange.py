"""core/v1 LimitRange: per-container/pod/claim defaults and bounds, applied at admission.

Defaulting (as the API does): a Container item's ``default`` falls back to ``max`` and its
``defaultRequest`` to ``default`` (else ``min``). At pod create, containers without a limit or
request get the item's ``default``/``defaultRequest`` (annotated
``kubernetes.io/limit-ranger``, qosClass recomputed); then ``min``/``max``/
``maxLimitRequestRatio`` are checked per Container, summed per Pod, and ``storage`` per
PersistentVolumeClaim. A violation is a 403 with upstream's message.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hyperpod.apiserver import errors, tables
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.podspec import qos_class
from hyperpod.apiserver.quantity import parse_quantity
from hyperpod.apiserver.resources import ResourceType

if TYPE_CHECKING:
    from hyperpod.apiserver.registry import Registry

RESOURCE = "limitranges"
TYPES = ("Container", "Pod", "PersistentVolumeClaim")
ANNOTATION = "kubernetes.io/limit-ranger"


def _q(v: Any) -> Decimal | None:
    try:
        return parse_quantity(v)
    except ValueError:
        return None


def _items(reg: Registry, ns: str, typ: str) -> list[Obj]:
    if reg.catalog.get(RESOURCE) is None:
        return []
    return [
        cols.d(item)
        for lr in reg.list(RESOURCE, ns)
        for item in cols.ls(cols.d(lr.get("spec")).get("limits"))
        if cols.d(item).get("type") == typ
    ]


def apply_defaults(reg: Registry, pod: Obj) -> None:
    """Give containers the LimitRange defaults they lack (on create only)."""
    md = cols.d(pod.get("metadata"))
    ns = md.get("namespace")
    if not ns or md.get("resourceVersion"):
        return
    items = _items(reg, str(ns), "Container")
    if not items:
        return
    spec = cols.d(pod.get("spec"))
    notes: list[str] = []
    for c in cols.ls(spec.get("containers")) + cols.ls(spec.get("initContainers")):
        if not isinstance(c, dict):
            continue
        res = c.setdefault("resources", {})
        set_req: list[str] = []
        set_lim: list[str] = []
        for item in items:
            for key, field, added in (
                ("limits", "default", set_lim),
                ("requests", "defaultRequest", set_req),
            ):
                for name, value in cols.d(item.get(field)).items():
                    have = res.setdefault(key, {})
                    if name not in have:
                        have[name] = value
                        added.append(name)
        if set_req:
            notes.append(f"{', '.join(set_req)} request for container {c.get('name')}")
        if set_lim:
            notes.append(f"{', '.join(set_lim)} limit for container {c.get('name')}")
        for key in ("limits", "requests"):
            if not res.get(key):
                res.pop(key, None)
    if notes:
        md.setdefault("annotations", {})[ANNOTATION] = "LimitRanger plugin set: " + "; ".join(notes)
        pod.setdefault("status", {})["qosClass"] = qos_class(pod)


def _bounds(item: Obj, typ: str, requests: Obj, limits: Obj | None) -> list[str]:
    """Upstream's min/max/ratio messages; ``limits`` None checks max against requests only."""
    out: list[str] = []
    lims = limits if limits is not None else {}
    for name, low in cols.d(item.get("min")).items():
        m, req, lim = _q(low), _q(requests.get(name)), _q(lims.get(name))
        if name not in requests or req is None:
            out.append(f"minimum {name} usage per {typ} is {low}.  No request is specified")
        elif m is not None and req < m:
            out.append(f"minimum {name} usage per {typ} is {low}, but request is {requests[name]}")
        elif m is not None and lim is not None and lim < m:
            out.append(f"minimum {name} usage per {typ} is {low}, but limit is {lims[name]}")
    for name, high in cols.d(item.get("max")).items():
        m, req, lim = _q(high), _q(requests.get(name)), _q(lims.get(name))
        if limits is None:
            if req is None:
                out.append(f"maximum {name} usage per {typ} is {high}.  No request is specified")
            elif m is not None and req > m:
                out.append(
                    f"maximum {name} usage per {typ} is {high}, but request is {requests[name]}"
                )
        elif lim is None:
            out.append(f"maximum {name} usage per {typ} is {high}.  No limit is specified")
        elif m is not None and lim > m:
            out.append(f"maximum {name} usage per {typ} is {high}, but limit is {lims[name]}")
        elif m is not None and req is not None and req > m:
            out.append(f"maximum {name} usage per {typ} is {high}, but request is {requests[name]}")
    for name, ratio in cols.d(item.get("maxLimitRequestRatio")).items():
        lim, req, r = _q(lims.get(name)), _q(requests.get(name)), _q(ratio)
        if lim is None or req is None or r is None or req == 0:
            continue
        if lim / req > r:
            out.append(
                f"{name} max limit to request ratio per {typ} is {ratio}, but provided ratio is "
                f"{float(lim / req):f}"
            )
    return out


def _forbid(what: str, problems: list[str]) -> None:
    if problems:
        text = problems[0] if len(problems) == 1 else "[" + ", ".join(problems) + "]"
        raise errors.Forbidden(f"{what} is forbidden: {text}")


def admit_pod(reg: Registry, pod: Obj) -> None:
    md = cols.d(pod.get("metadata"))
    ns = str(md.get("namespace") or "")
    spec = cols.d(pod.get("spec"))
    problems: list[str] = []
    containers = [
        cols.d(c) for c in cols.ls(spec.get("containers")) + cols.ls(spec.get("initContainers"))
    ]
    for item in _items(reg, ns, "Container"):
        for c in containers:
            res = cols.d(c.get("resources"))
            problems += _bounds(
                item, "Container", cols.d(res.get("requests")), cols.d(res.get("limits"))
            )
    for item in _items(reg, ns, "Pod"):
        total: dict[str, Obj] = {"requests": {}, "limits": {}}
        for kind, store in total.items():
            for c in cols.ls(spec.get("containers")):
                for name, v in cols.d(cols.d(cols.d(c).get("resources")).get(kind)).items():
                    q = _q(v)
                    if q is not None:
                        store[name] = store.get(name, Decimal(0)) + q
        problems += _bounds(item, "Pod", total["requests"], total["limits"])
    _forbid(f'pods "{md.get("name")}"', problems)


def admit_claim(reg: Registry, claim: Obj) -> None:
    md = cols.d(claim.get("metadata"))
    requests = cols.d(cols.d(cols.d(claim.get("spec")).get("resources")).get("requests"))
    problems: list[str] = []
    for item in _items(reg, str(md.get("namespace") or ""), "PersistentVolumeClaim"):
        problems += _bounds(item, "PersistentVolumeClaim", requests, None)
    _forbid(f'persistentvolumeclaims "{md.get("name")}"', problems)


class LimitRangeStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType("", "v1", "LimitRange", RESOURCE, "limitrange", True, ["limits"])

    def default(self, obj: Obj) -> None:
        for item in cols.ls(cols.d(obj.get("spec")).get("limits")):
            if not isinstance(item, dict) or item.get("type") != "Container":
                continue
            for name, value in cols.d(item.get("max")).items():
                item.setdefault("default", {}).setdefault(name, value)
            for name, value in cols.d(item.get("default")).items():
                item.setdefault("defaultRequest", {}).setdefault(name, value)
            for name, value in cols.d(item.get("min")).items():
                item.setdefault("defaultRequest", {}).setdefault(name, value)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        causes: list[Cause] = []
        limits = cols.d(obj.get("spec")).get("limits")
        if not isinstance(limits, list):
            return [errors.cause("spec.limits", "Required value", "FieldValueRequired")]
        for i, item in enumerate(limits):
            item = cols.d(item)
            at = f"spec.limits[{i}]"
            if item.get("type") not in TYPES:
                causes.append(
                    errors.cause(
                        f"{at}.type",
                        f'Unsupported value: "{item.get("type")}": supported values: '
                        '"Container", "Pod", "PersistentVolumeClaim"',
                        "FieldValueNotSupported",
                    )
                )
            for field in ("min", "max", "default", "defaultRequest", "maxLimitRequestRatio"):
                for name, value in cols.d(item.get(field)).items():
                    if _q(value) is None:
                        causes.append(
                            errors.cause(
                                f"{at}.{field}[{name}]",
                                f'Invalid value: "{value}": must be a quantity',
                            )
                        )
            low, high = cols.d(item.get("min")), cols.d(item.get("max"))
            for name in set(low) & set(high):
                a, b = _q(low[name]), _q(high[name])
                if a is not None and b is not None and a > b:
                    causes.append(
                        errors.cause(
                            f"{at}.min[{name}]",
                            f'Invalid value: "{low[name]}": min value {low[name]} is greater than max value {high[name]}',
                        )
                    )
            for field in ("default", "defaultRequest"):
                for name, value in cols.d(item.get(field)).items():
                    v = _q(value)
                    if v is None:
                        continue
                    if name in high and (b := _q(high[name])) is not None and v > b:
                        causes.append(
                            errors.cause(
                                f"{at}.{field}[{name}]",
                                f'Invalid value: "{value}": {field} value {value} is greater than max value {high[name]}',
                            )
                        )
                    if name in low and (a := _q(low[name])) is not None and v < a:
                        causes.append(
                            errors.cause(
                                f"{at}.{field}[{name}]",
                                f'Invalid value: "{value}": min value {low[name]} is greater than {field} value {value}',
                            )
                        )
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        defs = [tables.NAME_COLUMN, tables.column("Created At", "date")]

        def row(o: Obj, now: datetime) -> list[Any]:
            md = cols.d(o.get("metadata"))
            return [str(md.get("name") or ""), str(md.get("creationTimestamp") or "")]

        return defs, row


STRATEGY = LimitRangeStrategy()
