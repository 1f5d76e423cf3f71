"""The default ClusterRoles and ClusterRoleBindings every cluster starts with.

The user-facing roles ``cluster-admin``, ``admin``, ``edit`` and ``view`` and the ``system:*``
basics (discovery, basic-user, public-info-viewer, monitoring, service-account-issuer-discovery)
carry the upstream rules; ``admin``/``edit``/``view`` are aggregated from ``system:aggregate-to-*`` roles
(plus the training-operator and Kueue roles that aggregate into them, as those add-ons ship
them), so a ClusterRole labelled ``rbac.authorization.k8s.io/aggregate-to-edit: "true"`` extends
``edit``. All carry ``kubernetes.io/bootstrapping: rbac-defaults``.
"""

from __future__ import annotations

from typing import Any

RW = ["create", "delete", "deletecollection", "patch", "update"]
RO = ["get", "list", "watch"]
AGG = "rbac.authorization.k8s.io/aggregate-to-"


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> dict[str, Any]:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def _role(
    name: str,
    rules: list[dict[str, Any]],
    *,
    labels: dict[str, str] | None = None,
    aggregate: str | None = None,
) -> dict[str, Any]:
    md: dict[str, Any] = {
        "name": name,
        "labels": {"kubernetes.io/bootstrapping": "rbac-defaults", **(labels or {})},
        "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
    }
    role: dict[str, Any] = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": md,
        "rules": rules,
    }
    if aggregate:
        role["aggregationRule"] = {
            "clusterRoleSelectors": [{"matchLabels": {AGG + aggregate: "true"}}]
        }
    return role


def _binding(name: str, role: str, groups: list[str]) -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": name,
            "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"},
            "annotations": {"rbac.authorization.kubernetes.io/autoupdate": "true"},
        },
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": role},
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g} for g in groups
        ],
    }


_VIEW = [
    _rule(
        [""],
        [
            "configmaps",
            "endpoints",
            "persistentvolumeclaims",
            "persistentvolumeclaims/status",
            "pods",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "serviceaccounts",
            "services",
            "services/status",
        ],
        RO,
    ),
    _rule(
        [""],
        [
            "bindings",
            "events",
            "limitranges",
            "namespaces/status",
            "pods/log",
            "pods/status",
            "replicationcontrollers/status",
            "resourcequotas",
            "resourcequotas/status",
        ],
        RO,
    ),
    _rule([""], ["namespaces"], RO),
    _rule(["discovery.k8s.io"], ["endpointslices"], RO),
    _rule(
        ["apps"],
        [
            "controllerrevisions",
            "daemonsets",
            "daemonsets/status",
            "deployments",
            "deployments/scale",
            "deployments/status",
            "replicasets",
            "replicasets/scale",
            "replicasets/status",
            "statefulsets",
            "statefulsets/scale",
            "statefulsets/status",
        ],
        RO,
    ),
    _rule(["autoscaling"], ["horizontalpodautoscalers", "horizontalpodautoscalers/status"], RO),
    _rule(["batch"], ["cronjobs", "cronjobs/status", "jobs", "jobs/status"], RO),
    _rule(["policy"], ["poddisruptionbudgets", "poddisruptionbudgets/status"], RO),
    _rule(["networking.k8s.io"], ["ingresses", "ingresses/status", "networkpolicies"], RO),
]

_EDIT = [
    _rule(
        [""],
        ["pods/attach", "pods/exec", "pods/portforward", "pods/proxy", "secrets", "services/proxy"],
        RO,
    ),
    _rule([""], ["serviceaccounts"], ["impersonate"]),
    _rule([""], ["pods", "pods/attach", "pods/exec", "pods/portforward", "pods/proxy"], RW),
    _rule([""], ["pods/eviction"], ["create"]),
    _rule(
        [""],
        [
            "configmaps",
            "events",
            "persistentvolumeclaims",
            "replicationcontrollers",
            "replicationcontrollers/scale",
            "secrets",
            "serviceaccounts",
            "services",
            "services/proxy",
        ],
        RW,
    ),
    _rule([""], ["serviceaccounts/token"], ["create"]),
    _rule(
        ["apps"],
        [
            "daemonsets",
            "deployments",
            "deployments/rollback",
            "deployments/scale",
            "replicasets",
            "replicasets/scale",
            "statefulsets",
            "statefulsets/scale",
        ],
        RW,
    ),
    _rule(["autoscaling"], ["horizontalpodautoscalers"], RW),
    _rule(["batch"], ["cronjobs", "jobs"], RW),
    _rule(["policy"], ["poddisruptionbudgets"], RW),
    _rule(["networking.k8s.io"], ["ingresses", "networkpolicies"], RW),
    _rule(["coordination.k8s.io"], ["leases"], [*RW, *RO]),
]

