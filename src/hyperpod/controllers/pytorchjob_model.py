"""The PyTorchJob operator's vocabulary: the Plan it returns, failures, and small readers of jobs.

The rules themselves are in :mod:`hyperpod.controllers.pytorchjob_rules`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hyperpod.api import pytorchjob as api
from hyperpod.api.meta import rfc3339

Obj = dict[str, Any]


NORMAL = "Normal"
WARNING = "Warning"

# Container waiting/termination reasons that mean "this command or image will never start".
# CreateContainerConfigError is left out: a missing ConfigMap or Secret may still appear,
# and the kubelet retries until it does (as Kubernetes does).
CANNOT_START_REASONS = frozenset(
    {"StartError", "RunContainerError", "CreateContainerError", "InvalidImageName", "ErrImagePull"}
)


@dataclass(frozen=True)
class Event:
    type: str
    reason: str
    message: str


@dataclass
class Plan:
    """What one reconcile of a job should do, in order: deletes, creates, status, events."""

    status: Obj
    create_services: list[Obj] = field(default_factory=list)
    create_pods: list[Obj] = field(default_factory=list)  # Master first
    delete_pods: list[str] = field(default_factory=list)
    delete_services: list[str] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    delete_job: bool = False
    requeue_after: float | None = None
    skipped: str | None = None  # why the job is left alone (managedBy)
    restarting: bool = False  # a restart was decided in this plan: Running waits for new pods
    acknowledged: list[str] = field(default_factory=list)  # uids of evictions acted upon

    def tidy(self) -> Plan:
        """Drop repeated deletes (a pod can be both failed and surplus)."""
        self.delete_pods = list(dict.fromkeys(self.delete_pods))
        self.delete_services = list(dict.fromkeys(self.delete_services))
        return self

    def requeue(self, seconds: float) -> None:
        seconds = max(seconds, 0.0)
        self.requeue_after = (
            seconds if self.requeue_after is None else min(self.requeue_after, seconds)
        )


SLOW_START_BATCH = 16
MAX_CREATE_BATCH = 64
MAX_PENDING_PODS = 512
CREATE_INTERVAL_SECONDS = 0.5
PENDING_RECHECK_SECONDS = 5.0


@dataclass(frozen=True)
class Failure:
    """Why one pod counts as failed."""

    pod: str
    exit_code: int | None
    reason: str
    message: str

    @property
    def retryable(self) -> bool:
        # ExitCode rule: a missing code or 128-255 (signals, node faults) is worth retrying.
        return self.exit_code is None or 128 <= self.exit_code <= 255

    @property
    def cannot_start(self) -> bool:
        return self.reason in CANNOT_START_REASONS

    def describe(self) -> str:
        code = "" if self.exit_code is None else f" with code {self.exit_code}"
        text = f"pod {self.pod}: {self.reason}{code}"
        return f"{text}: {self.message}" if self.message else text


# --- small helpers ------------------------------------------------------------------------


def pod_name(job_name: str, rtype: str, index: int) -> str:
    return f"{job_name}-{rtype.lower()}-{index}"


def replica_specs(job: Obj) -> dict[str, Obj]:
    specs = (job.get("spec") or {}).get("pytorchReplicaSpecs") or {}
    return {t: specs[t] for t in api.REPLICA_TYPES if isinstance(specs.get(t), dict)}


def replica_count(spec: Obj) -> int:
    value = spec.get("replicas", 1)
    return value if isinstance(value, int) else 1


def run_policy(job: Obj) -> Obj:
    return (job.get("spec") or {}).get("runPolicy") or {}


def annotations_of(obj: Obj) -> dict[str, str]:
    return (obj.get("metadata") or {}).get("annotations") or {}


def is_terminating(obj: Obj) -> bool:
    return bool((obj.get("metadata") or {}).get("deletionTimestamp"))


def phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "Pending")


def managed_here(job: Obj) -> bool:
    managed_by = run_policy(job).get("managedBy")
    return managed_by in (None, "", api.MANAGED_BY_OPERATOR)


def auto_resume(job: Obj) -> tuple[bool, int]:
    """(enabled, max retries) from the HyperPod annotations; retries default to 1."""
    notes = annotations_of(job)
    enabled = str(notes.get(api.ANNOTATION_AUTO_RESUME, "")).lower() == "true"
    raw = str(notes.get(api.ANNOTATION_MAX_RETRY, "1"))
    return enabled, int(raw) if raw.isdigit() else 1


def condition(status: Obj, type_: str) -> Obj | None:
    for cond in status.get("conditions") or []:
        if cond.get("type") == type_:
            return dict(cond)
    return None


def has_condition(status: Obj, type_: str) -> bool:
    cond = condition(status, type_)
    return cond is not None and cond.get("status") == "True"


def is_finished(status: Obj) -> bool:
    return has_condition(status, "Succeeded") or has_condition(status, "Failed")


def set_condition(
    status: Obj, type_: str, value: str, reason: str, message: str, now: datetime
) -> bool:
    """Upstream's setCondition: a real change is appended last (the STATE column reads it).

    Running and Restarting replace each other; Succeeded and Failed turn Running to False.
    Returns whether anything changed.
    """
    conditions: list[Obj] = [dict(c) for c in status.get("conditions") or []]
    current = next((c for c in conditions if c.get("type") == type_), None)
    if current is not None and current.get("status") == value and current.get("reason") == reason:
        return False
    stamp = rfc3339(now)
    new: Obj = {
        "type": type_,
        "status": value,
        "reason": reason,
        "message": message,
        "lastUpdateTime": stamp,
        "lastTransitionTime": stamp,
    }
    if current is not None and current.get("status") == value:
        new["lastTransitionTime"] = current.get("lastTransitionTime", stamp)
    kept: list[Obj] = []
    for cond in conditions:
        kind = cond.get("type")
        if kind == type_ or {kind, type_} == {"Running", "Restarting"}:
            continue
        if type_ in ("Succeeded", "Failed") and kind == "Running" and cond.get("status") != "False":
            cond["status"] = "False"
            cond["lastUpdateTime"] = cond["lastTransitionTime"] = stamp
        kept.append(cond)
    kept.append(new)
    status["conditions"] = kept
    return True


def label_selector_string(labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def base_labels(job_name: str) -> dict[str, str]:
    return {api.LABEL_OPERATOR_NAME: api.OPERATOR_NAME, api.LABEL_JOB_NAME: job_name}


def replica_labels(job_name: str, rtype: str, index: int) -> dict[str, str]:
    return {
        **base_labels(job_name),
        api.LABEL_REPLICA_TYPE: rtype.lower(),
        api.LABEL_REPLICA_INDEX: str(index),
    }


def owner_reference(job: Obj) -> Obj:
    md = job["metadata"]
    return {
        "apiVersion": job.get("apiVersion", api.API_VERSION),
        "kind": job.get("kind", api.KIND),
        "name": md["name"],
        "uid": md.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def pytorch_container(template: Obj) -> Obj | None:
    for container in (template.get("spec") or {}).get("containers") or []:
        if isinstance(container, dict) and container.get("name") == api.CONTAINER_NAME:
            return container
    return None


def template_port(spec: Obj | None) -> int:
    """The ``pytorchjob-port`` of a replica's ``pytorch`` container (23456 when absent)."""
    container = pytorch_container((spec or {}).get("template") or {}) or {}
    for port in container.get("ports") or []:
        if isinstance(port, dict) and port.get("name") == api.PORT_NAME:
            value = port.get("containerPort")
            if isinstance(value, int):
                return value
    return api.DEFAULT_PORT


def local_port(job: Obj) -> int | None:
    """The port the local operator chose for this job (annotation), if any."""
    raw = annotations_of(job).get(api.ANNOTATION_MASTER_PORT)
    return int(raw) if raw is not None and str(raw).isdigit() else None


def master_port(job: Obj) -> int:
    """MASTER_PORT: the local port when chosen, else the Master's ``pytorchjob-port``."""
    return local_port(job) or template_port(replica_specs(job).get(api.MASTER))


def rdzv_endpoint(job: Obj, elastic: Obj) -> str:
    """PET_RDZV_ENDPOINT: rdzvHost or worker 0, and the local port unless the host is external."""
    host = elastic.get("rdzvHost")
    port = elastic.get("rdzvPort") or template_port(replica_specs(job).get(api.WORKER))
    if not host:
        host = pod_name(job["metadata"]["name"], api.WORKER, 0)
        port = local_port(job) or port
    return f"{host}:{port}"
