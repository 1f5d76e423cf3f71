"""Protobuf field tables of the workload kinds (``kubectl create deployment|job`` send protobuf).

Field numbers are those of Kubernetes' ``generated.proto`` for apps/v1 and batch/v1. Pointer
integers (replicas, parallelism, ...) read as always present: Go writes them only when set.
"""

from __future__ import annotations

from hyperpod.apiserver.protobuf_meta import LABEL_SELECTOR, OBJECT_META, Table

_STATUS: Table = {}
CONTAINER_PORT: Table = {
    1: ("name", "str", None),
    2: ("hostPort", "int", None),
    3: ("containerPort", "int!", None),
    4: ("protocol", "str", None),
    5: ("hostIP", "str", None),
}
ENV_VAR: Table = {1: ("name", "str", None), 2: ("value", "str", None)}
CONTAINER: Table = {
    1: ("name", "str", None),
    2: ("image", "str", None),
    3: ("command", "strs", None),
    4: ("args", "strs", None),
    5: ("workingDir", "str", None),
    6: ("ports", "msgs", CONTAINER_PORT),
    7: ("env", "msgs", ENV_VAR),
    13: ("terminationMessagePath", "str", None),
    14: ("imagePullPolicy", "str", None),
    20: ("terminationMessagePolicy", "str", None),
}
POD_SPEC: Table = {
    2: ("containers", "msgs", CONTAINER),
    3: ("restartPolicy", "str", None),
    4: ("terminationGracePeriodSeconds", "int!", None),
    6: ("dnsPolicy", "str", None),
    7: ("nodeSelector", "map", None),
    8: ("serviceAccountName", "str", None),
    10: ("nodeName", "str", None),
    16: ("hostname", "str", None),
    19: ("schedulerName", "str", None),
    20: ("initContainers", "msgs", CONTAINER),
    24: ("priorityClassName", "str", None),
}
POD_TEMPLATE: Table = {1: ("metadata", "msg", OBJECT_META), 2: ("spec", "msg", POD_SPEC)}
DEPLOYMENT_STRATEGY: Table = {
    1: ("type", "str", None),
    2: (
        "rollingUpdate",
        "msg",
        {1: ("maxUnavailable", "intstr", None), 2: ("maxSurge", "intstr", None)},
    ),
}
DEPLOYMENT_SPEC: Table = {
    1: ("replicas", "int!", None),
    2: ("selector", "msg", LABEL_SELECTOR),
    3: ("template", "msg", POD_TEMPLATE),
    4: ("strategy", "msg", DEPLOYMENT_STRATEGY),
    5: ("minReadySeconds", "int", None),
    6: ("revisionHistoryLimit", "int!", None),
    7: ("paused", "bool", None),
    9: ("progressDeadlineSeconds", "int!", None),
}
JOB_SPEC: Table = {
    1: ("parallelism", "int!", None),
    2: ("completions", "int!", None),
    3: ("activeDeadlineSeconds", "int!", None),
    4: ("selector", "msg", LABEL_SELECTOR),
    5: ("manualSelector", "bool", None),
    6: ("template", "msg", POD_TEMPLATE),
    7: ("backoffLimit", "int!", None),
    8: ("ttlSecondsAfterFinished", "int!", None),
    9: ("completionMode", "str", None),
    10: ("suspend", "bool", None),
}

WORKLOAD_KINDS: dict[tuple[str, str], Table] = {
    ("apps/v1", "Deployment"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("spec", "msg", DEPLOYMENT_SPEC),
        3: ("status", "msg", _STATUS),
    },
    ("batch/v1", "Job"): {
        1: ("metadata", "msg", OBJECT_META),
        2: ("spec", "msg", JOB_SPEC),
        3: ("status", "msg", _STATUS),
    },
}
