"""What the HyperPodPyTorchJob operator creates: rank pods, spares (kept off repeat-offender nodes)
and the job's headless Service.
"""

from __future__ import annotations

import copy
import json
import os
from typing import Any

from hyperpod.api import hyperpod_job as api
from hyperpod.controllers import hyperpod_job_elastic as elastic
from hyperpod.controllers.hyperpod_job_model import (
    ANNOTATION_COUNTED,
    ANNOTATION_NODE_FAULTS,
    ANNOTATION_SLOT,
    HOSTNAME_LABEL,
    LABEL_ROLE,
    RANK_ENV,
    REPEAT_OFFENDER_FAULTS,
    ROLE_SPARE,
    STANDBY_MODULE,
    Slot,
    group_spec,
    master_port,
    max_retries,
    nproc_per_node,
    restart_policy,
    slots,
)

Obj = dict[str, Any]


# --- building pods ------------------------------------------------------------------------


def owner_reference(job: Obj) -> Obj:
    md = job["metadata"]
    return {
        "apiVersion": api.API_VERSION,
        "kind": api.KIND,
        "name": md["name"],
        "uid": md.get("uid", ""),
        "controller": True,
        "blockOwnerDeletion": True,
    }


def job_env(job: Obj, slot: Slot, nproc: int) -> list[Obj]:
    """The variables every container of one pod gets: torchrun's (PET_*) and the plain ones."""
    all_slots = slots(job)
    nodes = len(all_slots)
    master = all_slots[0].name
    port = str(master_port(job))
    pairs = [
        ("PYTHONUNBUFFERED", "1"),
        ("MASTER_ADDR", master),
        ("MASTER_PORT", port),
        ("NNODES", str(nodes)),
        ("NODE_RANK", str(slot.rank)),
        ("NPROC_PER_NODE", str(nproc)),
        ("LOCAL_WORLD_SIZE", str(nproc)),
        ("WORLD_SIZE", str(nodes * nproc)),
        ("RANK", str(slot.rank * nproc)),
        ("PET_MASTER_ADDR", master),
        ("PET_MASTER_PORT", port),
        ("PET_NNODES", str(nodes)),
        ("PET_NODE_RANK", str(slot.rank)),
        ("PET_NPROC_PER_NODE", str(nproc)),
        ("JOB_NAME", job["metadata"]["name"]),
        ("REPLICA_SPEC_NAME", slot.group),
    ]
    return [{"name": k, "value": v} for k, v in pairs]


def pod_labels(job: Obj, slot: Slot) -> dict[str, str]:
    return {
        api.LABEL_JOB: job["metadata"]["name"],
        api.LABEL_REPLICA_SPEC: slot.group,
        api.LABEL_NODE_RANK: str(slot.rank),
    }


# --- spares and repeat offenders ------------------------------------------------------------


def spare_count(job: Obj, group: str) -> int:
    value = group_spec(job, group).get("spares")
    return value if isinstance(value, int) and value > 0 else 0


def is_spare(pod: Obj) -> bool:
    return ((pod.get("metadata") or {}).get("labels") or {}).get(LABEL_ROLE) == ROLE_SPARE


def is_probe(pod: Obj) -> bool:
    return ((pod.get("metadata") or {}).get("labels") or {}).get(LABEL_ROLE) == elastic.ROLE_PROBE


def is_helper(pod: Obj) -> bool:
    """A spare or an elastic scale-up probe: a pod of the job that holds no rank."""
    return is_spare(pod) or is_probe(pod)


def slot_of(pod: Obj) -> str:
    """The slot (``<job>-<group>-<i>``) a rank pod fills: its name, or what it took over."""
    md = pod.get("metadata") or {}
    return str((md.get("annotations") or {}).get(ANNOTATION_SLOT) or md.get("name"))


def node_faults(job: Obj) -> dict[str, int]:
    raw = ((job.get("metadata") or {}).get("annotations") or {}).get(ANNOTATION_NODE_FAULTS)
    try:
        data = json.loads(raw) if raw else {}
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {str(k): int(v) for k, v in data.items() if isinstance(v, int)}


