"""Add-on manifests: health-taint tolerations, device plugins only where the device exists, REST paths."""

from __future__ import annotations

import json
from pathlib import Path
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
    # training operator, health agent, three device plugins
    assert len(workloads) == 5
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


def test_switches_turn_add_ons_off_and_on() -> None:
    manifests, _ = addons.render(
        _cfg(nvidia_device_plugin=False, training_operator=False, kueue=True), "us-west-2"
    )
    names = set(_by_name(manifests))
    assert (
        "DaemonSet/nvidia-device-plugin" not in names
        and "Deployment/training-operator" not in names
    )
    assert {"Namespace/aws-hyperpod", "Namespace/kubeflow", "Namespace/kueue-system"} <= names
    assert "CustomResourceDefinition/clusterqueues.kueue.x-k8s.io" in names
    assert "CustomResourceDefinition/pytorchjobs.kubeflow.org" not in names
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


def test_the_training_operator_ships_its_pytorchjob_crd_before_it() -> None:
    manifests, _ = addons.render(_cfg(), "us-west-2")
    kinds = [f"{m['kind']}/{m['metadata']['name']}" for m in manifests]
    crd = kinds.index("CustomResourceDefinition/pytorchjobs.kubeflow.org")
    assert crd < kinds.index("Deployment/training-operator")
    assert kinds[0].startswith("Namespace/")


def test_resiliency_add_ons_are_rendered_not_just_noted() -> None:
    manifests, notes = addons.render(_cfg(), "us-west-2")
    names = set(_by_name(manifests))
    assert "DaemonSet/health-monitoring-agent" in names
    assert {"ClusterRole/deep-health-check", "ConfigMap/deep-health-check"} <= names
    assert "ClusterRole/job-auto-restart" in names
    assert not any("not rendered by hyp" in n for n in notes)


def test_kueue_comes_with_the_objects_compute_quota_makes_for_the_whole_cluster() -> None:
    ms = _by_name(addons.render(_cfg(kueue=True), "us-west-2")[0])
    cq = ms["ClusterQueue/hyperpod-ns-default-clusterqueue"]["spec"]
    flavor = cq["resourceGroups"][0]["flavors"][0]
    assert flavor["name"] == "ml.p5.48xlarge"
    assert {"name": "nvidia.com/gpu", "nominalQuota": "8"} in flavor["resources"]
    assert ms["LocalQueue/hyperpod-ns-default-localqueue"]["metadata"]["namespace"] == (
        "hyperpod-ns-default"
    )
    assert "ValidatingWebhookConfiguration/kueue-validating-webhook-configuration" in ms


def test_mpi_fsx_and_observability_follow_their_switches() -> None:
    cfg = _cfg(mpi_operator=True, observability=True)
    cfg = cfg.model_copy(update={"fsx": cfg.fsx.model_copy(update={"create": True})})
    ms = _by_name(addons.render(cfg, "us-west-2")[0])
    assert "CustomResourceDefinition/mpijobs.kubeflow.org" in ms
    assert ms["PersistentVolume/fsx-lustre"]["spec"]["csi"]["driver"] == "fsx.csi.aws.com"
    assert "StorageClass/fsx-lustre" in ms and "DaemonSet/node-exporter" in ms
    assert ms["Service/node-exporter"]["metadata"]["annotations"]["prometheus.io/scrape"] == "true"
    filled = addons.fill_fsx(
        [ms["PersistentVolume/fsx-lustre"]],
        {"FsxFileSystemId": "fs-1", "FsxDnsName": "d", "FsxMountName": "m"},
    )
    assert filled[0]["spec"]["csi"]["volumeHandle"] == "fs-1"


def test_the_manifests_are_written_as_ordered_files_with_their_versions(tmp_path: Path) -> None:
    written = addons.write(tmp_path, _cfg(kueue=True), "us-west-2")
    assert [p.name for p in written][:2] == ["00-namespaces.yaml", "10-crds.yaml"]
    assert addons.read(tmp_path) == addons.render(_cfg(kueue=True), "us-west-2")[0]
    versions = json.loads((tmp_path / "addons" / "versions.json").read_text())
    assert versions["charts"]["kueue"]["version"] and versions["versions"]["kueue"]
