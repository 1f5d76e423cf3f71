"""The PyTorchJob operator's rules as pure functions: (job, pods, services, now) -> a Plan.

Nothing here talks to the API: :func:`plan` looks at what exists and returns what to create,
delete and write, so every rule is testable with plain dicts. The semantics follow the
Kubeflow training operator v1.9 (see ``shared/reference/pytorchjob.md``), with these
additions and deliberate differences:

- HyperPod job auto-resume: with ``sagemaker.amazonaws.com/enable-job-auto-resume: "true"``, a
  retryable failure (exit code 128-255 or none, eviction, deletion while running) of any pod
  deletes every pod of the job; they are recreated once gone. ``job-max-retry-count``
  (default 1) bounds the restarts, counted in ``status.restartCount``; the Restarting
  condition and a Warning event name the pod and the exit code. Past the limit: Failed.
- A container that cannot start (StartError, RunContainerError, image errors...) fails the
  job at once with the kubelet's reason and message, instead of restarting for ever.
- ExitCode with a permanent code (1-127) fails the job at once (upstream only marks it
  Restarting); an OnFailure/Always pod that still ends Failed (evicted) is recreated.
- No HPA for ``elasticPolicy.metrics`` and no gang scheduling for ``schedulingPolicy``
  (minAvailable, queue, minResources); ``priorityClass`` reaches the pods.
"""

from __future__ import annotations

import copy
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from hyperpod.api import pytorchjob as api
from hyperpod.api.meta import parse_time as parse_time
from hyperpod.api.meta import rfc3339 as rfc3339

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


# --- the reconcile ------------------------------------------------------------------------


def _names(objs: list[Obj]) -> list[str]:
    return [o["metadata"]["name"] for o in objs]


def _delete_everything(p: Plan, pods: list[Obj], services: list[Obj]) -> None:
    p.delete_pods += [n for n in _names([x for x in pods if not is_terminating(x)])]
    p.delete_services += [n for n in _names([x for x in services if not is_terminating(x)])]


def _clean_up(p: Plan, job: Obj, pods: list[Obj], services: list[Obj]) -> None:
    """cleanPodPolicy once the job has finished: All, Running (and Pending) or None."""
    policy = run_policy(job).get("cleanPodPolicy") or api.DEFAULT_CLEAN_POD_POLICY
    if policy == "None":
        return
    doomed = {
        pod["metadata"]["name"]
        for pod in pods
        if not is_terminating(pod) and (policy == "All" or phase(pod) in ("Running", "Pending"))
    }
    p.delete_pods += sorted(doomed)
    p.delete_services += [
        svc["metadata"]["name"]
        for svc in services
        if not is_terminating(svc) and (policy == "All" or svc["metadata"]["name"] in doomed)
    ]


def _replica_statuses(job: Obj, by_type: dict[str, list[Obj]], old: Obj) -> Obj:
    out: Obj = {}
    name = job["metadata"]["name"]
    for rtype in replica_specs(job):
        counts = {"active": 0, "succeeded": 0, "failed": 0}
        for pod in by_type[rtype]:
            current = phase(pod)
            if current == "Running" and not is_terminating(pod):
                counts["active"] += 1
            elif current == "Succeeded":
                counts["succeeded"] += 1
            elif current == "Failed":
                counts["failed"] += 1
        selector_labels = {**base_labels(name), api.LABEL_REPLICA_TYPE: rtype.lower()}
        entry: Obj = {k: v for k, v in counts.items() if v}
        entry["selector"] = label_selector_string(selector_labels)
        entry["labelSelector"] = {"matchLabels": selector_labels}
        out[rtype] = entry
    return out


def plan(
    job: Obj,
    pods: list[Obj],
    services: list[Obj],
    now: datetime | None = None,
    ours: Collection[str] = (),
) -> Plan:
    """Decide what to do for ``job`` given the pods and services it owns.

    ``ours`` holds the uids of pods the operator itself deleted (or already acted upon): any
    other pod found terminating was evicted or lost with its node, which auto-resume treats
    as a retryable failure of the whole job.
    """
    return _plan(job, pods, services, now or datetime.now(UTC), ours).tidy()


