"""Reading a ``config.yaml`` written for the real HyperPod CLI's ``cluster-stack`` template
(``hyp init cluster-stack`` of PyPI ``sagemaker-hyperpod``, template v1.0) as an aws config.

The real template's fields (``create_vpc_stack``, ``helm_operators``, ``instance_group_settings``
in CloudFormation's PascalCase ...) map onto ``AwsClusterConfig``; what has no counterpart here is
named in a note rather than dropped silently, and what would change the cluster is an error.
"""

from __future__ import annotations

import json
from typing import Any

# Fields that only the real CLI's template has: any of them marks a file as written for it.
MARKERS = frozenset(
    {
        "create_vpc_stack",
        "create_eks_cluster_stack",
        "create_hyperpod_cluster_stack",
        "create_helm_chart_stack",
        "helm_operators",
        "instance_group_settings",
        "create_security_group_stack",
        "create_s3_endpoint_stack",
        "create_s3_bucket_stack",
        "create_sagemaker_iam_role_stack",
        "create_fsx_stack",
        "create_life_cycle_script_stack",
    }
)
# helm_operators switches -> HelmAddons fields
HELM_SWITCHES = {
    "trainingOperators.enabled": "training_operator",
    "nvidia-device-plugin.devicePlugin.enabled": "nvidia_device_plugin",
    "neuron-device-plugin.devicePlugin.enabled": "neuron_device_plugin",
    "aws-efa-k8s-device-plugin.devicePlugin.enabled": "efa_device_plugin",
    "mpi-operator.enabled": "mpi_operator",
    "health-monitoring-agent.enabled": "health_monitoring_agent",
    "deep-health-check.enabled": "deep_health_check",
    "job-auto-restart.enabled": "job_auto_restart",
}
IGNORED = {
    "namespace": "hyp renders the add-ons itself (no helm release)",
    "helm_repo_url": "hyp renders the add-ons itself (no helm chart checkout)",
    "helm_repo_path": "hyp renders the add-ons itself (no helm chart checkout)",
    "helm_release": "hyp renders the add-ons itself (no helm release)",
    "nat_gateway_ids": "a reused VPC keeps its own NAT routes",
    "private_route_table_ids": "a reused VPC keeps its own route tables",
    "stage": "used by the inference operator only",
    "custom_bucket_name": "hyp renders one template inline (no template bucket)",
    "github_raw_url": "hyp uploads its own lifecycle script (lifecycle.script_file for yours)",
    "create_life_cycle_script_stack": "hyp always uploads the lifecycle script",
    "fsx_subnet_id": "FSx goes in the nodes' subnet",
    "fsx_availability_zone_id": "FSx goes in the nodes' subnet",
    "data_compression_type": "FSx uses LZ4 compression",
    "file_system_type_version": "FSx uses the PERSISTENT_2 default version",
    "template": "",
    "version": "",
    "provider": "",
}


class NotConvertible(ValueError):
    """A real-CLI setting that hyp cannot honour; the message names the field."""


def is_real_cli(data: dict[str, Any]) -> bool:
    return bool(MARKERS & set(data))


def _bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("true", "1", "yes")
    return bool(value)


def _helm(text: str, notes: list[str]) -> dict[str, bool]:
    out: dict[str, bool] = {}
    for part in (p.strip() for p in str(text).split(",")):
        if not part:
            continue
        key, _, value = part.partition("=")
        field = HELM_SWITCHES.get(key.strip())
        if field is None:
            notes.append(f"helm_operators: {key.strip()} has no hyp add-on: ignored")
        else:
            out[field] = _bool(value)
    return out


def _group(raw: Any, first_az: str | None, notes: list[str]) -> dict[str, Any]:
    g = json.loads(raw) if isinstance(raw, str) else dict(raw)
    name = g.get("InstanceGroupName")
    if not name or not g.get("InstanceType"):
        raise NotConvertible(
            "instance_group_settings: every group needs InstanceGroupName and InstanceType"
        )
    out: dict[str, Any] = {
        "name": name,
        "instance_type": g["InstanceType"],
        "instance_count": int(g.get("InstanceCount", 1)),
        "threads_per_core": int(g.get("ThreadsPerCore", 1)),
    }
    for storage in g.get("InstanceStorageConfigs") or []:
        size = (storage.get("EbsVolumeConfig") or {}).get("VolumeSizeInGB")
        if size:
            out["ebs_volume_gb"] = int(size)
    if g.get("OnStartDeepHealthChecks"):
        out["deep_health_checks"] = list(g["OnStartDeepHealthChecks"])
    if g.get("TrainingPlanArn"):
        out["training_plan_arn"] = g["TrainingPlanArn"]
    az = g.get("TargetAvailabilityZoneId")
    if az and first_az and az != first_az:
        notes.append(
            f"instance group {name}: TargetAvailabilityZoneId {az} differs from the first "
            f"availability_zone_ids entry ({first_az}), where hyp puts every node"
        )
    return out


