"""Node health: the label and taint names HyperPod uses, fault names, and the agent's typed config.

Statuses of ``sagemaker.amazonaws.com/node-health-status``: ``Schedulable``, ``Unschedulable``
(a condition that may pass, e.g. disk or memory pressure), ``UnschedulablePendingReboot`` and
``UnschedulablePendingReplacement``. A faulty node carries NoSchedule (and, for the two pending
statuses, NoExecute) taints with the same key and its status as value. Deep health checks set
``sagemaker.amazonaws.com/deep-health-check-status`` to ``InProgress``, ``Passed`` or ``Failed``.

:class:`HealthConfig` is the ``health`` section of the control-plane config (camelCase keys,
snake_case also accepted); every field documents its default.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from hyperpod.api.meta import now_rfc3339
from hyperpod.api.wellknown import DEEP_HEALTH_LABEL as DEEP_HEALTH_LABEL
from hyperpod.api.wellknown import HEALTH_LABEL as HEALTH_LABEL
from hyperpod.api.wellknown import HEARTBEAT_ANNOTATION as HEARTBEAT_ANNOTATION

SCHEDULABLE = "Schedulable"
UNSCHEDULABLE = "Unschedulable"
PENDING_REBOOT = "UnschedulablePendingReboot"
PENDING_REPLACEMENT = "UnschedulablePendingReplacement"
STATUSES = (SCHEDULABLE, UNSCHEDULABLE, PENDING_REBOOT, PENDING_REPLACEMENT)
DEEP_IN_PROGRESS, DEEP_PASSED, DEEP_FAILED = "InProgress", "Passed", "Failed"

# Annotations (testing and bookkeeping; the hyperpod.local prefix marks them as local-only).
INJECT_ANNOTATION = "hyperpod.local/inject-fault"  # "<fault>[:<gpu>]", comma separated
FAULTS_ANNOTATION = "hyperpod.local/faults"  # JSON list of recent faults (newest last)
UNHEALTHY_DEVICES_ANNOTATION = "hyperpod.local/unhealthy-devices"  # JSON list of GPU UUIDs
RECOVERY_ANNOTATION = "hyperpod.local/recovery"  # "reboot" | "replace": asked by hyp
DEEP_HEALTH_REQUEST_ANNOTATION = "hyperpod.local/deep-health-check"  # "requested"
DEEP_HEALTH_SIMULATE_ANNOTATION = "hyperpod.local/simulate-deep-health-check"  # "fail"
REPLACED_ANNOTATION = "hyperpod.local/replaced-nodes"  # names this node replaced, comma separated

# Node condition types the agent owns, node-problem-detector style (True = the problem is there),
# besides the kubelet's DiskPressure and MemoryPressure which it also sets.
GPU_CONDITION = "GpuProblem"
EFA_CONDITION = "EfaProblem"
KUBELET_CONDITION = "KubeletProblem"

FAULTS = (
    "gpu-xid-79",
    "gpu-ecc-dbe",
    "gpu-lost",
    "efa-down",
    "disk-full",
    "node-unresponsive",
    "kubelet-crash",
)
GPU_FAULTS = ("gpu-xid-79", "gpu-ecc-dbe", "gpu-lost")

Action = Literal["none", "device", "unschedulable", "reboot", "replace"]
ACTION_RANK: dict[str, int] = {
    "none": 0,
    "device": 1,
    "unschedulable": 2,
    "reboot": 3,
    "replace": 4,
}
STATUS_OF_ACTION = {
    "none": SCHEDULABLE,
    "device": SCHEDULABLE,
    "unschedulable": UNSCHEDULABLE,
    "reboot": PENDING_REBOOT,
    "replace": PENDING_REPLACEMENT,
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, alias_generator=to_camel)


class HealthConfig(_Model):
    """Health monitoring agent thresholds and what each fault means (reboot vs replace)."""

    poll_seconds: float = Field(5.0, gt=0, description="Seconds between two checks of a node")
    xid_replace: list[int] = Field(
        [48, 64, 79, 95],
        description="XIDs that mean the node must be replaced (79: GPU fell off the bus, "
        "48: double-bit ECC, 64: row-remapping failure, 95: uncontained ECC)",
    )
    xid_reboot: list[int] = Field(
        [13, 31, 43, 45, 63, 74, 94, 119, 120],
        description="XIDs that a reboot clears (74: NVLink, 94: contained ECC, 119/120: GSP)",
    )
    ecc_dbe_volatile_threshold: int = Field(
        1, ge=1, description="Volatile double-bit ECC errors on one GPU that make it faulty"
    )
    ecc_dbe_action: Action = Field(
        "device",
        description="What a GPU over the ECC threshold means: 'device' marks only that GPU "
        "unhealthy (allocatable nvidia.com/gpu drops), or reboot/replace the node",
    )
    ecc_dbe_aggregate_threshold: int = Field(
        10, ge=1, description="Aggregate (lifetime) double-bit ECC errors that mean replace"
    )
    gpu_count_action: Action = Field(
        "replace", description="Fewer GPUs visible than expected (a GPU lost): this action"
    )
    temperature_celsius: int = Field(
        90, description="GPU temperature at or above which the node is Unschedulable"
    )
    efa_action: Action = Field("reboot", description="Fewer EFA devices than expected")
    disk_used_percent: float = Field(
        95.0, gt=0, le=100, description="Data-disk use at or above which DiskPressure is True"
    )
    memory_available_percent: float = Field(
        5.0, ge=0, lt=100, description="Free memory below which MemoryPressure is True"
    )
    kubelet_stale_seconds: float = Field(
        30.0, gt=0, description="A kubelet whose Lease is older than this is dead: reboot"
    )
    unresponsive_seconds: float = Field(
        60.0,
        gt=0,
        description="A node NotReady (heartbeat lost) this long is replaced (PendingReplacement)",
    )
    eviction_timeout_seconds: float = Field(
        60.0,
        gt=0,
        description="Pods of a faulty node still Terminating after this are force-deleted",
    )
    reboot_seconds: float = Field(5.0, ge=0, description="Simulated reboot time (NotReady)")
    replace_seconds: float = Field(
        5.0, ge=0, description="Simulated time for a replacement instance to join"
    )
    deep_health_check_seconds: float = Field(
        10.0, ge=0, description="Simulated duration of deep health checks on a new node"
    )
    recent_faults: int = Field(10, ge=1, description="Faults kept on the node for describe")


def health_config(raw: object) -> HealthConfig:
    """The ``health`` section of the control-plane config (ValidationError when malformed)."""
    return HealthConfig.model_validate(raw or {})


def worst(actions: list[str]) -> str:
    return max(actions, key=lambda a: ACTION_RANK.get(a, 0), default="none")


def health_taints(status: str, now: str) -> list[dict[str, Any]]:
    if status == SCHEDULABLE:
        return []
    taints = [{"key": HEALTH_LABEL, "value": status, "effect": "NoSchedule", "timeAdded": now}]
    if status in (PENDING_REBOOT, PENDING_REPLACEMENT):
        taints.append(
            {"key": HEALTH_LABEL, "value": status, "effect": "NoExecute", "timeAdded": now}
        )
    return taints


def with_health_taints(node: dict[str, Any], status: str) -> list[dict[str, Any]]:
    """The node's taints with the health ones replaced by those of ``status``."""
    others = [
        t for t in (node.get("spec") or {}).get("taints") or [] if t.get("key") != HEALTH_LABEL
    ]
    return others + health_taints(status, now_rfc3339())