def _plan(
    job: Obj,
    pods: list[Obj],
    services: list[Obj],
    now: datetime,
    ours: Collection[str],
) -> Plan:
    name = job["metadata"]["name"]
    full = f"{job['metadata'].get('namespace', 'default')}/{name}"
    status: Obj = copy.deepcopy(job.get("status") or {})
    p = Plan(status=status)
    if not managed_here(job):
        p.skipped = f"managed by {run_policy(job).get('managedBy')}"
        return p
    if not status.get("conditions"):
        set_condition(
            status, "Created", "True", "PyTorchJobCreated", f"PyTorchJob {full} is created.", now
        )
        p.events.append(Event(NORMAL, "PyTorchJobCreated", f"PyTorchJob {full} is created."))
    status.setdefault("replicaStatuses", {})
    specs = replica_specs(job)
    live = [pod for pod in pods if not is_terminating(pod)]
    by_type = pods_by_type(pods)
    policy = run_policy(job)

    # Finished jobs only clean up, count leftovers as succeeded, and wait for their TTL.
    if is_finished(status):
        _finish(p, job, pods, services, now)
        return p

    if policy.get("suspend"):
        _delete_everything(p, pods, services)
        for entry in status["replicaStatuses"].values():
            entry.pop("active", None)
        if not has_condition(status, "Suspended"):
            message = f"PyTorchJob {full} is suspended."
            set_condition(status, "Running", "False", "PyTorchJobSuspended", message, now)
            set_condition(status, "Suspended", "True", "PyTorchJobSuspended", message, now)
            p.events.append(Event(NORMAL, "PyTorchJobSuspended", message))
        return p
    if has_condition(status, "Suspended"):
        message = f"PyTorchJob {full} is resumed."
        set_condition(status, "Suspended", "False", "PyTorchJobResumed", message, now)
        status["startTime"] = rfc3339(now)
        p.events.append(Event(NORMAL, "PyTorchJobResumed", message))
    status.setdefault("startTime", rfc3339(now))

    failed_reason = _check_limits(p, job, live, now)
    if failed_reason is None:
        failed_reason = _check_failures(p, job, live, by_type, pods, now, ours)
    if failed_reason is not None:
        _fail(p, job, failed_reason, now)
        status["replicaStatuses"] = _replica_statuses(job, pods_by_type(live), status)
        _finish(p, job, pods, services, now)
        return p
    if len(live) == len(pods):
        # Nothing is being deleted (a restart waits until the old pods are gone).
        _create_missing(p, job, pods, services, specs, by_type)
    else:
        _delete_surplus(p, specs, by_type)
    live_by_type = pods_by_type(
        [pod for pod in live if pod["metadata"]["name"] not in p.delete_pods]
    )
    status["replicaStatuses"] = _replica_statuses(job, live_by_type, status)
    _update_conditions(p, job, live_by_type, now)
    if is_finished(status):
        _finish(p, job, pods, services, now)
    return p


def _create_missing(
    p: Plan,
    job: Obj,
    pods: list[Obj],
    services: list[Obj],
    specs: dict[str, Obj],
    by_type: dict[str, list[Obj]],
) -> None:
    """Create absent pods and services (Master first); delete pods beyond the replica count."""
    existing_pods = {pod["metadata"]["name"] for pod in pods}
    existing_services = {svc["metadata"]["name"] for svc in services}
    name = job["metadata"]["name"]
    _delete_surplus(p, specs, by_type)
    budget = create_budget(pods)
    for rtype, spec in specs.items():
        wanted = replica_count(spec)
        for index in range(wanted):
            if len(p.create_pods) >= budget or len(p.create_services) >= budget:
                # Slow start: the rest comes in later reconciles (a bounded plan); at the
                # pending cap, pod events wake the job and the timer is only a fallback.
                p.requeue(CREATE_INTERVAL_SECONDS if budget else PENDING_RECHECK_SECONDS)
                break
            target = pod_name(name, rtype, index)
            if target not in existing_services:
                p.create_services.append(build_service(job, rtype, index))
            if target not in existing_pods:
                p.create_pods.append(build_pod(job, rtype, index))
    p.delete_services = [n for n in p.delete_services if n in existing_services]


def create_budget(pods: list[Obj]) -> int:
    """How many pods one reconcile may create, like the ReplicaSet's slow-start batches.

    The batch grows with the pods that exist (16, 16, 32, 64 ... up to ``MAX_CREATE_BATCH``), and
    no more are created while ``MAX_PENDING_PODS`` of the job's pods wait to run, so a job of a
    million replicas costs a bounded amount of memory and work per second.
    """
    pending = sum(1 for pod in pods if phase(pod) == "Pending")
    if pending >= MAX_PENDING_PODS:
        return 0
    return min(MAX_CREATE_BATCH, max(SLOW_START_BATCH, len(pods)), MAX_PENDING_PODS - pending)


