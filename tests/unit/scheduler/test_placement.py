"""Placement: filters, scores and kube-scheduler's FailedScheduling words."""

from __future__ import annotations

from typing import Any

from hyperpod.scheduler.placement import NodeInfo, PodInfo, place, pod_requests, queue_order

UNREACHABLE = {"key": "node.kubernetes.io/unreachable", "effect": "NoExecute"}


def node(
    name: str,
    *,
    gpus: int = 0,
    cpu: str = "8",
    labels: dict[str, str] | None = None,
    taints: list[dict[str, Any]] | None = None,
    unschedulable: bool = False,
) -> NodeInfo:
    alloc = {"cpu": cpu, "memory": "32Gi", "pods": "110"}
    if gpus:
        alloc["nvidia.com/gpu"] = str(gpus)
    return NodeInfo.from_node(
        {
            "metadata": {"name": name, "labels": labels or {}},
            "spec": {"taints": taints or [], "unschedulable": unschedulable},
            "status": {"allocatable": alloc},
        }
    )


def pod(requests: dict[str, str] | None = None, **spec: Any) -> PodInfo:
    c: dict[str, Any] = {"name": "main", "resources": {"requests": requests or {}}}
    return PodInfo.from_pod(
        {"metadata": {"name": "p", "namespace": "default"}, "spec": {"containers": [c], **spec}}
    )


def test_the_issue_example_message_is_reproduced_word_for_word() -> None:
    nodes = [node("a", gpus=1), node("b"), node("c", gpus=8, taints=[UNREACHABLE])]
    result = place(pod({"nvidia.com/gpu": "2"}), nodes)
    assert result.node is None
    assert result.message == (
        "0/3 nodes are available: 2 Insufficient nvidia.com/gpu, "
        "1 node(s) had untolerated taint {node.kubernetes.io/unreachable: }."
    )


def test_a_pod_goes_to_the_node_with_enough_gpus() -> None:
    assert place(pod({"nvidia.com/gpu": "4"}), [node("a", gpus=2), node("b", gpus=8)]).node == "b"


def test_used_resources_count_against_allocatable() -> None:
    a = node("a", cpu="2")
    a.add(pod_requests({"spec": {"containers": [{"resources": {"requests": {"cpu": "1500m"}}}]}}))
    result = place(pod({"cpu": "1"}), [a])
    assert result.message == "0/1 nodes are available: 1 Insufficient cpu."


def test_limits_stand_in_for_missing_requests_and_init_containers_take_the_max() -> None:
    p = {
        "spec": {
            "containers": [
                {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
                {"resources": {"requests": {"cpu": "500m"}}},
            ],
            "initContainers": [{"resources": {"requests": {"cpu": "4"}}}],
        }
    }
    assert pod_requests(p) == {"cpu": 4000, "memory": 1 << 30, "pods": 1}


def test_node_selector_and_required_affinity_operators_filter_nodes() -> None:
    nodes = [
        node("small", labels={"size": "2", "zone": "a"}),
        node("big", labels={"size": "16", "zone": "b", "gpu": "yes"}),
    ]
    term = lambda *exprs: {  # noqa: E731
        "nodeAffinity": {
            "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{"matchExpressions": list(exprs)}]
            }
        }
    }
    gt = {"key": "size", "operator": "Gt", "values": ["8"]}
    lt = {"key": "size", "operator": "Lt", "values": ["8"]}
    assert place(pod(affinity=term(gt)), nodes).node == "big"
    assert place(pod(affinity=term(lt)), nodes).node == "small"
    assert place(pod(affinity=term({"key": "gpu", "operator": "Exists"})), nodes).node == "big"
    absent = {"key": "gpu", "operator": "DoesNotExist"}
    assert place(pod(affinity=term(absent)), nodes).node == "small"
    notin = {"key": "zone", "operator": "NotIn", "values": ["b"]}
    assert place(pod(affinity=term(notin)), nodes).node == "small"
    inn = {"key": "zone", "operator": "In", "values": ["b"]}
    assert place(pod(affinity=term(inn)), nodes).node == "big"
    miss = place(pod(nodeSelector={"zone": "c"}), nodes)
    assert miss.message == (
        "0/2 nodes are available: 2 node(s) didn't match Pod's node affinity/selector."
    )


def test_tolerations_open_tainted_nodes_and_prefer_no_schedule_only_lowers_the_score() -> None:
    health = {
        "key": "sagemaker.amazonaws.com/node-health-status",
        "value": "Unschedulable",
        "effect": "NoSchedule",
    }
    tainted = node("tainted", taints=[health])
    assert place(pod(), [tainted]).message == (
        "0/1 nodes are available: 1 node(s) had untolerated taint "
        "{sagemaker.amazonaws.com/node-health-status: Unschedulable}."
    )
    tol = [{"key": health["key"], "operator": "Equal", "value": "Unschedulable"}]
    assert place(pod(tolerations=tol), [tainted]).node == "tainted"
    assert place(pod(tolerations=[{"operator": "Exists"}]), [tainted]).node == "tainted"
    soft = node("a-soft", taints=[{"key": "k", "effect": "PreferNoSchedule"}])
    assert place(pod(), [soft, node("b-plain")]).node == "b-plain"
    assert place(pod(), [soft]).node == "a-soft"


def test_cordoned_nodes_and_full_nodes_and_an_empty_cluster_explain_themselves() -> None:
    assert place(pod(), [node("a", unschedulable=True)]).message == (
        "0/1 nodes are available: 1 node(s) were unschedulable."
    )
    assert (
        place(pod(), []).message == "0/0 nodes are available: no nodes available to schedule pods."
    )
    full = node("a")
    full.requested["pods"] = 110
    assert place(pod(), [full]).message == "0/1 nodes are available: 1 Too many pods."


def test_least_allocated_spreads_pods() -> None:
    a, b = node("a"), node("b")
    a.add({"cpu": 4000})
    assert place(pod({"cpu": "1"}), [a, b]).node == "b"


def test_higher_priority_pods_are_queued_first() -> None:
    low, high = pod(priority=1), pod(priority=100)
    assert sorted([low, high], key=queue_order)[0] is high


def test_preferred_node_affinity_outweighs_a_little_free_room() -> None:
    a, b = node("a", labels={"zone": "x"}), node("b", labels={"zone": "y"})
    a.add({"cpu": 2000})
    pref = {
        "nodeAffinity": {
            "preferredDuringSchedulingIgnoredDuringExecution": [
                {
                    "weight": 50,
                    "preference": {
                        "matchExpressions": [{"key": "zone", "operator": "In", "values": ["x"]}]
                    },
                }
            ]
        }
    }
    assert place(pod(), [a, b]).node == "b"
    assert place(pod(affinity=pref), [a, b]).node == "a"
