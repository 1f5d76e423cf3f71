"""The pods table: kubectl's STATUS, READY, RESTARTS and AGE columns, computed as kubectl does."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from hyperpod.apiserver.table_cells import (
    AGE_COLUMN,
    NAME_COLUMN,
    NONE,
    _created,
    _d,
    _l,
    _meta,
    _name,
    column,
    human_age,
    parse_time,
)

Obj = dict[str, Any]

# --- pods ----------------------------------------------------------------------------------


def _finished_at(cs: Obj) -> datetime | None:
    last = cs.get("lastState")
    terminated = last.get("terminated") if isinstance(last, dict) else None
    return parse_time(terminated.get("finishedAt")) if isinstance(terminated, dict) else None


def _condition_true(conditions: list[Any], kind: str) -> bool:
    return any(
        isinstance(c, dict) and c.get("type") == kind and c.get("status") == "True"
        for c in conditions
    )


def _init_status(spec: Obj, status: Obj, reason: str) -> tuple[str, int, datetime | None, bool]:
    """The init containers' part of STATUS: (reason, restarts, last restart, initializing)."""
    restarts = 0
    last_restart: datetime | None = None
    initializing = False
    init_statuses = _l(status.get("initContainerStatuses"))
    if init_statuses:
        init_specs = _l(spec.get("initContainers"))
        for i, cs in enumerate(init_statuses):
            cs = _d(cs)
            count = int(cs.get("restartCount") or 0)
            restarts += count
            if count:
                finished = _finished_at(cs)
                if finished is not None and (last_restart is None or finished > last_restart):
                    last_restart = finished
            state = _d(cs.get("state"))
            terminated, waiting = state.get("terminated"), state.get("waiting")
            sidecar = i < len(init_specs) and _d(init_specs[i]).get("restartPolicy") == "Always"
            if isinstance(terminated, dict) and int(terminated.get("exitCode") or 0) == 0:
                continue
            if sidecar and cs.get("started"):
                continue
            if isinstance(terminated, dict):
                if terminated.get("reason"):
                    reason = "Init:" + str(terminated["reason"])
                elif terminated.get("signal"):
                    reason = f"Init:Signal:{terminated['signal']}"
                else:
                    reason = f"Init:ExitCode:{terminated.get('exitCode', 0)}"
            elif (
                isinstance(waiting, dict)
                and waiting.get("reason")
                and waiting["reason"] != "PodInitializing"
            ):
                reason = "Init:" + str(waiting["reason"])
            else:
                reason = f"Init:{i}/{len(init_specs)}"
            initializing = True
            break
    return reason, restarts, last_restart, initializing


def pod_status(pod: Obj) -> tuple[str, int, int, int, datetime | None]:
    """(STATUS, ready containers, total containers, restarts, last restart) like kubectl."""
    spec, status = _d(pod.get("spec")), _d(pod.get("status"))
    total = len(_l(spec.get("containers")))
    reason = str(status.get("reason") or status.get("phase") or "Pending")
    conditions = _l(status.get("conditions"))
    for cond in conditions:
        if (
            isinstance(cond, dict)
            and cond.get("type") == "PodScheduled"
            and cond.get("reason") == "SchedulingGated"
        ):
            reason = "SchedulingGated"
    ready = 0
    reason, restarts, last_restart, initializing = _init_status(spec, status, reason)
    if not initializing or _condition_true(conditions, "Initialized"):
        restarts = 0
        has_running = False
        for cs in reversed(_l(status.get("containerStatuses"))):
            if not isinstance(cs, dict):
                continue
            count = int(cs.get("restartCount") or 0)
            if count:
                restarts += count
                finished = _finished_at(cs)
                if finished is not None and (last_restart is None or finished > last_restart):
                    last_restart = finished
            state = _d(cs.get("state"))
            waiting, terminated = state.get("waiting"), state.get("terminated")
            if isinstance(waiting, dict) and waiting.get("reason"):
                reason = str(waiting["reason"])
            elif isinstance(terminated, dict) and terminated.get("reason"):
                reason = str(terminated["reason"])
            elif isinstance(terminated, dict):
                if terminated.get("signal"):
                    reason = f"Signal:{terminated['signal']}"
                else:
                    reason = f"ExitCode:{terminated.get('exitCode', 0)}"
            elif cs.get("ready") and isinstance(state.get("running"), dict):
                has_running = True
                ready += 1
        if reason == "Completed" and has_running:
            reason = "Running" if _condition_true(conditions, "Ready") else "NotReady"
    deleting = _meta(pod).get("deletionTimestamp")
    if deleting and status.get("reason") == "NodeLost":
        reason = "Unknown"
    elif deleting and status.get("phase") not in ("Succeeded", "Failed"):
        reason = "Terminating"
    return reason, ready, total, restarts, last_restart


def _pod_row(pod: Obj, now: datetime) -> list[Any]:
    reason, ready, total, restarts, last = pod_status(pod)
    restart_text = str(restarts)
    if restarts and last is not None:
        restart_text = f"{restarts} ({human_age((now - last).total_seconds())} ago)"
    spec, status = _d(pod.get("spec")), _d(pod.get("status"))
    gates = _l(spec.get("readinessGates"))
    gates_text = NONE
    if gates:
        wanted = {_d(g).get("conditionType") for g in gates}
        true = sum(
            1
            for c in _l(status.get("conditions"))
            if _d(c).get("type") in wanted and _d(c).get("status") == "True"
        )
        gates_text = f"{true}/{len(gates)}"
    return [
        _name(pod),
        f"{ready}/{total}",
        reason,
        restart_text,
        _created(pod, now),
        status.get("podIP") or NONE,
        spec.get("nodeName") or NONE,
        status.get("nominatedNodeName") or NONE,
        gates_text,
    ]


_POD_COLUMNS = [
    NAME_COLUMN,
    column("Ready", description="The aggregate readiness state of this pod for accepting traffic."),
    column("Status", description="The aggregate status of the containers in this pod."),
    column(
        "Restarts",
        description="The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.",
    ),
    AGE_COLUMN,
    column("IP", priority=1, description="IP address allocated to the pod."),
    column("Node", priority=1, description="Name of the node the pod is assigned to."),
    column(
        "Nominated Node",
        priority=1,
        description="Name of the node where the pod is nominated to run.",
    ),
    column("Readiness Gates", priority=1, description="Pod readiness gates."),
]