def _delete_surplus(p: Plan, specs: dict[str, Obj], by_type: dict[str, list[Obj]]) -> None:
    """Pods whose index is beyond the replica count (after a scale down) go."""
    for rtype, spec in specs.items():
        wanted = replica_count(spec)
        for pod in by_type[rtype]:
            index = pod_index(pod)
            if (index is None or index >= wanted) and not is_terminating(pod):
                p.delete_pods.append(pod["metadata"]["name"])
                p.delete_services.append(pod["metadata"]["name"])


def _check_limits(p: Plan, job: Obj, live: list[Obj], now: datetime) -> str | None:
    """activeDeadlineSeconds and backoffLimit; the failure message, or None."""
    policy = run_policy(job)
    full = f"{job['metadata'].get('namespace', 'default')}/{job['metadata']['name']}"
    deadline = policy.get("activeDeadlineSeconds")
    started = parse_time(p.status.get("startTime"))
    if isinstance(deadline, int) and started is not None:
        left = (started + timedelta(seconds=deadline) - now).total_seconds()
        if left <= 0:
            return (
                f"PyTorchJob {full} has failed because it was active longer than specified deadline"
            )
        p.requeue(left)
    limit = policy.get("backoffLimit")
    if isinstance(limit, int):
        specs = replica_specs(job)
        total = 0
        for rtype, pods in pods_by_type(live).items():
            restart_policy = (specs.get(rtype) or {}).get("restartPolicy")
            if restart_policy in ("OnFailure", "Always", "ExitCode"):
                total += sum(restarts(pod) for pod in pods if phase(pod) == "Running")
        if (limit == 0 and total > 0) or (limit > 0 and total >= limit):
            return (
                f"PyTorchJob {full} has failed because it has reached the specified backoff limit"
            )
    return None


def _check_failures(
    p: Plan,
    job: Obj,
    live: list[Obj],
    by_type: dict[str, list[Obj]],
    pods: list[Obj],
    now: datetime,
    ours: Collection[str],
) -> str | None:
    """Pod failures: cannot-start, auto-resume, ExitCode and per-type restart rules."""
    status = p.status
    full = f"{job['metadata'].get('namespace', 'default')}/{job['metadata']['name']}"
    for pod in live:
        broken = cannot_start(pod)
        if broken is not None:
            return f"PyTorchJob {full} has failed because its container cannot start: {broken.describe()}"

    failures = [f for f in (pod_failure(pod) for pod in live) if f is not None]
    enabled, max_retries = auto_resume(job)
    evicted = [
        pod
        for pod in pods
        if is_terminating(pod)
        and pod["metadata"].get("uid") not in ours
        and phase(pod) not in ("Succeeded", "Failed")
    ]
    retryable = [f for f in failures if f.retryable] + [
        Failure(
            pod["metadata"]["name"],
            None,
            "Evicted",
            node_fault(pod) or "deleted while running (eviction or node fault)",
        )
        for pod in evicted
    ]
    faulted = [pod for pod in evicted if node_fault(pod)]
    if not enabled and faulted:
        # Without auto-resume a pod lost to a node fault fails the job, naming node and fault.
        pod = faulted[0]
        return (
            f"PyTorchJob {full} has failed because pod {pod['metadata']['name']} was evicted: "
            f"{node_fault(pod)} (enable auto-resume to restart on healthy nodes)"
        )
    if enabled and retryable:
        p.acknowledged += [str(pod["metadata"].get("uid")) for pod in evicted]
        done = int(status.get("restartCount") or 0)
        cause = retryable[0].describe()
        if done >= max_retries:
            return (
                f"PyTorchJob {full} has failed: auto-resume retry limit ({max_retries}) "
                f"reached; last failure: {cause}"
            )
        status["restartCount"] = done + 1
        message = (
            f"PyTorchJob {full} is restarting (auto-resume {done + 1} of {max_retries}) "
            f"because {cause}"
        )
        set_condition(status, "Restarting", "True", "PyTorchJobRestarting", message, now)
        p.events.append(Event(WARNING, "PyTorchJobRestarting", message))
        p.restarting = True
        _delete_everything(p, pods, [])
        return None

    specs = replica_specs(job)
    for rtype, spec in specs.items():
        restart_policy = spec.get("restartPolicy") or api.DEFAULT_RESTART_POLICY
        for pod in by_type[rtype]:
            if is_terminating(pod) or phase(pod) != "Failed":
                continue
            failure = pod_failure(pod)
            assert failure is not None
            pod_id = pod["metadata"]["name"]
            if restart_policy == "ExitCode":
                if failure.retryable:
                    message = f"Pod {pod_id} exited with code {failure.exit_code}; restarting it"
                    p.events.append(Event(WARNING, "ExitedWithCode", message))
                    set_condition(
                        status, "Restarting", "True", "PyTorchJobRestarting", message, now
                    )
                    p.delete_pods.append(pod_id)
                    p.restarting = True
                    continue
                # Upstream only marks such a job Restarting and waits forever (a known bug);
                # the documented intent is that a permanent exit code fails the job at once.
                return (
                    f"PyTorchJob {full} has failed because {failure.describe()} "
                    "(a permanent exit code under restartPolicy ExitCode)"
                )
            if restart_policy == "Never":
                count = sum(1 for x in by_type[rtype] if phase(x) == "Failed")
                return (
                    f"PyTorchJob {full} has failed because {count} {rtype} replica(s) failed: "
                    f"{failure.describe()}"
                )
            # OnFailure/Always pods are restarted in place by the kubelet; one that still ends
            # Failed (evicted, node lost) is recreated. Upstream leaves it Failed for ever.
            message = f"Pod {pod_id} failed ({failure.describe()}); recreating it"
            p.events.append(Event(WARNING, "PodFailed", message))
            set_condition(status, "Restarting", "True", "PyTorchJobRestarting", message, now)
            p.delete_pods.append(pod_id)
            p.restarting = True
    return None


