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

Spares (``replicaSpecs[].spares``): extra pods ``<job>-<group>-spare-<k>`` (label
``hyperpod.local/role=spare``) run :mod:`.hyperpod_job_standby`, which loads the training
program and waits. When a rank's pod fails or its container restarts, a ready spare of the same
group takes the rank over: the operator hands it the rank's environment (a file in its sandbox),
relabels it with the rank (annotation ``hyperpod.local/slot`` names the slot it now fills),
deletes the faulty pod and restarts the other ranks in place; a new spare is then created.

Repeat offenders: every fault is counted against the node it happened on (job annotation
``hyperpod.local/node-faults``, a JSON map). A rank pod the health agent evicts (pod condition
``DisruptionTarget``, reason ``DeletionByNodeHealthAgent``) is a fault of the job (counted once,
annotation ``hyperpod.local/eviction-counted``), its node counts as faulty outright, a ready
spare takes its rank and the other ranks restart in place. With ``restartPolicy.maxNumRepeatOffendersToAvoid: N``, pods created by a
full-job restart (and any pod created later) get a required node affinity excluding the N nodes
with the most faults among those with at least two.

Deadlines: ``startupDeadlineSeconds`` fails a job not Running that long after it started (or
was last restarted in full); ``faultDeadlineSeconds`` fails a job that stays Restarting that long.

Elastic scaling (``spec.elasticPolicy``): see :mod:`.hyperpod_job_elastic`.

Status carries only the fields the public SDK parses (its models forbid unknown fields).
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

from hyperpod.api import hyperpod_job as api
from hyperpod.controllers import hyperpod_job_elastic as elastic
from hyperpod.controllers.hyperpod_job_faults import (
    _after_finish,
    _fail,
    _handle_faults,
    _job_pods,
    _roll_window,
)
from hyperpod.controllers.hyperpod_job_faults import (
    evicted_by_health_agent as evicted_by_health_agent,
)
from hyperpod.controllers.hyperpod_job_model import ANNOTATION_COUNTED as ANNOTATION_COUNTED
from hyperpod.controllers.hyperpod_job_model import ANNOTATION_EVICTION as ANNOTATION_EVICTION
from hyperpod.controllers.hyperpod_job_model import ANNOTATION_EXPECTED as ANNOTATION_EXPECTED
from hyperpod.controllers.hyperpod_job_model import ANNOTATION_NODE_FAULTS as ANNOTATION_NODE_FAULTS
from hyperpod.controllers.hyperpod_job_model import ANNOTATION_SLOT as ANNOTATION_SLOT
from hyperpod.controllers.hyperpod_job_model import FULL_RESTART as FULL_RESTART
from hyperpod.controllers.hyperpod_job_model import HEALTH_EVICTION_REASON as HEALTH_EVICTION_REASON
from hyperpod.controllers.hyperpod_job_model import HOSTNAME_LABEL as HOSTNAME_LABEL
from hyperpod.controllers.hyperpod_job_model import LABEL_ROLE as LABEL_ROLE
from hyperpod.controllers.hyperpod_job_model import PROCESS_RESTART as PROCESS_RESTART
from hyperpod.controllers.hyperpod_job_model import RANK_ENV as RANK_ENV
from hyperpod.controllers.hyperpod_job_model import REPEAT_OFFENDER_FAULTS as REPEAT_OFFENDER_FAULTS
from hyperpod.controllers.hyperpod_job_model import ROLE_RANK as ROLE_RANK
from hyperpod.controllers.hyperpod_job_model import ROLE_SPARE as ROLE_SPARE
from hyperpod.controllers.hyperpod_job_model import SPARE_ASSIGNMENT as SPARE_ASSIGNMENT
from hyperpod.controllers.hyperpod_job_model import STANDBY_MODULE as STANDBY_MODULE
from hyperpod.controllers.hyperpod_job_model import Fault as Fault
from hyperpod.controllers.hyperpod_job_model import Plan as Plan
from hyperpod.controllers.hyperpod_job_model import (
    Slot,
    _clear,
    condition,
    is_true,
    master_port,
    set_condition,
)
from hyperpod.controllers.hyperpod_job_model import is_finished as is_finished
from hyperpod.controllers.hyperpod_job_model import local_port as local_port
from hyperpod.controllers.hyperpod_job_model import run_policy as run_policy
from hyperpod.controllers.hyperpod_job_model import slots as slots
from hyperpod.controllers.hyperpod_job_pods import avoided_nodes as avoided_nodes
from hyperpod.controllers.hyperpod_job_pods import (
    build_pod,
    build_service,
    is_helper,
    node_faults,
    slot_of,
    spare_count,
)
from hyperpod.controllers.hyperpod_job_pods import build_spare as build_spare
from hyperpod.controllers.hyperpod_job_pods import is_probe as is_probe
from hyperpod.controllers.hyperpod_job_pods import is_spare as is_spare
from hyperpod.controllers.pytorchjob_rules import (
    NORMAL,
    WARNING,
    Event,
    cannot_start,
    is_terminating,
    parse_time,
    phase,
    rfc3339,
)

