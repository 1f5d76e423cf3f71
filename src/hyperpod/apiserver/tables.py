"""Server-side printing: ``meta.k8s.io/v1`` Tables for ``kubectl get``.

Built-in kinds get kubectl's columns (pods' STATUS is computed the way kubectl computes it);
custom resources get their CRD's ``additionalPrinterColumns`` evaluated with a small JSONPath
subset (``.a.b``, ``[0]``, ``[*]``, ``['key']``, ``[?(@.field=="value")]`` with ``==``/``!=``);
everything else gets NAME and AGE. Ages read like kubectl's (``5m3s``, ``2d``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from hyperpod.apiserver import kinds

Obj = dict[str, Any]
NONE = "<none>"


# --- ages ----------------------------------------------------------------------------------


def human_age(seconds: float) -> str:
    """kubectl's ``HumanDuration``: ``45s``, ``5m3s``, ``3h10m``, ``2d4h``, ``1y20d``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        rest = s % 60
        return f"{minutes}m" if rest == 0 else f"{minutes}m{rest}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        rest = minutes % 60
        return f"{hours}h" if rest == 0 else f"{hours}h{rest}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        rest = hours % 24
        return f"{hours // 24}d" if rest == 0 else f"{hours // 24}d{rest}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        days = (hours // 24) % 365
        years = hours // 24 // 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    return _parse_time(value)


@lru_cache(maxsize=4096)
def _parse_time(value: str) -> datetime | None:
    try:
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=UTC)


def age(value: Any, now: datetime) -> str:
    t = parse_time(value)
    if t is None:
        return NONE
    return human_age((now - t).total_seconds())


# --- JSONPath subset -----------------------------------------------------------------------

_FILTER = re.compile(r"""^\?\(@((?:\.[A-Za-z0-9_\-/\\.]+)+)\s*(==|!=)\s*(.+)\)$""")


def _split_path(path: str) -> list[str]:
    """Tokens of ``.a.b[0]['c'][?(@.x=="y")]``: names, bracket contents."""
    text = path.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if text.startswith("$"):
        text = text[1:]
    tokens: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == ".":
            i += 1
            start = i
            name = ""
            while i < len(text) and text[i] not in ".[":
                if text[i] == "\\" and i + 1 < len(text):
                    name += text[i + 1]
                    i += 2
                    continue
                name += text[i]
                i += 1
            if name or i > start:
                tokens.append("." + name)
        elif ch == "[":
            depth = 0
            j = i
            quote: str | None = None
            while j < len(text):
                c = text[j]
                if quote:
                    if c == quote:
                        quote = None
                elif c in "'\"":
                    quote = c
                elif c == "[":
                    depth += 1
                elif c == "]":
                    depth -= 1
                    if depth == 0:
                        break
                j += 1
            tokens.append("[" + text[i + 1 : j])
            i = j + 1
        else:
            start = i
            while i < len(text) and text[i] not in ".[":
                i += 1
            tokens.append("." + text[start:i])
    return tokens


def _literal(text: str) -> Any:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        return text


def jsonpath(obj: Any, path: str) -> list[Any]:
    """Values selected by a simple JSONPath (empty when nothing matches)."""
    current = [obj]
    for token in _split_path(path):
        nxt: list[Any] = []
        if token.startswith("."):
            name = token[1:]
            for v in current:
                if name == "" or name == "*":
                    if isinstance(v, dict):
                        nxt.extend(v.values())
                    elif isinstance(v, list):
                        nxt.extend(v)
                    elif name == "":
                        nxt.append(v)
                elif isinstance(v, dict) and name in v:
                    nxt.append(v[name])
        else:
            inner = token[1:].strip()
            flt = _FILTER.match(inner)
            for v in current:
                if flt:
                    if not isinstance(v, list):
                        continue
                    sub, op, lit = flt.group(1), flt.group(2), _literal(flt.group(3))
                    for item in v:
                        got = jsonpath(item, sub)
                        hit = bool(got) and got[0] == lit
                        if (op == "==" and hit) or (op == "!=" and got and not hit):
                            nxt.append(item)
                elif inner == "*":
                    if isinstance(v, list):
                        nxt.extend(v)
                    elif isinstance(v, dict):
                        nxt.extend(v.values())
                elif inner[:1] in "'\"":
                    key = _literal(inner)
                    if isinstance(v, dict) and key in v:
                        nxt.append(v[key])
                elif re.fullmatch(r"-?\d+", inner):
                    idx = int(inner)
                    if isinstance(v, list) and -len(v) <= idx < len(v):
                        nxt.append(v[idx])
                elif re.fullmatch(r"-?\d*:-?\d*", inner):
                    lo, hi = inner.split(":")
                    if isinstance(v, list):
                        nxt.extend(v[int(lo) if lo else None : int(hi) if hi else None])
        current = nxt
    return current


# --- columns -------------------------------------------------------------------------------


def column(
    name: str, typ: str = "string", priority: int = 0, fmt: str = "", description: str = ""
) -> Obj:
    return {
        "name": name,
        "type": typ,
        "format": fmt,
        "description": description or name,
        "priority": priority,
    }


NAME_COLUMN = column(
    "Name",
    fmt="name",
    description="Name must be unique within a namespace. It is required when creating resources.",
)
AGE_COLUMN = column(
    "Age",
    description="CreationTimestamp is a timestamp representing the server time when this object was created.",
)


