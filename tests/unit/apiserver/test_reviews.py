"""Access reviews answer in status, say why, and reject a spec that asks nothing."""

from __future__ import annotations

import pytest

from hyperpod.apiserver.errors import Invalid
from hyperpod.apiserver.resources import builtin_types
from hyperpod.apiserver.reviews import REASON, answer

TYPES = {rt.kind: rt for rt in builtin_types() if rt.virtual}


def test_the_review_kinds_are_create_only_and_never_stored() -> None:
    assert sorted(TYPES) == [
        "SelfSubjectAccessReview",
        "SelfSubjectReview",
        "SelfSubjectRulesReview",
    ]
    assert all(rt.verbs == ["create"] for rt in TYPES.values())


def test_an_access_review_is_allowed_and_says_rbac_is_not_enforced() -> None:
    spec = {
        "resourceAttributes": {"verb": "create", "resource": "pytorchjobs", "group": "kubeflow.org"}
    }
    out = answer(TYPES["SelfSubjectAccessReview"], {"spec": spec})
    assert out["spec"] == spec
    assert out["status"] == {"allowed": True, "reason": REASON}
    assert out["apiVersion"] == "authorization.k8s.io/v1"


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


def test_a_rules_review_lists_everything_and_whoami_names_the_admin() -> None:
    rules = answer(TYPES["SelfSubjectRulesReview"], {"spec": {"namespace": "team-a"}})["status"]
    assert rules["resourceRules"] == [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}]
    assert rules["incomplete"] is False
    who = answer(TYPES["SelfSubjectReview"], {})["status"]["userInfo"]
    assert who["username"] == "admin" and "system:masters" in who["groups"]
