"""How the HyperPodPyTorchJob operator answers faults: process-level restart in place, full job
restart, spares taking over a faulty rank, repeat-offender nodes, and failing the job.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hyperpod.api import hyperpod_job as api
from hyperpod.controllers.hyperpod_job_model import (
    ANNOTATION_COUNTED,
    ANNOTATION_EVICTION,
    ANNOTATION_EXPECTED,
    ANNOTATION_SLOT,
    FULL_RESTART,
    HEALTH_EVICTION_REASON,
    LABEL_ROLE,
    PROCESS_RESTART,
    RANK_ENV,
    REPEAT_OFFENDER_FAULTS,
    ROLE_RANK,
    Fault,
    Plan,
    _clear,
    group_spec,
    max_retries,
    nproc_per_node,
    restart_policy,
    run_policy,
    set_condition,
    slots,
)
from hyperpod.controllers.hyperpod_job_pods import (
    avoided_nodes,
    is_helper,
    is_spare,
    job_env,
    slot_of,
)
from hyperpod.controllers.pytorchjob_rules import (
    NORMAL,
    WARNING,
    Event,
    is_terminating,
    parse_time,
    phase,
    restarts,
    rfc3339,
)

Obj = dict[str, Any]


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


def _count_node_faults(pods: list[Obj], counts: dict[str, int]) -> None:
    seen: set[str] = set()
    for pod in pods:
        name = pod["metadata"]["name"]
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        if name in seen or not node:
            continue
        seen.add(name)
        counts[node] = counts.get(node, 0) + 1
        if (pod.get("status") or {}).get("reason") == "Evicted":
            # Evicted by the health agent: the node itself is faulty.
            counts[node] = max(counts[node], REPEAT_OFFENDER_FAULTS)


def evicted_by_health_agent(pod: Obj) -> bool:
    """A rank pod the health agent is deleting from a faulty node, not yet counted."""
    if is_spare(pod) or _counted(pod, ANNOTATION_EVICTION):
        return False
    return any(
        c.get("type") == "DisruptionTarget" and c.get("reason") == HEALTH_EVICTION_REASON
        for c in (pod.get("status") or {}).get("conditions") or []
    )


def _handle_faults(
    p: Plan,
    job: Obj,
    live: list[Obj],
    faults: list[Fault],
    now: datetime,
    counts: dict[str, int] | None = None,
    evicted: list[Obj] | None = None,
) -> bool:
    """Count restarts and escalate; False when the job just failed (nothing more to do)."""
    status = p.status
    rs = status["restartStatus"]
    name = job["metadata"]["name"]
    counts = {} if counts is None else counts
    spares = [x for x in live if is_spare(x)]
    live = [x for x in live if not is_helper(x)]
    for spare in spares:
        if phase(spare) == "Failed":
            p.delete_pods.append(spare["metadata"]["name"])
            p.events.append(
                Event(WARNING, "SpareFailed", f"Spare {spare['metadata']['name']} failed")
            )
    restarted, failed = _count_restarts(p, live, counts)
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
        _count_node_faults(failed, counts)
        p.delete_pods += [x["metadata"]["name"] for x in failed]
        restarted += failed
    _count_evictions(p, evicted or [], counts, restarted)
    if restarted:
        _faulty(status, PROCESS_RESTART, restarted)
        gone = {x["metadata"]["name"] for x in evicted or []}
        for pod in restarted:
            if pod["metadata"]["name"] in gone:
                continue
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
            took = _take_over(p, job, spares, failed + restarted)
            _restart_peers(p, live, failed + restarted + took)
        return True
    return _full_restart(p, job, live, spares, faults, restarted, counts, full_reason, now)


def _count_restarts(
    p: Plan, live: list[Obj], counts: dict[str, int]
) -> tuple[list[Obj], list[Obj]]:
    """Restarts the kubelet made since the last look (counted per node); and the Failed pods."""
    status = p.status
    rs = status["restartStatus"]
    restarted: list[Obj] = []
    failed: list[Obj] = []
    for pod in live:
        seen = restarts(pod)
        if seen > _counted(pod):
            # Restarts up to "expected" were the operator's own (restarting peers in place).
            faults_seen = seen - max(_counted(pod), _counted(pod, ANNOTATION_EXPECTED))
            _note(p, pod, ANNOTATION_COUNTED, seen)
            if faults_seen > 0:
                node = str((pod.get("spec") or {}).get("nodeName") or "")
                if node:
                    counts[node] = counts.get(node, 0) + faults_seen
                rs["restartCount"] += faults_seen
                status["restartCount"] += faults_seen
                restarted.append(pod)
        if phase(pod) == "Failed":
            failed.append(pod)
    return restarted, failed


def _count_evictions(
    p: Plan, evicted: list[Obj], counts: dict[str, int], restarted: list[Obj]
) -> None:
    """Pods the health agent evicted: each a fault of the job, its node faulty outright."""
    status = p.status
    rs = status["restartStatus"]
    for pod in evicted:
        node = str((pod.get("spec") or {}).get("nodeName") or "")
        _note(p, pod, ANNOTATION_EVICTION, 1)
        if node:
            counts[node] = max(counts.get(node, 0) + 1, REPEAT_OFFENDER_FAULTS)
        rs["restartCount"] += 1
        status["restartCount"] += 1
        restarted.append(pod)
        p.events.append(
            Event(
                WARNING,
                "PodEvictedFromFaultyNode",
                f"Pod {pod['metadata']['name']} (rank {_rank(pod)}) was evicted from {node} "
                "by the health agent",
            )
        )


def _full_restart(
    p: Plan,
    job: Obj,
    live: list[Obj],
    spares: list[Obj],
    faults: list[Fault],
    restarted: list[Obj],
    counts: dict[str, int],
    full_reason: str,
    now: datetime,
) -> bool:
    """Restart every pod of the job (spares stay unless on a node to avoid); False: it failed."""
    status = p.status
    rs = status["restartStatus"]
    name = job["metadata"]["name"]
    limit = max_retries(job)
    policy = restart_policy(job)
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
    if faults:
        _count_node_faults(faulty, counts)
    _faulty(status, FULL_RESTART, faulty)
    p.delete_pods += [x["metadata"]["name"] for x in live]
    avoid = avoided_nodes(job, counts)
    # Spares stay ready through a full-job restart, unless they sit on a node to avoid.
    p.delete_pods += [
        x["metadata"]["name"]
        for x in spares
        if str((x.get("spec") or {}).get("nodeName") or "") in avoid
        and x["metadata"]["name"] not in p.delete_pods
    ]
    if avoid:
        p.events.append(
            Event(
                NORMAL,
                "AvoidingRepeatOffenders",
                f"Pods of {name} are kept off nodes that failed repeatedly: {', '.join(avoid)}",
            )
        )
    p.events.append(
        Event(WARNING, "FullJobRestart", f"Restarting every pod of {name}: {full_reason}")
    )
    set_condition(status, "Restarting", "True", "FullJobRestart", full_reason, now)
    _clear(status, ("Running",), "FullJobRestart", now)
    return True


def _take_over(p: Plan, job: Obj, spares: list[Obj], faulty: list[Obj]) -> list[Obj]:
    """Hand each faulty rank to a ready spare of its group; the spares that took over."""
    ready = sorted(
        (x for x in spares if phase(x) == "Running" and x["metadata"]["name"] not in p.delete_pods),
        key=lambda x: x["metadata"]["name"],
    )
    by_slot = {s.name: s for s in slots(job)}
    took: list[Obj] = []
    done: set[str] = set()
    for pod in faulty:
        pname = pod["metadata"]["name"]
        slot = by_slot.get(slot_of(pod))
        if pname in done or slot is None:
            continue
        spare = next(
            (
                x
                for x in ready
                if (x["metadata"].get("labels") or {}).get(api.LABEL_REPLICA_SPEC) == slot.group
            ),
            None,
        )
        if spare is None:
            continue
        done.add(pname)
        ready.remove(spare)
        sname = spare["metadata"]["name"]
        template = group_spec(job, slot.group).get("template") or {}
        env = job_env(job, slot, nproc_per_node(job, template))
        # Only the rank's own variables: the spare already has the rest, as its kubelet
        # rewrote them (Service names such as MASTER_ADDR become 127.0.0.1 locally).
        p.promote[sname] = {e["name"]: e["value"] for e in env if e["name"] in RANK_ENV}
        p.patch_pods[sname] = {
            "metadata": {
                "labels": {LABEL_ROLE: ROLE_RANK, api.LABEL_NODE_RANK: str(slot.rank)},
                "annotations": {ANNOTATION_SLOT: slot.name},
            }
        }
        if pname not in p.delete_pods and not is_terminating(pod):
            p.delete_pods.append(pname)
        took.append(spare)
        p.events.append(
            Event(NORMAL, "SpareTookOver", f"Spare {sname} took over rank {slot.rank} from {pname}")
        )
    return took


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
    # Spares have nothing left to stand in for, whatever the policy.
    p.delete_pods += [
        x["metadata"]["name"]
        for x in pods
        if is_helper(x) and not is_terminating(x) and x["metadata"]["name"] not in p.delete_pods
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
