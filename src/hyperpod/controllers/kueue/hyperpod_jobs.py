"""HyperPodPyTorchJob integration: Kueue queues, admits and suspends it like a PyTorchJob.

The job names its LocalQueue with ``kueue.x-k8s.io/queue-name`` on itself or (as the real
HyperPod CLI writes it) on a replica spec's pod template, and its priority with
``kueue.x-k8s.io/priority-class``. Each named replica spec is one pod set (``count`` =
replicas); admission injects the flavors' node labels and tolerations into those templates
and clears ``runPolicy.suspend``; the job's Completed or Failed condition finishes the Workload.
"""

from __future__ import annotations

import copy
import hashlib
from typing import Any

from hyperpod.api import hyperpod_job as hpj
from hyperpod.api import kueue as api
from hyperpod.controllers.kueue.jobs import JobIntegration
from hyperpod.controllers.kueue.state import PC_SOURCE, WPC_SOURCE

Obj = dict[str, Any]


def _groups(job: Obj) -> list[Obj]:
    groups = (job.get("spec") or {}).get("replicaSpecs") or []
    return [g for g in groups if isinstance(g, dict) and g.get("name")]


def _labels_everywhere(job: Obj) -> list[dict[str, str]]:
    """The job's labels, then each pod template's."""
    out = [(job.get("metadata") or {}).get("labels") or {}]
    for group in _groups(job):
        out.append((((group.get("template") or {}).get("metadata")) or {}).get("labels") or {})
    return out


def queue_name_of(job: Obj) -> str | None:
    for labels in _labels_everywhere(job):
        if labels.get(api.QUEUE_NAME_LABEL):
            return str(labels[api.QUEUE_NAME_LABEL])
    return None


def default_job(obj: Obj) -> None:
    """Admission hook: a new job that names a queue starts suspended until Kueue admits it."""
    md = obj.get("metadata") or {}
    if md.get("resourceVersion") or not queue_name_of(obj):
        return  # only on create
    obj.setdefault("spec", {}).setdefault("runPolicy", {})["suspend"] = True


def workload_name(job_name: str) -> str:
    digest = hashlib.sha1(f"{job_name}/{hpj.KIND}.{hpj.GROUP}".encode()).hexdigest()[:5]
    prefix = f"hyperpodpytorchjob-{job_name}"[: 253 - 6]
    return f"{prefix}-{digest}"


class HyperPodJobIntegration(JobIntegration):
    """Reconciles queued HyperPodPyTorchJobs against their Workloads."""

    resource = hpj.RESOURCE
    kind = hpj.KIND
    api_version = hpj.API_VERSION
    finished_types = ("Completed", "Failed")
    running_types = ("Running", "Completed")

    def queue_name(self, job: Obj) -> str | None:
        return queue_name_of(job)

    def pod_sets(self, job: Obj) -> list[Obj]:
        return [
            {
                "name": str(group["name"]),
                # Kueue admits the spares with the job (they hold resources too).
                "count": int(group.get("replicas") or 1) + int(group.get("spares") or 0),
                "template": copy.deepcopy(group.get("template") or {}),
            }
            for group in _groups(job)
        ]

    def replicas_by_pod_set(self, job: Obj) -> dict[str, Obj]:
        return {str(group["name"]): group for group in _groups(job)}

    def workload_name(self, job_name: str) -> str:
        return workload_name(job_name)

    def priority_class(self, job: Obj) -> tuple[str | None, str]:
        for labels in _labels_everywhere(job):
            if labels.get(api.PRIORITY_CLASS_LABEL):
                return str(labels[api.PRIORITY_CLASS_LABEL]), WPC_SOURCE
        for group in _groups(job):
            name = ((group.get("template") or {}).get("spec") or {}).get("priorityClassName")
            if name:
                return str(name), PC_SOURCE
        return None, ""
