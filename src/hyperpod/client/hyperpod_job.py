"""The HyperPodPyTorchJob manifest ``hyp create hyp-pytorch-job`` sends (its default kind).

Shaped like the real HyperPod CLI's: one replica spec named ``pod`` with ``node-count``
replicas, a container named ``pytorch-job-container``, ``nprocPerNode`` as a string, the Kueue
labels on the job and its pod template, and ``runPolicy.jobMaxRetryCount`` from ``--max-retry``.
Resources, node selector, volumes and environment come from the PyTorchJob builder.
:class:`HyperPodOptions` carries the flags only the HyperPod CLI has: deep-health-check-passed
nodes only, the scheduler, Kueue topology annotations, elastic scaling bounds and accelerator
(MIG) partitions, mapped onto the manifest the way the real CLI's template 1.1 maps them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

from hyperpod.api import accelerator_partitions as partitions
from hyperpod.api import instance_types, topology
from hyperpod.client import job_kinds as jk
from hyperpod.client import pytorch_job as pj
from hyperpod.client.errors import InvalidJobSpec

GROUP = jk.HP_GROUP
VERSION = jk.HP_VERSION
PLURAL = jk.HP_PLURAL
KIND = jk.HP_KIND
POD_LABEL = jk.HP_POD_LABEL
NODE_RANK_LABEL = jk.HP_NODE_RANK_LABEL
CONTAINER = jk.HP_CONTAINER
REPLICA_NAME = "pod"
DEEP_HEALTH_LABEL = "sagemaker.amazonaws.com/deep-health-check-status"
PREFERRED_TOPOLOGY = "kueue.x-k8s.io/podset-preferred-topology"
REQUIRED_TOPOLOGY = "kueue.x-k8s.io/podset-required-topology"
TOPOLOGY_LABELS = topology.LABELS
SNOOZE_EVAL_PERIOD = 3600  # the real CLI's restartPolicy.evalPeriodSeconds with a snooze


@dataclass
class HyperPodOptions:
    """The flags of ``hyp create hyp-pytorch-job`` that only a HyperPodPyTorchJob has."""

    deep_health_check_passed_nodes_only: bool = False
    scheduler_type: str | None = None
    preferred_topology: str | None = None
    required_topology: str | None = None
    max_replica_count: int | None = None
    elastic_replica_increment_step: int | None = None
    elastic_replica_discrete_values: list[int] = field(default_factory=list)
    elastic_graceful_shutdown_timeout_in_seconds: int | None = None
    elastic_scaling_timeout_in_seconds: int | None = None
    elastic_scale_up_snooze_time_in_seconds: int | None = None
    accelerator_partition_type: str | None = None
    accelerator_partition_count: int | None = None
    accelerator_partition_limit: int | None = None

    def check(self, spec: pj.JobSpec) -> None:
        for flag, value in (
            ("--preferred-topology", self.preferred_topology),
            ("--required-topology", self.required_topology),
        ):
            if value is not None and value not in TOPOLOGY_LABELS:
                raise InvalidJobSpec(
                    f"{flag} {value!r} is not a topology label",
                    f"use one of {', '.join(TOPOLOGY_LABELS)}",
                )
        if self.scheduler_type is not None and not self.scheduler_type:
            raise InvalidJobSpec("--scheduler-type must not be empty")
        if self.elastic_replica_increment_step is not None and self.elastic_replica_discrete_values:
            raise InvalidJobSpec(
                "--elastic-replica-increment-step and --elastic-replica-discrete-values "
                "exclude each other",
                "scale in uniform steps or to listed replica counts, not both",
            )
        if self.max_replica_count is not None and self.max_replica_count < spec.node_count:
            raise InvalidJobSpec(
                f"--max-replica-count {self.max_replica_count} is below --node-count "
                f"{spec.node_count}"
            )
        for count in self.elastic_replica_discrete_values:
            if count <= 0 or (
                self.max_replica_count is not None and count > self.max_replica_count
            ):
                raise InvalidJobSpec(
                    f"--elastic-replica-discrete-values: {count} must be between 1 and "
                    f"--max-replica-count ({self.max_replica_count})"
                )
        self._check_partitions(spec)

    def _check_partitions(self, spec: pj.JobSpec) -> None:
        kind = self.accelerator_partition_type
        if kind is None:
            if self.accelerator_partition_count or self.accelerator_partition_limit:
                raise InvalidJobSpec(
                    "--accelerator-partition-count/-limit need --accelerator-partition-type",
                    "list the types with: hyp list-accelerator-partition-type --instance-type T",
                )
            return
        if spec.accelerators or spec.accelerators_limit:
            raise InvalidJobSpec(
                "--accelerator-partition-type cannot be combined with --accelerators",
                "a pod gets either whole GPUs or GPU partitions",
            )
        if not spec.instance_type:
            raise InvalidJobSpec(
                "--accelerator-partition-type needs --instance-type",
                "e.g. --instance-type ml.p5.48xlarge",
            )
        problem = partitions.check(spec.instance_type, kind)
        if problem is not None:
            raise InvalidJobSpec(
                f"--accelerator-partition-type: {problem}",
                f"hyp list-accelerator-partition-type --instance-type {spec.instance_type}",
            )
        for flag, amount in (
            ("--accelerator-partition-count", self.accelerator_partition_count),
            ("--accelerator-partition-limit", self.accelerator_partition_limit),
        ):
            if amount is not None and amount < 1:
                raise InvalidJobSpec(f"{flag} must be >= 1, got {amount}")


def build(spec: pj.JobSpec, extra: HyperPodOptions | None = None) -> dict[str, Any]:
    """The HyperPodPyTorchJob for ``spec`` (raises :class:`InvalidJobSpec` naming the flag)."""
    extra = extra or HyperPodOptions()
    extra.check(spec)
    kubeflow = pj.build(spec)
    master = kubeflow["spec"]["pytorchReplicaSpecs"]["Master"]
    template = copy.deepcopy(master["template"])
    for container in template["spec"]["containers"]:
        if container.get("name") == pj.CONTAINER:
            container["name"] = CONTAINER
    nproc = str(kubeflow["spec"].get("nprocPerNode") or "auto")
    if extra.accelerator_partition_type:
        nproc = _use_partitions(template, spec, extra)
    _pod_placement(template, extra)
    group: dict[str, Any] = {
        "name": REPLICA_NAME,
        "replicas": spec.node_count,
        "template": template,
    }
    if extra.max_replica_count is not None:
        group["maxReplicas"] = extra.max_replica_count
    job_spec: dict[str, Any] = {"nprocPerNode": nproc, "replicaSpecs": [group]}
    retries = spec.max_retry if spec.max_retry is not None else (1 if spec.auto_resume else None)
    snooze = extra.elastic_scale_up_snooze_time_in_seconds
    if retries is not None or snooze is not None:
        run_policy: dict[str, Any] = {"cleanPodPolicy": "None"}
        if retries is not None:
            run_policy["jobMaxRetryCount"] = retries
        if snooze is not None:
            run_policy["restartPolicy"] = {
                "evalPeriodSeconds": SNOOZE_EVAL_PERIOD,
                "scaleUpSnoozeTimeInSeconds": snooze,
            }
        job_spec["runPolicy"] = run_policy
    elastic = _elastic_policy(spec, extra)
    if elastic:
        job_spec["elasticPolicy"] = elastic
    metadata = {k: v for k, v in kubeflow["metadata"].items() if k != "annotations"}
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": KIND,
        "metadata": metadata,
        "spec": job_spec,
    }


def _use_partitions(template: dict[str, Any], spec: pj.JobSpec, extra: HyperPodOptions) -> str:
    """Ask for MIG partitions instead of whole GPUs; the processes per pod (one per partition)."""
    kind = str(extra.accelerator_partition_type)
    count = extra.accelerator_partition_count or extra.accelerator_partition_limit or 1
    limit = extra.accelerator_partition_limit or count
    key = partitions.RESOURCE_PREFIX + kind
    itype = instance_types.get(str(spec.instance_type))
    share = 0.0
    if itype is not None and itype.gpus:
        share = count * partitions.slices(kind) / (itype.gpus * partitions.SLICES_PER_GPU)
    for container in template["spec"]["containers"]:
        resources = container.setdefault("resources", {})
        for part, amount in (("requests", count), ("limits", limit)):
            values = resources.setdefault(part, {})
            values.pop(instance_types.GPU, None)
            if spec.efa is None:
                values.pop(instance_types.EFA, None)
            values[key] = str(amount)
        if itype is not None and spec.vcpu is None and spec.memory is None:
            # Like the real CLI: the partitions' share of the instance's vCPU and memory.
            requests = resources["requests"]
            requests["cpu"] = str(int(share * itype.vcpu))
            requests["memory"] = f"{int(share * itype.memory_gib)}Gi"
    selector = template["spec"].setdefault("nodeSelector", {})
    selector[partitions.LABEL_CONFIG_STATE] = "success"
    return spec.tasks_per_node or str(count)


def _pod_placement(template: dict[str, Any], extra: HyperPodOptions) -> None:
    pod = template["spec"]
    if extra.deep_health_check_passed_nodes_only:
        pod.setdefault("nodeSelector", {})[DEEP_HEALTH_LABEL] = "Passed"
    if extra.scheduler_type:
        pod["schedulerName"] = extra.scheduler_type
    notes = {
        key: value
        for key, value in (
            (PREFERRED_TOPOLOGY, extra.preferred_topology),
            (REQUIRED_TOPOLOGY, extra.required_topology),
        )
        if value
    }
    if notes:
        template.setdefault("metadata", {}).setdefault("annotations", {}).update(notes)


def _elastic_policy(spec: pj.JobSpec, extra: HyperPodOptions) -> dict[str, Any]:
    wanted = (
        extra.max_replica_count,
        extra.elastic_replica_increment_step,
        extra.elastic_graceful_shutdown_timeout_in_seconds,
        extra.elastic_scaling_timeout_in_seconds,
        extra.elastic_replica_discrete_values or None,
    )
    if all(value is None for value in wanted):
        return {}
    policy: dict[str, Any] = {"minReplicas": spec.node_count}
    for key, value in (
        ("maxReplicas", extra.max_replica_count),
        ("gracefulShutdownTimeoutInSeconds", extra.elastic_graceful_shutdown_timeout_in_seconds),
        ("scalingTimeoutInSeconds", extra.elastic_scaling_timeout_in_seconds),
    ):
        if value is not None:
            policy[key] = value
    if extra.elastic_replica_discrete_values:
        policy["replicaDiscreteValues"] = list(extra.elastic_replica_discrete_values)
    elif extra.elastic_replica_increment_step is not None:
        policy["replicaIncrementStep"] = extra.elastic_replica_increment_step
    return policy


def available_partitions(kube: Any, instance_type: str) -> list[str]:
    """MIG profiles some node of ``instance_type`` has allocatable (raises InvalidJobSpec)."""
    if instance_types.get(instance_type) is None:
        raise InvalidJobSpec(f"--instance-type {instance_type!r}: not a known instance type")
    allowed = partitions.profiles(instance_type)
    if not allowed:
        raise InvalidJobSpec(
            f"instance type {instance_type!r} does not support accelerator partitions",
            "MIG-capable types: " + ", ".join(sorted(partitions.PROFILES)),
        )
    nodes = kube.core().list_node(label_selector=f"{pj.INSTANCE_TYPE_LABEL}={instance_type}")
    found: set[str] = set()
    for node in nodes.items:
        allocatable = (node.status.allocatable if node.status else None) or {}
        for profile in allowed:
            amount = str(allocatable.get(partitions.RESOURCE_PREFIX + profile) or "0")
            if amount.isdigit() and int(amount) > 0:
                found.add(profile)
    return sorted(found)
