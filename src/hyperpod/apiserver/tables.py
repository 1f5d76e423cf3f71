"""Server-side printing: ``meta.k8s.io/v1`` Tables for ``kubectl get``.

Built-in kinds get kubectl's columns (pods' STATUS is computed the way kubectl computes it);
custom resources get their CRD's ``additionalPrinterColumns`` evaluated with a small JSONPath
subset (``.a.b``, ``[0]``, ``[*]``, ``['key']``, ``[?(@.field=="value")]`` with ``==``/``!=``);
everything else gets NAME and AGE. Ages read like kubectl's (``5m3s``, ``2d``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from hyperpod.apiserver import kinds
from hyperpod.apiserver.jsonpath import jsonpath as jsonpath
from hyperpod.apiserver.table_cells import (
    AGE_COLUMN,
    NAME_COLUMN,
    NONE,
    _created,
    _d,
    _l,
    _meta,
    _name,
    age,
    column,
    parse_time,
)
from hyperpod.apiserver.table_cells import human_age as human_age
from hyperpod.apiserver.table_pods import (
    _POD_COLUMNS,
    _pod_row,
)
from hyperpod.apiserver.table_pods import pod_status as pod_status

Obj = dict[str, Any]

# --- other built-in kinds ------------------------------------------------------------------


def node_status(node: Obj) -> str:
    ready = "Unknown"
    for c in _l(_d(node.get("status")).get("conditions")):
        c = _d(c)
        if c.get("type") == "Ready":
            ready = {"True": "Ready", "False": "NotReady"}.get(str(c.get("status")), "Unknown")
    if _d(node.get("spec")).get("unschedulable"):
        ready += ",SchedulingDisabled"
    return ready


def node_roles(node: Obj) -> str:
    roles: set[str] = set()
    for key, value in (_meta(node).get("labels") or {}).items():
        if key.startswith("node-role.kubernetes.io/"):
            role = key.split("/", 1)[1]
            if role:
                roles.add(role)
        elif key == "kubernetes.io/role" and value:
            roles.add(str(value))
    return ",".join(sorted(roles)) or NONE


def _node_row(node: Obj, now: datetime) -> list[Any]:
    status = _d(node.get("status"))
    info = _d(status.get("nodeInfo"))
    addresses = {_d(a).get("type"): _d(a).get("address") for a in _l(status.get("addresses"))}
    return [
        _name(node),
        node_status(node),
        node_roles(node),
        _created(node, now),
        info.get("kubeletVersion") or "",
        addresses.get("InternalIP") or NONE,
        addresses.get("ExternalIP") or NONE,
        info.get("osImage") or "<unknown>",
        info.get("kernelVersion") or "<unknown>",
        info.get("containerRuntimeVersion") or "<unknown>",
    ]


_NODE_COLUMNS = [
    NAME_COLUMN,
    column("Status", description="The status of the node"),
    column("Roles", description="The roles of the node"),
    AGE_COLUMN,
    column("Version", description="Kubelet Version reported by the node."),
    column("Internal-IP", priority=1),
    column("External-IP", priority=1),
    column("OS-Image", priority=1),
    column("Kernel-Version", priority=1),
    column("Container-Runtime", priority=1),
]


def _event_row(ev: Obj, now: datetime) -> list[Any]:
    last = (
        ev.get("lastTimestamp")
        or ev.get("eventTime")
        or _d(ev.get("series")).get("lastObservedTime")
    )
    first = ev.get("firstTimestamp") or ev.get("eventTime")
    count = int(ev.get("count") or _d(ev.get("series")).get("count") or 1)
    last_seen = age(last or first or _meta(ev).get("creationTimestamp"), now)
    if count > 1 and first:
        last_seen = f"{last_seen} (x{count} over {age(first, now)})"
    inv = _d(ev.get("involvedObject"))
    obj_text = f"{str(inv.get('kind') or '').lower()}/{inv.get('name') or ''}"
    source = _d(ev.get("source"))
    source_text = ev.get("reportingComponent") or source.get("component") or ""
    if source.get("host"):
        source_text = f"{source_text}, {source['host']}"
    return [
        last_seen,
        ev.get("type") or "",
        ev.get("reason") or "",
        obj_text,
        ev.get("message") or "",
        inv.get("fieldPath") or "",
        source_text,
        age(first, now) if first else NONE,
        count,
        _name(ev),
    ]


_EVENT_COLUMNS = [
    column("Last Seen"),
    column("Type"),
    column("Reason"),
    column("Object"),
    column("Message"),
    column("Subobject", priority=1),
    column("Source", priority=1),
    column("First Seen", priority=1),
    column("Count", "integer", priority=1),
    column("Name", priority=1, fmt="name"),
]


def _service_row(svc: Obj, now: datetime) -> list[Any]:
    spec = _d(svc.get("spec"))
    ports = []
    for p in _l(spec.get("ports")):
        p = _d(p)
        text = str(p.get("port", ""))
        if p.get("nodePort"):
            text += f":{p['nodePort']}"
        ports.append(f"{text}/{p.get('protocol', 'TCP')}")
    external = _l(spec.get("externalIPs")) + [
        _d(i).get("ip") or _d(i).get("hostname")
        for i in _l(_d(_d(svc.get("status")).get("loadBalancer")).get("ingress"))
    ]
    if spec.get("type") == "ExternalName":
        external = [spec.get("externalName")]
    selector = ",".join(f"{k}={v}" for k, v in sorted(_d(spec.get("selector")).items()))
    external_text = ",".join(str(e) for e in external if e) or (
        "<pending>" if spec.get("type") == "LoadBalancer" else NONE
    )
    return [
        _name(svc),
        spec.get("type") or "ClusterIP",
        spec.get("clusterIP") or NONE,
        external_text,
        ",".join(ports) or NONE,
        _created(svc, now),
        selector or NONE,
    ]


_SERVICE_COLUMNS = [
    NAME_COLUMN,
    column("Type"),
    column("Cluster-IP"),
    column("External-IP"),
    column("Port(s)"),
    AGE_COLUMN,
    column("Selector", priority=1),
]


def _simple(
    *cols: tuple[str, str, Callable[[Obj], Any]],
) -> tuple[list[Obj], Callable[[Obj, datetime], list[Any]]]:
    """NAME, the given columns, then AGE."""
    defs = [NAME_COLUMN, *(column(n, t) for n, t, _ in cols), AGE_COLUMN]

    def row(obj: Obj, now: datetime) -> list[Any]:
        return [_name(obj), *(f(obj) for _, _, f in cols), _created(obj, now)]

    return defs, row


def _role_ref(obj: Obj) -> str:
    ref = _d(obj.get("roleRef"))
    return f"{ref.get('kind', '')}/{ref.get('name', '')}"


def _endpoints(obj: Obj) -> str:
    out: list[str] = []
    for subset in _l(obj.get("subsets")):
        ports = [_d(p).get("port") for p in _l(_d(subset).get("ports"))] or [None]
        for addr in _l(_d(subset).get("addresses")):
            for port in ports:
                ip = _d(addr).get("ip")
                out.append(f"{ip}:{port}" if port is not None else str(ip))
    if not out:
        return NONE
    return ",".join(out[:3]) + (f" + {len(out) - 3} more..." if len(out) > 3 else "")


def _slice_ports(obj: Obj) -> str:
    ports = [str(_d(p).get("port")) for p in _l(obj.get("ports")) if _d(p).get("port")]
    return ",".join(ports) if ports else "<unset>"


def _slice_endpoints(obj: Obj) -> str:
    out = [str(a) for ep in _l(obj.get("endpoints")) for a in _l(_d(ep).get("addresses"))]
    if not out:
        return "<unset>"
    return ",".join(out[:3]) + (f" + {len(out) - 3} more..." if len(out) > 3 else "")


_TABLES: dict[str, tuple[list[Obj], Callable[[Obj, datetime], list[Any]]]] = {
    "Pod": (_POD_COLUMNS, _pod_row),
    "Node": (_NODE_COLUMNS, _node_row),
    "Event": (_EVENT_COLUMNS, _event_row),
    "Service": (_SERVICE_COLUMNS, _service_row),
    "Namespace": _simple(("Status", "string", lambda o: _d(o.get("status")).get("phase") or "")),
    "ConfigMap": _simple(
        ("Data", "integer", lambda o: len(_d(o.get("data"))) + len(_d(o.get("binaryData"))))
    ),
    "Secret": _simple(
        ("Type", "string", lambda o: o.get("type") or "Opaque"),
        ("Data", "integer", lambda o: len(_d(o.get("data")))),
    ),
    "ServiceAccount": _simple(("Secrets", "integer", lambda o: len(_l(o.get("secrets"))))),
    "Endpoints": _simple(("Endpoints", "string", _endpoints)),
    "EndpointSlice": _simple(
        ("AddressType", "string", lambda o: o.get("addressType") or ""),
        ("Ports", "string", _slice_ports),
        ("Endpoints", "string", _slice_endpoints),
    ),
    "Lease": _simple(("Holder", "string", lambda o: _d(o.get("spec")).get("holderIdentity") or "")),
    "PriorityClass": _simple(
        ("Value", "integer", lambda o: o.get("value", 0)),
        ("Global-Default", "boolean", lambda o: bool(o.get("globalDefault"))),
    ),
    "RoleBinding": _simple(("Role", "string", _role_ref)),
    "ClusterRoleBinding": _simple(("Role", "string", _role_ref)),
}
_CREATED_AT = {"CustomResourceDefinition", "Role", "ClusterRole"}


def _created_at_table() -> tuple[list[Obj], Callable[[Obj, datetime], list[Any]]]:
    defs = [NAME_COLUMN, column("Created At", "date")]

    def row(obj: Obj, now: datetime) -> list[Any]:
        return [_name(obj), _meta(obj).get("creationTimestamp") or NONE]

    return defs, row


def _priority_class_table() -> tuple[list[Obj], Callable[[Obj, datetime], list[Any]]]:
    defs, base = _TABLES["PriorityClass"]
    defs = [*defs, column("PreemptionPolicy")]

    def row(obj: Obj, now: datetime) -> list[Any]:
        return [*base(obj, now), obj.get("preemptionPolicy") or "PreemptLowerPriority"]

    return defs, row


_TABLES["PriorityClass"] = _priority_class_table()
_DEFAULT = _simple()


# --- printer columns -----------------------------------------------------------------------


def _typed_cell(values: list[Any], typ: str, now: datetime) -> Any:
    """Like the apiserver: only the first result counts; a value of the wrong type is empty."""
    if not values or values[0] is None:
        return None
    value = values[0]
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if typ == "date":
        return age(value, now) if parse_time(value) else "<invalid>"
    if typ == "integer":
        return int(value) if number else None
    if typ == "number":
        return value if number else None
    if typ == "boolean":
        return value if isinstance(value, bool) else None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if number and typ != "string" else json.dumps(value)


def _printer_table(
    printer_columns: list[Obj],
) -> tuple[list[Obj], Callable[[Obj, datetime], list[Any]]]:
    cols = printer_columns or [
        {"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"}
    ]
    defs = [NAME_COLUMN] + [
        column(
            str(c.get("name", "")),
            str(c.get("type") or "string"),
            int(c.get("priority") or 0),
            str(c.get("format") or ""),
            str(c.get("description") or c.get("name") or ""),
        )
        for c in cols
    ]

    def row(obj: Obj, now: datetime) -> list[Any]:
        cells: list[Any] = [_name(obj)]
        for c in cols:
            values = jsonpath(obj, str(c.get("jsonPath") or ""))
            cells.append(_typed_cell(values, str(c.get("type") or "string"), now))
        return cells

    return defs, row


def to_table(
    kind: str,
    objs: list[Obj],
    *,
    printer_columns: list[Obj] | None = None,
    include_object: str = "Metadata",
    now: datetime | None = None,
) -> Obj:
    """A ``meta.k8s.io/v1`` Table of ``objs`` (kubectl's columns for ``kind``).

    ``printer_columns`` (a CRD version's ``additionalPrinterColumns``, possibly empty) selects
    custom-resource printing. ``include_object`` is ``Metadata`` (PartialObjectMetadata),
    ``Object`` (the whole object) or ``None``.
    """
    when = now or datetime.now(UTC)
    if printer_columns is not None:
        defs, row = _printer_table(printer_columns)
    elif kind in _TABLES:
        defs, row = _TABLES[kind]
    elif (strategy := kinds.strategy_for(kind)) is not None and (made := strategy.table()):
        defs, row = made
    elif kind in _CREATED_AT:
        defs, row = _created_at_table()
    else:
        defs, row = _DEFAULT
    rows: list[Obj] = []
    for obj in objs:
        entry: Obj = {"cells": row(obj, when)}
        if include_object == "Object":
            entry["object"] = obj
        elif include_object != "None":
            entry["object"] = {
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": _meta(obj),
            }
        rows.append(entry)
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": {},
        "columnDefinitions": [dict(d) for d in defs],
        "rows": rows,
    }
