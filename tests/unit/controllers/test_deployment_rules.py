"""The Deployment controller's pure arithmetic: hashes, surge/unavailable limits, steps."""

from __future__ import annotations

from typing import Any

from hyperpod.controllers import deployment_rules as rules


def deploy(
    replicas: int, surge: Any = "25%", unavailable: Any = "25%", typ: str = "RollingUpdate"
) -> dict[str, Any]:
    strategy: dict[str, Any] = {"type": typ}
    if typ == "RollingUpdate":
        strategy["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"spec": {"replicas": replicas, "strategy": strategy}}


def rs(
    name: str, spec: int, available: int, created: str = "2026-01-01T00:00:00Z"
) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "creationTimestamp": created},
        "spec": {"replicas": spec},
        "status": {"replicas": spec, "availableReplicas": available},
    }


def test_the_template_hash_is_stable_label_safe_and_changes_with_the_template() -> None:
    a = {"spec": {"containers": [{"name": "c", "image": "x"}]}}
    b = {"spec": {"containers": [{"name": "c", "image": "y"}]}}
    assert rules.template_hash(a) == rules.template_hash(
        {"spec": {"containers": [{"image": "x", "name": "c"}]}}
    )
    assert rules.template_hash(a) != rules.template_hash(b)
    assert rules.template_hash(a) != rules.template_hash(a, collisions=1)
    assert set(rules.template_hash(a)) <= set("bcdfghjklmnpqrstvwxz2456789")


def test_percentages_round_surge_up_and_unavailable_down() -> None:
    assert rules.limits(deploy(10)) == (3, 2)
    assert rules.limits(deploy(4, 1, 0)) == (1, 0)


def test_zero_surge_and_zero_unavailable_still_allow_one_unavailable_pod() -> None:
    assert rules.limits(deploy(3, 0, "10%")) == (0, 1)


def test_recreate_has_no_surge_and_requires_every_replica_available() -> None:
    assert rules.limits(deploy(5, typ="Recreate")) == (0, 0)


def test_the_new_set_grows_by_the_surge_room_only() -> None:
    d = deploy(4, 1, 0)
    new, old = rs("new", 0, 0), rs("old", 4, 4)
    assert rules.scale_up_new(d, new, [new, old]) == 1
    new = rs("new", 1, 0)
    assert rules.scale_up_new(d, new, [new, old]) == 1  # 5 pods exist: no more room


def test_old_sets_shrink_only_while_enough_pods_stay_available() -> None:
    d = deploy(4, 1, 0)
    assert rules.scale_down_old(d, rs("new", 1, 0), [rs("old", 4, 4)]) == {"old": 4}
    assert rules.scale_down_old(d, rs("new", 1, 1), [rs("old", 4, 4)]) == {"old": 3}


def test_unhealthy_old_replicas_go_first() -> None:
    d = deploy(4, 1, 1)
    # 5 pods, 3 must stay available, the new one is not yet: one unhealthy old pod may go.
    assert rules.scale_down_old(d, rs("new", 1, 0), [rs("old", 4, 2)]) == {"old": 3}
    # Once the new pod is available, both unhealthy old pods go.
    assert rules.scale_down_old(d, rs("new", 1, 1), [rs("old", 4, 2)]) == {"old": 2}


def test_a_rollout_is_complete_when_only_the_new_set_has_pods_and_all_are_available() -> None:
    d = deploy(3)
    assert rules.complete(d, rs("new", 3, 3), [rs("old", 0, 0)])
    assert not rules.complete(d, rs("new", 3, 2), [rs("old", 0, 0)])
    assert not rules.complete(d, rs("new", 3, 3), [rs("old", 1, 1)])


def test_a_replica_sets_template_without_the_hash_label_is_the_deployments() -> None:
    t = {"metadata": {"labels": {"app": "a", "pod-template-hash": "abc"}}}
    assert rules.without_hash(t) == {"metadata": {"labels": {"app": "a"}}}
    assert t["metadata"]["labels"]["pod-template-hash"] == "abc"