def _meta(obj: Obj) -> Obj:
    md = obj.get("metadata")
    return md if isinstance(md, dict) else {}


def _d(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _l(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _name(obj: Obj) -> str:
    return str(_meta(obj).get("name") or "")


def _created(obj: Obj, now: datetime) -> str:
    return age(_meta(obj).get("creationTimestamp"), now)


# --- pods ----------------------------------------------------------------------------------


def _finished_at(cs: Obj) -> datetime | None:
    last = cs.get("lastState")
    terminated = last.get("terminated") if isinstance(last, dict) else None
    return parse_time(terminated.get("finishedAt")) if isinstance(terminated, dict) else None


def _condition_true(conditions: list[Any], kind: str) -> bool:
    return any(
        isinstance(c, dict) and c.get("type") == kind and c.get("status") == "True"
        for c in conditions
    )


def pod_status(pod: Obj) -> tuple[str, int, int, int, datetime | None]:
    """(STATUS, ready containers, total containers, restarts, last restart) like kubectl."""
    spec, status = _d(pod.get("spec")), _d(pod.get("status"))
    total = len(_l(spec.get("containers")))
    reason = str(status.get("reason") or status.get("phase") or "Pending")
    conditions = _l(status.get("conditions"))
    for cond in conditions:
        if (
            isinstance(cond, dict)
            and cond.get("type") == "PodScheduled"
            and cond.get("reason") == "SchedulingGated"
        ):
            reason = "SchedulingGated"
    restarts = 0
    ready = 0
    last_restart: datetime | None = None
    initializing = False
    init_statuses = _l(status.get("initContainerStatuses"))
    if init_statuses:
        init_specs = _l(spec.get("initContainers"))
        for i, cs in enumerate(init_statuses):
            cs = _d(cs)
            count = int(cs.get("restartCount") or 0)
            restarts += count
            if count:
                finished = _finished_at(cs)
                if finished is not None and (last_restart is None or finished > last_restart):
                    last_restart = finished
            state = _d(cs.get("state"))
            terminated, waiting = state.get("terminated"), state.get("waiting")
            sidecar = i < len(init_specs) and _d(init_specs[i]).get("restartPolicy") == "Always"
            if isinstance(terminated, dict) and int(terminated.get("exitCode") or 0) == 0:
                continue
            if sidecar and cs.get("started"):
                continue
            if isinstance(terminated, dict):
                if terminated.get("reason"):
                    reason = "Init:" + str(terminated["reason"])
                elif terminated.get("signal"):
                    reason = f"Init:Signal:{terminated['signal']}"
                else:
                    reason = f"Init:ExitCode:{terminated.get('exitCode', 0)}"
            elif (
                isinstance(waiting, dict)
                and waiting.get("reason")
                and waiting["reason"] != "PodInitializing"
            ):
                reason = "Init:" + str(waiting["reason"])
            else:
                reason = f"Init:{i}/{len(init_specs)}"
            initializing = True
            break
    if not initializing or _condition_true(conditions, "Initialized"):
        restarts = 0
        has_running = False
        for cs in reversed(_l(status.get("containerStatuses"))):
            if not isinstance(cs, dict):
                continue
            count = int(cs.get("restartCount") or 0)
            if count:
                restarts += count
                finished = _finished_at(cs)
                if finished is not None and (last_restart is None or finished > last_restart):
                    last_restart = finished
            state = _d(cs.get("state"))
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if isinstance(waiting, dict) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(terminated, dict) and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif isinstance(terminated, dict):
                if terminated.get("signal"):
                    reason = f"Signal:{terminated['signal']}"
                else:
                    reason = f"ExitCode:{terminated.get('exitCode', 0)}"
            elif cs.get("ready") and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(conditions, "Ready") else "NotReady"
    deleting = _meta(pod).get("deletionTimestamp")
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason, ready, total, restarts, last_restart


def _pod_row(pod: Obj, now: datetime) -> list[Any]:
    reason, ready, total, restarts, last = pod_status(pod)
    restart_text = str(restarts)
    if restarts and last is not None:
        restart_text = f"{restarts} ({human_age((now - last).total_seconds())} ago)"
    spec, status = _d(pod.get("spec")), _d(pod.get("status"))
    gates = _l(spec.get("readinessGates"))
    gates_text = NONE
    if gates:
        wanted = {_d(g).get("conditionType") for g in gates}
        true = sum(
            1
            for c in _l(status.get("conditions"))
            if _d(c).get("type") in wanted and _d(c).get("status") == "True"
        )
        gates_text = f"{true}/{len(gates)}"
    return [
        _name(pod),
        f"{ready}/{total}",
        reason,
        restart_text,
        _created(pod, now),
        status.get("podIP") or NONE,
        spec.get("nodeName") or NONE,
        status.get("nominatedNodeName") or NONE,
        gates_text,
    ]


_POD_COLUMNS = [
    NAME_COLUMN,
    column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    column("Status", description="The aggregate status of the containers in this pod."),
    column(
        "Restarts",
        description="The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE_COLUMN,
    column("IP", priority=1, description="IP address allocated to the pod."),
    column("Node", priority=1, description="Name of the node the pod is assigned to."),
    column(
        "Nominated Node",
        priority=1,
        description="Name of the node where the pod is nominated to run.",
    ),
    column("Readiness Gates", priority=1, description="Pod readiness gates."),
]


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
