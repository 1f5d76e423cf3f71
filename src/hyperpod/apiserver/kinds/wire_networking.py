"""Protobuf field tables of Ingress, HorizontalPodAutoscaler (autoscaling/v1 and v2), ResourceQuota.

``kubectl create ingress``, ``kubectl autoscale`` and ``kubectl create quota`` send these kinds
as protobuf (quantities as ``Quantity`` messages: the ``mapq`` and ``q`` readers). kubectl 1.37
sends ``autoscale`` as autoscaling/v2 first and falls back to v1 only when v2 is refused. Field
numbers are those of Kubernetes' ``generated.proto`` (networking/v1, autoscaling/v1 and v2); of
v2's metric sources the tables cover Resource and ContainerResource (what ``kubectl autoscale
--cpu/--memory`` writes); the others and ``behavior`` get the 415 that says to use a manifest. The
rule's inline ``IngressRuleValue`` (field 2) arrives under ``ingressRuleValue`` and is
flattened right after decoding (``protobuf.FIXUPS``), before unknown fields are checked; the
``mapq`` reader (``map<string, Quantity>``) is the decoder's.
"""

from __future__ import annotations

from hyperpod.apiserver.protobuf_meta import OBJECT_META, Table

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
_TARGET_REF: Table = {
    1: ("kind", "str", None),
    2: ("name", "str", None),
    3: ("apiVersion", "str", None),
}
METRIC_TARGET: Table = {
    1: ("type", "str", None),
    2: ("value", "q", None),
    3: ("averageValue", "q", None),
    4: ("averageUtilization", "int!", None),
}
HPA_V2_SPEC: Table = {
    1: ("scaleTargetRef", "msg", _TARGET_REF),
    2: ("minReplicas", "int!", None),
    3: ("maxReplicas", "int!", None),
    4: (
        "metrics",
        "msgs",
        {
            1: ("type", "str", None),
            4: ("resource", "msg", {1: ("name", "str", None), 2: ("target", "msg", METRIC_TARGET)}),
            7: (
                "containerResource",
                "msg",
                {
                    1: ("name", "str", None),
                    2: ("target", "msg", METRIC_TARGET),
                    3: ("container", "str", None),
                },
            ),
        },
    ),
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
    ("autoscaling/v2", "HorizontalPodAutoscaler"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("spec", "msg", HPA_V2_SPEC),
        3: ("status", "msg", _STATUS),
    },
}