Obj = dict[str, Any]
# --- the reconcile ------------------------------------------------------------------------


def _evicted(pods: list[Obj], gone: list[Obj]) -> list[Obj]:
    """Pods the health agent evicted, live or already gone, each once."""
    seen_uids: set[str] = set()
    evicted = []
    for x in [*pods, *gone]:
        uid = str(x["metadata"].get("uid") or x["metadata"]["name"])
        if uid not in seen_uids and evicted_by_health_agent(x):
            seen_uids.add(uid)
            evicted.append(x)
    return evicted


def plan(
    job: Obj,
    pods: list[Obj],
    services: list[Obj],
    faults: list[Fault] | None = None,
    now: datetime | None = None,
    gone: list[Obj] | None = None,
) -> Plan:
    """Decide what to do for ``job`` given the pods and services it owns and found faults.

    ``gone`` are pods of the job deleted since the last reconcile that the operator has not
    yet counted (an eviction may complete before any reconcile sees the pod terminating).
    """
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
    if not _check_deadlines(p, job, pods, now):
        return p
    live = [x for x in pods if not is_terminating(x)]
    for pod in live:
        stuck = cannot_start(pod)
        if stuck is not None:
            _fail(p, job, pods, stuck.reason, stuck.describe(), now)
            return p
    counts = node_faults(job)
    before = dict(counts)
    evicted = _evicted(pods, gone or [])
    if not _handle_faults(p, job, live, faults or [], now, counts, evicted):
        return p
    if counts != before:
        p.annotate_job[ANNOTATION_NODE_FAULTS] = json.dumps(counts, sort_keys=True)
    avoid = avoided_nodes(job, counts)
    if not p.delete_pods and not any(is_terminating(x) for x in pods):
        _elastic_step(p, job, live, avoid, now)
    by_slot = _rank_pods(p, pods)
    # Ranks wait for old ranks to be gone (not for spares or probes on their way out).
    if not any(is_terminating(x) and not is_helper(x) for x in pods):
        if not services and wanted:
            p.create_services.append(build_service(job))
        p.create_pods += [build_pod(job, s, avoid) for s in wanted if s.name not in by_slot]
        _create_spares(p, job, pods, avoid)
    _update_conditions(p, job, wanted, by_slot, now, pods)
    status["jobPods"] = _job_pods(pods)
    return p


def _elastic_step(p: Plan, job: Obj, live: list[Obj], avoid: list[str], now: datetime) -> None:
    """Scale an elastic job down or up (see :mod:`.hyperpod_job_elastic`)."""
    ranks = [x for x in live if not is_helper(x)]
    probes = [x for x in live if is_probe(x)]
    action, value = elastic.decide(job, ranks, probes, is_true(p.status, "Running"), now)
    name = job["metadata"]["name"]
    if action == "wait":
        p.requeue(float(value))
    elif action == "drop-probes":
        p.delete_pods += [x["metadata"]["name"] for x in probes]
        p.annotate_job[elastic.ANNOTATION_CHANGED] = rfc3339(now)
        p.events.append(
            Event(NORMAL, "ScaleUpTimedOut", f"No capacity for more pods of {name}; staying put")
        )
    elif action == "probe":
        group = str(((job.get("spec") or {}).get("replicaSpecs") or [{}])[0].get("name"))
        for index in range(int(value)):
            probe = build_spare(job, group, index, avoid)
            if probe is None:
                return
            # A fresh name per attempt: a probe being deleted never blocks the next one.
            stamp = int(now.timestamp()) % 100000
            probe["metadata"]["name"] = f"{name}-{group}-probe-{stamp}-{index}"
            probe["metadata"]["labels"][LABEL_ROLE] = elastic.ROLE_PROBE
            p.create_pods.append(probe)
    elif action in ("down", "up"):
        size = len(ranks)
        p.annotate_job[elastic.ANNOTATION_SIZE] = str(value)
        p.annotate_job[elastic.ANNOTATION_CHANGED] = rfc3339(now)
        p.delete_pods += [x["metadata"]["name"] for x in [*ranks, *probes]]
        reason = "ScaledDown" if action == "down" else "ScaledUp"
        message = f"Scaling {name} from {size} to {value} replicas: every rank restarts"
        p.events.append(Event(NORMAL, reason, message))
        set_condition(p.status, "Restarting", "True", reason, message, now)
        _clear(p.status, ("Running",), reason, now)


