"""Decode the protobuf request bodies kubectl's typed clients send, into the JSON form.

kubectl's imperative generators (``kubectl create namespace|configmap|secret|serviceaccount|
role|rolebinding|clusterrole|clusterrolebinding|priorityclass|service|deployment|job``; the
workload tables are in ``kinds/wire.py``), ``kubectl drain``'s evictions, ``kubectl create
token``'s TokenRequest, ``kubectl auth can-i|whoami``'s reviews and the ``DeleteOptions`` of
typed deletes (helm's uninstall) go through client-go's typed clients, which always encode the
request body as
``application/vnd.kubernetes.protobuf``. This server stores and answers JSON, so it decodes
those bodies here and the rest of the request path never sees protobuf (responses stay JSON,
which client-go accepts).

The envelope is 4 magic bytes ``k8s\\0`` and a ``runtime.Unknown`` message: field 1 is the
TypeMeta (1 apiVersion, 2 kind) and field 2 the object's own message. Objects are read with
the field tables below, which cover the kinds above and nothing more. Go's generated code
writes every non-pointer field, even when empty, so decoding follows the JSON form's
``omitempty`` rules: empty singular strings, zero numbers and empty maps are left out unless
the table marks the field as always present. A field missing from the table is skipped when
it is empty and is an error when it carries data, so nothing the client sent is dropped in
silence: the 415 names the kind and the field and says to use a manifest.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from .errors import BadRequest, UnsupportedMediaType
from .protobuf_meta import LABEL_SELECTOR, OBJECT_META, Table

MAGIC = b"k8s\x00"
MAX_DEPTH = 32  # far more than any kind here nests

OBJECT_REFERENCE: Table = {
    1: ("kind", "str", None),
    2: ("namespace", "str", None),
    3: ("name", "str", None),
    4: ("uid", "str", None),
    5: ("apiVersion", "str", None),
    6: ("resourceVersion", "str", None),
    7: ("fieldPath", "str", None),
}
POLICY_RULE: Table = {
    1: ("verbs", "strs", None),
    2: ("apiGroups", "strs", None),
    3: ("resources", "strs", None),
    4: ("resourceNames", "strs", None),
    5: ("nonResourceURLs", "strs", None),
}
SUBJECT: Table = {
    1: ("kind", "str", None),
    2: ("apiGroup", "str", None),
    3: ("name", "str", None),
    4: ("namespace", "str", None),
}
ROLE_REF: Table = {1: ("apiGroup", "str", None), 2: ("kind", "str", None), 3: ("name", "str", None)}
SERVICE_PORT: Table = {
    1: ("name", "str", None),
    2: ("protocol", "str", None),
    3: ("port", "int!", None),
    4: ("targetPort", "intstr", None),
    5: ("nodePort", "int", None),
    6: ("appProtocol", "str", None),
}
SERVICE_SPEC: Table = {
    1: ("ports", "msgs", SERVICE_PORT),
    2: ("selector", "map", None),
    3: ("clusterIP", "str", None),
    4: ("type", "str", None),
    5: ("externalIPs", "strs", None),
    10: ("externalName", "str", None),
}
DELETE_OPTIONS: Table = {
    1: ("gracePeriodSeconds", "int!", None),
    2: ("preconditions", "msg", {1: ("uid", "str", None), 2: ("resourceVersion", "str", None)}),
    3: ("orphanDependents", "bool", None),
    4: ("propagationPolicy", "str", None),
    5: ("dryRun", "strs", None),
    6: ("ignoreStoreReadErrorWithClusterBreakingPotential", "bool", None),
}
RESOURCE_ATTRIBUTES: Table = {
    1: ("namespace", "str", None),
    2: ("verb", "str", None),
    3: ("group", "str", None),
    4: ("version", "str", None),
    5: ("resource", "str", None),
    6: ("subresource", "str", None),
    7: ("name", "str", None),
}
# Status messages are server-owned: read them only so that an empty one is accepted.
_STATUS: Table = {}

KINDS: dict[tuple[str, str], Table] = {
    ("v1", "Namespace"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("spec", "msg", {1: ("finalizers", "strs", None)}),
        3: ("status", "msg", _STATUS),
    },
    ("v1", "ConfigMap"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("data", "map", None),
        3: ("binaryData", "mapb", None),
        4: ("immutable", "bool", None),
    },
    ("v1", "Secret"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("data", "mapb", None),
        3: ("type", "str", None),
        4: ("stringData", "map", None),
        5: ("immutable", "bool", None),
    },
    ("v1", "ServiceAccount"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("secrets", "msgs", OBJECT_REFERENCE),
        3: ("imagePullSecrets", "msgs", {1: ("name", "str", None)}),
        4: ("automountServiceAccountToken", "bool", None),
    },
    ("v1", "Service"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("spec", "msg", SERVICE_SPEC),
        3: ("status", "msg", _STATUS),
    },
    ("rbac.authorization.k8s.io/v1", "Role"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("rules", "msgs", POLICY_RULE),
    },
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("rules", "msgs", POLICY_RULE),
        3: ("aggregationRule", "msg", {1: ("clusterRoleSelectors", "msgs", LABEL_SELECTOR)}),
    },
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("subjects", "msgs", SUBJECT),
        3: ("roleRef", "msg", ROLE_REF),
    },
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("subjects", "msgs", SUBJECT),
        3: ("roleRef", "msg", ROLE_REF),
    },
    ("scheduling.k8s.io/v1", "PriorityClass"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("value", "int!", None),
        3: ("globalDefault", "bool", None),
        4: ("description", "str", None),
        5: ("preemptionPolicy", "str", None),
    },
    ("authorization.k8s.io/v1", "SelfSubjectAccessReview"): {
        1: ("metadata", "msg", OBJECT_META),
        2: (
            "spec",
            "msg",
            {
                1: ("resourceAttributes", "msg", RESOURCE_ATTRIBUTES),
                2: (
                    "nonResourceAttributes",
                    "msg",
                    {1: ("path", "str", None), 2: ("verb", "str", None)},
                ),
            },
        ),
        3: ("status", "msg", _STATUS),
    },
    ("authorization.k8s.io/v1", "SelfSubjectRulesReview"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("spec", "msg", {1: ("namespace", "str", None)}),
        3: ("status", "msg", _STATUS),
    },
    ("authentication.k8s.io/v1", "SelfSubjectReview"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("status", "msg", _STATUS),
    },
    ("authentication.k8s.io/v1", "TokenRequest"): {
        1: ("metadata", "msg", OBJECT_META),
        2: (
            "spec",
            "msg",
            {
                1: ("audiences", "strs", None),
                3: (
                    "boundObjectRef",
                    "msg",
                    {
                        1: ("kind", "str", None),
                        2: ("apiVersion", "str", None),
                        3: ("name", "str", None),
                        4: ("uid", "str", None),
                    },
                ),
                4: ("expirationSeconds", "int", None),
            },
        ),
        3: ("status", "msg", _STATUS),
    },
    ("policy/v1", "Eviction"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("deleteOptions", "msg", DELETE_OPTIONS),
    },
}

_USE_A_MANIFEST = "write the object as a manifest and use kubectl apply -f (or create -f)"


class _Truncated(Exception):
    pass


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise _Truncated
        byte = buf[i]
        i += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            if result >= 1 << 64:  # ten bytes can carry 70 bits; protobuf has 64
                raise _Truncated
            return result, i
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int, int | bytes]]:
    """The (field number, wire type, value) triples of one message, in order."""
    out: list[tuple[int, int, int | bytes]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        value: int | bytes
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            size, i = _varint(buf, i)
            if i + size > len(buf):
                raise _Truncated
            value, i = buf[i : i + size], i + size
        elif wire == 1:
            value, i = int.from_bytes(buf[i : i + 8], "little"), i + 8
        elif wire == 5:
            value, i = int.from_bytes(buf[i : i + 4], "little"), i + 4
        else:
            raise _Truncated
        if i > len(buf):
            raise _Truncated
        out.append((number, wire, value))
    return out


def _signed(v: int) -> int:
    """Go writes negative int32/int64 as the 64-bit two's complement varint."""
    return v - (1 << 64) if v >= 1 << 63 else v


