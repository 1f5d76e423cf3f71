"""Access reviews answer in status with the RBAC authorizer's decision, and say why."""

from __future__ import annotations

import pytest

from hyperpod.apiserver.authz import Authorizer
from hyperpod.apiserver.errors import Invalid
from hyperpod.apiserver.rbac import UserInfo
from hyperpod.apiserver.registry import Registry
from hyperpod.apiserver.resources import builtin_types
from hyperpod.apiserver.reviews import answer
from hyperpod.controlplane.security import seed_rbac

TYPES = {rt.kind: rt for rt in builtin_types() if rt.virtual}
ALICE = UserInfo("alice", ("system:authenticated",))
ADMIN = UserInfo("admin", ("system:masters", "system:authenticated"))


@pytest.fixture
def authorizer(registry: Registry) -> Authorizer:
    seed_rbac(registry)
    registry.create("namespaces", {"metadata": {"name": "team-a"}})
    registry.create(
        "rolebindings.rbac.authorization.k8s.io",
        {
            "metadata": {"name": "alice-edit", "namespace": "team-a"},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "edit",
            },
            "subjects": [{"kind": "User", "name": "alice"}],
        },
    )
    return Authorizer(registry)


def _ask(verb: str, resource: str, namespace: str, group: str = "") -> dict:  # type: ignore[type-arg]
    attrs = {"verb": verb, "resource": resource, "namespace": namespace, "group": group}
    return {"spec": {"resourceAttributes": attrs}}


def test_the_review_kinds_are_create_only_and_never_stored() -> None:
    assert sorted(TYPES) == [
        "LocalSubjectAccessReview",
        "SelfSubjectAccessReview",
        "SelfSubjectReview",
        "SelfSubjectRulesReview",
        "SubjectAccessReview",
    ]
    assert all(rt.verbs == ["create"] for rt in TYPES.values())


def test_a_self_review_answers_with_the_callers_rbac_rights(authorizer: Authorizer) -> None:
    rt = TYPES["SelfSubjectAccessReview"]
    yes = answer(rt, _ask("create", "pods", "team-a"), user=ALICE, authorizer=authorizer)
    assert yes["status"]["allowed"] is True
    assert 'RoleBinding "alice-edit/team-a"' in yes["status"]["reason"]
    no = answer(rt, _ask("create", "pods", "team-b"), user=ALICE, authorizer=authorizer)
    assert no["status"] == {"allowed": False}
    assert yes["apiVersion"] == "authorization.k8s.io/v1"


def test_a_subject_review_asks_about_someone_else(authorizer: Authorizer) -> None:
    rt = TYPES["SubjectAccessReview"]
    body = _ask("list", "secrets", "team-a")
    body["spec"]["user"] = "alice"
    out = answer(rt, body, user=ADMIN, authorizer=authorizer)
    assert out["status"]["allowed"] is True
    body["spec"]["user"] = "bob"
    assert answer(rt, body, user=ADMIN, authorizer=authorizer)["status"]["allowed"] is False
    with pytest.raises(Invalid, match="at least one of user or group"):
        answer(rt, _ask("get", "pods", "x"), user=ADMIN, authorizer=authorizer)


def test_a_local_review_takes_the_namespace_of_its_url(authorizer: Authorizer) -> None:
    rt = TYPES["LocalSubjectAccessReview"]
    body = _ask("delete", "configmaps", "")
    body["spec"]["user"] = "alice"
    assert answer(rt, body, authorizer=authorizer, namespace="team-a")["status"]["allowed"]
    assert not answer(rt, body, authorizer=authorizer, namespace="team-b")["status"]["allowed"]


def test_an_access_review_must_ask_about_exactly_one_kind_of_attribute() -> None:
    rt = TYPES["SelfSubjectAccessReview"]
    with pytest.raises(Invalid, match="exactly one of nonResourceAttributes or resourceAttributes"):
        answer(rt, {"spec": {}})
    both = {"resourceAttributes": {"verb": "get"}, "nonResourceAttributes": {"path": "/x"}}
    with pytest.raises(Invalid) as err:
        answer(rt, {"spec": both})
    assert err.value.causes[0]["field"] == "spec.resourceAttributes"
    with pytest.raises(Invalid, match="spec: Required value"):
        answer(rt, {})


def test_a_rules_review_lists_the_callers_rules_in_the_namespace(authorizer: Authorizer) -> None:
    rt = TYPES["SelfSubjectRulesReview"]
    team = answer(rt, {"spec": {"namespace": "team-a"}}, user=ALICE, authorizer=authorizer)
    rules = team["status"]["resourceRules"]
    assert any("pods" in r["resources"] and "create" in r["verbs"] for r in rules)
    assert team["status"]["incomplete"] is False
    other = answer(rt, {"spec": {"namespace": "team-b"}}, user=ALICE, authorizer=authorizer)
    assert not any("pods" in r["resources"] for r in other["status"]["resourceRules"])
    # system:basic-user (bound to every authenticated user) still lets alice ask.
    assert any(
        "selfsubjectaccessreviews" in r["resources"] for r in other["status"]["resourceRules"]
    )
    admin = answer(rt, {"spec": {"namespace": "x"}}, user=ADMIN, authorizer=authorizer)
    assert admin["status"]["resourceRules"][0]["resources"] == ["*"]


def test_whoami_names_the_caller() -> None:
    who = answer(TYPES["SelfSubjectReview"], {}, user=ALICE)["status"]["userInfo"]
    assert who == {"username": "alice", "groups": ["system:authenticated"]}
    admin = answer(TYPES["SelfSubjectReview"], {})["status"]["userInfo"]
    assert admin["username"] == "admin" and "system:masters" in admin["groups"]
