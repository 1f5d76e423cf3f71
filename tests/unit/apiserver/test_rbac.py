"""RBAC rules match like kube-apiserver's, aggregation merges labelled ClusterRoles, and the
403 message reads like upstream's."""

from __future__ import annotations

from hyperpod.apiserver import rbac_defaults
from hyperpod.apiserver.rbac import (
    Attributes,
    Policy,
    Rule,
    UserInfo,
    decide,
    effective_rules,
    forbidden_message,
)


def _rule(**raw: object) -> Rule:
    rule = Rule.parse(raw)
    assert rule is not None
    return rule


def test_a_rule_matches_verb_group_resource_and_wildcards() -> None:
    r = _rule(verbs=["get", "list"], apiGroups=[""], resources=["pods"])
    assert r.allows(Attributes("list", resource="pods", namespace="a"))
    assert not r.allows(Attributes("delete", resource="pods"))
    assert not r.allows(Attributes("get", group="apps", resource="pods"))
    assert not r.allows(Attributes("get", resource="pods", subresource="log"))
    star = _rule(verbs=["*"], apiGroups=["*"], resources=["*"])
    assert star.allows(Attributes("deletecollection", group="kubeflow.org", resource="pytorchjobs"))


def test_subresources_need_their_own_rule_or_a_star_prefix() -> None:
    logs = _rule(verbs=["get"], apiGroups=[""], resources=["pods/log"])
    assert logs.allows(Attributes("get", resource="pods", subresource="log", name="p"))
    assert not logs.allows(Attributes("get", resource="pods", name="p"))
    any_status = _rule(verbs=["get"], apiGroups=["*"], resources=["*/status"])
    assert any_status.allows(Attributes("get", resource="nodes", subresource="status"))
    assert not any_status.allows(Attributes("get", resource="nodes"))


def test_resource_names_limit_a_rule_to_those_objects() -> None:
    r = _rule(verbs=["get", "list"], apiGroups=[""], resources=["configmaps"], resourceNames=["a"])
    assert r.allows(Attributes("get", resource="configmaps", name="a"))
    assert not r.allows(Attributes("get", resource="configmaps", name="b"))
    assert not r.allows(Attributes("list", resource="configmaps"))


def test_non_resource_urls_match_exactly_or_by_a_trailing_star() -> None:
    r = _rule(verbs=["get"], nonResourceURLs=["/healthz", "/apis/*"])
    assert r.allows(Attributes("get", resource_request=False, path="/healthz"))
    assert r.allows(Attributes("get", resource_request=False, path="/apis/kubeflow.org/v1"))
    assert not r.allows(Attributes("get", resource_request=False, path="/metrics"))
    assert not r.allows(Attributes("get", resource="healthz"))


def test_aggregation_follows_labels_through_edit_into_admin() -> None:
    rules = effective_rules(rbac_defaults.cluster_roles())

    def flat(name: str) -> set[tuple[str, str, str]]:
        return {
            (g, r, v)
            for x in rules[name]
            for g in x.get("apiGroups", [])
            for r in x.get("resources", [])
            for v in x["verbs"]
        }

    assert ("", "pods", "list") in flat("view")
    assert ("", "secrets", "get") not in flat("view")
    assert ("", "secrets", "get") in flat("edit") and ("", "pods", "list") in flat("edit")
    assert ("rbac.authorization.k8s.io", "roles", "create") in flat("admin")
    assert ("", "pods", "create") in flat("admin")
    assert ("kubeflow.org", "pytorchjobs", "create") in flat("edit")
    assert ("kubeflow.org", "pytorchjobs", "create") not in flat("view")
    custom = {
        "metadata": {
            "name": "gpu-view",
            "labels": {"rbac.authorization.k8s.io/aggregate-to-view": "true"},
        },
        "rules": [{"apiGroups": ["example.com"], "resources": ["gpus"], "verbs": ["get"]}],
    }
    again = effective_rules([*rbac_defaults.cluster_roles(), custom])
    assert custom["rules"][0] in again["view"] and custom["rules"][0] in again["admin"]


def _binding(
    kind: str, name: str, role_kind: str, role: str, subjects: list, ns: str | None = None
) -> dict:  # type: ignore[type-arg]
    md = {"name": name, **({"namespace": ns} if ns else {})}
    return {
        "kind": kind,
        "metadata": md,
        "roleRef": {"kind": role_kind, "name": role},
        "subjects": subjects,
    }


def test_bindings_grant_by_user_group_and_service_account_in_their_scope() -> None:
    roles = [
        {
            "metadata": {"name": "reader", "namespace": "a"},
            "rules": [{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}],
        }
    ]
    crs = [
        {
            "metadata": {"name": "secrets"},
            "rules": [{"apiGroups": [""], "resources": ["secrets"], "verbs": ["list"]}],
        }
    ]
    rbs = [
        _binding("RoleBinding", "r", "Role", "reader", [{"kind": "User", "name": "u"}], "a"),
        _binding(
            "RoleBinding",
            "s",
            "ClusterRole",
            "secrets",
            [{"kind": "ServiceAccount", "name": "sa"}],
            "a",
        ),
    ]
    crbs = [
        _binding(
            "ClusterRoleBinding", "g", "ClusterRole", "secrets", [{"kind": "Group", "name": "ops"}]
        )
    ]
    policy = Policy.build(roles, rbs, crs, crbs)
    u = UserInfo("u", ("system:authenticated",))
    sa = UserInfo("system:serviceaccount:a:sa", ("system:serviceaccounts",))
    ops = UserInfo("o", ("ops",))
    assert decide(policy.grants(u), Attributes("get", resource="pods", namespace="a", name="p"))
    assert not decide(policy.grants(u), Attributes("get", resource="pods", namespace="b", name="p"))
    assert decide(policy.grants(sa), Attributes("list", resource="secrets", namespace="a"))
    assert not decide(policy.grants(sa), Attributes("list", resource="secrets", namespace="b"))
    assert decide(policy.grants(ops), Attributes("list", resource="secrets", namespace="b"))
    assert decide(policy.grants(ops), Attributes("list", resource="secrets")) is not None


def test_the_forbidden_message_reads_like_kube_apiservers() -> None:
    u = UserInfo("x")
    assert forbidden_message(u, Attributes("list", resource="pods", namespace="team-b")) == (
        'pods is forbidden: User "x" cannot list resource "pods" in API group "" in the '
        'namespace "team-b"'
    )
    job = Attributes(
        "delete", group="kubeflow.org", resource="pytorchjobs", namespace="b", name="j"
    )
    assert forbidden_message(u, job).startswith('pytorchjobs.kubeflow.org "j" is forbidden: ')
    node = Attributes("delete", resource="nodes", name="n")
    assert forbidden_message(u, node).endswith('in API group "" at the cluster scope')
    log = Attributes("get", resource="pods", subresource="log", namespace="a", name="p")
    assert 'cannot get resource "pods/log"' in forbidden_message(u, log)
    assert forbidden_message(u, Attributes("get", resource_request=False, path="/metrics")) == (
        'forbidden: User "x" cannot get path "/metrics"'
    )
