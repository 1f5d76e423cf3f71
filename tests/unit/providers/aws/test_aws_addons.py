"""Add-on manifests: health-taint tolerations, device plugins only where the device exists, REST paths."""

from __future__ import annotations

from typing import Any

from hyperpod.api.aws_config import AwsClusterConfig
from hyperpod.providers.aws import addons


def _cfg(**helm: Any) -> AwsClusterConfig:
    return AwsClusterConfig.model_validate(
        {
            "availability_zone_ids": ["usw2-az2", "usw2-az1"],
            "instance_groups": [
                {"name": "g", "instance_type": "ml.p5.48xlarge", "instance_count": 1}
            ],
            "helm": helm,
        }
    )


def _by_name(manifests: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{m['kind']}/{m['metadata']['name']}": m for m in manifests}


def test_every_workload_tolerates_the_hyperpod_health_taint() -> None:
    manifests, _ = addons.render(_cfg(neuron_device_plugin=True), "us-west-2")
    workloads = [m for m in manifests if m["kind"] in ("DaemonSet", "Deployment")]
    assert len(workloads) == 4
    for m in workloads:
        assert addons.HEALTH_TOLERATION in m["spec"]["template"]["spec"]["tolerations"], m[
            "metadata"
        ]["name"]


def test_device_plugins_run_only_on_types_with_the_device() -> None:
    manifests, _ = addons.render(_cfg(neuron_device_plugin=True), "us-west-2")
    ms = _by_name(manifests)

    def types(name: str) -> list[str]:
        spec = ms[f"DaemonSet/{name}"]["spec"]["template"]["spec"]
        term = spec["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
        return list(term["nodeSelectorTerms"][0]["matchExpressions"][0]["values"])

    assert "ml.p5.48xlarge" in types("nvidia-device-plugin")
    assert "ml.m5.2xlarge" not in types("nvidia-device-plugin")
    assert "ml.trn1.32xlarge" not in types("nvidia-device-plugin")
    assert "ml.g5.xlarge" not in types("aws-efa-k8s-device-plugin")  # no EFA on a g5.xlarge
    assert types("neuron-device-plugin") == ["ml.trn1.32xlarge", "ml.trn2.48xlarge"]
    assert (
        "us-west-2"
        in ms["DaemonSet/aws-efa-k8s-device-plugin"]["spec"]["template"]["spec"]["containers"][0][
            "image"
        ]
    )


def test_switches_turn_add_ons_off_and_unrendered_ones_are_noted() -> None:
    manifests, notes = addons.render(
        _cfg(nvidia_device_plugin=False, training_operator=False, kueue=True), "us-west-2"
    )
    names = set(_by_name(manifests))
    assert (
        "DaemonSet/nvidia-device-plugin" not in names
        and "Deployment/training-operator" not in names
    )
    assert {"Namespace/aws-hyperpod", "Namespace/kubeflow"} <= names
    assert any("Kueue (task governance)" in n for n in notes)
    assert addons.render(_cfg(install=False), "us-west-2")[0] == []


def test_rest_paths_follow_group_scope_and_plural() -> None:
    manifests, _ = addons.render(_cfg(), "us-west-2")
    ms = _by_name(manifests)
    assert addons.api_path(ms["Namespace/kubeflow"]) == "/api/v1/namespaces/kubeflow"
    assert (
        addons.api_path(ms["DaemonSet/nvidia-device-plugin"])
        == "/apis/apps/v1/namespaces/kube-system/daemonsets/nvidia-device-plugin"
    )
    assert (
        addons.api_path(ms["ClusterRole/training-operator"])
        == "/apis/rbac.authorization.k8s.io/v1/clusterroles/training-operator"
    )
