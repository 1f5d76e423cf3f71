"""Mutated request bodies for the served kinds (Hypothesis strategies), shared with benchmarks.

A mutation takes a valid seed object and replaces, deletes or adds one value somewhere in it
(any depth), with values of every JSON type: wrong types, empty containers, huge and negative
integers, long and odd strings. Mutated values are generated, never taken from other objects,
so a fuzzed pod's command is junk that fails to start, never a real program with arguments.
"""

from __future__ import annotations

import copy
import json
import ssl
import urllib.error
import urllib.request
from typing import Any

from hypothesis import strategies as st

CONTAINER = {"name": "main", "image": "local/python", "command": ["true"]}
POD_SPEC = {"restartPolicy": "Never", "containers": [CONTAINER]}

SEEDS: list[tuple[str, dict[str, Any]]] = [
    (
        "/api/v1/namespaces/fuzz/configmaps",
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}},
    ),
    (
        "/api/v1/namespaces/fuzz/secrets",
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "stringData": {"a": "b"}},
    ),
    (
        "/api/v1/namespaces/fuzz/pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "labels": {"app": "x"}},
            "spec": POD_SPEC,
        },
    ),
    (
        "/api/v1/namespaces/fuzz/services",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "svc"},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    ),
    (
        "/api/v1/nodes",
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "fuzz-node", "labels": {"type": "kwok"}},
            "spec": {"taints": [{"key": "fuzz", "effect": "NoSchedule"}]},
        },
    ),
    (
        "/apis/coordination.k8s.io/v1/namespaces/fuzz/leases",
        {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "l"},
            "spec": {"holderIdentity": "x", "leaseDurationSeconds": 10},
        },
    ),
    (
        "/api/v1/namespaces/fuzz/events",
        {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "e"},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": "fuzz"},
            "reason": "R",
            "message": "m",
        },
    ),
    (
        "/apis/kubeflow.org/v1/namespaces/fuzz/pytorchjobs",
        {
            "apiVersion": "kubeflow.org/v1",
            "kind": "PyTorchJob",
            "metadata": {"name": "j", "labels": {"kueue.x-k8s.io/queue-name": "q"}},
            "spec": {
                "runPolicy": {"suspend": False},
                "pytorchReplicaSpecs": {
                    "Master": {
                        "replicas": 1,
                        "restartPolicy": "Never",
                        "template": {"spec": {"containers": [{**CONTAINER, "name": "pytorch"}]}},
                    },
                    "Worker": {
                        "replicas": 2,
                        "restartPolicy": "OnFailure",
                        "template": {"spec": {"containers": [{**CONTAINER, "name": "pytorch"}]}},
                    },
                },
            },
        },
    ),
    (
        "/apis/kueue.x-k8s.io/v1beta1/clusterqueues",
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "ClusterQueue",
            "metadata": {"name": "cq"},
            "spec": {
                "namespaceSelector": {},
                "resourceGroups": [
                    {
                        "coveredResources": ["cpu"],
                        "flavors": [
                            {"name": "f", "resources": [{"name": "cpu", "nominalQuota": 4}]}
                        ],
                    }
                ],
            },
        },
    ),
    (
        "/apis/kueue.x-k8s.io/v1beta1/namespaces/fuzz/localqueues",
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "LocalQueue",
            "metadata": {"name": "q"},
            "spec": {"clusterQueue": "cq"},
        },
    ),
    (
        "/apis/kueue.x-k8s.io/v1beta1/resourceflavors",
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "ResourceFlavor",
            "metadata": {"name": "f"},
        },
    ),
    (
        "/apis/kueue.x-k8s.io/v1beta1/namespaces/fuzz/workloads",
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "Workload",
            "metadata": {"name": "w"},
            "spec": {
                "queueName": "q",
                "podSets": [{"name": "main", "count": 1, "template": {"spec": POD_SPEC}}],
            },
        },
    ),
    (
        "/apis/scheduling.k8s.io/v1/priorityclasses",
        {
            "apiVersion": "scheduling.k8s.io/v1",
            "kind": "PriorityClass",
            "metadata": {"name": "pc"},
            "value": 10,
        },
    ),
    (
        "/apis/rbac.authorization.k8s.io/v1/namespaces/fuzz/roles",
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "r"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        },
    ),
]

_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 2**31, 2**63 - 1, 2**63, 10**6]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
    st.sampled_from(["", "-", "a" * 300, "../../x", "$(X)", "1Gi", "Always", "true"]),
)
VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=8,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(obj, dict):
        for k, v in obj.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            out.extend(_paths(v, (*prefix, i)))
    return out


@st.composite
def mutated_bodies(draw: st.DrawFn, name_suffix: str = "") -> tuple[str, dict[str, Any]]:
    """(collection path, body): one seed with one to three mutations."""
    path, seed = draw(st.sampled_from(SEEDS))
    body = copy.deepcopy(seed)
    for _ in range(draw(st.integers(1, 3))):
        target = draw(st.sampled_from(_paths(body)[1:]))
        parent: Any = body
        for seg in target[:-1]:
            parent = parent[seg]
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        last = target[-1]
        if action == "replace":
            parent[last] = draw(VALUES)
        elif action == "delete":
            del parent[last]
        elif isinstance(parent[last], dict):
            parent[last][draw(st.text(max_size=12))] = draw(VALUES)
        elif isinstance(parent[last], list):
            parent[last].append(draw(VALUES))
        else:
            parent[last] = draw(VALUES)
    md = body.get("metadata")
    if isinstance(md, dict) and isinstance(md.get("name"), str):
        md["name"] = f"{md['name']}-{draw(st.integers(0, 10**9))}{name_suffix}"
    return path, body


def post(url: str, token: str, ctx: ssl.SSLContext, path: str, body: Any) -> int:
    """POST ``body`` as JSON; the HTTP status (a refused connection raises)."""
    req = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30, context=ctx) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as err:
        err.read()
        return int(err.code)


def log_problems(log: str) -> list[str]:
    """Lines of a control-plane log that show a 500 or a controller failure."""
    markers = ("Traceback", "internal error", "crashed", "failed; restarting", "reconcile of")
    return [line for line in log.splitlines() if any(m in line for m in markers)]
