"""core/v1 ResourceQuota: validation, columns, usage accounting and the admission check.

A quota's ``spec.hard`` names what it caps in its namespace: object counts (``pods``,
``services``, ``configmaps``, ``secrets``, ``persistentvolumeclaims``,
``replicationcontrollers``, ``resourcequotas``, ``count/<resource>[.<group>]``), pod compute
(``requests.cpu``/``cpu``, ``requests.memory``/``memory``, ``limits.cpu``, ``limits.memory``,
``requests.nvidia.com/gpu`` or ``nvidia.com/gpu``, any ``requests.X``/``limits.X``), and claim
storage (``requests.storage``, ``<class>.storageclass.storage.k8s.io/requests.storage``).
A create that would take usage past a hard limit is refused with 403 and upstream's message
(``exceeded quota: NAME, requested: ..., used: ..., limited: ...``); usage is computed from the
stored objects at admission, so it is exact even before ``controllers/resourcequota.py``
writes ``status.used``. Scoped quotas (``scopes`` and ``scopeSelector``: Terminating,
NotTerminating, BestEffort, NotBestEffort, PriorityClass) count and check only the pods they
select; CrossNamespacePodAffinity selects nothing here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from hyperpod.apiserver import errors, tables
from hyperpod.apiserver.kinds import Cause, Obj, Row, Strategy
from hyperpod.apiserver.kinds import columns as cols
from hyperpod.apiserver.podspec import qos_class
from hyperpod.apiserver.quantity import format_quantity, parse_quantity
from hyperpod.apiserver.resources import ALL_VERBS, ResourceType

if TYPE_CHECKING:
    from hyperpod.apiserver.registry import Registry

RESOURCE = "resourcequotas"
TERMINAL = ("Succeeded", "Failed")
CLASS_SUFFIX = ".storageclass.storage.k8s.io/"
COUNTED = {
    "pods",
    "services",
    "configmaps",
    "secrets",
    "persistentvolumeclaims",
    "replicationcontrollers",
    "resourcequotas",
}
MUST_SPECIFY = {
    "cpu": "requests.cpu",
    "requests.cpu": "requests.cpu",
    "memory": "requests.memory",
    "requests.memory": "requests.memory",
    "limits.cpu": "limits.cpu",
    "limits.memory": "limits.memory",
}


def _q(value: Any) -> Decimal:
    try:
        return parse_quantity(value)
    except ValueError:
        return Decimal(0)


def show(name: str, value: Decimal) -> str:
    binary = any(w in name for w in ("memory", "storage", "hugepages"))
    return format_quantity(value, binary=binary)


def tracked_resources(name: str) -> str | None:
    """The catalog resource whose objects count against quota resource ``name``."""
    if name.startswith("count/"):
        return name[len("count/") :]
    if name in COUNTED:
        return name
    if name.startswith("services."):
        return "services"
    if name == "requests.storage" or CLASS_SUFFIX in name:
        return "persistentvolumeclaims"
    return "pods"


def _pod_amount(spec: Obj, kind: str, res: str) -> Decimal:
    def of(c: Any) -> Decimal:
        return _q(cols.d(cols.d(cols.d(c).get("resources")).get(kind)).get(res, 0))

    app = sum((of(c) for c in cols.ls(spec.get("containers"))), Decimal(0))
    init = max((of(c) for c in cols.ls(spec.get("initContainers"))), default=Decimal(0))
    overhead = _q(cols.d(spec.get("overhead")).get(res, 0))
    return max(app, init) + overhead


def contribution(resource: str, obj: Obj, name: str) -> Decimal:
    """How much ``obj`` (of catalog ``resource``) uses of quota resource ``name``."""
    if tracked_resources(name) != resource:
        return Decimal(0)
    if name.startswith("count/") or name == resource:
        if resource == "pods" and cols.d(obj.get("status")).get("phase") in TERMINAL:
            return Decimal(0)
        return Decimal(1)
    spec = cols.d(obj.get("spec"))
    if resource == "pods":
        if cols.d(obj.get("status")).get("phase") in TERMINAL:
            return Decimal(0)
        if name.startswith("limits."):
            return _pod_amount(spec, "limits", name[len("limits.") :])
        return _pod_amount(spec, "requests", name.removeprefix("requests."))
    if resource == "persistentvolumeclaims":
        storage = _q(cols.d(cols.d(spec.get("resources")).get("requests")).get("storage", 0))
        if name == "requests.storage":
            return storage
        cls, _, what = name.partition(CLASS_SUFFIX)
        if str(spec.get("storageClassName") or "") != cls:
            return Decimal(0)
        return storage if what == "requests.storage" else Decimal(1)
    if resource == "services":
        typ = spec.get("type")
        if name == "services.loadbalancers":
            return Decimal(1 if typ == "LoadBalancer" else 0)
        if name == "services.nodeports" and typ in ("NodePort", "LoadBalancer"):
            return Decimal(len(cols.ls(spec.get("ports"))))
    return Decimal(0)


SCOPES = (
    "Terminating",
    "NotTerminating",
    "BestEffort",
    "NotBestEffort",
    "PriorityClass",
    "CrossNamespacePodAffinity",
)
OPERATORS = ("In", "NotIn", "Exists", "DoesNotExist")


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _scope_causes(spec: Obj) -> list[Cause]:
    causes: list[Cause] = []
    scopes = spec.get("scopes")
    if scopes is not None and not isinstance(scopes, list):
        causes.append(errors.cause("spec.scopes", "Invalid value: must be a list of scopes"))
    for i, scope in enumerate(_list(scopes)):
        if scope not in SCOPES:
            causes.append(
                errors.cause(
                    f"spec.scopes[{i}]",
                    f'Unsupported value: "{scope}": supported values: '
                    + ", ".join(f'"{s}"' for s in SCOPES),
                    "FieldValueNotSupported",
                )
            )
    selector = spec.get("scopeSelector")
    if selector is None:
        return causes
    exprs = cols.d(selector).get("matchExpressions")
    if not isinstance(selector, dict) or not isinstance(exprs, list):
        return [
            *causes,
            errors.cause(
                "spec.scopeSelector.matchExpressions", "Required value", "FieldValueRequired"
            ),
        ]
    for i, e in enumerate(exprs):
        at = f"spec.scopeSelector.matchExpressions[{i}]"
        e = cols.d(e)
        if e.get("scopeName") not in SCOPES:
            causes.append(
                errors.cause(
                    f"{at}.scopeName",
                    f'Unsupported value: "{e.get("scopeName")}"',
                    "FieldValueNotSupported",
                )
            )
        if e.get("operator") not in OPERATORS:
            causes.append(
                errors.cause(
                    f"{at}.operator",
                    f'Unsupported value: "{e.get("operator")}": supported values: "DoesNotExist", "Exists", "In", "NotIn"',
                    "FieldValueNotSupported",
                )
            )
        values = e.get("values")
        if values is not None and not (
            isinstance(values, list) and all(isinstance(v, str) for v in values)
        ):
            causes.append(errors.cause(f"{at}.values", "Invalid value: must be a list of strings"))
        elif e.get("operator") in ("In", "NotIn") and not values:
            causes.append(
                errors.cause(
                    f"{at}.values",
                    "Required value: must be at least one value when `operator` is 'In' or 'NotIn'",
                    "FieldValueRequired",
                )
            )
    return causes


def _scope_matches(scope: str, op: str, values: list[Any], pod: Obj) -> bool:
    spec = cols.d(pod.get("spec"))
    if scope == "PriorityClass":
        name = spec.get("priorityClassName")
        if op == "Exists":
            return bool(name)
        if op == "DoesNotExist":
            return not name
        return (str(name or "") in values) == (op == "In")
    truth = {
        "Terminating": spec.get("activeDeadlineSeconds") is not None,
        "NotTerminating": spec.get("activeDeadlineSeconds") is None,
        "BestEffort": qos_class(pod) == "BestEffort",
        "NotBestEffort": qos_class(pod) != "BestEffort",
    }.get(scope, False)
    return truth if op != "DoesNotExist" else not truth


def selects(quota_spec: Obj, resource: str, obj: Obj) -> bool:
    """Whether a quota with this spec counts ``obj`` (scoped quotas count selected pods only)."""
    scopes = [str(s) for s in _list(quota_spec.get("scopes"))]
    exprs = [
        cols.d(e) for e in _list(cols.d(quota_spec.get("scopeSelector")).get("matchExpressions"))
    ]
    if not scopes and not exprs:
        return True
    if resource != "pods":
        return False
    return all(_scope_matches(s, "Exists", [], obj) for s in scopes) and all(
        _scope_matches(
            str(e.get("scopeName")), str(e.get("operator")), cols.ls(e.get("values")), obj
        )
        for e in exprs
    )


def usage(
    reg: Registry, namespace: str, names: Iterable[str], quota_spec: Obj | None = None
) -> dict[str, Decimal]:
    """Current usage in ``namespace`` of each quota resource in ``names``."""
    out: dict[str, Decimal] = {}
    listed: dict[str, list[Obj]] = {}
    for name in names:
        resource = tracked_resources(name) or ""
        if resource not in listed:
            found = reg.list(resource, namespace) if reg.catalog.get(resource) is not None else []
            listed[resource] = [o for o in found if selects(quota_spec or {}, resource, o)]
        out[name] = sum((contribution(resource, o, name) for o in listed[resource]), Decimal(0))
    return out


def _pretty(values: dict[str, Decimal]) -> str:
    return ",".join(f"{k}={show(k, v)}" for k, v in sorted(values.items()))


def _missing(pod: Obj, names: Iterable[str]) -> list[str]:
    spec = cols.d(pod.get("spec"))
    containers = [
        cols.d(c) for c in cols.ls(spec.get("containers")) + cols.ls(spec.get("initContainers"))
    ]
    out: dict[str, list[str]] = {}
    for name in names:
        need = MUST_SPECIFY.get(name)
        if need is None:
            continue
        kind, _, res = need.partition(".")
        lacking = [
            str(c.get("name"))
            for c in containers
            if res not in cols.d(cols.d(c.get("resources")).get(kind))
        ]
        if lacking:
            out[need] = lacking
    return [f"{k} for: {','.join(v)}" for k, v in sorted(out.items())]


def admit(reg: Registry, resource: str, obj: Obj) -> None:
    """Refuse (403) a create of ``obj`` that would exceed a quota of its namespace."""
    md = cols.d(obj.get("metadata"))
    ns = md.get("namespace")
    if not ns or reg.catalog.get(RESOURCE) is None:
        return
    for quota in reg.list(RESOURCE, str(ns)):
        spec = cols.d(quota.get("spec"))
        if not selects(spec, resource, obj):
            continue
        hard = {k: _q(v) for k, v in cols.d(spec.get("hard")).items()}
        relevant = [n for n in hard if tracked_resources(n) == resource]
        if not relevant:
            continue
        qname = quota["metadata"]["name"]
        what = f'{resource.split(".")[0]} "{md.get("name")}"'
        if resource == "pods" and (missing := _missing(obj, relevant)):
            raise errors.Forbidden(
                f"{what} is forbidden: failed quota: {qname}: must specify {'; '.join(missing)}"
            )
        delta = {n: contribution(resource, obj, n) for n in relevant}
        delta = {n: v for n, v in delta.items() if v > 0}
        if not delta:
            continue
        used = usage(reg, str(ns), delta, spec)
        over = [n for n in delta if used[n] + delta[n] > hard[n]]
        if over:
            raise errors.Forbidden(
                f"{what} is forbidden: exceeded quota: {qname}, "
                f"requested: {_pretty({n: delta[n] for n in over})}, "
                f"used: {_pretty({n: used[n] for n in over})}, "
                f"limited: {_pretty({n: hard[n] for n in over})}"
            )


def _split(o: Obj, limits: bool) -> str:
    status = cols.d(o.get("status"))
    hard, used = cols.d(status.get("hard")), cols.d(status.get("used"))
    parts = [
        f"{k}: {used.get(k, '0')}/{v}"
        for k, v in sorted(hard.items())
        if k.startswith("limits.") == limits
    ]
    return ", ".join(parts)


class ResourceQuotaStrategy(Strategy):
    def resource_type(self) -> ResourceType:
        return ResourceType(
            "",
            "v1",
            "ResourceQuota",
            RESOURCE,
            "resourcequota",
            True,
            ["quota"],
            [],
            list(ALL_VERBS),
            ["status"],
        )

    def prepare_for_create(self, obj: Obj) -> None:
        obj.pop("status", None)

    def validate(self, obj: Obj, old: Obj | None) -> list[Cause]:
        spec = obj.get("spec")
        if spec is not None and not isinstance(spec, dict):
            return [errors.cause("spec", "Invalid value: must be an object")]
        causes = _scope_causes(cols.d(spec))
        hard = cols.d(spec).get("hard")
        if hard is not None and not isinstance(hard, dict):
            return [errors.cause("spec.hard", "Invalid value: must be a map")]
        for k, v in (hard or {}).items():
            try:
                if parse_quantity(v) < 0:
                    causes.append(
                        errors.cause(
                            f"spec.hard[{k}]",
                            f'Invalid value: "{v}": must be greater than or equal to 0',
                        )
                    )
            except ValueError as exc:
                causes.append(errors.cause(f"spec.hard[{k}]", f'Invalid value: "{v}": {exc}'))
            if not k or k.count("/") > 2 or " " in k:
                causes.append(
                    errors.cause(
                        f"spec.hard[{k}]",
                        f'Invalid value: "{k}": must be a standard resource for quota',
                    )
                )
        return causes

    def table(self) -> tuple[list[Obj], Row]:
        defs = [
            tables.NAME_COLUMN,
            tables.AGE_COLUMN,
            tables.column(
                "Request",
                description="Request represents a minimum amount of cpu/memory that a container may consume.",
            ),
            tables.column(
                "Limit",
                description="Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node.",
            ),
        ]

        def row(o: Obj, now: datetime) -> list[Any]:
            md = cols.d(o.get("metadata"))
            return [
                str(md.get("name") or ""),
                tables.age(md.get("creationTimestamp"), now),
                _split(o, False),
                _split(o, True),
            ]

        return defs, row


STRATEGY = ResourceQuotaStrategy()