_ADMIN = [
    _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
    _rule(["rbac.authorization.k8s.io"], ["rolebindings", "roles"], [*RW, *RO]),
]

_TRAINING = ["pytorchjobs", "pytorchjobs/status"]
_KUEUE_USER = ["localqueues", "localqueues/status", "workloads", "workloads/status"]


_DISCOVERY_URLS = [
    "/api",
    "/api/*",
    "/apis",
    "/apis/*",
    "/healthz",
    "/livez",
    "/openapi",
    "/openapi/*",
    "/readyz",
    "/version",
    "/version/",
]
_PUBLIC_INFO_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
_MONITORING_URLS = [
    "/healthz",
    "/healthz/*",
    "/livez",
    "/livez/*",
    "/metrics",
    "/metrics/slis",
    "/readyz",
    "/readyz/*",
]
_ISSUER_DISCOVERY_URLS = [
    "/.well-known/openid-configuration",
    "/.well-known/openid-configuration/",
    "/openid/v1/jwks",
    "/openid/v1/jwks/",
]
_BASIC_USER = [
    _rule(
        ["authorization.k8s.io"],
        ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
        ["create"],
    ),
    _rule(["authentication.k8s.io"], ["selfsubjectreviews"], ["create"]),
]


def _get_urls(urls: list[str]) -> list[dict[str, Any]]:
    """One rule allowing GET on the non-resource ``urls``."""
    return [{"nonResourceURLs": urls, "verbs": ["get"]}]


def cluster_roles() -> list[dict[str, Any]]:
    return _user_facing_roles() + _addon_roles() + _system_roles()


def _user_facing_roles() -> list[dict[str, Any]]:
    """cluster-admin, the aggregated admin/edit/view and the roles aggregated into them."""
    return [
        _role(
            "cluster-admin",
            [
                _rule(["*"], ["*"], ["*"]),
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ],
        ),
        _role("admin", [], aggregate="admin"),
        _role("edit", [], aggregate="edit", labels={AGG + "admin": "true"}),
        _role("view", [], aggregate="view", labels={AGG + "edit": "true"}),
        _role("system:aggregate-to-admin", _ADMIN, labels={AGG + "admin": "true"}),
        _role("system:aggregate-to-edit", _EDIT, labels={AGG + "edit": "true"}),
        _role("system:aggregate-to-view", _VIEW, labels={AGG + "view": "true"}),
    ]


def _addon_roles() -> list[dict[str, Any]]:
    """The training-operator and Kueue roles that aggregate into admin/edit/view."""
    both = {AGG + "admin": "true", AGG + "edit": "true"}
    return [
        _role("training-edit", [_rule(["kubeflow.org"], ["pytorchjobs"], [*RW, *RO])], labels=both),
        _role(
            "training-view", [_rule(["kubeflow.org"], _TRAINING, RO)], labels={AGG + "view": "true"}
        ),
        _role(
            "kueue-batch-user-role",
            [_rule(["kueue.x-k8s.io"], _KUEUE_USER, RO)],
            labels={AGG + "view": "true"},
        ),
    ]


def _system_roles() -> list[dict[str, Any]]:
    return [
        _role("system:discovery", _get_urls(_DISCOVERY_URLS)),
        _role("system:basic-user", _BASIC_USER),
        _role("system:public-info-viewer", _get_urls(_PUBLIC_INFO_URLS)),
        _role("system:monitoring", _get_urls(_MONITORING_URLS)),
        _role("system:service-account-issuer-discovery", _get_urls(_ISSUER_DISCOVERY_URLS)),
    ]


def cluster_role_bindings() -> list[dict[str, Any]]:
    return [
        _binding("cluster-admin", "cluster-admin", ["system:masters"]),
        _binding("system:discovery", "system:discovery", ["system:authenticated"]),
        _binding("system:monitoring", "system:monitoring", ["system:monitoring"]),
        _binding("system:basic-user", "system:basic-user", ["system:authenticated"]),
        _binding(
            "system:public-info-viewer",
            "system:public-info-viewer",
            ["system:authenticated", "system:unauthenticated"],
        ),
        _binding(
            "system:service-account-issuer-discovery",
            "system:service-account-issuer-discovery",
            ["system:serviceaccounts"],
        ),
    ]
