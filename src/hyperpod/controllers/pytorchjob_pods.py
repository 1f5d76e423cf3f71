"""What the PyTorchJob operator creates and reads: pods with the torchrun environment, their
headless Services, and the failures pods report.
"""

from __future__ import annotations

import copy
from typing import Any

from hyperpod.api import pytorchjob as api
from hyperpod.controllers.pytorchjob_model import (
    CANNOT_START_REASONS,
    Failure,
    local_port,
    master_port,
    owner_reference,
    phase,
    pod_name,
    pytorch_container,
    rdzv_endpoint,
    replica_count,
    replica_labels,
    replica_specs,
    run_policy,
)

Obj = dict[str, Any]


# --- environment --------------------------------------------------------------------------


def nproc_number(job: Obj) -> int:
    """nprocPerNode as a number for WORLD_SIZE: words (auto, cpu, gpu) count as 1."""
    spec = job.get("spec") or {}
    raw = spec.get("nprocPerNode")
    if raw is None:
        raw = (spec.get("elasticPolicy") or {}).get("nProcPerNode")
    text = str(raw) if raw is not None else ""
    return int(text) if text.isdigit() and int(text) > 0 else 1


def job_env(job: Obj, rtype: str, index: int) -> list[Obj]:
    """The variables the operator injects into every container of one replica."""
    name = job["metadata"]["name"]
    spec = job.get("spec") or {}
    specs = replica_specs(job)
    env: list[tuple[str, str]] = [("PYTHONUNBUFFERED", "1")]
    nproc = spec.get("nprocPerNode")
    elastic = spec.get("elasticPolicy")
    if nproc is None and isinstance(elastic, dict) and elastic.get("nProcPerNode") is not None:
        nproc = elastic["nProcPerNode"]
    if nproc is not None:
        env.append(("PET_NPROC_PER_NODE", str(nproc)))
    if isinstance(elastic, dict):
        workers = replica_count(specs.get(api.WORKER) or {})
        low = elastic.get("minReplicas") or workers
        high = elastic.get("maxReplicas") or workers
        env += [
            ("PET_NNODES", f"{low}:{high}"),
            ("PET_RDZV_BACKEND", str(elastic.get("rdzvBackend") or "c10d")),
            ("PET_RDZV_ENDPOINT", rdzv_endpoint(job, elastic)),
        ]
        if elastic.get("rdzvId"):
            env.append(("PET_RDZV_ID", str(elastic["rdzvId"])))
        conf = [
            f"{c.get('key')}={c.get('value', '')}"
            for c in elastic.get("rdzvConf") or []
            if isinstance(c, dict) and c.get("key")
        ]
        if conf:
            env.append(("PET_RDZV_CONF", ",".join(conf)))
        if elastic.get("standalone") is not None:
            env.append(("PET_STANDALONE", "1" if elastic["standalone"] else "0"))
        if elastic.get("maxRestarts") is not None:
            env.append(("PET_MAX_RESTARTS", str(elastic["maxRestarts"])))
    else:
        total = sum(replica_count(s) for s in specs.values())
        env.append(("PET_NNODES", str(total)))
    if api.MASTER in specs:
        master = pod_name(name, api.MASTER, 0)
        total = sum(replica_count(s) for s in specs.values())
        rank = 0 if rtype == api.MASTER else index + 1
        port = master_port(job)
        env += [
            ("MASTER_ADDR", master),
            ("PET_MASTER_ADDR", master),
            ("MASTER_PORT", str(port)),
            ("PET_MASTER_PORT", str(port)),
            ("WORLD_SIZE", str(total * nproc_number(job))),
            ("RANK", str(rank)),
            ("PET_NODE_RANK", str(rank)),
        ]
    return [{"name": k, "value": v} for k, v in env]


# --- building pods and services -----------------------------------------------------------


def build_pod(job: Obj, rtype: str, index: int) -> Obj:
    """The pod for replica ``rtype`` #``index``: the template plus names, labels, env, policy."""
    md = job["metadata"]
    specs = replica_specs(job)
    spec = specs[rtype]
    template = copy.deepcopy(spec.get("template") or {})
    tmeta = template.get("metadata") or {}
    labels = {**(tmeta.get("labels") or {}), **replica_labels(md["name"], rtype, index)}
    if rtype == api.MASTER or (api.MASTER not in specs and index == 0):
        labels[api.LABEL_JOB_ROLE] = "master"
    pod_spec: Obj = template.get("spec") or {}
    policy = spec.get("restartPolicy") or api.DEFAULT_RESTART_POLICY
    pod_spec["restartPolicy"] = "Never" if policy == "ExitCode" else policy
    priority = (run_policy(job).get("schedulingPolicy") or {}).get("priorityClass")
    if priority and not pod_spec.get("priorityClassName"):
        pod_spec["priorityClassName"] = priority
    injected = job_env(job, rtype, index)
    names = {e["name"] for e in injected}
    for container in pod_spec.get("containers") or []:
        if isinstance(container, dict):
            kept = [e for e in container.get("env") or [] if e.get("name") not in names]
            container["env"] = kept + copy.deepcopy(injected)
    metadata: Obj = {
        "name": pod_name(md["name"], rtype, index),
        "namespace": md.get("namespace", "default"),
        "labels": labels,
        "ownerReferences": [owner_reference(job)],
    }
    if tmeta.get("annotations"):
        metadata["annotations"] = dict(tmeta["annotations"])
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": pod_spec}