def _rank_pods(p: Plan, pods: list[Obj]) -> dict[str, Obj]:
    """Slot name -> the pod filling it (a live one before a terminating one)."""
    out: dict[str, Obj] = {}
    for pod in pods:
        name = pod["metadata"]["name"]
        promoted = (p.patch_pods.get(name) or {}).get("metadata", {}).get("annotations", {})
        if ANNOTATION_SLOT in promoted:
            slot = promoted[ANNOTATION_SLOT]
        elif is_helper(pod):
            continue
        else:
            slot = slot_of(pod)
        current = out.get(slot)
        if current is None or (is_terminating(current) and not is_terminating(pod)):
            out[slot] = pod
    return out


def _create_spares(p: Plan, job: Obj, pods: list[Obj], avoid: list[str]) -> None:
    names = {x["metadata"]["name"] for x in pods}
    for group in (job.get("spec") or {}).get("replicaSpecs") or []:
        gname = str(group.get("name"))
        waiting = [
            x
            for x in pods
            if is_spare(x)
            and x["metadata"]["name"] not in p.promote
            and x["metadata"]["name"] not in p.delete_pods
            and ((x["metadata"].get("labels") or {}).get(api.LABEL_REPLICA_SPEC) == gname)
        ]
        missing = spare_count(job, gname) - len(waiting)
        index = 0
        while missing > 0:
            name = f"{job['metadata']['name']}-{gname}-spare-{index}"
            index += 1
            if name in names:
                continue
            spare = build_spare(job, gname, index - 1, avoid)
            if spare is None:
                p.events.append(
                    Event(
                        WARNING,
                        "SparesUnsupported",
                        f"replicaSpecs {gname!r}: spares need the container's command "
                        "(the standby runs it when it takes over a rank)",
                    )
                )
                return
            p.create_pods.append(spare)
            missing -= 1


def _check_deadlines(p: Plan, job: Obj, pods: list[Obj], now: datetime) -> bool:
    """startupDeadlineSeconds and faultDeadlineSeconds; False when the job just failed."""
    status = p.status
    name = job["metadata"]["name"]
    restarting = condition(status, "Restarting")
    in_fault = restarting is not None and restarting.get("status") == "True"
    fault_limit = run_policy(job).get("faultDeadlineSeconds")
    if in_fault and isinstance(fault_limit, int) and restarting is not None:
        since = parse_time(restarting.get("lastTransitionTime")) or now
        left = fault_limit - (now - since).total_seconds()
        if left <= 0:
            message = f"Job {name} stayed Restarting longer than faultDeadlineSeconds"
            _fail(p, job, pods, "FaultDeadlineExceeded", f"{message} ({fault_limit}s)", now)
            return False
        p.requeue(left)
    startup_limit = run_policy(job).get("startupDeadlineSeconds")
    if isinstance(startup_limit, int) and not is_true(status, "Running"):
        since = parse_time(status.get("startTime")) or now
        if in_fault and restarting is not None:
            since = parse_time(restarting.get("lastTransitionTime")) or since
        left = startup_limit - (now - since).total_seconds()
        if left <= 0:
            message = f"Job {name} did not reach Running within startupDeadlineSeconds"
            _fail(p, job, pods, "StartupDeadlineExceeded", f"{message} ({startup_limit}s)", now)
            return False
        p.requeue(left)
    return True


def _update_conditions(
    p: Plan,
    job: Obj,
    wanted: list[Slot],
    by_slot: dict[str, Obj],
    now: datetime,
    pods: list[Obj] | None = None,
) -> None:
    status = p.status
    name = job["metadata"]["name"]
    current = [by_slot.get(s.name) for s in wanted]
    if any(x is None or is_terminating(x) for x in current) or p.delete_pods:
        return
    phases = [phase(x) for x in current if x is not None]
    if phases and all(ph == "Succeeded" for ph in phases):
        _clear(status, ("Running", "Restarting"), "JobCompleted", now)
        set_condition(status, "Completed", "True", "JobCompleted", f"Job {name} completed", now)
        status["completionTime"] = rfc3339(now)
        p.events.append(Event(NORMAL, "JobCompleted", f"Job {name} completed"))
        _after_finish(p, job, pods if pods is not None else list(by_slot.values()), now)
        return
    if all(ph in ("Running", "Succeeded") for ph in phases):
        _clear(status, ("Restarting",), "AllPodsRunning", now)
        if not is_true(status, "Running"):
            p.events.append(Event(NORMAL, "JobRunning", f"All {len(phases)} pods of {name} run"))
        set_condition(status, "Running", "True", "AllPodsRunning", f"Job {name} is running", now)
