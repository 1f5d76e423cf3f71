"""The priority levels and FlowSchemas Kubernetes bootstraps, as data.

:func:`hyperpod.apiserver.flowcontrol.seed` creates them at start. Each schema is one row of
:data:`_SCHEMAS` (level, matching precedence, subjects, rules, distinguisher); the rules are
either "everything" or the listed resource / non-resource rules.
"""

from __future__ import annotations

import copy
from typing import Any

Spec = dict[str, Any]

_EVERYTHING: Spec = {
    "resourceRules": [
        {
            "verbs": ["*"],
            "apiGroups": ["*"],
            "resources": ["*"],
            "clusterScope": True,
            "namespaces": ["*"],
        }
    ],
    "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
}
_AUTHENTICATED = [
    {"kind": "Group", "group": {"name": "system:authenticated"}},
    {"kind": "Group", "group": {"name": "system:unauthenticated"}},
]
_GET_CREATE_UPDATE = ["get", "create", "update"]
_LEASES = ("coordination.k8s.io", ["leases"])
_CORE_LEADER_ELECTION = ("", ["endpoints", "configmaps"])


def _group(name: str) -> Spec:
    return {"kind": "Group", "group": {"name": name}}


def _user(name: str) -> Spec:
    return {"kind": "User", "user": {"name": name}}


def _service_account(name: str) -> Spec:
    return {"kind": "ServiceAccount", "serviceAccount": {"namespace": "kube-system", "name": name}}


def _queuing(ncs: int, lendable: int, queues: int, hand: int) -> Spec:
    return {
        "type": "Limited",
        "limited": {
            "nominalConcurrencyShares": ncs,
            "lendablePercent": lendable,
            "limitResponse": {
                "type": "Queuing",
                "queuing": {"queues": queues, "handSize": hand, "queueLengthLimit": 50},
            },
        },
    }


def _resource(
    verbs: list[str], resources: tuple[str, list[str]], namespaces: list[str], cluster: bool
) -> Spec:
    return {
        "verbs": verbs,
        "apiGroups": [resources[0]],
        "resources": resources[1],
        "clusterScope": cluster,
        "namespaces": namespaces,
    }


_LEVELS: dict[str, Spec] = {
    "exempt": {
        "type": "Exempt",
        "exempt": {"nominalConcurrencyShares": 0, "lendablePercent": 0},
    },
    "system": _queuing(30, 33, 64, 6),
    "node-high": _queuing(40, 25, 64, 6),
    "leader-election": _queuing(10, 0, 16, 4),
    "workload-high": _queuing(40, 50, 128, 6),
    "workload-low": _queuing(100, 90, 128, 6),
    "global-default": _queuing(20, 50, 128, 6),
    "catch-all": {
        "type": "Limited",
        "limited": {
            "nominalConcurrencyShares": 5,
            "lendablePercent": 0,
            "limitResponse": {"type": "Reject"},
        },
    },
}

_PROBE_RULES: Spec = {
    "nonResourceRules": [{"verbs": ["get"], "nonResourceURLs": ["/healthz", "/readyz", "/livez"]}]
}

# name: (priority level, matchingPrecedence, subjects, rules, distinguisherMethod type)
_SCHEMAS: dict[str, tuple[str, int, list[Spec], Spec, str | None]] = {
    "exempt": ("exempt", 1, [_group("system:masters")], _EVERYTHING, None),
    "probes": ("exempt", 2, _AUTHENTICATED, _PROBE_RULES, None),
    "system-leader-election": (
        "leader-election",
        100,
        [
            _user("system:kube-controller-manager"),
            _user("system:kube-scheduler"),
            _service_account("*"),
        ],
        {
            "resourceRules": [
                _resource(_GET_CREATE_UPDATE, _CORE_LEADER_ELECTION, ["kube-system"], False),
                _resource(_GET_CREATE_UPDATE, _LEASES, ["*"], False),
            ]
        },
        "ByUser",
    ),
    "endpoint-controller": (
        "workload-high",
        150,
        [_user("system:kube-controller-manager"), _service_account("endpoint-controller")],
        {"resourceRules": [_resource(_GET_CREATE_UPDATE, ("", ["endpoints"]), ["*"], True)]},
        "ByUser",
    ),
    "workload-leader-election": (
        "leader-election",
        200,
        [_service_account("*")],
        {
            "resourceRules": [
                _resource(_GET_CREATE_UPDATE, _CORE_LEADER_ELECTION, ["*"], False),
                _resource(_GET_CREATE_UPDATE, _LEASES, ["*"], False),
            ]
        },
        "ByUser",
    ),
    "system-node-high": (
        "node-high",
        400,
        [_group("system:nodes")],
        {
            "resourceRules": [
                _resource(["*"], ("", ["nodes", "nodes/status"]), ["*"], True),
                _resource(["*"], _LEASES, ["*"], False),
            ]
        },
        "ByUser",
    ),
    "system-nodes": ("system", 500, [_group("system:nodes")], _EVERYTHING, "ByUser"),
    "kube-controller-manager": (
        "workload-high",
        800,
        [_user("system:kube-controller-manager")],
        _EVERYTHING,
        "ByNamespace",
    ),
    "kube-scheduler": (
        "workload-high",
        800,
        [_user("system:kube-scheduler")],
        _EVERYTHING,
        "ByNamespace",
    ),
    "kube-system-service-accounts": (
        "workload-high",
        900,
        [_group("system:serviceaccounts:kube-system")],
        _EVERYTHING,
        "ByNamespace",
    ),
    "service-accounts": (
        "workload-low",
        9000,
        [_group("system:serviceaccounts")],
        _EVERYTHING,
        "ByUser",
    ),
    "global-default": ("global-default", 9900, _AUTHENTICATED, _EVERYTHING, "ByUser"),
    "catch-all": ("catch-all", 10000, _AUTHENTICATED, _EVERYTHING, "ByUser"),
}


def default_levels() -> dict[str, Spec]:
    """name -> spec of the priority levels Kubernetes bootstraps (a fresh copy)."""
    return copy.deepcopy(_LEVELS)


def _flow_schema(
    level: str, precedence: int, subjects: list[Spec], rules: Spec, by: str | None
) -> Spec:
    spec: Spec = {
        "priorityLevelConfiguration": {"name": level},
        "matchingPrecedence": precedence,
        "rules": [{"subjects": subjects, **rules}],
    }
    if by:
        spec["distinguisherMethod"] = {"type": by}
    return spec


def default_schemas() -> dict[str, Spec]:
    """name -> spec of the FlowSchemas Kubernetes bootstraps (a fresh copy)."""
    return {name: copy.deepcopy(_flow_schema(*row)) for name, row in _SCHEMAS.items()}
