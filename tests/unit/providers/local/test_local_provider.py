"""Deriving the control-plane config from the user's local config."""

from __future__ import annotations

from hyperpod.api.cluster_config import LocalClusterConfig
from hyperpod.providers.local.provider import controlplane_config


def test_simulated_groups_and_addons_reach_the_control_plane_config() -> None:
    cfg = LocalClusterConfig.model_validate(
        {
            "cluster_name": "dev",
            "instance_groups": [
                {"name": "cpu", "kind": "local", "instance_type": "ml.m5.2xlarge"},
                {"name": "p5", "instance_type": "ml.p5.48xlarge", "count": 4},
            ],
            "addons": {"kueue": False},
        }
    )
    out = controlplane_config(cfg)
    assert out["clusterName"] == "dev"
    assert out["nodes"]["local"]["instanceType"] == "ml.m5.2xlarge"
    taint = {"key": "hyperpod.local/simulated", "value": "true", "effect": "NoSchedule"}
    assert out["nodes"]["simulated"] == [
        {"group": "p5", "instanceType": "ml.p5.48xlarge", "count": 4, "taints": [taint]}
    ]
    assert out["addons"] == {
        "trainingOperator": True,
        "kueue": False,
        "devicePlugins": True,
        "healthAgent": True,
    }


def test_simulated_nodes_can_be_left_untainted() -> None:
    cfg = LocalClusterConfig.model_validate(
        {
            "instance_groups": [
                {"name": "local", "kind": "local"},
                {"name": "g5", "instance_type": "ml.g5.xlarge", "tainted": False},
            ]
        }
    )
    assert controlplane_config(cfg)["nodes"]["simulated"][0]["taints"] == []
