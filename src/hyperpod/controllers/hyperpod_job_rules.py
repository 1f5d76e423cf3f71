"""The HyperPodPyTorchJob operator's rules as pure functions: (job, pods, faults, now) -> a Plan.

Pods are ``<job>-<group>-<i>``, one per node, ranked across ``replicaSpecs`` in order (node rank
0 is the master). Restarts, in the order HyperPod's operator escalates them:

- process-level: a pod's container that exits non-zero is restarted in place by the kubelet
  (pod ``restartPolicy: OnFailure``, no rescheduling), and the operator restarts the training
  processes of every other running pod in place too (it kills their current container; the
  kubelet starts it again), so all ranks meet again at the same master as a launcher's
  restart would. It counts each fault once (annotations ``hyperpod.local/restarts-counted``
  and ``hyperpod.local/restarts-expected`` on the pod tell faults from restarts it caused), in
  ``status.restartCount`` and in ``status.restartStatus.restartCount`` for the current
  ``evalPeriodSeconds`` window;
- full-job: after ``numRestartBeforeFullJobRestart`` restarts in one window, or when a log
  monitoring rule finds the job hanging, every pod is deleted and recreated (at most
  ``maxFullJobRestarts`` times);
- Failed: past ``jobMaxRetryCount`` restarts in all (default 0: the first failure fails the
  job and pods never restart), past ``maxFullJobRestarts``, a container that cannot start, or
  ``activeDeadlineSeconds``.

Status carries only the fields the public SDK parses (its models forbid unknown fields).
Spares, elastic scaling and repeat-offender avoidance are not implemented.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from hyperpod.api import hyperpod_job as api
from hyperpod.controllers.pytorchjob_rules import (
    NORMAL,
    WARNING,
    Event,
    cannot_start,
    is_terminating,
    parse_time,
    phase,
    restarts,
    rfc3339,
)

Obj = dict[str, Any]
ANNOTATION_COUNTED = "hyperpod.local/restarts-counted"
ANNOTATION_EXPECTED = "hyperpod.local/restarts-expected"
PROCESS_RESTART = "ProcessLevelRestart"
FULL_RESTART = "FullJobRestart"


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
        count = group.get("replicas") or 1
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


def build_pod(job: Obj, slot: Slot) -> Obj:
    md = job["metadata"]
    template = copy.deepcopy(group_spec(job, slot.group).get("template") or {})
    tmeta = template.get("metadata") or {}
    pod_spec: Obj = template.get("spec") or {}
    pod_spec["restartPolicy"] = "OnFailure" if max_retries(job) > 0 else "Never"
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


# --- the reconcile ------------------------------------------------------------------------


def _counted(pod: Obj, key: str = ANNOTATION_COUNTED) -> int:
    raw = ((pod.get("metadata") or {}).get("annotations") or {}).get(key, "0")
    return int(raw) if str(raw).isdigit() else 0


def _note(p: Plan, pod: Obj, key: str, value: int) -> None:
    p.annotate_pods.setdefault(pod["metadata"]["name"], {})[key] = str(value)


def _rank(pod: Obj) -> str:
    return str(((pod.get("metadata") or {}).get("labels") or {}).get(api.LABEL_NODE_RANK, ""))


def _exit_code(pod: Obj) -> str:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        for key in ("state", "lastState"):
            term = (cs.get(key) or {}).get("terminated")
            if isinstance(term, dict) and term.get("exitCode"):
                return f" (exit code {term['exitCode']})"
    return ""


def _faulty(status: Obj, kind: str, pods: list[Obj]) -> None:
    status["latestFaultyPodInstanceList"] = {
        "restartType": kind,
        "faultyPodList": [p["metadata"]["name"] for p in pods],
        "faultyRankList": [_rank(p) for p in pods],
        "faultyInstanceIdList": [str((p.get("spec") or {}).get("nodeName") or "") for p in pods],
    }


def _job_pods(pods: list[Obj]) -> list[Obj]:
    return [
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "name": p["metadata"]["name"],
            "namespace": p["metadata"].get("namespace"),
            "uid": p["metadata"].get("uid"),
        }
        for p in sorted(pods, key=lambda p: p["metadata"]["name"])
        if not is_terminating(p)
    ]


def plan(
    job: Obj,
    pods: list[Obj],
    services: list[Obj],
    faults: list[Fault] | None = None,
    now: datetime | None = None,
) -> Plan:
    """Decide what to do for ``job`` given the pods and services it owns and found faults."""
    now = now or datetime.now(UTC)
    status: Obj = copy.deepcopy(job.get("status") or {})
    p = Plan(status=status)
    name = job["metadata"]["name"]
    if not status.get("conditions"):
        set_condition(status, "Created", "True", "JobCreated", f"Job {name} is created", now)
    if is_finished(status):
        _after_finish(p, job, pods, now)
        return p
    if run_policy(job).get("suspend"):
        p.delete_pods += [x["metadata"]["name"] for x in pods if not is_terminating(x)]
        _clear(status, ("Running", "Restarting"), "Suspended", now)
        set_condition(status, "Suspended", "True", "JobSuspended", f"Job {name} is suspended", now)
        status["jobPods"] = []
        return p
    if is_true(status, "Suspended"):
        set_condition(status, "Suspended", "False", "JobResumed", f"Job {name} is resumed", now)
        status.pop("startTime", None)
    status.setdefault("startTime", rfc3339(now))
    wanted = slots(job)
    status["masterAddr"] = wanted[0].name if wanted else ""
    status["masterPort"] = str(master_port(job))
    status.setdefault("restartCount", 0)
    _roll_window(status, job, now)
    deadline = run_policy(job).get("activeDeadlineSeconds")
    started = parse_time(status.get("startTime")) or now
    if isinstance(deadline, int):
        left = deadline - (now - started).total_seconds()
        if left <= 0:
            _fail(
                p, job, pods, "DeadlineExceeded", f"Job {name} ran past activeDeadlineSeconds", now
            )
            return p
        p.requeue(left)
    live = [x for x in pods if not is_terminating(x)]
    for pod in live:
        stuck = cannot_start(pod)
        if stuck is not None:
            _fail(p, job, pods, stuck.reason, stuck.describe(), now)
            return p
    if not _handle_faults(p, job, live, faults or [], now):
        return p
    by_name = {x["metadata"]["name"]: x for x in pods}
    if not any(is_terminating(x) for x in pods):
        if not services and wanted:
            p.create_services.append(build_service(job))
        p.create_pods += [build_pod(job, s) for s in wanted if s.name not in by_name]
    _update_conditions(p, job, wanted, by_name, now)
    status["jobPods"] = _job_pods(pods)
    return p


def _roll_window(status: Obj, job: Obj, now: datetime) -> None:
    period = restart_policy(job).get("evalPeriodSeconds")
    rs = status.get("restartStatus")
    now_s = int(now.timestamp())
    if not isinstance(rs, dict):
        status["restartStatus"] = {
            "currentEvalPeriod": now_s,
            "fullJobRestartCount": 0,
            "restartCount": 0,
        }
        return
    if isinstance(period, int) and period > 0 and now_s - int(rs["currentEvalPeriod"]) >= period:
        rs["currentEvalPeriod"] = now_s
        rs["restartCount"] = 0


def _handle_faults(p: Plan, job: Obj, live: list[Obj], faults: list[Fault], now: datetime) -> bool:
    """Count restarts and escalate; False when the job just failed (nothing more to do)."""
    status = p.status
    rs = status["restartStatus"]
    name = job["metadata"]["name"]
    restarted: list[Obj] = []
    failed: list[Obj] = []
    for pod in live:
        seen = restarts(pod)
        if seen > _counted(pod):
            # Restarts up to "expected" were the operator's own (restarting peers in place).
            faults_seen = seen - max(_counted(pod), _counted(pod, ANNOTATION_EXPECTED))
            _note(p, pod, ANNOTATION_COUNTED, seen)
            if faults_seen > 0:
                rs["restartCount"] += faults_seen
                status["restartCount"] += faults_seen
                restarted.append(pod)
        if phase(pod) == "Failed":
            failed.append(pod)
    limit = max_retries(job)
    if failed:
        if status["restartCount"] >= limit:
            who = ", ".join(f"{x['metadata']['name']}{_exit_code(x)}" for x in failed)
            _faulty(status, PROCESS_RESTART, failed)
            _fail(p, job, live, "JobFailed", f"pod {who} failed; restarts used up ({limit})", now)
            return False
        # A pod that failed for good (evicted, or restartPolicy Never) is recreated.
        rs["restartCount"] += len(failed)
        status["restartCount"] += len(failed)
        p.delete_pods += [x["metadata"]["name"] for x in failed]
        restarted += failed
    if restarted:
        _faulty(status, PROCESS_RESTART, restarted)
        for pod in restarted:
            p.events.append(
                Event(
                    WARNING,
                    "ProcessLevelRestart",
                    f"Restarted pod {pod['metadata']['name']} (rank {_rank(pod)}) in place"
                    f"{_exit_code(pod)}",
                )
            )
        if status["restartCount"] > limit:
            _fail(
                p,
                job,
                live,
                "JobMaxRetryCountExceeded",
                f"Job {name} restarted {status['restartCount']} times; jobMaxRetryCount is {limit}",
                now,
            )
            return False
    policy = restart_policy(job)
    threshold = policy.get("numRestartBeforeFullJobRestart")
    full_reason = ""
    if faults:
        full_reason = "; ".join(f"{f.pod}: {f.message}" for f in faults)
        for fault in faults:
            p.events.append(Event(WARNING, fault.reason, f"{fault.pod}: {fault.message}"))
    elif policy and isinstance(threshold, int) and restarted and rs["restartCount"] >= threshold:
        full_reason = (
            f"{rs['restartCount']} process-level restarts within evalPeriodSeconds "
            f"({policy.get('evalPeriodSeconds')}s)"
        )
    if not full_reason:
        if restarted:
            _restart_peers(p, live, failed + restarted)
        return True
    max_full = policy.get("maxFullJobRestarts")
    max_full = max_full if isinstance(max_full, int) else (limit if not policy else 0)
    if rs["fullJobRestartCount"] >= max_full or (faults and status["restartCount"] >= limit):
        _fail(
            p,
            job,
            live,
            "MaxFullJobRestartsExceeded",
            f"{full_reason}; full-job restarts used up ({rs['fullJobRestartCount']})",
            now,
        )
        return False
    rs["fullJobRestartCount"] += 1
    rs["restartCount"] = 0
    status["restartCount"] += 1 if faults else 0
    faulty = [x for x in live if x["metadata"]["name"] in {f.pod for f in faults}] or restarted
    _faulty(status, FULL_RESTART, faulty)
    p.delete_pods += [x["metadata"]["name"] for x in live]
    p.events.append(
        Event(WARNING, "FullJobRestart", f"Restarting every pod of {name}: {full_reason}")
    )
    set_condition(status, "Restarting", "True", "FullJobRestart", full_reason, now)
    _clear(status, ("Running",), "FullJobRestart", now)
    return True


def _restart_peers(p: Plan, live: list[Obj], faulty: list[Obj]) -> None:
    """Restart the other ranks' processes in place: each running pod's container is killed once.

    The faulty pods are left alone: the kubelet already restarts them, and killing that fresh
    process again would cost it the CrashLoopBackOff delay.
    """
    gone = {x["metadata"]["name"] for x in faulty}
    for pod in live:
        name = pod["metadata"]["name"]
        if name in gone or phase(pod) not in ("Running", "Pending"):
            continue
        _note(p, pod, ANNOTATION_EXPECTED, restarts(pod) + 1)
        p.restart_in_place.append(name)


def _update_conditions(
    p: Plan, job: Obj, wanted: list[Slot], by_name: dict[str, Obj], now: datetime
) -> None:
    status = p.status
    name = job["metadata"]["name"]
    current = [by_name.get(s.name) for s in wanted]
    if any(x is None or is_terminating(x) for x in current) or p.delete_pods:
        return
    phases = [phase(x) for x in current if x is not None]
    if phases and all(ph == "Succeeded" for ph in phases):
        _clear(status, ("Running", "Restarting"), "JobCompleted", now)
        set_condition(status, "Completed", "True", "JobCompleted", f"Job {name} completed", now)
        status["completionTime"] = rfc3339(now)
        p.events.append(Event(NORMAL, "JobCompleted", f"Job {name} completed"))
        _after_finish(p, job, list(by_name.values()), now)
        return
    if all(ph in ("Running", "Succeeded") for ph in phases):
        _clear(status, ("Restarting",), "AllPodsRunning", now)
        if not is_true(status, "Running"):
            p.events.append(Event(NORMAL, "JobRunning", f"All {len(phases)} pods of {name} run"))
        set_condition(status, "Running", "True", "AllPodsRunning", f"Job {name} is running", now)


def _fail(p: Plan, job: Obj, pods: list[Obj], reason: str, message: str, now: datetime) -> None:
    status = p.status
    _clear(status, ("Running", "Restarting"), reason, now)
    set_condition(status, "Failed", "True", reason, message, now)
    status["completionTime"] = rfc3339(now)
    p.events.append(Event(WARNING, reason, message))
    _after_finish(p, job, pods, now)


def _after_finish(p: Plan, job: Obj, pods: list[Obj], now: datetime) -> None:
    """cleanPodPolicy, then ttlSecondsAfterFinished."""
    policy = run_policy(job).get("cleanPodPolicy") or api.DEFAULT_CLEAN_POD_POLICY
    if policy != "None":
        p.delete_pods += [
            x["metadata"]["name"]
            for x in pods
            if not is_terminating(x)
            and (policy == "All" or phase(x) in ("Running", "Pending"))
            and x["metadata"]["name"] not in p.delete_pods
        ]
    p.status["jobPods"] = [ref for ref in _job_pods(pods) if ref["name"] not in set(p.delete_pods)]
    ttl = run_policy(job).get("ttlSecondsAfterFinished")
    done = parse_time(p.status.get("completionTime")) or now
    if isinstance(ttl, int):
        left = ttl - (now - done).total_seconds()
        if left <= 0:
            p.delete_job = True
        else:
            p.requeue(left)