def _text(v: int | bytes, where: str) -> str:
    if not isinstance(v, bytes):
        raise BadRequest(f"protobuf body: {where} should be a string")
    try:
        return v.decode()
    except UnicodeDecodeError as exc:
        raise BadRequest(f"protobuf body: {where} is not valid UTF-8") from exc


def _blob(v: int | bytes, where: str) -> bytes:
    if not isinstance(v, bytes):
        raise BadRequest(f"protobuf body: {where} should be length-delimited")
    return v


def _number(v: int | bytes, where: str) -> int:
    if isinstance(v, bytes):
        raise BadRequest(f"protobuf body: {where} should be a number")
    return _signed(v)


def _entry(v: int | bytes, where: str) -> tuple[str, bytes]:
    key = ""
    value = b""
    for number, _, part in _fields(_blob(v, where)):
        if number == 1:
            key = _text(part, where)
        elif number == 2:
            value = _blob(part, where)
    return key, value


def _time(v: int | bytes, where: str) -> str | None:
    seconds = 0
    for number, _, part in _fields(_blob(v, where)):
        if number == 1:
            seconds = _number(part, where)
    if seconds == 0:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (ValueError, OverflowError, OSError) as exc:
        raise BadRequest(f"protobuf body: {where} is not a valid time ({seconds} s)") from exc


