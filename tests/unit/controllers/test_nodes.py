"""Node objects for the local machine and simulated groups."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperpod.runtime.nodes import local_config, local_node, simulated_nodes


def test_the_local_node_has_real_capacity_and_the_health_label(tmp_path: Path) -> None:
    node = local_node(
        {"nodes": {"local": {"name": "box", "instanceType": "ml.g5.xlarge"}}}, tmp_path
    )
    labels = node["metadata"]["labels"]
    assert labels["kubernetes.io/hostname"] == "box"
    assert labels["node.kubernetes.io/instance-type"] == "ml.g5.xlarge"
    assert labels["sagemaker.amazonaws.com/node-health-status"] == "Schedulable"
    cap = node["status"]["capacity"]
    assert int(cap["cpu"]) >= 1 and cap["memory"].endswith("Ki") and cap["pods"] == "110"


def test_simulated_groups_expand_to_named_labelled_nodes() -> None:
    nodes = simulated_nodes(
        {"nodes": {"simulated": [{"group": "trn", "instanceType": "trn1.32xlarge", "count": 2}]}}
    )
    assert [n["metadata"]["name"] for n in nodes] == ["trn-0", "trn-1"]
    assert nodes[0]["status"]["capacity"]["aws.amazon.com/neurondevice"] == "16"


def test_bad_simulated_entries_name_the_field() -> None:
    with pytest.raises(
        ValueError, match=r"nodes.simulated\[0\].instanceType 'ml.x9' is not a known"
    ):
        simulated_nodes({"nodes": {"simulated": [{"group": "g", "instanceType": "ml.x9"}]}})
    with pytest.raises(ValueError, match=r"nodes.simulated\[0\].group is required"):
        simulated_nodes({"nodes": {"simulated": [{"instanceType": "ml.p5.48xlarge"}]}})


def test_the_local_node_can_be_switched_off() -> None:
    assert local_config({"nodes": {"local": {"enabled": False}}}) is None
    assert local_config({"nodes": {"local": None}}) is None
    local = local_config({})
    assert local is not None and local.name is None


def test_local_capacity_can_be_overridden_and_bad_values_name_the_field(tmp_path: Path) -> None:
    node = local_node({"nodes": {"local": {"capacity": {"cpu": "16"}}}}, tmp_path)
    assert node["status"]["capacity"]["cpu"] == "16"
    with pytest.raises(ValueError, match=r"nodes\.local\.capacity\.cpu: 'lots' is not a quantity"):
        local_node({"nodes": {"local": {"capacity": {"cpu": "lots"}}}}, tmp_path)


def test_simulated_nodes_carry_network_topology_labels_in_blocks_of_four() -> None:
    group = {"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 6}
    nodes = simulated_nodes({"nodes": {"simulated": [group]}})
    layer3 = [n["metadata"]["labels"]["topology.k8s.aws/network-node-layer-3"] for n in nodes]
    assert layer3[:4] == [layer3[0]] * 4 and layer3[4] != layer3[0]
    layer1 = {n["metadata"]["labels"]["topology.k8s.aws/network-node-layer-1"] for n in nodes}
    assert len(layer1) == 1


def test_a_mig_profile_splits_every_gpu_into_partitions() -> None:
    group = {
        "group": "p5",
        "instanceType": "ml.p5.48xlarge",
        "count": 1,
        "migProfile": "mig-3g.40gb",
    }
    (node,) = simulated_nodes({"nodes": {"simulated": [group]}})
    capacity = node["status"]["capacity"]
    assert capacity["nvidia.com/mig-3g.40gb"] == "16"  # 2 per GPU x 8
    assert "nvidia.com/gpu" not in capacity
    assert node["metadata"]["labels"]["nvidia.com/mig.config.state"] == "success"
    assert node["metadata"]["labels"]["nvidia.com/mig.config"] == "all-3g.40gb"
    bad = {**group, "instanceType": "ml.g5.xlarge"}
    with pytest.raises(ValueError, match=r"nodes.simulated\[0\].migProfile"):
        simulated_nodes({"nodes": {"simulated": [bad]}})
