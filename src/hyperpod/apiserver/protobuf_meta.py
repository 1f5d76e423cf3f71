"""Protobuf field tables shared by every kind: the table shape, ObjectMeta, LabelSelector.

The decoder is :mod:`hyperpod.apiserver.protobuf`; per-kind tables sit there and, for the
workload kinds, in :mod:`hyperpod.apiserver.kinds.wire`.
"""

from __future__ import annotations

# A field: (JSON name, how to read it, nested message table or None).
# Readers: "str", "strs" (repeated string), "bytes" (base64 in JSON), "int" (0 left out),
# "int!" (always present), "bool", "msg", "msgs", "map" (string->string), "mapb"
# (string->bytes, base64 values), "time" (meta Time), "intstr" (IntOrString).
Field = tuple[str, str, "Table | None"]
Table = dict[int, Field]

OWNER_REFERENCE: Table = {
    1: ("kind", "str", None),
    3: ("name", "str", None),
    4: ("uid", "str", None),
    5: ("apiVersion", "str", None),
    6: ("controller", "bool", None),
    7: ("blockOwnerDeletion", "bool", None),
}
OBJECT_META: Table = {
    1: ("name", "str", None),
    2: ("generateName", "str", None),
    3: ("namespace", "str", None),
    4: ("selfLink", "str", None),
    5: ("uid", "str", None),
    6: ("resourceVersion", "str", None),
    7: ("generation", "int", None),
    8: ("creationTimestamp", "time", None),
    9: ("deletionTimestamp", "time", None),
    10: ("deletionGracePeriodSeconds", "int", None),
    11: ("labels", "map", None),
    12: ("annotations", "map", None),
    13: ("ownerReferences", "msgs", OWNER_REFERENCE),
    14: ("finalizers", "strs", None),
}
LABEL_SELECTOR: Table = {
    1: ("matchLabels", "map", None),
    2: (
        "matchExpressions",
        "msgs",
        {1: ("key", "str", None), 2: ("operator", "str", None), 3: ("values", "strs", None)},
    ),
}