def _intstr(v: int | bytes, where: str) -> int | str:
    kind, number, text = 0, 0, ""
    for n, _, part in _fields(_blob(v, where)):
        if n == 1:
            kind = _number(part, where)
        elif n == 2:
            number = _number(part, where)
        elif n == 3:
            text = _text(part, where)
    return text if kind == 1 else number


def _is_empty(wire: int, v: int | bytes, depth: int = 0) -> bool:
    if wire == 2:
        assert isinstance(v, bytes)
        if not v:
            return True
        if depth >= MAX_DEPTH:
            return False
        # A message whose fields are all empty (a string is empty only when it has no bytes).
        try:
            return all(_is_empty(w, p, depth + 1) for _, w, p in _fields(v))
        except _Truncated:
            return False
    return v == 0


def _message(buf: bytes, table: Table, where: str) -> dict[str, Any]:
    if where.count(".") >= MAX_DEPTH:
        raise BadRequest(f"protobuf body: {where} is nested too deeply")
    out: dict[str, Any] = {}
    for number, wire, value in _fields(buf):
        spec = table.get(number)
        if spec is None:
            if _is_empty(wire, value):
                continue
            raise UnsupportedMediaType(
                f"protobuf body: field {number} of {where} is not understood by the local API "
                f"server; {_USE_A_MANIFEST} instead"
            )
        name, reader, nested = spec
        path = f"{where}.{name}"
        _READERS[reader](out, name, value, nested, path)
    return out


def _read_str(out: dict[str, Any], name: str, v: int | bytes, _t: Table | None, w: str) -> None:
    text = _text(v, w)
    if text:
        out[name] = text


def _read_strs(out: dict[str, Any], name: str, v: int | bytes, _t: Table | None, w: str) -> None:
    out.setdefault(name, []).append(_text(v, w))


def _read_bytes(out: dict[str, Any], name: str, v: int | bytes, _t: Table | None, w: str) -> None:
    out[name] = base64.b64encode(_blob(v, w)).decode()


def _read_int(out: dict[str, Any], name: str, v: int | bytes, _t: Table | None, w: str) -> None:
    number = _number(v, w)
    if number:
        out[name] = number


def _read_int_always(
    out: dict[str, Any], name: str, v: int | bytes, _t: Table | None, w: str
) -> None:
    out[name] = _number(v, w)


def _read_bool(out: dict[str, Any], name: str, v: int | bytes, _t: Table | None, w: str) -> None:
    out[name] = bool(_number(v, w))


def _read_msg(out: dict[str, Any], name: str, v: int | bytes, t: Table | None, w: str) -> None:
    assert t is not None
    out[name] = _message(_blob(v, w), t, w)


def _read_msgs(out: dict[str, Any], name: str, v: int | bytes, t: Table | None, w: str) -> None:
    assert t is not None
    out.setdefault(name, []).append(_message(_blob(v, w), t, w))


def _read_map(out: dict[str, Any], name: str, v: int | bytes, _t: Table | None, w: str) -> None:
    key, value = _entry(v, w)
    try:
        out.setdefault(name, {})[key] = value.decode()
    except UnicodeDecodeError as exc:
        raise BadRequest(f"protobuf body: {w}[{key}] is not valid UTF-8") from exc


