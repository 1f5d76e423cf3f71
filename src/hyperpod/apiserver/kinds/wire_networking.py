"""Protobuf field tables of Ingress, autoscaling/v1 HorizontalPodAutoscaler and ResourceQuota.

``kubectl create ingress``, ``kubectl autoscale`` and ``kubectl create quota`` send these kinds
as protobuf (quantities as ``Quantity`` messages: the ``mapq`` reader added here). Field
numbers are those of Kubernetes' ``generated.proto`` (networking/v1, autoscaling/v1). The
rule's inline ``IngressRuleValue`` (field 2) arrives under ``ingressRuleValue`` and is
flattened right after decoding (``protobuf.FIXUPS``), before unknown fields are checked.
"""

from __future__ import annotations

from typing import Any

from hyperpod.apiserver import protobuf
from hyperpod.apiserver.protobuf import OBJECT_META, Table


def _read_quantity_map(
    out: dict[str, Any], name: str, v: int | bytes, _t: Table | None, w: str
) -> None:
    """A ``map<string, Quantity>`` entry; the Quantity message's field 1 is its string."""
    key, value = protobuf._entry(v, w)
    text = ""
    for number, _, part in protobuf._fields(value):
        if number == 1:
            text = protobuf._text(part, f"{w}[{key}]")
    out.setdefault(name, {})[key] = text


protobuf._READERS["mapq"] = _read_quantity_map

_STATUS: Table = {}
BACKEND: Table = {
    1: (
        "resource",
        "msg",
        {1: ("apiGroup", "str", None), 2: ("kind", "str", None), 3: ("name", "str", None)},
    ),
    4: (
        "service",
        "msg",
        {
            1: ("name", "str", None),
            2: ("port", "msg", {1: ("name", "str", None), 2: ("number", "int", None)}),
        },
    ),
}
HTTP_PATH: Table = {
    1: ("path", "str", None),
    2: ("backend", "msg", BACKEND),
    3: ("pathType", "str", None),
}
RULE: Table = {
    1: ("host", "str", None),
    2: ("ingressRuleValue", "msg", {1: ("http", "msg", {1: ("paths", "msgs", HTTP_PATH)})}),
}
INGRESS_SPEC: Table = {
    1: ("defaultBackend", "msg", BACKEND),
    2: ("tls", "msgs", {1: ("hosts", "strs", None), 2: ("secretName", "str", None)}),
    3: ("rules", "msgs", RULE),
    4: ("ingressClassName", "str", None),
}
HPA_V1_SPEC: Table = {
    1: (
        "scaleTargetRef",
        "msg",
        {1: ("kind", "str", None), 2: ("name", "str", None), 3: ("apiVersion", "str", None)},
    ),
    2: ("minReplicas", "int!", None),
    3: ("maxReplicas", "int!", None),
    4: ("targetCPUUtilizationPercentage", "int!", None),
}

QUOTA_SPEC: Table = {1: ("hard", "mapq", None), 2: ("scopes", "strs", None)}

NETWORKING_KINDS: dict[tuple[str, str], Table] = {
    ("v1", "ResourceQuota"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("spec", "msg", QUOTA_SPEC),
        3: ("status", "msg", _STATUS),
    },
    ("networking.k8s.io/v1", "Ingress"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("spec", "msg", INGRESS_SPEC),
        3: ("status", "msg", _STATUS),
    },
    ("autoscaling/v1", "HorizontalPodAutoscaler"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("spec", "msg", HPA_V1_SPEC),
        3: ("status", "msg", _STATUS),
    },
}


def _inline_rule_values(obj: dict[str, Any]) -> None:
    for rule in (obj.get("spec") or {}).get("rules") or []:
        if isinstance(rule, dict) and isinstance(rule.get("ingressRuleValue"), dict):
            rule.update(rule.pop("ingressRuleValue"))


protobuf.FIXUPS[("networking.k8s.io/v1", "Ingress")] = _inline_rule_values
