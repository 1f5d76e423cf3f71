"""Task-governance builders: team quotas and the cluster policy as Kueue objects."""

from __future__ import annotations

import pytest

from hyperpod.api import kueue as api
from hyperpod.client import governance as gov


def _by_kind(objs: list[dict]) -> dict[str, dict]:  # type: ignore[type-arg]
    return {o["kind"]: o for o in objs}


def test_a_team_quota_creates_the_namespace_queues_and_flavor_hyperpod_names() -> None:
    objs = gov.quota_objects(gov.ComputeQuota("ml-research", [("ml.p5.48xlarge", 2)]))
    assert [o["kind"] for o in objs] == [
        "Namespace",
        "ResourceFlavor",
        "ClusterQueue",
        "LocalQueue",
        "Role",
        "RoleBinding",
    ]
    k = _by_kind(objs)
    assert k["Namespace"]["metadata"]["name"] == "hyperpod-ns-ml-research"
    assert k["LocalQueue"]["metadata"] == {
        "name": "hyperpod-ns-ml-research-localqueue",
        "namespace": "hyperpod-ns-ml-research",
        "labels": {gov.MANAGED_LABEL: "true", gov.TEAM_LABEL: "ml-research"},
    }
    assert k["LocalQueue"]["spec"] == {"clusterQueue": "hyperpod-ns-ml-research-clusterqueue"}
    assert k["ResourceFlavor"]["spec"] == {
        "nodeLabels": {"node.kubernetes.io/instance-type": "ml.p5.48xlarge"}
    }
    spec = k["ClusterQueue"]["spec"]
    assert spec["cohort"] == gov.COHORT
    rows = {r["name"]: r for r in spec["resourceGroups"][0]["flavors"][0]["resources"]}
    assert rows["nvidia.com/gpu"] == {
        "name": "nvidia.com/gpu",
        "nominalQuota": "16",
        "borrowingLimit": "8",
    }
    assert rows["cpu"]["nominalQuota"] == "384"
    assert rows["memory"]["nominalQuota"] == "4Ti"
    assert rows["vpc.amazonaws.com/efa"]["nominalQuota"] == "64"
    assert spec["preemption"]["withinClusterQueue"] == "LowerPriority"
    assert spec["preemption"]["reclaimWithinCohort"] == "Any"
    # what the builder makes passes Kueue's own validation
    cq = k["ClusterQueue"]
    api.default(cq)
    assert api.validate(cq, None) == []


def test_sharing_strategies_set_lending_and_borrowing_limits() -> None:
    def gpu_row(sharing: str) -> dict:  # type: ignore[type-arg]
        cq = gov.cluster_queue(
            gov.ComputeQuota("t", accelerators=8, sharing=sharing, borrow_limit=25)
        )
        return cq["spec"]["resourceGroups"][0]["flavors"][0]["resources"][0]

    assert gpu_row("LendAndBorrow") == {
        "name": "nvidia.com/gpu",
        "nominalQuota": "8",
        "borrowingLimit": "2",
    }
    assert gpu_row("Lend") == {"name": "nvidia.com/gpu", "nominalQuota": "8", "borrowingLimit": "0"}
    assert gpu_row("DontLend") == {
        "name": "nvidia.com/gpu",
        "nominalQuota": "8",
        "lendingLimit": "0",
        "borrowingLimit": "0",
    }


def test_raw_resources_use_a_default_flavor_and_the_fair_share_weight() -> None:
    q = gov.ComputeQuota(
        "t", accelerators=4, vcpu=32, memory_gib=256, fair_share_weight=10, preempt="Never"
    )
    cq = gov.cluster_queue(q)
    flavor = cq["spec"]["resourceGroups"][0]["flavors"][0]
    assert flavor["name"] == gov.DEFAULT_FLAVOR
    assert [(r["name"], r["nominalQuota"]) for r in flavor["resources"]] == [
        ("nvidia.com/gpu", "4"),
        ("cpu", "32"),
        ("memory", "256Gi"),
    ]
    assert cq["spec"]["fairSharing"] == {"weight": "10"}
    assert cq["spec"]["preemption"]["withinClusterQueue"] == "Never"