def _read_mapb(out: dict[str, Any], name: str, v: int | bytes, _t: Table | None, w: str) -> None:
    key, value = _entry(v, w)
    out.setdefault(name, {})[key] = base64.b64encode(value).decode()


def _read_time(out: dict[str, Any], name: str, v: int | bytes, _t: Table | None, w: str) -> None:
    stamp = _time(v, w)
    if stamp is not None:
        out[name] = stamp


def _read_intstr(out: dict[str, Any], name: str, v: int | bytes, _t: Table | None, w: str) -> None:
    out[name] = _intstr(v, w)


_READERS: dict[str, Callable[[dict[str, Any], str, int | bytes, Table | None, str], None]] = {
    "str": _read_str,
    "strs": _read_strs,
    "bytes": _read_bytes,
    "int": _read_int,
    "int!": _read_int_always,
    "bool": _read_bool,
    "msg": _read_msg,
    "msgs": _read_msgs,
    "map": _read_map,
    "mapb": _read_mapb,
    "time": _read_time,
    "intstr": _read_intstr,
}


def _quantity(value: bytes, where: str) -> str | None:
    """A ``Quantity`` message's string form (its field 1); None when it has none."""
    text = None
    for number, _, part in _fields(value):
        if number == 1:
            text = _text(part, where)
    return text


def _read_quantity_map(
    out: dict[str, Any], name: str, v: int | bytes, _t: Table | None, w: str
) -> None:
    """A ``map<string, Quantity>`` entry."""
    key, value = _entry(v, w)
    out.setdefault(name, {})[key] = _quantity(value, f"{w}[{key}]") or ""


def _read_quantity(
    out: dict[str, Any], name: str, v: int | bytes, _t: Table | None, w: str
) -> None:
    """One ``Quantity`` field."""
    text = _quantity(_blob(v, w), w)
    if text is not None:
        out[name] = text


_READERS["mapq"] = _read_quantity_map
_READERS["q"] = _read_quantity


def _inline_rule_values(obj: dict[str, Any]) -> None:
    for rule in (obj.get("spec") or {}).get("rules") or []:
        if isinstance(rule, dict) and isinstance(rule.get("ingressRuleValue"), dict):
            rule.update(rule.pop("ingressRuleValue"))


# Per-kind changes that turn a decoded message into its JSON form where the two differ (a
# message embedded inline in Go has a field number of its own in protobuf).
FIXUPS: dict[tuple[str, str], Callable[[dict[str, Any]], None]] = {
    ("networking.k8s.io/v1", "Ingress"): _inline_rule_values,
}


def decode(raw: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object of one of the kinds in :data:`KINDS`."""
    if not raw.startswith(MAGIC):
        raise BadRequest("protobuf body: it does not start with the Kubernetes magic bytes k8s\\0")
    try:
        envelope = _fields(raw[len(MAGIC) :])
        api_version = kind = ""
        body = b""
        for number, _, value in envelope:
            if number == 1:
                for n, _, part in _fields(_blob(value, "typeMeta")):
                    if n == 1:
                        api_version = _text(part, "apiVersion")
                    elif n == 2:
                        kind = _text(part, "kind")
            elif number == 2:
                body = _blob(value, "raw")
        table = KINDS.get((api_version, kind))
        if kind == "DeleteOptions":
            # client-go's typed deletes send it under the target's group version (or meta's).
            table = DELETE_OPTIONS
        if table is None:
            raise UnsupportedMediaType(
                f"protobuf bodies are understood for {_kind_list()} only, not "
                f"{kind or '(no kind)'} {api_version}; {_USE_A_MANIFEST} instead"
            )
        obj = _message(body, table, kind)
        fixup = FIXUPS.get((api_version, kind))
        if fixup is not None:
            fixup(obj)
    except _Truncated as exc:
        raise BadRequest("protobuf body: it is truncated or malformed") from exc
    return {"apiVersion": api_version, "kind": kind, **obj}


def _kind_list() -> str:
    return ", ".join(kind for _, kind in KINDS) + ", DeleteOptions"


# Workload kinds keep their tables next to their strategies.
from hyperpod.apiserver.kinds.wire import WORKLOAD_KINDS  # noqa: E402

KINDS.update(WORKLOAD_KINDS)
from hyperpod.apiserver.kinds.wire_networking import NETWORKING_KINDS  # noqa: E402

KINDS.update(NETWORKING_KINDS)
