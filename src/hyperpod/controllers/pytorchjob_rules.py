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
from datetime import UTC, datetime, timedelta
from typing import Any

from hyperpod.api import pytorchjob as api
from hyperpod.api.meta import parse_time as parse_time
from hyperpod.api.meta import rfc3339 as rfc3339
from hyperpod.controllers.pytorchjob_model import CANNOT_START_REASONS as CANNOT_START_REASONS
from hyperpod.controllers.pytorchjob_model import CREATE_INTERVAL_SECONDS as CREATE_INTERVAL_SECONDS
from hyperpod.controllers.pytorchjob_model import MAX_CREATE_BATCH as MAX_CREATE_BATCH
from hyperpod.controllers.pytorchjob_model import MAX_PENDING_PODS as MAX_PENDING_PODS
from hyperpod.controllers.pytorchjob_model import NORMAL as NORMAL
from hyperpod.controllers.pytorchjob_model import (
    PENDING_RECHECK_SECONDS,
    Failure,
    auto_resume,
    base_labels,
    has_condition,
    label_selector_string,
    replica_count,
    replica_specs,
    set_condition,
)
from hyperpod.controllers.pytorchjob_model import SLOW_START_BATCH as SLOW_START_BATCH
from hyperpod.controllers.pytorchjob_model import WARNING as WARNING
from hyperpod.controllers.pytorchjob_model import Event as Event
from hyperpod.controllers.pytorchjob_model import Plan as Plan
from hyperpod.controllers.pytorchjob_model import condition as condition
from hyperpod.controllers.pytorchjob_model import is_finished as is_finished
from hyperpod.controllers.pytorchjob_model import is_terminating as is_terminating
from hyperpod.controllers.pytorchjob_model import local_port as local_port
from hyperpod.controllers.pytorchjob_model import managed_here as managed_here
from hyperpod.controllers.pytorchjob_model import phase as phase
from hyperpod.controllers.pytorchjob_model import pod_name as pod_name
from hyperpod.controllers.pytorchjob_model import run_policy as run_policy
from hyperpod.controllers.pytorchjob_pods import build_pod as build_pod
from hyperpod.controllers.pytorchjob_pods import build_service as build_service
from hyperpod.controllers.pytorchjob_pods import cannot_start as cannot_start
from hyperpod.controllers.pytorchjob_pods import node_fault as node_fault
from hyperpod.controllers.pytorchjob_pods import pod_failure, pod_index, pods_by_type
from hyperpod.controllers.pytorchjob_pods import restarts as restarts

Obj = dict[str, Any]

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
    return _replica_failures(p, job, by_type, full, now)


def _replica_failures(
    p: Plan, job: Obj, by_type: dict[str, list[Obj]], full: str, now: datetime
) -> str | None:
    """Each replica type's restartPolicy applied to its Failed pods."""
    status = p.status
    for rtype, spec in replica_specs(job).items():
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