def avoided_nodes(job: Obj, faults: dict[str, int]) -> list[str]:
    """The repeat offenders to keep away from: at most maxNumRepeatOffendersToAvoid nodes."""
    limit = restart_policy(job).get("maxNumRepeatOffendersToAvoid")
    if not isinstance(limit, int) or limit <= 0:
        return []
    worst = sorted(
        (n for n, c in faults.items() if n and c >= REPEAT_OFFENDER_FAULTS),
        key=lambda n: (-faults[n], n),
    )
    return sorted(worst[:limit])


def _avoid(pod_spec: Obj, nodes: list[str]) -> None:
    """AND ``hostname NotIn nodes`` into every required node selector term."""
    if not nodes:
        return
    expr = {"key": HOSTNAME_LABEL, "operator": "NotIn", "values": list(nodes)}
    affinity = pod_spec.setdefault("affinity", {})
    node_affinity = affinity.setdefault("nodeAffinity", {})
    required = node_affinity.setdefault(
        "requiredDuringSchedulingIgnoredDuringExecution", {"nodeSelectorTerms": []}
    )
    terms = required.setdefault("nodeSelectorTerms", [])
    if not terms:
        terms.append({})
    for term in terms:
        term.setdefault("matchExpressions", []).append(copy.deepcopy(expr))


def _python(command: list[str]) -> str:
    first = command[0] if command else ""
    return first if os.path.basename(first).startswith("python") else "python3"


def build_spare(job: Obj, group: str, index: int, avoid: list[str] | None = None) -> Obj | None:
    """A stand-in pod of ``group`` running the standby around the container's command.

    None when the first container has no ``command`` (the standby needs the program to run).
    """
    slot = Slot(group, index, -1, f"{job['metadata']['name']}-{group}-spare-{index}")
    pod = build_pod(job, slot, avoid)
    containers = pod["spec"].get("containers") or []
    if not containers or not containers[0].get("command"):
        return None
    first = containers[0]
    program = [str(x) for x in [*(first.get("command") or []), *(first.get("args") or [])]]
    first["command"] = [_python(program), "-m", STANDBY_MODULE, "--", *program]
    first.pop("args", None)
    for container in containers:
        container["env"] = [e for e in container.get("env") or [] if e["name"] not in RANK_ENV]
    labels = pod["metadata"]["labels"]
    labels.pop(api.LABEL_NODE_RANK, None)
    labels[LABEL_ROLE] = ROLE_SPARE
    return pod


def build_pod(job: Obj, slot: Slot, avoid: list[str] | None = None) -> Obj:
    md = job["metadata"]
    template = copy.deepcopy(group_spec(job, slot.group).get("template") or {})
    tmeta = template.get("metadata") or {}
    pod_spec: Obj = template.get("spec") or {}
    pod_spec["restartPolicy"] = "OnFailure" if max_retries(job) > 0 else "Never"
    _avoid(pod_spec, avoid or [])
    grace = (elastic.policy(job) or {}).get("gracefulShutdownTimeoutInSeconds")
    if isinstance(grace, int) and grace >= 0:
        pod_spec["terminationGracePeriodSeconds"] = grace
    injected = job_env(job, slot, nproc_per_node(job, template))
    names = {e["name"] for e in injected}
    for container in pod_spec.get("containers") or []:
        if isinstance(container, dict):
            kept = [e for e in container.get("env") or [] if e.get("name") not in names]
            container["env"] = kept + copy.deepcopy(injected)
    metadata: Obj = {
        "name": slot.name,
        "namespace": md.get("namespace", "default"),
        "labels": {**(tmeta.get("labels") or {}), **pod_labels(job, slot)},
        "annotations": {**(tmeta.get("annotations") or {}), ANNOTATION_COUNTED: "0"},
        "ownerReferences": [owner_reference(job)],
    }
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def build_service(job: Obj) -> Obj:
    """A headless Service named like the rank-0 pod, so MASTER_ADDR resolves to it."""
    md = job["metadata"]
    first = slots(job)[0]
    port = master_port(job)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": first.name,
            "namespace": md.get("namespace", "default"),
            "labels": {api.LABEL_JOB: md["name"]},
            "ownerReferences": [owner_reference(job)],
        },
        "spec": {
            "clusterIP": "None",
            "selector": pod_labels(job, first),
            "ports": [{"name": "master", "port": port, "targetPort": port, "protocol": "TCP"}],
        },
    }
