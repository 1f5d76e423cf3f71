"""Which EKS cluster a kubeconfig context talks to, and what the observability add-on's
configuration values say (pure functions behind ``hyp get-monitoring`` on EKS)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hyperpod.providers.aws import kubeconfig, observability
from hyperpod.providers.aws.observability import EksCluster

ARN = "arn:aws:eks:eu-west-1:123456789012:cluster/train-eks"
ENDPOINT = "https://0123456789ABCDEF.gr7.eu-west-1.eks.amazonaws.com"


def _aws_cli_kubeconfig(args: list[str], name: str = ARN) -> dict[str, Any]:
    """The shape `aws eks update-kubeconfig` writes: an ARN-named context, `aws eks get-token`."""
    return {
        "clusters": [{"name": name, "cluster": {"server": ENDPOINT}}],
        "users": [{"name": name, "user": {"exec": {"command": "aws", "args": args}}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name}}],
        "current-context": name,
    }


def test_our_set_cluster_context_kubeconfig_names_cluster_region_and_profile() -> None:
    cfg = kubeconfig.build(
        eks_name="train-eks",
        arn=ARN,
        endpoint=ENDPOINT,
        ca_data="",
        region="eu-west-1",
        profile="ml",
    )
    assert observability.eks_cluster_of_context(cfg) == EksCluster("train-eks", "eu-west-1", "ml")


def test_the_aws_clis_kubeconfig_is_read_from_its_get_token_arguments() -> None:
    args = ["--region", "eu-west-1", "eks", "get-token", "--cluster-name", "train-eks"]
    assert observability.eks_cluster_of_context(_aws_cli_kubeconfig(args)) == EksCluster(
        "train-eks", "eu-west-1"
    )


def test_an_arn_named_context_without_token_arguments_still_names_the_cluster() -> None:
    cfg = _aws_cli_kubeconfig([])
    assert observability.eks_cluster_of_context(cfg) == EksCluster("train-eks", "eu-west-1")


def test_a_cluster_name_with_only_an_eks_endpoint_takes_the_region_from_the_host() -> None:
    cfg = _aws_cli_kubeconfig(["eks", "get-token", "--cluster-name=other"], name="mine")
    assert observability.eks_cluster_of_context(cfg) == EksCluster("other", "eu-west-1")


@pytest.mark.parametrize(
    "cfg",
    [
        {},
        {"current-context": "gone"},
        _aws_cli_kubeconfig(["eks", "get-token"], name="local"),
    ],
)
def test_contexts_that_name_no_eks_cluster_give_none(cfg: dict[str, Any]) -> None:
    assert observability.eks_cluster_of_context(cfg) is None


def test_the_named_context_wins_over_the_current_one() -> None:
    cfg = _aws_cli_kubeconfig(["eks", "get-token", "--cluster-name", "train-eks"])
    cfg["contexts"].append({"name": "kind", "context": {"cluster": "kind", "user": "kind"}})
    assert observability.eks_cluster_of_context(cfg, "kind") is None


def test_configuration_values_give_the_prometheus_grafana_and_metric_sets() -> None:
    values = {
        "ampWorkspace": {"prometheusEndpoint": "https://aps-workspaces.eu-west-1.amazonaws.com/x/"},
        "amgWorkspace": {"arn": "arn:aws:grafana:eu-west-1:123456789012:/workspaces/g-0a1b2c3d4e"},
        "metricsProvider": {"nodeMetrics": {"level": "BASIC"}, "ncclMetrics": {"enabled": False}},
    }
    addon = {
        "status": "ACTIVE",
        "addonVersion": "v1.0.3",
        "configurationValues": json.dumps(values),
    }
    mon = observability.from_addon(addon, "us-east-1")
    assert mon.prometheus_url == "https://aps-workspaces.eu-west-1.amazonaws.com/x/"
    # the workspace's own region (from its ARN), not the lookup's
    assert mon.grafana_url == (
        "https://g-0a1b2c3d4e.grafana-workspace.eu-west-1.amazonaws.com/d/"
        "aws-sm-hp-observability-cluster-v1_0"
    )
    assert mon.metric_rows() == [("nodeMetrics", "BASIC"), ("ncclMetrics", "False")]
    assert (mon.status, mon.version) == ("ACTIVE", "v1.0.3")


@pytest.mark.parametrize("text", [None, "", "[1, 2]", "a: [unclosed", "ampWorkspace: 3"])
def test_missing_or_odd_configuration_values_leave_every_url_unset(text: str | None) -> None:
    mon = observability.from_addon({"configurationValues": text}, "us-east-1")
    assert (mon.prometheus_url, mon.grafana_url, mon.metrics) == (None, None, {})


def test_a_grafana_arn_without_a_workspace_id_gives_no_url() -> None:
    assert observability.grafana_url("arn:aws:grafana:eu-west-1:1:/workspaces/", "x") is None
    assert observability.grafana_url("g-abc", "ap-south-1") == (
        "https://g-abc.grafana-workspace.ap-south-1.amazonaws.com/d/"
        "aws-sm-hp-observability-cluster-v1_0"
    )


def test_the_install_hint_names_the_addon_and_the_cluster() -> None:
    hint = observability.install_hint("train-eks")
    assert "amazon-sagemaker-hyperpod-observability" in hint
    assert "--cluster-name train-eks" in hint


def test_rendering_the_observability_switch_notes_that_the_aws_addon_is_left_to_the_user() -> None:
    from hyperpod.api.aws_config import AwsClusterConfig
    from hyperpod.providers.aws import addons

    def cfg(on: bool) -> AwsClusterConfig:
        return AwsClusterConfig.model_validate(
            {
                "availability_zone_ids": ["usw2-az2", "usw2-az1"],
                "instance_groups": [
                    {"name": "g", "instance_type": "ml.p5.48xlarge", "instance_count": 1}
                ],
                "helm": {"observability": on},
            }
        )

    manifests, notes = addons.render(cfg(True), "us-west-2")
    assert any(m["metadata"]["name"] == "node-exporter" for m in manifests)
    assert any(observability.ADDON in n and "hyp get-monitoring" in n for n in notes)
    assert not any(observability.ADDON in n for n in addons.render(cfg(False), "us-west-2")[1])
