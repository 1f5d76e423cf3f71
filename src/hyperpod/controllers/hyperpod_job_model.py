"""The HyperPodPyTorchJob operator's vocabulary: annotations, slots, the Plan, job readers and conditions.

The rules themselves are in :mod:`hyperpod.controllers.hyperpod_job_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hyperpod.api import hyperpod_job as api
from hyperpod.controllers import hyperpod_job_elastic as elastic
from hyperpod.controllers.pytorchjob_rules import (
    Event,
    rfc3339,
)

Obj = dict[str, Any]


ANNOTATION_COUNTED = "hyperpod.local/restarts-counted"
ANNOTATION_EXPECTED = "hyperpod.local/restarts-expected"
PROCESS_RESTART = "ProcessLevelRestart"
FULL_RESTART = "FullJobRestart"
ANNOTATION_SLOT = "hyperpod.local/slot"
ANNOTATION_NODE_FAULTS = "hyperpod.local/node-faults"
LABEL_ROLE = "hyperpod.local/role"
ROLE_SPARE = "spare"
ROLE_RANK = "rank"
STANDBY_MODULE = "hyperpod.controllers.hyperpod_job_standby"
SPARE_ASSIGNMENT = "spare-assignment.json"
HOSTNAME_LABEL = "kubernetes.io/hostname"
REPEAT_OFFENDER_FAULTS = 2
RANK_ENV = ("NODE_RANK", "RANK", "PET_NODE_RANK")
ANNOTATION_EVICTION = "hyperpod.local/eviction-counted"
HEALTH_EVICTION_REASON = "DeletionByNodeHealthAgent"  # the health agent's DisruptionTarget


@dataclass(frozen=True)
class Fault:
    """A fault the operator found outside pod status (for example a hanging job)."""

    pod: str
    reason: str
    message: str


@dataclass(frozen=True)
class Slot:
    """One pod the job wants: its group, index in the group and node rank."""

    group: str
    index: int
    rank: int
    name: str


@dataclass
class Plan:
    status: Obj
    create_pods: list[Obj] = field(default_factory=list)
    delete_pods: list[str] = field(default_factory=list)
    create_services: list[Obj] = field(default_factory=list)
    annotate_pods: dict[str, dict[str, str]] = field(default_factory=dict)
    restart_in_place: list[str] = field(default_factory=list)  # pods whose process to restart
    events: list[Event] = field(default_factory=list)
    # spare pod -> the environment of the rank it takes over (and the patch that relabels it)
    promote: dict[str, dict[str, str]] = field(default_factory=dict)
    patch_pods: dict[str, Obj] = field(default_factory=dict)
    annotate_job: dict[str, str] = field(default_factory=dict)
    delete_job: bool = False
    requeue_after: float | None = None

    def requeue(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        if self.requeue_after is None or seconds < self.requeue_after:
            self.requeue_after = seconds


# --- reading the job ----------------------------------------------------------------------


def run_policy(job: Obj) -> Obj:
    return (job.get("spec") or {}).get("runPolicy") or {}


def restart_policy(job: Obj) -> Obj:
    return run_policy(job).get("restartPolicy") or {}


def max_retries(job: Obj) -> int:
    value = run_policy(job).get("jobMaxRetryCount")
    return value if isinstance(value, int) and value > 0 else 0


def slots(job: Obj) -> list[Slot]:
    name = job["metadata"]["name"]
    out: list[Slot] = []
    for group in (job.get("spec") or {}).get("replicaSpecs") or []:
        count = elastic.current_size(job, group.get("replicas") or 1)
        for index in range(count):
            out.append(Slot(group["name"], index, len(out), f"{name}-{group['name']}-{index}"))
    return out


def group_spec(job: Obj, group: str) -> Obj:
    for spec in (job.get("spec") or {}).get("replicaSpecs") or []:
        if spec.get("name") == group:
            return dict(spec)
    return {}


def local_port(job: Obj) -> int | None:
    raw = ((job.get("metadata") or {}).get("annotations") or {}).get(api.ANNOTATION_MASTER_PORT)
    return int(raw) if raw is not None and str(raw).isdigit() else None


def master_port(job: Obj) -> int:
    return local_port(job) or api.DEFAULT_MASTER_PORT


def _quantity_int(value: Any) -> int:
    text = str(value or "")
    return int(text) if text.isdigit() else 0


def nproc_per_node(job: Obj, template: Obj) -> int:
    """Processes per pod: a number, or for auto/gpu the container's GPUs (at least 1)."""
    raw = str((job.get("spec") or {}).get("nprocPerNode") or "auto")
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    best = 0
    for container in (template.get("spec") or {}).get("containers") or []:
        res = (container or {}).get("resources") or {}
        for kind in ("limits", "requests"):
            amounts = res.get(kind) or {}
            key = "cpu" if raw == "cpu" else "nvidia.com/gpu"
            best = max(best, _quantity_int(amounts.get(key)))
    return max(best, 1)


# --- conditions ---------------------------------------------------------------------------


def condition(status: Obj, type_: str) -> Obj | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def is_true(status: Obj, type_: str) -> bool:
    cond = condition(status, type_)
    return cond is not None and cond.get("status") == "True"


def is_finished(status: Obj) -> bool:
    return is_true(status, "Completed") or is_true(status, "Failed")


def set_condition(
    status: Obj, type_: str, value: str, reason: str, message: str, now: datetime
) -> None:
    """Set one condition; a change moves it last (the State column and the CLI read the last)."""
    conditions = [dict(c) for c in status.get("conditions") or []]
    current = next((c for c in conditions if c.get("type") == type_), None)
    if current is not None and (current.get("status"), current.get("reason")) == (value, reason):
        return
    stamp = rfc3339(now)
    new = {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "lastTransitionTime": stamp,
    }
    if current is not None and current.get("status") == value:
        new["lastTransitionTime"] = current.get("lastTransitionTime", stamp)
    kept = [c for c in conditions if c.get("type") != type_]
    status["conditions"] = [*kept, new]


def _clear(status: Obj, types: tuple[str, ...], reason: str, now: datetime) -> None:
    for type_ in types:
        cond = condition(status, type_)
        if cond is not None and cond.get("status") == "True":
            set_condition(status, type_, "False", reason, cond.get("message") or "", now)