@pytest.mark.parametrize(
    ("quota", "flag"),
    [
        (gov.ComputeQuota("Bad_Team", accelerators=1), "--team"),
        (gov.ComputeQuota("t"), "--instance-type"),
        (gov.ComputeQuota("t", [("ml.p9.huge", 1)]), "--instance-type ml.p9.huge"),
        (gov.ComputeQuota("t", [("ml.p5.48xlarge", 0)]), "--count"),
        (gov.ComputeQuota("t", accelerators=1, sharing="Share"), "--sharing"),
        (gov.ComputeQuota("t", accelerators=1, preempt="Always"), "--preempt"),
        (gov.ComputeQuota("t", accelerators=1, fair_share_weight=101), "--fair-share-weight"),
        (gov.ComputeQuota("t", [("ml.p5.48xlarge", 1)], vcpu=4), "--vcpu"),
    ],
)
def test_bad_quota_flags_are_named_in_the_error(quota: gov.ComputeQuota, flag: str) -> None:
    with pytest.raises(gov.InvalidGovernance, match=flag.replace(".", r"\.")):
        quota.validate()


def test_the_cluster_policy_becomes_priority_classes_and_a_fair_share_switch() -> None:
    policy = gov.ClusterPolicy(
        [gov.parse_priority_class("inference=90"), gov.parse_priority_class("training=70")],
        fair_share=True,
    )
    objs = gov.policy_objects(policy)
    assert [(o["metadata"]["name"], o.get("value")) for o in objs] == [
        ("inference-priority", 90),
        ("training-priority", 70),
        (gov.POLICY_CONFIGMAP, None),
    ]
    assert objs[-1]["data"] == {
        "fairSharing": "Enabled",
        "priorityClasses": "inference=90,training=70",
    }
    with pytest.raises(gov.InvalidGovernance, match="NAME=WEIGHT"):
        gov.parse_priority_class("inference")
    with pytest.raises(gov.InvalidGovernance, match="0-100"):
        gov.policy_objects(gov.ClusterPolicy([gov.PriorityClass("x", 500)]))


def test_quotas_beyond_the_cluster_capacity_are_warned_about() -> None:
    cqs = [gov.cluster_queue(gov.ComputeQuota(t, [("ml.p5.48xlarge", 2)])) for t in ("a", "b")]
    node = {
        "metadata": {"labels": {"node.kubernetes.io/instance-type": "ml.p5.48xlarge"}},
        "status": {
            "allocatable": {
                "nvidia.com/gpu": "8",
                "cpu": "192",
                "memory": "2048Gi",
                "vpc.amazonaws.com/efa": "32",
            }
        },
    }
    warnings = gov.quota_warnings(cqs, [node, node, node])
    assert (
        "quotas for nvidia.com/gpu in ml.p5.48xlarge add up to 32 but the cluster's nodes offer 24; jobs beyond that stay pending"
        in warnings
    )
    assert gov.quota_warnings(cqs[:1], [node, node]) == []


def test_the_queue_view_lists_pending_jobs_in_admission_order_with_their_reason() -> None:
    cq = gov.cluster_queue(gov.ComputeQuota("a", accelerators=8))
    cq["status"] = {
        "admittedWorkloads": 1,
        "flavorsUsage": [
            {
                "name": gov.DEFAULT_FLAVOR,
                "resources": [{"name": "nvidia.com/gpu", "total": "10", "borrowed": "2"}],
            }
        ],
    }
    lq = {
        "metadata": {"name": "hyperpod-ns-a-localqueue", "namespace": "hyperpod-ns-a"},
        "spec": {"clusterQueue": cq["metadata"]["name"]},
    }

    def wl(name: str, prio: int, ts: str, msg: str | None = None) -> dict:  # type: ignore[type-arg]
        status = (
            {"conditions": [{"type": "QuotaReserved", "status": "False", "message": msg}]}
            if msg
            else {}
        )
        return {
            "metadata": {"name": name, "namespace": "hyperpod-ns-a", "creationTimestamp": ts},
            "spec": {"queueName": "hyperpod-ns-a-localqueue", "priority": prio},
            "status": status,
        }

    rows = gov.queue_rows(
        [cq],
        [lq],
        [
            wl("late", 0, "2026-01-01T00:00:02Z"),
            wl("urgent", 90, "2026-01-01T00:00:03Z", "insufficient unused quota"),
            wl("early", 0, "2026-01-01T00:00:01Z"),
        ],
    )
    [row] = rows
    assert (row["team"], row["quota"], row["used"], row["borrowed"]) == (
        "a",
        "gpu 8",
        "gpu 10",
        "gpu 2",
    )
    assert [(p["position"], p["workload"], p["reason"]) for p in row["pending"]] == [
        (1, "hyperpod-ns-a/urgent", "insufficient unused quota"),
        (2, "hyperpod-ns-a/early", "waiting for its turn in the queue"),
        (3, "hyperpod-ns-a/late", "waiting for its turn in the queue"),
    ]