def build_service(job: Obj, rtype: str, index: int) -> Obj:
    """The headless Service with the pod's name, selecting that one pod."""
    md = job["metadata"]
    spec = replica_specs(job)[rtype]
    container = pytorch_container(spec.get("template") or {}) or {}
    chosen = local_port(job)
    ports: list[Obj] = []
    for port in container.get("ports") or []:
        if not isinstance(port, dict) or not port.get("name"):
            continue
        number = port.get("containerPort")
        if port["name"] == api.PORT_NAME and chosen:
            number = chosen
        ports.append(
            {
                "name": port["name"],
                "port": number,
                "targetPort": number,
                "protocol": port.get("protocol", "TCP"),
            }
        )
    labels = replica_labels(md["name"], rtype, index)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": pod_name(md["name"], rtype, index),
            "namespace": md.get("namespace", "default"),
            "labels": dict(labels),
            "ownerReferences": [owner_reference(job)],
        },
        "spec": {"clusterIP": "None", "selector": labels, "ports": ports},
    }


# --- reading pods -------------------------------------------------------------------------


def _container_statuses(pod: Obj) -> list[Obj]:
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    pytorch = [s for s in statuses if s.get("name") == api.CONTAINER_NAME]
    return pytorch or list(statuses)


def cannot_start(pod: Obj) -> Failure | None:
    """The kubelet says the container cannot start (missing command, bad image...)."""
    name = (pod.get("metadata") or {}).get("name", "")
    for cs in _container_statuses(pod):
        for key in ("state", "lastState"):
            state = cs.get(key) or {}
            for detail in (state.get("waiting"), state.get("terminated")):
                if isinstance(detail, dict) and detail.get("reason") in CANNOT_START_REASONS:
                    code = detail.get("exitCode")
                    return Failure(
                        name,
                        code if isinstance(code, int) else None,
                        str(detail["reason"]),
                        str(detail.get("message") or ""),
                    )
    return None


def pod_failure(pod: Obj) -> Failure | None:
    """Why this pod failed: a Failed phase, or a container that died and was restarted in place."""
    name = (pod.get("metadata") or {}).get("name", "")
    status = pod.get("status") or {}
    for cs in _container_statuses(pod):
        terminated = (cs.get("state") or {}).get("terminated")
        if not (isinstance(terminated, dict) and terminated.get("exitCode")):
            last = (cs.get("lastState") or {}).get("terminated")
            terminated = last if int(cs.get("restartCount") or 0) > 0 else None
        if isinstance(terminated, dict) and terminated.get("exitCode"):
            code = terminated.get("exitCode")
            return Failure(
                name,
                code if isinstance(code, int) else None,
                str(terminated.get("reason") or "Error"),
                str(terminated.get("message") or ""),
            )
    if phase(pod) == "Failed":
        return Failure(
            name, None, str(status.get("reason") or "Failed"), str(status.get("message") or "")
        )
    return None


def node_fault(pod: Obj) -> str | None:
    """The health agent's eviction message (pod condition DisruptionTarget), if any."""
    for c in (pod.get("status") or {}).get("conditions") or []:
        if c.get("type") == "DisruptionTarget" and c.get("reason") == "DeletionByNodeHealthAgent":
            return str(c.get("message") or "evicted by the node health agent")
    return None


def restarts(pod: Obj) -> int:
    status = pod.get("status") or {}
    every = (status.get("containerStatuses") or []) + (status.get("initContainerStatuses") or [])
    return sum(int(cs.get("restartCount") or 0) for cs in every)


def pod_index(pod: Obj) -> int | None:
    raw = ((pod.get("metadata") or {}).get("labels") or {}).get(api.LABEL_REPLICA_INDEX)
    return int(raw) if raw is not None and str(raw).isdigit() else None


def pods_by_type(pods: list[Obj]) -> dict[str, list[Obj]]:
    out: dict[str, list[Obj]] = {t: [] for t in api.REPLICA_TYPES}
    for pod in pods:
        rtype = ((pod.get("metadata") or {}).get("labels") or {}).get(api.LABEL_REPLICA_TYPE, "")
        for known in api.REPLICA_TYPES:
            if known.lower() == str(rtype).lower():
                out[known].append(pod)
    return out