def _update_conditions(p: Plan, job: Obj, by_type: dict[str, list[Obj]], now: datetime) -> None:
    """Running, Succeeded and Restarting from the replica counts (upstream's UpdateJobStatus)."""
    status = p.status
    full = f"{job['metadata'].get('namespace', 'default')}/{job['metadata']['name']}"
    specs = replica_specs(job)
    elastic = (job.get("spec") or {}).get("elasticPolicy") is not None
    for rtype, spec in specs.items():
        entry = status["replicaStatuses"].get(rtype) or {}
        wanted = replica_count(spec)
        running, succeeded, failed = (entry.get(k, 0) for k in ("active", "succeeded", "failed"))
        decisive = rtype == api.MASTER or (api.MASTER not in specs and rtype == api.WORKER)
        if decisive:
            done = (wanted - succeeded == 0) or (rtype == api.WORKER and elastic and succeeded > 0)
            if done:
                message = f"PyTorchJob {full} is successfully completed."
                if set_condition(status, "Succeeded", "True", "PyTorchJobSucceeded", message, now):
                    p.events.append(Event(NORMAL, "PyTorchJobSucceeded", message))
                status.setdefault("completionTime", rfc3339(now))
                return
            if running > 0 and not p.restarting:
                set_condition(
                    status,
                    "Running",
                    "True",
                    "PyTorchJobRunning",
                    f"PyTorchJob {full} is running.",
                    now,
                )
        if failed > 0 and wanted > succeeded + running and not has_condition(status, "Restarting"):
            message = f"PyTorchJob {full} is restarting because {failed} {rtype} replica(s) failed."
            if set_condition(status, "Restarting", "True", "PyTorchJobRestarting", message, now):
                p.events.append(Event(WARNING, "PyTorchJobRestarting", message))


def _fail(p: Plan, job: Obj, message: str, now: datetime) -> None:
    if set_condition(p.status, "Failed", "True", "PyTorchJobFailed", message, now):
        p.events.append(Event(WARNING, "PyTorchJobFailed", message))
    p.status.setdefault("completionTime", rfc3339(now))


def _finish(p: Plan, job: Obj, pods: list[Obj], services: list[Obj], now: datetime) -> None:
    """Clean pods per cleanPodPolicy, move active to succeeded, honour the TTL."""
    status = p.status
    _clean_up(p, job, pods, services)
    if has_condition(status, "Succeeded"):
        for entry in (status.get("replicaStatuses") or {}).values():
            active = int(entry.pop("active", 0) or 0)
            if active:
                entry["succeeded"] = int(entry.get("succeeded") or 0) + active
    ttl = run_policy(job).get("ttlSecondsAfterFinished")
    finished_at = parse_time(status.get("completionTime"))
    if isinstance(ttl, int) and finished_at is not None:
        left = (finished_at + timedelta(seconds=ttl) - now).total_seconds()
        if left <= 0:
            p.delete_job = True
        else:
            p.requeue(left)
