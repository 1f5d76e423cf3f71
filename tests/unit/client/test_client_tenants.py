"""Team access builders: the team Role and bindings, and a member's kubeconfig."""

from __future__ import annotations

import pytest

from hyperpod.client import tenants
from hyperpod.client.errors import UserError


def test_a_team_gets_a_member_role_bound_to_its_group() -> None:
    role, binding = tenants.team_access_objects("a", "hyperpod-ns-a")
    assert (role["kind"], role["metadata"]["namespace"]) == ("Role", "hyperpod-ns-a")
    jobs = next(r for r in role["rules"] if r["resources"] == ["pytorchjobs"])
    assert "create" in jobs["verbs"] and "watch" in jobs["verbs"]
    assert not any("nodes" in r["resources"] for r in role["rules"])
    assert binding["roleRef"]["name"] == tenants.ROLE
    assert binding["subjects"] == [
        {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": "hyperpod:team:a"}
    ]


def test_a_member_is_a_service_account_bound_to_the_team_role() -> None:
    sa, binding = tenants.member_objects("a", "alice", "hyperpod-ns-a")
    assert sa["metadata"]["name"] == "alice" and sa["automountServiceAccountToken"] is False
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "alice", "namespace": "hyperpod-ns-a"}
    ]
    with pytest.raises(UserError, match="invalid user name"):
        tenants.member_objects("a", "Alice Smith", "hyperpod-ns-a")


def test_the_member_kubeconfig_uses_the_token_and_the_team_namespace() -> None:
    cfg = tenants.scoped_kubeconfig(
        cluster="local",
        server="https://127.0.0.1:6443",
        ca_data="Q0E=",
        insecure=False,
        team="a",
        user="alice",
        namespace="hyperpod-ns-a",
        token="jwt",
    )
    assert cfg["current-context"] == "local-a-alice"
    assert cfg["users"][0]["user"] == {"token": "jwt"}
    assert cfg["contexts"][0]["context"]["namespace"] == "hyperpod-ns-a"
    assert cfg["clusters"][0]["cluster"]["certificate-authority-data"] == "Q0E="