def convert(data: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """(an aws cluster-stack config, notes about what did not carry over)."""
    notes: list[str] = []
    d = dict(data)
    out: dict[str, Any] = {"template": "cluster-stack", "version": "1.0", "provider": "aws"}
    net: dict[str, Any] = {}
    eks: dict[str, Any] = {}
    helm: dict[str, Any] = {}
    lifecycle: dict[str, Any] = {}
    iam: dict[str, Any] = {}
    fsx: dict[str, Any] = {}
    if "region" in d:
        out["region"] = d.pop("region")
    for key in ("resource_name_prefix", "hyperpod_cluster_name", "node_recovery"):
        if d.get(key) is not None:
            out[key] = d.pop(key)
    if d.get("node_provisioning_mode") is not None:
        out["node_provisioning_mode"] = d.pop("node_provisioning_mode")
    azs = d.pop("availability_zone_ids", None)
    if azs:
        out["availability_zone_ids"] = list(azs)
    if "create_hyperpod_cluster_stack" in d and not _bool(d.pop("create_hyperpod_cluster_stack")):
        raise NotConvertible(
            "create_hyperpod_cluster_stack: false is not supported: a hyp cluster stack always "
            "creates the HyperPod cluster"
        )
    if "create_eks_cluster_stack" in d:
        eks["create"] = _bool(d.pop("create_eks_cluster_stack"))
    if d.get("eks_cluster_name"):
        eks["cluster_name"] = d.pop("eks_cluster_name")
    if d.get("kubernetes_version"):
        eks["kubernetes_version"] = str(d.pop("kubernetes_version"))
    if "create_helm_chart_stack" in d:
        helm["install"] = _bool(d.pop("create_helm_chart_stack"))
    if d.get("helm_operators"):
        helm.update(_helm(d.pop("helm_operators"), notes))
    groups = d.pop("instance_group_settings", None) or []
    first_az = out.get("availability_zone_ids", [None])[0]
    out["instance_groups"] = [_group(g, first_az, notes) for g in groups]
    for key in ("rig_settings", "rig_s3_bucket_name"):
        if d.get(key):
            raise NotConvertible(f"{key}: restricted instance groups are not supported by hyp")
        d.pop(key, None)
    if _bool(d.pop("enable_hp_inference_feature", False)):
        notes.append("enable_hp_inference_feature: the inference operator is not installed")
    tags = d.pop("tags", None) or []
    if isinstance(tags, str):
        tags = json.loads(tags)
    out["tags"] = {
        (t["Key"] if isinstance(t, dict) else str(t)): (
            str(t.get("Value", "")) if isinstance(t, dict) else ""
        )
        for t in tags
    }
    if "create_vpc_stack" in d:
        net["create_vpc"] = _bool(d.pop("create_vpc_stack"))
    for key in ("vpc_id", "vpc_cidr", "security_group_id"):
        if d.get(key):
            net[key] = d.pop(key)
    if "create_security_group_stack" in d:
        net["create_security_group"] = _bool(d.pop("create_security_group_stack"))
    sgs = d.pop("security_group_ids", None) or []
    if sgs and "security_group_id" not in net:
        net["security_group_id"] = sgs[0]
        net["create_security_group"] = False
        if len(sgs) > 1:
            notes.append(f"security_group_ids: hyp uses one group; kept {sgs[0]}")
    subnets = d.pop("private_subnet_ids", None) or []
    if subnets:
        net["create_private_subnet"] = False
        net["private_subnet_id"] = subnets[0]
        if len(subnets) > 1:
            notes.append(f"private_subnet_ids: the nodes use one subnet; kept {subnets[0]}")
    if d.pop("eks_private_subnet_ids", None):
        notes.append(
            "eks_private_subnet_ids: hyp creates the EKS subnets from networking.eks_subnet_cidrs"
        )
    if "create_s3_endpoint_stack" in d:
        net["create_s3_endpoint"] = _bool(d.pop("create_s3_endpoint_stack"))
    if "create_s3_bucket_stack" in d:
        lifecycle["create_bucket"] = _bool(d.pop("create_s3_bucket_stack"))
    bucket = d.pop("s3_bucket_name", None)
    if bucket and (bucket != "s3-bucket" or lifecycle.get("create_bucket") is False):
        lifecycle["bucket_name"] = bucket
    on_create = d.pop("on_create_path", None)
    if on_create and on_create != "sagemaker-hyperpod-eks-bucket":
        lifecycle["on_create_script"] = on_create
    if "create_sagemaker_iam_role_stack" in d:
        iam["create_role"] = _bool(d.pop("create_sagemaker_iam_role_stack"))
    role = d.pop("sagemaker_iam_role_name", None)
    if iam.get("create_role") is False:
        raise NotConvertible(
            f"sagemaker_iam_role_name: {role!r} is reused: put its full ARN in iam.role_arn "
            "(arn:aws:iam::<account>:role/<name>) after converting"
        )
    if "create_fsx_stack" in d:
        fsx["create"] = _bool(d.pop("create_fsx_stack"))
    if d.get("storage_capacity"):
        fsx["storage_capacity_gib"] = int(d.pop("storage_capacity"))
    if d.get("per_unit_storage_throughput"):
        fsx["per_unit_storage_throughput"] = int(d.pop("per_unit_storage_throughput"))
    if d.get("fsx_file_system_id"):
        raise NotConvertible("fsx_file_system_id: reusing an FSx file system is not supported")
    d.pop("fsx_file_system_id", None)
    for key in list(d):
        why = IGNORED.get(key)
        d.pop(key)
        if why:
            notes.append(f"{key}: ignored ({why})")
        elif why is None:
            notes.append(f"{key}: not a field of the real template's v1.0 either: ignored")
    for name, section in (
        ("networking", net),
        ("eks", eks),
        ("helm", helm),
        ("lifecycle", lifecycle),
        ("iam", iam),
        ("fsx", fsx),
    ):
        if section:
            out[name] = section
    return out, notes
