"""Team access, as pure builders: the team's Role and RoleBindings, and a member's kubeconfig.

``hyp create compute-quota --team T`` adds, next to the queues, the Role ``hyperpod-team-member``
in ``hyperpod-ns-<T>`` (training jobs, pods and their logs/exec, the team's ConfigMaps, Secrets
and volumes, read access to the team's queue and workloads) and the RoleBinding
``hyperpod-team-members`` that grants it to the group ``hyperpod:team:<T>`` (for users who
authenticate with a group, or an admin's ``kubectl --as-group``). ``hyp get kubeconfig --user U
--team T`` makes a ServiceAccount ``U`` in that namespace, binds the Role to it
(``hyperpod-member-<U>``), asks the TokenRequest API for an expiring token, and writes a
kubeconfig whose context is that namespace. The member can use their team's namespace and
nothing else: other teams, nodes, kube-system and cluster-scoped objects answer 403.
"""

from __future__ import annotations

import re
from typing import Any

from hyperpod.client.errors import UserError

Obj = dict[str, Any]

ROLE = "hyperpod-team-member"
TEAM_BINDING = "hyperpod-team-members"
TEAM_LABEL = "hyperpod.io/team"
ALL = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
READ = ["get", "list", "watch"]
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


def team_group(team: str) -> str:
    return f"hyperpod:team:{team}"


def _rule(groups: list[str], resources: list[str], verbs: list[str]) -> Obj:
    return {"apiGroups": groups, "resources": resources, "verbs": verbs}


def member_rules() -> list[Obj]:
    """What a team member may do in the team namespace."""
    return [
        _rule(["kubeflow.org"], ["pytorchjobs"], ALL),
        _rule(["kubeflow.org"], ["pytorchjobs/status"], READ),
        _rule(["batch"], ["jobs"], ALL),
        _rule([""], ["pods"], ["delete", "get", "list", "watch"]),
        _rule([""], ["pods/log", "pods/status", "events", "services", "endpoints"], READ),
        _rule([""], ["pods/exec"], ["create", "get"]),
        _rule([""], ["configmaps", "secrets", "persistentvolumeclaims"], ALL),
        _rule(["kueue.x-k8s.io"], ["localqueues", "workloads", "workloads/status"], READ),
        _rule(["authorization.k8s.io"], ["localsubjectaccessreviews"], ["create"]),
    ]


def team_access_objects(team: str, namespace: str) -> list[Obj]:
    """The Role and the group RoleBinding of a team, in creation order."""
    labels = {TEAM_LABEL: team}
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": ROLE, "namespace": namespace, "labels": labels},
            "rules": member_rules(),
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": TEAM_BINDING, "namespace": namespace, "labels": labels},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "Group",
                    "name": team_group(team),
                }
            ],
        },
    ]


def check_user(user: str) -> None:
    if not _NAME.match(user) or len(user) > 63:
        raise UserError(
            f"invalid user name {user!r}",
            "use lowercase letters, digits and '-' (it names a ServiceAccount), e.g. --user alice",
        )


def member_objects(team: str, user: str, namespace: str) -> list[Obj]:
    """The member's ServiceAccount and its RoleBinding to the team Role."""
    check_user(user)
    labels = {TEAM_LABEL: team, "hyperpod.io/user": user}
    return [
        {
            "apiVersion": "v1",
            "kind": "ServiceAccount",
            "metadata": {"name": user, "namespace": namespace, "labels": labels},
            # The member's own token goes in the kubeconfig; pods use the namespace's default.
            "automountServiceAccountToken": False,
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {
                "name": f"hyperpod-member-{user}",
                "namespace": namespace,
                "labels": labels,
            },
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": ROLE},
            "subjects": [{"kind": "ServiceAccount", "name": user, "namespace": namespace}],
        },
    ]


def scoped_kubeconfig(
    *,
    cluster: str,
    server: str,
    ca_data: str | None,
    insecure: bool,
    team: str,
    user: str,
    namespace: str,
    token: str,
) -> Obj:
    """A kubeconfig for one team member: the token user, the team namespace as default."""
    name = f"{cluster}-{team}-{user}"
    cluster_entry: Obj = {"server": server}
    if ca_data:
        cluster_entry["certificate-authority-data"] = ca_data
    elif insecure:
        cluster_entry["insecure-skip-tls-verify"] = True
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster, "cluster": cluster_entry}],
        "users": [{"name": name, "user": {"token": token}}],
        "contexts": [
            {"name": name, "context": {"cluster": cluster, "user": name, "namespace": namespace}}
        ],
        "current-context": name,
        "preferences": {},
    }
