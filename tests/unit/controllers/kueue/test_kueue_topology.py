"""Kueue topology-aware placement: one domain with room for the whole pod set, best fit."""

from __future__ import annotations

from typing import Any

from hyperpod.api import kueue as api
from hyperpod.api.topology import LAYER_PREFIX
from hyperpod.apiserver.registry import CRD_RESOURCE, Registry
from hyperpod.controllers.kueue.topology import (
    PREFERRED,
    REQUIRED,
    TOPOLOGIES,
    Placer,
    node_selector,
)

L2, L3 = f"{LAYER_PREFIX}2", f"{LAYER_PREFIX}3"
FLAVORS = {"tas": {"spec": {"nodeLabels": {"pool": "p5"}, "topologyName": "net"}}}


def cluster(reg: Registry) -> None:
    """Two layer-2 blocks; block b0 has switches s0 (3 nodes) and s1 (2 nodes), b1 has s2 (4)."""
    for crd in api.crds():
        reg.create(CRD_RESOURCE, crd)
    reg.create(
        TOPOLOGIES,
        {
            "apiVersion": "kueue.x-k8s.io/v1beta1",
            "kind": "Topology",
            "metadata": {"name": "net"},
            "spec": {"levels": [{"nodeLabel": L2}, {"nodeLabel": L3}]},
        },
    )
    layout = [("b0", "s0", 3), ("b0", "s1", 2), ("b1", "s2", 4)]
    for block, switch, n in layout:
        for i in range(n):
            name = f"{switch}-{i}"
            node = reg.create(
                "nodes",
                {
                    "apiVersion": "v1",
                    "kind": "Node",
                    "metadata": {"name": name, "labels": {"pool": "p5", L2: block, L3: switch}},
                },
            )
            node["status"] = {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"}}
            reg.update("nodes/status", node)
    reg.create(  # a node of another pool (the flavor's nodeLabels exclude it)
        "nodes",
        {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": "other", "labels": {"pool": "cpu", L2: "b0", L3: "s1"}},
        },
    )


def busy(reg: Registry, node: str) -> None:
    reg.create(
        "pods",
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": f"busy-{node}", "namespace": "default"},
            "spec": {
                "nodeName": node,
                "containers": [
                    {"name": "c", "image": "x", "resources": {"requests": {"cpu": "3"}}}
                ],
            },
        },
    )


def workload(name: str, count: int, notes: dict[str, str]) -> tuple[dict[str, Any], dict]:
    template = {
        "metadata": {"annotations": notes},
        "spec": {
            "containers": [{"name": "c", "image": "x", "resources": {"requests": {"cpu": "3"}}}]
        },
    }
    wl = {
        "metadata": {
            "name": name,
            "namespace": "default",
            "ownerReferences": [{"kind": "HyperPodPyTorchJob", "name": name, "uid": "u"}],
        },
        "spec": {"podSets": [{"name": "pod", "count": count, "template": template}]},
    }
    admission = {
        "clusterQueue": "cq",
        "podSetAssignments": [{"name": "pod", "flavors": {"cpu": "tas"}, "count": count}],
    }
    return wl, admission


def test_a_required_layer_picks_the_tightest_domain_that_fits(registry: Registry) -> None:
    cluster(registry)
    placer = Placer(registry)
    wl, admission = workload("two", 2, {REQUIRED: L3})
    assert placer.place("default/two", wl, admission, FLAVORS) is None
    assignment = admission["podSetAssignments"][0]["topologyAssignment"]
    # s1 (2 nodes) is the best fit for 2 pods; s0 (3) and s2 (4) have more room than needed.
    assert assignment == {"levels": [L2, L3], "domains": [{"values": ["b0", "s1"], "count": 2}]}
    assert node_selector(assignment) == {L2: "b0", L3: "s1"}


def test_bound_pods_and_fresh_reservations_take_room(registry: Registry) -> None:
    cluster(registry)
    busy(registry, "s0-0")  # s0 now has room for 2
    placer = Placer(registry)
    first, a1 = workload("first", 2, {REQUIRED: L3})
    assert placer.place("default/first", first, a1, FLAVORS) is None
    assert a1["podSetAssignments"][0]["topologyAssignment"]["domains"][0]["values"] == ["b0", "s0"]
    # first's pods are not bound yet: its 2 pods of room in s0 stay held, so s1 is next.
    second, a2 = workload("second", 2, {REQUIRED: L3})
    assert placer.place("default/second", second, a2, FLAVORS) is None
    assert a2["podSetAssignments"][0]["topologyAssignment"]["domains"][0]["values"] == ["b0", "s1"]
    placer.prune({"default/second"})  # first was evicted: its reservation goes
    assert set(placer.reservations) == {"default/second"}


def test_a_required_layer_without_room_is_refused_with_the_largest_room(
    registry: Registry,
) -> None:
    cluster(registry)
    wl, admission = workload("big", 5, {REQUIRED: L3})
    message = Placer(registry).place("default/big", wl, admission, FLAVORS)
    assert (
        message == f"pod set pod: no {L3} domain has room for 5 pods (the roomiest has room for 4)"
    )
    assert "topologyAssignment" not in admission["podSetAssignments"][0]


def test_a_preferred_layer_widens_then_gives_up_on_topology(registry: Registry) -> None:
    cluster(registry)
    placer = Placer(registry)
    wl, admission = workload("five", 5, {PREFERRED: L3})
    assert placer.place("default/five", wl, admission, FLAVORS) is None
    assignment = admission["podSetAssignments"][0]["topologyAssignment"]
    assert assignment == {"levels": [L2], "domains": [{"values": ["b0"], "count": 5}]}
    huge, admission = workload("huge", 9, {PREFERRED: L3})
    assert placer.place("default/huge", huge, admission, FLAVORS) is None
    assert "topologyAssignment" not in admission["podSetAssignments"][0]


def test_a_level_the_topology_lacks_is_refused_and_plain_flavors_are_ignored(
    registry: Registry,
) -> None:
    cluster(registry)
    wl, admission = workload("odd", 1, {REQUIRED: f"{LAYER_PREFIX}1"})
    message = Placer(registry).place("default/odd", wl, admission, FLAVORS)
    assert message is not None and "is not a level of topology net" in message
    plain = {"tas": {"spec": {"nodeLabels": {"pool": "p5"}}}}
    assert Placer(registry).place("default/odd", wl, admission, plain) is None
    assert "topologyAssignment" not in admission["podSetAssignments"][0]
